"""An address -> slot index that costs 8 bytes per tracked IPv4 source instead of ~100.

A `dict[int, int]` spends a 24-byte entry, a 32-byte int key and a 28-byte int value on each of the
million sources a scanner can spray from, so the index is open addressing (linear probing) over one
`array` of slot numbers; the key of a slot is kept by the caller (`keys`, one 8-byte integer per
slot). Keys outside 32 bits (IPv6 sources, rare in floods) go to a plain dict. Deletion shifts later
entries back (Knuth, TAOCP vol. 3, 6.4 Algorithm R), so no tombstones pile up under churn.
"""

from __future__ import annotations

from array import array
from typing import Final

#: Keys below this (IPv4 addresses as ints) live in the probed table; the rest in a dict.
SMALL_KEY_LIMIT: Final = 1 << 32
#: Fibonacci hashing (Knuth, 6.4): spreads consecutive addresses (a scanned block) over the table.
_FIB: Final = 0x9E3779B97F4A7C15
_U64: Final = (1 << 64) - 1
#: The table stays at most half full: about 1.5 probes per lookup with linear probing.
_LOAD_DIVISOR: Final = 2
#: Table sizes are powers of two; this is the smallest.
_MIN_BITS: Final = 4


class AddressIndex:
    """Maps keys (see `tracker.key_of`) to slot numbers; `keys[slot]` must hold the key of each slot.

    The table is sized once for `capacity` keys (4 bytes x 2 x capacity, e.g. 16 MB for two
    million): growing a million-entry table in Python would stall the event loop for a second.
    """

    def __init__(self, capacity: int, keys: array[int]) -> None:
        bits = max(_MIN_BITS, (capacity * _LOAD_DIVISOR - 1).bit_length())
        self._shift = 64 - bits
        self._mask = (1 << bits) - 1
        self._table = array("I", [0]) * (1 << bits)  # slot + 1; 0 is an empty place
        self._keys = keys
        self._large: dict[int, int] = {}

    def _home(self, key: int) -> int:
        return ((key * _FIB) & _U64) >> self._shift

    def get(self, key: int) -> int:
        """The slot of `key`, or -1."""
        if not 0 <= key < SMALL_KEY_LIMIT:
            return self._large.get(key, -1)
        table, keys, mask = self._table, self._keys, self._mask
        i = ((key * _FIB) & _U64) >> self._shift
        while True:
            entry = table[i]
            if entry == 0:
                return -1
            if keys[entry - 1] == key:
                return entry - 1
            i = (i + 1) & mask

    def add(self, key: int, slot: int) -> None:
        """Index `slot` under `key` (which must not be indexed yet; `keys[slot]` already set)."""
        if not 0 <= key < SMALL_KEY_LIMIT:
            self._large[key] = slot
            return
        table, mask = self._table, self._mask
        i = self._home(key)
        while table[i] != 0:
            i = (i + 1) & mask
        table[i] = slot + 1

    def remove(self, key: int, slot: int) -> None:
        """Drop `key` (indexed at `slot`) from the index."""
        if not 0 <= key < SMALL_KEY_LIMIT:
            self._large.pop(key, None)
            return
        table, keys, mask = self._table, self._keys, self._mask
        i = self._home(key)
        while table[i] != slot + 1:
            if table[i] == 0:
                return  # not indexed
            i = (i + 1) & mask
        # Algorithm R: move back every later entry of the run that may live in the hole.
        j = i
        while True:
            j = (j + 1) & mask
            entry = table[j]
            if entry == 0:
                break
            home = self._home(keys[entry - 1])
            if (i < j and (home <= i or home > j)) or (j < i and home <= i and home > j):
                table[i] = entry
                i = j
        table[i] = 0
