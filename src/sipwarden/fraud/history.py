"""What the rules remember: each external call (`SeenCall`) and, per account, recent calls, countries
called, usual rates.

Times are integer microseconds since the Unix epoch: exact like `datetime` (CDR times have at most
microseconds) and several times cheaper to compare and subtract on a path that runs once per record.
The `CallRecord` and `Destination` behind a call are only built when an alert shows it.

An account's memory has two parts. The *tally* (calls and countries so far, spend in the budget
window, the starts and stops of the latest calls) is cheap and kept for every call as it comes
(`prune_spend`, `note`). The rest (recent calls with their window index, usual rate, concurrency
peaks) is kept by `prune` and `add`; a guard that defers quiet calls (`FraudGuard(defer=True)`)
replays them into it only when a call needs it, in arrival order, so it ends up exactly as if every
call had been added at once.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Final

from sipwarden.fraud.alerts import ClassifiedCall
from sipwarden.fraud.records import CallRecord, Destination
from sipwarden.intel.risk import RiskClass

#: Recent calls kept per account. A pumping account makes a few calls a second; 20,000 covers the
#: longest window (the budget day) of any ordinary account while bounding memory per account.
MAX_RECENT_CALLS: Final = 20_000
#: Hours of per-hour call counts kept for the usual rate (two weeks covers weekly patterns).
MAX_RATE_HOURS: Final = 14 * 24
#: Most recent calls compared when measuring concurrency at one call; bounds the sweep during a
#: flood (a concurrency of hundreds is far past every threshold already).
MAX_OVERLAP_SCAN: Final = 256

US_PER_SECOND: Final = 1_000_000
#: Earlier than any time a call can have (µs): the tally's "no call yet", cheaper to compare than None.
NEVER: Final = -(1 << 62)
_EXACT_FLOOR_BELOW: Final = 2**32 * US_PER_SECOND
_US_PER_HOUR: Final = 3600 * US_PER_SECOND
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)

#: Builds the CallRecord of a call from what its reader kept (a CSV row and its line number). A
#: reader whose calls a guard may defer reads the row again by its line when given an empty row.
RecordBuilder = Callable[[Sequence[str], int], CallRecord]


def micros(ts: datetime) -> int:
    """`ts` as integer microseconds since the Unix epoch (a naive time is taken as UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return (ts - _EPOCH) // _ONE_US


def from_micros(us: int) -> datetime:
    """Integer microseconds since the Unix epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=us)


class SeenCall:
    """One external call as the rules see it: times, destination facts, estimated cost.

    `record` and `classified()` rebuild the CallRecord (from the reader's row, when the fast CSV
    path read it) and the ClassifiedCall only when an alert needs them.
    """

    __slots__ = (
        "_build", "_classified", "_line", "_record", "_row", "billsec", "concurrency", "cost", "country", "dst",
        "e164", "international", "number_type", "risk", "start", "stop",
    )  # fmt: skip

    def __init__(
        self,
        start: int,
        stop: int,
        billsec: int,
        cost: float,
        dst: str,
        reading: tuple[str, str | None, str, bool, RiskClass],
        record: CallRecord | None,
        build: RecordBuilder | None = None,
        row: Sequence[str] = (),
        line: int = 0,
    ) -> None:
        self.start = start  # µs since the epoch
        self.stop = stop  # µs: the end as written, else start + duration
        self.billsec = billsec
        self.cost = cost
        self.dst = dst
        self.e164, self.country, self.number_type, self.international, self.risk = reading
        self.concurrency = 1
        self._record = record
        self._build = build
        self._row = row
        self._line = line
        self._classified: ClassifiedCall | None = None

    @property
    def record(self) -> CallRecord:
        """The call record (rebuilt from the reader's row on first use)."""
        if self._record is None:
            assert self._build is not None, "a SeenCall needs a record or a way to build it"
            self._record = self._build(self._row, self._line)
            self._build, self._row = None, ()
        return self._record

    def classified(self) -> ClassifiedCall:
        """The ClassifiedCall of this call, as alerts carry it."""
        if self._classified is None:
            dest = Destination(self.dst, self.e164, self.country, self.number_type, self.international, self.risk)
            self._classified = ClassifiedCall(self.record, dest, self.cost)
        return self._classified


class Ledger:
    """Calls noted in the tally but not yet added, in arrival order, as a deferring guard keeps them.

    Columns of machine integers rather than an object per call: a scan defers most of a file, and
    hundreds of thousands of small objects would cost their allocation and the garbage collector's
    walks over them. The guard appends to the columns itself (on its hottest path).
    """

    __slots__ = ("billsecs", "builds", "dialled", "lines", "starts", "stops")

    def __init__(self) -> None:
        self.starts = array("q")
        self.stops = array("q")
        self.billsecs = array("q")
        self.lines = array("q")
        self.dialled: list[str] = []
        self.builds: list[RecordBuilder] = []

    def __len__(self) -> int:
        return len(self.starts)


class AccountHistory:
    """Mutable per-account memory owned by one FraudGuard.

    Besides the recent calls (in arrival order) it keeps their *suffix minima*: the calls that
    started before every call that arrived after them. CDRs are written at hangup, so arrival order
    is only nearly start order; a window "calls since T, walking back from the newest until one
    started before T" ends exactly at the last suffix minimum older than T, which a binary search
    finds. Windows are counted in O(log n) and only listed when a rule fires.
    """

    __slots__ = (
        "_first", "_hours", "_minima", "_next", "account", "calls_total", "countries", "deferred", "hour_counts",
        "hour_total", "latest_stop", "pending_peaks", "recent", "seen_stop", "settled_peak", "spend", "spend_total",
        "stop_before_tail", "tail_starts", "tail_stops",
    )  # fmt: skip

    def __init__(self, account: str, tail: int = 0) -> None:
        self.account = account
        # The tally, kept for every call (deferred or not) ...
        self.countries: set[str] = set()
        self.calls_total = 0
        self.spend: deque[tuple[int, float]] = deque()
        self.spend_total = 0.0
        self.tail_starts: deque[int] = deque(maxlen=tail)  # starts of the latest `tail` calls, oldest first
        self.tail_stops: deque[int] = deque(maxlen=tail)  # and their stops
        self.stop_before_tail = NEVER  # latest stop of every call older than the tail
        self.seen_stop = NEVER  # latest stop of every call noted
        # ... calls noted but not yet added (a deferring guard's ledger, in arrival order) ...
        self.deferred: Ledger | None = None
        # ... and what `add` keeps.
        self.recent: deque[SeenCall] = deque()
        self.hour_counts: dict[int, int] = {}
        self.hour_total = 0  # sum of hour_counts, kept so the usual rate costs O(1)
        self._hours: list[int] = []  # the keys of hour_counts as a heap: the oldest is forgotten first
        self.settled_peak = 1  # usual concurrency: highest seen before the current window
        self.pending_peaks: deque[tuple[int, int]] = deque()
        self.latest_stop: int | None = None  # upper bound of the end of every remembered call
        self._first = 0  # sequence number of recent[0]
        self._next = 0  # sequence number of the next call added
        self._minima: deque[tuple[int, int]] = deque()  # (start, sequence number), both increasing

    def _drop_oldest(self) -> None:
        self.recent.popleft()
        if self._minima and self._minima[0][1] == self._first:
            self._minima.popleft()
        self._first += 1

    def prune_spend(self, now: int, budget: int) -> None:
        """Expire the spend of calls that started more than `budget` µs before `now` (the tally)."""
        spend = self.spend
        if spend:
            budget_before = now - budget
            while spend and spend[0][0] < budget_before:
                self.spend_total -= spend.popleft()[1]
            if not spend:
                self.spend_total = 0.0  # drop float drift when the window empties

    def note(self, call: SeenCall) -> None:
        """Count a call in the tally, after the rules have seen it (whether it is added now or later)."""
        self.calls_total += 1
        country = call.country
        if country:
            self.countries.add(country)
        cost = call.cost
        if cost > 0:
            self.spend.append((call.start, cost))
            self.spend_total += cost
        stop, stops = call.stop, self.tail_stops
        if len(stops) == stops.maxlen:  # full: the oldest stop leaves the tail (with no tail, this one)
            leaving = stops[0] if stops else stop
            if leaving > self.stop_before_tail:
                self.stop_before_tail = leaving
        stops.append(stop)
        self.tail_starts.append(call.start)
        if stop > self.seen_stop:
            self.seen_stop = stop

    def prune(self, now: int, keep: int, settle: int) -> None:
        """Forget calls older than `keep` and settle old concurrency peaks (µs)."""
        recent = self.recent
        if recent and recent[0].start < now - keep:
            horizon, minima = now - keep, self._minima
            while recent and recent[0].start < horizon:
                recent.popleft()  # _drop_oldest, inlined: this runs for most calls
                if minima and minima[0][1] == self._first:
                    minima.popleft()
                self._first += 1
        pending = self.pending_peaks
        if pending and pending[0][0] < now - settle:
            settle_before = now - settle
            while pending and pending[0][0] < settle_before:
                self.settled_peak = max(self.settled_peak, pending.popleft()[1])

    def _window_first(self, since: int) -> int:
        """Sequence number of the oldest call of the window that starts at `since`."""
        minima = self._minima
        pos = bisect_left(minima, (since,))
        return minima[pos - 1][1] + 1 if pos else self._first

    def window_count(self, since: int) -> int:
        """How many calls the window since `since` holds: recent calls, walking back from the newest
        until one that started before `since`."""
        return self._next - self._window_first(since)

    def window(self, since: int) -> list[SeenCall]:
        """The calls of that window, oldest first."""
        return list(islice(self.recent, self._window_first(since) - self._first, None))

    def usual_calls_per_hour(self, now: int) -> float:
        """Mean calls per active hour before the current hour (0 when there is no history)."""
        current = _hour(now)
        hours, total = len(self.hour_counts), self.hour_total
        if current in self.hour_counts:
            hours, total = hours - 1, total - self.hour_counts[current]
        # Calls of hours after `now` (records slightly out of order) count as past: harmless.
        return total / hours if hours > 0 else 0.0

    def concurrency_at(self, call: SeenCall) -> int:
        """Most simultaneous calls of this account during `call` (itself included)."""
        start, stop = call.start, call.stop
        if self.latest_stop is None or self.latest_stop <= start:
            return 1  # nothing remembered is still running: the usual case, no sweep
        overlapping = [
            other
            for other in islice(reversed(self.recent), MAX_OVERLAP_SCAN)
            if other.start < stop and other.stop > start
        ]
        if start < stop and len(overlapping) < 2:
            # The sweep's answer without sorting: alone 1; with one other call 2 when they share
            # some time (a call that lasts no time at all overlaps nothing).
            if not overlapping:
                return 1
            other = overlapping[0]
            return 2 if max(other.start, start) < min(other.stop, stop) else 1
        edges: list[tuple[int, int]] = [(start, 1), (stop, -1)]
        for other in overlapping:
            edges.append((max(other.start, start), 1))
            edges.append((min(other.stop, stop), -1))
        # Ends sort before starts at the same instant: back-to-back calls are not simultaneous.
        edges.sort()
        level = peak = 0
        for _, step in edges:
            level += step
            peak = max(peak, level)
        return peak

    def add(self, call: SeenCall) -> None:
        """Remember a call after the rules have seen it (`note` counts it in the tally)."""
        recent = self.recent
        if len(recent) >= MAX_RECENT_CALLS:
            self._drop_oldest()
        start = call.start
        recent.append(call)
        minima = self._minima
        while minima and minima[-1][0] >= start:
            minima.pop()
        minima.append((start, self._next))
        self._next += 1
        hour = start // _US_PER_HOUR if 0 <= start < _EXACT_FLOOR_BELOW else _hour(start)
        counts = self.hour_counts
        if hour in counts:
            counts[hour] += 1
        else:
            counts[hour] = 1
            heapq.heappush(self._hours, hour)
            if len(counts) > MAX_RATE_HOURS:
                self.hour_total -= counts.pop(heapq.heappop(self._hours))
        self.hour_total += 1
        pending, peak = self.pending_peaks, self.settled_peak
        if call.concurrency <= peak and pending and pending[-1][1] <= peak:
            # Neither this peak nor the last pending one can raise the settled peak; they only
            # hold back the peaks queued after them until the later of their starts: one entry.
            if start > pending[-1][0]:
                pending[-1] = (start, pending[-1][1])
        else:
            pending.append((start, call.concurrency))
        if self.latest_stop is None or call.stop > self.latest_stop:
            self.latest_stop = call.stop


def _hour(us: int) -> int:
    # The same hour as int(datetime.timestamp()) // 3600, where timestamp() is microseconds / 10**6
    # as a float, truncated toward zero. Until 2106 (2**32 s) floats are fine-grained enough that
    # this equals integer floor division, which is much cheaper than dividing a large int.
    if 0 <= us < _EXACT_FLOOR_BELOW:
        return us // _US_PER_HOUR
    return int(us / US_PER_SECOND) // 3600
