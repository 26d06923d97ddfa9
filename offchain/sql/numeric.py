"""Quotients and square roots of secret aggregates, over the whole 64-bit range.

AVG, VARIANCE and STDDEV divide sums that can be far larger than the
fixed-point product range (a sum of a million amounts easily exceeds
``2**(62-2f)``), so they are computed in a floating representation and only
the result is converted to fixed point:

1. **Normalise** (:func:`normalize`) a non-negative integer ``X < 2**62``: A2B,
   then an OR prefix from the top bit gives the one-hot word ``2**k`` of the
   top bit ``k`` (``S ^ (S >> 1)``); reversing its bits (local on XOR
   shares) and shifting gives the word ``2**(61-k)``, which B2A turns into an
   arithmetic share; ``X * 2**(61-k)`` truncated by 33 bits is the mantissa
   ``m = X / 2**k`` in ``[1, 2)`` at 28 fractional bits. The bits of ``k``
   are parities of the one-hot word under fixed masks (XOR-linear, local),
   injected into arithmetic in one batch. About 30 rounds.
2. **Reciprocal** of a mantissa in ``[1, 2]``: ``w0 = 2.9142 - a``
   (relative error below 0.086 on ``a/2 in [1/2, 1]``), then three Newton
   steps ``w <- w (2 - a w)``: error below 3e-9 plus rounding of 2**-28.
3. **Inverse square root** of a mantissa in ``[1, 4)``: a linear start and
   four Newton steps ``y <- y (3 - a y**2) / 2``.
4. **Back to fixed point** (:func:`to_fixed_point`): ``m * 2**e`` with a
   secret exponent ``e``: every candidate shift ``j`` of a public range is
   prepared (left shifts are public multiplications, right shifts one batch
   of truncations), equality tests give the one-hot of ``e``, and one
   multiplication selects. Results must fit the fixed-point range
   (``|v| < 2**(63-f)``); anything below ``2**-f`` becomes 0.

Precision: relative error about ``2**-26`` before the final rounding to
``f`` fractional bits. Division by zero yields 0 (callers set NULL).
"""

from __future__ import annotations

import numpy as np

from offchain.mpc import compare, converters
from offchain.mpc.binary import or_prefix_from_top
from offchain.mpc.ring import RING_DTYPE, reverse_bits
from offchain.mpc.shares import ArithmeticShare, BooleanShare, FixedPointShare
from offchain.mpc.truncation import truncate

MANTISSA_BITS = 28
TOP = 61  # inputs must be below 2**62 in magnitude
EXPONENT_BITS = 6
_EXPONENT_MASKS = [np.uint64(sum(1 << j for j in range(64) if (j >> b) & 1))
                   for b in range(EXPONENT_BITS)]


def _parity(words: np.ndarray) -> np.ndarray:
    """Return the parity (0/1) of each uint64 word."""
    words = words.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        words ^= words >> np.uint64(shift)
    return words & np.uint64(1)


def normalize(x: ArithmeticShare
              ) -> tuple[FixedPointShare, ArithmeticShare, ArithmeticShare, ArithmeticShare]:
    """Return ``(m, k, zero, k_bits)`` with ``x = m * 2**k``, ``m`` in [1, 2) at 28 bits.

    Requires ``0 <= x < 2**62``. ``zero`` is a 0/1 share, 1 where ``x == 0``
    (then ``m = k = 0``); ``k_bits`` holds the 6 bits of ``k`` (last axis) as 0/1 shares.
    """
    runtime = x.runtime
    bits = converters.arithmetic_to_boolean(x)
    prefix = or_prefix_from_top(runtime, bits.components.reshape(2, -1))
    top = prefix ^ (prefix >> np.uint64(1))  # one-hot 2**k (0 for x == 0)
    power_word = reverse_bits(top.reshape(-1)).reshape(top.shape) >> np.uint64(63 - TOP)
    power = converters.boolean_to_arithmetic(
        BooleanShare(runtime, np.ascontiguousarray(power_word.reshape(x.components.shape))))
    exponent_words = np.stack([_parity(top & mask) for mask in _EXPONENT_MASKS], axis=-1)
    zero_word = _parity(prefix & np.uint64(1))  # bit 0 of the prefix: 1 iff x != 0
    flags = BooleanShare(runtime, np.concatenate(
        [exponent_words, zero_word[..., None]], axis=-1).reshape(2, *x.shape, EXPONENT_BITS + 1))
    flag_values = converters.bits_to_arithmetic(flags)
    weights = np.array([1 << b for b in range(EXPONENT_BITS)], dtype=np.int64)
    exponent = ArithmeticShare(runtime, np.ascontiguousarray(
        np.sum(flag_values.components[..., :EXPONENT_BITS] * weights.astype(RING_DTYPE),
               axis=-1, dtype=RING_DTYPE)))
    nonzero = ArithmeticShare(runtime, np.ascontiguousarray(flag_values.components[..., -1]))
    scaled = x * power  # in [2**61, 2**62) for x != 0
    mantissa = truncate(scaled, TOP - MANTISSA_BITS)
    exponent_bits = ArithmeticShare(runtime, np.ascontiguousarray(
        flag_values.components[..., :EXPONENT_BITS]))
    return (FixedPointShare(runtime, mantissa.components, MANTISSA_BITS), exponent, 1 - nonzero,
            exponent_bits)


def reciprocal_mantissa(a: FixedPointShare) -> FixedPointShare:
    """Return ``1/a`` for ``a`` in [1, 2] (28 fractional bits); 0 maps to about 2.9 (unused)."""
    half = a.mul_public(0.5)
    w = 2.9142 - 2 * half  # initial approximation of 1/half on [1/2, 1]
    for _ in range(3):
        w = w * (2.0 - half * w)
    return w.mul_public(0.5)


def inverse_sqrt_mantissa(a: FixedPointShare) -> FixedPointShare:
    """Return ``1/sqrt(a)`` for ``a`` in [1, 4) (28 fractional bits)."""
    y = 1.1 - 0.15 * a  # within 10% of 1/sqrt(a) on [1, 4)
    for _ in range(4):
        y = (y * (3.0 - a * (y * y))).mul_public(0.5)
    return y


def to_fixed_point(mantissa: FixedPointShare, exponent: ArithmeticShare, offset: int,
                   low: int = -40, high: int = 62) -> FixedPointShare:
    """Return ``mantissa * 2**(exponent + offset)`` as a fixed-point share (runtime's f bits).

    ``mantissa`` is at 28 fractional bits and below 4; ``exponent`` must lie
    in ``[low, high]`` (outside, the result is 0).
    """
    runtime = mantissa.runtime
    f = runtime.fractional_bits
    shape = mantissa.shape
    # raw result = mantissa_raw * 2**(exponent + offset + f - 28)
    shifts = np.arange(low + offset + f - MANTISSA_BITS, high + offset + f - MANTISSA_BITS + 1)
    raw = ArithmeticShare(runtime, mantissa.components)
    candidates = np.zeros((2, *shape, len(shifts)), dtype=RING_DTYPE)
    right = shifts < 0
    if np.any(right):
        # x >> s for every s at once: x * 2**(31 - s) (below 2**61), truncated by 31 bits.
        amounts = -shifts[right]
        usable = amounts <= 31
        factors = np.zeros(len(amounts), dtype=np.uint64)
        factors[usable] = np.left_shift(np.uint64(1), (31 - amounts[usable]).astype(np.uint64))
        stacked = ArithmeticShare(runtime, np.ascontiguousarray(
            raw.components[..., None] * factors))
        candidates[..., right] = truncate(stacked, 31).components
    left = ~right
    if np.any(left):
        factors = np.left_shift(np.uint64(1), shifts[left].clip(0, 63).astype(np.uint64))
        factors[shifts[left] > 63] = 0
        candidates[..., left] = raw.components[..., None] * factors
    targets = np.arange(low, high + 1, dtype=np.int64)
    expanded = ArithmeticShare(runtime, np.ascontiguousarray(np.broadcast_to(
        exponent.components[..., None], (2, *shape, len(targets)))))
    onehot = compare.equal(expanded, targets)
    selected = (onehot * ArithmeticShare(runtime, candidates)).sum(axis=-1)
    return FixedPointShare(runtime, selected.components, f)


def integer_quotient(numerator: ArithmeticShare, denominator: ArithmeticShare,
                     offset: int = 0, decimal_scale: int = 0) -> FixedPointShare:
    """Return ``numerator / denominator * 2**offset / 10**decimal_scale`` in fixed point.

    Integers (ring values) with ``|numerator| < 2**62``, ``0 <= denominator
    < 2**62``; a zero denominator gives 0. The power of ten is applied to
    the mantissa as ``2**-e / m`` with ``10**s = m * 2**e`` (public, exact to
    2**-28 relative), so decimals lose no precision to fixed-point constants.
    """
    runtime = numerator.runtime
    negative = compare.less_than(numerator, 0)
    magnitude = numerator * (1 - (negative << 1))
    stacked = ArithmeticShare(runtime, np.ascontiguousarray(
        np.stack([magnitude.components, denominator.components], axis=-1)))
    mantissas, exponents, zeros, _ = normalize(stacked)
    top, bottom = mantissas[..., 0], mantissas[..., 1]
    ratio = top * reciprocal_mantissa(bottom)  # in (1/2, 2)
    if decimal_scale:
        ten_mantissa, ten_exponent = _binary_form(10 ** decimal_scale)
        ratio = ratio.mul_public(1.0 / ten_mantissa)  # in (1/4, 2)
        offset -= ten_exponent
    exponent = exponents[..., 0] - exponents[..., 1]
    value = to_fixed_point(ratio, exponent, offset)
    # a zero denominator: force 0
    value = value * (1 - zeros[..., 1])
    return value * (1 - (negative << 1))


def _binary_form(value: int) -> tuple[float, int]:
    """Return ``(m, e)`` with ``value = m * 2**e`` and ``m`` in [1, 2)."""
    exponent = value.bit_length() - 1
    return value / 2**exponent, exponent


def square_root(value: FixedPointShare) -> FixedPointShare:
    """Return ``sqrt(max(value, 0))`` in fixed point (runtime's f bits)."""
    runtime = value.runtime
    f = value.fractional_bits
    positive = value * compare.greater_than(value, 0)
    raw = ArithmeticShare(runtime, positive.components)
    mantissa, _, zero, bits = normalize(raw)  # value_raw = m * 2**k
    # Make the exponent even: odd k -> m * 2 in [2, 4), k - 1.
    odd = bits[..., 0]
    adjusted = mantissa + mantissa * odd  # m * (1 + odd)
    root = adjusted * inverse_sqrt_mantissa(adjusted)  # sqrt(adjusted) in [1, 2)
    weights = np.array([0] + [1 << (b - 1) for b in range(1, EXPONENT_BITS)], dtype=np.uint64)
    half_exponent = ArithmeticShare(runtime, np.ascontiguousarray(
        np.sum(bits.components * weights, axis=-1, dtype=RING_DTYPE)))  # floor(k / 2)
    # sqrt(raw / 2**f) = sqrt(adjusted) * 2**((k - odd - f) / 2); f is even or handled by offset
    if f % 2:
        raise ValueError("square_root needs an even number of fractional bits")
    result = to_fixed_point(root, half_exponent, -(f // 2), low=-20, high=31)
    return result * (1 - zero)


def divide_values(runtime, left, right, null, wide: bool = True):
    """``left / right`` for fixed-point values (SQL ``/``); NULL when dividing by zero.

    ``wide`` (values of groups: sums, counts) uses :func:`integer_quotient`,
    exact over the whole ring; otherwise (row values, where millions of
    divisions make its exponent one-hot costly) the engine's fixed-point
    division, within its contract (dividend below 5.4e8 and quotient below
    1.07e9 at f = 16, as for fixed-point products).
    """
    from offchain.sql.evaluate import Value
    from offchain.sql.types import DOUBLE

    a, b = left.data, right.data
    if not isinstance(b, ArithmeticShare):
        if float(b) == 0.0:
            return Value(0.0 if not isinstance(a, ArithmeticShare) else a * 0, _all_null(
                runtime, a), DOUBLE)
        if isinstance(a, ArithmeticShare):
            return Value(a.mul_public(1.0 / float(b)), null, DOUBLE)
        return Value(float(a) / float(b), null, DOUBLE)
    if not isinstance(a, ArithmeticShare):
        from offchain.mpc.sharing import share_public

        a = share_public(runtime, np.full(b.shape, float(a)), "fixed")
    by_zero = compare.equal(ArithmeticShare(runtime, b.components), 0)
    null = by_zero if null is None else null + by_zero - null * by_zero
    if not wide:
        from offchain.mpc.division import divide

        return Value(divide(a, b), null, DOUBLE)
    # numerator and denominator as integers at f bits: a_raw / b_raw
    a_raw = ArithmeticShare(runtime, a.components)
    b_raw = ArithmeticShare(runtime, b.components)
    negative = compare.less_than(b_raw, 0)
    sign = 1 - (negative << 1)
    quotient = integer_quotient(a_raw * sign, b_raw * sign, 0)
    return Value(quotient, null, DOUBLE)


def _all_null(runtime, like):
    from offchain.mpc.sharing import share_public

    shape = like.shape if isinstance(like, ArithmeticShare) else ()
    return share_public(runtime, np.ones(shape, dtype=np.int64))
