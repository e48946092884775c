"""Compact per-source state: time-bucketed counters, recent evidence ids and the usernames tried.

A million sources must fit in a few hundred megabytes (scanners spray from whole address blocks), so
no source is a Python object: a source is a *slot*, a row number in a few flat arrays (struct of
arrays): its key, its last tick, its 16-bit counters, its first `INLINE_EVIDENCE` event ids (ULIDs as
16 raw bytes) and the hashes of its first `INLINE_USERS` usernames. The few sources that send more
(the ones about to be banned) keep the rest in side tables. About 160 bytes per source in all.

Every counting window is split into buckets; a count covers the whole window plus at most one bucket
of older history (so a threshold is never missed, and at worst reached up to a quarter of a window
early).
"""

from __future__ import annotations

import ipaddress
from array import array
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from ulid import ULID

from sipwarden.detect.index import AddressIndex

#: Buckets per window. 4 keeps the error below a quarter of the window for 5 ints per window.
BUCKETS_PER_WINDOW: Final = 4
#: Counters run on tenths of a second: fine enough for 10 s flood windows, and a uint32 lasts 13 years.
TICKS_PER_SECOND: Final = 10
#: Evidence kept per source: the most recent event ids. A decision needs proof, not the whole flood.
MAX_EVIDENCE_IDS: Final = 20
#: Distinct usernames remembered per source; enough for any enumeration threshold that makes sense.
MAX_USERS_PER_SOURCE: Final = 64
#: Event ids and usernames kept in the slot itself. Most of a million sprayed sources send one to
#: three requests; more moves the source's lists to a side table (a dict entry and an object).
INLINE_EVIDENCE: Final = 4
INLINE_USERS: Final = 4
#: Usernames remembered for display, by hash (sources keep 4-byte hashes, not strings). Attackers
#: try the same few hundred names everywhere; beyond this the oldest name is forgotten and shown as
#: its hash.
MAX_NAMES: Final = 100_000
#: Separator of evidence ids inside one string (ids that are not ULIDs: imported events).
_SEP: Final = "\x1f"
_MAX_TICK: Final = 2**32 - 1
#: A bucket saturates here (16-bit counters: no threshold is anywhere near it).
_MAX_COUNT: Final = 2**16 - 1
_ULID_LEN: Final = 26
_ULID_BYTES: Final = 16
#: The inline count of a slot whose list moved to a side table.
_SPILLED: Final = 255
#: The key of a free slot, and of a slot whose key is too large for 64 bits (kept in `_large_keys`).
_NO_KEY: Final = 2**64 - 1
# Crockford base32 (ULID) -> the digits int(x, 32) reads.
_CROCKFORD = str.maketrans("0123456789ABCDEFGHJKMNPQRSTVWXYZ", "0123456789ABCDEFGHIJKLMNOPQRSTUV")


def key_of(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """The table key of an address: IPv4 as its int, IPv6 above every IPv4."""
    return int(addr) if addr.version == 4 else int(addr) | 1 << 128


def _ulid_bytes(event_id: str) -> bytes | None:
    if len(event_id) != _ULID_LEN:
        return None
    try:
        value = int(event_id.upper().translate(_CROCKFORD), 32)
    except ValueError:
        return None
    return value.to_bytes(_ULID_BYTES, "big") if value < 2**128 else None


def _ids_of(raw: bytes) -> list[str]:
    return [str(ULID.from_bytes(raw[i : i + _ULID_BYTES])) for i in range(0, len(raw), _ULID_BYTES)]


def _name_hash(username: str) -> int:
    # Python's str hash is keyed per process (SipHash): an attacker cannot craft names that collide
    # to hide from the distinct-username count. 0 marks an empty place.
    return hash(username) & 0xFFFFFFFF or 1


class SourceTable:
    """Per-source state for every counting window the rules declared; a source is a slot number."""

    def __init__(self, windows: Sequence[float], *, users_window: float, max_sources: int) -> None:
        self._windows: list[tuple[int, int]] = []  # (offset of first bucket in a row, bucket width in ticks)
        offset = 0
        for seconds in windows:
            width = max(1, round(seconds * TICKS_PER_SECOND / BUCKETS_PER_WINDOW))
            self._windows.append((offset, width))
            offset += BUCKETS_PER_WINDOW + 1
        self._stride = offset
        self._zero_row = array("H", bytes(2 * offset))
        self._users_ticks = round(users_window * TICKS_PER_SECOND)
        longest = max([*windows, users_window])
        # State idle for longer than every window counts nothing any more.
        self._idle_ticks = round(longest * TICKS_PER_SECOND * (1 + 1 / BUCKETS_PER_WINDOW)) + 1
        self._max_sources = max_sources
        self._epoch: float | None = None
        # One row per slot in each array; a free slot has tick 0.
        self._keys = array("Q")
        self._ticks = array("I")
        self._counts = array("H")
        self._evidence = bytearray()  # INLINE_EVIDENCE x 16 bytes per slot
        self._evidence_n = bytearray()
        self._users = array("I")  # INLINE_USERS name hashes per slot
        self._users_n = bytearray()
        self._more_evidence: dict[int, bytes | str] = {}  # slot -> every id (16-byte records, or text)
        self._more_users: dict[int, array[int]] = {}  # slot -> every name hash
        self._large_keys: dict[int, int] = {}  # slot -> key, for keys beyond 64 bits (IPv6)
        self._names: dict[int, str] = {}
        self._index = AddressIndex(max_sources, self._keys)
        self._free = array("I")
        self._live = 0
        self._sweep_at = 0  # the current budgeted sweep round: next slot, and the end of the round
        self._sweep_end = 0

    def __len__(self) -> int:
        return self._live

    def __contains__(self, key: int) -> bool:
        return self._index.get(key) >= 0

    def tick_of(self, ts: datetime) -> int:
        """The counter tick of a time (the first time seen is tick 1)."""
        seconds = ts.timestamp()
        if self._epoch is None:
            self._epoch = seconds - 1 / TICKS_PER_SECOND
        return min(_MAX_TICK, max(1, int((seconds - self._epoch) * TICKS_PER_SECOND)))

    def touch(self, key: int, ts: datetime, event_id: str, username: str | None) -> int:
        """The slot of `key` (see `key_of`) advanced to `ts`, with the event's id and username recorded."""
        tick = self.tick_of(ts)
        slot = self._index.get(key)
        if slot < 0:
            if self._live >= self._max_sources:
                self._evict()
            slot = self._allocate(key, tick)
        else:
            self._roll(slot, tick)
        self._add_evidence(slot, event_id)
        if username:
            self._add_user(slot, username)
        return slot

    def count(self, slot: int, window: int, n: int) -> int:
        """Add `n` to one window of `slot` and return the window's total."""
        offset, width = self._windows[window]
        base = slot * self._stride + offset
        counts = self._counts
        i = base + (self._ticks[slot] // width) % (BUCKETS_PER_WINDOW + 1)
        counts[i] = min(_MAX_COUNT, counts[i] + n)
        return sum(counts[base : base + BUCKETS_PER_WINDOW + 1])

    def tick(self, slot: int) -> int:
        """The tick of the last event of `slot`."""
        return self._ticks[slot]

    def evidence_ids(self, slot: int) -> tuple[str, ...]:
        """The most recent event ids of `slot`, oldest first."""
        n = self._evidence_n[slot]
        if n != _SPILLED:
            base = slot * INLINE_EVIDENCE * _ULID_BYTES
            return tuple(_ids_of(bytes(self._evidence[base : base + n * _ULID_BYTES])))
        more = self._more_evidence[slot]
        if isinstance(more, str):
            return tuple(more.split(_SEP))
        return tuple(_ids_of(more))

    def usernames(self, slot: int) -> tuple[str, ...]:
        """Distinct usernames `slot` tried (bounded by MAX_USERS_PER_SOURCE), first tried first."""
        names = self._names
        return tuple(names.get(h, f"#{h:08x}") for h in self._user_hashes(slot))

    def forget(self, key: int) -> None:
        """Drop the state of `key` (after a ban: counting starts again from zero)."""
        slot = self._index.get(key)
        if slot >= 0:
            self._release(slot)

    def sweep(self, now: datetime, *, budget: int | None = None) -> int:
        """Forget sources idle for longer than every window; return how many were dropped.

        With a `budget`, look at no more than that many slots per call, continuing where the last
        call stopped (a million sources are swept over many calls, never stalling the event loop).
        """
        if self._epoch is None:
            return 0
        horizon = self.tick_of(now) - self._idle_ticks
        if budget is None:
            start, end = 0, len(self._ticks)
        else:
            if self._sweep_at >= self._sweep_end:
                self._sweep_at, self._sweep_end = 0, len(self._ticks)
            start = self._sweep_at
            end = self._sweep_at = min(self._sweep_end, start + budget)
        ticks = self._ticks
        idle = [slot for slot in range(start, end) if 0 < ticks[slot] < horizon]
        for slot in idle:
            self._release(slot)
        return len(idle)

    @property
    def sweeping(self) -> bool:
        """True while a budgeted sweep round is unfinished."""
        return self._sweep_at < self._sweep_end

    # -- slots ----------------------------------------------------------------------------------------

    def _allocate(self, key: int, tick: int) -> int:
        if self._free:
            slot = self._free.pop()
            base = slot * self._stride
            self._counts[base : base + self._stride] = self._zero_row
        else:
            slot = len(self._ticks)
            self._keys.append(_NO_KEY)
            self._ticks.append(0)
            self._counts.extend(self._zero_row)
            self._evidence.extend(bytes(INLINE_EVIDENCE * _ULID_BYTES))
            self._evidence_n.append(0)
            self._users.extend((0,) * INLINE_USERS)
            self._users_n.append(0)
        self._evidence_n[slot] = 0
        self._users_n[slot] = 0
        self._ticks[slot] = tick
        if 0 <= key < _NO_KEY:
            self._keys[slot] = key
        else:
            self._large_keys[slot] = key
        self._index.add(key, slot)
        self._live += 1
        return slot

    def _release(self, slot: int) -> None:
        key = self._large_keys.pop(slot, None)
        self._index.remove(self._keys[slot] if key is None else key, slot)
        self._keys[slot] = _NO_KEY
        self._ticks[slot] = 0
        self._more_evidence.pop(slot, None)
        self._more_users.pop(slot, None)
        self._free.append(slot)
        self._live -= 1

    def _roll(self, slot: int, tick: int) -> None:
        last = self._ticks[slot]
        if tick <= last:
            return  # an event out of order counts in the current buckets
        counts = self._counts
        row = slot * self._stride
        period = BUCKETS_PER_WINDOW + 1
        for offset, width in self._windows:
            old, new = last // width, tick // width
            base = row + offset
            if new - old >= period:
                for i in range(base, base + period):
                    counts[i] = 0
            else:
                for b in range(old + 1, new + 1):
                    counts[base + b % period] = 0
        if tick - last > self._users_ticks:
            self._users_n[slot] = 0
            self._more_users.pop(slot, None)
        self._ticks[slot] = tick

    def _evict(self) -> None:
        # Drop the tenth idle for longest (ties: the oldest slots), judged from a sample of last
        # ticks: sorting two million ticks would stall the event loop.
        want = max(1, self._max_sources // 10)
        ticks = self._ticks
        step = max(1, len(ticks) // 10_000)
        sample = sorted(t for t in ticks[::step] if t)
        cut = sample[min(len(sample) - 1, len(sample) * want // max(1, self._live))] if sample else _MAX_TICK
        dropped = 0
        for strict in (True, False):
            for slot in range(len(ticks)):
                if dropped >= want:
                    return
                t = ticks[slot]
                if t and (t < cut if strict else t <= cut):
                    self._release(slot)
                    dropped += 1
        if dropped < want:  # the sample missed the oldest: drop in slot order
            for slot in range(len(ticks)):
                if dropped >= want:
                    return
                if ticks[slot]:
                    self._release(slot)
                    dropped += 1

    # -- evidence and usernames -----------------------------------------------------------------------

    def _add_evidence(self, slot: int, event_id: str) -> None:
        n = self._evidence_n[slot]
        raw = _ulid_bytes(event_id)
        if n < INLINE_EVIDENCE and raw is not None:
            at = (slot * INLINE_EVIDENCE + n) * _ULID_BYTES
            self._evidence[at : at + _ULID_BYTES] = raw
            self._evidence_n[slot] = n + 1
            return
        if n == _SPILLED:
            more = self._more_evidence[slot]
        else:
            base = slot * INLINE_EVIDENCE * _ULID_BYTES
            more = bytes(self._evidence[base : base + n * _ULID_BYTES])
            self._evidence_n[slot] = _SPILLED
        if isinstance(more, bytes) and raw is not None:
            more = (more + raw)[-MAX_EVIDENCE_IDS * _ULID_BYTES :]
        else:  # an id that is no ULID: keep every id as text
            ids = _ids_of(more) if isinstance(more, bytes) else more.split(_SEP) if more else []
            ids.append(event_id)
            more = _SEP.join(ids[-MAX_EVIDENCE_IDS:])
        self._more_evidence[slot] = more

    def _user_hashes(self, slot: int) -> array[int]:
        n = self._users_n[slot]
        if n == _SPILLED:
            return self._more_users[slot]
        base = slot * INLINE_USERS
        return self._users[base : base + n]

    def _add_user(self, slot: int, username: str) -> None:
        h = _name_hash(username)
        n = self._users_n[slot]
        hashes = self._user_hashes(slot)
        if h in hashes or len(hashes) >= MAX_USERS_PER_SOURCE:
            return
        if h not in self._names:
            if len(self._names) >= MAX_NAMES:
                self._names.pop(next(iter(self._names)))
            self._names[h] = username
        if n < INLINE_USERS:
            self._users[slot * INLINE_USERS + n] = h
            self._users_n[slot] = n + 1
            return
        if n != _SPILLED:
            self._users_n[slot] = _SPILLED
            self._more_users[slot] = hashes
        hashes.append(h)
