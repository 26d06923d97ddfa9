"""Probabilistic truncation without large errors, and the fixed-point multiplication built on it.

Dividing a shared ``X`` by ``2**s`` cannot be done share by share without
risking wrap-around errors of size 2**(64-s) (ABY3's local Π_trunc1 fails
with probability about ``|X| / 2**63`` per element, far too often for
millions of elements). We use the protocol of Escudero, Ghosh, Keller,
Rachuri, Scholl (CRYPTO 2020, "Improved primitives for MPC over mixed
arithmetic-binary circuits", §5.1) / Dalskov–Escudero–Keller (USENIX
Security 2021), with one party pair as the dealer of the masking tuple, as
in SecretFlow SPU's ABY3 ``TruncAPr``.

**Contract.** Requires ``|X| < 2**62`` (as a signed ring element). Returns a
replicated sharing of ``floor(X / 2**s)`` or ``floor(X / 2**s) + 1`` (the
second with probability ``(X mod 2**s) / 2**s``: stochastic rounding, error
below one unit in the last place, never a large error). Failure
probability: 0 within the range.

**Protocol** (roles rotate per call: helper H, openers A = H+1, B = H+2).
The parties hold additive terms ``z_H + z_A + z_B = X``.

1. H and A draw ``r_A`` from their PRG, H and B draw ``r_B``; when H's
   term must travel, H also draws ``rho`` privately and sends ``z_H + rho``
   to both openers (otherwise ``z_H = 0``: its value is already in B's
   term). A and B exchange ``z_A + r_A`` and ``z_B + r_B``, so both learn
   ``c = X + r`` with ``r = r_A + r_B (+ rho)`` uniform and known to H only.
   Writing ``c = x' + r'`` with ``x' = X + 2**62`` and ``r' = r - 2**62``,
   H computes ``t = r' >> s`` and ``m = msb(r')`` and shares them between
   A and B: A's halves come from the H–A PRG, H sends B's halves
   ``t - t_A + 2**(62-s)`` (B's half also carries the public offset) and
   ``m - m_A`` (``m`` only matters mod ``2**s``: it travels in the smallest
   word holding ``s`` bits). (One round.)
2. With ``x'`` in ``[0, 2**63)``, ``x' + r'`` wraps past 2**64 exactly when
   ``msb(r') = 1`` and ``msb(c) = 0``, hence
   ``x' >> s = (c >> s) - (r' >> s) + 2**(64-s) * m * (1 - msb(c)) + carry``
   with ``carry`` in {0, 1} from the low ``s`` bits. A and B each compute
   their half of this minus ``2**(62-s)`` (``c >> s`` at A), and re-share
   the result into replicated form: the H–B and H–A components come from
   their PRGs, A and B exchange the masked remainder of the third. (One round.)

**Who learns what.** H receives nothing. A sees ``c`` masked by
``r_B (+ rho)`` (uniform, unknown to A), ``z_B + r_B``, ``z_H + rho`` and
the round-2 remainder masked by the H–B component; B symmetrically. No
party learns both ``c`` and ``r``. Terms are passed unmasked
(:func:`offchain.mpc.arithmetic.raw_product_terms`): everything that
travels is masked here.

Costs: truncation of a replicated share: 2 rounds, A and B send 2 words per
element, H 1 and a fraction. Fused with a multiplication
(:func:`mul_truncate`): 2 rounds in total, A and B send 2 words, H 3 and a
fraction (``z_H + rho`` to both, ``t_B``, ``m_B``).
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError, MpcError
from offchain.mpc.ring import RING_BITS, RING_DTYPE
from offchain.mpc.runtime import Runtime, check_received, expect_arrays
from offchain.mpc.shares import ArithmeticShare, FixedPointShare

OFFSET_BITS = RING_BITS - 2  # inputs must satisfy |X| < 2**62
_OFFSET = np.uint64(1 << OFFSET_BITS)
_ONE = np.uint64(1)
_MSB_SHIFT = np.uint64(RING_BITS - 1)


def _shift_array(shift: int | np.ndarray, size: int) -> np.uint64 | np.ndarray:
    """Validate a public shift (one for all elements, or one per element) and return it as uint64."""
    shifts = np.asarray(shift)
    if shifts.dtype.kind not in "iu":
        raise InputError(f"truncation shifts must be integers, got dtype {shifts.dtype}")
    if shifts.size and (shifts.min() < 1 or shifts.max() >= OFFSET_BITS):
        raise InputError(
            f"truncation shifts must lie in [1, {OFFSET_BITS}), got {shifts.min()}..{shifts.max()}"
        )
    if shifts.ndim == 0:
        return np.uint64(int(shifts))
    if shifts.shape != (size,):
        raise InputError(f"per-element shifts must have shape ({size},), got {shifts.shape}")
    return shifts.astype(np.uint64)


def truncate_terms(
    runtime: Runtime,
    term: np.ndarray,
    shift: int,
    helper_term_travels: bool,
    helper: int | None = None,
) -> np.ndarray:
    """Truncate the value whose additive terms the three parties hold; return ``[own, next]``.

    ``term`` is this party's additive term (any shape, uint64). When
    ``helper_term_travels`` is False the caller guarantees the helper's term
    is zero (its value already folded into the term of the party after the
    helper's successor), which saves the helper's message to both openers.
    Requires ``|sum of terms| < 2**62``; see the module docstring. ``helper``
    is taken from the runtime's rotation unless the caller already took it.
    """
    shifts = _shift_array(shift, term.size)
    if helper is None:
        helper = runtime.take_helper()
    final_shape = term.shape
    return _truncate_flat(runtime, term.reshape(-1), shifts, helper_term_travels, helper).reshape(
        (2, *final_shape)
    )


def _msb_dtype(shift: np.uint64 | np.ndarray) -> np.dtype:
    """Smallest word type for the halves of ``msb(r)``: they only matter mod ``2**shift``."""
    largest = int(np.max(shift)) if np.size(shift) else 1
    for bits in (8, 16, 32):
        if largest <= bits:
            return np.dtype(f"u{bits // 8}")
    return RING_DTYPE


def _truncate_flat(
    runtime: Runtime,
    term: np.ndarray,
    shift_u: np.uint64 | np.ndarray,
    helper_term_travels: bool,
    helper: int,
) -> np.ndarray:
    opener_a, opener_b = (helper + 1) % 3, (helper + 2) % 3
    shape = term.shape
    party = runtime.party
    half_dtype = _msb_dtype(shift_u)

    if party == helper:
        mask = runtime.prg_next.random(shape)  # r_A, shared with A
        np.add(mask, runtime.prg_previous.random(shape), out=mask)  # + r_B, shared with B
        sends: dict[int, list[np.ndarray]] = {}
        if helper_term_travels:
            # The helper's term goes to both openers, hidden by randomness only the helper knows.
            private = runtime.prg_private.random(shape)
            masked_term = np.add(term, private)  # term + rho
            np.add(mask, private, out=mask)  # r = r_A + r_B + rho
            sends[opener_a] = [masked_term]
        # c = X + r = (X + 2**62) + (r - 2**62): the helper folds the offset into the mask,
        # so the openers never add it; and it adds B's share of the public -2**(62-s) to t_B.
        np.subtract(mask, _OFFSET, out=mask)
        high = np.right_shift(mask, shift_u)
        np.subtract(high, runtime.prg_next.random(shape), out=high)  # t_B = (r >> s) - t_A
        np.add(high, _OFFSET >> shift_u, out=high)
        top_byte = mask.view(np.uint8)[..., 7::8]
        msb = np.right_shift(top_byte, np.uint8(7)).astype(half_dtype)
        np.subtract(msb, runtime.prg_next.random(shape, half_dtype), out=msb)  # m_B = msb(r) - m_A
        components = np.empty((2, *shape), dtype=RING_DTYPE)
        runtime.prg_next.fill(components[1, ...])  # component A, shared with A
        runtime.prg_previous.fill(components[0, ...])  # component H, shared with B
        sends[opener_b] = [masked_term, high, msb] if helper_term_travels else [high, msb]
        runtime.exchange(sends)
        runtime.exchange()
        return components

    if party == opener_a:
        masked = runtime.prg_previous.random(shape)  # r_A
        np.add(masked, term, out=masked)
        high_half = runtime.prg_previous.random(shape)  # t_A
        msb_half = runtime.prg_previous.random(shape, half_dtype)  # m_A
        components = np.empty((2, *shape), dtype=RING_DTYPE)
        component_a = runtime.prg_previous.fill(components[0, ...])
        receive = [opener_b, helper] if helper_term_travels else [opener_b]
        received = runtime.exchange({opener_b: [masked]}, receive)
        (from_b,) = expect_arrays(received[opener_b], 1, opener_b, "truncation")
        check_received(from_b, masked, opener_b, "truncation")
        opened = np.add(masked, from_b)  # masked was sent: never modify it
        if helper_term_travels:
            (helper_term,) = expect_arrays(received[helper], 1, helper, "truncation")
            check_received(helper_term, masked, helper, "truncation")
            np.add(opened, helper_term, out=opened)
        half = _opened_half(opened, high_half, msb_half, shift_u, public_part=True)
        np.subtract(half, component_a, out=half)
        received = runtime.exchange({opener_b: [half]}, [opener_b])
        (other_half,) = expect_arrays(received[opener_b], 1, opener_b, "truncation")
        check_received(other_half, half, opener_b, "truncation")
        np.add(half, other_half, out=components[1, ...])  # component B
        return components

    # opener B
    masked = runtime.prg_next.random(shape)  # r_B
    np.add(masked, term, out=masked)
    components = np.empty((2, *shape), dtype=RING_DTYPE)
    component_h = runtime.prg_next.fill(components[1, ...])
    received = runtime.exchange({opener_a: [masked]}, [opener_a, helper])
    expected = 3 if helper_term_travels else 2
    from_helper = expect_arrays(received[helper], expected, helper, "truncation")
    for array in from_helper[:-1]:
        check_received(array, masked, helper, "truncation")
    high_half, msb_half = from_helper[-2], from_helper[-1]
    if msb_half.dtype != half_dtype or msb_half.shape != shape:
        raise MpcError(
            f"truncation: party {helper} sent {msb_half.dtype}{list(msb_half.shape)} for the msb half"
        )
    (from_a,) = expect_arrays(received[opener_a], 1, opener_a, "truncation")
    check_received(from_a, masked, opener_a, "truncation")
    opened = np.add(masked, from_a)
    if helper_term_travels:
        np.add(opened, from_helper[0], out=opened)
    half = _opened_half(opened, high_half, msb_half, shift_u, public_part=False)
    np.subtract(half, component_h, out=half)
    received = runtime.exchange({opener_a: [half]}, [opener_a])
    (other_half,) = expect_arrays(received[opener_a], 1, opener_a, "truncation")
    check_received(other_half, half, opener_a, "truncation")
    np.add(half, other_half, out=components[0, ...])  # component B
    return components


def _opened_half(
    opened: np.ndarray,
    high_half: np.ndarray,
    msb_half: np.ndarray,
    shift: np.uint64 | np.ndarray,
    public_part: bool,
) -> np.ndarray:
    """Return an opener's additive half of ``x' >> s - 2**(62-s)`` from the opened ``c``.

    ``(c >> s) - (r >> s) + 2**(64-s) * m * (1 - msb(c)) - 2**(62-s)``: the
    ``c >> s`` term is added by opener A only; ``-2**(62-s)`` is already in
    B's half of ``r >> s`` (the helper put it there). Reuses ``opened``'s memory.
    """
    no_wrap = np.right_shift(opened, _MSB_SHIFT)
    np.bitwise_xor(no_wrap, _ONE, out=no_wrap)  # 1 - msb(c)
    np.multiply(no_wrap, msb_half, out=no_wrap, casting="unsafe")
    np.left_shift(no_wrap, np.uint64(RING_BITS) - shift, out=no_wrap)
    np.subtract(no_wrap, high_half, out=no_wrap)
    if public_part:
        np.right_shift(opened, shift, out=opened)
        np.add(no_wrap, opened, out=no_wrap)
    return no_wrap


def truncate(share: ArithmeticShare, shift: int) -> ArithmeticShare:
    """Return a sharing of ``x / 2**shift`` rounded stochastically (2 rounds).

    Requires ``|x| < 2**62``; the result is ``floor(x / 2**shift)`` or one more.
    """
    runtime = share.runtime
    helper = runtime.take_helper()
    components = np.asarray(share.components, order="C")
    # Fold the helper's component into opener B's term: B holds it already.
    offset = (runtime.party - helper) % 3
    if offset == 0:
        term = np.zeros(share.shape, dtype=RING_DTYPE)
    elif offset == 1:
        term = components[0, ...].copy()
    else:
        term = np.add(components[0, ...], components[1, ...])
    return share._like(
        truncate_terms(runtime, term, shift, helper_term_travels=False, helper=helper)
    )


def mul_truncate(x: FixedPointShare, y: FixedPointShare) -> FixedPointShare:
    """Return the fixed-point product ``x * y`` (2 rounds, fused multiplication and truncation).

    Requires ``|x * y| < 2**(62 - 2f)`` in real terms; error below ``2**-f``.
    """
    from offchain.mpc.arithmetic import product_terms

    if x.fractional_bits != y.fractional_bits:
        raise InputError(
            f"fixed-point operands have {x.fractional_bits} and {y.fractional_bits} fractional bits"
        )
    term = product_terms(x, y, mask=False)
    components = truncate_terms(x.runtime, term, x.fractional_bits, helper_term_travels=True)
    return FixedPointShare(x.runtime, components, x.fractional_bits)


def truncate_product_terms(
    runtime: Runtime, term: np.ndarray, fractional_bits: int
) -> FixedPointShare:
    """Truncate masked additive product terms (from a dot or matrix product) into a fixed-point share."""
    components = truncate_terms(runtime, term, fractional_bits, helper_term_travels=True)
    return FixedPointShare(runtime, components, fractional_bits)


def additive_terms(share: ArithmeticShare) -> np.ndarray:
    """Return this party's additive term of ``share`` for :func:`truncate_many`: its own component.

    The three own components sum to the value; the truncation protocol masks
    the terms it sends, so no extra randomness is needed here.
    """
    return np.array(share.components[0, ...], dtype=RING_DTYPE)


def truncate_many(runtime: Runtime, items: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """Truncate several values in one protocol run (2 rounds); return their ``[own, next]``.

    ``items`` holds ``(term, shift)`` pairs: ``term`` is this party's
    additive term of the value (from :func:`offchain.mpc.arithmetic.raw_product_terms`,
    :func:`additive_terms` or a sum of those), ``shift`` the public number of bits to drop.
    """
    if not items:
        return []
    flat = [np.asarray(term).reshape(-1) for term, _ in items]
    distinct = {int(shift) for _, shift in items}
    if len(distinct) == 1:
        shifts: int | np.ndarray = distinct.pop()
    else:
        shifts = np.concatenate(
            [
                np.full(part.size, shift, dtype=np.uint64)
                for part, (_, shift) in zip(flat, items, strict=True)
            ]
        )
    joined = np.concatenate(flat) if len(flat) > 1 else flat[0]
    result = truncate_terms(runtime, joined, shifts, helper_term_travels=True)
    outputs, start = [], 0
    for part, (term, _) in zip(flat, items, strict=True):
        outputs.append(result[:, start : start + part.size].reshape((2, *np.shape(term))))
        start += part.size
    return outputs
