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

**Protocol** (roles rotate per call, and, from ``SPLIT_MIN_ELEMENTS``
elements on, over thirds of the elements within a call: helper H, openers
A = H+1, B = H+2).
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
fraction (``z_H + rho`` to both, ``t_B``, ``m_B``). Several items share one
run (:func:`truncate_many`); a value truncated by several shifts is opened
once (each further shift costs the helper ``t_B``, ``m_B`` and the openers
one exchanged word), and :func:`truncate_sum` adds truncated items before
the openers' exchange (one word for the sum).
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError, MpcError
from offchain.mpc.ring import RING_BITS, RING_DTYPE
from offchain.mpc.runtime import Runtime, check_received, expect_arrays
from offchain.mpc.shares import ArithmeticShare, FixedPointShare

CHUNK_ELEMENTS = 1 << 15  # elements per piece of local work (fits a core's L2 with its scratch)
# From this many opened elements in one call the helper role is split over thirds of them. Below it the
# three parts' fixed per-array costs outweigh the helper's extra bytes, and rotation across calls spreads
# the role (training's SGD steps, on batches of about a thousand elements, measured about 10 % slower split).
SPLIT_MIN_ELEMENTS = 3 * 4096

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
    if helper is None:
        helper = runtime.take_helper()
    (components,) = _truncate_items(runtime, [(term, shift)], helper_term_travels, helper)
    return components


def _msb_dtype(shift: np.uint64 | np.ndarray) -> np.dtype:
    """Smallest word type for the halves of ``msb(r)``: they only matter mod ``2**shift``."""
    largest = int(np.max(shift)) if np.size(shift) else 1
    for bits in (8, 16, 32):
        if largest <= bits:
            return np.dtype(f"u{bits // 8}")
    return RING_DTYPE


def _truncate_items(
    runtime: Runtime,
    items: list[tuple[np.ndarray, int | np.ndarray]],
    helper_term_travels: bool,
    helper: int,
    summed: bool = False,
) -> list[np.ndarray]:
    """Run one truncation protocol for several ``(term, shift)`` items; return their ``[own, next]``.

    Every item keeps its own arrays and its own shift; the messages of a
    round carry one array per item, so nothing is concatenated. Items whose
    term is the same array object are opened once (``c = X + r`` serves every
    shift of ``X``). With ``summed`` the truncated items are added up and one
    sharing of the sum is returned: the openers exchange one array for all.

    When the helper's term travels and at least ``SPLIT_MIN_ELEMENTS``
    elements are opened, the elements are split in three and
    each third has its own helper (``helper``, ``helper + 1``, ``helper + 2``):
    every party is helper for one third and opener for the two others, so
    the helper's extra work and bytes are spread evenly within one call.
    (Terms prepared for one known helper, ``helper_term_travels=False``,
    keep a single part.) All parties walk the parts and items in the same
    order, which keeps the streams in step.
    """
    originals: list[object] = []
    openings: list[np.ndarray] = []
    uses: list[tuple[int, np.uint64 | np.ndarray, tuple[int, ...]]] = []
    for term, shift in items:
        array = np.asarray(term)
        if array.dtype != RING_DTYPE:
            raise InputError(f"truncation terms must be uint64, got {array.dtype}")
        opening = next((i for i, seen in enumerate(originals) if seen is term), None)
        if opening is None:
            opening = len(originals)
            originals.append(term)
            openings.append(array.reshape(-1))
        uses.append((opening, _shift_array(shift, array.size), array.shape))
    if summed:
        shapes = {shape for _, _, shape in uses}
        if len(shapes) != 1:
            raise InputError(f"summed truncations need terms of one shape, got {sorted(shapes)}")
        groups = [list(range(len(uses)))]
    else:
        groups = [[index] for index in range(len(uses))]
    outputs = [
        np.empty((2, openings[uses[group[0]][0]].size), dtype=RING_DTYPE) for group in groups
    ]
    split = helper_term_travels and sum(term.size for term in openings) >= SPLIT_MIN_ELEMENTS
    parts = _parts(openings, helper, split=split)
    roles = [
        _Role(runtime, openings, uses, groups, outputs, part, helper_term_travels) for part in parts
    ]
    for role in roles:
        role.before_first_round()
    for role in roles:
        role.helper_halves_of_t()  # t_A is drawn after every other draw of the first round
    _exchange_parts(runtime, roles, "first")
    for role in roles:
        role.before_second_round()
    _exchange_parts(runtime, roles, "second")
    for role in roles:
        role.finish()
    return [
        out.reshape((2, *uses[group[0]][2])) for out, group in zip(outputs, groups, strict=True)
    ]


def _parts(openings: list[np.ndarray], helper: int, split: bool) -> list[tuple[list[slice], int]]:
    """Return the parts of the protocol: per part the slice of every opened value, and its helper."""
    if not split:
        return [([slice(0, term.size) for term in openings], helper)]
    parts = []
    for third in range(3):
        slices = [slice(term.size * third // 3, term.size * (third + 1) // 3) for term in openings]
        parts.append((slices, (helper + third) % 3))
    return parts


def _exchange_parts(runtime: Runtime, roles: list[_Role], which: str) -> None:
    """Run one round for all parts: each part's arrays for a peer go in that peer's message."""
    sends: dict[int, list[np.ndarray]] = {}
    expected: dict[int, int] = {}
    for role in roles:
        for peer, arrays in role.sends(which).items():
            sends.setdefault(peer, []).extend(arrays)
        for peer, count in role.expects(which).items():
            expected[peer] = expected.get(peer, 0) + count
    sends = {peer: arrays for peer, arrays in sends.items() if arrays}
    received = runtime.exchange(sends, [peer for peer, count in expected.items() if count])
    for peer, count in expected.items():
        if not count:
            continue
        arrays = expect_arrays(received[peer], count, peer, "truncation")
        for role in roles:
            take = role.expects(which).get(peer, 0)
            role.receive(which, peer, arrays[:take])
            arrays = arrays[take:]


class _Role:
    """One part of a truncation run, from this party's point of view (helper, opener A or B)."""

    def __init__(self, runtime, openings, uses, groups, outputs, part, travels) -> None:
        slices, helper = part
        self.runtime = runtime
        self.helper = helper
        self.kind = (runtime.party - helper) % 3  # 0 helper, 1 opener A, 2 opener B
        self.a, self.b = (helper + 1) % 3, (helper + 2) % 3
        self.travels = travels
        self.terms = [term[piece] for term, piece in zip(openings, slices, strict=True)]
        self.uses = [
            (opening, shift[slices[opening]] if np.ndim(shift) else shift)
            for opening, shift, _ in uses
        ]
        self.groups = groups
        self.outputs = [
            out[:, slices[uses[group[0]][0]]] for out, group in zip(outputs, groups, strict=True)
        ]
        self.received: dict[tuple[str, int], list[np.ndarray]] = {}
        # A shares its stream with the helper as "previous", B as "next".
        self.with_helper = runtime.prg_previous if self.kind == 1 else runtime.prg_next

    # -- messages -------------------------------------------------------------------

    def sends(self, which: str) -> dict[int, list[np.ndarray]]:
        if which == "first":
            if self.kind == 0:
                to_b = self.masked_terms + [a for pair in self.to_b for a in pair]
                return {self.a: self.masked_terms, self.b: to_b}
            return {self.b if self.kind == 1 else self.a: self.masked}
        if self.kind == 0:
            return {}
        return {self.b if self.kind == 1 else self.a: self.halves}

    def expects(self, which: str) -> dict[int, int]:
        if self.kind == 0:
            return {}
        other = self.b if self.kind == 1 else self.a
        if which == "second":
            return {other: len(self.groups)}
        from_helper = len(self.terms) if self.travels else 0
        if self.kind == 2:
            from_helper += 2 * len(self.uses)
        return {other: len(self.terms), self.helper: from_helper}

    def receive(self, which: str, peer: int, arrays: list[np.ndarray]) -> None:
        self.received[(which, peer)] = arrays

    # -- the helper -------------------------------------------------------------------

    def before_first_round(self) -> None:
        if self.kind == 0:
            self._deal_masks()
        else:
            self._mask_terms()

    def _deal_masks(self) -> None:
        """Draw each mask ``r`` (with both openers' streams and a private one) and deal ``msb(r')``."""
        runtime = self.runtime
        self.masked_terms: list[np.ndarray] = []
        self.masks = []
        for term in self.terms:
            mask = np.empty(term.shape, dtype=RING_DTYPE)
            masked_term = np.empty(term.shape, dtype=RING_DTYPE) if self.travels else None
            for start in range(0, term.size, CHUNK_ELEMENTS):
                part = slice(start, start + CHUNK_ELEMENTS)
                mask_part = mask[part]
                runtime.prg_next.fill(mask_part)  # r_A, shared with A
                runtime.prg_previous.add_into(mask_part)  # + r_B, shared with B
                if self.travels:
                    # The helper's term goes to both openers, hidden by rho that only it knows.
                    rho = runtime.prg_private.fill(masked_term[part])
                    np.add(mask_part, rho, out=mask_part)  # r = r_A + r_B + rho
                    np.add(rho, term[part], out=rho)  # z_H + rho
                # c = X + r = (X + 2**62) + (r - 2**62): the helper folds the offset into the
                # mask, so the openers never add it; it adds B's share of -2**(62-s) to t_B.
                np.subtract(mask_part, _OFFSET, out=mask_part)
            if self.travels:
                self.masked_terms.append(masked_term)
            self.masks.append(mask)
        self.msbs = []
        for opening, shift in self.uses:
            top_bytes = self.masks[opening].view(np.uint8)[7::8]
            msb = np.right_shift(top_bytes, np.uint8(7)).astype(_msb_dtype(shift))
            self.msbs.append(runtime.prg_next.add_into(msb, subtract=True))  # m_B = msb - m_A
        for components in self.outputs:
            runtime.prg_next.fill(components[1])  # component A, shared with A
            runtime.prg_previous.fill(components[0])  # component H, shared with B

    def helper_halves_of_t(self) -> None:
        if self.kind != 0:
            return
        self.to_b = []
        for (opening, shift), msb in zip(self.uses, self.msbs, strict=True):
            high = np.right_shift(self.masks[opening], shift)
            np.add(high, _OFFSET >> shift, out=high)
            self.runtime.prg_next.add_into(high, subtract=True)  # t_B = (r' >> s) - t_A
            self.to_b.append((high, msb))

    # -- the openers ------------------------------------------------------------------

    def _mask_terms(self) -> None:
        """Mask this opener's terms with its stream from the helper; draw its output component."""
        self.masked = []
        for term in self.terms:
            masked = np.empty(term.shape, dtype=RING_DTYPE)
            self.masked.append(self.with_helper.add_into(masked, base=term))  # z + r_A (or r_B)
        if self.kind == 1:
            self.msb_halves = [
                self.with_helper.random(self.terms[o].shape, _msb_dtype(s)) for o, s in self.uses
            ]  # m_A
        for components in self.outputs:
            # A's own component is component A (from the helper's PRG); B's next is component H.
            self.with_helper.fill(components[0] if self.kind == 1 else components[1])

    def before_second_round(self) -> None:
        """Open each ``c`` and compute this opener's half of every output, minus its own component."""
        if self.kind == 0:
            return
        is_a = self.kind == 1
        other = self.b if is_a else self.a
        from_other = self.received[("first", other)]
        from_helper = self.received.get(("first", self.helper), [])
        opened = []  # the arrays whose sum is c, for each opened value
        for index, masked in enumerate(self.masked):
            check_received(from_other[index], masked, other, "truncation")
            parts = [masked, from_other[index]]
            if self.travels:
                check_received(from_helper[index], masked, self.helper, "truncation")
                parts.append(from_helper[index])
            opened.append(parts)
        self.halves = []
        for group, components in zip(self.groups, self.outputs, strict=True):
            # A's half minus component A, B's half minus component H: the rest is component B.
            half = np.negative(components[0] if is_a else components[1])
            for use in group:
                opening, shift = self.uses[use]
                if is_a:
                    _add_opened_half(half, opened[opening], None, self.msb_halves[use], shift)
                    self.with_helper.add_into(half, subtract=True)  # - t_A, drawn now
                else:
                    base = (len(self.terms) if self.travels else 0) + 2 * use
                    high_half, msb_half = from_helper[base], from_helper[base + 1]
                    check_received(high_half, self.masked[opening], self.helper, "truncation")
                    half_dtype = _msb_dtype(shift)
                    if msb_half.dtype != half_dtype or msb_half.shape != high_half.shape:
                        raise MpcError(
                            f"truncation: party {self.helper} sent {msb_half.dtype}"
                            f"{list(msb_half.shape)} for the msb half, expected {half_dtype}"
                            f"{list(high_half.shape)}"
                        )
                    _add_opened_half(half, opened[opening], high_half, msb_half, shift)
            self.halves.append(half)

    def finish(self) -> None:
        """Add the other opener's half: component B, which both openers hold."""
        if self.kind == 0:
            return
        is_a = self.kind == 1
        other = self.b if is_a else self.a
        other_halves = self.received[("second", other)]
        for half, other_half, components in zip(
            self.halves, other_halves, self.outputs, strict=True
        ):
            check_received(other_half, half, other, "truncation")
            np.add(half, other_half, out=components[1] if is_a else components[0])


def _add_opened_half(
    accumulator: np.ndarray,
    opened: list[np.ndarray],
    high_half: np.ndarray | None,
    msb_half: np.ndarray,
    shift: np.uint64 | np.ndarray,
) -> None:
    """Add an opener's half of ``x' >> s - 2**(62-s)`` to ``accumulator``; ``c`` is ``sum(opened)``.

    The half is ``(c >> s) - (r >> s) + 2**(64-s) * m * (1 - msb(c)) - 2**(62-s)``:
    the ``c >> s`` term is added by opener A only (``high_half`` None; A then
    subtracts its half of ``r >> s`` itself); ``-2**(62-s)`` is already in
    B's half of ``r >> s`` (the helper put it there). Works in cache-sized
    pieces, ``c`` included, so no full-size temporary is written.
    """
    size = accumulator.size
    piece = min(CHUNK_ELEMENTS, size)
    c = np.empty(piece, dtype=RING_DTYPE)
    wrap = np.empty(piece, dtype=RING_DTYPE)
    per_element_shift = np.ndim(shift) > 0
    for start in range(0, size, CHUNK_ELEMENTS):
        stop = min(start + CHUNK_ELEMENTS, size)
        part = slice(start, stop)
        c_part, wrap_part, out = c[: stop - start], wrap[: stop - start], accumulator[part]
        s = shift[part] if per_element_shift else shift
        np.add(opened[0][part], opened[1][part], out=c_part)
        for extra in opened[2:]:
            np.add(c_part, extra[part], out=c_part)
        np.right_shift(c_part, _MSB_SHIFT, out=wrap_part)
        np.bitwise_xor(wrap_part, _ONE, out=wrap_part)  # 1 - msb(c)
        np.multiply(wrap_part, msb_half[part], out=wrap_part, casting="unsafe")
        np.left_shift(wrap_part, np.uint64(RING_BITS) - s, out=wrap_part)
        np.add(out, wrap_part, out=out)
        if high_half is None:
            np.right_shift(c_part, s, out=c_part)
            np.add(out, c_part, out=out)
        else:
            np.subtract(out, high_half[part], out=out)


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
    return _truncate_items(runtime, items, helper_term_travels=True, helper=runtime.take_helper())


def truncate_sum(runtime: Runtime, items: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Return ``[own, next]`` of the sum of the truncated items (one protocol run, 2 rounds).

    Like :func:`truncate_many` followed by adding the results, but the
    openers exchange one array for the sum instead of one per item. Terms
    must have one shape; each truncation rounds as in :func:`truncate_many`.
    """
    if not items:
        raise InputError("truncate_sum needs at least one item")
    (components,) = _truncate_items(
        runtime, items, helper_term_travels=True, helper=runtime.take_helper(), summed=True
    )
    return components
