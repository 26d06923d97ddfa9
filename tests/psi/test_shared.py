"""Secret-shared membership indicators among the three compute parties."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError, PsiProtocolError
from offchain.psi.encoding import encode_key
from offchain.psi.shared import (
    ARITHMETIC,
    BOOLEAN,
    MembershipShare,
    prepare_membership,
    reconstruct,
    shared_membership,
)
from offchain.psi.tags import TagKey
from tests.psi.cases import as_python, set_pairs
from tests.psi.parties import run_parties

PAIRS = set_pairs()


def _run(first, second, matcher, kind, received=None):
    tag_key = TagKey.from_secret(b"owners' secret".ljust(32, b"."), b"job")
    submissions = prepare_membership(first, tag_key), prepare_membership(second, tag_key)
    sizes = tuple(len(s.distinct) for s in submissions)

    def program(transport):
        if received is not None:
            original_recv = transport.recv

            def recv(peer):
                message = original_recv(peer)
                received.setdefault(transport.party, []).append(message)
                return message

            transport.recv = recv
        if transport.party == matcher:
            return shared_membership(
                transport,
                matcher=matcher,
                sizes=sizes,
                tags=tuple(s.tags for s in submissions),
                kind=kind,
            )
        seeds = tuple(s.permutation_seed for s in submissions)
        return shared_membership(
            transport, matcher=matcher, sizes=sizes, permutation_seeds=seeds, kind=kind
        )

    return submissions, run_parties([program, program, program])


@pytest.mark.parametrize("kind", [ARITHMETIC, BOOLEAN])
@pytest.mark.parametrize("matcher", [0, 1, 2])
@pytest.mark.parametrize(
    "name", ["duplicates", "random int64 array", "both empty", "identical", "disjoint"]
)
def test_indicators_reconstruct_to_set_membership(name, matcher, kind):
    first, second = PAIRS[name]
    submissions, shares = _run(first, second, matcher, kind)
    for owner, (own, other) in enumerate([(first, second), (second, first)]):
        indicator = reconstruct(party_shares[owner] for party_shares in shares)
        other_encoded = {encode_key(value) for value in as_python(other)}
        expected = [int(key in other_encoded) for key in submissions[owner].distinct.as_list()]
        assert indicator.tolist() == expected
        # Per row: the owner expands with its own inverse, nobody else needs it.
        assert indicator[submissions[owner].inverse].tolist() == [
            int(encode_key(value) in other_encoded) for value in as_python(own)
        ]


def test_no_single_party_sees_the_indicator_in_key_order():
    first = list(range(0, 400))
    second = list(range(200, 600))
    received = {}
    submissions, shares = _run(first, second, matcher=2, kind=ARITHMETIC, received=received)
    indicator = reconstruct(party_shares[0] for party_shares in shares).astype(np.uint64)
    for party in (0, 1, 2):
        # Neither component a party holds, nor any array it received, equals the indicator
        # or is biased toward it (uniform words are almost never 0 or 1).
        own = [
            *shares[party][0].components,
            *(array for message in received.get(party, []) for array in message),
        ]
        for array in own:
            if array.dtype == np.uint64 and array.shape == indicator.shape:
                assert not np.array_equal(array, indicator)
                assert np.mean(array <= 1) < 0.01
    # The matcher's only inputs from the permuters are seeds, never n-long arrays.
    assert all(array.nbytes == 32 for message in received[2] for array in message)


def test_reconstruct_detects_a_tampered_component():
    submissions, shares = _run([1, 2, 3], [2, 3, 4], matcher=0, kind=ARITHMETIC)
    first_owner = [party_shares[0] for party_shares in shares]
    tampered = first_owner[1].components[0].copy()
    tampered[0] += np.uint64(1)
    first_owner[1] = MembershipShare(1, ARITHMETIC, (tampered, first_owner[1].components[1]))
    with pytest.raises(PsiProtocolError, match="component x_1 differs"):
        reconstruct(first_owner)


def test_inputs_are_checked():
    tags = np.zeros((1, 2), np.uint64)
    with pytest.raises(InputError, match="kind must be one of"):
        run_parties(
            [lambda t: shared_membership(t, matcher=0, sizes=(1, 1), tags=(tags, tags), kind="xor")]
        )
    with pytest.raises(InputError, match="tags must be \\(2, 2\\) uint64"):
        run_parties([lambda t: shared_membership(t, matcher=0, sizes=(2, 1), tags=(tags, tags))])
    with pytest.raises(InputError, match="seeds"):
        run_parties([lambda t: shared_membership(t, matcher=1, sizes=(1, 1))])
