"""Per-source bucketed counters: a window counts its events, then forgets them."""

from __future__ import annotations

from sipwarden.detect.tracker import MAX_EVIDENCE_IDS, MAX_USERS_PER_SOURCE, SourceTable

from .helpers import at


def test_window_counts_then_forgets() -> None:
    table = SourceTable([60.0], users_window=600, max_sources=10)
    counts = []
    for s in (0, 10, 20, 30):
        state = table.touch(1, at(s), f"id{s}", None)
        counts.append(table.count(state, 0, 1))
    assert counts == [1, 2, 3, 4]
    # 76 s (a bucket past the window + its slack) after the last event everything is gone.
    state = table.touch(1, at(30 + 76), "late", None)
    assert table.count(state, 0, 1) == 1


def test_a_window_never_undercounts_events_within_it() -> None:
    table = SourceTable([60.0], users_window=600, max_sources=10)
    for i in range(60):
        state = table.touch(1, at(i * 13.7), str(i), None)
        n = table.count(state, 0, 1)
        exact = sum(1 for j in range(i + 1) if i * 13.7 - j * 13.7 < 60)
        assert exact <= n <= exact + 2


def test_weighted_counts_and_separate_sources() -> None:
    table = SourceTable([10.0, 3600.0], users_window=60, max_sources=10)
    a = table.touch(1, at(0), "1", None)
    assert table.count(a, 0, 250) == 250
    b = table.touch(2, at(1), "2", None)
    assert table.count(b, 0, 1) == 1
    assert table.count(b, 1, 1) == 1


def test_evidence_and_usernames_are_bounded() -> None:
    table = SourceTable([60.0], users_window=600, max_sources=10)
    for i in range(200):
        state = table.touch(1, at(i), f"id{i}", f"user{i}")
    assert state.evidence_ids() == tuple(f"id{i}" for i in range(200 - MAX_EVIDENCE_IDS, 200))
    assert len(state.usernames()) == MAX_USERS_PER_SOURCE
    # A pause longer than the users window starts a new list.
    state = table.touch(1, at(200 + 601), "x", "999")
    assert state.usernames() == ("999",)


def test_sweep_and_cap() -> None:
    table = SourceTable([60.0], users_window=60, max_sources=1000)
    for i in range(1000):
        table.touch(i, at(0), str(i), None)
    table.touch(-1, at(1), "n", None)
    assert len(table) == 901 and -1 in table and 0 not in table
    assert table.sweep(at(30)) == 0
    assert table.sweep(at(200)) == 901 and len(table) == 0


def test_ulid_evidence_is_stored_compactly_and_round_trips() -> None:
    from sipwarden.events import new_id

    table = SourceTable([60.0], users_window=600, max_sources=10)
    ids = [new_id() for _ in range(25)]
    for i, event_id in enumerate(ids):
        state = table.touch(1, at(i), event_id, None)
    assert isinstance(state.evidence, bytes) and len(state.evidence) == 16 * MAX_EVIDENCE_IDS
    assert state.evidence_ids() == tuple(ids[-MAX_EVIDENCE_IDS:])
    # An id that is not a ULID (an imported event) switches to text without losing the others.
    state = table.touch(1, at(30), "import-7", None)
    assert state.evidence_ids() == (*ids[-MAX_EVIDENCE_IDS + 1 :], "import-7")


def test_budgeted_sweep_continues_where_it_stopped() -> None:
    table = SourceTable([60.0], users_window=60, max_sources=10_000)
    for i in range(250):
        table.touch(i, at(0), str(i), None)
    for i in range(250, 300):
        table.touch(i, at(150), str(i), None)  # still active at the sweep time
    dropped = [table.sweep(at(160), budget=100)]
    assert table.sweeping
    while table.sweeping:
        dropped.append(table.sweep(at(160), budget=100))
    assert dropped == [100, 100, 50] and len(table) == 50
    table.forget(260)
    assert table.sweep(at(500), budget=1000) == 49 and not table.sweeping
