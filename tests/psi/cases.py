"""Set pairs every PSI mode must get right, and the expected answer for each."""

from __future__ import annotations

import random

import numpy as np


def set_pairs():
    rng = random.Random(5)
    big_a = rng.sample(range(10**12), 400)
    big_b = rng.sample(big_a, 150) + rng.sample(range(10**12, 2 * 10**12), 200)
    return {
        "both empty": ([], []),
        "one empty": (["a", "b"], []),
        "one element, common": (["only"], ["only"]),
        "one element, not common": ([1], [2]),
        "disjoint": (list(range(0, 50)), list(range(50, 90))),
        "identical": ([f"id-{i}" for i in range(60)], [f"id-{i}" for i in reversed(range(60))]),
        "duplicates": (["x", "y", "x", "z", "x", "w"], ["x", "z", "z", "v"]),
        "random int64 array": (np.array(big_a, dtype=np.int64), np.array(big_b, dtype=np.int64)),
        "composite keys": ([(1, "a"), (1, "b"), (2, "a")], [(1, "b"), (2, "a"), (2, "b")]),
    }


def as_python(values):
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def expected_intersection(first, second):
    return set(as_python(first)) & set(as_python(second))


def check_revealed(result, keys, peer_keys, peer_result=None):
    """Check one receiver's result against plain Python sets; and alignment with the peer's."""
    keys_list = as_python(keys)
    expected = expected_intersection(keys, peer_keys)
    assert result.cardinality == len(expected)
    assert set(as_python(result.intersection)) == expected
    assert result.own_size == len(set(keys_list))
    assert result.peer_size == len(set(as_python(peer_keys)))
    expected_rows = [row for row, key in enumerate(keys_list) if key in expected]
    assert sorted(result.rows.tolist()) == expected_rows
    for rank, key in enumerate(as_python(result.intersection)):
        assert {keys_list[row] for row in result.rows_of(rank).tolist()} == {key}
        assert result.first_rows[rank] == keys_list.index(key)
    assert result.row_mask(len(keys_list)).sum() == len(expected_rows)
    if peer_result is not None:
        # Aligned order: rank k is the same key at both sides.
        assert as_python(result.intersection) == as_python(peer_result.intersection)
