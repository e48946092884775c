"""iptables backend: one DROP rule per address in a chain of the `raw` table (for hosts without ipset).

iptables has no timeouts: expired bans are removed by `Guard.tick` and by `reconcile`, which rewrites
the whole chain in one `iptables-restore --noflush` transaction. Fine for hundreds of bans; for more,
use the nft or ipset backend (a linear chain is checked rule by rule for every packet).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime

from sipwarden.enforce.backend import Ban, Runner, Target, has_rule, make_ban
from sipwarden.events import utcnow

_TOOLS = {4: "iptables", 6: "ip6tables"}


class IptablesBackend:
    """Bans as rules of the chain `<TABLE>` (upper case) in the raw table, jumped to from PREROUTING."""

    name = "iptables"

    def __init__(self, table: str = "sipwarden", *, runner: Runner | None = None, flush_conntrack: bool = True) -> None:
        self.chain = table.upper()[:28]
        self.runner = runner or Runner()
        self.flush_conntrack = flush_conntrack
        self._until: dict[str, datetime | None] = {}  # iptables keeps no expiry; this process does

    def setup(self) -> None:
        """Create the chain and the jump to it (idempotent)."""
        for tool in _TOOLS.values():
            self.runner.run([tool, "-w", "-t", "raw", "-N", self.chain], check=False)
            jump = ["PREROUTING", "-j", self.chain]
            if not has_rule(self.runner, tool, "raw", jump):
                self.runner.run([tool, "-w", "-t", "raw", "-I", *jump])

    def ban(self, target: str | Target, until: datetime | None) -> None:
        """Ban one address or range."""
        self.ban_many([make_ban(target, until)])

    def unban(self, target: str | Target) -> None:
        """Remove every rule for the target."""
        ban = make_ban(target)
        rule = [self.chain, "-s", ban.value, "-j", "DROP"]
        tool = _TOOLS[ban.target.version]
        for _ in range(16):  # bounded: there is at most one rule per target, duplicates are a mistake
            if not has_rule(self.runner, tool, "raw", rule):
                break
            self.runner.run([tool, "-w", "-t", "raw", "-D", *rule])
        self._until.pop(ban.value, None)

    def ban_many(self, bans: Iterable[Ban]) -> int:
        """Append a rule per new target; a known target only gets its new expiry."""
        now = utcnow()
        n = 0
        for ban in bans:
            if ban.until is not None and ban.until <= now:
                continue
            rule = [self.chain, "-s", ban.value, "-j", "DROP"]
            tool = _TOOLS[ban.target.version]
            if not has_rule(self.runner, tool, "raw", rule):
                self.runner.run([tool, "-w", "-t", "raw", "-A", *rule])
            self._until[ban.value] = ban.until
            if self.flush_conntrack and not ban.is_network:
                self.runner.run(["conntrack", "-D", "-s", ban.value], check=False)
            n += 1
        return n

    def reconcile(self, active: Iterable[Ban]) -> int:
        """Rewrite the chain with exactly the active bans (one transaction per family)."""
        now = utcnow()
        live = [b for b in active if b.until is None or b.until > now]
        for version, tool in _TOOLS.items():
            lines = ["*raw", f":{self.chain} - [0:0]"]
            lines += [f"-A {self.chain} -s {b.value} -j DROP" for b in live if b.target.version == version]
            self.runner.run([f"{tool}-restore", "-w", "--noflush"], stdin="\n".join([*lines, "COMMIT"]) + "\n")
        self._until = {b.value: b.until for b in live}
        return len(live)

    def list(self) -> builtins.list[Ban]:
        """The targets of the chain's DROP rules."""
        out = []
        for tool in _TOOLS.values():
            for line in self.runner.run([tool, "-w", "-t", "raw", "-S", self.chain]).splitlines():
                parts = line.split()
                if len(parts) >= 4 and parts[0] == "-A" and parts[2] == "-s":
                    ban = make_ban(parts[3])
                    out.append(Ban(ban.target, self._until.get(ban.value)))
        return out
