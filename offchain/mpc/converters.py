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
