"""Boolean circuits on XOR sharings of bit-sliced words: AND, OR, carry and AND trees, adders, scans.

A word of ``w`` bits packs ``w`` independent boolean values, so one AND of
two words costs one ring element of traffic per party for ``w`` gates.
XOR, NOT, shifts, masks and fixed bit permutations are local.

AND (Araki et al., CCS 2016; ABY3 §5.1, boolean variant): party ``i`` sends
``z_i = x_i&y_i ^ x_i&y_{i+1} ^ x_{i+1}&y_i ^ alpha_i`` to party ``i - 1``;
one round. Every function here batches all the ANDs of a circuit level into
one message, so rounds equal circuit depth.

Adders and OR prefixes come in two forms, picked by size
(:data:`FEW_ROUNDS_UP_TO`): Kogge–Stone and prefix by shifts (fewer rounds)
and Brent–Kung scans on bit-index-reversed words, where the two halves of
each word are the two halves of every aligned block, so each scan level
works on words of half or double the width (fewer bytes).

The functions work on raw component arrays of shape ``(2, n)`` (``[own,
next]``, any unsigned dtype); :class:`~offchain.mpc.shares.BooleanShare`
wrappers are at the end. Local work on large arrays runs in cache-sized
pieces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from offchain.errors import InputError
from offchain.mpc.ring import RING_DTYPE, SIGN_BIT, reverse_bit_index
from offchain.mpc.runtime import Runtime, check_received, expect_arrays
from offchain.mpc.shares import BooleanShare, expand_components
from offchain.mpc.sharing import share_split_value

_NOT_SIGN = np.uint64(~(1 << 63) & (2**64 - 1))
_ALL_ONES = np.uint64(2**64 - 1)
# Up to this many elements, adders and OR prefixes take the variants with fewer rounds
# (Kogge–Stone, 8 rounds and 96 bytes; prefix by shifts, 6 rounds and 48 bytes); above it
# the ones with fewer bytes (Brent–Kung scans on bit-reversed words: 12 rounds and 34 bytes;
# 11 rounds and 22 bytes). Small batches are bound by latency (a round trip per round over a
# network), large ones by the bytes every party hashes, encrypts and sends.
FEW_ROUNDS_UP_TO = 1 << 14
# Elements per piece of local work: three arrays of them fit in a core's L2 cache.
CHUNK_ELEMENTS = 1 << 15


def xor_public(
    runtime: Runtime, components: np.ndarray, public: np.ndarray | np.generic
) -> np.ndarray:
    """Return components of ``x ^ c`` for public ``c`` (added into component 0; local)."""
    out = components.copy()
    slot = runtime.public_slot
    if slot is not None:
        out[slot, ...] ^= public
    return out


def and_term(
    runtime: Runtime, left: np.ndarray, right: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Return this party's masked XOR term of ``left & right`` (local), in ``out`` if given.

    ``out`` must be C-contiguous: the zero sharing is XORed into it in place.
    """
    shape = np.broadcast_shapes(left.shape[1:], right.shape[1:])
    if out is None:
        out = np.empty(shape, dtype=np.result_type(left.dtype, right.dtype))
    if left.shape == right.shape and left.ndim == 2 and out.ndim == 1:
        # Cache-sized pieces: the four passes and the two keystreams touch each piece
        # while it is in cache (the streams are drawn in the same order as unchunked).
        scratch = np.empty(min(CHUNK_ELEMENTS, out.size), dtype=out.dtype)
        for start in range(0, out.size, CHUNK_ELEMENTS):
            stop = min(start + CHUNK_ELEMENTS, out.size)
            _and_term_piece(
                runtime,
                left[:, start:stop],
                right[:, start:stop],
                out[start:stop],
                scratch[: stop - start],
            )
        return out
    return _and_term_piece(runtime, left, right, out, np.empty(shape, dtype=out.dtype))


def _and_term_piece(runtime, left, right, term, scratch):
    np.bitwise_xor(right[0], right[1], out=term)
    np.bitwise_and(term, left[0], out=term)
    np.bitwise_and(left[1], right[0], out=scratch)
    np.bitwise_xor(term, scratch, out=term)
    return runtime.xor_zero_sharing_into(term)


def and_many(runtime: Runtime, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Return the components of ``left & right`` for every pair, in one round.

    The results are read-only: their ``own`` half was sent to a peer.
    """
    results = []
    for left, right in pairs:
        shape = np.broadcast_shapes(left.shape[1:], right.shape[1:])
        out = np.empty((2, *shape), dtype=np.result_type(left.dtype, right.dtype))
        and_term(runtime, left, right, out=out[0, ...])
        results.append(out)
    incoming = runtime.reshare_many([out[0, ...] for out in results])
    for out, following in zip(results, incoming, strict=True):
        out[1, ...] = following
        out.flags.writeable = False
    return results


def _halves(words: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Split every ``width``-bit group into its low and high halves.

    Down to 16-bit halves the split is a dtype view (no copy, half-size
    words follow); below that the halves are masked within bytes.
    """
    half = width // 2
    if half >= 8:
        narrow = words.view(np.dtype(f"u{half // 8}")).reshape((*words.shape, 2))
        return narrow[..., 0], narrow[..., 1], half
    mask = words.dtype.type((1 << half) - 1)
    low = np.bitwise_and(words, mask)
    high = np.right_shift(words, words.dtype.type(half))
    np.bitwise_and(high, mask, out=high)
    return low, high, half


# Low half of every lane of 8, 4 and 2 bits within a byte.
_LANE_LOW_HALVES = {8: np.uint8(0x0F), 4: np.uint8(0x33), 2: np.uint8(0x55)}


def _pad_lanes(words: np.ndarray) -> np.ndarray:
    """Pad ``(2, n)`` uint8 words with zero words to a multiple of 8 elements (a sharing of 0)."""
    missing = -words.shape[-1] % 8
    if not missing:
        return words
    return np.concatenate((words, np.zeros((2, missing), dtype=words.dtype)), axis=-1)


def _packed_halves(words: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Split every ``width``-bit lane of ``(2, m)`` bytes into halves, packed twice as densely.

    Lane ``j`` of byte ``i`` holds element ``i + j m``. The low (and high)
    half-lanes of bytes ``i`` and ``i + m/2`` share one byte, which keeps
    that rule with ``m/2``: ANDs below a byte send only meaningful bits.
    XOR-linear (masks, shifts and ORs of disjoint bits), so it applies to
    each component.
    """
    half = width // 2
    mask = _LANE_LOW_HALVES[width]
    middle = words.shape[-1] // 2
    low = np.bitwise_and(words, mask)
    high = np.right_shift(words, np.uint8(half))
    np.bitwise_and(high, mask, out=high)
    packed_low = np.left_shift(low[..., middle:], np.uint8(half))
    np.bitwise_or(packed_low, low[..., :middle], out=packed_low)
    packed_high = np.left_shift(high[..., middle:], np.uint8(half))
    np.bitwise_or(packed_high, high[..., :middle], out=packed_high)
    return packed_low, packed_high


def _unpack_lanes(bits: np.ndarray, count: int) -> np.ndarray:
    """Return ``(2, count)`` uint8 0/1 from ``(2, m)`` bytes of eight 1-bit lanes (element ``i + j m``)."""
    m = bits.shape[-1]
    out = np.empty((2, 8 * m), dtype=np.uint8)
    for lane in range(8):
        part = out[:, lane * m : (lane + 1) * m]
        np.right_shift(bits, np.uint8(lane), out=part)
        np.bitwise_and(part, np.uint8(1), out=part)
    return out[:, :count]


def _carry_tree(runtime: Runtime, generate: np.ndarray, propagate: np.ndarray) -> np.ndarray:
    """Return the group generate of all 64 (bit-index-reversed) positions as uint8 0/1 (6 rounds).

    Levels on 32-, 16- and 8-bit words are dtype views; below a byte the
    half-lanes of several elements share each byte (:func:`_packed_halves`).
    """
    width = 64
    while width > 8:
        g_low, g_high, width = _halves(generate, width)
        p_low, p_high, _ = _halves(propagate, width * 2)
        through, propagate = and_many(runtime, [(p_high, g_low), (p_high, p_low)])
        generate = np.bitwise_xor(g_high, through)
    count = generate.shape[-1]
    generate, propagate = _pad_lanes(generate), _pad_lanes(propagate)
    while width > 1:
        g_low, g_high = _packed_halves(generate, width)
        p_low, p_high = _packed_halves(propagate, width)
        width //= 2
        if width > 1:
            through, propagate = and_many(runtime, [(p_high, g_low), (p_high, p_low)])
        else:
            (through,) = and_many(runtime, [(p_high, g_low)])
        generate = np.bitwise_xor(g_high, through)
    return _unpack_lanes(generate, count)


def split_generate(runtime: Runtime, propagate: np.ndarray, clear_top: bool = False) -> np.ndarray:
    """Return components of ``g = u & v`` from the sharing ``p = u ^ v`` of :func:`share_split_value`.

    Party 1 holds ``(r, v)`` and party 2 holds ``(v, u ^ r)``, so the AND terms
    are ``z0 = F(k20)``, ``z1 = (r & v) ^ F(k12)``, ``z2 = ((u ^ r) & v) ^ F(k20) ^ F(k12)``
    (XOR to ``u & v``): party 0's term is pure randomness that party 2 draws
    too, so party 0 sends nothing (one round). ``clear_top`` zeroes bit 63
    of every term.
    """
    party = runtime.party
    like = propagate[0, ...]
    generate = np.empty_like(propagate)
    if party == 0:
        runtime.prg_previous.fill(generate[0, ...])  # F(k20) = z0, known to party 2 too
        if clear_top:
            np.bitwise_and(generate[0, ...], _NOT_SIGN, out=generate[0, ...])
        received = runtime.exchange(receive_from=[1])
        (following,) = expect_arrays(received[1], 1, 1, "generate")
        check_received(following, like, 1, "generate")
    else:
        term = np.bitwise_and(propagate[0, ...], propagate[1, ...], out=generate[0, ...])
        if party == 1:
            np.bitwise_xor(
                term, runtime.prg_next.random(like.shape, like.dtype), out=term
            )  # F(k12)
        else:
            z0 = runtime.prg_next.random(like.shape, like.dtype)  # F(k20)
            np.bitwise_xor(term, z0, out=term)
            np.bitwise_xor(
                term, runtime.prg_previous.random(like.shape, like.dtype), out=term
            )  # F(k12)
            if clear_top:
                np.bitwise_and(z0, _NOT_SIGN, out=z0)
        if clear_top:
            np.bitwise_and(term, _NOT_SIGN, out=term)
        if party == 1:
            received = runtime.exchange({0: [term]}, [2])
            (following,) = expect_arrays(received[2], 1, 2, "generate")
            check_received(following, like, 2, "generate")
        else:
            runtime.exchange({1: [term]})
            following = z0
    generate[1, ...] = following
    generate.flags.writeable = False
    return generate


def sign_of_split_sum(
    runtime: Runtime, u: np.ndarray | None, v: np.ndarray | None, like: np.ndarray
) -> np.ndarray:
    """Return the XOR sharing (uint8, 0/1) of ``msb(u + v mod 2**64)`` (8 rounds).

    ``u`` is plaintext at party 0, ``v`` plaintext at parties 1 and 2 (the
    split of an arithmetic sharing, see :mod:`offchain.mpc.compare`). The
    owners reverse the bit index of their words, party 0 shares ``u`` (one
    message), which with ``v`` as the third component is already a sharing
    of ``p = u ^ v``. The generate ``g = u & v`` then needs one AND in which
    party 0's term is pure randomness: it is drawn from the PRG party 0
    shares with party 2, so party 0 sends nothing. Bit 63 is set to pass
    the carry through (``g63 = 0``, ``p63 = 1``), so ``msb(u + v) = u63 ^ v63 ^ c63``
    where a binary tree of (generate, propagate) merges gives the carry
    into bit 63 (ABY3 §5.3 parallel-prefix adder, only the root kept): thanks to
    the bit-index reversal every tree level merges the high half of each word
    with its low half, so each level works on words of half the width
    (per element: 8 bytes for party 0's input or the generate term of parties
    1 and 2, then 8 + 4 + 2 + 1 + 1/2 + 1/8 for the tree, where the levels
    below a byte pack several elements per byte: 23.6 bytes at every party).
    """
    u_reversed = reverse_bit_index(u) if u is not None else None
    v_reversed = reverse_bit_index(v) if v is not None else None
    propagate = share_split_value(runtime, u_reversed, v_reversed, like, boolean=True)
    generate = split_generate(runtime, propagate, clear_top=True)
    # u63 ^ v63 from the top byte of each component, then force p63 = 1 (into component 0).
    top_bit = np.right_shift(propagate.view(np.uint8)[..., 7::8], np.uint8(7))
    propagate = np.bitwise_and(propagate, _NOT_SIGN)
    slot = runtime.public_slot
    if slot is not None:
        np.bitwise_or(propagate[slot, ...], SIGN_BIT, out=propagate[slot, ...])
    return np.bitwise_xor(top_bit, _carry_tree(runtime, generate, propagate))


def all_ones(runtime: Runtime, words: np.ndarray) -> np.ndarray:
    """Return the XOR sharing (uint8, 0/1) of ``words == 2**64 - 1`` (AND of all 64 bits).

    A tree of ANDs, each level on words of half the width, below a byte
    several elements per byte: traffic per element 4 + 2 + 1 + 1/2 + 1/4 +
    1/8 bytes, 6 rounds.
    """
    if words.dtype != RING_DTYPE:
        raise InputError(f"all_ones works on uint64 words, got {words.dtype}")
    width = 64
    while width > 8:
        low, high, width = _halves(words, width)
        (words,) = and_many(runtime, [(low, high)])
    count = words.shape[-1]
    words = _pad_lanes(words)
    while width > 1:
        low, high = _packed_halves(words, width)
        width //= 2
        (words,) = and_many(runtime, [(low, high)])
    return _unpack_lanes(words, count)


def _join_halves(low: np.ndarray, high: np.ndarray, width: int) -> np.ndarray:
    """Return words of ``2 * width`` bits whose low and high halves are ``low`` and ``high``.

    The inverse of :func:`_halves`: a dtype view of interleaved halves from 16
    bits up, shifts and ORs of disjoint bits below (XOR-linear either way).
    """
    if width >= 8:
        joined = np.stack((low, high), axis=-1)
        return joined.view(np.dtype(f"u{width // 4}")).reshape(low.shape)
    # Below a byte the halves are masked first: AND results carry random bits above their
    # width in each component (the zero sharing covers the whole byte).
    lane = np.uint8((1 << width) - 1)
    joined = np.left_shift(np.bitwise_and(high, lane), np.uint8(width))
    return np.bitwise_or(joined, np.bitwise_and(low, lane), out=joined)


def prefix_sum_reversed(
    runtime: Runtime, generate: np.ndarray, propagate: np.ndarray
) -> np.ndarray:
    """Return the bits of ``u + v`` from ``g = u & v`` and ``p = u ^ v`` (10 rounds).

    All words are ``(2, n)`` uint64 components in the bit-index-reversed
    layout (:func:`offchain.mpc.ring.reverse_bit_index`), where the two
    halves of every word are the two halves of every aligned block of bits.
    A Brent–Kung prefix: the up-sweep combines the (generate, propagate) of
    aligned blocks of 2, 4, .., 32 bits on words of halving width, the
    down-sweep hands each block its carry-in (a left block inherits its
    parent's, a right block gets ``G_left ^ (P_left & C_parent)``) on words
    of doubling width; the carry into bit 0 is 0. 2 + 1 + 1 + 1 + 1 + 1 of
    the up-sweep's and 1 + 1 + 1 + 2 + 4 of the down-sweep's... in all
    8 + 4 + 2 + 2 + 1 + 1 + 1 + 1 + 2 + 4 = 26 bytes per element (Kogge–Stone
    sends 88), 63 block carries instead of 6 * 64 prefix steps.
    """
    levels = []  # (G, P, width) of blocks 64 / width bits long, for the down-sweep
    group_generate, group_propagate, width = generate, propagate, 64
    while width > 2:
        levels.append((group_generate, group_propagate, width))
        g_low, g_high, half = _halves(group_generate, width)
        p_low, p_high, _ = _halves(group_propagate, width)
        if half > 2:
            through, group_propagate = and_many(runtime, [(p_high, g_low), (p_high, p_low)])
        else:  # the two 32-bit blocks: only the low one's generate is needed below
            (through,) = and_many(runtime, [(p_high, g_low)])
            group_propagate = None
        group_generate = np.bitwise_xor(g_high, through)
        width = half
    # Width 2: lane 0 is bits 0..31, lane 1 bits 32..63. Their carries-in: 0, and G(0..31).
    carries = np.left_shift(np.bitwise_and(group_generate, np.uint8(1)), np.uint8(1))
    width = 2
    for child_generate, child_propagate, child_width in reversed(levels):
        g_left, _, _ = _halves(child_generate, child_width)
        p_left, _, _ = _halves(child_propagate, child_width)
        (through,) = and_many(runtime, [(p_left, carries)])
        carries = _join_halves(carries, np.bitwise_xor(g_left, through), width)
        width = child_width
    return np.bitwise_xor(propagate, carries)


def add(runtime: Runtime, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return the XOR sharing of ``u + v mod 2**64`` for two shared ``(2, n)`` uint64 words.

    ABY3 §5.3's generate ``g = u & v`` (one AND) and propagate ``p = u ^ v``,
    then Kogge–Stone (7 rounds, 96 bytes per element) up to
    :data:`FEW_ROUNDS_UP_TO` elements, :func:`prefix_sum_reversed` on the
    bit-index-reversed words (the reversal is local; 11 rounds, 34 bytes) above.
    """
    (generate,) = and_many(runtime, [(u, v)])
    propagate = np.bitwise_xor(u, v)
    if u.shape[-1] <= FEW_ROUNDS_UP_TO:
        return kogge_stone(runtime, generate, propagate)
    reversed_sum = prefix_sum_reversed(
        runtime, reverse_bit_index(generate), reverse_bit_index(propagate)
    )
    return reverse_bit_index(reversed_sum)


def add_split_reversed(
    runtime: Runtime, u: np.ndarray | None, v: np.ndarray | None, like: np.ndarray
) -> np.ndarray:
    """Return the bits of ``u + v``, bit-index-reversed, for ``u`` plaintext at party 0 and ``v`` at parties 1, 2.

    The owners reverse their words (local), party 0 shares ``u`` (one
    message), the generate costs party 0 nothing (:func:`split_generate`),
    then :func:`prefix_sum_reversed`: 12 rounds, 34 bytes per element at
    every party (party 0's share or the generate terms of parties 1 and 2,
    and 26 for the prefix).
    """
    u_reversed = reverse_bit_index(u) if u is not None else None
    v_reversed = reverse_bit_index(v) if v is not None else None
    propagate = share_split_value(runtime, u_reversed, v_reversed, like, boolean=True)
    return prefix_sum_reversed(runtime, split_generate(runtime, propagate), propagate)


def add_split(
    runtime: Runtime, u: np.ndarray | None, v: np.ndarray | None, like: np.ndarray
) -> np.ndarray:
    """Return the XOR sharing of ``u + v`` for ``u`` plaintext at party 0 and ``v`` at parties 1, 2.

    Up to :data:`FEW_ROUNDS_UP_TO` elements: party 0 shares ``u``, the generate
    costs party 0 nothing (:func:`split_generate`), then Kogge–Stone (8 rounds,
    96 bytes per element). Above: :func:`add_split_reversed` with the sum's
    bits put back in order (local; 12 rounds, 34 bytes).
    """
    if like.size <= FEW_ROUNDS_UP_TO:
        propagate = share_split_value(runtime, u, v, like, boolean=True)
        return kogge_stone(runtime, split_generate(runtime, propagate), propagate)
    return reverse_bit_index(add_split_reversed(runtime, u, v, like))


def or_suffix_reversed(runtime: Runtime, words: np.ndarray) -> np.ndarray:
    """Return ``S`` with bit ``j`` = OR of bits ``j..63`` of ``words``, both bit-index-reversed (11 rounds).

    ``words`` are ``(2, n)`` uint64 components in the reversed layout of
    :func:`prefix_sum_reversed`. Kept complemented (``x | y = ~(~x & ~y)``):
    the up-sweep marks the aligned blocks that are all zero (words of
    halving width), the down-sweep marks for every block whether all bits
    above it are zero (a right block inherits its parent's mark, a left
    block ANDs it with its right sibling's). At single bits, the right
    bit's ``~S`` is its own zero mark AND its parent's, the left bit's that
    AND its own mark (two rounds). 4 + 2 + 1 + 1 + 1 bytes up,
    1 + 1 + 1 + 2 + 4 + 4 down: 22 bytes per element (the prefix by
    shifts sends 48). With one bit set at the top position ``k``, ``S`` is
    ``2**(k+1) - 1``.
    """
    zero = xor_public(runtime, words, _ALL_ONES)  # ~t: bit set where t is 0
    levels = []
    width = 64
    while width > 2:
        levels.append((zero, width))
        low, high, width = _halves(zero, width)
        (zero,) = and_many(runtime, [(low, high)])
    # Width 2: lane 0 is bits 0..31, lane 1 bits 32..63. Nothing is above lane 1 (mark 1,
    # a public constant), lane 0 has lane 1 above it.
    above = np.bitwise_and(np.right_shift(zero, np.uint8(1)), np.uint8(1))
    above = xor_public(runtime, above, np.uint8(0b10))
    width = 2
    for child_zero, child_width in reversed(levels):
        left, right, _ = _halves(child_zero, child_width)
        if child_width < 64:
            (left_above,) = and_many(runtime, [(above, right)])
            above = _join_halves(left_above, above, width)
        else:
            # single bits: ~S(right) = zero(right) & above(parent), ~S(left) = zero(left) & ~S(right)
            (right_clear,) = and_many(runtime, [(right, above)])
            (left_clear,) = and_many(runtime, [(left, right_clear)])
            above = _join_halves(left_clear, right_clear, width)
        width = child_width
    return xor_public(runtime, above, _ALL_ONES)


def or_prefix_from_top(runtime: Runtime, words: np.ndarray) -> np.ndarray:
    """Return ``S`` with bit ``j`` = OR of bits ``j..63`` of ``words``.

    ``x | y = ~(~x & ~y)``; with one bit set at the top position ``k``, ``S``
    is ``2**(k+1) - 1`` and ``S ^ (S >> 1)`` is the one-hot word ``2**k``.
    ``words`` are ``(2, n)`` uint64 components. Up to :data:`FEW_ROUNDS_UP_TO`
    elements by shifts (6 rounds, 48 bytes per element), above it
    :func:`or_suffix_reversed` on the bit-index-reversed words (local
    reversals; 11 rounds, 22 bytes).
    """
    if words.ndim != 2 or words.dtype != RING_DTYPE:
        raise InputError(f"or_prefix_from_top needs (2, n) uint64 components, got {words.shape}")
    if words.shape[1] <= FEW_ROUNDS_UP_TO:
        return _or_prefix_by_shifts(runtime, words)
    return reverse_bit_index(or_suffix_reversed(runtime, reverse_bit_index(words)))


def kogge_stone(runtime: Runtime, generate: np.ndarray, propagate: np.ndarray) -> np.ndarray:
    """Return ``p ^ (G << 1)`` after the six Kogge–Stone levels from (generate, propagate) (6 rounds).

    ABY3 §5.3: ``G ^= P & (G << s)``, ``P &= P << s`` for s = 1..32 (the
    last without ``P``): 88 bytes per element, in natural bit order.

    ``generate`` and ``propagate`` are ``(2, n)`` uint64 components. Each
    level's local work (the shifted operands and both AND terms) runs in
    cache-sized pieces; group values are kept as (own, next) pairs of
    arrays, so nothing received is copied.
    """
    if generate.ndim != 2 or generate.shape != propagate.shape:
        raise InputError(
            f"kogge_stone needs (2, n) components of one shape, got {generate.shape} and "
            f"{propagate.shape}"
        )
    n = generate.shape[1]
    group_generate = (generate[0].copy(), generate[1].copy())  # updated in place
    group_propagate = (propagate[0], propagate[1])
    for shift in (1, 2, 4, 8, 16, 32):
        s = np.uint64(shift)
        last = shift == 32
        through = np.empty(n, dtype=RING_DTYPE)
        joined = None if last else np.empty(n, dtype=RING_DTYPE)
        size = min(CHUNK_ELEMENTS, n)
        shifted = np.empty((2, size), dtype=RING_DTYPE)
        scratch = np.empty(size, dtype=RING_DTYPE)
        for start in range(0, n, CHUNK_ELEMENTS):
            stop = min(start + CHUNK_ELEMENTS, n)
            piece = slice(start, stop)
            width = stop - start
            p_piece = (group_propagate[0][piece], group_propagate[1][piece])
            shifted_piece = shifted[:, :width]
            np.left_shift(group_generate[0][piece], s, out=shifted_piece[0])
            np.left_shift(group_generate[1][piece], s, out=shifted_piece[1])
            _and_term_piece(runtime, p_piece, shifted_piece, through[piece], scratch[:width])
            if not last:
                np.left_shift(p_piece[0], s, out=shifted_piece[0])
                np.left_shift(p_piece[1], s, out=shifted_piece[1])
                _and_term_piece(runtime, p_piece, shifted_piece, joined[piece], scratch[:width])
        sent = [through] if last else [through, joined]
        incoming = runtime.reshare_many(sent)
        np.bitwise_xor(group_generate[0], through, out=group_generate[0])
        np.bitwise_xor(group_generate[1], incoming[0], out=group_generate[1])
        if not last:
            group_propagate = (joined, incoming[1])
    out = np.empty_like(generate)
    for slot in (0, 1):
        np.left_shift(group_generate[slot], np.uint64(1), out=out[slot])
        np.bitwise_xor(out[slot], propagate[slot], out=out[slot])
    return out


def _or_prefix_by_shifts(runtime: Runtime, words: np.ndarray) -> np.ndarray:
    """The OR prefix from the top by shifts: ``S |= S >> s`` for s = 1..32 (6 rounds, 48 bytes).

    Each level's shift and AND term run in cache-sized pieces; the
    complemented prefix is kept as an (own, next) pair, so nothing received
    is copied.
    """
    n = words.shape[1]
    slot = runtime.public_slot
    complement = xor_public(runtime, words, _ALL_ONES)  # ~S, kept complemented
    complement = (complement[0], complement[1])
    size = min(CHUNK_ELEMENTS, n)
    shifted = np.empty((2, size), dtype=RING_DTYPE)
    scratch = np.empty(size, dtype=RING_DTYPE)
    for shift in (1, 2, 4, 8, 16, 32):
        s = np.uint64(shift)
        # bits shifted in from above must be 1 in the complemented domain
        fill = np.uint64(((1 << shift) - 1) << (64 - shift))
        term = np.empty(n, dtype=RING_DTYPE)
        for start in range(0, n, CHUNK_ELEMENTS):
            piece = slice(start, start + CHUNK_ELEMENTS)
            width = term[piece].size
            own, following = complement[0][piece], complement[1][piece]
            shifted_piece = shifted[:, :width]
            np.right_shift(own, s, out=shifted_piece[0])
            np.right_shift(following, s, out=shifted_piece[1])
            if slot is not None:
                np.bitwise_xor(shifted_piece[slot], fill, out=shifted_piece[slot])
            _and_term_piece(runtime, (own, following), shifted_piece, term[piece], scratch[:width])
        (incoming,) = runtime.reshare_many([term])
        complement = (term, incoming)
    prefix = np.empty((2, n), dtype=RING_DTYPE)
    for index in (0, 1):
        if index == slot:
            np.bitwise_not(complement[index], out=prefix[index])
        else:
            prefix[index] = complement[index]
    return prefix


# -- BooleanShare wrappers -------------------------------------------------------------


def and_(x: BooleanShare, y: BooleanShare) -> BooleanShare:
    """Return ``x & y`` (bitwise AND, one round; numpy broadcasting)."""
    if not isinstance(y, BooleanShare):
        raise InputError(f"and_ needs two boolean shares, got {type(y).__name__}")
    x._check_same_runtime(y)
    if x.dtype != y.dtype:
        raise InputError(f"boolean shares have different word types {x.dtype} and {y.dtype}")
    ndim = max(x.ndim, y.ndim)
    shape = np.broadcast_shapes(x.shape, y.shape)
    left = np.broadcast_to(expand_components(x.components, ndim), (2, *shape))
    right = np.broadcast_to(expand_components(y.components, ndim), (2, *shape))
    (result,) = and_many(x.runtime, [(left.reshape(2, -1), right.reshape(2, -1))])
    return x._like(result.reshape((2, *shape)))


def or_(x: BooleanShare, y: BooleanShare) -> BooleanShare:
    """Return ``x | y = x ^ y ^ (x & y)`` (one round)."""
    return x ^ y ^ and_(x, y)
