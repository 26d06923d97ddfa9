"""The exponential ``e**x`` of fixed-point sharings, through ``2**t = 2**n * 2**frac``.

1. ``t = x * log2(e)`` (public product, truncated: 2 rounds).
2. ``T' = t + 32`` (encoded); A2B (8 or 12 rounds). Its bits ``f .. f+5`` are
   ``n' = floor(t) + 32`` when ``t`` lies in ``[-32, 32)``; bit 63 flags
   ``t < -32`` (the result is then below ``2**-32``: 0).
3. Inject those 7 bits (2 rounds). ``2**n'`` is a product of factors
   ``1 + b_j (2**(2**j) - 1)`` and ``1 - low`` (a tree, 3 rounds), and the
   fraction ``T' - n' 2**f`` is exact arithmetic, no B2A needed.
4. ``2**frac`` for ``frac`` in ``[0, 1)``: degree-5 minimax polynomial
   (relative error 1.1e-7) at 28 fractional bits (8 rounds).
5. ``2**n`` at ``f`` bits is ``2**n' / 2**(32-f)`` (exact truncation), times
   ``2**frac`` (4 rounds).
6. Saturation: where ``x >= x_max = (61 - 2f) ln 2`` (20.1 at f = 16) the
   result is ``2**(61-2f)`` (a comparison and a selection, 11 rounds).

**Contract.** Any ``x`` in the fixed-point range. Relative error at most
``2**-(f-1)`` plus one unit in the last place for ``x < x_max``; results
below ``2**-f`` underflow to 0 or one unit. Rounds: 41 up to 16384 elements (45 above, where
the A2B takes 4 more rounds and a third of the bytes).
"""

from __future__ import annotations

import math

import numpy as np

from offchain.errors import InputError
from offchain.mpc import compare
from offchain.mpc.arithmetic import mul, raw_product_terms
from offchain.mpc.converters import arithmetic_to_boolean, bits_to_arithmetic
from offchain.mpc.division import linear_terms
from offchain.mpc.shares import ArithmeticShare, BooleanShare, FixedPointShare
from offchain.mpc.truncation import additive_terms, truncate_many, truncate_sum

WINDOW = 32  # n = floor(t) is read for t in [-32, 32)
POLYNOMIAL_BITS = 28
EXP2_COEFFICIENTS = (
    0.999999893133,
    0.69315475213,
    0.240139712507,
    0.0558662442278,
    0.00894282991216,
    0.00189646122319,
)  # minimax 2**z on [0, 1), absolute error 1.07e-7


def power_of_two_parts(t: FixedPointShare) -> tuple[ArithmeticShare, FixedPointShare]:
    """Split ``t`` (flat, at ``f`` bits) into ``2**(floor(t)+32)`` (integer, 0 if ``t < -32``) and ``2**frac``.

    ``2**frac`` is returned at ``f`` fractional bits. Valid for ``t < 32``.
    """
    runtime, f = t.runtime, t.fractional_bits
    shifted = t + float(WINDOW)
    bits = arithmetic_to_boolean(shifted).components
    chosen = [
        np.bitwise_and(np.right_shift(bits, np.uint64(f + j)), np.uint64(1)) for j in range(6)
    ]
    chosen.append(np.right_shift(bits, np.uint64(63)))  # t < -32
    n = bits.shape[1]
    injected = bits_to_arithmetic(BooleanShare(runtime, np.concatenate(chosen, axis=1))).components
    bit_shares = [ArithmeticShare(runtime, injected[:, j * n : (j + 1) * n]) for j in range(7)]
    *exponent_bits, below = bit_shares
    # integer floor(t) + 32 and the exact fraction
    whole = exponent_bits[0]
    for j in range(1, 6):
        whole = whole + (exponent_bits[j] << j)
    fraction = FixedPointShare(runtime, shifted.components - (whole.components << np.uint64(f)), f)
    factors = [bit.mul_public((1 << (1 << j)) - 1) + 1 for j, bit in enumerate(exponent_bits)]
    factors.append(1 - below)
    level = [mul(factors[0], factors[1]), mul(factors[2], factors[3]), mul(factors[4], factors[5])]
    level = [mul(level[0], level[1]), mul(level[2], factors[6])]
    power = mul(level[0], level[1])
    return power, _exp2_fraction(fraction)


def _exp2_fraction(fraction: FixedPointShare) -> FixedPointShare:
    """Return ``2**z`` for ``z`` in [0, 1) at ``z``'s fractional bits (degree-5 polynomial)."""
    runtime, f = fraction.runtime, fraction.fractional_bits
    D = POLYNOMIAL_BITS
    z = FixedPointShare(runtime, np.left_shift(fraction.components, np.uint64(D - f)), D)
    (z2,) = truncate_many(runtime, [(raw_product_terms(z, z), D)])
    z2 = FixedPointShare(runtime, z2, D)
    z3, z4 = truncate_many(runtime, [(raw_product_terms(z2, z), D), (raw_product_terms(z2, z2), D)])
    z3, z4 = FixedPointShare(runtime, z3, D), FixedPointShare(runtime, z4, D)
    (z5,) = truncate_many(runtime, [(raw_product_terms(z4, z), D)])
    z5 = FixedPointShare(runtime, z5, D)
    c = EXP2_COEFFICIENTS
    terms = linear_terms(runtime, c[0], list(zip(c[1:], (z, z2, z3, z4, z5), strict=True)), D)
    (value,) = truncate_many(runtime, [(terms, 2 * D - f)])
    return FixedPointShare(runtime, value, f)


def mul_public_precise(x: FixedPointShare, constant: float) -> FixedPointShare:
    """Return ``x * constant`` with the constant carried to ``2f`` bits (two limbs, one truncation run).

    Relative error of the product about ``2**-2f`` instead of ``2**-f``; any ``x`` in range.
    The two limbs are added inside the truncation protocol (one array exchanged for both).
    """
    runtime, f = x.runtime, x.fractional_bits
    scaled = round(constant * 2 ** (2 * f))
    high, low = scaled >> f, scaled & ((1 << f) - 1)
    product = truncate_sum(
        runtime,
        [
            (np.multiply(x.components[0], np.uint64(high % 2**64)), f),
            (np.multiply(x.components[0], np.uint64(low)), 2 * f),
        ],
    )
    return FixedPointShare(runtime, product, f)


def exp(x: FixedPointShare) -> FixedPointShare:
    """Return ``e**x`` elementwise (see the module docstring for range and error)."""
    if not isinstance(x, FixedPointShare):
        raise InputError("exp needs a fixed-point share (share data with kind='fixed')")
    runtime, f, shape = x.runtime, x.fractional_bits, x.shape
    if not 8 <= f <= 24:
        raise InputError(f"exp supports 8 to 24 fractional bits, the share has {f}")
    top_exponent = 61 - 2 * f
    flat = x.reshape(-1)
    saturated = compare.greater_equal(flat, top_exponent * math.log(2))
    t = mul_public_precise(flat, math.log2(math.e))
    power, fraction_power = power_of_two_parts(t)
    (scaled_power,) = truncate_many(
        runtime, [(additive_terms(power), WINDOW - f)]
    )  # 2**n at f bits
    scaled_power = FixedPointShare(runtime, scaled_power, f)
    (value,) = truncate_many(runtime, [(raw_product_terms(scaled_power, fraction_power), f)])
    value = FixedPointShare(runtime, value, f)
    result = value + mul(saturated, float(2**top_exponent) - value)
    return FixedPointShare(runtime, result.components.reshape((2, *shape)), f)
