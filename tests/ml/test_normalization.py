"""Reciprocal and inverse square root on shares, against numpy, over their whole contracts."""

from __future__ import annotations

import numpy as np

from offchain.ml.normalization import divide_fraction, inverse_sqrt, lookup, msb_one_hot
from offchain.mpc import receive_input
from tests.ml.helpers import dealt, run


def _one_hot(runtime, values):
    share = receive_input(runtime, values)
    bits = msb_one_hot(share, 64)
    return bits.reveal(), lookup(bits, np.arange(64)).reveal()


def test_msb_one_hot_marks_the_top_bit_and_nothing_for_zero() -> None:
    values = np.array([0, 1, 2, 3, 1000, 2**40 + 5, 2**62], dtype=np.int64)
    bits, position = run(_one_hot, dealt(values, "integer"))
    assert bits.sum(axis=0).tolist() == [0, 1, 1, 1, 1, 1, 1]
    assert position.tolist() == [0, 0, 1, 1, 9, 40, 62]


def _divide(runtime, numerators, denominators):
    return divide_fraction(receive_input(runtime, numerators), receive_input(runtime, denominators), 20).reveal()


def test_fraction_of_integers_up_to_two_to_the_forty() -> None:
    rng = np.random.default_rng(4)
    denominators = np.concatenate([[0, 1, 2, 3, 7, 2**39 + 11], rng.integers(1, 2**40, 60)])
    numerators = (denominators * rng.random(len(denominators))).astype(np.int64)
    numerators[:3] = [0, 1, 1]
    numerators[-1] = denominators[-1]
    got = run(_divide, dealt(numerators, "integer"), dealt(denominators, "integer"))
    expected = np.divide(numerators, denominators, out=np.zeros(len(numerators)), where=denominators > 0)
    assert np.abs(got - expected).max() <= 4 * 2.0**-20
    assert got[0] == 0.0  # 0 / 0 is 0


def _inverse_sqrt(runtime, raw):
    return inverse_sqrt(receive_input(runtime, raw), 32, 22).reveal()


def test_inverse_square_root_of_variances_with_32_fractional_bits() -> None:
    rng = np.random.default_rng(5)
    variances = np.concatenate(
        [[0.0, 2.0**-32, 2.0**-18, 1.0, 2.0, 3.3, 2.0**26 - 1], 10 ** rng.uniform(-5, 7.8, 200)]
    )
    raw = np.rint(variances * 2**32).astype(np.int64)
    got = run(_inverse_sqrt, dealt(raw, "integer"))
    exact = np.divide(1.0, np.sqrt(raw / 2**32), out=np.zeros(len(raw)), where=raw > 0)
    # relative error of Newton (5e-8) plus 2 units of the 22-bit output
    assert np.all(np.abs(got - exact) <= 1e-6 * exact + 2 * 2.0**-22)
    assert got[0] == 0.0
