"""Natural logarithm of fixed-point sharings (for log-loss).

With ``X`` the encoding of ``x > 0`` and ``k`` its top bit,
``ln x = ln 2 * (k + 1 - f + log2 a)`` where ``a = X / 2**(k+1)`` lies in ``[1/2, 1)``.

1. Top bit (14 or 23 rounds). From the one-hot ``2**k`` two words are local:
   ``2**(60-k)`` (reverse and shift) and the binary digits of ``k`` (bit
   ``t`` of ``k`` is the parity of the one-hot word masked to positions
   whose index has bit ``t``: XOR folds), placed at ``f`` fractional bits.
   One B2A converts both (9 rounds).
2. ``a = X 2**(60-k) / 2**(61-D)`` at ``D = 28`` bits (2 rounds).
3. ``log2 a``: degree-8 minimax polynomial on [1/2, 1] (absolute error
   4.2e-8); powers ``a**2 .. a**8`` in three multiplication rounds (6
   rounds); ``ln x`` is one linear combination of the powers and ``k``,
   truncated once (2 rounds).

**Contract.** Requires ``0 < x < 2**(61-f)``; ``x <= 0`` gives meaningless
values. Absolute error at most ``2**-(f-1)``. Rounds: 33 up to 16384 elements, 46 above.
"""

from __future__ import annotations

import math

import numpy as np

from offchain.errors import InputError
from offchain.mpc.arithmetic import raw_product_terms
from offchain.mpc.division import linear_terms
from offchain.mpc.normalize import reversed_power, to_arithmetic, top_bit
from offchain.mpc.shares import FixedPointShare
from offchain.mpc.truncation import truncate_many

INTERNAL_BITS = 28
LOG2_COEFFICIENTS = (
    -4.42539354425,
    16.3096129484,
    -40.0285626078,
    74.2879240633,
    -96.2150068223,
    84.4408469557,
    -47.8949248087,
    15.8522666139,
    -2.32676284056,
)  # minimax log2(a) on [1/2, 1], absolute error 4.2e-8
_INDEX_MASKS = [np.uint64(sum(1 << j for j in range(64) if (j >> t) & 1)) for t in range(6)]


def _parity(words: np.ndarray) -> np.ndarray:
    """Return the XOR of all 64 bits of each word, in bit 0 (XOR-linear)."""
    folded = words.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        np.bitwise_xor(folded, np.right_shift(folded, np.uint64(shift)), out=folded)
    return np.bitwise_and(folded, np.uint64(1))


def index_of_one_hot(one_hot: np.ndarray) -> np.ndarray:
    """Return ``k`` for each one-hot word ``2**k`` (0 for the zero word), XOR-linear."""
    index = np.zeros_like(one_hot)
    for t, mask in enumerate(_INDEX_MASKS):
        index |= _parity(np.bitwise_and(one_hot, mask)) << np.uint64(t)
    return index


def log(x: FixedPointShare) -> FixedPointShare:
    """Return ``ln x`` elementwise for ``x > 0`` (see the module docstring)."""
    if not isinstance(x, FixedPointShare):
        raise InputError("log needs a fixed-point share (share data with kind='fixed')")
    runtime, f, shape = x.runtime, x.fractional_bits, x.shape
    if not 8 <= f <= 26:
        raise InputError(f"log supports 8 to 26 fractional bits, the share has {f}")
    D = INTERNAL_BITS
    flat = x.reshape(-1)
    magnitude = top_bit(flat)
    index_word = np.left_shift(index_of_one_hot(magnitude.one_hot), np.uint64(D))
    power, index = to_arithmetic(runtime, [reversed_power(magnitude.one_hot, 60), index_word])
    (a,) = truncate_many(runtime, [(raw_product_terms(flat, power), 61 - D)])
    a = FixedPointShare(runtime, a, D)
    (a2,) = truncate_many(runtime, [(raw_product_terms(a, a), D)])
    a2 = FixedPointShare(runtime, a2, D)
    a3, a4 = (
        FixedPointShare(runtime, c, D)
        for c in truncate_many(
            runtime, [(raw_product_terms(a2, a), D), (raw_product_terms(a2, a2), D)]
        )
    )
    higher = truncate_many(runtime, [(raw_product_terms(a4, p), D) for p in (a, a2, a3, a4)])
    powers = [a, a2, a3, a4, *(FixedPointShare(runtime, c, D) for c in higher)]
    ln2 = math.log(2)
    pairs = [(ln2 * c, p) for c, p in zip(LOG2_COEFFICIENTS[1:], powers, strict=True)]
    pairs.append((ln2, FixedPointShare(runtime, index.components, D)))  # k at D bits
    constant = ln2 * (LOG2_COEFFICIENTS[0] + 1 - f)
    (value,) = truncate_many(runtime, [(linear_terms(runtime, constant, pairs, D), 2 * D - f)])
    return FixedPointShare(runtime, value.reshape((2, *shape)), f)
