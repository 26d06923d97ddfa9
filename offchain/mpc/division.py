"""Reciprocal and division of fixed-point sharings (f fractional bits, 15 <= f <= 28).

``x / y`` with ``Y`` the encoding of ``y`` and ``k`` the top bit of ``|Y|``:

1. Normalise (:mod:`offchain.mpc.normalize`): ``F = ±2**(60-k)`` (sign of
   ``y`` included) and ``a = Y * F / 2**(61-D)``, the real ``|y| / 2**(k+1)``
   in ``[1/2, 1]`` at ``D = 28`` internal fractional bits.
2. Goldschmidt: ``w0 = 2.9142 - 2a`` (local: the slope is an integer),
   ``e0 = 1 - a w0`` with ``|e0| <= 0.0858`` on [1/2, 1], then three steps
   ``w <- w (1 + e)``, ``e <- e**2``: relative error ``e0**8 <= 3e-9`` plus
   truncation errors of ``2**-28``.
3. The quotient is ``x' / a`` with ``x' = x * 2**(f-1-k)``: for ``k < f``
   (``|y| < 1``) ``x * L``, ``L = 2**(f-1-k)`` exactly (an integer product, so
   the small divisor's large reciprocal never amplifies a rounding); for
   ``f <= k <= 2f - 1`` ``x * M / 2**f`` with ``M = 2**(2f-1-k)``; for
   ``k >= 2f`` ``(x >> s1) * F / 2**(61-f-s1)`` (two steps keep every product
   below 2**62). ``L``, ``M`` are exact truncations of ``F``. The regime is
   chosen by the shared bits ``k >= f``, ``k >= 2f`` (one round); branches of
   other regimes may overflow, which is harmless since they are multiplied
   by 0 (the truncation input is still perfectly masked). These run in the
   same protocol runs as Goldschmidt's stages.
4. ``x' / a`` in two limbs: ``1/a`` at ``f`` bits and its next 8 bits at
   ``f + 8``, so the relative error is about ``2**-(f+8)``.

**Contract** (``f`` = 16 figures in brackets): ``|y| < 2**(61-f)`` [3.5e13],
``|x| < 2**(61-2f)`` [5.4e8], ``|x / y| < 2**(62-2f)`` [1.07e9]. Error at
most ``2**-(f-1) * |x / y| * 2**-8`` relative plus 3 units in the last
place. ``x / 0`` returns 0 (as does ``x / -2**-f``, the one value whose
magnitude minus one is 0). Rounds: 40.
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


def _goldschmidt_steps(runtime, a: FixedPointShare):
    """Yield the stages of Goldschmidt's ``1/a`` for ``a`` in [1/2, 1] at ``INTERNAL_BITS``.

    ``w0 = 2.9142 - 2a`` is local (the slope is an integer) and
    ``e0 = 1 - a w0 = 1 - 2.9142 a + 2 a**2`` is one truncation; three steps
    ``w <- w (1 + e)``, ``e <- e**2`` follow. The generator yields the
    truncation items of each stage and receives their results, so callers can
    run independent truncations in the same protocol runs.
    """
    D = INTERNAL_BITS
    w = a.mul_public(-2) + RECIPROCAL_INTERCEPT
    terms = linear_terms(runtime, 1.0, [(-RECIPROCAL_INTERCEPT, a)], D)
    terms += raw_product_terms(a, a) << np.uint64(1)
    (e,) = yield [(terms, D)]
    e = _fixed(runtime, e, D)
    for _ in range(2):
        w_next, e_next = yield [(raw_product_terms(w, e + 1.0), D), (raw_product_terms(e, e), D)]
        w, e = _fixed(runtime, w_next, D), _fixed(runtime, e_next, D)
    return raw_product_terms(w, e + 1.0)  # 1/a at 2D bits, to be truncated by the caller


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
    # 1. Normalise y: F = ±2**(60-k) (sign of y); a = |y| / 2**(k+1) at D bits; by exact
    #    truncations of F, L = ±2**(f-1-k) (exact for k < f) and M = ±2**(2f-1-k) (k <= 2f-1).
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
    travelling = additive_terms(signed_power)
    a, small_factor, middle_factor = truncate_many(
        runtime,
        [
            (raw_product_terms(y, signed_power), 61 - D),
            (travelling, 61 - f),
            (travelling.copy(), 60 - middle_top),
        ],
    )
    a = _fixed(runtime, a, D)
    small_factor = ArithmeticShare(runtime, small_factor)
    middle_factor = ArithmeticShare(runtime, middle_factor)
    # 2. Scale x by 2**(f-1-k) (sign of y included), so that the quotient is x' / a:
    #    k < f: x * L exactly; f <= k <= 2f-1: x * M / 2**f; k >= 2f: (x >> s1) * F / 2**(61-f-s1)
    #    (two steps keep every product below 2**62). These run alongside Goldschmidt's stages.
    if isinstance(x, FixedPointShare):
        x_terms = additive_terms(x)
        small = mul(x, small_factor)
    else:
        encoded = FixedPoint(f).encode(x)
        x_terms = np.where(runtime.party == 0, encoded, np.uint64(0)).astype(np.uint64)
        small = FixedPointShare(runtime, small_factor.mul_public(encoded).components, f)

    def x_times(factor: ArithmeticShare) -> np.ndarray:
        """Additive term of x * factor (x a share or public)."""
        if isinstance(x, FixedPointShare):
            return raw_product_terms(x, factor)
        return additive_terms(ArithmeticShare(runtime, factor.components * encoded))

    stages = _goldschmidt_steps(runtime, a)
    goldschmidt_items = next(stages)
    *done, middle, shifted = truncate_many(
        runtime, [*goldschmidt_items, (x_times(middle_factor), f), (x_terms, first_shift)]
    )
    shifted = _fixed(runtime, shifted, f)
    goldschmidt_items = stages.send(done)
    *done, large_x = truncate_many(
        runtime,
        [*goldschmidt_items, (raw_product_terms(shifted, signed_power), 61 - f - first_shift)],
    )
    middle, large_x = _fixed(runtime, middle, f), _fixed(runtime, large_x, f)
    # Select the regime; branches computed for other regimes may hold garbage, multiplied by 0.
    scaled_x = small + _sum_of_products(
        runtime, [(not_small, middle - small), (large, large_x - middle)]
    )
    goldschmidt_items = stages.send(done)
    try:
        stages.send(truncate_many(runtime, goldschmidt_items))
    except StopIteration as finished:
        inverse_terms = finished.value
    # 3. 1/a at f bits, and its next 8 bits as a second limb (at f + 8 bits).
    inverse, inverse_fine = truncate_many(
        runtime, [(inverse_terms, 2 * D - f), (inverse_terms.copy(), 2 * D - f - EXTRA_BITS)]
    )
    inverse = _fixed(runtime, inverse, f)
    extra = _fixed(
        runtime, inverse_fine - (inverse.components << np.uint64(EXTRA_BITS)), f + EXTRA_BITS
    )
    # 4. Q = x' / a in two limbs.
    main, fine = truncate_many(
        runtime,
        [
            (raw_product_terms(scaled_x, inverse), f),
            (raw_product_terms(scaled_x, extra), f + EXTRA_BITS),
        ],
    )
    return _fixed(runtime, main, f) + _fixed(runtime, fine, f)


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
