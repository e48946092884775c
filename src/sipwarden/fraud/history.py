"""What the rules remember about one account: recent calls, countries called, usual rates."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Final

from sipwarden.fraud.alerts import ClassifiedCall

#: Recent calls kept per account. A pumping account makes a few calls a second; 20,000 covers the
#: longest window (the budget day) of any ordinary account while bounding memory per account.
MAX_RECENT_CALLS: Final = 20_000
#: Hours of per-hour call counts kept for the usual rate (two weeks covers weekly patterns).
MAX_RATE_HOURS: Final = 14 * 24
#: Most recent calls compared when measuring concurrency at one call; bounds the sweep during a
#: flood (a concurrency of hundreds is far past every threshold already).
MAX_OVERLAP_SCAN: Final = 256


@dataclass(slots=True)
class AccountHistory:
    """Mutable per-account memory owned by one FraudGuard."""

    account: str
    recent: deque[ClassifiedCall] = field(default_factory=lambda: deque(maxlen=MAX_RECENT_CALLS))
    countries: set[str] = field(default_factory=set)
    calls_total: int = 0
    hour_counts: dict[int, int] = field(default_factory=dict)
    hour_total: int = 0  # sum of hour_counts, kept so the usual rate costs O(1)
    settled_peak: int = 1  # usual concurrency: highest seen before the current window
    pending_peaks: deque[tuple[datetime, int]] = field(default_factory=deque)
    spend: deque[tuple[datetime, float]] = field(default_factory=deque)
    spend_total: float = 0.0
    newest: datetime | None = None
    latest_stop: datetime | None = None  # upper bound of the end of every remembered call

    def prune(self, now: datetime, keep: timedelta, settle: timedelta, budget: timedelta) -> None:
        """Forget calls older than `keep`, settle old concurrency peaks, expire budget spend."""
        horizon = now - keep
        while self.recent and self.recent[0].record.start < horizon:
            self.recent.popleft()
        settle_before = now - settle
        while self.pending_peaks and self.pending_peaks[0][0] < settle_before:
            self.settled_peak = max(self.settled_peak, self.pending_peaks.popleft()[1])
        budget_before = now - budget
        while self.spend and self.spend[0][0] < budget_before:
            self.spend_total -= self.spend.popleft()[1]
        if not self.spend:
            self.spend_total = 0.0  # drop float drift when the window empties

    def usual_calls_per_hour(self, now: datetime) -> float:
        """Mean calls per active hour before the current hour (0 when there is no history)."""
        current = _hour(now)
        hours, total = len(self.hour_counts), self.hour_total
        if current in self.hour_counts:
            hours, total = hours - 1, total - self.hour_counts[current]
        # Calls of hours after `now` (records slightly out of order) count as past: harmless.
        return total / hours if hours > 0 else 0.0

    def concurrency_at(self, call: ClassifiedCall) -> int:
        """Most simultaneous calls of this account during `call` (itself included)."""
        start, stop = call.record.start, call.record.stop
        if self.latest_stop is None or self.latest_stop <= start:
            return 1  # nothing remembered is still running: the usual case, no sweep
        edges: list[tuple[datetime, int]] = [(start, 1), (stop, -1)]
        for other in islice(reversed(self.recent), MAX_OVERLAP_SCAN):
            o_start, o_stop = other.record.start, other.record.stop
            if o_start < stop and o_stop > start:
                edges.append((max(o_start, start), 1))
                edges.append((min(o_stop, stop), -1))
        # Ends sort before starts at the same instant: back-to-back calls are not simultaneous.
        edges.sort(key=lambda e: (e[0], e[1]))
        level = peak = 0
        for _, step in edges:
            level += step
            peak = max(peak, level)
        return peak

    def add(self, call: ClassifiedCall, concurrency: int) -> None:
        """Remember a call after the rules have seen it."""
        self.recent.append(call)
        self.calls_total += 1
        if call.dest.country:
            self.countries.add(call.dest.country)
        hour = _hour(call.record.start)
        self.hour_counts[hour] = self.hour_counts.get(hour, 0) + 1
        self.hour_total += 1
        if len(self.hour_counts) > MAX_RATE_HOURS:
            self.hour_total -= self.hour_counts.pop(min(self.hour_counts))
        self.pending_peaks.append((call.record.start, concurrency))
        if call.cost > 0:
            self.spend.append((call.record.start, call.cost))
            self.spend_total += call.cost
        if self.newest is None or call.record.start > self.newest:
            self.newest = call.record.start
        stop = call.record.stop
        if self.latest_stop is None or stop > self.latest_stop:
            self.latest_stop = stop


def _hour(ts: datetime) -> int:
    return int(ts.timestamp()) // 3600
