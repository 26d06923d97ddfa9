"""Reciprocal and inverse square root of shared positive values, by normalisation and Newton.

Both start by finding the position ``p`` of the most significant bit of a
shared non-negative integer ``V`` (the raw ring value of a fixed-point
share): A2B (8 rounds), a prefix OR from the top (6 rounds), then the
one-hot word ``S ^ (S >> 1)`` split into bits and converted to arithmetic
0/1 (2 rounds): :func:`msb_one_hot`, 16 rounds. With the one-hot bits
``e_p``, any public table ``T[p]`` is looked up locally as ``sum_p e_p T[p]``
— in particular the power of two that brings ``V`` into ``[1/2, 1)`` (or
``[1/4, 1)`` with an even exponent) and the power of two that undoes it.

* :func:`divide_fraction` — ``N / D`` for shared integers ``0 <= N <= D < 2**40``
  (an AUC is ``U / (P N)``): normalise ``m = D / 2**(p+1)``, Newton
  ``y <- y (2 - m y)`` from ``48/17 - 32/17 m`` (3 iterations, relative error
  below 2e-10 before rounding), result ``(N / 2**(p+1)) y``. 35 rounds.
  ``D = 0`` gives 0.
* :func:`inverse_sqrt` — ``1 / sqrt(v)`` for ``0 <= v`` given as raw ``v * 2**f < 2**60``:
  ``m = v / 4**k`` in ``[1/4, 1)``, Newton ``y <- y (3 - m y**2) / 2`` from
  ``2.1328125 - 1.21875 m`` (initial relative error 0.086, then 0.011,
  1.8e-4, 5e-8), result ``y * 2**((f - 2k)/2)`` with ``K`` fractional bits
  (:func:`offchain.ml.ranges.inverse_std_bits`). 40 rounds. ``v = 0`` gives 0,
  which standardises a constant column to zeros.

Internal precision: 28 fractional bits (the engine's maximum), values below 4.
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError
from offchain.mpc import binary
from offchain.mpc.arithmetic import mul, raw_product_terms
from offchain.mpc.converters import arithmetic_to_boolean, bits_to_arithmetic
from offchain.mpc.ring import RING_DTYPE, to_ring
from offchain.mpc.shares import ArithmeticShare, BooleanShare, FixedPointShare
from offchain.mpc.truncation import truncate_terms

WORKING_BITS = 28
MAX_DIVISOR_BITS = 40


def msb_one_hot(value: ArithmeticShare, positions: int = 64) -> ArithmeticShare:
    """Return integer 0/1 sharings ``e_p = [p == msb(value)]`` for p < ``positions``, shape (positions, *shape).

    ``value`` is read as an unsigned 64-bit integer; all ``e_p`` are 0 when
    it is 0. Bits at or above ``positions`` must be zero (the caller's
    contract); only the first ``positions`` bits are converted. 16 rounds.
    """
    if not 1 <= positions <= 64:
        raise InputError(f"positions must lie in [1, 64], got {positions}")
    runtime = value.runtime
    words = arithmetic_to_boolean(ArithmeticShare(runtime, value.components)).components.reshape(2, -1)
    prefix = binary.or_prefix_from_top(runtime, words)
    one_hot = np.bitwise_xor(prefix, np.right_shift(prefix, np.uint64(1)))
    shifts = np.arange(positions, dtype=np.uint64).reshape(1, -1, 1)
    split = np.bitwise_and(np.right_shift(one_hot[:, np.newaxis, :], shifts), np.uint64(1))
    bits = bits_to_arithmetic(BooleanShare(runtime, np.ascontiguousarray(split)))
    return ArithmeticShare(runtime, bits.components.reshape(2, positions, *value.shape))


def lookup(one_hot: ArithmeticShare, table: np.ndarray) -> ArithmeticShare:
    """Return ``sum_p e_p * table[p]`` (integer sharing, local) for public integer ``table``."""
    entries = to_ring(np.asarray(table, dtype=np.int64)) if np.asarray(table).dtype != RING_DTYPE else table
    components = np.tensordot(entries, one_hot.components, axes=([0], [1]))
    return ArithmeticShare(one_hot.runtime, np.ascontiguousarray(components))


def _fixed(runtime, components: np.ndarray, bits: int = WORKING_BITS) -> FixedPointShare:
    return FixedPointShare(runtime, components, bits)


def _truncate_product(x: ArithmeticShare, y: ArithmeticShare, shift: int, bits: int) -> FixedPointShare:
    """Return ``x * y / 2**shift`` as a fixed-point sharing with ``bits`` fractional bits (2 rounds)."""
    term = raw_product_terms(x, y)
    return _fixed(x.runtime, truncate_terms(x.runtime, term, shift, helper_term_travels=True), bits)


def divide_fraction(numerator: ArithmeticShare, denominator: ArithmeticShare, fractional_bits: int) -> FixedPointShare:
    """Return ``N / D`` with ``fractional_bits`` fractional bits, for integers ``0 <= N <= D < 2**40``.

    ``D = 0`` returns 0. Error: a few units of ``2**-fractional_bits``. 35 rounds.
    """
    if numerator.shape != denominator.shape:
        raise InputError(f"numerator {numerator.shape} and denominator {denominator.shape} differ in shape")
    runtime = denominator.runtime
    one_hot = msb_one_hot(denominator, MAX_DIVISOR_BITS)
    positions = np.arange(MAX_DIVISOR_BITS)
    # m = D / 2**(p + 1) in [1/2, 1) at scale 2**S: multiply by 2**(S + T - 1 - p), truncate by T.
    normalize_shift = MAX_DIVISOR_BITS - WORKING_BITS
    scale_up = lookup(one_hot, np.left_shift(1, WORKING_BITS + normalize_shift - 1 - positions).astype(np.int64))
    empty = 1 - one_hot.sum(axis=0)  # 1 exactly when D == 0
    pair = _truncate_product(
        ArithmeticShare(runtime, np.stack([denominator.components, numerator.components], axis=1)),
        ArithmeticShare(runtime, np.stack([scale_up.components, scale_up.components], axis=1)),
        normalize_shift,
        WORKING_BITS,
    )
    m = pair[0] + _fixed(runtime, (empty * (1 << (WORKING_BITS - 1))).components)
    scaled_numerator = pair[1]
    y = m.mul_public(-32 / 17) + 48 / 17
    for _ in range(3):
        y = y * (2 - m * y)
    return _truncate_product(scaled_numerator, y, 2 * WORKING_BITS - fractional_bits, fractional_bits)


RSQRT_INITIAL = (2.1328125, 1.21875)  # y0 = a - b m, max relative error 0.086 on [1/4, 1]


def inverse_sqrt(
    variance: ArithmeticShare, fractional_bits: int, output_bits: int, max_raw_bits: int = 60
) -> FixedPointShare:
    """Return ``1 / sqrt(v)`` with ``output_bits`` fractional bits (0 where ``v == 0``); 40 rounds.

    ``variance`` holds the raw ring values ``round(v * 2**fractional_bits)`` (an even number of
    fractional bits, any up to 60), all in ``[0, 2**max_raw_bits)``, ``max_raw_bits <= 60``;
    larger raw values (or negative ones, which are huge unsigned) count as 0.
    """
    f = fractional_bits
    if f % 2 or not 0 <= f <= 60:
        raise InputError(f"inverse_sqrt needs an even number of fractional bits in [0, 60], got {f}")
    if not 2 <= max_raw_bits <= 60:
        raise InputError(f"max_raw_bits must lie in [2, 60], got {max_raw_bits}")
    runtime = variance.runtime
    one_hot = msb_one_hot(variance, max_raw_bits)
    positions = np.arange(max_raw_bits)
    exponents = positions + 1 + (positions + 1) % 2  # q(p): even, 2**(q-2) <= v_raw < 2**q
    # m = v_raw / 2**q in [1/4, 1) at scale 2**S: multiply by 2**(S + T - q), truncate by T.
    normalize_shift = max(0, int(exponents.max()) - WORKING_BITS)
    scale_up = lookup(one_hot, np.left_shift(1, WORKING_BITS + normalize_shift - exponents).astype(np.int64))
    empty = 1 - one_hot.sum(axis=0)
    raw = ArithmeticShare(runtime, variance.components)
    if normalize_shift:
        m = _truncate_product(raw, scale_up, normalize_shift, WORKING_BITS)
    else:
        m = _fixed(runtime, mul(raw, scale_up).components)
    m = m + _fixed(runtime, (empty * (1 << (WORKING_BITS - 1))).components)
    a, b = RSQRT_INITIAL
    y = m.mul_public(-b) + a
    for _ in range(3):
        t = m * (y * y)
        y = _truncate_product(y, 3 - t, WORKING_BITS + 1, WORKING_BITS)
    # 1/sqrt(v) = y * 2**((f - q) / 2); at scale 2**K: multiply y (scale 2**S) by 2**(K - S + (f - q)/2).
    exponent = output_bits - WORKING_BITS + (f - exponents) // 2
    undo_shift = max(0, -int(exponent.min()))
    scale_down = lookup(one_hot, np.left_shift(1, exponent + undo_shift).astype(np.int64))
    if undo_shift:
        return _truncate_product(y, scale_down, undo_shift, output_bits)
    return _fixed(runtime, mul(ArithmeticShare(runtime, y.components), scale_down).components, output_bits)
