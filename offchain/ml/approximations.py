"""Piecewise-linear stand-ins for the sigmoid (training) and softplus (log-loss), exactly specified.

Secure training cannot afford ``exp``; it evaluates a continuous
piecewise-linear function instead, written in one basis for every use::

    g(z) = intercept + slope * z + sum_j coefficient_j * relu(z - knot_j)

In MPC each ``relu(z - knot_j)`` costs one comparison (all knots of all
elements in one batch, so the rounds do not grow with the number of
knots) and one multiplication by the resulting bit. The constants are
dyadic: knots are multiples of ``2**-6`` and coefficients multiples of
``2**-10`` (sigmoids) or ``2**-16`` (softplus), so the fixed-point encoding
(16 fractional bits or more) holds them *exactly* and the plaintext
reference (:mod:`offchain.ml.reference`) evaluates the very same function.

Sigmoid approximations (``TrainingOptions.sigmoid``), with their maximum
absolute error against ``1 / (1 + exp(-z))`` over **all** real ``z``
(measured on a 1e-4 grid over [-40, 40] by ``tests/ml/test_approximations.py``;
beyond that every segmented function is constant and the error only shrinks):

============  ========  ==========  ====================================================
name          segments  max error   notes
============  ========  ==========  ====================================================
taylor1       1         unbounded   ``0.5 + z/4``: < 0.0026 for ``|z| <= 0.5``, < 0.019 for
                                    ``|z| <= 1``, 0.119 at ``|z| = 2``; not clamped, so
                                    training also checks ``|z| <= 64``
segments3     3         0.0565      clamp of ``0.5 + 0.1768 z`` to [0, 1] (like SPU SEG3)
segments5     5         0.0189      the default: on the tests' data its models match
                                    those of the exact sigmoid (same AUC to 4 digits)
segments7     7         0.0110
segments9     9         0.0058
============  ========  ==========  ====================================================

The segmented functions are symmetric (``g(-z) = 1 - g(z)``), monotone and
take values in [0, 1]; each is the minimax fit over its knots, rounded to
the dyadic grid. ``logistic`` is the engine's own sigmoid (error 3e-5 on
every input, 29 rounds), for training as close to exact as fixed point allows.

``SOFTPLUS`` (``log(1 + e**z)``, for the log-loss ``softplus(z) - y z``)
interpolates softplus at 61 knots spaced so that the interpolation error
stays below 4e-4, with slopes 0 and exactly 1 outside them: maximum
absolute error 0.00043 over all real ``z``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offchain.errors import InputError

KNOT_BITS = 6  # knots are multiples of 2**-6
SIGMOID_COEFFICIENT_BITS = 10  # sigmoid coefficients are multiples of 2**-10
SOFTPLUS_COEFFICIENT_BITS = 16


@dataclass(frozen=True)
class PiecewiseLinear:
    """``g(z) = intercept + slope*z + sum_j coefficients[j] * relu(z - knots[j])``.

    ``knots`` strictly increase. ``coefficient_bits`` is the number of
    fractional bits that hold ``slope`` and every coefficient exactly;
    knots hold in :data:`KNOT_BITS` bits and the intercept in
    ``KNOT_BITS + coefficient_bits`` bits (products of the two).
    """

    name: str
    intercept: float
    slope: float
    knots: tuple[float, ...]
    coefficients: tuple[float, ...]
    coefficient_bits: int

    def __post_init__(self) -> None:
        if len(self.knots) != len(self.coefficients):
            raise InputError(
                f"{self.name}: {len(self.knots)} knots but {len(self.coefficients)} coefficients"
            )
        if any(b <= a for a, b in zip(self.knots, self.knots[1:], strict=False)):
            raise InputError(f"{self.name}: knots must strictly increase, got {self.knots}")
        _check_dyadic(self.name, "knot", self.knots, KNOT_BITS)
        _check_dyadic(self.name, "coefficient", (self.slope, *self.coefficients), self.coefficient_bits)
        _check_dyadic(self.name, "intercept", (self.intercept,), KNOT_BITS + self.coefficient_bits)

    @property
    def bounded(self) -> bool:
        """Whether the function is constant beyond its outer knots (no slope at either end)."""
        return self.slope == 0.0 and self.slope + sum(self.coefficients) == 0.0

    def __call__(self, z: object) -> np.ndarray:
        """Evaluate in float64 (exact for the dyadic constants up to float rounding)."""
        values = np.asarray(z, dtype=np.float64)
        out = self.intercept + self.slope * values
        for knot, coefficient in zip(self.knots, self.coefficients, strict=True):
            out = out + coefficient * np.maximum(values - knot, 0.0)
        return out

    def scaled_coefficients(self) -> np.ndarray:
        """Return ``slope`` and the coefficients times ``2**coefficient_bits`` as int64 (exact)."""
        scale = 1 << self.coefficient_bits
        return np.rint(np.array((self.slope, *self.coefficients)) * scale).astype(np.int64)


def _check_dyadic(name: str, what: str, values, bits: int) -> None:
    for value in values:
        scaled = value * (1 << bits)
        if scaled != round(scaled):
            raise InputError(f"{name}: {what} {value!r} is not a multiple of 2**-{bits}")


def symmetric_sigmoid(name: str, knots_64ths: tuple[int, ...], coefficients_1024ths: tuple[int, ...]) -> PiecewiseLinear:
    """Build ``0.5 + sum_j a_j * clip(z, -t_j, t_j)`` in the relu basis.

    ``clip(z, -t, t) = relu(z + t) - relu(z - t) - t``, so the function has
    knots ``-t_K..-t_1, t_1..t_K`` with coefficients ``+a_j`` at ``-t_j`` and
    ``-a_j`` at ``t_j``, and intercept ``0.5 - sum_j a_j t_j``.
    """
    knots = [k / (1 << KNOT_BITS) for k in knots_64ths]
    coefficients = [c / (1 << SIGMOID_COEFFICIENT_BITS) for c in coefficients_1024ths]
    intercept = 0.5 - sum(a * t for a, t in zip(coefficients, knots, strict=True))
    return PiecewiseLinear(
        name=name,
        intercept=intercept,
        slope=0.0,
        knots=tuple(-t for t in reversed(knots)) + tuple(knots),
        coefficients=tuple(reversed(coefficients)) + tuple(-a for a in coefficients),
        coefficient_bits=SIGMOID_COEFFICIENT_BITS,
    )


TAYLOR1 = PiecewiseLinear("taylor1", 0.5, 0.25, (), (), SIGMOID_COEFFICIENT_BITS)

SIGMOIDS: dict[str, PiecewiseLinear] = {
    "taylor1": TAYLOR1,
    "segments3": symmetric_sigmoid("segments3", (181,), (181,)),
    "segments5": symmetric_sigmoid("segments5", (105, 258), (159, 62)),
    "segments7": symmetric_sigmoid("segments7", (84, 164, 295), (124, 73, 35)),
    "segments9": symmetric_sigmoid("segments9", (64, 123, 197, 341), (84, 83, 56, 18)),
}
"""The sigmoid approximations training may use, by name (see the module docstring)."""

DEFAULT_SIGMOID = "segments5"

SIGMOID_MAX_ERROR = {
    "segments3": 0.0565,
    "segments5": 0.0189,
    "segments7": 0.0110,
    "segments9": 0.0058,
}
"""Stated bounds on ``max |g(z) - sigmoid(z)|`` over all real z (checked by the tests)."""

_SOFTPLUS_KNOTS_64THS = (
    518, 421, 361, 318, 285, 258, 235, 215, 198, 183, 169, 156, 144, 133, 123, 113, 104, 95,
    87, 79, 71, 63, 56, 49, 42, 35, 28, 21, 14, 7,
)
_SOFTPLUS_COEFFICIENTS = (
    47, 104, 179, 261, 345, 435, 529, 609, 676, 760, 857, 943, 1013, 1060, 1141, 1210, 1267,
    1307, 1332, 1430, 1527, 1517, 1488, 1553, 1612, 1664, 1708, 1744, 1770, 1786,
)

SOFTPLUS = PiecewiseLinear(
    name="softplus",
    intercept=20 / (1 << SOFTPLUS_COEFFICIENT_BITS),
    slope=0.0,
    knots=tuple(-k / 64 for k in _SOFTPLUS_KNOTS_64THS) + (0.0,)
    + tuple(k / 64 for k in reversed(_SOFTPLUS_KNOTS_64THS)),
    coefficients=tuple(c / 65536 for c in _SOFTPLUS_COEFFICIENTS) + (1788 / 65536,)
    + tuple(c / 65536 for c in reversed(_SOFTPLUS_COEFFICIENTS)),
    coefficient_bits=SOFTPLUS_COEFFICIENT_BITS,
)
"""Softplus within 0.00043 everywhere; its coefficients sum to exactly 1 (slope 1 on the right)."""

SOFTPLUS_MAX_ERROR = 0.00043


@dataclass(frozen=True)
class EngineLogistic:
    """The engine's logistic function (``offchain.mpc.sigmoid``): max error 3e-5 on every input.

    Piecewise degree-5 polynomials read from the bits of ``z``; 29 rounds per
    evaluation (against 11 for the segmented functions), hence 33 rounds per
    training step. The plaintext reference evaluates the exact logistic function.
    """

    name: str = "logistic"
    max_error: float = 3e-5
    bounded: bool = True

    def __call__(self, z: object) -> np.ndarray:
        values = np.asarray(z, dtype=np.float64)
        return np.exp(-np.logaddexp(0.0, -values))


LOGISTIC = EngineLogistic()


def sigmoid(name: str) -> PiecewiseLinear | EngineLogistic:
    """Return the sigmoid called ``name`` or raise ``InputError`` listing them."""
    if name == LOGISTIC.name:
        return LOGISTIC
    try:
        return SIGMOIDS[name]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown sigmoid approximation {name!r}; choose one of {', '.join([*SIGMOIDS, LOGISTIC.name])} "
            f"(default {DEFAULT_SIGMOID})"
        ) from None
