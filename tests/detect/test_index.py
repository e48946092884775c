"""The open-addressing address index agrees with a dict under any mix of adds and removes."""

from __future__ import annotations

import random
from array import array

from sipwarden.detect.index import SMALL_KEY_LIMIT, AddressIndex


def test_random_churn_matches_a_dict() -> None:
    rng = random.Random(7)
    keys = array("Q")
    index = AddressIndex(64, keys)  # 128 places: runs wrap around the end of the table
    truth: dict[int, int] = {}
    free: list[int] = []
    # Few distinct keys in a small table: long probe runs, deletions in the middle of runs.
    pool = [rng.randrange(SMALL_KEY_LIMIT) for _ in range(90)] + [0, SMALL_KEY_LIMIT - 1]
    pool += [SMALL_KEY_LIMIT, 1 << 128 | 5]  # too large for the table: kept aside
    for _ in range(20_000):
        key = rng.choice(pool)
        if key in truth:
            slot = truth.pop(key)
            index.remove(key, slot)
            free.append(slot)
        elif len(truth) < 64:
            slot = free.pop() if free else len(keys)
            if slot == len(keys):
                keys.append(0)
            keys[slot] = key if key < SMALL_KEY_LIMIT else 2**64 - 1
            index.add(key, slot)
            truth[key] = slot
        probe = rng.choice(pool)
        assert index.get(probe) == truth.get(probe, -1)
    assert all(index.get(k) == truth.get(k, -1) for k in pool)


def test_consecutive_addresses_of_a_scanned_block() -> None:
    keys = array("Q", range(3_000_000_000, 3_000_010_000))
    index = AddressIndex(10_000, keys)
    for slot, key in enumerate(keys):
        index.add(key, slot)
    assert [index.get(k) for k in (3_000_000_000, 3_000_005_000, 3_000_009_999)] == [0, 5000, 9999]
    assert index.get(2_999_999_999) == -1
    for slot in range(0, 10_000, 2):
        index.remove(keys[slot], slot)
    assert index.get(3_000_000_000) == -1 and index.get(3_000_000_001) == 1
