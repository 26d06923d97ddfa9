"""Secret-shared membership indicators among the three compute parties (engine program)."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError
from offchain.mpc.opening import reveal
from offchain.mpc.program import PerParty
from offchain.mpc.shares import ArithmeticShare, BooleanShare
from offchain.net.local import run_local
from offchain.psi.encoding import encode_key
from offchain.psi.shared import ARITHMETIC, BOOLEAN, prepare_membership, shared_membership
from offchain.psi.tags import TagKey
from tests.psi.cases import as_python, set_pairs

PAIRS = set_pairs()


def membership_program(runtime, matcher, sizes, inputs, kind):
    """Compute both indicators, open them, and return them with this party's raw components."""
    if runtime.party == matcher:
        shares = shared_membership(runtime, matcher=matcher, sizes=sizes, tags=inputs, kind=kind)
    else:
        shares = shared_membership(
            runtime, matcher=matcher, sizes=sizes, permutation_seeds=inputs, kind=kind
        )
    return {
        "types": [type(share) for share in shares],
        "components": [share.components.copy() for share in shares],
        "opened": [reveal(share) for share in shares],
    }


def _run(first, second, matcher, kind):
    tag_key = TagKey.from_secret(b"owners' secret".ljust(32, b"."), b"job")
    submissions = prepare_membership(first, tag_key), prepare_membership(second, tag_key)
    sizes = tuple(len(s.distinct) for s in submissions)
    tags = tuple(s.tags for s in submissions)
    seeds = tuple(s.permutation_seed for s in submissions)
    inputs = PerParty([tags if party == matcher else seeds for party in range(3)])
    run = run_local(membership_program, matcher, sizes, inputs, kind, timeout=30)
    return submissions, run


def _expected(submission, other):
    other_encoded = {encode_key(value) for value in as_python(other)}
    return [int(key in other_encoded) for key in submission.distinct.as_list()]


@pytest.mark.parametrize("kind", [ARITHMETIC, BOOLEAN])
@pytest.mark.parametrize("matcher", [0, 1, 2])
@pytest.mark.parametrize(
    "name", ["duplicates", "random int64 array", "both empty", "identical", "disjoint"]
)
def test_indicators_open_to_set_membership(name, matcher, kind):
    first, second = PAIRS[name]
    submissions, run = _run(first, second, matcher, kind)
    expected_type = BooleanShare if kind == BOOLEAN else ArithmeticShare
    for owner, (own, other) in enumerate([(first, second), (second, first)]):
        expected = _expected(submissions[owner], other)
        for party_result in run.results:
            assert party_result["types"][owner] is expected_type
            assert party_result["opened"][owner].tolist() == expected
        # Per row: the owner expands with its own inverse, nobody else needs it.
        opened = run.results[0]["opened"][owner]
        other_encoded = {encode_key(value) for value in as_python(other)}
        assert np.asarray(opened)[submissions[owner].inverse].tolist() == [
            int(encode_key(value) in other_encoded) for value in as_python(own)
        ]


def test_no_single_party_holds_the_indicator_in_key_order():
    first, second = list(range(0, 400)), list(range(200, 600))
    submissions, run = _run(first, second, matcher=2, kind=ARITHMETIC)
    indicator = np.array(_expected(submissions[0], second), dtype=np.uint64)
    for party_result in run.results:
        for component in party_result["components"][0]:
            # Uniform words: almost never 0 or 1, and never the indicator itself.
            assert not np.array_equal(component, indicator)
            assert np.mean(component <= 1) < 0.01
    # Traffic: the matcher sends only to one permuter and receives nothing.
    matcher_stats = run.stats[2]
    assert matcher_stats.bytes_sent == 8 * (400 + 400) + 2 * 8 * 400  # halves + reveal
    # Rounds: M→Q, then P↔Q (the first permuter waits for nothing before it), then 2 reveals.
    assert [run.stats[party].rounds for party in range(3)] == [1 + 2, 2 + 2, 1 + 2]


def test_inputs_are_checked():
    tags = np.zeros((1, 2), np.uint64)
    seeds = (bytes(32), bytes(32))
    with pytest.raises(InputError, match="kind must be one of"):
        run_local(membership_program, 0, (1, 1), PerParty([(tags, tags), seeds, seeds]), "xor")
    with pytest.raises(InputError, match=r"tags must be \(2, 2\) uint64"):
        run_local(membership_program, 0, (2, 1), PerParty([(tags, tags), seeds, seeds]), ARITHMETIC)
    with pytest.raises(InputError, match="seeds"):
        run_local(membership_program, 0, (1, 1), PerParty([(tags, tags), None, seeds]), ARITHMETIC)
