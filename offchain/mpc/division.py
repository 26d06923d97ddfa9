"""Reciprocal and division of fixed-point sharings (f fractional bits, 15 <= f <= 28).

``x / y`` with ``Y`` the encoding of ``y`` and ``k`` the top bit of ``|Y|``:

1. Normalise (:mod:`offchain.mpc.normalize`): ``F = ±2**(60-k)`` (sign of
   ``y`` included) and ``a = Y * F / 2**(61-D)``, the real ``|y| / 2**(k+1)``
   in ``[1/2, 1]`` at ``D = 28`` internal fractional bits.
2. Goldschmidt: ``w0 = 2.9142 - 2a`` (local: the slope is an integer),
   ``e0 = 1 - a w0`` with ``|e0| <= 0.0858`` on [1/2, 1], then three steps
   ``w <- w (1 + e)``, ``e <- e**2``: relative error ``e0**8 <= 3e-9`` plus
   truncation errors of ``2**-28``.
3. ``P = x * w`` at ``f`` bits (in two limbs so that ``w2``'s extra 8 bits
   count: relative error about ``2**-(f+8)``), and the quotient is
   ``P * 2**(f-1-k)``: for ``k <= 2f - 1`` it is ``P * M / 2**f`` with
   ``M = 2**(2f-1-k)`` (exactly ``F / 2**(61-2f)``); for larger ``k``,
   ``(P >> s1) * F / 2**(61-f-s1)`` (two steps keep every product below
   2**62). The branch is chosen by the shared bit ``k >= 2f`` (one
   multiplication); the discarded branch may overflow, which is harmless.

**Contract** (``f`` = 16 figures in brackets): ``|y| < 2**(61-f)`` [3.5e13],
``|x| < 2**(61-2f)`` [5.4e8], ``|x / y| < 2**(62-2f)`` [1.07e9]. Error at
most ``2**-(f-1) * |x / y| * 2**-8`` relative plus 3 units in the last
place. ``x / 0`` returns 0 (as does ``x / -2**-f``, the one value whose
magnitude minus one is 0). Rounds: 45.
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError
from offchain.mpc.arithmetic import mul, product_terms, raw_product_terms
from offchain.mpc.fixedpoint import FixedPoint
from offchain.mpc.normalize import (
    bits_to_integers,
    prefix_bit,
    reversed_power,
    to_arithmetic,
    top_bit,
)
from offchain.mpc.shares import ArithmeticShare, FixedPointShare, Share
from offchain.mpc.truncation import additive_terms, truncate_many

INTERNAL_BITS = 28
EXTRA_BITS = 8
RECIPROCAL_INTERCEPT = 2.9142135623730951  # 1/a ~ 2.9142 - 2a on [1/2, 1], |1 - a w0| <= 0.0858
MIN_FRACTIONAL_BITS = 15


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
            f"division needs at least {MIN_FRACTIONAL_BITS} fractional bits, the share has {y.fractional_bits}"
        )
    return y


def _goldschmidt(runtime, a: FixedPointShare, output_bits: list[int]) -> list[FixedPointShare]:
    """Return ``1/a`` for ``a`` in [1/2, 1] at ``INTERNAL_BITS``, truncated to each of ``output_bits``.

    ``w0 = 2.9142 - 2a`` is local (the slope is an integer) and
    ``e0 = 1 - a w0 = 1 - 2.9142 a + 2 a**2`` is one truncation; three
    Goldschmidt steps ``w <- w (1 + e)``, ``e <- e**2`` follow (8 rounds).
    """
    D = INTERNAL_BITS
    w0 = a.mul_public(-2) + RECIPROCAL_INTERCEPT
    terms = linear_terms(runtime, 1.0, [(-RECIPROCAL_INTERCEPT, a)], D)
    terms += raw_product_terms(a, a) << np.uint64(1)
    (e0,) = truncate_many(runtime, [(terms, D)])
    w, e = w0, _fixed(runtime, e0, D)
    for _ in range(2):
        w_next, e_next = truncate_many(
            runtime, [(raw_product_terms(w, e + 1.0), D), (raw_product_terms(e, e), D)]
        )
        w, e = _fixed(runtime, w_next, D), _fixed(runtime, e_next, D)
    product = raw_product_terms(w, e + 1.0)
    finals = truncate_many(runtime, [(product, 2 * D - bits) for bits in output_bits])
    return [_fixed(runtime, c, bits) for c, bits in zip(finals, output_bits, strict=True)]


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


def _divide_flat(x: FixedPointShare | np.ndarray, y: FixedPointShare) -> FixedPointShare:
    runtime = y.runtime
    f = y.fractional_bits
    D = INTERNAL_BITS
    middle_top = 2 * f - 1  # the middle regime covers f <= k <= 2f - 1
    first_shift = max(1, 61 - 3 * f)
    # 1. Normalise y: F = 2**(60-k); a = |y| / 2**(k+1) at D bits; L = ±2**(f-1-k) (exact for
    #    k < f) and M = 2**(2f-1-k) (exact for k <= 2f - 1) by exact truncations of F.
    magnitude = top_bit(y)
    (power,) = to_arithmetic(runtime, [reversed_power(magnitude.one_hot, 60)])
    negative, not_small, large = bits_to_integers(
        runtime,
        [
            magnitude.sign,
            prefix_bit(magnitude.prefix, f),
            prefix_bit(magnitude.prefix, middle_top + 1),
        ],
    )
    sign = 1 - (negative << 1)
    signed_power = mul(power, sign)
    a, small_factor, middle_factor = truncate_many(
        runtime,
        [
            (raw_product_terms(y, signed_power), 61 - D),
            (additive_terms(signed_power), 61 - f),
            (additive_terms(power), 60 - middle_top),
        ],
    )
    a = _fixed(runtime, a, D)
    small_factor = ArithmeticShare(runtime, small_factor)
    middle_factor = ArithmeticShare(runtime, middle_factor)
    # 2. 1/a at f bits, and its next 8 bits as a second limb (at f + 8 bits).
    inverse, inverse_fine = _goldschmidt(runtime, a, [f, f + EXTRA_BITS])
    extra = _fixed(
        runtime,
        inverse_fine.components - (inverse.components << np.uint64(EXTRA_BITS)),
        f + EXTRA_BITS,
    )
    # 3. x' = x * L' with L' = L for small divisors (k < f) and the sign of y otherwise, so that
    #    x' / a is the quotient itself for k < f (one rounding, no amplified error).
    factor = small_factor + mul(not_small, sign - small_factor)
    if isinstance(x, FixedPointShare):
        scaled_x = mul(x, factor)
    else:
        scaled_x = FixedPointShare(
            runtime, factor.mul_public(FixedPoint(f).encode(x)).components, f
        )
    # 4. P = x' / a in two limbs (1/a at f bits, then its next 8 bits).
    p_main, p_fine = (
        _fixed(runtime, c, f)
        for c in truncate_many(
            runtime,
            [
                (raw_product_terms(scaled_x, inverse), f),
                (raw_product_terms(scaled_x, extra), f + EXTRA_BITS),
            ],
        )
    )
    p = p_main + p_fine
    # 5. Middle (f <= k <= 2f-1): P * 2**(2f-1-k) / 2**f; large (k >= 2f): (P >> s1) * F / 2**(61-f-s1).
    middle, shifted = truncate_many(
        runtime, [(raw_product_terms(p, middle_factor), f), (additive_terms(p), first_shift)]
    )
    shifted = _fixed(runtime, shifted, f)
    (large_result,) = truncate_many(
        runtime, [(raw_product_terms(shifted, power), 61 - f - first_shift)]
    )
    middle, large_result = _fixed(runtime, middle, f), _fixed(runtime, large_result, f)
    # 6. Select the regime; branches computed for other regimes may hold garbage, multiplied by 0.
    return p + _sum_of_products(runtime, [(not_small, middle - p), (large, large_result - middle)])


def _sum_of_products(
    runtime, pairs: list[tuple[ArithmeticShare, ArithmeticShare]]
) -> FixedPointShare:
    """Return ``sum(b_i * v_i)`` for integer ``b_i`` and fixed-point ``v_i`` in one round (one reshare)."""
    term = product_terms(*pairs[0])
    for left, right in pairs[1:]:
        term += product_terms(left, right, mask=False)
    components = np.empty((2, *term.shape), dtype=np.uint64)
    components[0] = term
    components[1] = runtime.reshare(components[0])
    return FixedPointShare(runtime, components, pairs[0][1].fractional_bits)
