"""Reciprocal and division of fixed-point sharings (f fractional bits, 15 <= f <= 28).

``x / y`` with ``Y`` the encoding of ``y`` and ``k`` the top bit of ``|Y|``:

1. Normalise (:mod:`offchain.mpc.normalize`): ``F = ±2**(60-k)`` (sign of
   ``y`` included) and ``a = Y * F / 2**(61-D)``, the real ``|y| / 2**(k+1)``
   in ``[1/2, 1]`` at ``D = 28`` internal fractional bits.
2. Goldschmidt: ``w0 = 4.2423 - 5.8180 a + 2.5858 a**2`` (minimax, relative
   error ``|1 - a w0| <= 0.0101`` on [1/2, 1]), ``e0 = 1 - a w0``, then
   ``w1 = w0 (1 + e0)``, ``e1 = e0**2``, ``w2 = w1 (1 + e1)``: relative
   error ``e0**4 <= 1.1e-8`` plus truncation errors of ``2**-28``.
3. ``P = x * w2`` at ``f`` bits (in two limbs so that ``w2``'s extra 8 bits
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
magnitude minus one is 0). Rounds: 47 (reciprocal 45).
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError
from offchain.mpc.arithmetic import mul, product_terms
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
RECIPROCAL_INITIAL = (4.24234827, -5.81802842, 2.58578935)  # w0(a) ~ 1/a on [1/2, 1]
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
    term = runtime.zero_sharing(pairs[0][1].shape)
    for coefficient, share in pairs:
        term += share.components[0] * encode_constant(coefficient, scale)
    if runtime.party == 0:
        term += encode_constant(constant, 2 * scale)
    return term


def _fixed(runtime, components: np.ndarray, bits: int) -> FixedPointShare:
    return FixedPointShare(runtime, components, bits)


def _check(y: object, what: str) -> FixedPointShare:
    if not isinstance(y, FixedPointShare):
        raise InputError(
            f"{what} needs a fixed-point share as divisor (share data with kind='fixed')"
        )
    if y.fractional_bits < MIN_FRACTIONAL_BITS:
        raise InputError(
            f"division needs at least {MIN_FRACTIONAL_BITS} fractional bits, the share has {y.fractional_bits}"
        )
    return y


def _goldschmidt(runtime, a: FixedPointShare, output_bits: list[int]) -> list[FixedPointShare]:
    """Return ``1/a`` for ``a`` in [1/2, 1] at ``INTERNAL_BITS``, truncated to each of ``output_bits``."""
    D = INTERNAL_BITS
    c0, c1, c2 = RECIPROCAL_INITIAL
    (a2,) = truncate_many(runtime, [(product_terms(a, a), D)])
    a2 = _fixed(runtime, a2, D)
    a3, w0 = truncate_many(
        runtime, [(product_terms(a2, a), D), (linear_terms(runtime, c0, [(c1, a), (c2, a2)], D), D)]
    )
    a3, w0 = _fixed(runtime, a3, D), _fixed(runtime, w0, D)
    (e0,) = truncate_many(
        runtime, [(linear_terms(runtime, 1.0, [(-c0, a), (-c1, a2), (-c2, a3)], D), D)]
    )
    e0 = _fixed(runtime, e0, D)
    one_plus_e0 = e0 + 1.0
    w1, e1 = truncate_many(
        runtime, [(product_terms(w0, one_plus_e0), D), (product_terms(e0, e0), D)]
    )
    w1, e1 = _fixed(runtime, w1, D), _fixed(runtime, e1, D)
    product = product_terms(w1, e1 + 1.0)
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
    # 1. Normalise y: F = ±2**(60-k), a = |y| / 2**(k+1) at D bits; L, M: powers for small/middle k.
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
    signed_power = mul(power, 1 - (negative << 1))
    travelling_power = additive_terms(signed_power)
    a, small_factor, middle_factor = truncate_many(
        runtime,
        [
            (product_terms(y, signed_power), 61 - D),
            (travelling_power, 61 - f),  # ±2**(f-1-k), exact for k <= f - 1
            (travelling_power.copy(), 60 - middle_top),  # ±2**(2f-1-k), exact for k <= 2f - 1
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
    # 3. Small divisors (k < f): 1/y = (1/a) * 2**(f-1-k) exactly, then x * (1/y).
    reciprocal_main = mul(inverse, small_factor)
    reciprocal_extra = mul(extra, small_factor)
    # 4. x * (1/y) for small k, and P = x / a for the others (two limbs each).
    limbs = [
        (reciprocal_main, f),
        (reciprocal_extra, f + EXTRA_BITS),
        (inverse, f),
        (extra, f + EXTRA_BITS),
    ]
    if isinstance(x, FixedPointShare):
        items = [(product_terms(x, limb), shift) for limb, shift in limbs]
    else:
        encoded = FixedPoint(f).encode(x)
        items = [
            (additive_terms(ArithmeticShare(runtime, limb.components * encoded)), shift)
            for limb, shift in limbs
        ]
    small_main, small_extra, p_main, p_extra = (
        _fixed(runtime, c, f) for c in truncate_many(runtime, items)
    )
    small = small_main + small_extra
    p = p_main + p_extra
    # 5. Middle (f <= k <= 2f-1): P * 2**(2f-1-k) / 2**f; large (k >= 2f): (P >> s1) * F / 2**(61-f-s1).
    middle, shifted = truncate_many(
        runtime, [(product_terms(p, middle_factor), f), (additive_terms(p), first_shift)]
    )
    shifted = _fixed(runtime, shifted, f)
    (large_result,) = truncate_many(
        runtime, [(product_terms(shifted, signed_power), 61 - f - first_shift)]
    )
    middle, large_result = _fixed(runtime, middle, f), _fixed(runtime, large_result, f)
    # 6. Select the regime; branches computed for other regimes may hold garbage, multiplied by 0.
    return small + _sum_of_products(
        runtime, [(not_small, middle - small), (large, large_result - middle)]
    )


def _sum_of_products(
    runtime, pairs: list[tuple[ArithmeticShare, ArithmeticShare]]
) -> FixedPointShare:
    """Return ``sum(b_i * v_i)`` for integer ``b_i`` and fixed-point ``v_i`` in one round (one reshare)."""
    term = product_terms(*pairs[0])
    for left, right in pairs[1:]:
        term += product_terms(left, right)
    components = np.empty((2, *term.shape), dtype=np.uint64)
    components[0] = term
    components[1] = runtime.reshare(components[0])
    return FixedPointShare(runtime, components, pairs[0][1].fractional_bits)
