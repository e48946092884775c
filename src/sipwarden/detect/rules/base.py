"""The one Protocol every detection rule implements, and what a rule may see of a source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sipwarden.detect.tracker import SourceTable
from sipwarden.events import DecisionAction, DecisionScope, Event

#: Kinds that mean "credentials were refused" (what brute force and enumeration count).
FAILURE_KINDS = frozenset({"auth_failure", "unknown_user"})


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule concluded; the engine turns it into a Decision (allowlist, ban time, dedup)."""

    scenario: str
    reason: str
    scope: DecisionScope = "ip"
    value: str | None = None  # None: the event's source address
    action: DecisionAction = "ban"
    evidence: tuple[str, ...] | None = None  # None: the source's recent events


class SourceView:
    """One source as a rule sees it while handling one event (reused between events)."""

    __slots__ = ("_base", "_slot", "_table", "address", "factor", "key", "trusted")

    def __init__(self, table: SourceTable) -> None:
        self._table = table
        self._slot = -1  # the source's slot in the table
        self._base = 0
        self.key = 0  # the source table key (an int; see tracker.key_of)
        self.address = ""  # the address as canonical text
        self.trusted = False
        self.factor = 1.0  # thresholds are multiplied by this (trusted sources get more room)

    def bind(self, key: int, address: str, slot: int, *, trusted: bool, factor: float) -> None:
        """Point the view at another source (engine only)."""
        self.key, self.address, self._slot, self.trusted, self.factor = key, address, slot, trusted, factor

    def use_windows(self, base: int) -> None:
        """Select the counting windows of the rule about to run (engine only)."""
        self._base = base

    def count(self, window: int, n: int = 1) -> int:
        """Add `n` events to the rule's window number `window`; return the window's total."""
        assert self._slot >= 0
        return self._table.count(self._slot, self._base + window, n)

    def usernames(self) -> tuple[str, ...]:
        """Distinct usernames this source tried recently."""
        return self._table.usernames(self._slot) if self._slot >= 0 else ()

    def evidence(self) -> tuple[str, ...]:
        """Ids of this source's recent events."""
        return self._table.evidence_ids(self._slot) if self._slot >= 0 else ()

    def over(self, count: int, limit: int) -> bool:
        """True when `count` reached `limit` scaled by the source's trust factor."""
        return count >= limit * self.factor


class Rule(Protocol):
    """A detection rule: one concern, one module, listed in `sipwarden.detect.rules.build_rules`."""

    #: Counting windows (seconds) the rule needs per source; `SourceView.count(i)` uses window i.
    windows: tuple[float, ...]

    def observe(self, event: Event, source: SourceView) -> list[Finding]:
        """Findings caused by `event` from `source` (usually none)."""
        ...

    def expire(self, now: datetime) -> None:
        """Forget rule-local state older than the rule's windows."""
        ...
