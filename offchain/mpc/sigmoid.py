"""The logistic function ``1 / (1 + e**-x)`` on fixed-point sharings, piecewise polynomial.

``sigmoid(x) = s(|x|)`` for ``x >= 0`` and ``1 - s(|x|)`` otherwise, with
``s`` approximated on ``[0, 16)`` by degree-5 minimax polynomials on the
segments ``[0, 2), [2, 4), [4, 8), [8, 16)`` (error at most 1.14e-5 each)
and ``s = 1`` from 16 on (error 1.1e-7). Segment boundaries are powers of
two, so the segment of ``|x|`` is read from the bits of ``x``:

1. A2B of ``x`` (Kogge–Stone, 8 rounds, up to 16384 elements; Brent–Kung,
   12 rounds and a third of the bytes, above): the sign bit ``s``;
   ``t = bits ^ fill(s)`` is ``|x|`` (``|x|`` minus one unit for negative
   ``x``, which moves the boundaries by ``2**-f``, immaterial for a
   continuous function).
2. ``g_j = [|x| >= 2**j]`` for j = 1..4: an AND tree decides whether any bit
   ``>= f + 4`` is set (6 rounds), then three one-bit ORs chain down (3 rounds).
3. Bit injection of ``s, g1..g4`` (2 rounds); ``|x| = x (1 - 2s)`` (1 round).
4. With ``z = |x| / 16`` (free: a change of scale), the powers ``z**2 ..
   z**5`` at 28 fractional bits (3 multiplication rounds, 6 rounds), and
   ``s(|x|) = sum_i z**i C_i + g4`` where ``C_i`` is the segment's
   coefficient, a *linear* function of the flags (local): one sum of
   products, one truncation (2 rounds).
5. ``sigmoid = s + sign * (1 - 2 s)`` (1 round).

Total 29 rounds (33 above 16384 elements); 263 bytes per element at
every party (201 above). Max error 3e-5 (2 units of 2**-16) on every
input: polynomial error 1.14e-5 plus rounding, measured in
tests/mpc/test_nonlinear.py; the output may leave [0, 1] by at most that much.
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError
from offchain.mpc import binary
from offchain.mpc.arithmetic import mul, raw_product_terms
from offchain.mpc.normalize import bits_to_integers
from offchain.mpc.ring import fill_with_bit
from offchain.mpc.shares import FixedPointShare
from offchain.mpc.truncation import truncate_many, truncate_terms

SATURATION = 16.0
CHUNK_ELEMENTS = 1 << 15  # elements per piece of local work
POWERS_BITS = 28  # fractional bits of z**i
COEFFICIENT_BITS = 20  # fractional bits of the segment coefficients (|c| < 400)
# Minimax fits of 1/(1 + e**-x) as polynomials in z = x / 16, one row per segment.
SEGMENT_COEFFICIENTS = np.array(
    [
        (
            0.50001141807,
            3.99309622263,
            0.675506497759,
            -109.375955494,
            378.029701198,
            -247.79926047,
        ),  # [0, 2)
        (
            0.445323427528,
            5.80108574689,
            -22.556624899,
            30.1785695924,
            25.1494085136,
            -75.3396888,
        ),  # [2, 4)
        (
            0.532692067434,
            4.8293391733,
            -20.6249333199,
            45.1496257605,
            -50.3360867949,
            22.7470313564,
        ),  # [4, 8)
        (
            0.961508842338,
            0.238264815145,
            -0.589887251317,
            0.728982535338,
            -0.449151148602,
            0.11028413101,
        ),  # [8, 16)
    ]
)


def _or_bits(runtime, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    (both,) = binary.and_many(runtime, [(left, right)])
    return left ^ right ^ both


def _bit(words: np.ndarray, position: int) -> np.ndarray:
    """Return bit ``position`` of uint64 words as uint8 0/1 (reads one byte per word)."""
    byte = words.view(np.uint8)[..., position // 8 :: 8]
    return np.bitwise_and(np.right_shift(byte, np.uint8(position % 8)), np.uint8(1))


def segment_flags(x: FixedPointShare) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return boolean components (uint8 0/1) of the sign of ``x`` and of ``|x| >= 2, 4, 8, 16`` (flattened).

    The bits of ``x`` come from :func:`offchain.mpc.binary.add_split` (Kogge–Stone
    up to ``FEW_ROUNDS_UP_TO`` elements) or :func:`~offchain.mpc.binary.add_split_reversed`
    (Brent–Kung above it, read in its bit-reversed layout: bit 63 stays in place).
    """
    runtime = x.runtime
    f = x.fractional_bits
    flat = x.reshape(-1).components
    u = np.add(flat[0], flat[1]) if runtime.party == 0 else None
    slot = runtime.slot_of_component(2)
    v = flat[slot] if slot is not None else None
    if flat.shape[1] > binary.FEW_ROUNDS_UP_TO:
        bits = binary.add_split_reversed(runtime, u, v, flat[0])
        position = _REVERSED_POSITION
    else:
        bits = binary.add_split(runtime, u, v, flat[0])
        position = list(range(64))
    sign = _bit(bits, 63)
    magnitude = np.bitwise_xor(bits, fill_with_bit(bits, 63))
    # |x| >= 16 iff a bit >= f + 4 is set: NOT(all ones of ~(high bits)).
    high_mask = np.uint64(sum(1 << position[j] for j in range(f + 4, 64)))
    no_high = binary.xor_public(runtime, np.bitwise_and(magnitude, high_mask), np.uint64(2**64 - 1))
    at_least = [binary.xor_public(runtime, binary.all_ones(runtime, no_high), np.uint8(1))]
    for bit in (f + 3, f + 2, f + 1):
        at_least.insert(0, _or_bits(runtime, at_least[0], _bit(magnitude, position[bit])))
    return sign, at_least  # at_least[j] = [|x| >= 2**(j+1)]


_REVERSED_POSITION = [int(f"{j:06b}"[::-1], 2) for j in range(64)]


def sigmoid(x: FixedPointShare) -> FixedPointShare:
    """Return ``1 / (1 + e**-x)`` elementwise; max error 3e-5 (see module docstring)."""
    if not isinstance(x, FixedPointShare):
        raise InputError("sigmoid needs a fixed-point share (share data with kind='fixed')")
    runtime, f, shape = x.runtime, x.fractional_bits, x.shape
    if f > 24:
        raise InputError(f"sigmoid supports up to 24 fractional bits, the share has {f}")
    flat = x.reshape(-1)
    sign_bits, at_least = segment_flags(flat)
    negative, *flags = bits_to_integers(runtime, [sign_bits, *at_least])
    magnitude = mul(flat, 1 - (negative << 1))  # |x|, exact
    # z = |x| / 16 at POWERS_BITS fractional bits: the same integers, rescaled.
    z = FixedPointShare(
        runtime, np.left_shift(magnitude.components, np.uint64(POWERS_BITS - f - 4)), POWERS_BITS
    )
    (z2,) = truncate_many(runtime, [(raw_product_terms(z, z), POWERS_BITS)])
    z2 = FixedPointShare(runtime, z2, POWERS_BITS)
    z3, z4 = (
        FixedPointShare(runtime, c, POWERS_BITS)
        for c in truncate_many(
            runtime,
            [(raw_product_terms(z2, z), POWERS_BITS), (raw_product_terms(z2, z2), POWERS_BITS)],
        )
    )
    (z5,) = truncate_many(runtime, [(raw_product_terms(z4, z), POWERS_BITS)])
    powers = [z.components, z2.components, z3.components, z4.components, z5]
    # s(|x|) = sum_i C_i z**i with C_i = c0_i + sum_s g_s (c_s,i - c_s-1,i) (c_4 = 0: saturation)
    #        = P_0(z) + sum_s g_s Q_s(z): P_0, Q_s are public combinations of the powers (local),
    #          then one sum of products and one truncation.
    product_scale = POWERS_BITS + COEFFICIENT_BITS
    # Integer encodings, differenced exactly: where |x| >= 16 all flags are 1 and the steps
    # telescope to exactly 0, whatever the (then meaningless) powers of z hold.
    encoded = [
        [round(row[0] * 2**product_scale)] + [round(c * 2**COEFFICIENT_BITS) for c in row[1:]]
        for row in SEGMENT_COEFFICIENTS
    ]
    zero = [0] * len(encoded[0])
    rows = [*encoded, zero]
    steps = [encoded[0]] + [
        [b - a for a, b in zip(rows[i], rows[i + 1], strict=True)] for i in range(len(encoded))
    ]

    total = _piecewise_terms(runtime, powers, [flag.components for flag in flags], steps)
    # saturation: + 1 where |x| >= 16 (the segment terms cancel there)
    total += flags[3].components[0] << np.uint64(product_scale)
    value = FixedPointShare(runtime, truncate_terms(runtime, total, product_scale - f, True), f)
    result = value + mul(negative, _one_minus_twice(value))
    return FixedPointShare(runtime, result.components.reshape((2, *shape)), f)


def _piecewise_terms(
    runtime, powers: list[np.ndarray], flags: list[np.ndarray], steps: list[list[int]]
) -> np.ndarray:
    """Return this party's additive term of ``P_0(z) + sum_s g_s Q_s(z)`` (local, cache-sized pieces).

    ``powers`` are the components of ``z .. z**5``, ``flags`` those of the
    0/1 integers ``g_s``, ``steps[0]`` the constant and coefficients of
    ``P_0`` and ``steps[s]`` those of ``Q_s``. Each ``Q_s`` is a public
    combination of the powers (the constant in the public slot), and
    ``g_s Q_s`` enters as the product term ``g_own (Q_own + Q_next) + g_next Q_own``.
    """
    slot = runtime.public_slot
    n = powers[0].shape[-1]
    total = np.empty(n, dtype=np.uint64)
    combined = np.empty((2, min(n, CHUNK_ELEMENTS)), dtype=np.uint64)
    scratch = np.empty(min(n, CHUNK_ELEMENTS), dtype=np.uint64)
    encoded = [[np.uint64(c % 2**64) for c in step] for step in steps]
    for start in range(0, n, CHUNK_ELEMENTS):
        part = slice(start, start + CHUNK_ELEMENTS)
        out = total[part]
        width = out.size
        pieces = [power[:, part] for power in powers]
        q, t = combined[:, :width], scratch[:width]
        for index, step in enumerate(encoded):
            components = (0,) if index == 0 else (0, 1)
            for c in components:
                np.multiply(pieces[0][c], step[1], out=q[c])
                for coefficient, power in zip(step[2:], pieces[1:], strict=True):
                    np.multiply(power[c], coefficient, out=t)
                    np.add(q[c], t, out=q[c])
                if c == slot:
                    np.add(q[c], step[0], out=q[c])
            if index == 0:
                np.copyto(out, q[0])
                continue
            flag = flags[index - 1]
            np.add(q[0], q[1], out=t)
            np.multiply(t, flag[0, part], out=t)  # g_own (Q_own + Q_next)
            np.add(out, t, out=out)
            np.multiply(q[0], flag[1, part], out=t)  # g_next Q_own
            np.add(out, t, out=out)
    return total


def _one_minus_twice(value: FixedPointShare) -> FixedPointShare:
    doubled = FixedPointShare(
        value.runtime, np.left_shift(value.components, np.uint64(1)), value.fractional_bits
    )
    return 1.0 - doubled
