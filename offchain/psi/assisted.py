"""Matcher-assisted PSI: two owners, one compute node that matches keyed tags.

For our honest-majority setting (at most one of the parties corrupted, and
the matcher never colluding with an owner):

1. Owners A and B agree on a tag key k over their authenticated link
   (``tags.agree_tag_key``); the matcher never sees k.
2. Each owner deduplicates its keys, shuffles the distinct keys with a fresh
   secret permutation and sends the 128-bit tags PRF_k(key) to the matcher,
   streamed in batches, after a HELLO naming the mode and its set size.
3. The matcher checks both owners asked for the same thing, matches the tags
   exactly (``matching.match_tags``) and sends each receiving owner the
   positions of its matching tags, both lists in the same order, or only the
   count.

The matcher learns the two set sizes and which positions match, i.e. the
number of common keys and a match pattern between two random orders it
cannot invert; without k the tags are pseudorandom, so it cannot test a
guessed key. An owner learns the peer's set size and what it receives.
docs/PSI.md states when the policy allows this mode.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from offchain.errors import InputError, PsiProtocolError
from offchain.mpc.transport import Transport
from offchain.psi.encoding import ENCODING_VERSION, EncodedKeys, encode_keys
from offchain.psi.matching import match_tags, rows_by_group
from offchain.psi.result import PsiResult, Reveal, select_values
from offchain.psi.shuffle import secure_permutation
from offchain.psi.tags import agree_tag_key

PROTOCOL_VERSION = 1
TAG_BATCH = 1 << 20  # tags per message: 16 MiB, bounded memory at 10**8 keys
MAX_SET_SIZE = 1 << 31  # distinct keys an owner may announce

KIND_HELLO = 11
KIND_TAGS = 12
KIND_RESULT = 13
KIND_ABORT = 14


@dataclass(frozen=True)
class MatcherView:
    """Everything the matcher learned in one run (returned so audits can check it)."""

    sizes: tuple[int, int]
    cardinality: int
    stats: dict = field(default_factory=dict, compare=False)


def _hello_array(reveal: Reveal, receivers_mask: int, size: int) -> np.ndarray:
    return np.array(
        [PROTOCOL_VERSION, ENCODING_VERSION, reveal.value, receivers_mask, size], dtype=np.int64
    )


def _receivers_mask(receivers: Iterable[int], owners: tuple[int, int]) -> int:
    receivers = frozenset(receivers)
    if not receivers or not receivers <= set(owners):
        raise InputError(
            f"receivers must be a non-empty subset of the owners {list(owners)}, got {sorted(receivers)}"
        )
    return sum(1 << party for party in receivers)


def assisted_psi_owner(
    transport: Transport,
    keys: Iterable[object] | np.ndarray | EncodedKeys,
    *,
    peer_owner: int,
    matcher: int,
    session_id: bytes,
    reveal: Reveal = Reveal.INTERSECTION,
    receivers: Iterable[int] | None = None,
) -> PsiResult:
    """Run the owner side of matcher-assisted PSI and return this owner's result.

    Both owners and the matcher pass the same ``reveal``, ``receivers`` (owner
    party numbers, default both) and the owners the same ``session_id``.
    """
    me = transport.party
    owners = (min(me, peer_owner), max(me, peer_owner))
    if len({me, peer_owner, matcher}) != 3:
        raise InputError(
            f"owner ({me}), peer owner ({peer_owner}) and matcher ({matcher}) must be three parties"
        )
    receivers_mask = _receivers_mask(owners if receivers is None else receivers, owners)
    if not isinstance(keys, np.ndarray | EncodedKeys) and not hasattr(keys, "__getitem__"):
        keys = list(keys)
    started = time.perf_counter()
    bytes_before = transport.bytes_sent

    encoded = encode_keys(keys)
    distinct, inverse = encoded.distinct()
    shuffle = secure_permutation(len(distinct))
    tag_key = agree_tag_key(transport, peer_owner, session_id)
    tags = tag_key.tags(distinct.take(shuffle))

    transport.send(
        matcher, [np.array([KIND_HELLO], np.int64), _hello_array(reveal, receivers_mask, len(tags))]
    )
    for start in range(0, len(tags), TAG_BATCH):
        batch = tags[start : start + TAG_BATCH]
        transport.send(matcher, [np.array([KIND_TAGS, start // TAG_BATCH], np.int64), batch])

    stats = {"seconds": 0.0, "bytes_sent": 0}
    if not receivers_mask >> me & 1:
        sizes = _receive_sizes(transport, matcher)
        stats.update(
            seconds=time.perf_counter() - started, bytes_sent=transport.bytes_sent - bytes_before
        )
        return PsiResult(
            own_size=len(distinct), peer_size=sizes[owners.index(peer_owner)], stats=stats
        )
    message = _receive_result(transport, matcher)
    if len(message) != 3 or message[0].shape != (1,) or int(message[0][0]) != KIND_RESULT:
        raise PsiProtocolError(f"matcher (party {matcher}) sent a malformed result")
    sizes = message[1].tolist()
    if sizes[owners.index(me)] != len(distinct):
        raise PsiProtocolError(
            f"matcher reports {sizes[owners.index(me)]} tags from this owner, sent {len(distinct)}"
        )
    stats.update(
        seconds=time.perf_counter() - started, bytes_sent=transport.bytes_sent - bytes_before
    )
    peer_size = sizes[owners.index(peer_owner)]
    if reveal is Reveal.CARDINALITY:
        return PsiResult(
            own_size=len(distinct), peer_size=peer_size, cardinality=int(message[2][0]), stats=stats
        )
    positions = message[2]
    if (
        positions.dtype != np.int64
        or positions.ndim != 1
        or (len(positions) and (positions.min() < 0 or positions.max() >= len(distinct)))
    ):
        raise PsiProtocolError(
            f"matcher sent invalid positions ({positions.dtype}, {positions.shape})"
        )
    common_keys = shuffle[positions]
    rows, offsets = rows_by_group(inverse, common_keys)
    first_rows = rows[offsets[:-1]]
    return PsiResult(
        own_size=len(distinct),
        peer_size=peer_size,
        cardinality=len(common_keys),
        intersection=select_values(keys, first_rows) if not isinstance(keys, EncodedKeys) else None,
        first_rows=first_rows,
        rows=rows,
        row_offsets=offsets,
        stats=stats,
    )


def _receive_result(transport: Transport, matcher: int) -> list[np.ndarray]:
    message = transport.recv(matcher)
    if len(message) == 2 and message[0].shape == (1,) and int(message[0][0]) == KIND_ABORT:
        raise PsiProtocolError(
            f"matcher (party {matcher}) aborted: {message[1].tobytes().decode(errors='replace')}"
        )
    return message


def _receive_sizes(transport: Transport, matcher: int) -> list[int]:
    message = _receive_result(transport, matcher)
    if len(message) != 2 or int(message[0][0]) != KIND_RESULT:
        raise PsiProtocolError(f"matcher (party {matcher}) sent a malformed size notice")
    return message[1].tolist()


def receive_owner_tags(transport: Transport, owner: int) -> tuple[np.ndarray, np.ndarray]:
    """Receive one owner's HELLO and tag batches; return (hello, (n, 2) uint64 tags)."""
    message = transport.recv(owner)
    if len(message) != 2 or message[0].shape != (1,) or int(message[0][0]) != KIND_HELLO:
        raise PsiProtocolError(f"party {owner} did not open with a PSI HELLO")
    hello = message[1]
    if hello.dtype != np.int64 or hello.shape != (5,) or not 0 <= hello[4] <= MAX_SET_SIZE:
        raise PsiProtocolError(f"malformed HELLO from party {owner}: {hello!r}")
    size = int(hello[4])
    tags = np.empty((size, 2), dtype=np.uint64)
    for sequence, start in enumerate(range(0, size, TAG_BATCH)):
        expected = min(TAG_BATCH, size - start)
        message = transport.recv(owner)
        if (
            len(message) != 2
            or message[0].tolist() != [KIND_TAGS, sequence]
            or message[1].dtype != np.uint64
            or message[1].shape != (expected, 2)
        ):
            raise PsiProtocolError(
                f"party {owner} sent a malformed tag batch {sequence} (expected {expected} tags)"
            )
        tags[start : start + expected] = message[1]
    return hello, tags


def assisted_psi_matcher(
    transport: Transport,
    *,
    owners: tuple[int, int],
    reveal: Reveal = Reveal.INTERSECTION,
    receivers: Iterable[int] | None = None,
) -> MatcherView:
    """Run the matcher side: receive both owners' tags, match, answer the receivers."""
    me = transport.party
    if len({me, *owners}) != 3:
        raise InputError(f"matcher ({me}) and owners {list(owners)} must be three parties")
    owners = (min(owners), max(owners))
    receivers_mask = _receivers_mask(owners if receivers is None else receivers, owners)
    started = time.perf_counter()
    bytes_before = transport.bytes_sent
    expected = _hello_array(reveal, receivers_mask, 0)[:4].tolist()
    tag_sets = []
    for owner in owners:
        hello, tags = receive_owner_tags(transport, owner)
        if hello[:4].tolist() != expected:
            reason = (
                f"owner {owner} asked for (version, encoding, reveal, receivers) = "
                f"{hello[:4].tolist()}, the matcher runs {expected}"
            )
            # Tell both owners why, so they fail with the cause rather than a closed link.
            for notified in owners:
                transport.send(
                    notified,
                    [np.array([KIND_ABORT], np.int64), np.frombuffer(reason.encode(), np.uint8)],
                )
            raise PsiProtocolError(reason)
        tag_sets.append(tags)
    sizes = np.array([len(tag_sets[0]), len(tag_sets[1])], dtype=np.int64)
    first_positions, second_positions = match_tags(tag_sets[0], tag_sets[1])
    for index, owner in enumerate(owners):
        header = np.array([KIND_RESULT], np.int64)
        if not receivers_mask >> owner & 1:
            transport.send(owner, [header, sizes])
        elif reveal is Reveal.CARDINALITY:
            transport.send(owner, [header, sizes, np.array([len(first_positions)], np.int64)])
        else:
            positions = first_positions if index == 0 else second_positions
            transport.send(owner, [header, sizes, positions])
    return MatcherView(
        sizes=(int(sizes[0]), int(sizes[1])),
        cardinality=len(first_positions),
        stats={
            "seconds": time.perf_counter() - started,
            "bytes_sent": transport.bytes_sent - bytes_before,
        },
    )
