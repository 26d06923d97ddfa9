"""Fused kernels: scaled truncation, batched comparisons and piecewise-linear evaluation on shares."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError
from offchain.ml.approximations import SIGMOIDS, SOFTPLUS
from offchain.ml.kernels import (
    evaluate_piecewise,
    matrix_vector_term,
    rescale,
    sign_bits,
    truncate_scaled,
    vector_matrix_term,
)
from offchain.mpc import receive_input
from tests.ml.helpers import dealt, run

UNIT = 2.0**-16


def _scaled_matrix_vector(runtime, matrix, vector, multipliers, shift):
    x, v = receive_input(runtime, matrix), receive_input(runtime, vector)
    return truncate_scaled(runtime, matrix_vector_term(x, v), multipliers, shift, 16).reveal()


def test_one_truncation_gives_every_scaled_copy_of_a_matrix_vector_product() -> None:
    rng = np.random.default_rng(1)
    x, v = rng.normal(size=(40, 7)), rng.normal(size=7)
    multipliers = [1, 1024, 256, -300]
    got = run(_scaled_matrix_vector, dealt(x), dealt(v), multipliers, 26)
    exact = x @ v
    for row, m in zip(got, multipliers, strict=True):
        # products are exact; one stochastic rounding of 2**-16 after scaling by m / 2**10
        assert np.abs(row - exact * m / 1024).max() <= (abs(m) / 1024 + 1) * 2 * UNIT


def _gradient(runtime, matrix, error):
    x, e = receive_input(runtime, matrix), receive_input(runtime, error)
    return truncate_scaled(runtime, vector_matrix_term(e, x), [1], 16, 16).reveal()[0]


def test_vector_matrix_term_is_the_transposed_product() -> None:
    rng = np.random.default_rng(2)
    x, e = rng.normal(size=(64, 5)), rng.normal(size=64)
    assert np.abs(run(_gradient, dealt(x), dealt(e)) - e @ x).max() <= 64 * UNIT


def _rescaled(runtime, values, multipliers, shift):
    return rescale(receive_input(runtime, values), multipliers, shift).reveal()


def test_rescale_multiplies_a_replicated_share_by_dyadic_constants() -> None:
    values = np.array([-3.5, 0.0, 1.25, 1000.0])
    got = run(_rescaled, dealt(values), [3, -7], 2)
    assert np.abs(got - np.outer([0.75, -1.75], values)).max() <= 2 * UNIT


def _signs(runtime, values):
    return sign_bits(receive_input(runtime, values)).reveal()


def test_sign_bits_are_arithmetic_zero_one() -> None:
    values = np.array([[-2.0, -UNIT, 0.0], [UNIT, 7.5, -1e6]])
    assert run(_signs, dealt(values)).tolist() == [[1, 1, 0], [0, 0, 1]]


def _piecewise(runtime, values, name, fused, thresholds):
    z = receive_input(runtime, values)
    function = SOFTPLUS if name == "softplus" else SIGMOIDS[name]
    scaled = None
    if fused:
        scaled = rescale(z, function.scaled_coefficients().tolist(), function.coefficient_bits)
    value, bits = evaluate_piecewise(function, z, scaled, thresholds)
    return value.reveal(), None if bits is None else bits.reveal()


CASES = [(name, fused) for name in ("taylor1", "segments3", "segments5", "segments9") for fused in (False, True)]


@pytest.mark.parametrize(("name", "fused"), [*CASES, ("softplus", False)])
def test_piecewise_functions_on_shares_match_their_plaintext_definition(name: str, fused: bool) -> None:
    function = SOFTPLUS if name == "softplus" else SIGMOIDS[name]
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.normal(0, 4, 500), np.array(function.knots), [0.0, -60.0, 60.0]])
    value, bits = run(_piecewise, dealt(z), name, fused, (0.0, 2.5))
    z_encoded = np.round(z * 2**16) / 2**16
    # exact products, one stochastic rounding per truncation
    assert np.abs(value - function(z_encoded)).max() <= 4 * UNIT
    assert np.array_equal(bits, np.stack([z_encoded > 0.0, z_encoded > 2.5]).astype(np.int64))


def test_fused_evaluation_refuses_constants_the_session_cannot_hold() -> None:
    with pytest.raises(InputError, match="22 fractional bits"):
        run(_piecewise, dealt(np.zeros(3)), "softplus", True, ())
