"""Reciprocal and division of fixed-point sharings (f fractional bits, 16 <= f <= 28).

``x / y`` with ``X``, ``Y`` the encodings and ``k`` the top bit of ``|Y|``
(of ``|Y| - 1`` for negative ``Y``), so that ``a = |Y| / 2**(k+1)`` lies in
``[1/2, 1]`` and ``x / y = X 2**(f-1-k) / a`` (with the sign of ``y``):

1. **Normalise** (:func:`normalizing_power`): A2B of ``Y`` and the OR
   prefix from the top bit (:func:`offchain.mpc.normalize.top_bit`: 14
   rounds and 144 bytes up to 16384 elements, Brent–Kung scans with 23
   rounds and 56 bytes above). The binary digits of ``u = 2f-1-k``
   (``k < 2f``) or ``60-k`` (``k >= 2f``) are parities of the prefix word
   under fixed masks (local). With the sign, ``t != 0`` and ``k >= 2f``
   they are 8 bits at f = 16, and ``T = ±2**u`` is a product of three
   public functions of at most three of them
   (:func:`offchain.mpc.converters.inject_tables`, one run of 2 rounds,
   25 words per element in all): ``(1 - 2 sign)([t != 0] + d_0)``,
   ``2**(2 d_1 + 4 d_2 + 8 d_3)``, and of the remaining digits and
   ``k >= 2f`` three tables: the rest of ``2**u`` times ``2**(61-2f)``
   (``k < 2f``) or 1, the rest times ``1 - [k >= 2f]``, and ``[k >= 2f]``.
   Two product rounds (three products) give ``F = ±2**(60-k)`` and
   ``G1`` (``T`` for ``k < 2f``, ``2**3`` above). No boolean-to-arithmetic adder.
2. **Stage 1** (one truncation run): ``a = Y F / 2**(61-D)`` at ``D = 29``
   fractional bits, and ``X1 = X G1 / 2**f``, which is ``x' = X 2**(f-1-k)``
   for ``k < 2f`` (all the upward scaling, so no rounding is amplified).
3. **Stage 2**: Goldschmidt's quadratic start ``w0 = c0 + c1 a + 2.5 a**2``
   (``|1 - a w0| <= 0.011`` on [1/2, 1]; one truncation, ``2 * 2.5`` being
   an integer), and for ``k >= 2f`` ``x' = X1 F / 2**(61-2f+3)`` (the 44-bit
   range of the shift needs these two steps); one selection by ``k >= 2f``.
4. **Stages 3 and 4**: ``e0 = 1 - a w0``, then ``w1 = w0 (1 + e0)`` and
   ``e1 = e0**2``: ``1/a = w1 (1 + e1)`` with relative error
   ``e0**4 <= 1.5e-8`` plus truncations of ``2**-29``.
5. **Stage 5**: ``1/a`` at ``f`` bits and at ``f + 12`` bits (one opening
   of the same value serves both shifts); their difference is the second limb.
6. **Stage 6**: ``x' / a`` in two limbs, added inside the truncation
   protocol (:func:`offchain.mpc.truncation.truncate_sum`).

Eleven values are truncated in six protocol runs.

**Contract** (``f`` = 16 figures in brackets): ``|y| < 2**(61-f)`` [3.5e13],
``|x| < 2**(61-2f)`` [5.4e8], ``|x / y| < 2**(62-2f)`` [1.07e9]. Error at
most ``|x / y| 2**-23`` plus 5 units in the last place (the two limbs and
the numerator's scaling round stochastically, each by less than a unit).
``x / 0`` returns 0 (as does ``x / -2**-f``, the one value whose magnitude
minus one is 0). Rounds: 31 up to 16384 elements, 40 above; bytes per
element, averaged over the parties: 446.7 and 358.7.
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError
from offchain.mpc.arithmetic import mul_many, raw_product_terms
from offchain.mpc.converters import inject_tables
from offchain.mpc.fixedpoint import FixedPoint
from offchain.mpc.normalize import exponent_digits, prefix_bit, top_bit
from offchain.mpc.shares import ArithmeticShare, FixedPointShare, Share
from offchain.mpc.truncation import truncate_many, truncate_sum

# Fractional bits of a, w and e. 29 keeps the shift of a = Y F / 2**(61-D) at 32 bits, so the
# truncation's msb halves travel as uint32.
INTERNAL_BITS = 29
EXTRA_BITS = 12  # the second limb of 1/a: bits f+1 .. f+12
# For k >= 2f, X1 = X 2**(3-f) keeps 3 bits below the unit (its rounding shrinks 8x) and the
# shift of x' = X1 F / 2**(61-2f+3) stays at 32 bits for f = 16.
GUARD_BITS = 3
# w0 = c0 + c1 a + 2.5 a**2 ~ 1/a on [1/2, 1] (minimax of |1 - a w0| with the a**2
# coefficient fixed at 5/2 so that it is an integer at one extra bit): |1 - a w0| <= 0.01095
RECIPROCAL_START = (4.20190932, -5.69759631, 2.5)
MIN_FRACTIONAL_BITS = 16
POWER_TOP = 60  # F = 2**(60 - k)


def encode_constant(value: float, bits: int) -> np.uint64:
    """Return ``round(value * 2**bits)`` mod 2**64 (a public constant at ``bits`` fractional bits)."""
    return np.uint64(round(value * 2**bits) % 2**64)


def linear_terms(
    runtime, constant: float, pairs: list[tuple[float, ArithmeticShare]], scale: int
) -> np.ndarray:
    """Return a travelling additive term of ``constant + sum(c_i * x_i)`` at ``2 * scale`` bits.

    Each ``x_i`` is at ``scale`` fractional bits and each real ``c_i`` is
    encoded at ``scale`` bits, ready for one truncation by ``scale``.
    """
    term = np.zeros(pairs[0][1].shape, dtype=np.uint64)
    for coefficient, share in pairs:
        term += share.components[0] * encode_constant(coefficient, scale)
    if runtime.party == 0:
        term += encode_constant(constant, 2 * scale)
    return term


def _fixed(runtime, components: np.ndarray, bits: int) -> FixedPointShare:
    return FixedPointShare(runtime, components, bits)


def _check(y: object, what: str) -> FixedPointShare:
    """Return the divisor as fixed point (integer sharings are promoted), or refuse it."""
    if isinstance(y, ArithmeticShare) and not isinstance(y, FixedPointShare):
        y = y.to_fixed()
    if not isinstance(y, FixedPointShare):
        raise InputError(
            f"{what} needs an arithmetic or fixed-point share as divisor, got {type(y).__name__}"
        )
    if y.fractional_bits < MIN_FRACTIONAL_BITS:
        raise InputError(
            f"division needs at least {MIN_FRACTIONAL_BITS} fractional bits, the share has "
            f"{y.fractional_bits}; share the data with more fractional bits"
        )
    return y


def divide(x: object, y: FixedPointShare) -> FixedPointShare:
    """Return ``x / y`` for a fixed-point share ``y`` and a fixed-point share or public real ``x``.

    See the module docstring for ranges and error.
    """
    y = _check(y, "divide")
    runtime = y.runtime
    f = y.fractional_bits
    if isinstance(x, Share) and not isinstance(x, FixedPointShare):
        if isinstance(x, ArithmeticShare):
            x = x.to_fixed(f)
        else:
            raise InputError(f"cannot divide a {type(x).__name__}")
    if isinstance(x, FixedPointShare):
        x._check_same_runtime(y)
        if x.fractional_bits != f:
            raise InputError(f"dividend has {x.fractional_bits} fractional bits, divisor {f}")
    shape = np.broadcast_shapes(y.shape, np.shape(x) if not isinstance(x, Share) else x.shape)
    flat_y = FixedPointShare(runtime, np.broadcast_to(y.components, (2, *shape)).reshape(2, -1), f)
    if isinstance(x, Share):
        flat_x = FixedPointShare(
            runtime, np.broadcast_to(x.components, (2, *shape)).reshape(2, -1), f
        )
    else:
        flat_x = np.broadcast_to(np.asarray(x, dtype=np.float64), shape).reshape(-1)
    quotient = _divide_flat(flat_x, flat_y)
    return FixedPointShare(runtime, quotient.components.reshape((2, *shape)), f)


def reciprocal(y: FixedPointShare) -> FixedPointShare:
    """Return ``1 / y`` (see the module docstring; 1/0 returns 0)."""
    return divide(1.0, _check(y, "reciprocal"))


def normalizing_power(
    y: FixedPointShare,
) -> tuple[ArithmeticShare, ArithmeticShare, ArithmeticShare]:
    """Return ``F = ±2**(60-k)``, ``G1`` and the flag ``k >= 2f`` for flat ``y`` (18 or 27 rounds).

    ``k`` is the top bit of ``t = |Y|`` (``|Y| - 1`` for negative ``Y``), the
    signs of ``F`` and ``G1`` that of ``y``; ``G1 = ±2**(2f-1-k)`` for
    ``k < 2f`` and ``2**3`` for ``k >= 2f``; ``F = G1 = 0`` for ``t = 0``.
    The exponent ``u = 2f-1-k`` (``k < 2f``) or ``60-k`` (``k >= 2f``) has
    at most 6 binary digits, XOR folds of the one-hot ``2**k`` (local).
    ``T = ±2**u`` is ``first * middle * rest``, three public functions of
    at most three bits each (sign, ``t != 0``, digits), injected with
    ``k >= 2f`` in one run (:func:`offchain.mpc.converters.inject_tables`,
    2 rounds); the last group also yields ``rest * 2**(61-2f)`` for
    ``k < 2f`` (``rest`` above), ``rest * (1 - [k >= 2f])`` and
    ``[k >= 2f]``, so ``head = first * middle`` (1 round) and two products
    with it (1 round) give ``F`` and ``G1 - 8 [k >= 2f]``.
    """
    runtime, f = y.runtime, y.fractional_bits
    magnitude = top_bit(y, bit_reversed=True)  # A2B and OR prefix, 14 or 23 rounds
    boundary = 2 * f

    def exponent(k: int) -> int | None:
        if k < boundary:
            return boundary - 1 - k
        return POWER_TOP - k if k <= POWER_TOP else None

    count = max(boundary - 1, POWER_TOP - boundary).bit_length()
    layout = magnitude.bit_reversed
    digits = exponent_digits(magnitude.prefix, exponent, count, bit_reversed=layout)
    sign = magnitude.sign.astype(np.uint8)
    nonzero = prefix_bit(magnitude.prefix, 0, bit_reversed=layout).astype(np.uint8)  # t != 0
    large_bit = prefix_bit(magnitude.prefix, boundary, bit_reversed=layout).astype(np.uint8)
    # T = ±2**u as three functions of at most three bits each, injected in one run:
    # (1 - 2 sign)([t != 0] + d_0) (d_0 = 1 implies t != 0, so 0 when t = 0), then
    # 2**(2 d_1 + 4 d_2 + 8 d_3), and of the remaining digits and [k >= 2f] three
    # tables: the rest of 2**u times 2**(61-2f) for k < 2f (F's factor), times
    # 1 - [k >= 2f] (G1's), and [k >= 2f] itself.
    first_table = [(1 - 2 * (i & 1)) * ((i >> 1 & 1) + (i >> 2 & 1)) for i in range(8)]
    middle_table = [_digit_power(i, 1) for i in range(8)]
    width = count - 4
    low = 61 - boundary
    rest = [_digit_power(i & ((1 << width) - 1), 4) for i in range(2 << width)]
    last_tables = [
        [power << (0 if i >> width else low) for i, power in enumerate(rest)],
        [0 if i >> width else power for i, power in enumerate(rest)],
        [i >> width for i in range(2 << width)],
    ]
    (first,), (middle,), (last_full, last_scale, large) = (
        [ArithmeticShare(runtime, components) for components in group]
        for group in inject_tables(
            runtime,
            [
                ([sign, nonzero, digits[0]], [first_table]),
                (digits[1:4], [middle_table]),
                ([*digits[4:], large_bit], last_tables),  # large_bit: k >= 2f
            ],
        )
    )
    (head,) = mul_many([(first, middle)])
    full, first_scale = mul_many([(head, last_full), (head, last_scale)])
    first_scale = first_scale + large.mul_public(1 << GUARD_BITS)
    return full, first_scale, large


def _digit_power(index: int, first_digit: int) -> int:
    """Return ``2**(sum_j bit_j(index) 2**(first_digit + j))`` over the digit bits of ``index``."""
    exponent = sum(1 << (first_digit + j) for j in range(4) if index >> j & 1)
    return 1 << exponent


def _divide_flat(x: FixedPointShare | np.ndarray, y: FixedPointShare) -> FixedPointShare:
    runtime = y.runtime
    f = y.fractional_bits
    D = INTERNAL_BITS
    power, scale, large = normalizing_power(y)
    if isinstance(x, FixedPointShare):

        def x_times(factor: ArithmeticShare) -> np.ndarray:
            return raw_product_terms(x, factor)
    else:
        encoded = FixedPoint(f).encode(x)

        def x_times(factor: ArithmeticShare) -> np.ndarray:
            """Additive term of the public x times the share ``factor`` (local)."""
            return np.multiply(factor.components[0], encoded)

    # Stage 1: a = |y| / 2**(k+1) at D bits; X1 = X G1 / 2**f (x' itself for k < 2f).
    a, numerator = truncate_many(
        runtime, [(raw_product_terms(y, power), 61 - D), (x_times(scale), f)]
    )
    a = _fixed(runtime, a, D)
    numerator = _fixed(runtime, numerator, f)
    # Stage 2: w0 = c0 + c1 a + 2.5 a**2 (at D + 1 bits before the truncation, 5 a**2 is
    # exact); for k >= 2f, x' = X1 F / 2**(61-2f+4) (meaningless for k < 2f, where the
    # selection below multiplies it by 0).
    c0, c1, _ = RECIPROCAL_START
    start = linear_terms(runtime, c0, [(c1, a)], D) << np.uint64(1)
    start += raw_product_terms(a, a) * np.uint64(5)
    w0, shifted = truncate_many(
        runtime,
        [(start, D + 1), (raw_product_terms(numerator, power), 61 - 2 * f + GUARD_BITS)],
    )
    w0 = _fixed(runtime, w0, D)
    (step,) = mul_many([(large, _fixed(runtime, shifted, f) - numerator)])
    numerator = numerator + step
    # Stage 3: e0 = 1 - a w0.
    error_terms = np.negative(raw_product_terms(a, w0))
    if runtime.party == 0:
        error_terms += encode_constant(1.0, 2 * D)
    (e0,) = truncate_many(runtime, [(error_terms, D)])
    e0 = _fixed(runtime, e0, D)
    # Stage 4: w1 = w0 (1 + e0), e1 = e0**2.
    w1, e1 = truncate_many(runtime, [(_times_one_plus(w0, e0), D), (raw_product_terms(e0, e0), D)])
    w1, e1 = _fixed(runtime, w1, D), _fixed(runtime, e1, D)
    # Stage 5: 1/a = w1 (1 + e1) at f bits, and its next bits as a second limb (one
    # opening of the same value serves both shifts).
    inverse_terms = _times_one_plus(w1, e1)
    inverse, inverse_fine = truncate_many(
        runtime, [(inverse_terms, 2 * D - f), (inverse_terms, 2 * D - f - EXTRA_BITS)]
    )
    inverse = _fixed(runtime, inverse, f)
    extra = _fixed(
        runtime, inverse_fine - (inverse.components << np.uint64(EXTRA_BITS)), f + EXTRA_BITS
    )
    # Stage 6: x' / a in two limbs, added up inside the truncation protocol.
    quotient = truncate_sum(
        runtime,
        [
            (raw_product_terms(numerator, inverse), f),
            (raw_product_terms(numerator, extra), f + EXTRA_BITS),
        ],
    )
    return _fixed(runtime, quotient, f)


def _times_one_plus(w: FixedPointShare, e: FixedPointShare) -> np.ndarray:
    """Return the additive term of ``w (1 + e)`` at twice ``e``'s fractional bits (local).

    ``w e + w``: the own components of ``w``, shifted, sum to ``w`` (no copy of ``e + 1``).
    """
    term = raw_product_terms(w, e)
    term += np.left_shift(w.components[0], np.uint64(e.fractional_bits))
    return term
