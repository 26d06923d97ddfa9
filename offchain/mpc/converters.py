"""Conversions between arithmetic and boolean sharings (ABY3 §5.3).

The trick all three use: of an arithmetic sharing ``x = x0 + x1 + x2``,
party 0 knows ``u = x0 + x1`` and parties 1 and 2 both know ``v = x2``.
A value both holders of a component know is a sharing for free (that
component set, the others zero); a value one party knows costs one
message to share (:func:`offchain.mpc.sharing.input_from_party`'s trick:
one component drawn from a PRG, the other sent).

* A2B: party 0 shares ``u`` as boolean (1 round), ``v`` is free; a
  Kogge–Stone adder computes ``u + v`` (7 rounds). 8 rounds, 13 words.
* B2A: components ``a1``, ``a2`` are drawn from the PRGs of their holders;
  party 1, who knows both, shares ``-(a1 + a2)`` as boolean (1 round); the
  adder computes ``a0 = x - a1 - a2`` (7 rounds), which is opened to its
  two holders, parties 0 and 2 (1 round). 9 rounds, 14 words.
* Bit injection (B2A of single bits): ``b = e ^ f`` with ``e = b0 ^ b1``
  (party 0) and ``f = b2`` (parties 1, 2); ``b = e + f - 2ef`` where
  ``e*f`` needs no full multiplication: party 1 knows ``r*f`` and party 2
  ``(e - r)*f``. 2 rounds, one ring element per bit per party.
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError
from offchain.mpc import binary
from offchain.mpc.ring import RING_DTYPE
from offchain.mpc.runtime import check_received, expect_arrays
from offchain.mpc.shares import ArithmeticShare, BooleanShare
from offchain.mpc.sharing import share_known_value


def arithmetic_to_boolean(x: ArithmeticShare) -> BooleanShare:
    """Return the bits of ``x`` as a boolean sharing of uint64 words (8 rounds).

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
    """Return the uint64 words of ``x`` as an arithmetic sharing (9 rounds)."""
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
    flat = np.bitwise_and(bits.components.reshape(2, -1), bits.dtype.type(1))
    shape = flat.shape[1:]
    like = np.empty(shape, dtype=RING_DTYPE)
    party = runtime.party
    two = np.uint64(1)  # left shift by one: times two
    out = np.empty((2, *shape), dtype=RING_DTYPE)
    # e = b0 ^ b1 known to party 0; f = b2 known to parties 1 and 2 (component 2);
    # [b] = [e] + [f] - 2[ef] with [e] = (e - r, r, 0), [f] = (0, 0, f) and
    # [ef] = ((e - r) f + m - s, r f - m, s): party 1 knows r f, party 2 (e - r) f.
    if party == 0:
        e = np.bitwise_xor(flat[0], flat[1])
        mask = runtime.prg_next.fill(out[1, ...])  # r, shared with party 1
        masked = np.subtract(e, mask, dtype=RING_DTYPE)  # e - r, to party 2
        received = runtime.exchange({2: [masked]}, [1])
        (ef_1,) = expect_arrays(received[1], 1, 1, "bit injection")
        check_received(ef_1, like, 1, "bit injection")
        received = runtime.exchange(receive_from=[2])
        (ef_0,) = expect_arrays(received[2], 1, 2, "bit injection")
        check_received(ef_0, like, 2, "bit injection")
        np.left_shift(ef_0, two, out=out[0, ...])
        np.subtract(masked, out[0, ...], out=out[0, ...])
        np.subtract(out[1, ...], ef_1, out=out[1, ...])
        np.subtract(out[1, ...], ef_1, out=out[1, ...])
        return ArithmeticShare(runtime, out.reshape(bits.components.shape))
    f = flat[1 if party == 1 else 0]
    if party == 1:
        mask = runtime.prg_previous.fill(out[0, ...])  # r
        shared_with_2 = runtime.prg_next.random(shape)  # m
        component_2 = runtime.prg_next.fill(out[1, ...])  # s
        ef_1 = np.multiply(mask, f, dtype=RING_DTYPE)  # r * f
        np.subtract(ef_1, shared_with_2, out=ef_1)  # component 1 of e*f: r*f - m
        runtime.exchange({0: [ef_1]})
        runtime.exchange()
        np.subtract(mask, ef_1, out=out[0, ...])
        np.subtract(out[0, ...], ef_1, out=out[0, ...])
        np.left_shift(component_2, two, out=out[1, ...])
        np.subtract(f, out[1, ...], out=out[1, ...], dtype=RING_DTYPE)
        return ArithmeticShare(runtime, out.reshape(bits.components.shape))
    shared_with_1 = runtime.prg_previous.random(shape)  # m
    component_2 = runtime.prg_previous.fill(out[0, ...])  # s
    received = runtime.exchange(receive_from=[0])
    (masked,) = expect_arrays(received[0], 1, 0, "bit injection")
    check_received(masked, like, 0, "bit injection")
    ef_0 = np.multiply(masked, f, dtype=RING_DTYPE)  # (e - r) * f
    np.add(ef_0, shared_with_1, out=ef_0)
    np.subtract(ef_0, component_2, out=ef_0)  # component 0 of e*f: (e-r)f + m - s
    runtime.exchange({0: [ef_0]})
    np.left_shift(component_2, two, out=out[0, ...])
    np.subtract(f, out[0, ...], out=out[0, ...], dtype=RING_DTYPE)
    np.subtract(masked, ef_0, out=out[1, ...])
    np.subtract(out[1, ...], ef_0, out=out[1, ...])
    return ArithmeticShare(runtime, out.reshape(bits.components.shape))
