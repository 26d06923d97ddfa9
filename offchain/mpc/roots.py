"""Square root of fixed-point sharings (for standard deviations).

With ``X`` the encoding of ``x >= 0`` and ``k`` its top bit,
``sqrt(x) * 2**f = sqrt(X * 2**f) = sqrt(a) * 2**E`` where
``a = X / 2**(2E - f)`` lies in ``[1/4, 1)`` and ``E = ceil((k + 1 + f) / 2)``.

1. Top bit (:mod:`offchain.mpc.normalize`, 14 or 23 rounds). Both powers are
   local rearrangements of the one-hot ``2**k``: ``N = 2**(61-k-p)`` with
   ``p = (k + 1 + f) mod 2`` (split the one-hot by parity, reverse, shift),
   and ``2**E`` (pair up positions, pack them, shift). One B2A (9 rounds).
2. ``a = X N / 2**(62-D)`` at ``D = 28`` bits (2 rounds).
3. ``y ~ 1/sqrt(a)``: quadratic start (relative error 0.018 on [1/4, 1)),
   two Newton steps ``y (3 - a y**2) / 2`` (relative error 4e-7; 14 rounds);
   ``sqrt(a) = a y`` (2 rounds).
4. ``sqrt(x) = sqrt(a) * 2**E`` (2 rounds).

**Contract.** Requires ``0 <= x < 2**(61-f)`` [3.5e13 at f = 16] (negative inputs give meaningless
values: clamp with ``compare.relu`` first when unsure); ``sqrt(0) = 0``.
Relative error at most ``2**-(f+1)`` plus one unit in the last place.
Rounds: 45 up to 16384 elements, 58 above (the Brent–Kung A2B, OR scans and B2A take
more rounds and far fewer bytes).
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError
from offchain.mpc.arithmetic import raw_product_terms
from offchain.mpc.division import encode_constant, linear_terms
from offchain.mpc.normalize import reversed_power, to_arithmetic, top_bit
from offchain.mpc.shares import ArithmeticShare, FixedPointShare
from offchain.mpc.truncation import truncate_many

INTERNAL_BITS = 28
RSQRT_INITIAL = (2.72602062673, -3.49816243985, 1.80768712329)  # ~ 1/sqrt(a) on [1/4, 1)
_EVEN = np.uint64(0x5555_5555_5555_5555)
_PACK_STEPS = (
    (np.uint64(1), np.uint64(0x3333_3333_3333_3333)),
    (np.uint64(2), np.uint64(0x0F0F_0F0F_0F0F_0F0F)),
    (np.uint64(4), np.uint64(0x00FF_00FF_00FF_00FF)),
    (np.uint64(8), np.uint64(0x0000_FFFF_0000_FFFF)),
    (np.uint64(16), np.uint64(0x0000_0000_FFFF_FFFF)),
)


def pack_even_bits(words: np.ndarray) -> np.ndarray:
    """Move bit ``2i`` of each word to bit ``i`` (odd bits must be zero); XOR-linear."""
    out = np.bitwise_and(words, _EVEN)
    for shift, mask in _PACK_STEPS:
        np.bitwise_xor(out, np.right_shift(out, shift), out=out)
        np.bitwise_and(out, mask, out=out)
    return out


def _powers(one_hot: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray]:
    """Return components of ``N = 2**(61 - k - p)`` and ``2**E`` from the one-hot ``2**k``."""
    # p = (k + 1 + f) mod 2: positions k of the opposite parity to f take the extra halving
    odd_k = np.uint64(0xAAAA_AAAA_AAAA_AAAA)
    shifted_parity = odd_k if f % 2 == 0 else np.uint64(0x5555_5555_5555_5555)
    # p = 1 where k + 1 + f is odd, i.e. k has the parity of f
    parity_one = np.bitwise_and(one_hot, shifted_parity ^ np.uint64(2**64 - 1))
    parity_zero = np.bitwise_and(one_hot, shifted_parity)
    normaliser = reversed_power(parity_zero, 61) ^ reversed_power(parity_one, 60)
    # E = ceil((k + 1 + f) / 2) = floor((k + 2 + f) / 2)
    offset = 2 + f
    if offset % 2:
        moved = np.left_shift(one_hot, np.uint64(1))
        offset -= 1
    else:
        moved = one_hot
    paired = np.bitwise_xor(moved, np.right_shift(moved, np.uint64(1)))  # bit 2i: k in {2i, 2i+1}
    exponent = np.left_shift(pack_even_bits(paired), np.uint64(offset // 2))
    return normaliser, exponent


def sqrt(x: FixedPointShare) -> FixedPointShare:
    """Return ``sqrt(x)`` elementwise for ``x >= 0`` (see the module docstring)."""
    if not isinstance(x, FixedPointShare):
        raise InputError("sqrt needs a fixed-point share (share data with kind='fixed')")
    runtime, f, shape = x.runtime, x.fractional_bits, x.shape
    if not 8 <= f <= 26:
        raise InputError(f"sqrt supports 8 to 26 fractional bits, the share has {f}")
    D = INTERNAL_BITS
    flat = x.reshape(-1)
    magnitude = top_bit(flat)
    normaliser, power = to_arithmetic(runtime, list(_powers(magnitude.one_hot, f)))
    (a,) = truncate_many(runtime, [(raw_product_terms(flat, normaliser), 62 - D)])
    a = FixedPointShare(runtime, a, D)
    c0, c1, c2 = RSQRT_INITIAL
    (a2,) = truncate_many(runtime, [(raw_product_terms(a, a), D)])
    (y,) = truncate_many(
        runtime,
        [(linear_terms(runtime, c0, [(c1, a), (c2, FixedPointShare(runtime, a2, D))], D), D)],
    )
    y = FixedPointShare(runtime, y, D)
    for _ in range(2):
        (y2,) = truncate_many(runtime, [(raw_product_terms(y, y), D)])
        (ay2,) = truncate_many(
            runtime, [(raw_product_terms(a, FixedPointShare(runtime, y2, D)), D)]
        )
        # y (3 - a y^2) / 2 = y * (1.5 - a y^2 / 2): read -a y^2 at D + 1 bits as -a y^2 / 2
        factor = _plus_constant(runtime, np.negative(ay2), 1.5, D + 1)
        (y,) = truncate_many(runtime, [(raw_product_terms(y, factor), D + 1)])
        y = FixedPointShare(runtime, y, D)
    # sqrt(a) at f + 2 bits keeps sqrt(a) * 2**E below 2**62
    (root_a,) = truncate_many(runtime, [(raw_product_terms(a, y), 2 * D - (f + 2))])
    root_a = FixedPointShare(runtime, root_a, f + 2)
    (result,) = truncate_many(
        runtime, [(raw_product_terms(root_a, ArithmeticShare(runtime, power.components)), f + 2)]
    )
    return FixedPointShare(runtime, result.reshape((2, *shape)), f)


def _plus_constant(runtime, components: np.ndarray, constant: float, bits: int) -> ArithmeticShare:
    """Return the sharing ``components + constant`` with the constant at ``bits`` fractional bits (local)."""
    out = components.copy()
    slot = runtime.public_slot
    if slot is not None:
        out[slot] += encode_constant(constant, bits)
    return ArithmeticShare(runtime, out)
