"""AccountHistory's shortcuts (window counts, concurrency, settled peaks) against the plain walks they replace."""

from __future__ import annotations

import random
from collections import deque
from datetime import UTC, datetime, timedelta

import pytest

from sipwarden.fraud.history import NEVER, AccountHistory, SeenCall, _hour, from_micros, micros
from sipwarden.intel.risk import RiskClass

READING = ("+12125550100", "US", "fixed_line", False, RiskClass.LOW)
KEEP, SETTLE, BUDGET = 3600, 600, 86400
S = 1_000_000


def call(start: int, stop: int, cost: float = 0.0) -> SeenCall:
    return SeenCall(start, stop, 0, cost, "2125550100", READING, None)


def naive_window(recent: list[SeenCall], since: int) -> list[SeenCall]:
    out = []
    for other in reversed(recent):  # the walk the rules used to do on every call
        if other.start < since:
            break
        out.append(other)
    return out[::-1]


def naive_concurrency(recent: list[SeenCall], c: SeenCall) -> int:
    latest = max((o.stop for o in recent), default=None)
    if latest is None or latest <= c.start:
        return 1
    edges = [(c.start, 1), (c.stop, -1)]
    for o in recent[::-1][:256]:
        if o.start < c.stop and o.stop > c.start:
            edges += [(max(o.start, c.start), 1), (min(o.stop, c.stop), -1)]
    level = peak = 0
    for _, step in sorted(edges):
        level += step
        peak = max(peak, level)
    return peak


@pytest.mark.parametrize("seed", range(6))
def test_windows_concurrency_and_peaks_match_the_plain_walks(seed: int) -> None:
    rng = random.Random(seed)
    history = AccountHistory("1001", tail=5)
    recent: list[SeenCall] = []
    everything: list[SeenCall] = []
    pending: deque[tuple[int, int]] = deque()
    settled = 1
    now = 1_790_000_000 * S
    for _ in range(3000):
        # Nearly in start order, as CDRs written at hangup arrive; sometimes far out of order.
        now += rng.choice([0, 1, 5, 30, 200, 900]) * S
        start = now - rng.choice([0, 0, 0, 1, 60, 700, 4000]) * S
        c = call(start, start + rng.choice([-1, 0, 1, 5, 60, 300, 1200]) * S, rng.choice([0.0, 0.5]))
        # Reference bookkeeping, the straightforward way.
        while recent and recent[0].start < start - KEEP * S:
            recent.pop(0)
        while pending and pending[0][0] < start - SETTLE * S:
            settled = max(settled, pending.popleft()[1])
        history.prune_spend(start, BUDGET * S)
        history.prune(start, KEEP * S, SETTLE * S)
        assert list(history.recent) == recent
        assert history.settled_peak == settled
        for seconds in (60, 600, 900, 3600):
            since = start - seconds * S
            assert history.window(since) == naive_window(recent, since)
            assert history.window_count(since) == len(naive_window(recent, since))
        c.concurrency = history.concurrency_at(c)
        assert c.concurrency == naive_concurrency(recent, c)
        history.note(c)
        history.add(c)
        recent.append(c)
        everything.append(c)
        pending.append((c.start, c.concurrency))
        # The tally: the latest five calls, and the latest stop of all before them.
        assert list(history.tail_starts) == [o.start for o in everything[-5:]]
        assert list(history.tail_stops) == [o.stop for o in everything[-5:]]
        assert history.stop_before_tail == max((o.stop for o in everything[:-5]), default=NEVER)
        assert history.seen_stop == max(o.stop for o in everything)
        assert history.calls_total == len(everything)


def test_times_are_exact_microseconds_and_hours_match_timestamp() -> None:
    for ts in (datetime(2026, 11, 25, 3, 0, 0, 999_999, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
               datetime(2200, 1, 1, 0, 59, 59, 999_999, tzinfo=UTC)):  # fmt: skip
        us = micros(ts)
        assert from_micros(us) == ts
        assert _hour(us) == int(ts.timestamp()) // 3600
    naive = datetime(2026, 11, 25, 3, 0)
    assert micros(naive) == micros(naive.replace(tzinfo=UTC))
    assert from_micros(micros(naive) + 1) - naive.replace(tzinfo=UTC) == timedelta(microseconds=1)
