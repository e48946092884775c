"""ipset + iptables backend: timed `hash:net` sets matched by one rule per family in the `raw` table.

For hosts that run iptables rather than nftables. The `raw` PREROUTING chain runs before connection
tracking, so tracked flows are dropped too. `reconcile` fills a fresh set and swaps it in (`ipset
swap`), so there is no moment without bans. ipset timeouts stop at 2147483 s (24.8 days); a longer
ban is set to that and re-applied at the next reconcile.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

from sipwarden.enforce.backend import Ban, Runner, Target, has_rule, make_ban, remaining_seconds
from sipwarden.events import utcnow

#: The largest timeout ipset accepts (kernel: MAX_TIMEOUT in ip_set_timeout.h).
IPSET_MAX_TIMEOUT: Final = 2_147_483


class IpsetBackend:
    """Bans in the ipsets `<table>4` and `<table>6`."""

    name = "ipset"

    def __init__(self, table: str = "sipwarden", *, runner: Runner | None = None, flush_conntrack: bool = True) -> None:
        self.table = table
        self.runner = runner or Runner()
        self.flush_conntrack = flush_conntrack

    def _set(self, version: int) -> str:
        return f"{self.table}{version}"

    def setup(self) -> None:
        """Create both sets and insert the drop rules once."""
        for version, family, tool in ((4, "inet", "iptables"), (6, "inet6", "ip6tables")):
            name = self._set(version)
            self.runner.run(["ipset", "create", name, "hash:net", "family", family, "timeout", "0", "-exist"])
            rule = ["PREROUTING", "-m", "set", "--match-set", name, "src", "-j", "DROP"]
            if not has_rule(self.runner, tool, "raw", rule):
                self.runner.run([tool, "-w", "-t", "raw", "-I", *rule])

    def ban(self, target: str | Target, until: datetime | None) -> None:
        """Ban one address or range (re-banning replaces the timeout)."""
        self.ban_many([make_ban(target, until)])

    def unban(self, target: str | Target) -> None:
        """Remove one address or range."""
        ban = make_ban(target)
        self.runner.run(["ipset", "del", self._set(ban.target.version), ban.value, "-exist"])

    def ban_many(self, bans: Iterable[Ban]) -> int:
        """Add many bans with one `ipset restore`."""
        lines = self._lines(bans, {4: self._set(4), 6: self._set(6)})
        if lines:
            self.runner.run(["ipset", "restore", "-exist"], stdin="\n".join(lines) + "\n")
        if self.flush_conntrack:
            for line in lines:
                value = line.split()[2]
                if "/" not in value:
                    self.runner.run(["conntrack", "-D", "-s", value], check=False)
        return len(lines)

    def reconcile(self, active: Iterable[Ban]) -> int:
        """Fill fresh sets with `active` and swap them in atomically."""
        temp = {4: f"{self.table}4t", 6: f"{self.table}6t"}
        script = []
        for version, family in ((4, "inet"), (6, "inet6")):
            script += [f"create {temp[version]} hash:net family {family} timeout 0 -exist", f"flush {temp[version]}"]
        lines = self._lines(active, temp)
        self.runner.run(["ipset", "restore", "-exist"], stdin="\n".join(script + lines) + "\n")
        for version in (4, 6):
            self.runner.run(["ipset", "swap", temp[version], self._set(version)])
            self.runner.run(["ipset", "destroy", temp[version]])
        return len(lines)

    def list(self) -> builtins.list[Ban]:
        """Every member of both sets with its expiry."""
        now = utcnow()
        out = []
        for version in (4, 6):
            for line in self.runner.run(["ipset", "save", self._set(version)]).splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "add":
                    until = None
                    if "timeout" in parts:
                        seconds = int(parts[parts.index("timeout") + 1])
                        until = now + timedelta(seconds=seconds) if seconds else None
                    out.append(make_ban(parts[2], until))
        return out

    @staticmethod
    def _lines(bans: Iterable[Ban], names: dict[int, str]) -> builtins.list[str]:
        now = utcnow()
        lines = []
        for ban in bans:
            left = remaining_seconds(ban.until, now)
            if left == 0:
                continue
            timeout = 0 if left is None else min(left, IPSET_MAX_TIMEOUT)
            # `ban.value` is rendered by ipaddress; `-exist` makes a re-ban replace the timeout.
            lines.append(f"add {names[ban.target.version]} {ban.value} timeout {timeout}")
        return lines
