"""Arithmetic on shares: local operations, multiplication, dot and matrix products, sums."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError
from offchain.mpc import FixedPointShare, receive_input
from offchain.mpc.arithmetic import dot, mul
from offchain.mpc.truncation import SPLIT_MIN_ELEMENTS
from offchain.net.local import run_local
from tests.mpc.helpers import as_encoding, dealt, encoded, floor_product

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def wrap(values) -> np.ndarray:
    """Reduce Python ints mod 2**64 into int64 two's complement (what the ring computes)."""
    return np.array(
        [(int(v) + 2**63) % 2**64 - 2**63 for v in np.ravel(values)], dtype=np.int64
    ).reshape(np.shape(values))


def ring_inputs(rng, shape):
    values = rng.integers(INT64_MIN, INT64_MAX, shape, dtype=np.int64, endpoint=True)
    flat = values.reshape(-1)
    extremes = [0, 1, -1, INT64_MIN, INT64_MAX]
    flat[: min(len(extremes), flat.size)] = extremes[: flat.size]
    return values


def _local_ops(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    return [
        (x + y).reveal(),
        (x - y).reveal(),
        (-x).reveal(),
        (x + 7).reveal(),
        (3 - x).reveal(),
        (np.array([1, -2, 3]) + x).reveal(),
        (x * -5).reveal(),
        (x << 3).reveal(),
        x.sum().reveal(),
        x.reshape(3, 1).sum(axis=0).reveal(),
        x[1:].reveal(),
        x.reshape(1, 3).T.reveal(),
    ]


def test_local_operations_match_numpy_mod_2_64(rng):
    a, b = ring_inputs(rng, 3), ring_inputs(rng, 3)
    result = run_local(_local_ops, dealt(a), dealt(b))
    assert all(s.rounds == 12 for s in result.stats)  # only the 12 reveals communicate
    got = result.results[0]
    ao, bo = a.astype(object), b.astype(object)
    expected = [
        wrap(ao + bo),
        wrap(ao - bo),
        wrap(-ao),
        wrap(ao + 7),
        wrap(3 - ao),
        wrap(np.array([1, -2, 3], dtype=object) + ao),
        wrap(ao * -5),
        wrap(ao * 8),
        wrap(np.array(sum(ao))),
        wrap(np.array([sum(ao)])),
        a[1:],
        a.reshape(3, 1),
    ]
    for index, (value, want) in enumerate(zip(got, expected, strict=True)):
        assert np.array_equal(value, want), index
    for other in result.results[1:]:
        assert all(np.array_equal(u, v) for u, v in zip(got, other, strict=True))


def _mul(runtime, px, py):
    return mul(receive_input(runtime, px), receive_input(runtime, py)).reveal()


@pytest.mark.parametrize("shape", [(0,), (), (1,), (1000,), (7, 9), (2, 0, 3)])
def test_mul_is_exact_mod_2_64(shape, rng):
    a, b = ring_inputs(rng, shape), ring_inputs(rng, shape)
    result = run_local(_mul, dealt(a), dealt(b))
    assert np.array_equal(result.agreed(), wrap(a.astype(object) * b.astype(object)))
    for stats in result.stats:
        assert stats.rounds == 2  # multiplication + reveal
        assert stats.bytes_sent == 2 * 8 * int(np.prod(shape))  # one element each, twice


def test_mul_broadcasts_like_numpy(rng):
    a, b = ring_inputs(rng, (4, 1)), ring_inputs(rng, (3,))
    revealed = run_local(_mul, dealt(a), dealt(b)).agreed()
    assert revealed.shape == (4, 3)
    assert np.array_equal(revealed, wrap(a.astype(object) * b.astype(object)))


def _matmul(runtime, px, py):
    return (receive_input(runtime, px) @ receive_input(runtime, py)).reveal()


@pytest.mark.parametrize(
    "shapes", [((5, 7), (7, 3)), ((4,), (4,)), ((6,), (6, 2)), ((3, 8), (8,)), ((0, 4), (4, 2))]
)
def test_matmul_is_exact_and_costs_one_round(shapes, rng):
    a, b = ring_inputs(rng, shapes[0]), ring_inputs(rng, shapes[1])
    result = run_local(_matmul, dealt(a), dealt(b))
    expected = wrap(np.matmul(a.astype(object), b.astype(object)) if a.size and b.size else a @ b)
    assert np.array_equal(result.agreed(), expected)
    output_elements = int(np.prod(np.shape(expected)))
    assert all(s.rounds == 2 and s.bytes_sent == 16 * output_elements for s in result.stats)


def _public_matmul(runtime, px, public):
    x = receive_input(runtime, px)
    return (x @ public).reveal(), (public @ x).reveal()


def test_matmul_with_public_integer_matrices_is_local(rng):
    a = ring_inputs(rng, (4, 3))
    public = rng.integers(-100, 100, (3, 4))
    result = run_local(_public_matmul, dealt(a), public)
    left, right = result.results[0]
    assert np.array_equal(left, wrap(a.astype(object) @ public.astype(object)))
    assert np.array_equal(right, wrap(public.astype(object) @ a.astype(object)))
    assert all(s.rounds == 2 for s in result.stats)


def _dot(runtime, px, py):
    return dot(receive_input(runtime, px), receive_input(runtime, py)).reveal()


def test_dot_sums_products_in_one_round(rng):
    a, b = ring_inputs(rng, (3, 50)), ring_inputs(rng, (3, 50))
    result = run_local(_dot, dealt(a), dealt(b))
    expected = wrap((a.astype(object) * b.astype(object)).sum(axis=-1))
    assert np.array_equal(result.agreed(), expected)
    assert all(s.bytes_sent == 2 * 8 * 3 for s in result.stats)


def _fixed(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    product = x * y
    assert isinstance(product, FixedPointShare)
    return product.reveal(), (x * 3).reveal(), (x * 0.75).reveal(), (x @ y.reshape(-1, 1)).reveal()


def test_fixed_point_products_are_within_one_unit_of_the_exact_truncation(rng):
    n = 2000
    a = rng.uniform(-(2**14), 2**14, n)
    b = rng.uniform(-(2**14), 2**14, n)
    a[:4] = [0.0, -(2**14), 2**14 - 2**-16, 1.0]
    b[:4] = [5.5, 2**14 - 1, -(2**14) + 1, -1.0]
    result = run_local(_fixed, dealt(a, "fixed"), dealt(b, "fixed"))
    product, times_three, times_real, inner = result.results[0]
    error = as_encoding(product) - floor_product(a, b)
    assert set(np.unique(error)) <= {0, 1}
    assert 0 < np.mean(error) < 1  # stochastic rounding: both outcomes occur
    assert np.array_equal(as_encoding(times_three), 3 * as_encoding(a))
    assert np.all(np.abs(as_encoding(times_real) - floor_product(a, np.full(n, 0.75))) <= 1)


def _fixed_dot(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    return dot(x, y).reveal(), (x.reshape(1, -1) @ y.reshape(-1, 1)).reveal()


def test_fixed_point_dot_and_matmul_truncate_once(rng):
    a, b = rng.normal(0, 10, 500), rng.normal(0, 10, 500)
    dotted, matrix = run_local(_fixed_dot, dealt(a, "fixed"), dealt(b, "fixed")).results[0]
    exact = floor_product(a, b)
    encoded_sum = sum(
        int(v) for v in (np.rint(a * 2**16).astype(object) * np.rint(b * 2**16).astype(object))
    )
    assert as_encoding(dotted) - (encoded_sum >> 16) in (0, 1)
    assert as_encoding(matrix).reshape(()) - (encoded_sum >> 16) in (0, 1)
    assert exact.shape == (500,)


def _mixed(runtime, px, py):
    x, flags = receive_input(runtime, px), receive_input(runtime, py)
    return (x * flags).reveal(), (x + flags).reveal()


def test_fixed_point_times_integer_share_needs_no_truncation(rng):
    a = rng.normal(0, 100, 20)
    flags = rng.integers(0, 2, 20)
    product, total = run_local(_mixed, dealt(a, "fixed"), dealt(flags)).results[0]
    assert np.array_equal(as_encoding(product), as_encoding(a) * flags)
    assert np.array_equal(as_encoding(total), as_encoding(a) + flags * 2**16)


def _integer_times_real(runtime, px):
    return receive_input(runtime, px) * 0.5


def test_integer_shares_refuse_real_factors_with_a_fix():
    with pytest.raises(InputError, match="share the data as fixed point"):
        run_local(_integer_times_real, dealt(np.arange(3)))


def _by_name(runtime, px, py):
    from offchain.mpc.registry import protocol

    x, y = receive_input(runtime, px), receive_input(runtime, py)
    return protocol("mul")(x, y).reveal(), protocol("less_than")(x, y).reveal()


def test_registry_dispatches_by_name_and_refuses_unknown_names():
    from offchain.mpc.registry import protocol

    product, less = run_local(_by_name, dealt(np.array([3, -4])), dealt(np.array([5, 7]))).agreed()
    assert np.array_equal(product, [15, -28]) and np.array_equal(less, [1, 1])
    with pytest.raises(InputError, match="unknown MPC protocol 'cube'.*less_than"):
        protocol("cube")


def _truncation_variants(runtime, px, py):
    from offchain.mpc.arithmetic import raw_product_terms
    from offchain.mpc.truncation import truncate_many, truncate_sum

    x, y = receive_input(runtime, px), receive_input(runtime, py)
    term = raw_product_terms(x, y)
    other = raw_product_terms(y, x)  # the same value, but a different array: opened again
    start = runtime.stats()
    shared = truncate_many(runtime, [(term, 16), (term, 20)])
    middle = runtime.stats()
    separate = truncate_many(runtime, [(term, 16), (other, 20)])
    end = runtime.stats()
    summed = truncate_sum(runtime, [(term, 16), (other, 20)])
    last = runtime.stats()
    reveal = [FixedPointShare(runtime, c, 16).reveal() for c in [*shared, *separate, summed]]
    costs = [(middle - start).bytes_sent, (end - middle).bytes_sent, (last - end).bytes_sent]
    return reveal, costs


def test_shared_openings_and_summed_truncations_cost_less_and_stay_exact(rng):
    n = 1000
    a, b = rng.normal(0, 30, n), rng.normal(0, 30, n)
    results = run_local(_truncation_variants, dealt(a, "fixed"), dealt(b, "fixed")).results
    (shared16, shared20, separate16, separate20, summed), _ = results[0]
    products = encoded(a) * encoded(b)
    by16 = np.vectorize(lambda p: p >> 16, otypes=[object])(products).astype(np.int64)
    by20 = np.vectorize(lambda p: p >> 20, otypes=[object])(products).astype(np.int64)
    for got, want in ((shared16, by16), (separate16, by16)):
        assert set(np.unique(as_encoding(got) - want)) <= {0, 1}
    for got, want in ((shared20, by20), (separate20, by20)):
        assert set(np.unique(as_encoding(got) - want)) <= {0, 1}
    assert set(np.unique(as_encoding(summed) - by16 - by20)) <= {0, 1, 2}
    # totals over the three parties (the helper role rotates from one call to the next)
    shared, separate, summed_cost = np.sum([costs for _, costs in results], axis=0)
    assert shared == separate - n * 32  # the second shift reuses the opened value
    assert summed_cost == separate - n * 16  # one array exchanged for the sum


def _product_cost(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    before = runtime.stats()
    _ = x * y
    return runtime.stats() - before


def test_fixed_point_product_spreads_the_helper_role_over_the_parties(rng):
    n = 3 * SPLIT_MIN_ELEMENTS  # thirds: each party is helper for one, opener for two
    a, b = rng.normal(0, 10, n), rng.normal(0, 10, n)
    costs = run_local(_product_cost, dealt(a, "fixed"), dealt(b, "fixed")).results
    # helper: 16 (its term to both openers) + 8 (t_B) + 2 (m_B, uint16); openers: 8 + 8
    third = n // 3
    per_party = third * (16 + 8 + 2) + 2 * third * 16
    assert all(c.rounds == 2 and c.bytes_sent == per_party for c in costs)


def _three_product_costs(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    costs = []
    for _ in range(3):
        before = runtime.stats()
        _ = x * y
        costs.append((runtime.stats() - before).bytes_sent)
    return costs


def test_small_products_rotate_the_helper_role_from_call_to_call(rng):
    n = 1000  # below SPLIT_MIN_ELEMENTS: one helper per call, the next party at the next call
    a, b = rng.normal(0, 10, n), rng.normal(0, 10, n)
    costs = np.array(run_local(_three_product_costs, dealt(a, "fixed"), dealt(b, "fixed")).results)
    helper, opener = n * (16 + 8 + 2), n * 16
    # every call has one helper and two openers, and over three calls each party is helper once
    assert sorted(costs[:, 0]) == [opener, opener, helper]
    assert all(sorted(costs[:, call]) == [opener, opener, helper] for call in range(3))
    assert all(sorted(costs[party]) == [opener, opener, helper] for party in range(3))
