"""Getting results out: reveal to all, reveal to one party, export to an outside requester.

Party ``i`` holds ``(x_i, x_{i+1})`` and lacks ``x_{i-1}``, which both other
parties hold. Semi-honest opening sends each missing component once.

**Verified mode** (``EngineConfig(verified=True)``) uses the replication to
detect a party that deviates on output: every component is held by two
parties, so each copy sent is checked against the other holder's copy. In
``reveal`` every party sends both its components to both peers (4 arrays
instead of 1) and checks all three components; in ``reveal_to`` the target
receives both peers' pairs. An outside requester reconstructing from three
exported payloads (:func:`reconstruct`) checks the same way. On
disagreement the checking party raises ``ShareMismatch`` whose
``candidates`` are the holders common to every mismatching component (a
party that tampers with both its components is named alone; tampering with
one names that component's two holders, minus the checking party itself,
which knows its own copy is right). Verified mode protects outputs only:
a party deviating earlier in the computation produces a wrong but
consistently shared result (see docs/MPC.md, security).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from offchain.errors import InputError, MpcError, ShareMismatch
from offchain.mpc.fixedpoint import decode
from offchain.mpc.ring import RING_DTYPE, to_signed
from offchain.mpc.runtime import check_received, expect_arrays
from offchain.mpc.seeds import PARTIES
from offchain.mpc.shares import BooleanShare, FixedPointShare, Share
from offchain.mpc.sharing import SharePayload


def _combine(components: Sequence[np.ndarray], boolean: bool) -> np.ndarray:
    first, second, third = components
    if boolean:
        return np.bitwise_xor(np.bitwise_xor(first, second), third)
    return np.add(np.add(first, second), third)


def _decode(share: Share, plain: np.ndarray) -> np.ndarray:
    if isinstance(share, FixedPointShare):
        return decode(plain, share.fractional_bits)
    if isinstance(share, BooleanShare):
        return plain
    return to_signed(plain)


def locate_mismatch(
    copies: dict[int, list[tuple[int, np.ndarray]]],
    trusted: tuple[int, ...] = (),
    where: str = "output",
) -> None:
    """Raise ``ShareMismatch`` if the copies of any component disagree.

    ``copies[j]`` lists ``(holder, array)`` for component ``j``. ``trusted``
    parties (the checking party itself) are never named as suspects.
    """
    mismatching = []
    details = []
    for component, holders in sorted(copies.items()):
        (first_holder, reference), *others = holders
        for holder, array in others:
            if array.shape != reference.shape or not np.array_equal(array, reference):
                mismatching.append({first_holder, holder})
                if array.shape != reference.shape:
                    what = f"has shape {array.shape} at party {holder} and {reference.shape} at party {first_holder}"
                else:
                    differing = np.flatnonzero(array.reshape(-1) != reference.reshape(-1))
                    what = (
                        f"differs between party {first_holder} and party {holder} at {differing.size} of "
                        f"{reference.size} positions (first at flat index {int(differing[0])})"
                    )
                details.append(f"component x{component} {what}")
    if not mismatching:
        return
    suspects = set.intersection(*mismatching) - set(trusted)
    if not suspects:
        # No single party explains every mismatch: more than one party deviated.
        suspects = set.union(*mismatching) - set(trusted)
    candidates = tuple(sorted(suspects))
    suspect = candidates[0] if len(candidates) == 1 else None
    named = (
        f"party {suspect} deviated"
        if suspect is not None
        else f"one of parties {list(candidates)} deviated"
    )
    raise ShareMismatch(
        f"verified {where}: {'; '.join(details)}; {named}", suspect=suspect, candidates=candidates
    )


def reveal(share: Share) -> np.ndarray:
    """Open ``share`` to all three parties (one round); decode by type.

    Returns int64 for integer shares, float64 for fixed point, the word dtype
    for boolean shares.
    """
    runtime = share.runtime
    boolean = isinstance(share, BooleanShare)
    own, next_ = np.asarray(share.own, order="C"), np.asarray(share.next, order="C")
    previous, following = runtime.previous_party, runtime.next_party
    if not runtime.verified:
        received = runtime.exchange({following: [own]}, [previous])
        (missing,) = expect_arrays(received[previous], 1, previous, "reveal")
        check_received(missing, own, previous, "reveal")
        return _decode(share, _combine((own, next_, missing), boolean))
    pair = [own, next_]
    received = runtime.exchange({previous: pair, following: pair}, [previous, following])
    prev_own, prev_next = expect_arrays(received[previous], 2, previous, "verified reveal")
    next_own, next_next = expect_arrays(received[following], 2, following, "verified reveal")
    for array in (prev_own, prev_next, next_own, next_next):
        check_received(array, own, previous, "verified reveal")
    party = runtime.party
    locate_mismatch(
        {
            party: [(party, own), (previous, prev_next)],
            following: [(party, next_), (following, next_own)],
            previous: [(previous, prev_own), (following, next_next)],
        },
        trusted=(party,),
        where=f"reveal at party {party}",
    )
    return _decode(share, _combine((own, next_, prev_own), boolean))


def reveal_to(share: Share, party: int) -> np.ndarray | None:
    """Open ``share`` to ``party`` only (one round); the other parties return None."""
    runtime = share.runtime
    if party not in range(PARTIES):
        raise InputError(f"can only reveal to party 0, 1 or 2, got {party}")
    boolean = isinstance(share, BooleanShare)
    own, next_ = np.asarray(share.own, order="C"), np.asarray(share.next, order="C")
    before, after = (party + 2) % PARTIES, (party + 1) % PARTIES
    if not runtime.verified:
        if runtime.party == before:
            runtime.exchange({party: [own]})
            return None
        if runtime.party == after:
            runtime.exchange()
            return None
        received = runtime.exchange(receive_from=[before])
        (missing,) = expect_arrays(received[before], 1, before, "reveal_to")
        check_received(missing, own, before, "reveal_to")
        return _decode(share, _combine((own, next_, missing), boolean))
    if runtime.party != party:
        runtime.exchange({party: [own, next_]})
        return None
    received = runtime.exchange(receive_from=[before, after])
    before_own, before_next = expect_arrays(received[before], 2, before, "verified reveal_to")
    after_own, after_next = expect_arrays(received[after], 2, after, "verified reveal_to")
    for array in (before_own, before_next, after_own, after_next):
        check_received(array, own, before, "verified reveal_to")
    locate_mismatch(
        {
            party: [(party, own), (before, before_next)],
            after: [(party, next_), (after, after_own)],
            before: [(before, before_own), (after, after_next)],
        },
        trusted=(party,),
        where=f"reveal to party {party}",
    )
    return _decode(share, _combine((own, next_, before_own), boolean))


def export(share: Share) -> SharePayload:
    """Return this party's components of ``share`` for an outside requester (local).

    The requester calls :func:`reconstruct` on the three parties' payloads.
    """
    if isinstance(share, FixedPointShare):
        kind, bits = "fixed", share.fractional_bits
    elif isinstance(share, BooleanShare):
        if share.dtype != RING_DTYPE:
            raise InputError(f"export boolean shares as uint64 words, got {share.dtype}")
        kind, bits = "boolean", 0
    else:
        kind, bits = "integer", 0
    return SharePayload(
        party=share.runtime.party,
        kind=kind,
        shape=share.shape,
        fractional_bits=bits,
        own=np.asarray(share.own, order="C"),
        next=np.asarray(share.next, order="C"),
    )


def reconstruct(payloads: Sequence[SharePayload], verify: bool = True) -> np.ndarray:
    """Rebuild the value from the three parties' exported payloads (at the requester).

    With ``verify`` (the default) every component is compared between its
    two holders and ``ShareMismatch`` names the deviating party. Returns
    int64, float64 (fixed point) or uint64 words (boolean).
    """
    by_party = {}
    for payload in payloads:
        if payload.party in by_party:
            raise InputError(
                f"two payloads claim party {payload.party}; need one from each of 0, 1, 2"
            )
        by_party[payload.party] = payload
    if sorted(by_party) != list(range(PARTIES)):
        raise InputError(
            f"need one payload from each of parties 0, 1, 2, got parties {sorted(by_party)}"
        )
    first = by_party[0]
    for payload in by_party.values():
        if (payload.kind, tuple(payload.shape), payload.fractional_bits) != (
            first.kind,
            tuple(first.shape),
            first.fractional_bits,
        ):
            raise MpcError(
                f"payloads describe different values: party 0 sent {first.kind}{list(first.shape)} with "
                f"{first.fractional_bits} fractional bits, party {payload.party} sent "
                f"{payload.kind}{list(payload.shape)} with {payload.fractional_bits}"
            )
    components = {party: payload.components() for party, payload in by_party.items()}
    if verify:
        locate_mismatch(
            {
                j: [(j, components[j][0]), ((j + 2) % PARTIES, components[(j + 2) % PARTIES][1])]
                for j in range(PARTIES)
            },
            where="reconstruction at the requester",
        )
    boolean = first.kind == "boolean"
    plain = _combine([components[j][0] for j in range(PARTIES)], boolean)
    if first.kind == "fixed":
        return decode(plain, first.fractional_bits)
    if boolean:
        return plain
    return to_signed(plain)
