"""Row alignment of column-split owners by PSI: common keys, one common order, duplicates refused."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError
from offchain.ml.alignment import align_rows
from tests.psi.parties import run_parties


def _aligned(key_columns):
    owners = tuple(range(len(key_columns)))
    programs = [
        (lambda transport, keys=keys: align_rows(transport, owners, keys, workers=0)) for keys in key_columns
    ]
    return run_parties(programs)


def test_two_owners_get_the_common_keys_in_the_same_order() -> None:
    rng = np.random.default_rng(9)
    common = rng.choice(10**9, 300, replace=False)
    left = rng.permutation(np.concatenate([common, 2 * 10**9 + np.arange(40)]))
    right = rng.permutation(np.concatenate([common, 3 * 10**9 + np.arange(25)]))
    rows_left, rows_right = _aligned([left, right])
    assert len(rows_left) == len(rows_right) == 300
    assert np.array_equal(left[rows_left], right[rows_right])
    assert set(left[rows_left].tolist()) == set(common.tolist())


def test_three_owners_keep_only_keys_all_of_them_hold() -> None:
    keys = [f"customer-{i:05d}" for i in range(200)]
    first = keys[:150]
    second = keys[50:] + ["only-second"]
    third = keys[::-1][:120] + ["only-third"]  # customers 80..199
    rows = _aligned([first, second, third])
    aligned = [[column[r] for r in found] for column, found in zip((first, second, third), rows, strict=True)]
    assert aligned[0] == aligned[1] == aligned[2]
    assert aligned[0] == sorted(set(first) & set(second) & set(third))  # order: canonical encoding
    assert len(aligned[0]) == 70


def test_repeated_keys_are_refused_before_anything_is_sent() -> None:
    with pytest.raises(InputError, match="repeats 1 value"):
        _aligned([np.array([1, 2, 2, 3]), np.array([1, 2, 3])])
