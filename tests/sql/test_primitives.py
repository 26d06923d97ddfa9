"""Round trips of the SQL layer's MPC building blocks over three in-process parties.

Share plaintext, run the protocol, reveal, compare with numpy: exactly for
ring arithmetic and data movement, within the stated bound for fixed point.
"""

from __future__ import annotations

import numpy as np
import pytest

from offchain.mpc.opening import reveal
from offchain.mpc.program import PerParty
from offchain.mpc.shares import ArithmeticShare, FixedPointShare
from offchain.mpc.sharing import deal, receive_input
from offchain.net.local import run_local
from offchain.sql import join, numeric, oblivious


def _share(values, kind="integer"):
    return PerParty(deal(np.asarray(values), kind=kind))


def _permute_known(runtime, payload, permutation):
    x = receive_input(runtime, payload)
    mine = permutation if runtime.party == 0 else None
    out = oblivious.permute_known_to(runtime, x.components, mine, 0)
    return reveal(ArithmeticShare(runtime, out))


def test_permutation_known_to_one_party_moves_rows_exactly() -> None:
    rng = np.random.default_rng(1)
    values = rng.integers(-10**12, 10**12, size=(50, 3))
    permutation = rng.permutation(50)
    run = run_local(_permute_known, _share(values), permutation)
    assert np.array_equal(run.agreed(), values[permutation])


def _permute_quietly(runtime, payload, permutation):
    x = receive_input(runtime, payload)
    oblivious.permute_known_to(runtime, x.components,
                               permutation if runtime.party == 0 else None, 0)


def test_helpers_never_see_the_permutation_itself(monkeypatch) -> None:
    seen: dict[int, list] = {0: [], 1: [], 2: []}
    original = oblivious.permute_by_pair

    def spy(runtime, components, permutation, pair):
        seen[runtime.party].append(None if permutation is None else permutation.copy())
        return original(runtime, components, permutation, pair)

    monkeypatch.setattr(oblivious, "permute_by_pair", spy)
    permutation = np.arange(40)[::-1].copy()
    run_local(_permute_quietly, _share(np.arange(40)), permutation)
    for party in (1, 2):
        known = [p for p in seen[party] if p is not None]
        assert len(known) == 1  # one of the two halves, never both
        assert not np.array_equal(known[0], permutation)
    first, second = (p for p in seen[0])
    assert np.array_equal(first[second], permutation)


def _shuffle(runtime, payload):
    x = receive_input(runtime, payload)
    return reveal(ArithmeticShare(runtime, oblivious.shuffle(runtime, x.components)))


def test_shuffle_is_a_permutation_of_the_rows() -> None:
    values = np.arange(200).reshape(100, 2)
    out = run_local(_shuffle, _share(values)).agreed()
    assert sorted(map(tuple, out.tolist())) == sorted(map(tuple, values.tolist()))
    assert not np.array_equal(out, values)


def _scan(runtime, values_payload, heads_payload, steps):
    values = receive_input(runtime, values_payload)
    heads = receive_input(runtime, heads_payload)
    return reveal(oblivious.segmented_scan(runtime, values, heads, steps))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segmented_scan_restarts_at_heads(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = 64
    heads = (rng.random(size) < 0.2).astype(np.int64)
    heads[0] = 1
    values = rng.integers(-1000, 1000, size=(size, 2))
    expected = np.zeros_like(values)
    for row in range(size):
        expected[row] = values[row] + (expected[row - 1] if row and not heads[row] else 0)
    longest = max(np.diff(np.flatnonzero(np.append(heads, 1))))
    steps = int(np.ceil(np.log2(longest))) if longest > 1 else 0
    out = run_local(_scan, _share(values), _share(heads), steps).agreed()
    assert np.array_equal(out, expected)


@pytest.mark.parametrize("left_join", [False, True])
def test_layout_pairs_every_match_including_duplicates(left_join: bool) -> None:
    left = np.array([[1, 1], [2, 2], [1, 1], [9, 9]], dtype=np.uint64)
    right = np.array([[1, 1], [3, 3], [1, 1], [2, 2], [1, 1]], dtype=np.uint64)
    layout = join.layout(left, right, left_join)
    pairs = sorted((int(a), int(b)) for a, b, e in zip(layout.left_rows, layout.right_rows,
                                                       layout.extension, strict=True) if not e)
    want = sorted((i, j) for i in range(4) for j in range(5)
                  if tuple(left[i]) == tuple(right[j]))
    assert pairs == want
    if left_join:
        assert layout.extension.sum() == 4  # one NULL-extended slot per left row
    # blocks: the slots of one left row are consecutive, the head first
    starts = np.flatnonzero(layout.block_heads)
    assert list(layout.left_rows[starts]) == sorted(set(layout.left_rows.tolist()))


def _join(runtime, left_payload, right_payload, left_tags, right_tags, left_join):
    left = receive_input(runtime, left_payload)
    right = receive_input(runtime, right_payload)
    sides = join.join_rows(runtime, left.components.reshape(2, -1, 1),
                           right.components.reshape(2, -1, 1),
                           receive_input(runtime, left_tags), receive_input(runtime, right_tags),
                           left_join)
    extension = reveal(sides.extension) if sides.extension is not None else None
    return (reveal(ArithmeticShare(runtime, sides.left)).reshape(-1),
            reveal(ArithmeticShare(runtime, sides.right)).reshape(-1), extension)


@pytest.mark.parametrize("left_join", [False, True])
def test_join_rows_route_payloads_to_their_pairs(left_join: bool) -> None:
    rng = np.random.default_rng(5)
    left_keys = rng.integers(0, 6, 12)
    right_keys = rng.integers(0, 6, 15)
    tags = {k: rng.integers(1, 2**62, 2) for k in range(6)}
    left_tags = np.array([tags[k] for k in left_keys])
    right_tags = np.array([tags[k] for k in right_keys])
    left_values = 100 + np.arange(12)
    right_values = 500 + np.arange(15)
    run = run_local(_join, _share(left_values), _share(right_values), _share(left_tags),
                    _share(right_tags), left_join)
    got_left, got_right, extension = run.results[0]
    pairs = sorted(zip(got_left.tolist(), got_right.tolist(), strict=True))
    want = sorted((100 + i, 500 + j) for i in range(12) for j in range(15)
                  if left_keys[i] == right_keys[j])
    if left_join:
        want = sorted(want + [(100 + i, 0) for i in range(12)])
        assert int(extension.sum()) == 12
    assert pairs == want


def _quotient(runtime, top, bottom, offset, scale):
    result = numeric.integer_quotient(receive_input(runtime, top), receive_input(runtime, bottom),
                                      offset, scale)
    return reveal(result)


def test_integer_quotient_over_the_whole_range() -> None:
    top = np.array([0, 1, -1, 7, 10**6, -(10**12), 2**61 - 1, 123_456_789_012, 5, 3])
    bottom = np.array([1, 3, 3, 2, 7, 999_983, 2**40, 10**6, 0, 10**9])
    got = run_local(_quotient, _share(top), _share(bottom), 0, 0).agreed()
    with np.errstate(divide="ignore"):
        want = np.where(bottom == 0, 0.0, top / np.where(bottom == 0, 1, bottom))
    representable = np.abs(want) < 2**46
    tolerance = 2**-15 + 2**-24 * np.abs(want)
    assert np.all(np.abs(got - want)[representable] <= tolerance[representable])


def test_integer_quotient_scales_decimals_exactly() -> None:
    got = run_local(_quotient, _share([1050, 3]), _share([2, 3]), 0, 2).agreed()
    assert np.allclose(got, [5.25, 0.01], atol=2**-15)


def _root(runtime, values):
    return reveal(numeric.square_root(receive_input(runtime, values)))


def test_square_root_within_the_fixed_point_bound() -> None:
    values = np.array([0.0, 1e-4, 0.5, 2.0, 9.0, 1234.5678, 1e9, 3e13])
    got = run_local(_root, _share(values, "fixed")).agreed()
    encoded = np.round(values * 2**16) / 2**16  # what was shared
    assert np.all(np.abs(got - np.sqrt(encoded)) <= 2**-14 + 1e-7 * np.sqrt(encoded))


def _fixed_to_float(runtime, mantissa, exponent):
    value = numeric.to_fixed_point(
        FixedPointShare(runtime, receive_input(runtime, mantissa).components, 28),
        receive_input(runtime, exponent), 0)
    return reveal(value)


def test_secret_power_of_two_shifts_both_ways() -> None:
    mantissa = np.array([1.5, 1.25, 1.75, 1.0]) * 2**28
    exponent = np.array([-10, 0, 20, 40])
    got = run_local(_fixed_to_float, _share(mantissa.astype(np.int64)), _share(exponent)).agreed()
    want = np.array([1.5, 1.25, 1.75, 1.0]) * 2.0 ** exponent
    assert np.allclose(got, want, rtol=1e-7, atol=2**-15)
