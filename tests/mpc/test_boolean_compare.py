"""Boolean sharings, conversions and comparisons: round trips against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError
from offchain.mpc import compare, receive_input
from offchain.mpc.converters import bits_to_arithmetic, inject_tables
from offchain.mpc.shares import ArithmeticShare
from offchain.net.local import run_local
from tests.mpc.helpers import dealt

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def words(rng, shape):
    return rng.integers(0, 2**64 - 1, shape, dtype=np.uint64, endpoint=True)


def _boolean_ops(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    return [
        (x ^ y).reveal(),
        (x & y).reveal(),
        (x | y).reveal(),
        (~x).reveal(),
        (x & np.uint64(0xFF00)).reveal(),
        (x | np.uint64(5)).reveal(),
        (x ^ np.uint64(7)).reveal(),
        (x << 3).reveal(),
        (x >> 60).reveal(),
        x.bit(63).reveal(),
    ]


@pytest.mark.parametrize("shape", [(0,), (), (257,), (3, 5)])
def test_boolean_operations_match_numpy(shape, rng):
    a, b = words(rng, shape), words(rng, shape)
    got = run_local(_boolean_ops, dealt(a, "boolean"), dealt(b, "boolean")).results[0]
    three, sixty, one = np.uint64(3), np.uint64(60), np.uint64(1)
    expected = [
        a ^ b,
        a & b,
        a | b,
        ~a,
        a & np.uint64(0xFF00),
        a | np.uint64(5),
        a ^ np.uint64(7),
        a << three,
        a >> sixty,
        (a >> np.uint64(63)) & one,
    ]
    for index, (value, want) in enumerate(zip(got, expected, strict=True)):
        assert value.shape == np.shape(want) and np.array_equal(value, want), index


def _and_costs(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    before = runtime.stats()
    x & y
    return runtime.stats() - before


def test_and_costs_one_round_and_one_word_per_party(rng):
    a, b = words(rng, 100), words(rng, 100)
    for spent in run_local(_and_costs, dealt(a, "boolean"), dealt(b, "boolean")).results:
        assert spent.rounds == 1 and spent.bytes_sent == 800


def _conversions(runtime, px):
    x = receive_input(runtime, px)
    as_bits = x.to_boolean()
    return as_bits.reveal(), as_bits.to_arithmetic().reveal()


@pytest.mark.parametrize("shape", [(0,), (), (500,), (4, 6)])
def test_a2b_and_b2a_round_trip(shape, rng, adder):
    a = rng.integers(INT64_MIN, INT64_MAX, shape, dtype=np.int64, endpoint=True)
    if a.size:
        a.reshape(-1)[:3] = [INT64_MIN, -1, 0][: a.size]
    as_words, back = run_local(_conversions, dealt(a)).results[1]
    assert np.array_equal(as_words, a.astype(np.uint64))
    assert np.array_equal(back, a)


def _inject(runtime, px):
    return bits_to_arithmetic(receive_input(runtime, px)).reveal()


def test_bit_injection_turns_shared_bits_into_arithmetic_zero_one(rng):
    bits = rng.integers(0, 2, (7, 9), dtype=np.uint64)
    assert np.array_equal(
        run_local(_inject, dealt(bits, "boolean")).agreed(), bits.astype(np.int64)
    )


def _tables(runtime, px, sizes, tables):
    words = receive_input(runtime, px).components
    groups, start = [], 0
    for size, group_tables in zip(sizes, tables, strict=True):
        groups.append(([words[..., i] for i in range(start, start + size)], group_tables))
        start += size
    before = runtime.stats()
    shared = inject_tables(runtime, groups)
    spent = runtime.stats() - before
    revealed = [[ArithmeticShare(runtime, c).reveal() for c in group] for group in shared]
    return revealed, spent.rounds, spent.bytes_sent


@pytest.mark.parametrize("n", [1, 2, 3, 50, 40000])
def test_table_injection_evaluates_public_tables_of_shared_bits(rng, n):
    sizes = [3, 1, 2, 3]
    bits = rng.integers(0, 2, (n, sum(sizes)), dtype=np.uint64)
    bits |= rng.integers(0, 2**63, bits.shape, dtype=np.uint64) << np.uint64(1)  # only bit 0 counts
    tables = [  # group g has g + 1 tables of 2**size signed 64-bit entries
        [
            [int(v) for v in rng.integers(INT64_MIN, INT64_MAX, 1 << size, dtype=np.int64)]
            for _ in range(1 + group)
        ]
        for group, size in enumerate(sizes[:3])
    ]
    tables[2].append([5, 5, 5, 5])  # a constant: no monomial of its own
    tables.append([[i & 3 for i in range(8)]])  # a group whose monomials leave out its top bit
    results = run_local(_tables, dealt(bits, "boolean"), sizes, tables).results
    revealed, rounds, _ = results[0]
    assert rounds == 2
    start = 0
    for size, group_tables, group in zip(sizes, tables, revealed, strict=True):
        index = sum((bits[:, start + i] & 1).astype(np.int64) << i for i in range(size))
        start += size
        for table, got in zip(group_tables, group, strict=True):
            assert np.array_equal(got, np.array(table, dtype=np.int64)[index])
    # per element: the masked monomials (7 + 1 + 3, all that random tables use, and 2 for
    # b & 3) and two components per table (8 tables), one word each; split in thirds, every
    # party sends about the same
    sent = [bytes_sent for _, _, bytes_sent in results]
    assert sum(sent) == 8 * n * (13 + 2 * 8)
    if n >= 3:
        assert max(sent) - min(sent) <= 8 * 2 * (13 + 2 * 8)


def test_table_injection_refuses_wrong_table_sizes(rng):
    bits = rng.integers(0, 2, (4, 2), dtype=np.uint64)
    with pytest.raises(InputError, match="entries"):
        run_local(_tables, dealt(bits, "boolean"), [2], [[[1, 2, 3]]])


def comparison_inputs(rng, n):
    """Random values with |x - y| < 2**63, ties, zeros and the extremes of that range."""
    a = rng.integers(-(2**62), 2**62, n, dtype=np.int64)
    b = rng.integers(-(2**62), 2**62, n, dtype=np.int64)
    b[: n // 4] = a[: n // 4]  # ties
    edges_a = [0, 0, -1, 1, 2**62 - 1, -(2**62), 5, INT64_MAX, INT64_MIN, -7]
    edges_b = [0, -1, 0, 0, -(2**62), 2**62 - 1, 5, INT64_MAX - 1, INT64_MIN + 1, -7]
    a[: len(edges_a)], b[: len(edges_b)] = edges_a, edges_b
    return a, b


def _comparisons(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    return [
        (x < y).reveal(),
        (x > y).reveal(),
        (x <= y).reveal(),
        (x >= y).reveal(),
        x.equals(y).reveal(),
        (x < 3).reveal(),
        (7 > x).reveal(),
        compare.less_than_bits(x, y).reveal(),
        compare.equal_bits(x, y).reveal(),
    ]


def test_comparisons_match_numpy(rng):
    a, b = comparison_inputs(rng, 3000)
    got = run_local(_comparisons, dealt(a), dealt(b)).results[2]
    expected = [a < b, a > b, a <= b, a >= b, a == b, a < 3, a < 7, a < b, a == b]
    # x - 3 and x - 7 leave the range |x - c| < 2**63 at the int64 minimum: excluded there
    in_range = a > INT64_MIN + 8
    for index, (value, want) in enumerate(zip(got, expected, strict=True)):
        checked = in_range if index in (5, 6) else slice(None)
        assert np.array_equal(value[checked], want[checked].astype(value.dtype)), index
    assert got[0].dtype == np.int64 and got[7].dtype == np.uint8


def _shaped(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    return (x < y).reveal(), x.equals(y).reveal()


@pytest.mark.parametrize("shape", [(0,), (), (2, 0), (3, 4), (1,), (7,), (9,), (3, 17)])
def test_comparisons_keep_shapes(shape, rng):
    a = rng.integers(-5, 5, shape)
    b = rng.integers(-5, 5, shape)
    less, same = run_local(_shaped, dealt(a), dealt(b)).results[0]
    assert less.shape == np.shape(a) and np.array_equal(less, a < b)
    assert np.array_equal(same, a == b)


def _comparison_costs(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    first = runtime.stats()
    _ = x < y
    second = runtime.stats()
    _ = x.equals(y)
    return second - first, runtime.stats() - second


def test_comparison_round_counts(rng):
    a, b = comparison_inputs(rng, 64)
    for less, equal in run_local(_comparison_costs, dealt(a), dealt(b)).results:
        assert less.rounds == 10 and equal.rounds == 9


def test_tree_levels_below_a_byte_pack_several_elements_per_byte(rng):
    a, b = comparison_inputs(rng, 800)
    for party, (less, equal) in enumerate(run_local(_comparison_costs, dealt(a), dealt(b)).results):
        # less-than: 8 (input or generate) + 8 + 4 + 2 + 1 + 1/2 + 1/8 for the tree, 8 to inject
        assert less.bytes_sent == 800 * (8 + 8 + 4 + 2 + 1 + 0.5 + 0.125 + 8)
        # equality: each party shares the words of its third (8), the AND tree
        # 4 + 2 + 1 + 1/2 + 1/4 + 1/8, 8 to inject
        third = [266, 267, 267][party]
        assert equal.bytes_sent == 8 * third + 800 * (7.875 + 8)


def _derived(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    flags = x < y
    return [
        compare.select(flags, x, y).reveal(),
        compare.select(flags, 100, y).reveal(),
        compare.minimum(x, y).reveal(),
        compare.maximum(x, y).reveal(),
        compare.relu(x).reveal(),
        compare.absolute(x).reveal(),
        compare.sign(x).reveal(),
        compare.maximum(x, -5).reveal(),
    ]


def test_select_min_max_relu_abs_sign(rng):
    a = rng.integers(-(2**40), 2**40, 400)
    b = rng.integers(-(2**40), 2**40, 400)
    a[:3], b[:3] = [0, -1, 4], [0, 3, -4]
    got = run_local(_derived, dealt(a), dealt(b)).results[0]
    expected = [
        np.where(a < b, a, b),
        np.where(a < b, 100, b),
        np.minimum(a, b),
        np.maximum(a, b),
        np.maximum(a, 0),
        np.abs(a),
        np.sign(a),
        np.maximum(a, -5),
    ]
    for index, (value, want) in enumerate(zip(got, expected, strict=True)):
        assert np.array_equal(value, want), index


def _fixed_compare(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    return (
        (x < y).reveal(),
        (x < 0.5).reveal(),
        compare.relu(x).reveal(),
        compare.maximum(x, y).reveal(),
    )


def test_fixed_point_comparisons_and_relu(rng):
    a, b = rng.normal(0, 5, 300), rng.normal(0, 5, 300)
    a[:2] = [0.5, -0.0]
    less, below_half, relu, biggest = run_local(
        _fixed_compare, dealt(a, "fixed"), dealt(b, "fixed")
    ).results[0]
    encoded_a, encoded_b = np.rint(a * 2**16), np.rint(b * 2**16)
    assert np.array_equal(less, encoded_a < encoded_b)
    assert np.array_equal(below_half, encoded_a < 2**15)
    assert np.array_equal(relu, np.maximum(encoded_a, 0) / 2**16)
    assert np.array_equal(biggest, np.maximum(encoded_a, encoded_b) / 2**16)


def _select_needs_integer_condition(runtime, px):
    x = receive_input(runtime, px)
    return compare.select(x, x, x)


def test_select_refuses_a_fixed_point_condition():
    with pytest.raises(InputError, match="integer 0/1 sharing"):
        run_local(_select_needs_integer_condition, dealt(np.array([1.0]), "fixed"))


def _a2b_costs(runtime, px):
    x = receive_input(runtime, px)
    before = runtime.stats()
    x.to_boolean()
    return runtime.stats() - before


def test_a2b_trades_rounds_for_bytes_by_size(rng, adder):
    n = 800
    costs = run_local(_a2b_costs, dealt(rng.integers(-(2**40), 2**40, n))).results
    if adder == "few rounds":  # Kogge–Stone: party 0's share or the generate, then 11 words
        assert all(c.rounds == 8 and c.bytes_sent == n * 96 for c in costs)
    else:  # Brent–Kung scans: the same 8 bytes, then 8 + 4 + 2 + 2 + 1 up and 1 + 1 + 1 + 2 + 4 down
        assert all(c.rounds == 12 and c.bytes_sent == n * 34 for c in costs)
