"""Every constraint level allows what it should and refuses what it should, at all three checkpoints.

Checkpoints: the SDK (``plan`` raises ``PolicyViolation``), the contract
(each declared ``ColumnUse`` must be permitted by the grant:
``ConstraintLevel.permits``, the contract's rule), and every owner node
(re-derives the plan from the chain's catalog and compares the uses).
"""

from __future__ import annotations

import pytest

from offchain.errors import PolicyViolation
from offchain.programs.catalog import ALL_MEMBERS
from offchain.sql.program import SqlProgram, query_program_text
from offchain.vocabulary import ConstraintLevel as Level
from tests.sql.world import REQUESTER, assert_same_rows, build_world

C = "bank_a.customers"
L = "bank_b.loans"
ALL = tuple(Level)


@pytest.fixture(scope="module")
def world():
    return build_world()


def _catalog(world, column: tuple[str, str], level: Level, grantee: str = ALL_MEMBERS):
    levels = dict(world.levels)
    dataset = world.datasets[column[0]].dataset_id
    levels[(dataset, column[1], grantee)] = level
    return world.catalog(levels)


def _plan(world, sql: str, catalog, requester: str = REQUESTER):
    return SqlProgram().plan(query_program_text(sql, requester), catalog)


# (query, the column under test, the levels that allow the query)
SHAPES = [
    (f"SELECT amount FROM {L}", (L, "amount"), {Level.PLAINTEXT}),
    (f"SELECT SUM(amount), MAX(amount) FROM {L}", (L, "amount"),
     {Level.PLAINTEXT, Level.PLAINTEXT_AFTER_AGGREGATE}),
    (f"SELECT COUNT(amount) FROM {L}", (L, "amount"),
     {Level.PLAINTEXT, Level.PLAINTEXT_AFTER_AGGREGATE}),
    (f"SELECT COUNT(*) FROM {L} WHERE amount > 100", (L, "amount"),
     {Level.PLAINTEXT, Level.PLAINTEXT_AFTER_COMPARE}),
    (f"SELECT COUNT(*) FROM {L} WHERE amount IS NULL", (L, "amount"),
     {Level.PLAINTEXT, Level.PLAINTEXT_AFTER_COMPARE}),
    (f"SELECT status, COUNT(*) FROM {L} GROUP BY status", (L, "status"),
     {Level.PLAINTEXT, Level.PLAINTEXT_AFTER_GROUP_BY}),
    (f"SELECT COUNT(*) FROM {L} GROUP BY status", (L, "status"),
     {Level.PLAINTEXT, Level.PLAINTEXT_AFTER_GROUP_BY}),
    (f"SELECT status, SUM(amount) FROM {L} GROUP BY status HAVING SUM(amount) > 10", (L, "amount"),
     {Level.PLAINTEXT, Level.PLAINTEXT_AFTER_AGGREGATE}),
    (f"SELECT COUNT(*), SUM(l.amount) FROM {C} c JOIN {L} l ON c.id = l.customer_id",
     (L, "customer_id"),
     {Level.PLAINTEXT, Level.PLAINTEXT_AFTER_JOIN, Level.PLAINTEXT_AFTER_AGGREGATE}),
    (f"SELECT c.region, l.amount FROM {C} c JOIN {L} l ON c.id = l.customer_id",
     (L, "customer_id"), {Level.PLAINTEXT, Level.PLAINTEXT_AFTER_JOIN}),
    (f"SELECT l.customer_id FROM {C} c JOIN {L} l ON c.id = l.customer_id", (L, "customer_id"),
     {Level.PLAINTEXT, Level.PLAINTEXT_AFTER_JOIN}),
    (f"SELECT c.id FROM {C} c LEFT JOIN {L} l ON c.id = l.customer_id", (C, "id"),
     {Level.PLAINTEXT}),
    (f"SELECT COUNT(*) FROM {L} WHERE amount > 0 AND status = 'ok'", (L, "status"),
     {Level.PLAINTEXT, Level.PLAINTEXT_AFTER_COMPARE}),
    (f"SELECT COUNT(*) FROM {L}", (L, "amount"), set(ALL)),
]


@pytest.mark.parametrize("index", range(len(SHAPES)))
@pytest.mark.parametrize("level", ALL, ids=[level.name for level in ALL])
def test_each_level_allows_exactly_its_uses(world, index: int, level: Level) -> None:
    sql, column, allowed = SHAPES[index]
    catalog = _catalog(world, column, level)
    if level in allowed:
        plan = _plan(world, sql, catalog)
        # The contract's check: every declared use is permitted by the requester's grant.
        for use in plan.uses:
            dataset = plan.inputs[use.input_index].dataset
            granted = catalog.level(dataset.dataset_id, use.column, REQUESTER)
            assert granted.permits(use.required), (use, granted)
    else:
        with pytest.raises(PolicyViolation) as caught:
            _plan(world, sql, catalog)
        message = str(caught.value)
        assert f"{column[0]}.{column[1]}" in message
        assert f"has {level.name}" in message
        assert "would allow this use" in message


def test_refusal_names_column_level_need_and_grant(world) -> None:
    catalog = _catalog(world, (L, "amount"), Level.PLAINTEXT_AFTER_AGGREGATE)
    with pytest.raises(PolicyViolation) as caught:
        _plan(world, f"SELECT COUNT(*) FROM {L}\nWHERE amount > 100", catalog)
    message = str(caught.value)
    assert "bank_b.loans.amount has PLAINTEXT_AFTER_AGGREGATE" in message
    assert "this query needs PLAINTEXT_AFTER_COMPARE" in message
    assert "compared in WHERE: loans.amount > 100 at line 2, column 7" in message
    assert (f"A grant of PLAINTEXT_AFTER_COMPARE (or PLAINTEXT) on bank_b.loans.amount to "
            f"{REQUESTER} would allow this use") in message


def test_uses_no_single_level_allows_are_explained(world) -> None:
    catalog = _catalog(world, (L, "amount"), Level.PLAINTEXT_AFTER_COMPARE)
    with pytest.raises(PolicyViolation, match="only PLAINTEXT allows all of them"):
        _plan(world, f"SELECT SUM(amount) FROM {L} WHERE amount > 5", catalog)


def test_grants_are_per_requester(world) -> None:
    other = "0x" + "7" * 40
    catalog = _catalog(world, (L, "amount"), Level.ENCRYPTED_ONLY)
    levels = dict(catalog._levels)
    dataset = world.datasets[L].dataset_id
    levels[(dataset, "amount", other)] = Level.PLAINTEXT_AFTER_AGGREGATE
    catalog = world.catalog(levels)
    _plan(world, f"SELECT SUM(amount) FROM {L}", catalog, requester=other)
    with pytest.raises(PolicyViolation):
        _plan(world, f"SELECT SUM(amount) FROM {L}", catalog, requester=REQUESTER)
    owner = world.datasets[L].owner
    _plan(world, f"SELECT amount FROM {L}", catalog, requester=owner)  # owners see their data


def test_join_key_plaintext_after_join_makes_later_uses_plaintext(world) -> None:
    levels = dict(world.levels)
    for reference, column in ((C, "id"), (L, "customer_id")):
        levels[(world.datasets[reference].dataset_id, column, ALL_MEMBERS)] = (
            Level.PLAINTEXT_AFTER_JOIN)
    catalog = world.catalog(levels)
    sql = (f"SELECT c.id, COUNT(*) FROM {C} c JOIN {L} l ON c.id = l.customer_id "
           "WHERE c.id > 5 GROUP BY c.id")
    plan = _plan(world, sql, catalog)
    assert {use.required for use in plan.uses if use.column in ("id", "customer_id")} == {
        Level.PLAINTEXT_AFTER_JOIN}
    assert_same_rows(world.run(sql, catalog=catalog), world.expected(sql))


def test_minimum_group_size_applies_to_keys_revealed_after_group_by(world) -> None:
    sql = f"SELECT c.region, l.status, COUNT(*) FROM {C} c JOIN {L} l ON c.id = l.customer_id GROUP BY c.region, l.status"
    everything = world.expected(sql)
    assert any(row[2] < 3 for row in everything), "the data must have small groups"
    catalog = _catalog(world, (C, "region"), Level.PLAINTEXT_AFTER_GROUP_BY)
    got = world.run(sql, catalog=catalog)
    assert_same_rows(got, [row for row in everything if row[2] >= 3])
    bigger = world.run(sql, catalog=catalog, min_group_size=5)
    assert_same_rows(bigger, [row for row in everything if row[2] >= 5])
    assert_same_rows(world.run(sql), everything)  # PLAINTEXT keys: every group


def test_minimum_group_size_cannot_be_lowered(world) -> None:
    from offchain.errors import InputError

    with pytest.raises(InputError, match="min_group_size must be an integer >= 3"):
        SqlProgram().plan(query_program_text(f"SELECT COUNT(*) FROM {L}", REQUESTER, 1),
                          world.catalog())


def test_contract_catches_a_request_that_skips_the_sdk(world) -> None:
    """A requester declaring the uses of a plan made with grants it does not hold is refused."""
    sql = f"SELECT status, SUM(amount) FROM {L} WHERE amount > 10 GROUP BY status"
    wishful = _plan(world, sql, world.catalog())  # everything PLAINTEXT
    actual = _catalog(world, (L, "amount"), Level.PLAINTEXT_AFTER_AGGREGATE)
    permitted = []
    for use in wishful.uses:
        dataset = wishful.inputs[use.input_index].dataset
        permitted.append(actual.level(dataset.dataset_id, use.column, REQUESTER).permits(
            use.required))
    assert not all(permitted)


def test_owner_nodes_rederive_the_same_plan_and_refuse_after_a_revocation(world) -> None:
    sql = f"SELECT status, SUM(amount) FROM {L} GROUP BY status"
    catalog = _catalog(world, (L, "amount"), Level.PLAINTEXT_AFTER_AGGREGATE)
    at_requester = _plan(world, sql, catalog)
    at_owner = _plan(world, sql, catalog)
    assert at_owner.uses == at_requester.uses
    assert at_owner.text == at_requester.text
    assert [i.shared for i in at_owner.inputs] == [i.shared for i in at_requester.inputs]
    revoked = _catalog(world, (L, "amount"), Level.ENCRYPTED_ONLY)
    with pytest.raises(PolicyViolation):
        _plan(world, sql, revoked)
    # A forged text (another requester) derives other uses' checks: refused for that requester.
    with pytest.raises(PolicyViolation):
        _plan(world, sql, _catalog(world, (L, "amount"), Level.ENCRYPTED_ONLY, REQUESTER))


def test_no_level_but_plaintext_returns_raw_values_of_another_member(world) -> None:
    for level in ALL:
        if level is Level.PLAINTEXT:
            continue
        catalog = _catalog(world, (C, "age"), level)
        with pytest.raises(PolicyViolation):
            _plan(world, f"SELECT c.age, l.amount FROM {C} c JOIN {L} l ON c.id = l.customer_id",
                  catalog)
