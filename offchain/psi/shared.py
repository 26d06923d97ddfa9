"""Secret-shared PSI membership: who is in the intersection stays hidden from every single party.

For joins whose intersection must not be revealed, the output is, for each
owner, a 0/1 membership indicator over that owner's *distinct* keys (in
order of first appearance, as ``EncodedKeys.distinct`` gives them), as an
engine share among the three compute parties: an ``ArithmeticShare`` (0/1
mod 2**64, ready for sums and products) or a ``BooleanShare`` (0/1 words,
ready for AND/select). The owner aggregates per-key payloads locally (row
counts, sums) in the same order and shares them with the engine's input
functions, so no row-to-key pattern ever leaves the owner.

Roles among the compute parties: the *matcher* M receives each owner's tags
PRF_k(key), shuffled by a permutation π_O the owner derives from a seed; the
two *permuters* P < Q receive only the seeds. Per owner (e = indicator in
tag order, length n), with the runtime's pairwise PRGs (keys agreed at
session start, no dealer):

1. From PRG(M, P): a and r. From PRG(Q, M): u. M sends b = e − a to Q.
2. P and Q un-shuffle their halves a, b by π_O⁻¹ (now in key order) and
   exchange c_P = a∘π⁻¹ − r and c_Q = b∘π⁻¹ − u; both know c = c_P + c_Q.
3. e∘π⁻¹ = r + u + c: M holds (u, r), P holds (r, c), Q holds (c, u): a
   replicated sharing (party i holds components i and i + 1).

M sees e only in π order (it cannot invert π); P and Q see π but only
values masked by a PRG output of a pair they are not both in. Two rounds;
8n bytes M→Q and 8n bytes each way between P and Q per owner.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from offchain.errors import InputError, PsiProtocolError
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import ArithmeticShare, BooleanShare
from offchain.psi.encoding import EncodedKeys, encode_keys
from offchain.psi.matching import match_tags
from offchain.psi.shuffle import SEED_BYTES, inverse_permutation, permutation_from_seed
from offchain.psi.tags import TagKey

ARITHMETIC = "arithmetic"
BOOLEAN = "boolean"
_KINDS = (ARITHMETIC, BOOLEAN)


@dataclass(frozen=True)
class MembershipSubmission:
    """What an owner prepares: tags for the matcher, a seed for the permuters, the rest kept."""

    tags: np.ndarray
    """(n, 2) uint64 tags of the distinct keys in shuffled order: send to the matcher only."""
    permutation_seed: bytes
    """Seed of the shuffle: send to the two permuters only."""
    distinct: EncodedKeys
    """The distinct keys in indicator order (kept by the owner)."""
    inverse: np.ndarray
    """Row r holds distinct key ``inverse[r]`` (kept by the owner)."""


def prepare_membership(
    keys: Iterable[object] | np.ndarray | EncodedKeys, tag_key: TagKey
) -> MembershipSubmission:
    """Deduplicate, shuffle and tag an owner's keys for ``shared_membership``."""
    distinct, inverse = encode_keys(keys).distinct()
    seed = os.urandom(SEED_BYTES)
    permutation = permutation_from_seed(seed, len(distinct))
    return MembershipSubmission(
        tags=tag_key.tags(distinct.take(permutation)),
        permutation_seed=seed,
        distinct=distinct,
        inverse=inverse,
    )


def _combine(kind: str, left: np.ndarray, right: np.ndarray, subtract: bool) -> np.ndarray:
    if kind == BOOLEAN:
        return np.bitwise_xor(left, right)
    return np.subtract(left, right) if subtract else np.add(left, right)


def shared_membership(
    runtime: Runtime,
    *,
    matcher: int,
    sizes: tuple[int, int],
    tags: tuple[np.ndarray, np.ndarray] | None = None,
    permutation_seeds: tuple[bytes, bytes] | None = None,
    kind: str = ARITHMETIC,
) -> tuple[ArithmeticShare | BooleanShare, ArithmeticShare | BooleanShare]:
    """Share both owners' membership indicators among the 3 parties (an engine program).

    The matcher passes the two owners' ``tags``; each permuter passes the two
    owners' ``permutation_seeds``; everyone passes ``sizes`` (distinct-key
    counts, public). Returns this party's share of owner 0's and owner 1's
    indicator, each of shape (size,), values 0 or 1.
    """
    me = runtime.party
    if kind not in _KINDS:
        raise InputError(f"kind must be one of {_KINDS}, got {kind!r}")
    if matcher not in (0, 1, 2):
        raise InputError(f"the matcher is compute party 0, 1 or 2, got {matcher}")
    if len(sizes) != 2 or any(size < 0 for size in sizes):
        raise InputError(f"sizes must be two non-negative counts, got {sizes}")
    share_type = BooleanShare if kind == BOOLEAN else ArithmeticShare
    first_permuter, second_permuter = sorted({0, 1, 2} - {matcher})
    # Party i holds components i and i + 1, so the one party k lacks is k + 2.
    component_of = {
        "c": (matcher + 2) % 3,
        "u": (first_permuter + 2) % 3,
        "r": (second_permuter + 2) % 3,
    }

    def assemble(held: dict[str, np.ndarray]) -> ArithmeticShare | BooleanShare:
        by_component = {component_of[name]: value for name, value in held.items()}
        own, following = me, (me + 1) % 3
        if set(by_component) != {own, following}:
            raise PsiProtocolError(f"party {me} assembled components {sorted(by_component)}")
        return share_type(runtime, np.stack([by_component[own], by_component[following]]))

    if me == matcher:
        if tags is None or len(tags) != 2:
            raise InputError("the matcher needs both owners' tags")
        for owner, (owner_tags, size) in enumerate(zip(tags, sizes, strict=True)):
            if owner_tags.shape != (size, 2) or owner_tags.dtype != np.uint64:
                raise InputError(
                    f"owner {owner} tags must be ({size}, 2) uint64, "
                    f"got {owner_tags.dtype} {owner_tags.shape}"
                )
        positions = match_tags(tags[0], tags[1])
        with_p, with_q = runtime.prg_with(first_permuter), runtime.prg_with(second_permuter)
        halves_for_q, masks = [], []
        for owner in (0, 1):
            a, r = with_p.random(sizes[owner]), with_p.random(sizes[owner])
            u = with_q.random(sizes[owner])
            indicator = np.zeros(sizes[owner], dtype=np.uint64)
            indicator[positions[owner]] = 1
            halves_for_q.append(_combine(kind, indicator, a, subtract=True))
            masks.append({"r": r, "u": u})
        runtime.exchange({second_permuter: halves_for_q}, [])
        return tuple(assemble(held) for held in masks)

    seeds = _check_seed_pair(permutation_seeds)
    inverses = [
        inverse_permutation(permutation_from_seed(seed, size))
        for seed, size in zip(seeds, sizes, strict=True)
    ]
    if me == first_permuter:
        with_m = runtime.prg_with(matcher)
        masked, masks = [], []
        for owner in (0, 1):
            a, r = with_m.random(sizes[owner]), with_m.random(sizes[owner])
            masked.append(_combine(kind, a[inverses[owner]], r, subtract=True))
            masks.append(r)
        theirs = _expect(
            runtime.exchange({second_permuter: masked}, [second_permuter]), second_permuter, sizes
        )
        return tuple(
            assemble({"r": masks[o], "c": _combine(kind, masked[o], theirs[o], subtract=False)})
            for o in (0, 1)
        )
    with_m = runtime.prg_with(matcher)
    masks = [with_m.random(size) for size in sizes]
    halves = _expect(runtime.exchange({}, [matcher]), matcher, sizes)
    masked = [_combine(kind, halves[o][inverses[o]], masks[o], subtract=True) for o in (0, 1)]
    theirs = _expect(
        runtime.exchange({first_permuter: masked}, [first_permuter]), first_permuter, sizes
    )
    return tuple(
        assemble({"u": masks[o], "c": _combine(kind, theirs[o], masked[o], subtract=False)})
        for o in (0, 1)
    )


def _check_seed_pair(seeds) -> tuple[bytes, bytes]:
    if seeds is None or len(seeds) != 2 or any(len(seed) != SEED_BYTES for seed in seeds):
        raise InputError("permuters need the two owners' 32-byte permutation seeds")
    return tuple(seeds)


def _expect(
    received: dict[int, list[np.ndarray]], peer: int, sizes: tuple[int, int]
) -> list[np.ndarray]:
    message = received[peer]
    if len(message) != 2 or any(
        array.dtype != np.uint64 or array.shape != (size,)
        for array, size in zip(message, sizes, strict=True)
    ):
        raise PsiProtocolError(f"party {peer} sent arrays that are not uint64 of lengths {sizes}")
    return list(message)
