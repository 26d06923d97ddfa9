"""Secret-shared PSI membership: who is in the intersection stays hidden from every single party.

For joins whose intersection must not be revealed, the output is, for each
owner, a 0/1 membership indicator over that owner's *distinct* keys (in
order of first appearance, as ``EncodedKeys.distinct`` gives them),
replicated-secret-shared among the three compute parties: party i holds the
components (x_i, x_{i+1 mod 3}) with x = x_0 + x_1 + x_2 mod 2**64
("arithmetic") or x = x_0 ^ x_1 ^ x_2 ("boolean"). The owner aggregates
per-key payloads locally (row counts, sums) in the same order and shares
them, so no row-to-key pattern ever leaves the owner.

Roles among the compute parties: the *matcher* M receives each owner's tags
PRF_k(key), shuffled by a permutation π_O the owner derives from a seed; the
two *permuters* P < Q receive only the seeds. Per owner (e = indicator in
tag order, length n):

1. M and P share a PRG seed s (M picks it): a = PRG_s("a"), r = PRG_s("r").
   Q picks a seed t shared with M: u = PRG_t("u"). M sends b = e − a to Q.
2. P and Q un-shuffle their halves a, b by π_O⁻¹ (now in key order) and
   exchange c_P = a∘π⁻¹ − r and c_Q = b∘π⁻¹ − u; both know c = c_P + c_Q.
3. e∘π⁻¹ = r + u + c: M holds (u, r), P holds (r, c), Q holds (c, u).

M sees e only in π order (it cannot invert π); P and Q see π but only
values masked by a PRG output of a pair they are not both in. Two rounds,
8n bytes M→Q and 8n bytes each way between P and Q per owner, plus seeds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from offchain.errors import InputError, PsiProtocolError
from offchain.mpc.transport import Transport
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


@dataclass(frozen=True)
class MembershipShare:
    """One compute party's replicated share of an owner's membership indicator.

    ``components`` is (x_i, x_{i+1 mod 3}) for party i, uint64 arrays of the
    owner's distinct-key count; ``kind`` says how components combine.
    """

    party: int
    kind: str
    components: tuple[np.ndarray, np.ndarray]


def _prg_words(seed: bytes, label: bytes, count: int) -> np.ndarray:
    nonce = label.ljust(16, b"\x00")
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(nonce)).encryptor()
    return np.frombuffer(encryptor.update(bytes(8 * count)), dtype="<u8").astype(np.uint64)


def _combine(kind: str, left: np.ndarray, right: np.ndarray, subtract: bool) -> np.ndarray:
    if kind == BOOLEAN:
        return np.bitwise_xor(left, right)
    return np.subtract(left, right) if subtract else np.add(left, right)


def _check_seed_pair(seeds) -> tuple[bytes, bytes]:
    if seeds is None or len(seeds) != 2 or any(len(seed) != SEED_BYTES for seed in seeds):
        raise InputError("permuters need the two owners' 32-byte permutation seeds")
    return tuple(seeds)


def shared_membership(
    transport: Transport,
    *,
    matcher: int,
    sizes: tuple[int, int],
    tags: tuple[np.ndarray, np.ndarray] | None = None,
    permutation_seeds: tuple[bytes, bytes] | None = None,
    kind: str = ARITHMETIC,
) -> tuple[MembershipShare, MembershipShare]:
    """Compute both owners' membership indicators as replicated shares (run at all 3 parties).

    The matcher passes the two owners' ``tags``; each permuter passes the two
    owners' ``permutation_seeds``; everyone passes ``sizes`` (distinct-key
    counts, public). Returns this party's share of owner 0's and owner 1's
    indicator, each over that owner's distinct keys.
    """
    me = transport.party
    if kind not in _KINDS:
        raise InputError(f"kind must be one of {_KINDS}, got {kind!r}")
    if matcher not in (0, 1, 2) or me not in (0, 1, 2):
        raise InputError(f"parties are 0, 1, 2; got matcher {matcher}, this party {me}")
    if any(size < 0 for size in sizes) or len(sizes) != 2:
        raise InputError(f"sizes must be two non-negative counts, got {sizes}")
    first_permuter, second_permuter = sorted({0, 1, 2} - {matcher})
    # Component x_j is the one party j+1 and j+2 hold, i.e. the one party j+2 lacks.
    slot_of_c = (matcher + 2) % 3
    slot_of_u = (first_permuter + 2) % 3
    slot_of_r = (second_permuter + 2) % 3

    if me == matcher:
        if tags is None or len(tags) != 2:
            raise InputError("the matcher needs both owners' tags")
        for owner, (owner_tags, size) in enumerate(zip(tags, sizes, strict=True)):
            if owner_tags.shape != (size, 2) or owner_tags.dtype != np.uint64:
                raise InputError(
                    f"owner {owner} tags must be ({size}, 2) uint64, got {owner_tags.dtype} {owner_tags.shape}"
                )
        positions = match_tags(tags[0], tags[1])
        seed_with_p = os.urandom(SEED_BYTES)
        transport.send(first_permuter, [np.frombuffer(seed_with_p, np.uint8)])
        halves_for_q = []
        for owner in (0, 1):
            indicator = np.zeros(sizes[owner], dtype=np.uint64)
            indicator[positions[owner]] = 1
            a = _prg_words(seed_with_p, b"a" + bytes((owner,)), sizes[owner])
            halves_for_q.append(_combine(kind, indicator, a, subtract=True))
        transport.send(second_permuter, halves_for_q)
        seed_with_q = _recv_seed(transport, second_permuter)
        shares = []
        for owner in (0, 1):
            r = _prg_words(seed_with_p, b"r" + bytes((owner,)), sizes[owner])
            u = _prg_words(seed_with_q, b"u" + bytes((owner,)), sizes[owner])
            shares.append(_assemble(me, kind, {slot_of_r: r, slot_of_u: u}))
        return tuple(shares)

    seeds = _check_seed_pair(permutation_seeds)
    inverses = [
        inverse_permutation(permutation_from_seed(seed, size))
        for seed, size in zip(seeds, sizes, strict=True)
    ]
    if me == first_permuter:
        seed_with_m = _recv_seed(transport, matcher)
        masked, masks = [], []
        for owner in (0, 1):
            a = _prg_words(seed_with_m, b"a" + bytes((owner,)), sizes[owner])
            r = _prg_words(seed_with_m, b"r" + bytes((owner,)), sizes[owner])
            masked.append(_combine(kind, a[inverses[owner]], r, subtract=True))
            masks.append(r)
        transport.send(second_permuter, masked)
        theirs = _recv_arrays(transport, second_permuter, sizes)
        return tuple(
            _assemble(
                me,
                kind,
                {
                    slot_of_r: masks[o],
                    slot_of_c: _combine(kind, masked[o], theirs[o], subtract=False),
                },
            )
            for o in (0, 1)
        )
    seed_with_m = os.urandom(SEED_BYTES)
    transport.send(matcher, [np.frombuffer(seed_with_m, np.uint8)])
    halves = _recv_arrays(transport, matcher, sizes)
    masked, masks = [], []
    for owner in (0, 1):
        u = _prg_words(seed_with_m, b"u" + bytes((owner,)), sizes[owner])
        masked.append(_combine(kind, halves[owner][inverses[owner]], u, subtract=True))
        masks.append(u)
    transport.send(first_permuter, masked)
    theirs = _recv_arrays(transport, first_permuter, sizes)
    return tuple(
        _assemble(
            me,
            kind,
            {slot_of_u: masks[o], slot_of_c: _combine(kind, theirs[o], masked[o], subtract=False)},
        )
        for o in (0, 1)
    )


def _assemble(me: int, kind: str, held: dict[int, np.ndarray]) -> MembershipShare:
    expected = {me, (me + 1) % 3}
    if set(held) != expected:
        raise PsiProtocolError(
            f"party {me} assembled components {sorted(held)}, expected {sorted(expected)}"
        )
    return MembershipShare(party=me, kind=kind, components=(held[me], held[(me + 1) % 3]))


def _recv_seed(transport: Transport, peer: int) -> bytes:
    message = transport.recv(peer)
    if len(message) != 1 or message[0].dtype != np.uint8 or message[0].shape != (SEED_BYTES,):
        raise PsiProtocolError(f"party {peer} did not send a {SEED_BYTES}-byte seed")
    return message[0].tobytes()


def _recv_arrays(transport: Transport, peer: int, sizes: tuple[int, int]) -> list[np.ndarray]:
    message = transport.recv(peer)
    if len(message) != 2 or any(
        array.dtype != np.uint64 or array.shape != (size,)
        for array, size in zip(message, sizes, strict=True)
    ):
        raise PsiProtocolError(f"party {peer} sent arrays that are not uint64 of lengths {sizes}")
    return list(message)


def reconstruct(shares: Iterable[MembershipShare]) -> np.ndarray:
    """Open a membership indicator from the three parties' shares, checking the replicas agree.

    For tests and for a requester entitled to the result; raises
    ``PsiProtocolError`` when two holders of one component disagree.
    """
    shares = sorted(shares, key=lambda share: share.party)
    if [share.party for share in shares] != [0, 1, 2] or len({share.kind for share in shares}) != 1:
        raise InputError(
            "reconstruct needs one share of the same kind from each of parties 0, 1, 2"
        )
    for party in range(3):
        if not np.array_equal(shares[party].components[1], shares[(party + 1) % 3].components[0]):
            raise PsiProtocolError(
                f"component x_{(party + 1) % 3} differs between parties {party} and {(party + 1) % 3}"
            )
    kind = shares[0].kind
    total = shares[0].components[0].copy()
    for party in (1, 2):
        total = _combine(kind, total, shares[party].components[0], subtract=False)
    return total
