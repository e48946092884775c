"""Enforcement: ban backends behind one Protocol, the Guard that ties detection to them, notifications.

See docs/enforcement.md. `build_backend` is the one place that lists the backends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipwarden.lazy import lazy_names

if TYPE_CHECKING:
    from sipwarden.enforce.backend import Ban, BanBackend, EnforceError, Runner, make_ban
    from sipwarden.enforce.settings import EnforceSettings

__all__ = ["Ban", "BanBackend", "EnforceError", "Runner", "build_backend", "make_ban"]

# The public names load on first use (PEP 562): the configuration imports `enforce/settings.py`,
# and commands that never touch a firewall (`sipwarden parse`) need not load the backends.
__getattr__ = lazy_names(
    __name__,
    {name: "sipwarden.enforce.backend" for name in ("Ban", "BanBackend", "EnforceError", "Runner", "make_ban")},
)


def build_backend(settings: EnforceSettings, *, name: str | None = None, runner: Runner | None = None) -> BanBackend:
    """The backend named by `name` (or `[enforce] backend`), configured from `settings`."""
    from sipwarden.enforce.dryrun import DryRunBackend
    from sipwarden.enforce.ipset import IpsetBackend
    from sipwarden.enforce.iptables import IptablesBackend
    from sipwarden.enforce.nft import NftBackend

    chosen = name or settings.backend
    if chosen == "nft":
        return NftBackend(settings.table, runner=runner, flush_conntrack=settings.flush_conntrack)
    if chosen == "ipset":
        return IpsetBackend(settings.table, runner=runner, flush_conntrack=settings.flush_conntrack)
    if chosen == "iptables":
        return IptablesBackend(settings.table, runner=runner, flush_conntrack=settings.flush_conntrack)
    if chosen == "dry-run":
        return DryRunBackend()
    raise ValueError(f"unknown ban backend {chosen!r}: use nft, ipset, iptables or dry-run")
