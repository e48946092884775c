"""Per-source bucketed counters: a window counts its events, then forgets them."""

from __future__ import annotations

from ulid import ULID

from sipwarden.detect.tracker import INLINE_EVIDENCE, MAX_EVIDENCE_IDS, MAX_USERS_PER_SOURCE, SourceTable

from .helpers import at


def test_window_counts_then_forgets() -> None:
    table = SourceTable([60.0], users_window=600, max_sources=10)
    counts = []
    for s in (0, 10, 20, 30):
        slot = table.touch(1, at(s), f"id{s}", None)
        counts.append(table.count(slot, 0, 1))
    assert counts == [1, 2, 3, 4]
    # 76 s (a bucket past the window + its slack) after the last event everything is gone.
    slot = table.touch(1, at(30 + 76), "late", None)
    assert table.count(slot, 0, 1) == 1


def test_a_window_never_undercounts_events_within_it() -> None:
    table = SourceTable([60.0], users_window=600, max_sources=10)
    for i in range(60):
        slot = table.touch(1, at(i * 13.7), str(i), None)
        n = table.count(slot, 0, 1)
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
        slot = table.touch(1, at(i), f"id{i}", f"user{i}")
    assert table.evidence_ids(slot) == tuple(f"id{i}" for i in range(200 - MAX_EVIDENCE_IDS, 200))
    assert table.usernames(slot) == tuple(f"user{i}" for i in range(MAX_USERS_PER_SOURCE))
    # A pause longer than the users window starts a new list.
    slot = table.touch(1, at(200 + 601), "x", "999")
    assert table.usernames(slot) == ("999",)


def test_usernames_are_distinct_and_in_first_tried_order() -> None:
    table = SourceTable([60.0], users_window=600, max_sources=10)
    for i, name in enumerate(["100", "101", "100", "102", "103", "101", "104", "105", "104"]):
        slot = table.touch(7, at(i), f"id{i}", name)
    assert table.usernames(slot) == ("100", "101", "102", "103", "104", "105")
    other = table.touch(8, at(10), "x", "100")
    assert table.usernames(other) == ("100",) and table.usernames(slot)[0] == "100"


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
    for i, event_id in enumerate(ids[:INLINE_EVIDENCE]):
        slot = table.touch(1, at(i), event_id, None)
        assert table.evidence_ids(slot) == tuple(ids[: i + 1])
    assert len(table._more_evidence) == 0  # still inside the slot, 16 bytes per id
    for i, event_id in enumerate(ids[INLINE_EVIDENCE:], INLINE_EVIDENCE):
        slot = table.touch(1, at(i), event_id, None)
    assert table._more_evidence[slot] == b"".join(ULID.from_str(i).bytes for i in ids[-MAX_EVIDENCE_IDS:])
    assert table.evidence_ids(slot) == tuple(ids[-MAX_EVIDENCE_IDS:])
    # An id that is not a ULID (an imported event) switches to text without losing the others.
    slot = table.touch(1, at(30), "import-7", None)
    assert table.evidence_ids(slot) == (*ids[-MAX_EVIDENCE_IDS + 1 :], "import-7")
    # A slot used again starts empty.
    table.forget(1)
    assert len(table._more_evidence) == 0
    slot = table.touch(2, at(31), ids[0], None)
    assert table.evidence_ids(slot) == (ids[0],) and table.usernames(slot) == ()


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


def test_a_full_table_forgets_the_sources_idle_for_longest() -> None:
    table = SourceTable([60.0], users_window=60, max_sources=1000)
    for i in range(1000):
        table.touch(i, at(i % 100), str(i), None)  # keys 0, 100, 200... last seen at 0 s
    table.touch(5000, at(200), "n", None)
    assert len(table) == 901 and 5000 in table
    assert all(k not in table for k in range(0, 1000, 100))  # a tick of 0 s: idle for longest
    assert all(k in table for k in range(50, 1000, 100))


def test_ipv6_and_ipv4_sources_keep_separate_state() -> None:
    import ipaddress

    from sipwarden.detect.tracker import key_of

    table = SourceTable([60.0], users_window=600, max_sources=10)
    v4 = key_of(ipaddress.ip_address("0.0.0.1"))
    v6 = key_of(ipaddress.ip_address("::1"))  # the same integer value as 0.0.0.1
    a = table.touch(v4, at(0), "a", "alice")
    b = table.touch(v6, at(0), "b", "bob")
    assert a != b and table.count(a, 0, 3) == 3 and table.count(b, 0, 1) == 1
    assert table.usernames(b) == ("bob",) and table.evidence_ids(a) == ("a",)
    table.forget(v6)
    assert v6 not in table and v4 in table and len(table) == 1
    assert table.touch(v6, at(1), "c", None) == b  # the freed slot is used again, empty
    assert table.evidence_ids(b) == ("c",) and table.count(b, 0, 1) == 1
