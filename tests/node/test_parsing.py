"""What people type: levels, column levels, kinds, durations, filter conditions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain.client.grants import parse_column_levels, parse_duration, parse_kinds, parse_level
from offchain.commands.jobs import parse_condition
from offchain.errors import InputError
from offchain.vocabulary import ConstraintLevel, JobKind


def test_levels_by_short_and_scql_names() -> None:
    assert parse_level("aggregate") is ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE
    assert parse_level("Group-By") is ConstraintLevel.PLAINTEXT_AFTER_GROUP_BY
    assert parse_level("PLAINTEXT_AFTER_COMPARE") is ConstraintLevel.PLAINTEXT_AFTER_COMPARE
    with pytest.raises(InputError, match="unknown level 'secret'"):
        parse_level("secret")
    assert parse_column_levels(["amount=aggregate,region=compare", "id = encrypted"]) == {
        "amount": ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE, "region": ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
        "id": ConstraintLevel.ENCRYPTED_ONLY}
    with pytest.raises(InputError, match="column=level"):
        parse_column_levels(["amount"])


def test_kinds_and_durations() -> None:
    assert parse_kinds("statistics, query") == (JobKind.STATISTICS, JobKind.QUERY)
    assert parse_kinds("all") == tuple(JobKind)
    with pytest.raises(InputError, match="unknown job kind 'stats'"):
        parse_kinds("stats")
    assert [parse_duration(t) for t in ("90s", "30m", "12h", "30d", "2w")] == [90, 1800, 43_200, 2_592_000, 1_209_600]
    with pytest.raises(InputError, match="duration"):
        parse_duration("a month")


@given(st.integers(-10**12, 10**12), st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
def test_numeric_conditions_round_trip(value: int, op: str) -> None:
    assert parse_condition(f"amount {op} {value}") == ["amount", op, value]


def test_conditions_with_text_lists_and_ranges() -> None:
    assert parse_condition("region = 'north'") == ["region", "=", "north"]
    assert parse_condition("region in north,east") == ["region", "in", ["north", "east"]]
    assert parse_condition("amount between 10,20.5") == ["amount", "between", [10, 20.5]]
    assert parse_condition("closed_on is_null true") == ["closed_on", "is_null", True]
    with pytest.raises(InputError, match="column op literal"):
        parse_condition("amount ~ 3")
