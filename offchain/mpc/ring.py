"""The ring Z_2^64 on numpy uint64 arrays, and the bit manipulations the protocols share.

Every share component is a ``numpy.uint64`` array; numpy's uint64 arithmetic
wraps, so ``+``, ``-`` and ``*`` on components are exactly the ring operations
mod 2**64. Signed values use two's complement: the ring element ``u`` stands
for ``u - 2**64`` when ``u >= 2**63``.

Python integers never meet uint64 arrays directly (numpy refuses negative
Python ints there); constants go through :func:`to_ring` or ``np.uint64``.
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError

RING_BITS = 64
RING_DTYPE = np.dtype(np.uint64)
ALL_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
SIGN_BIT = np.uint64(1 << 63)


def to_ring(values: object) -> np.ndarray:
    """Return integer ``values`` as a uint64 array mod 2**64 (two's complement for negatives).

    Accepts Python ints, bools and numpy integer arrays of any width. Python
    ints must lie in [-2**63, 2**64). Refuses floats: encode reals with
    :func:`offchain.mpc.fixedpoint.encode` instead.
    """
    array = np.asarray(values)
    if array.dtype == RING_DTYPE:
        return array
    if array.dtype.kind == "b":
        return array.astype(RING_DTYPE)
    if array.dtype.kind in "iu":
        return array.astype(RING_DTYPE)
    if array.dtype.kind == "O":
        return _python_ints_to_ring(array)
    raise InputError(
        f"ring values must be integers, got dtype {array.dtype}; encode real numbers "
        f"with offchain.mpc.fixedpoint.encode or share them as fixed point"
    )


def _python_ints_to_ring(array: np.ndarray) -> np.ndarray:
    flat = array.reshape(-1)
    out = np.empty(flat.shape, dtype=RING_DTYPE)
    for index, item in enumerate(flat):
        if not isinstance(item, (int, np.integer)) or isinstance(item, bool):
            raise InputError(
                f"ring values must be integers, got {item!r} of type {type(item).__name__}"
            )
        value = int(item)
        if not -(1 << 63) <= value < (1 << 64):
            raise InputError(
                f"integer {value} does not fit in 64 bits; values must lie in [-2**63, 2**64)"
            )
        out[index] = value % (1 << 64)
    return out.reshape(array.shape)


def to_signed(ring_values: np.ndarray) -> np.ndarray:
    """Return ring elements read as signed two's-complement int64 (a view, no copy)."""
    return np.asarray(ring_values, dtype=RING_DTYPE).view(np.int64)


def check_unsigned(array: np.ndarray, what: str) -> None:
    """Refuse arrays that are not unsigned integers (boolean share words)."""
    if array.dtype.kind != "u":
        raise InputError(f"{what} must be an unsigned integer array, got dtype {array.dtype}")


# Masks for the bit permutations below: swap adjacent 1-, 2- and 4-bit groups.
_SWAP_MASKS = (
    (np.uint64(1), np.uint64(0x5555_5555_5555_5555)),
    (np.uint64(2), np.uint64(0x3333_3333_3333_3333)),
    (np.uint64(4), np.uint64(0x0F0F_0F0F_0F0F_0F0F)),
)


def reverse_bits(words: np.ndarray) -> np.ndarray:
    """Return the uint64 ``words`` with their 64 bits in reverse order (bit j -> bit 63 - j).

    XOR-linear, so applying it to each component of a boolean sharing reverses
    the shared value.
    """
    words = np.asarray(words, dtype=RING_DTYPE)
    out = words.byteswap()
    scratch = np.empty_like(out)
    for shift, mask in _SWAP_MASKS:
        # out = ((out >> s) & m) | ((out & m) << s), in place to avoid temporaries
        np.right_shift(out, shift, out=scratch)
        np.bitwise_and(scratch, mask, out=scratch)
        np.bitwise_and(out, mask, out=out)
        np.left_shift(out, shift, out=out)
        np.bitwise_or(out, scratch, out=out)
    return out


# Delta swaps that exchange index bits (0, 5), (1, 4) and (2, 3) of every bit position:
# (mask of the lower position of each swapped pair, distance to its partner).
_INDEX_SWAPS = (
    (np.uint64(0x0000_0000_AAAA_AAAA), np.uint64(31)),
    (np.uint64(0x0000_CCCC_0000_CCCC), np.uint64(14)),
    (np.uint64(0x00F0_00F0_00F0_00F0), np.uint64(4)),
)


def reverse_bit_index(words: np.ndarray) -> np.ndarray:
    """Return ``words`` with bit ``j`` moved to bit ``reverse6(j)`` (the 6-bit index reversed).

    The bit-reversal permutation of FFTs: afterwards, the bits that a
    binary tree over adjacent bits merges at each level sit in the low and
    high halves of the word (level 1 merges bits 2k, 2k+1, now at positions
    p and p + 32). An involution, XOR-linear, and it fixes bits 0 and 63.
    """
    out = np.array(words, dtype=RING_DTYPE, copy=True)
    flat = out.reshape(-1)
    scratch = np.empty(min(flat.size, _PIECE), dtype=RING_DTYPE)
    for start in range(0, flat.size, _PIECE):
        piece = flat[start : start + _PIECE]  # the 18 passes run while the piece is in cache
        t = scratch[: piece.size]
        for mask, distance in _INDEX_SWAPS:
            # t = (x ^ (x >> d)) & m;  x ^= t ^ (t << d)
            np.right_shift(piece, distance, out=t)
            np.bitwise_xor(t, piece, out=t)
            np.bitwise_and(t, mask, out=t)
            np.bitwise_xor(piece, t, out=piece)
            np.left_shift(t, distance, out=t)
            np.bitwise_xor(piece, t, out=piece)
    return out


_PIECE = 1 << 15  # words per piece of the bit permutations


def fill_with_bit(words: np.ndarray, bit: int) -> np.ndarray:
    """Return words whose every bit equals bit ``bit`` of ``words`` (0 -> 0, 1 -> all ones).

    XOR-linear (two's-complement negation of a 0/1 value), so it spreads a
    shared bit across a shared word component by component.
    """
    words = np.asarray(words)
    one = words.dtype.type(1)
    spread = np.right_shift(words, words.dtype.type(bit))
    np.bitwise_and(spread, one, out=spread)
    return np.negative(spread, out=spread)
