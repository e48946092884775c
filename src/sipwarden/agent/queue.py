"""The agent's on-disk push queue: a SQLite file, committed with fsync before an event is acknowledged.

A hub outage or a restart loses nothing: rows leave the queue only after the hub accepted their batch
(2xx). A batch the hub refuses (4xx) is moved to the `rejected` table for the operator, not retried.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from sipwarden.events import Event

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, reason TEXT NOT NULL);
"""


class PushQueue:
    """Durable FIFO of Event JSON texts. Thread-safe; every method is a short blocking call."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "push-queue.sqlite"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # WAL + synchronous=FULL: every commit is fsync'd before add() returns.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def add(self, events: Iterable[Event]) -> int:
        """Append `events` durably; return how many."""
        rows = [(json.dumps(e.to_dict(), separators=(",", ":")),) for e in events]
        if not rows:
            return 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO pending (body) VALUES (?)", rows)
            self._db.execute("COMMIT")
        return len(rows)

    def peek(self, limit: int) -> list[tuple[int, str]]:
        """The oldest `limit` queued (seq, json) rows, still queued."""
        with self._lock:
            return list(self._db.execute("SELECT seq, body FROM pending ORDER BY seq LIMIT ?", (limit,)))

    def done(self, last_seq: int) -> None:
        """Forget every row up to `last_seq` (the hub accepted them)."""
        with self._lock:
            self._db.execute("DELETE FROM pending WHERE seq <= ?", (last_seq,))

    def reject(self, seqs: Sequence[int], reason: str) -> None:
        """Move the rows `seqs` aside with the hub's `reason`."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for seq in seqs:
                self._db.execute(
                    "INSERT OR REPLACE INTO rejected (seq, body, reason) SELECT seq, body, ? FROM pending WHERE seq = ?",
                    (reason[:2000], seq),
                )
                self._db.execute("DELETE FROM pending WHERE seq = ?", (seq,))
            self._db.execute("COMMIT")

    def pending(self) -> int:
        """How many events wait for the hub."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM pending").fetchone()[0])

    def rejected(self) -> int:
        """How many events the hub refused."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM rejected").fetchone()[0])

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
