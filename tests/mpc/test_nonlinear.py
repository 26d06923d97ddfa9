"""Division, reciprocal, exp, sigmoid, sqrt and log: round trips within their stated error bounds."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError
from offchain.mpc import EngineConfig, receive_input
from offchain.mpc.division import divide, reciprocal
from offchain.mpc.exponential import exp
from offchain.mpc.logarithm import index_of_one_hot, log
from offchain.mpc.roots import pack_even_bits, sqrt
from offchain.mpc.sigmoid import sigmoid
from offchain.net.local import run_local
from tests.mpc.helpers import dealt

F = 16
ULP = 2.0**-F


def encoded_value(values):
    """The reals the engine actually holds: values rounded to f fractional bits."""
    return np.rint(np.asarray(values, dtype=np.float64) * 2**F) / 2**F


def _apply(runtime, operation, *payloads):
    shares = [receive_input(runtime, p) if not isinstance(p, float) else p for p in payloads]
    return operation(*shares).reveal()


def divisor_and_dividend(rng, n):
    """Divisors across the whole range (tiny to 2**44, both signs) and dividends with |x/y| in range."""
    y = rng.choice([-1.0, 1.0], n) * np.exp(rng.uniform(np.log(2**-14), np.log(2**44), n))
    x = rng.uniform(-1, 1, n) * np.minimum(2**28, np.abs(y) * 2**20)
    y[:8] = [1.0, -1.0, 3 * ULP, 0.5, 1000.0, 2.0**44, -7.0, 65536.0]
    x[:8] = [1.0, 1.0, 1.0, 3.0, 123456.0, 5.0, 0.0, -(2.0**28)]
    return x, y


DIVISION_UNITS = 5  # the documented bound: |x/y| 2**-23 plus 5 units in the last place


def test_division_is_within_its_bound_over_the_whole_range(rng, adder):
    x, y = divisor_and_dividend(rng, 3000)
    got = run_local(_apply, divide, dealt(x, "fixed"), dealt(y, "fixed")).agreed()
    want = encoded_value(x) / encoded_value(y)
    bound = np.abs(want) * 2.0**-23 + DIVISION_UNITS * ULP
    assert np.all(np.abs(got - want) <= bound), np.max(np.abs(got - want) / bound)


def _division_cost(runtime, px, py):
    x, y = receive_input(runtime, px), receive_input(runtime, py)
    before = runtime.stats()
    x / y
    return runtime.stats() - before


def test_division_rounds_and_bytes(rng, adder):
    # normalisation 14 or 23 rounds, table injection 2, two products 2, six truncations 12,
    # one selection 1; bytes per element, all parties together (the truncation's roles
    # rotate per call below 12,288 elements): 1340 with Kogge–Stone, 1076 with the scans
    n = 600
    x, y = divisor_and_dividend(rng, n)
    costs = run_local(_division_cost, dealt(x, "fixed"), dealt(y, "fixed")).results
    few_rounds = adder == "few rounds"
    assert all(cost.rounds == (31 if few_rounds else 40) for cost in costs)
    assert sum(cost.bytes_sent for cost in costs) == n * (1340 if few_rounds else 1076)


def test_reciprocal_and_public_dividends(rng):
    _, y = divisor_and_dividend(rng, 1000)
    got = run_local(_apply, reciprocal, dealt(y, "fixed")).agreed()
    want = 1 / encoded_value(y)
    assert np.all(np.abs(got - want) <= np.abs(want) * 2.0**-23 + DIVISION_UNITS * ULP)
    half = run_local(_apply, lambda d: 0.5 / d, dealt(y, "fixed")).agreed()
    assert np.all(np.abs(half - 0.5 * want) <= np.abs(want) * 2.0**-23 + DIVISION_UNITS * ULP)


def test_division_by_zero_returns_zero_and_shapes_are_kept(adder):
    x = np.array([[1.5, -2.0], [0.0, 7.0]])
    y = np.array([[0.0, 4.0], [0.25, -0.5]])
    got = run_local(_apply, divide, dealt(x, "fixed"), dealt(y, "fixed")).agreed()
    assert got.shape == (2, 2)
    assert np.allclose(got, [[0.0, -0.5], [0.0, -14.0]], atol=DIVISION_UNITS * ULP)
    assert got[0, 0] == 0.0 and got[1, 0] == 0.0  # exactly, not approximately
    # -2**-f is the one non-zero divisor whose magnitude minus one is 0: documented to give 0
    quirk = run_local(_apply, divide, dealt([3.0], "fixed"), dealt([-ULP], "fixed")).agreed()
    assert quirk[0] == 0.0


@pytest.mark.parametrize("bits", [20, 28])
def test_division_bound_holds_for_other_fractional_bits(bits):
    generator = np.random.default_rng(bits)
    n = 2000
    y = generator.choice([-1.0, 1.0], n) * np.exp(
        generator.uniform(np.log(2.0 ** -(bits - 2)), np.log(2.0 ** (60 - bits)), n)
    )
    x = generator.uniform(-1, 1, n) * np.minimum(
        2.0 ** (60 - 2 * bits), np.abs(y) * 2.0 ** (61 - 2 * bits)
    )
    config = EngineConfig(fractional_bits=bits)
    got = run_local(
        _apply, divide, dealt(x, "fixed", bits), dealt(y, "fixed", bits), config=config
    ).agreed()
    held_x, held_y = (np.rint(v * 2.0**bits) / 2.0**bits for v in (x, y))
    want = held_x / held_y
    assert np.all(np.abs(got - want) <= np.abs(want) * 2.0**-23 + DIVISION_UNITS * 2.0**-bits)


def test_division_operator_and_integer_dividends():
    got = run_local(
        _apply,
        lambda a, b: a / b,
        dealt(np.array([10, -9, 7]), "integer"),
        dealt(np.array([4.0, 3.0, 0.5]), "fixed"),
    )
    assert np.allclose(got.agreed(), [2.5, -3.0, 14.0], atol=DIVISION_UNITS * ULP)


def test_sigmoid_max_error_over_the_whole_range(rng, adder):
    x = np.concatenate(
        [
            rng.uniform(-20, 20, 4000),
            np.linspace(-17, 17, 1001),
            rng.choice([-1, 1], 1000) * np.exp(rng.uniform(np.log(16), np.log(2.0**45), 1000)),
            [0, 2, -2, 4, -4, 8, -8, 16, -16, 1e6, -1e6, 2.0**40],
        ]
    )
    got = run_local(_apply, sigmoid, dealt(x, "fixed")).agreed()
    reference = 1 / (1 + np.exp(-np.clip(encoded_value(x), -700, 700)))
    assert np.max(np.abs(got - reference)) <= 3e-5
    assert np.all((got >= -3e-5) & (got <= 1 + 3e-5))  # within the error bound of [0, 1]


def test_exp_relative_error_underflow_and_saturation(rng, adder):
    x = np.concatenate(
        [rng.uniform(-25, 20, 3000), [0, 1, -1, 20, 20.2, 25, -11, -22.5, -40, 1e6, -1e6]]
    )
    got = run_local(_apply, exp, dealt(x, "fixed")).agreed()
    top = 2.0 ** (61 - 2 * F)
    reference = np.minimum(np.exp(np.minimum(encoded_value(x), 50)), top)
    reference[encoded_value(x) >= (61 - 2 * F) * np.log(2)] = top
    assert np.all(np.abs(got - reference) <= reference * 2.0**-14 + 2 * ULP)


def test_sqrt_relative_error_and_zero(rng, adder):
    x = np.concatenate(
        [
            np.exp(rng.uniform(np.log(ULP), np.log(2**44.9), 3000)),
            [0, ULP, 1, 2, 4, 0.25, 1e6, 2**44.99],
        ]
    )
    got = run_local(_apply, sqrt, dealt(x, "fixed")).agreed()
    reference = np.sqrt(encoded_value(x))
    assert np.all(np.abs(got - reference) <= reference * 2.0**-17 + ULP)
    assert got[-8] == 0


def test_log_absolute_error(rng, adder):
    x = np.concatenate(
        [
            np.exp(rng.uniform(np.log(ULP), np.log(2**44.9), 3000)),
            [ULP, 1, 2, 0.5, np.e, 1e6, 2**44.99],
        ]
    )
    got = run_local(_apply, log, dealt(x, "fixed")).agreed()
    assert np.max(np.abs(got - np.log(encoded_value(x)))) <= 2 * ULP


def _two_d(runtime, payload):
    x = receive_input(runtime, payload)
    return sigmoid(x).reveal(), sqrt(x).reveal(), log(x).reveal(), exp(x).reveal()


def test_nonlinear_functions_keep_shapes_including_empty():
    for values in (np.full((2, 3), 1.5), np.zeros((0, 4)) + 1):
        for got in run_local(_two_d, dealt(values, "fixed")).results[0]:
            assert got.shape == values.shape


def _integer_sigmoid(runtime, payload):
    return sigmoid(receive_input(runtime, payload))


def test_nonlinear_functions_refuse_integer_shares():
    with pytest.raises(InputError, match="fixed-point share"):
        run_local(_integer_sigmoid, dealt(np.arange(3)))


def test_bit_helpers_are_correct():
    words = np.array([1 << k for k in range(64)] + [0], dtype=np.uint64)
    assert np.array_equal(index_of_one_hot(words), [*range(64), 0])
    evens = np.array([1 << (2 * i) for i in range(32)], dtype=np.uint64)
    assert np.array_equal(pack_even_bits(evens), [1 << i for i in range(32)])


def _mean_of_positive(runtime, payload):
    x = receive_input(runtime, payload)
    positive = x > 0
    return ((x * positive).sum() / positive.sum()).reveal()


def test_documented_example_mean_of_positive_values(rng):
    values = rng.normal(3, 10, 500)
    got = run_local(_mean_of_positive, dealt(values, "fixed")).agreed()
    encoded = encoded_value(values)
    assert abs(got - encoded[encoded > 0].mean()) <= 8 * ULP
