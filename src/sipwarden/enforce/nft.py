"""nftables backend (default): one `inet` table, timed sets, and a drop before connection tracking.

The drop sits in a `prerouting` chain at priority `raw` (-300), before conntrack (-200) and long
before any `ct state established accept` in the host's own rules, so the packets of a UDP flow that
was already tracked are dropped too. Single addresses live in hash sets, ranges in interval sets;
every set has `flags timeout`, so the kernel lifts a ban on time even if sipwarden is not running.
Bulk changes go through one `nft -f -` script: one transaction, 100,000 elements in a second or two.
"""

from __future__ import annotations

import builtins
import ipaddress
import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, Final

from sipwarden.enforce.backend import Ban, EnforceError, Runner, Target, make_ban, remaining_seconds
from sipwarden.events import utcnow

log = logging.getLogger(__name__)

#: Elements per `add element` statement in a script; the kernel takes any number per transaction,
#: the limit only keeps each netlink message comfortably small.
ELEMENTS_PER_STATEMENT: Final = 4096
_SETS: Final = {(4, False): "ban4", (6, False): "ban6", (4, True): "net4", (6, True): "net6"}


class NftBackend:
    """Bans in the nftables table `inet <table>`."""

    name = "nft"

    def __init__(self, table: str = "sipwarden", *, runner: Runner | None = None, flush_conntrack: bool = True) -> None:
        if not table.replace("_", "").isalnum():
            raise ValueError(f"not a valid nftables table name: {table!r}")
        self.table = table
        self.runner = runner or Runner()
        self.flush_conntrack = flush_conntrack

    # -- BanBackend -----------------------------------------------------------------------------------

    def setup(self) -> None:
        """Create the table, the four sets and the drop rules (keeps bans already in the sets)."""
        t = f"inet {self.table}"
        script = [f"add table {t}"]
        for (version, net), name in _SETS.items():
            flags = "interval, timeout" if net else "timeout"
            script.append(f"add set {t} {name} {{ type ipv{version}_addr; flags {flags}; }}")
        script += [
            f"add chain {t} prerouting {{ type filter hook prerouting priority raw; policy accept; }}",
            f"flush chain {t} prerouting",
        ]
        for (version, _), name in _SETS.items():
            script.append(f"add rule {t} prerouting {'ip' if version == 4 else 'ip6'} saddr @{name} drop")
        self._apply(script)

    def ban(self, target: str | Target, until: datetime | None) -> None:
        """Ban one address or range; a second ban replaces the first one's timeout."""
        self.ban_many([make_ban(target, until)])

    def unban(self, target: str | Target) -> None:
        """Remove one address or range (adding it first makes the delete safe when it is absent)."""
        ban = make_ban(target)
        element = self._element(ban, None)
        name = self._set_of(ban)
        self._apply(
            [
                f"add element inet {self.table} {name} {{ {element} }}",
                f"delete element inet {self.table} {name} {{ {element} }}",
            ]
        )

    def ban_many(self, bans: Iterable[Ban]) -> int:
        """Add or refresh many bans in one transaction (add, delete, add: the new timeout wins)."""
        now = utcnow()
        live = [(b, remaining_seconds(b.until, now)) for b in bans]
        live = [(b, left) for b, left in live if left != 0]
        if not live:
            return 0
        script: builtins.list[str] = []
        for name, items in self._by_set(live):
            bare = [b.value for b, _ in items]
            timed = [
                f"{v} timeout {left}s" if left is not None else v for v, (_, left) in zip(bare, items, strict=True)
            ]
            script += self._statements("add", name, bare)
            script += self._statements("delete", name, bare)
            script += self._statements("add", name, timed)
        try:
            self._apply(script)
        except EnforceError as exc:
            if len(live) == 1:
                raise
            # One bad element (e.g. a range overlapping another) must not cost the others.
            log.warning("bulk ban failed (%s); applying %d bans one by one", exc, len(live))
            return sum(self._ban_one(b) for b, _ in live)
        self._flush_conntrack(b for b, _ in live)
        return len(live)

    def reconcile(self, active: Iterable[Ban]) -> int:
        """Replace the content of every set with `active` in one transaction (no moment without bans)."""
        now = utcnow()
        seconds_left: dict[datetime | None, int | None] = {}  # bans imported together share their end
        live = []
        for b in active:
            left = seconds_left.get(b.until, -1)
            if left == -1:
                left = seconds_left[b.until] = remaining_seconds(b.until, now)
            if left != 0:
                live.append((b, left))
        script = [f"flush set inet {self.table} {name}" for name in _SETS.values()]
        for name, items in self._by_set(live):
            script += self._statements("add", name, [self._element(b, left) for b, left in items])
        self._apply(script)
        return len(live)

    def list(self) -> builtins.list[Ban]:
        """Every element of the four sets, with its expiry."""
        now = utcnow()
        out: builtins.list[Ban] = []
        for name in _SETS.values():
            text = self.runner.run(["nft", "-j", "list", "set", "inet", self.table, name])
            out += [make_ban(value, until) for value, until in _parse_set_json(text, now)]
        return out

    # -- helpers --------------------------------------------------------------------------------------

    def _ban_one(self, ban: Ban) -> int:
        try:
            self.ban_many([ban])
        except EnforceError as exc:
            log.warning("cannot ban %s: %s", ban.value, exc)
            return 0
        return 1

    def _apply(self, script: builtins.list[str]) -> None:
        self.runner.run(["nft", "-f", "-"], stdin="\n".join(script) + "\n")

    def _flush_conntrack(self, bans: Iterable[Ban]) -> None:
        if not self.flush_conntrack:
            return
        for ban in bans:
            if not ban.is_network:
                # Exit status 1 means "no entry matched": nothing to flush.
                family = "ipv4" if ban.target.version == 4 else "ipv6"
                self.runner.run(["conntrack", "-D", "-f", family, "-s", ban.value], check=False)

    @staticmethod
    def _set_of(ban: Ban) -> str:
        return _SETS[(ban.target.version, ban.is_network)]

    def _by_set(
        self, items: builtins.list[tuple[Ban, int | None]]
    ) -> Iterator[tuple[str, builtins.list[tuple[Ban, int | None]]]]:
        groups: dict[str, builtins.list[tuple[Ban, int | None]]] = {}
        ban4: builtins.list[tuple[Ban, int | None]] = []
        for item in items:
            if type(item[0].target) is ipaddress.IPv4Address:  # the bulk of any reconcile: no lookups
                ban4.append(item)
            else:
                groups.setdefault(self._set_of(item[0]), []).append(item)
        if ban4:
            groups.setdefault(_SETS[(4, False)], []).extend(ban4)
        yield from groups.items()

    def _statements(self, verb: str, name: str, elements: builtins.list[str]) -> builtins.list[str]:
        return [
            f"{verb} element inet {self.table} {name} {{ {', '.join(elements[i : i + ELEMENTS_PER_STATEMENT])} }}"
            for i in range(0, len(elements), ELEMENTS_PER_STATEMENT)
        ]

    @staticmethod
    def _element(ban: Ban, seconds: int | None) -> str:
        # `ban.target` is an ipaddress object (make_ban parsed it): only its rendering reaches nft.
        value = ban.value
        return value if seconds is None else f"{value} timeout {seconds}s"


def _parse_set_json(text: str, now: datetime) -> Iterator[tuple[str, datetime | None]]:
    data = json.loads(text)
    for item in data.get("nftables", []):
        for elem in item.get("set", {}).get("elem", []):
            until: datetime | None = None
            if isinstance(elem, dict) and "elem" in elem:
                inner: dict[str, Any] = elem["elem"]
                val = inner.get("val")
                if "expires" in inner:
                    until = now + timedelta(seconds=int(inner["expires"]))
            else:
                val = elem
            if isinstance(val, dict) and "prefix" in val:
                val = f"{val['prefix']['addr']}/{val['prefix']['len']}"
            elif isinstance(val, dict) and "range" in val:
                lo, hi = (ipaddress.ip_address(v) for v in val["range"])
                for net in ipaddress.summarize_address_range(lo, hi):
                    yield str(net), until
                continue
            yield str(val), until
