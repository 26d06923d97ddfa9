"""Conversions between arithmetic and boolean sharings (ABY3 §5.3).

The trick all three use: of an arithmetic sharing ``x = x0 + x1 + x2``,
party 0 knows ``u = x0 + x1`` and parties 1 and 2 both know ``v = x2``.
A value both holders of a component know is a sharing for free (that
component set, the others zero); a value one party knows costs one
message to share (:func:`offchain.mpc.sharing.input_from_party`'s trick:
one component drawn from a PRG, the other sent).

* A2B: party 0 shares ``u`` as boolean (1 round), ``v`` is free; an adder
  computes ``u + v`` (:func:`offchain.mpc.binary.add_split`): 8 rounds and
  96 bytes per element up to 16384 elements (Kogge–Stone), 12 rounds and
  34 bytes above (Brent–Kung scans).
* B2A: components ``a1``, ``a2`` are drawn from the PRGs of their holders;
  party 1, who knows both, shares ``-(a1 + a2)`` as boolean (1 round); the
  adder computes ``a0 = x - a1 - a2``, which is opened to its two holders,
  parties 0 and 2 (1 round): 9 rounds and 104 bytes, or 13 rounds and 42.
* Bit injection (B2A of single bits, :func:`inject_bits`): ``b = e ^ f``
  with ``e = b0 ^ b1`` (party 0) and ``f = b2`` (parties 1, 2), so
  ``b = e (1 - 2f) + f``: party 0 sends ``e`` masked to party 2, and
  parties 1 and 2 hand party 0 its two components. 2 rounds, one ring
  element per bit per party.
* Table injection (:func:`inject_tables`): any public function ``g`` of
  ``n`` shared bits at once, by the same split: ``g(e ^ f)`` is a sum of
  the monomials ``e^S`` in party ``Z``'s bits with coefficients that are
  public functions of ``f``; ``Z`` sends its monomials (at most
  ``2**n - 1``, those some table uses) masked, the others one word per table. For ``n`` = 2 or 3 fewer words than
  injecting the bits and multiplying them, and no product round.
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError
from offchain.mpc import binary
from offchain.mpc.ring import RING_DTYPE
from offchain.mpc.runtime import check_received, expect_arrays
from offchain.mpc.shares import ArithmeticShare, BooleanShare
from offchain.mpc.sharing import share_known_value

CHUNK_ELEMENTS = 1 << 15  # elements per piece of local work
# From this many elements a table injection rotates its roles over thirds of them (fewer
# cannot be split in three), so every party sends the same.
ROTATE_MIN_ELEMENTS = 3
_ONE = np.uint64(1)
_MINUS_TWO = np.uint64(2**64 - 2)


def arithmetic_to_boolean(x: ArithmeticShare) -> BooleanShare:
    """Return the bits of ``x`` as a boolean sharing of uint64 words (8 rounds; 12 above 16384 elements).

    Party 0 knows ``u = x0 + x1``, parties 1 and 2 know ``v = x2``; the
    adder adds them (:func:`offchain.mpc.binary.add_split`).
    """
    runtime = x.runtime
    flat = x.components.reshape(2, -1)
    like = flat[0, ...]
    u = np.add(flat[0], flat[1]) if runtime.party == 0 else None
    slot = runtime.slot_of_component(2)
    v = flat[slot, ...] if slot is not None else None
    return BooleanShare(runtime, binary.add_split(runtime, u, v, like).reshape(x.components.shape))


def boolean_to_arithmetic(x: BooleanShare) -> ArithmeticShare:
    """Return the uint64 words of ``x`` as an arithmetic sharing (9 rounds; 13 above 16384 elements)."""
    if x.dtype != RING_DTYPE:
        raise InputError(
            f"B2A converts uint64 words, got {x.dtype}; use bits_to_arithmetic for bits"
        )
    runtime = x.runtime
    flat = x.components.reshape(2, -1)
    like = flat[0, ...]
    shape = like.shape
    a1 = runtime.draw_component(1, shape)
    a2 = runtime.draw_component(2, shape)
    negated = np.negative(np.add(a1, a2)) if runtime.party == 1 else None
    negated_shared = share_known_value(runtime, 1, negated, like, boolean=True)
    a0_shared = binary.add(runtime, flat, negated_shared)
    # Open a0 to parties 0 and 2 (component 0's holders), never to party 1.
    if runtime.party == 0:
        received = runtime.exchange({2: [a0_shared[1]]}, [2])
        (missing,) = expect_arrays(received[2], 1, 2, "B2A")
        check_received(missing, like, 2, "B2A")
        a0 = a0_shared[0] ^ a0_shared[1] ^ missing
        components = np.stack((a0, a1))
    elif runtime.party == 2:
        received = runtime.exchange({0: [a0_shared[0]]}, [0])
        (missing,) = expect_arrays(received[0], 1, 0, "B2A")
        check_received(missing, like, 0, "B2A")
        a0 = a0_shared[0] ^ a0_shared[1] ^ missing
        components = np.stack((a2, a0))
    else:
        runtime.exchange()
        components = np.stack((a1, a2))
    return ArithmeticShare(runtime, components.reshape(x.components.shape))


def bits_to_arithmetic(bits: BooleanShare) -> ArithmeticShare:
    """Return the 0/1 values of a boolean sharing of bits as an arithmetic sharing (2 rounds).

    Only bit 0 of each word is used. One ring element per bit per party.
    """
    runtime = bits.runtime
    (components,) = inject_bits(runtime, [bits.components.reshape(2, -1)])
    return ArithmeticShare(runtime, components.reshape(bits.components.shape))


def inject_bits(runtime, bit_words: list[np.ndarray]) -> list[np.ndarray]:
    """Turn several ``(2, n)`` XOR sharings of bits (bit 0 of each word) into arithmetic 0/1 (2 rounds).

    Returns ``[own, next]`` uint64 components for each input, all in one
    protocol run (one message per party per round, one array per input).
    ``b = e ^ f`` with ``e = b0 ^ b1`` known to party 0 and ``f = b2`` to
    parties 1 and 2, so ``b = e (1 - 2f) + f``. Party 0 sends ``e - r`` to
    party 2 (``r`` from the stream of parties 0 and 1); with ``m``, ``s``
    from the stream of parties 1 and 2, the components are
    ``c1 = r (1 - 2f) + m`` (party 1 knows it), ``c2 = f + s`` (parties 1
    and 2) and ``c0 = (e - r)(1 - 2f) - m - s`` (party 2, after round 1);
    parties 1 and 2 send ``c1`` and ``c0`` to party 0, which sees them
    masked by ``m`` and ``s``. Party 2 sees ``e`` masked by ``r``.
    """
    party = runtime.party
    shapes = [words.shape[1:] for words in bit_words]
    if party == 0:
        masked = []
        for words in bit_words:
            out = np.empty(words.shape[1:], dtype=RING_DTYPE)
            for start in range(0, out.size, CHUNK_ELEMENTS):
                part = slice(start, start + CHUNK_ELEMENTS)
                e = np.bitwise_xor(words[0, part], words[1, part])
                np.bitwise_and(e, e.dtype.type(1), out=e)
                runtime.prg_next.add_into(out[part], subtract=True, base=e)  # e - r
            masked.append(out)
        received = runtime.exchange({2: masked}, [1])
        from_one = expect_arrays(received[1], len(bit_words), 1, "bit injection")
        received = runtime.exchange(receive_from=[2])
        from_two = expect_arrays(received[2], len(bit_words), 2, "bit injection")
        outputs = []
        for c0, c1, sent in zip(from_two, from_one, masked, strict=True):
            check_received(c0, sent, 2, "bit injection")
            check_received(c1, sent, 1, "bit injection")
            outputs.append(np.stack((c0, c1)))
        return outputs
    if party == 1:
        sends, outputs = [], []
        for words, shape in zip(bit_words, shapes, strict=True):
            out = np.empty((2, *shape), dtype=RING_DTYPE)
            for start in range(0, out[0].size, CHUNK_ELEMENTS):
                part = slice(start, start + CHUNK_ELEMENTS)
                c1, c2 = out[0, part], out[1, part]
                f, sign = _bit_and_sign(words[1, part])
                runtime.prg_previous.fill(c1)  # r
                np.multiply(c1, sign, out=c1)  # r (1 - 2f)
                runtime.prg_next.add_into(c1)  # c1 = r (1 - 2f) + m
                runtime.prg_next.add_into(c2, base=f)  # c2 = f + s
            sends.append(out[0])
            outputs.append(out)
        runtime.exchange({0: sends})
        runtime.exchange()
        for out in outputs:
            out.flags.writeable = False  # component 1 was sent
        return outputs
    received = runtime.exchange(receive_from=[0])
    from_zero = expect_arrays(received[0], len(bit_words), 0, "bit injection")
    sends, outputs = [], []
    for words, shape, masked in zip(bit_words, shapes, from_zero, strict=True):
        out = np.empty((2, *shape), dtype=RING_DTYPE)
        check_received(masked, out[0], 0, "bit injection")
        for start in range(0, out[0].size, CHUNK_ELEMENTS):
            part = slice(start, start + CHUNK_ELEMENTS)
            c2, c0 = out[0, part], out[1, part]
            f, sign = _bit_and_sign(words[0, part])
            np.multiply(masked[part], sign, out=c0)  # (e - r)(1 - 2f)
            runtime.prg_previous.add_into(c0, subtract=True)  # - m
            runtime.prg_previous.add_into(c2, base=f)  # c2 = f + s
            np.subtract(c0, c2, out=c0)
            np.add(c0, f, out=c0)  # c0 = (e - r)(1 - 2f) - m - s
        sends.append(out[1])
        outputs.append(out)
    runtime.exchange({0: sends})
    for out in outputs:
        out.flags.writeable = False  # component 0 was sent
    return outputs


def _bit_and_sign(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return bit 0 of ``words`` as uint64 0/1 ``f`` and ``1 - 2f`` mod 2**64."""
    bit = np.bitwise_and(words, words.dtype.type(1)).astype(RING_DTYPE, copy=False)
    sign = np.multiply(bit, _MINUS_TWO)
    np.add(sign, _ONE, out=sign)
    return bit, sign


def inject_tables(
    runtime, groups: list[tuple[list[np.ndarray], list[list[int]]]]
) -> list[list[np.ndarray]]:
    """Return arithmetic sharings of ``g(b)`` for public tables ``g`` of a few shared bits (2 rounds).

    Each group is ``(bit_words, tables)``: ``n`` XOR sharings of bits (bit 0
    of each word, all ``(2, m)``, ``1 <= n <= 4``) and tables of ``2**n``
    integers (mod 2**64) indexed by ``b = sum_i b_i 2**i``. Returns, per
    group, ``[own, next]`` uint64 components per table; all groups share one
    run (one message per peer per round).

    The bit injection (:func:`inject_bits`) for a whole function at once:
    with ``b = e ^ f``, ``e`` known to ``Z`` and ``f`` to ``O = Z+1`` and
    ``T = Z+2``, ``g(e ^ f) = sum_S e^S beta_S(f)`` over the subsets ``S``
    of the bits (``e^S`` the product of the bits in ``S``, ``beta_S`` the
    Möbius transform of ``g(. ^ f)``: public tables indexed by ``f``).
    ``Z`` sends ``e^S - r_S`` for every ``S != {}`` to ``T`` (``r_S`` from the
    stream of ``Z`` and ``O``); with ``m``, ``s`` from the stream of ``O``
    and ``T`` (per table) the components are
    ``c_O = sum_S r_S beta_S + m``, ``c_T = beta_{} + s`` and
    ``c_Z = sum_S (e^S - r_S) beta_S - m - s``; ``O`` (round 1) and ``T``
    (round 2) send ``Z`` its components, masked by ``m`` and ``s``. ``T``
    sees only masked monomials, ``O`` nothing. Per element ``Z`` sends one
    ring element per monomial that some table of the group uses (at most
    ``2**n - 1``; none is sent for the others), ``O`` and ``T`` one per table:
    for ``n`` of 2 or 3 fewer than injecting the bits (one per bit at every
    party) and multiplying them (one per product at every party). From
    ``ROTATE_MIN_ELEMENTS`` elements the elements are split in three and
    party ``j`` is ``Z`` for the ``j``-th third, so every party sends the
    same. The outputs are read-only (parts of them were sent).
    """
    prepared = []
    size = None
    for bit_words, tables in groups:
        count = len(bit_words)
        if not 1 <= count <= 4:
            raise InputError(f"inject_tables takes groups of 1 to 4 bits, got {count}")
        entries = 1 << count
        for table in tables:
            if len(table) != entries:
                raise InputError(
                    f"inject_tables: a table of {count} bits has {entries} entries, got {len(table)}"
                )
        flat = [words.reshape(2, -1) for words in bit_words]
        size = flat[0].shape[1] if size is None else size
        if any(words.shape[1] != size for words in flat):
            raise InputError("inject_tables needs bit arrays of one size")
        betas = [_moebius_rows(table, count) for table in tables]
        # Z sends only the monomials some table uses (e.g. a function of degree 2 in the bits
        # has no monomial of all three)
        monomials = [subset for subset in range(1, entries) if any(b[subset].any() for b in betas)]
        outputs = [np.empty((2, size), dtype=RING_DTYPE) for _ in tables]
        prepared.append((flat, monomials, betas, outputs))
    party = runtime.party
    zeros = (0, 1, 2) if size >= ROTATE_MIN_ELEMENTS else (0,)
    parts = []
    for index, zero in enumerate(zeros):
        piece = slice(size * index // len(zeros), size * (index + 1) // len(zeros))
        parts.append(((party - zero) % 3, piece))
    to_previous = []  # Z's masked monomials go to T, O's c_O to Z: both the previous party
    expected = 0
    indices = {}  # T's index of f, kept for round 2
    for role, piece in parts:
        for group, (flat, monomials, betas, outputs) in enumerate(prepared):
            if role == 0:
                e = _bit_index([words[:, piece] for words in flat], both=True)
                to_previous.extend(_masked_monomials(runtime, e, len(flat), monomials))
                expected += len(outputs)  # c_O from O
            elif role == 1:
                f = _bit_index([words[1, piece] for words in flat], both=False)
                _opener_components(runtime, f, monomials, betas, outputs, piece)
                to_previous.extend(out[0, piece] for out in outputs)
            else:
                f = indices[(piece.start, group)] = _bit_index(
                    [words[0, piece] for words in flat], both=False
                )
                _masks_of_z(runtime, f, betas, outputs, piece)
                expected += len(monomials)  # the masked monomials from Z
    received = runtime.exchange(
        {runtime.previous_party: to_previous} if to_previous else {},
        [runtime.next_party] if expected else [],
    )
    from_next = iter(
        expect_arrays(
            received.get(runtime.next_party, []), expected, runtime.next_party, "table injection"
        )
    )
    to_next = []
    zero_count = 0
    for role, piece in parts:
        for group, (_, monomials, betas, outputs) in enumerate(prepared):
            if role == 0:
                for out in outputs:
                    c_o = next(from_next)
                    check_received(c_o, out[1, piece], runtime.next_party, "table injection")
                    out[1, piece] = c_o
                zero_count += len(outputs)
            elif role == 2:
                masked = [next(from_next) for _ in monomials]
                for array in masked:
                    check_received(
                        array, outputs[0][1, piece], runtime.next_party, "table injection"
                    )
                _add_masked_terms(
                    indices[(piece.start, group)], monomials, betas, outputs, piece, masked
                )
                to_next.extend(out[1, piece] for out in outputs)
    received = runtime.exchange(
        {runtime.next_party: to_next} if to_next else {},
        [runtime.previous_party] if zero_count else [],
    )
    from_previous = iter(
        expect_arrays(
            received.get(runtime.previous_party, []),
            zero_count,
            runtime.previous_party,
            "table injection",
        )
    )
    for role, piece in parts:
        if role == 0:
            for _, _, _, outputs in prepared:
                for out in outputs:
                    c_z = next(from_previous)
                    check_received(c_z, out[0, piece], runtime.previous_party, "table injection")
                    out[0, piece] = c_z
    results = []
    for (bit_words, _), (_, _, _, outputs) in zip(groups, prepared, strict=True):
        for out in outputs:
            out.flags.writeable = False  # parts of it were sent
        results.append([out.reshape((2, *bit_words[0].shape[1:])) for out in outputs])
    return results


def _moebius_rows(table: list[int], count: int) -> np.ndarray:
    """Return ``beta[S][f] = sum over T within S of (-1)**|S - T| table[f ^ T]`` mod 2**64."""
    entries = 1 << count
    rows = np.zeros((entries, entries), dtype=RING_DTYPE)
    for subset in range(entries):
        for f in range(entries):
            total = 0
            for inner in range(entries):
                if inner & ~subset == 0:
                    sign = -1 if bin(subset ^ inner).count("1") % 2 else 1
                    total += sign * int(table[f ^ inner])
            rows[subset, f] = total % 2**64
    return rows


def _bit_index(words: list[np.ndarray], both: bool) -> np.ndarray:
    """Return ``sum_i bit_i 2**i`` as intp: bits of ``words[i]``, or of its two components XORed.

    Indices are intp because ``np.take`` converts any other index type on every call.
    """
    result = np.zeros(words[0].shape[-1], dtype=np.uint8)
    for position, array in enumerate(words):
        value = np.bitwise_xor(array[0], array[1]) if both else array
        value = np.bitwise_and(value, value.dtype.type(1)).astype(np.uint8, copy=False)
        np.bitwise_or(result, np.left_shift(value, np.uint8(position)), out=result)
    return result.astype(np.intp)


def _pieces(piece: slice):
    """Yield (offset within the part, slice of the whole) for cache-sized pieces of a part."""
    for start in range(piece.start, piece.stop, CHUNK_ELEMENTS):
        stop = min(start + CHUNK_ELEMENTS, piece.stop)
        yield slice(start - piece.start, stop - piece.start), slice(start, stop)


# The table indices are below 2**n by construction: mode="clip" skips np.take's bounds check.


def _masked_monomials(runtime, e: np.ndarray, count: int, monomials: list[int]) -> list[np.ndarray]:
    """Z: ``e^S - r_S`` for the monomials ``S`` of its ``count`` bits ``e`` (``r_S`` from the stream with O)."""
    masked = np.empty((len(monomials), e.size), dtype=RING_DTYPE)
    products = [
        np.array([int(i & subset == subset) for i in range(1 << count)], dtype=RING_DTYPE)
        for subset in monomials
    ]  # e^S as a table of e
    present = np.empty(min(CHUNK_ELEMENTS, e.size), dtype=RING_DTYPE)
    for part, _ in _pieces(slice(0, e.size)):
        flags = present[: part.stop - part.start]
        for row, product in enumerate(products):
            np.take(product, e[part], out=flags, mode="clip")
            runtime.prg_next.add_into(masked[row, part], subtract=True, base=flags)
    return list(masked)


def _opener_components(runtime, f, monomials, betas, outputs, piece) -> None:
    """O: ``c_O = sum_S r_S beta_S + m`` and ``c_T = beta_{} + s`` into each output."""
    draws = np.empty(len(monomials) * CHUNK_ELEMENTS, dtype=RING_DTYPE)
    gathered = np.empty(CHUNK_ELEMENTS, dtype=RING_DTYPE)
    for part, whole in _pieces(piece):
        width = whole.stop - whole.start
        index = f[part]
        r = draws[: len(monomials) * width].reshape(len(monomials), width)
        runtime.prg_previous.fill(r)  # r_S, in Z's order: piece by piece, monomial by monomial
        scratch = gathered[:width]
        for out, beta in zip(outputs, betas, strict=True):
            c_o, c_t = out[0, whole], out[1, whole]
            c_o[...] = 0
            for row, subset in enumerate(monomials):
                np.take(beta[subset], index, out=scratch, mode="clip")
                np.multiply(scratch, r[row], out=scratch)
                np.add(c_o, scratch, out=c_o)
            runtime.prg_next.add_into(c_o)  # + m
            np.take(beta[0], index, out=scratch, mode="clip")
            runtime.prg_next.add_into(c_t, base=scratch)  # beta_{} + s


def _masks_of_z(runtime, f, betas, outputs, piece) -> None:
    """T, before round 1: ``c_T = beta_{} + s`` and ``-m - s`` in place of ``c_Z`` (same draws as O)."""
    gathered = np.empty(CHUNK_ELEMENTS, dtype=RING_DTYPE)
    for part, whole in _pieces(piece):
        scratch = gathered[: whole.stop - whole.start]
        for out, beta in zip(outputs, betas, strict=True):
            c_t, c_z = out[0, whole], out[1, whole]
            runtime.prg_previous.fill(c_z)  # m
            np.take(beta[0], f[part], out=scratch, mode="clip")
            runtime.prg_previous.add_into(c_t, base=scratch)  # beta_{} + s
            np.add(c_z, c_t, out=c_z)
            np.subtract(scratch, c_z, out=c_z)  # beta_{} - (m + beta_{} + s) = -m - s


def _add_masked_terms(f, monomials, betas, outputs, piece, masked) -> None:
    """T, after round 1: add ``sum_S (e^S - r_S) beta_S`` to ``c_Z``."""
    gathered = np.empty(CHUNK_ELEMENTS, dtype=RING_DTYPE)
    for part, whole in _pieces(piece):
        scratch = gathered[: whole.stop - whole.start]
        index = f[part]
        for out, beta in zip(outputs, betas, strict=True):
            c_z = out[1, whole]
            for row, subset in enumerate(monomials):
                np.take(beta[subset], index, out=scratch, mode="clip")
                np.multiply(scratch, masked[row][part], out=scratch)
                np.add(c_z, scratch, out=c_z)
