"""EventWriter: batching, flush, drops, retries, and durability against kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy.exc import OperationalError

from sipwarden.events import Event
from sipwarden.store import EventWriter, Store
from sipwarden.store.settings import StoreSettings

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def ev(i: int = 0) -> Event:
    return Event(ts=T0, kind="probe", source="honeypot", src_ip="192.0.2.1", src_port=i + 1)


def test_batches_are_committed_and_hooked(store: Store) -> None:
    batches: list[list[Event]] = []
    writer = EventWriter(store, max_batch=50, max_delay=0.02, on_commit=batches.append)
    events = [ev(i) for i in range(1000)]
    for e in events:
        writer.put(e)
    writer.flush(timeout=30)
    writer.close()
    assert store.count_events() == 1000
    assert writer.committed == 1000 and writer.dropped == 0 and writer.pending == 0
    assert all(1 <= len(b) <= 50 for b in batches)
    assert [e.id for b in batches for e in b] == [e.id for e in events]


def test_from_settings(store: Store) -> None:
    settings = StoreSettings(batch_size=3, batch_delay=0.5, queue_size=100)
    seen: list[int] = []
    writer = EventWriter.from_settings(store, settings, on_commit=lambda batch: seen.append(len(batch)))
    assert (writer.max_batch, writer.max_delay) == (3, 0.5)
    for i in range(7):
        writer.put(ev(i))
    writer.close()
    assert max(seen) == 3 and sum(seen) == 7


def test_close_writes_what_is_queued(store: Store) -> None:
    writer = EventWriter(store, max_batch=7, max_delay=1.0)
    for i in range(100):
        writer.put(ev(i))
    writer.close()
    assert store.count_events() == 100


def test_full_queue_drops_counts_and_logs(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    gate = threading.Event()
    real_add = store.add_events

    def slow_add(events: list[Event]) -> None:
        gate.wait(30)
        real_add(events)

    with mock.patch.object(store, "add_events", side_effect=slow_add):
        writer = EventWriter(store, max_batch=1, max_delay=0.01, max_queue=5)
        for i in range(50):
            writer.put(ev(i))  # must return at once even though the writer is stuck
        assert writer.dropped >= 40
        gate.set()
        writer.flush(timeout=30)
        writer.close()
    assert store.count_events() == 50 - writer.dropped
    assert "dropped event" in caplog.text and "the write queue is full" in caplog.text


def test_put_after_close_is_counted(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    writer = EventWriter(store)
    writer.close()
    writer.put(ev())
    assert writer.dropped == 1
    assert "the writer is closed" in caplog.text


def test_unavailable_store_is_retried(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    real_add = store.add_events
    failures = iter([True, True])

    def flaky(events: list[Event]) -> None:
        if next(failures, False):
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        real_add(events)

    with mock.patch.object(store, "add_events", side_effect=flaky):
        writer = EventWriter(store, max_batch=100)
        for i in range(10):
            writer.put(ev(i))
        writer.flush(timeout=30)
        writer.close()
    assert store.count_events() == 10
    assert "retrying" in caplog.text


def test_one_bad_event_does_not_cost_the_batch(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    real_add = store.add_events
    bad = ev(99)

    def picky(events: list[Event]) -> None:
        if any(e.id == bad.id for e in events):
            raise ValueError("cannot store this one")
        real_add(events)

    with mock.patch.object(store, "add_events", side_effect=picky):
        writer = EventWriter(store, max_batch=100, max_delay=0.5)
        good = [ev(i) for i in range(5)]
        for e in [*good[:2], bad, *good[2:]]:
            writer.put(e)
        writer.flush(timeout=30)
        writer.close()
    assert {e.id for e in store.events()} == {e.id for e in good}
    assert writer.rejected == 1
    assert bad.id in caplog.text


def test_close_gives_up_on_a_dead_store_and_says_so(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    dead = OperationalError("INSERT", {}, Exception("connection refused"))
    with mock.patch.object(store, "add_events", side_effect=dead):
        writer = EventWriter(store, max_batch=2)
        for i in range(5):
            writer.put(ev(i))
        writer.close(timeout=0.3)
    assert writer.dropped == 5 and writer.committed == 0 and writer.pending == 0
    assert "giving up on" in caplog.text


def test_an_unexpected_error_does_not_kill_the_writer(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    real_add = store.add_events
    with mock.patch.object(store, "add_events", side_effect=RuntimeError("driver bug")):
        writer = EventWriter(store)
        writer.put(ev(1))
        writer.flush(timeout=30)
    assert writer.rejected == 1 and "driver bug" in caplog.text
    with mock.patch.object(store, "add_events", side_effect=real_add):
        writer.put(ev(2))
        writer.flush(timeout=30)
        writer.close()
    assert store.count_events() == 1 and writer.committed == 1


def test_broken_hook_does_not_stop_writes(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    def boom(_: list[Event]) -> None:
        raise RuntimeError("subscriber bug")

    writer = EventWriter(store, on_commit=boom)
    for i in range(3):
        writer.put(ev(i))
        writer.flush(timeout=30)
    writer.close()
    assert store.count_events() == 3
    assert "on_commit hook failed" in caplog.text


def test_flush_times_out_when_the_store_never_answers(store: Store) -> None:
    gate = threading.Event()
    with mock.patch.object(store, "add_events", side_effect=lambda _events: gate.wait(30)):
        writer = EventWriter(store)
        writer.put(ev())
        with pytest.raises(TimeoutError, match="1 events still unwritten"):
            writer.flush(timeout=0.2)
        gate.set()
        writer.close()


# A writer in a child process: it prints each committed id (after the commit returned) and keeps
# producing events until it is killed. Bounded: at most 200k events or 60 s.
CHILD = r"""
import sys, time
from datetime import UTC, datetime
from sipwarden.events import Event
from sipwarden.store import EventWriter, Store
from sipwarden.store.settings import StoreSettings

store = Store.open(sys.argv[1])
def report(batch):
    sys.stdout.write("".join(e.id + "\n" for e in batch))
    sys.stdout.flush()
writer = EventWriter(store, max_batch=50, max_delay=0.005, on_commit=report)
end = time.monotonic() + 60
for i in range(200_000):
    if time.monotonic() > end:
        break
    writer.put(Event(ts=datetime.now(UTC), kind="probe", source="honeypot", src_ip="192.0.2.9", src_port=i % 65535 + 1))
    if i % 100 == 0:
        time.sleep(0.001)
writer.close()
"""

#: Committed ids to see before the kill: several batches, so the kill lands mid-stream.
KILL_AFTER = 2000


def test_kill_9_loses_no_committed_event(store_url: str) -> None:
    Store.open(store_url).close()  # migrate before the child starts
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, store_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    reported: list[str] = []
    deadline = time.monotonic() + 60
    try:
        assert child.stdout is not None
        while len(reported) < KILL_AFTER and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            reported.append(line.strip())
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        _, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert len(reported) >= KILL_AFTER, f"child wrote too little before the kill: {err}"
    store = Store.open(store_url)
    try:
        stored = {e.id for e in store.events(limit=100_000)}
    finally:
        store.close()
    missing = [i for i in reported if i not in stored]
    assert not missing, f"{len(missing)} committed events lost, first {missing[:3]}"
    assert len(stored) >= len(reported)


def test_sqlite_store_survives_kill_9_without_a_close(tmp_path: Path) -> None:
    """A store file left by a killed process (WAL not checkpointed) opens and keeps its events."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    code = (
        "import os, signal, sys\n"
        "from datetime import UTC, datetime\n"
        "from sipwarden.events import Event\n"
        "from sipwarden.store import Store\n"
        "s = Store.open(sys.argv[1])\n"
        "s.add_events([Event(ts=datetime.now(UTC), kind='probe', source='honeypot') for _ in range(10)])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, url], capture_output=True, timeout=60, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (tmp_path / "s.db-wal").exists()
    store = Store.open(url)
    try:
        assert store.count_events() == 10
    finally:
        store.close()
