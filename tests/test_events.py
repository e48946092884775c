"""events.new_id: valid ULIDs in the spec's monotonic mode (https://github.com/ulid/spec)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import pytest
from ulid import ULID

from sipwarden import events
from sipwarden.events import new_id

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_ids_are_ulids_of_now() -> None:
    before = datetime.now(UTC)
    ids = [new_id() for _ in range(3000)]
    after = datetime.now(UTC)
    for text in ids[::97]:
        assert len(text) == 26 and set(text) <= CROCKFORD
        parsed = ULID.from_str(text)
        assert str(parsed) == text
        assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= parsed.datetime <= after


def test_ids_increase_strictly_in_the_order_they_are_made() -> None:
    ids = [new_id() for _ in range(20000)]  # several thousand share a millisecond
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_same_millisecond_adds_one_and_carries_into_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = events._MonotonicUlid()
    monkeypatch.setattr(events.time, "time_ns", lambda: 1_700_000_000_000 * 1_000_000)
    first = gen.next_id()
    gen._random = (gen._random | 0x3FF) - 1  # two steps before the low digits wrap
    gen._encode_prefix()
    values = [ULID.from_str(gen.next_id()) for _ in range(4)]
    randomness = [int(v) & ((1 << 80) - 1) for v in values]
    assert randomness == [randomness[0] + i for i in range(4)]  # +1 each, across the wrap
    assert all(v.milliseconds == 1_700_000_000_000 for v in values)
    assert str(values[0]) > first


def test_randomness_overflow_takes_the_next_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = events._MonotonicUlid()
    monkeypatch.setattr(events.time, "time_ns", lambda: 5_000 * 1_000_000)
    last = gen.next_id()
    gen._random = (1 << 80) - 1
    gen._encode_prefix()
    nxt = gen.next_id()
    assert nxt > last and ULID.from_str(nxt).milliseconds == 5_001


def test_clock_stepping_back_keeps_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = events._MonotonicUlid()
    now = [10_000]
    monkeypatch.setattr(events.time, "time_ns", lambda: now[0] * 1_000_000)
    first = gen.next_id()
    now[0] = 9_000  # NTP stepped the clock back
    assert gen.next_id() > first


def test_threads_never_share_an_id() -> None:
    out: list[list[str]] = [[] for _ in range(4)]

    def work(i: int) -> None:
        out[i].extend(new_id() for _ in range(5000))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    every = [i for chunk in out for i in chunk]
    assert len(every) == 20000 and len(set(every)) == 20000
    assert all(chunk == sorted(chunk) for chunk in out)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_draws_its_own_randomness() -> None:
    parent_id = new_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    mine = new_id()
    # Same millisecond or not, the child did not continue the parent's sequence (+1).
    assert child_id not in {mine, parent_id}
    assert int(ULID.from_str(child_id)) != int(ULID.from_str(parent_id)) + 1
