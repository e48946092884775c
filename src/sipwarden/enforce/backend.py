"""The one Protocol every ban backend implements, and what they share: validated targets, commands.

Only `ipaddress` objects become firewall arguments (STYLE.md, practice 3): every target is parsed
here before any backend builds a command, and commands run as argv lists, never through a shell.
"""

from __future__ import annotations

import builtins
import ipaddress
import logging
import math
import socket
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

log = logging.getLogger(__name__)

Target = ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network

#: A firewall command that takes longer than this is stuck (nft loads 100,000 elements in ~1 s).
COMMAND_TIMEOUT_S: Final = 60.0


class EnforceError(Exception):
    """A firewall command failed; the message holds the command and its error output."""


@dataclass(frozen=True, slots=True)
class Ban:
    """One address or range the firewall drops, until a time (None: until removed)."""

    target: Target
    until: datetime | None = None
    #: The canonical text of `target` when the parser already made it (a reconcile renders 100,000).
    text: str = field(default="", compare=False, repr=False)

    @property
    def value(self) -> str:
        """The target as text: an address, or a network in CIDR form (a /32 or /128 is an address)."""
        if self.text:
            return self.text
        t = self.target
        if isinstance(t, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return str(t)
        if t.num_addresses == 1:
            return str(t.network_address)
        return str(t)

    @property
    def is_network(self) -> bool:
        """True for a range of more than one address."""
        return isinstance(self.target, ipaddress.IPv4Network | ipaddress.IPv6Network) and self.target.num_addresses > 1


def parse_target(value: str | Target) -> Target:
    """An address or a network from text; a /32 (/128) becomes an address. ValueError otherwise."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        # Fast path (C) for the common case; inet_pton is as strict as ipaddress (no octal, no
        # shorthand), and a reconcile parses 100,000 addresses.
        return ipaddress.IPv4Address(int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big"))
    except OSError:
        pass
    if "/" in text:
        net = ipaddress.ip_network(text, strict=False)
        return net.network_address if net.num_addresses == 1 else net
    return ipaddress.ip_address(text)


def make_ban(value: str | Target, until: datetime | None = None) -> Ban:
    """A Ban with its target validated (ValueError names the bad value)."""
    if isinstance(value, str):
        try:
            packed = socket.inet_pton(socket.AF_INET, value)
        except OSError:
            packed = b""
        if packed:
            # inet_pton takes only a plain dotted quad (no spaces, no leading zeros): the text is
            # already canonical and is kept, so it need not be rendered again.
            return Ban(ipaddress.IPv4Address(int.from_bytes(packed, "big")), until, value)
    try:
        return Ban(parse_target(value), until)
    except ValueError:
        raise ValueError(f"not an IP address or network: {value!r}") from None


def remaining_seconds(until: datetime | None, now: datetime) -> int | None:
    """Whole seconds from `now` to `until` (at least 1), None for no expiry, 0 when already over."""
    if until is None:
        return None
    left = (until - now).total_seconds()
    return 0 if left <= 0 else max(1, math.ceil(left))


class BanBackend(Protocol):
    """A firewall that drops traffic from banned addresses. Listed in `sipwarden.enforce.build_backend`."""

    name: str

    def setup(self) -> None:
        """Create the tables, sets and rules the backend needs (idempotent)."""
        ...

    def ban(self, target: str | Target, until: datetime | None) -> None:
        """Drop traffic from `target` until `until` (None: until unbanned). Re-banning extends."""
        ...

    def unban(self, target: str | Target) -> None:
        """Stop dropping `target` (no error when it is not banned)."""
        ...

    def ban_many(self, bans: Iterable[Ban]) -> int:
        """Apply many bans in one firewall transaction; return how many were applied."""
        ...

    def reconcile(self, active: Iterable[Ban]) -> int:
        """Make the firewall hold exactly `active` (atomically where the firewall allows); return the count."""
        ...

    def list(self) -> builtins.list[Ban]:
        """What the firewall drops now."""
        ...


class Runner:
    """Runs firewall commands as argv lists, optionally inside a network namespace (`ip netns exec`)."""

    def __init__(self, prefix: Sequence[str] = ()) -> None:
        self.prefix = tuple(prefix)

    @classmethod
    def in_netns(cls, name: str) -> Runner:
        """A runner whose commands execute inside network namespace `name`."""
        return cls(("ip", "netns", "exec", name))

    def run(self, argv: Sequence[str], *, stdin: str | None = None, check: bool = True) -> str:
        """Run `argv`; return stdout. A failure raises EnforceError (unless `check` is False)."""
        full = [*self.prefix, *argv]
        try:
            proc = subprocess.run(
                full, input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EnforceError(f"{' '.join(full[:4])}: {exc}") from None
        if check and proc.returncode != 0:
            raise EnforceError(f"{' '.join(full[:6])} failed ({proc.returncode}): {proc.stderr.strip()[:2000]}")
        return proc.stdout


def has_rule(runner: Runner, tool: str, table: str, rule: Sequence[str]) -> bool:
    """True when iptables/ip6tables already holds `rule` in `table` (`-C` exits 1 when absent)."""
    try:
        runner.run([tool, "-w", "-t", table, "-C", *rule])
    except EnforceError:
        return False
    return True
