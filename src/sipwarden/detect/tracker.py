"""Compact per-source state: time-bucketed counters, recent evidence ids and the usernames tried.

A million sources must fit in a few hundred megabytes (scanners spray from whole address blocks), so
a source costs one `array` of 16-bit counters (with two slots: evidence and usernames), keyed by the
address as an int -- never a list of timestamps. Evidence ids that are ULIDs are kept as 16 raw bytes. Every counting window is split into buckets; a count covers the whole window plus at most
one bucket of older history (so a threshold is never missed, and at worst reached up to a quarter of
a window early).
"""

from __future__ import annotations

import ipaddress
import sys
from array import array
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from ulid import ULID

#: Buckets per window. 4 keeps the error below a quarter of the window for 5 ints per window.
BUCKETS_PER_WINDOW: Final = 4
#: Counters run on tenths of a second: fine enough for 10 s flood windows, and a uint32 lasts 13 years.
TICKS_PER_SECOND: Final = 10
#: Evidence kept per source: the most recent event ids. A decision needs proof, not the whole flood.
MAX_EVIDENCE_IDS: Final = 20
#: Distinct usernames remembered per source; enough for any enumeration threshold that makes sense.
MAX_USERS_PER_SOURCE: Final = 64
#: Separator of evidence ids inside one string (ids that are not ULIDs: imported events).
_SEP: Final = "\x1f"
_MAX_TICK: Final = 2**32 - 1
#: A bucket saturates here (16-bit counters: no threshold is anywhere near it).
_MAX_COUNT: Final = 2**16 - 1
_ULID_LEN: Final = 26
_ULID_BYTES: Final = 16
# Crockford base32 (ULID) -> the digits int(x, 32) reads.
_CROCKFORD = str.maketrans("0123456789ABCDEFGHJKMNPQRSTVWXYZ", "0123456789ABCDEFGHIJKLMNOPQRSTUV")


def key_of(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """The table key of an address: IPv4 as its int, IPv6 above every IPv4 (an int is half a str)."""
    return int(addr) if addr.version == 4 else int(addr) | 1 << 128


def _ulid_bytes(event_id: str) -> bytes | None:
    if len(event_id) != _ULID_LEN:
        return None
    try:
        value = int(event_id.upper().translate(_CROCKFORD), 32)
    except ValueError:
        return None
    return value.to_bytes(_ULID_BYTES, "big") if value < 2**128 else None


class SourceState(array):  # type: ignore[type-arg]
    """What detection remembers about one source: [tick high, tick low, buckets...] + two slots.

    Subclassing array keeps the counters and the slots in one object (no second header per source).
    """

    __slots__ = ("evidence", "users")
    evidence: bytes | str  # ULIDs as 16-byte records, or (any other id seen) ids joined by _SEP
    users: str | tuple[str, ...] | None

    @property
    def tick(self) -> int:
        """The tick of the last event."""
        return int(self[0]) << 16 | int(self[1])

    @tick.setter
    def tick(self, value: int) -> None:
        self[0], self[1] = value >> 16, value & 0xFFFF

    def evidence_ids(self) -> tuple[str, ...]:
        """The most recent event ids of this source, oldest first."""
        ev = self.evidence
        if isinstance(ev, str):
            return tuple(ev.split(_SEP)) if ev else ()
        return tuple(str(ULID.from_bytes(ev[i : i + _ULID_BYTES])) for i in range(0, len(ev), _ULID_BYTES))

    def usernames(self) -> tuple[str, ...]:
        """Distinct usernames this source tried (bounded by MAX_USERS_PER_SOURCE)."""
        if self.users is None:
            return ()
        if isinstance(self.users, str):
            return (self.users,)
        return self.users


class SourceTable:
    """Per-source state for every counting window the rules declared."""

    def __init__(self, windows: Sequence[float], *, users_window: float, max_sources: int) -> None:
        self._windows: list[tuple[int, int]] = []  # (offset of first bucket, bucket width in ticks)
        offset = 2
        for seconds in windows:
            width = max(1, round(seconds * TICKS_PER_SECOND / BUCKETS_PER_WINDOW))
            self._windows.append((offset, width))
            offset += BUCKETS_PER_WINDOW + 1
        self._size = offset
        self._users_ticks = round(users_window * TICKS_PER_SECOND)
        longest = max([*windows, users_window])
        # State idle for longer than every window counts nothing any more.
        self._idle_ticks = round(longest * TICKS_PER_SECOND * (1 + 1 / BUCKETS_PER_WINDOW)) + 1
        self._max_sources = max_sources
        self._epoch: float | None = None
        self._sources: dict[int, SourceState] = {}
        self._sweep_keys: list[int] = []  # the current budgeted sweep round, and how far it got
        self._sweep_at = 0

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, key: int) -> bool:
        return key in self._sources

    def tick_of(self, ts: datetime) -> int:
        """The counter tick of a time (the first time seen is tick 1)."""
        seconds = ts.timestamp()
        if self._epoch is None:
            self._epoch = seconds - 1 / TICKS_PER_SECOND
        return min(_MAX_TICK, max(1, int((seconds - self._epoch) * TICKS_PER_SECOND)))

    def touch(self, key: int, ts: datetime, event_id: str, username: str | None) -> SourceState:
        """The state of `key` (see `key_of`) advanced to `ts`, with the event's id and username recorded."""
        tick = self.tick_of(ts)
        state = self._sources.get(key)
        if state is None:
            if len(self._sources) >= self._max_sources:
                self._evict()
            state = self._sources[key] = SourceState("H", bytes(2 * self._size))
            state.evidence = b""
            state.users = None
            state.tick = tick
        else:
            self._roll(state, tick)
        self._add_evidence(state, event_id)
        if username:
            self._add_user(state, username)
        return state

    def count(self, state: SourceState, window: int, n: int) -> int:
        """Add `n` to one window of `state` and return the window's total."""
        offset, width = self._windows[window]
        slot = offset + (state.tick // width) % (BUCKETS_PER_WINDOW + 1)
        state[slot] = min(_MAX_COUNT, state[slot] + n)
        return sum(state[offset : offset + BUCKETS_PER_WINDOW + 1])

    def forget(self, key: int) -> None:
        """Drop the state of `key` (after a ban: counting starts again from zero)."""
        self._sources.pop(key, None)

    def sweep(self, now: datetime, *, budget: int | None = None) -> int:
        """Forget sources idle for longer than every window; return how many were dropped.

        With a `budget`, look at no more than that many sources per call, continuing where the last
        call stopped (a million sources are swept over many calls, never stalling the event loop).
        """
        if self._epoch is None:
            return 0
        horizon = self.tick_of(now) - self._idle_ticks
        if budget is None:
            idle = [key for key, state in self._sources.items() if state.tick < horizon]
        else:
            if self._sweep_at >= len(self._sweep_keys):
                self._sweep_keys, self._sweep_at = list(self._sources), 0
            batch = self._sweep_keys[self._sweep_at : self._sweep_at + budget]
            self._sweep_at += budget
            if self._sweep_at >= len(self._sweep_keys):
                self._sweep_keys = []
            sources = self._sources
            idle = [key for key in batch if (state := sources.get(key)) is not None and state.tick < horizon]
        for key in idle:
            del self._sources[key]
        return len(idle)

    @property
    def sweeping(self) -> bool:
        """True while a budgeted sweep round is unfinished."""
        return self._sweep_at < len(self._sweep_keys)

    def _roll(self, state: SourceState, tick: int) -> None:
        counts = state
        last = state.tick
        if tick <= last:
            return  # an event out of order counts in the current buckets
        period = BUCKETS_PER_WINDOW + 1
        for offset, width in self._windows:
            old, new = last // width, tick // width
            if new - old >= period:
                for i in range(offset, offset + period):
                    counts[i] = 0
            else:
                for b in range(old + 1, new + 1):
                    counts[offset + b % period] = 0
        if tick - last > self._users_ticks:
            state.users = None
        state.tick = tick

    @staticmethod
    def _add_evidence(state: SourceState, event_id: str) -> None:
        ev = state.evidence
        if isinstance(ev, bytes):
            raw = _ulid_bytes(event_id)
            if raw is not None:
                state.evidence = (ev + raw)[-MAX_EVIDENCE_IDS * _ULID_BYTES :]
                return
            ev = _SEP.join(state.evidence_ids())  # an id that is no ULID: keep every id as text
        ids = ev.split(_SEP) if ev else []
        ids.append(event_id)
        state.evidence = _SEP.join(ids[-MAX_EVIDENCE_IDS:])

    @staticmethod
    def _add_user(state: SourceState, username: str) -> None:
        username = sys.intern(username)  # attackers try the same names everywhere: share the strings
        users = state.users
        if users is None:
            state.users = username
        elif isinstance(users, str):
            if users != username:
                state.users = (users, username)
        elif username not in users and len(users) < MAX_USERS_PER_SOURCE:
            state.users = (*users, username)

    def _evict(self) -> None:
        # Drop the oldest tenth at once: popping the first item of a dict one by one is quadratic.
        keep = len(self._sources) - max(1, self._max_sources // 10)
        items = list(self._sources.items())
        self._sources = dict(items[-keep:]) if keep > 0 else {}
