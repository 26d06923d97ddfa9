"""The piecewise-linear sigmoids and softplus: stated errors, exact constants, shape."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError
from offchain.ml.approximations import (
    SIGMOID_MAX_ERROR,
    SIGMOIDS,
    SOFTPLUS,
    SOFTPLUS_MAX_ERROR,
    TAYLOR1,
    PiecewiseLinear,
    sigmoid,
)
from offchain.ml.reference import sigmoid as exact_sigmoid

GRID = np.linspace(-40.0, 40.0, 800_001)  # step 1e-4


@pytest.mark.parametrize("name", sorted(SIGMOID_MAX_ERROR))
def test_segmented_sigmoids_stay_within_their_stated_error(name: str) -> None:
    function = SIGMOIDS[name]
    error = np.abs(function(GRID) - exact_sigmoid(GRID))
    assert error.max() <= SIGMOID_MAX_ERROR[name]
    # the bound is tight: within 5 % of the measured maximum
    assert error.max() > 0.95 * SIGMOID_MAX_ERROR[name]


@pytest.mark.parametrize("name", sorted(SIGMOID_MAX_ERROR))
def test_segmented_sigmoids_are_symmetric_monotone_and_clamped(name: str) -> None:
    function = SIGMOIDS[name]
    values = function(GRID)
    assert np.allclose(function(-GRID), 1.0 - values, atol=1e-12)
    assert np.all(np.diff(values) >= -1e-12)  # float rounding of the relu sums only
    assert values.min() >= 0.0 and values.max() <= 1.0
    assert function.bounded
    # constant beyond the outer knots, so the error there only shrinks
    outer = max(function.knots)
    assert function(np.array([outer, outer + 1e6]))[0] == function(np.array([outer + 1e6]))[0]


def test_taylor_sigmoid_is_unbounded_with_the_documented_error_near_zero() -> None:
    assert not TAYLOR1.bounded
    for radius, bound in ((0.5, 0.0026), (1.0, 0.019)):
        z = np.linspace(-radius, radius, 10_001)
        assert np.abs(TAYLOR1(z) - exact_sigmoid(z)).max() < bound


def test_softplus_stays_within_its_stated_error_everywhere() -> None:
    wide = np.concatenate([GRID, np.linspace(-1e4, 1e4, 20_001)])
    error = np.abs(SOFTPLUS(wide) - np.logaddexp(0.0, wide))
    assert error.max() <= SOFTPLUS_MAX_ERROR
    assert sum(SOFTPLUS.coefficients) == 1.0  # slope exactly 1 on the right


@pytest.mark.parametrize("function", [*SIGMOIDS.values(), SOFTPLUS], ids=lambda f: f.name)
def test_constants_are_exact_in_sixteen_fractional_bits(function: PiecewiseLinear) -> None:
    for value in (*function.knots, *function.coefficients, function.slope, function.intercept):
        assert value * 2**22 == round(value * 2**22)
    scaled = function.scaled_coefficients()
    assert np.array_equal(scaled / 2.0**function.coefficient_bits, np.array((function.slope, *function.coefficients)))


def test_malformed_functions_and_unknown_names_are_refused() -> None:
    with pytest.raises(InputError, match="strictly increase"):
        PiecewiseLinear("bad", 0.5, 0.0, (1.0, 0.5), (0.25, -0.25), 10)
    with pytest.raises(InputError, match="not a multiple"):
        PiecewiseLinear("bad", 0.5, 0.0, (0.1,), (0.25,), 10)
    with pytest.raises(InputError, match="unknown sigmoid approximation 'tanh'.*segments5"):
        sigmoid("tanh")
