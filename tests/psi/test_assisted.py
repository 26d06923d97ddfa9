"""Matcher-assisted PSI: two owners, one matcher, keyed tags."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from offchain.errors import InputError, PsiProtocolError
from offchain.psi.assisted import assisted_psi_matcher, assisted_psi_owner
from offchain.psi.encoding import encode_keys
from offchain.psi.result import Reveal
from offchain.psi.tags import TagKey, agree_tag_key
from tests.psi.cases import check_revealed, expected_intersection, set_pairs
from tests.psi.parties import run_parties

PAIRS = set_pairs()


def _run(
    first, second, *, owner_options=None, matcher_options=None, session=b"job-1", received=None
):
    owner_options = owner_options or {}
    matcher_options = matcher_options or {}

    def matcher(transport):
        if received is not None:
            original_recv = transport.recv

            def recv(peer):
                message = original_recv(peer)
                received.append((peer, message))
                return message

            transport.recv = recv
        return assisted_psi_matcher(transport, owners=(0, 1), **matcher_options)

    return run_parties(
        [
            lambda t: assisted_psi_owner(
                t, first, peer_owner=1, matcher=2, session_id=session, **owner_options
            ),
            lambda t: assisted_psi_owner(
                t, second, peer_owner=0, matcher=2, session_id=session, **owner_options
            ),
            matcher,
        ]
    )


@pytest.mark.parametrize("name", PAIRS)
def test_owners_learn_the_intersection_in_aligned_order(name):
    first, second = PAIRS[name]
    first_result, second_result, view = _run(first, second)
    check_revealed(first_result, first, second, second_result)
    check_revealed(second_result, second, first, first_result)
    assert view.cardinality == len(expected_intersection(first, second))
    assert view.sizes == (first_result.own_size, second_result.own_size)


@pytest.mark.parametrize("name", ["duplicates", "random int64 array"])
def test_cardinality_only_and_single_receiver(name):
    first, second = PAIRS[name]
    options = {"reveal": Reveal.CARDINALITY, "receivers": [1]}
    first_result, second_result, _ = _run(
        first, second, owner_options=options, matcher_options=options
    )
    assert not first_result.received
    assert first_result.peer_size == second_result.own_size
    assert second_result.cardinality == len(expected_intersection(first, second))
    assert second_result.intersection is None

    options = {"receivers": [0]}
    first_result, second_result, _ = _run(
        first, second, owner_options=options, matcher_options=options
    )
    check_revealed(first_result, first, second)
    assert not second_result.received


def _matcher_tags(received):
    return {
        peer: np.concatenate([message[1] for message in messages if message[0][0] == 12])
        for peer in (0, 1)
        for messages in [[message for sender, message in received if sender == peer]]
    }


def test_the_matcher_sees_no_keys_and_tags_change_with_the_owners_key():
    first = [f"patient-{i}" for i in range(300)]
    second = [f"patient-{i}" for i in range(200, 500)]
    run_one, run_two = [], []
    _run(first, second, session=b"job-1", received=run_one)
    _run(first, second, session=b"job-2", received=run_two)
    tags_one, tags_two = _matcher_tags(run_one), _matcher_tags(run_two)
    # Same sets, fresh owner key: not one tag in common, so tags cannot be linked across runs.
    for owner in (0, 1):
        as_set = lambda tags: {tuple(row) for row in tags.tolist()}  # noqa: E731
        assert not as_set(tags_one[owner]) & as_set(tags_two[owner])
    # No raw key bytes, no unkeyed hash of a key, in anything the matcher received.
    everything = b"".join(array.tobytes() for _, message in run_one for array in message)
    for key in first[:50] + second[-50:]:
        assert key.encode() not in everything
        for digest in (
            hashlib.sha256(key.encode()).digest(),
            hashlib.blake2b(key.encode(), digest_size=16).digest(),
        ):
            assert digest[:8] not in everything


def test_tags_are_balanced_bits():
    tags = TagKey.from_secret(b"s" * 32, b"job").tags(encode_keys(np.arange(20000)))
    ones = np.unpackbits(tags.view(np.uint8)).mean()
    assert abs(ones - 0.5) < 0.01  # 2.56M bits: a biased PRF would show here


def test_short_and_long_keys_agree_across_representations():
    tag_key = TagKey.from_secret(b"k" * 32, b"job")
    keys = ["short", "a much longer key that needs BLAKE2b", 7, (1, "two")]
    items = encode_keys(keys)
    assert np.array_equal(tag_key.tags(items)[2], tag_key.tags(encode_keys(np.array([7])))[0])
    assert len({tuple(row) for row in tag_key.tags(items).tolist()}) == len(keys)


def test_owners_agree_on_the_tag_key_over_their_link():
    first, second = run_parties(
        [lambda t: agree_tag_key(t, 1, b"job-9"), lambda t: agree_tag_key(t, 0, b"job-9")]
    )
    probe = encode_keys(["probe"])
    assert np.array_equal(first.tags(probe), second.tags(probe))
    assert "secret" in repr(first) and first.aes_key.hex() not in repr(first)


def test_owners_asking_for_different_outputs_are_refused():
    with pytest.raises(PsiProtocolError, match="the matcher runs"):
        _run([1, 2], [2, 3], matcher_options={"reveal": Reveal.CARDINALITY})


def test_roles_must_be_three_distinct_parties():
    with pytest.raises(InputError, match="three parties"):
        run_parties(
            [lambda t: assisted_psi_owner(t, [1], peer_owner=1, matcher=1, session_id=b"x")]
        )
    with pytest.raises(InputError, match="session_id"):
        run_parties([lambda t: agree_tag_key(t, 1, b"")])
