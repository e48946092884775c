"""EventWriter: batched event writes off the hot path.

Sensors call `put()` from the event loop; a background thread drains a bounded queue and commits one
transaction per batch (up to `max_batch` events, or whatever arrived within `max_delay` seconds).
`put()` never blocks: when the queue is full the event is dropped, counted and logged. A batch that
fails because the database is unreachable or locked is retried (it is idempotent: ids already stored
are skipped); a batch the database rejects is split so that one bad event cannot cost the others.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Final

from sqlalchemy.exc import InterfaceError, OperationalError

from sipwarden.events import Event
from sipwarden.store.settings import StoreSettings
from sipwarden.store.store import Store

log = logging.getLogger(__name__)

#: Default bound of the queue: about 100 MB of events at worst, minutes of a heavy flood.
DEFAULT_MAX_QUEUE: Final = 100_000
#: Drops are logged at most this often (seconds), each time with the running total.
DROP_LOG_INTERVAL: Final = 10.0
#: Back-off between retries of a batch the database could not take (seconds, doubling up to the max).
RETRY_FIRST_DELAY: Final = 0.1
RETRY_MAX_DELAY: Final = 5.0
#: How often the idle thread wakes to notice `close()` (seconds).
IDLE_WAKE: Final = 0.2

CommitHook = Callable[[list[Event]], None]


class EventWriter:
    """Batched, non-blocking event writes to a Store (one background thread)."""

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 500,
        max_delay: float = 0.05,
        max_queue: int = DEFAULT_MAX_QUEUE,
        on_commit: CommitHook | None = None,
    ) -> None:
        """Start the writer thread; `on_commit(batch)` runs on it after every committed batch."""
        if max_batch < 1 or max_delay <= 0 or max_queue < 1:
            raise ValueError("max_batch, max_delay and max_queue must be positive")
        self.store = store
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.on_commit = on_commit
        self.dropped = 0  # queue full or writer closed
        self.rejected = 0  # the database refused the event itself
        self.committed = 0
        self._queue: queue.Queue[Event] = queue.Queue(maxsize=max_queue)
        self._cond = threading.Condition()
        self._accepted = 0
        self._finished = 0  # committed, rejected or abandoned
        self._closing = threading.Event()
        self._give_up = threading.Event()
        self._last_drop_log = float("-inf")
        self._thread = threading.Thread(target=self._run, name="sipwarden-event-writer", daemon=True)
        self._thread.start()

    @classmethod
    def from_settings(
        cls, store: Store, settings: StoreSettings, *, on_commit: CommitHook | None = None
    ) -> EventWriter:
        """A writer sized by `[store] batch_size`, `batch_delay` and `queue_size`."""
        return cls(
            store,
            max_batch=settings.batch_size,
            max_delay=settings.batch_delay,
            max_queue=settings.queue_size,
            on_commit=on_commit,
        )

    def put(self, event: Event) -> None:
        """Queue `event` for writing; never blocks (a full queue drops, counts and logs)."""
        if self._closing.is_set():
            self._drop(event, "the writer is closed")
            return
        with self._cond:
            self._accepted += 1
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._cond:
                self._accepted -= 1
            self._drop(event, "the write queue is full")

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every event put so far is committed (or rejected); TimeoutError after `timeout`.

        This blocks: from the event loop, call it through `asyncio.to_thread`.
        """
        with self._cond:
            target = self._accepted
            if not self._cond.wait_for(lambda: self._finished >= target, timeout=timeout):
                raise TimeoutError(f"{target - self._finished} events still unwritten after {timeout}s")

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (for up to `timeout` seconds), then stop the thread."""
        self._closing.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            # The database is still refusing; stop retrying and say how much is lost.
            self._give_up.set()
            self._thread.join(RETRY_MAX_DELAY + 1)
        with self._cond:
            unwritten = self._accepted - self._finished
        if unwritten:
            log.error("event writer closed with %s events not written", unwritten)

    @property
    def pending(self) -> int:
        """Events accepted but not yet committed."""
        with self._cond:
            return self._accepted - self._finished

    # -- the thread ----------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_WAKE)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            batch = [first]
            deadline = time.monotonic() + self.max_delay
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            written = self._write(batch)
            if written:
                self._committed(written)
            self._done(len(batch))

    def _write(self, batch: list[Event], *, split: bool = True) -> list[Event]:
        """Commit `batch`; return the events that were committed. Never raises: a dead writer
        thread would lose every later event without a word."""
        delay = RETRY_FIRST_DELAY
        while True:
            try:
                self.store.add_events(batch)
            except (OperationalError, InterfaceError) as exc:
                if self._give_up.is_set():
                    with self._cond:
                        self.dropped += len(batch)
                    log.error("giving up on %s events: the store is unavailable (%s)", len(batch), exc)
                    return []
                log.warning("store unavailable, retrying %s events in %.1fs: %s", len(batch), delay, exc)
                self._give_up.wait(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
                continue
            except Exception as exc:  # the database refused the data itself
                if split and len(batch) > 1:
                    log.warning("store refused a batch of %s events (%s); writing them one by one", len(batch), exc)
                    written: list[Event] = []
                    for ev in batch:
                        written += self._write([ev], split=False)
                    return written
                self.rejected += len(batch)
                for ev in batch:
                    log.error("store refused event %s (%s from %s): %s", ev.id, ev.kind, ev.src_ip, exc)
                return []
            return batch

    def _committed(self, batch: list[Event]) -> None:
        self.committed += len(batch)
        if self.on_commit is not None:
            try:
                self.on_commit(batch)
            except Exception:
                # A broken subscriber must not stop the writes (mitmproxy-style addon isolation).
                log.exception("on_commit hook failed; the batch itself is committed")

    def _done(self, n: int) -> None:
        with self._cond:
            self._finished += n
            self._cond.notify_all()

    def _drop(self, event: Event, why: str) -> None:
        with self._cond:
            self.dropped += 1
            dropped = self.dropped
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL:
            self._last_drop_log = now
            log.warning(
                "dropped event %s (%s from %s): %s; %s dropped so far", event.id, event.kind, event.src_ip, why, dropped
            )
