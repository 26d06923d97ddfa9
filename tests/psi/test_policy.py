"""Which PSI outputs the join keys' constraint levels allow."""

from __future__ import annotations

import pytest

from offchain.errors import InputError, PolicyViolation
from offchain.psi.policy import CARDINALITY, INTERSECTION, LEVELS, SHARED, check_psi_allowed


@pytest.mark.parametrize("left", LEVELS)
@pytest.mark.parametrize("right", LEVELS)
def test_revealing_the_intersection_needs_plaintext_after_join_on_both_keys(left, right):
    allowed = {"PLAINTEXT", "PLAINTEXT_AFTER_JOIN"}
    if left in allowed and right in allowed:
        check_psi_allowed(INTERSECTION, left, right)
    else:
        with pytest.raises(PolicyViolation, match="needs both join keys"):
            check_psi_allowed(INTERSECTION, left, right)


@pytest.mark.parametrize("output", [CARDINALITY, SHARED])
def test_counts_and_hidden_joins_need_at_least_aggregate_level(output):
    check_psi_allowed(output, "PLAINTEXT_AFTER_AGGREGATE", "PLAINTEXT_AFTER_JOIN")
    with pytest.raises(PolicyViolation, match="the right key is ENCRYPTED_ONLY"):
        check_psi_allowed(output, "PLAINTEXT", "ENCRYPTED_ONLY")


def test_unknown_names_are_input_errors():
    with pytest.raises(InputError, match="unknown column constraint level 'SECRET'"):
        check_psi_allowed(INTERSECTION, "SECRET", "PLAINTEXT")
    with pytest.raises(InputError, match="PSI output must be one of"):
        check_psi_allowed("EVERYTHING", "PLAINTEXT", "PLAINTEXT")
