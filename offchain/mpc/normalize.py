"""The magnitude of a shared value as a power of two: its top bit, one-hot, and powers from it.

Division, square root and logarithm all start by writing ``|Y| = a * 2**(k+1)``
with ``a`` in ``[1/2, 1]`` (``Y`` the integer encoding, ``k`` the position of
its top bit). In SecretFlow SPU's style:

1. A2B gives the bits of ``Y``; the sign bit ``s`` is bit 63.
2. ``t = Y ^ fill(s)`` is ``Y`` for ``Y >= 0`` and ``~Y = |Y| - 1`` otherwise
   (local); an OR prefix from the top turns ``t`` into
   ``S = 2**(k+1) - 1`` and ``h = S ^ (S >> 1) = 2**k`` is one-hot. Using
   ``|Y| - 1`` for negative ``Y`` puts ``a`` in ``(1/2, 1]`` there, which
   every caller accepts. Steps 1 and 2 (:func:`top_bit`) take 14 rounds
   and 144 bytes per element up to 16384 elements (Kogge–Stone, shifts),
   23 rounds and 56 bytes above (Brent–Kung scans on bit-reversed words).
3. Any function of ``k`` is local from there: ``2**g(k)`` is a bit
   rearrangement of ``h`` (one bit is set, so XOR acts as OR), e.g.
   ``reverse(h) >> 3 = 2**(60 - k)``, which a B2A turns into an arithmetic
   sharing (:func:`to_arithmetic`); and the binary digits of ``g(k)`` are
   parities of ``S`` under fixed masks (:func:`exponent_digits`), which bit
   injection and a product tree (:func:`product_tree`) turn into ``2**g(k)``
   without an adder.

Every party learns nothing: all steps are on shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from offchain.mpc import binary
from offchain.mpc.arithmetic import mul_many
from offchain.mpc.converters import boolean_to_arithmetic, inject_bits
from offchain.mpc.ring import reverse_bit_index, reverse_bits
from offchain.mpc.shares import ArithmeticShare, BooleanShare

TOP_BIT_LIMIT = 60  # |Y| < 2**61 keeps the normalising power 2**(60 - k) an integer
CHUNK_ELEMENTS = 1 << 15  # elements per piece of local work


@dataclass(frozen=True)
class TopBit:
    """The boolean view of a value's magnitude (flattened to one dimension).

    ``prefix``: components of ``2**(k+1) - 1``; ``sign``: of the sign bit as
    0/1 words; ``one_hot``: of ``2**k`` in natural bit order (derived on use).
    All ``(2, n)`` uint64. With ``bit_reversed`` the prefix word is in the
    bit-index-reversed layout (:func:`offchain.mpc.ring.reverse_bit_index`):
    read its bits with :func:`prefix_bit` and :func:`exponent_digits`.
    """

    prefix: np.ndarray
    sign: np.ndarray
    bit_reversed: bool = False

    @cached_property
    def one_hot(self) -> np.ndarray:
        """Components of the one-hot word ``2**k`` (``S ^ (S >> 1)``, local)."""
        prefix = reverse_bit_index(self.prefix) if self.bit_reversed else self.prefix
        return np.bitwise_xor(prefix, np.right_shift(prefix, np.uint64(1)))


def top_bit(y: ArithmeticShare, bit_reversed: bool = False) -> TopBit:
    """Return the top bit of ``|y|`` (``|y| - 1`` for negative ``y``) as a prefix word.

    A2B and the OR prefix from the top (:mod:`offchain.mpc.binary`): up to
    ``FEW_ROUNDS_UP_TO`` elements Kogge–Stone and shifts (14 rounds, 144
    bytes per element), above it Brent–Kung scans on bit-index-reversed words
    (23 rounds, 56 bytes). ``bit_reversed`` asks for the prefix word in that
    layout when it is the one computed (check ``TopBit.bit_reversed``; bit
    63, the sign, is in place either way).
    """
    runtime = y.runtime
    flat = y.reshape(-1).components
    u = np.add(flat[0], flat[1]) if runtime.party == 0 else None
    slot = runtime.slot_of_component(2)
    v = flat[slot] if slot is not None else None
    scans = flat.shape[1] > binary.FEW_ROUNDS_UP_TO
    if scans:
        bits = binary.add_split_reversed(runtime, u, v, flat[0])
    else:
        bits = binary.add_split(runtime, u, v, flat[0])
    # t = bits ^ fill(sign): the arithmetic shift spreads each component's bit 63 (XOR-linear)
    magnitude = np.right_shift(bits.view(np.int64), np.int64(63)).view(np.uint64)
    sign = np.bitwise_and(magnitude, np.uint64(1))
    np.bitwise_xor(magnitude, bits, out=magnitude)
    if not scans:
        return TopBit(prefix=binary.or_prefix_from_top(runtime, magnitude), sign=sign)
    prefix = binary.or_suffix_reversed(runtime, magnitude)
    if not bit_reversed:
        prefix = reverse_bit_index(prefix)
    return TopBit(prefix=prefix, sign=sign, bit_reversed=bit_reversed)


def reversed_power(one_hot: np.ndarray, exponent_at_zero: int) -> np.ndarray:
    """Return components of ``2**(exponent_at_zero - k)`` (0 where that exponent is negative).

    ``exponent_at_zero`` must lie in [0, 63]; local (word reversal and a shift).
    """
    return np.right_shift(reverse_bits(one_hot), np.uint64(63 - exponent_at_zero))


def prefix_bit(prefix: np.ndarray, position: int, bit_reversed: bool = False) -> np.ndarray:
    """Return components of the 0/1 flag ``k >= position`` (bit ``position`` of the prefix OR)."""
    if bit_reversed:
        position = _reverse6(position)
    return np.bitwise_and(np.right_shift(prefix, np.uint64(position)), np.uint64(1))


def _reverse6(position: int) -> int:
    return int(f"{position:06b}"[::-1], 2)


def exponent_digits(
    prefix: np.ndarray,
    exponent: Callable[[int], int | None],
    count: int,
    bit_reversed: bool = False,
) -> list[np.ndarray]:
    """Return components (uint8 0/1) of bit ``b`` of ``exponent(k)`` for ``b < count``; local.

    ``prefix`` holds components of ``S = 2**(k+1) - 1`` (or of 0). The one-hot
    ``2**k = S ^ (S >> 1)`` has a single bit set, so bit ``b`` of
    ``exponent(k)`` is its parity under the mask ``M`` of positions ``j``
    whose ``exponent(j)`` has bit ``b``, which is the parity of ``S`` under
    ``M ^ (M << 1)``: XOR-linear, so it applies to each component. Positions
    where ``exponent`` is None (out of range) and ``S = 0`` give digits 0.
    With ``bit_reversed`` the prefix word is bit-index-reversed and so are the masks.
    """
    masks = []
    for bit in range(count):
        mask = 0
        for position in range(64):
            value = exponent(position)
            if value is not None and (value >> bit) & 1:
                mask |= 1 << position
        mask = (mask ^ (mask << 1)) & (2**64 - 1)
        if bit_reversed:
            mask = sum(1 << _reverse6(j) for j in range(64) if (mask >> j) & 1)
        masks.append(np.uint64(mask))
    digits = [np.empty(prefix.shape, dtype=np.uint8) for _ in range(count)]
    scratch = np.empty(min(CHUNK_ELEMENTS, prefix[0].size), dtype=np.uint64)
    for start in range(0, prefix.shape[-1], CHUNK_ELEMENTS):
        part = slice(start, start + CHUNK_ELEMENTS)
        for index in (0, 1):
            words = prefix[index, part]
            masked = scratch[: words.size]
            for mask, digit in zip(masks, digits, strict=True):
                np.bitwise_and(words, mask, out=masked)
                parity = digit[index, part]
                np.bitwise_count(masked, out=parity)
                np.bitwise_and(parity, np.uint8(1), out=parity)
    return digits


def product_tree(factors: list[ArithmeticShare]) -> ArithmeticShare:
    """Return the product of ``factors`` (integer sharings, exact mod 2**64).

    A balanced tree: ``ceil(log2(len(factors)))`` rounds, one ring element
    per product per party, ``len(factors) - 1`` products.
    """
    while len(factors) > 1:
        products = mul_many(list(zip(factors[0::2], factors[1::2], strict=False)))
        factors = products + ([factors[-1]] if len(factors) % 2 else [])
    return factors[0]


def to_arithmetic(runtime, words: list[np.ndarray]) -> list[ArithmeticShare]:
    """B2A several ``(2, n)`` uint64 word arrays in one run (9 rounds)."""
    joined = BooleanShare(runtime, np.concatenate(words, axis=1))
    converted = boolean_to_arithmetic(joined).components
    n = words[0].shape[1]
    return [ArithmeticShare(runtime, converted[:, i * n : (i + 1) * n]) for i in range(len(words))]


def bits_to_integers(runtime, bits: list[np.ndarray]) -> list[ArithmeticShare]:
    """Inject several ``(2, n)`` arrays of 0/1 words in one run (2 rounds)."""
    return [ArithmeticShare(runtime, components) for components in inject_bits(runtime, bits)]
