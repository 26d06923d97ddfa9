"""What outputs expose of columns, the levels they require, and policy errors with line and column."""

from __future__ import annotations

import pytest

from offchain.errors import ScriptPolicyViolation
from offchain.programs.catalog import ALL_MEMBERS
from offchain.script.program import check_policy
from offchain.vocabulary import ConstraintLevel
from tests.script.conftest import column

REQUESTER = "0x" + "ab" * 20
PLAIN = ConstraintLevel.PLAINTEXT
COMPARE = ConstraintLevel.PLAINTEXT_AFTER_COMPARE
AGGREGATE = ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE
ENCRYPTED = ConstraintLevel.ENCRYPTED_ONLY
INPUTS = {"income": column(0, "income", min=0, max=10_000), "late": column(0, "late", min=0, max=10)}


def uses(members, source: str, outputs, inputs=None, **options) -> set:
    inputs = inputs or {name: binding for name, binding in INPUTS.items() if name in source}
    plan = members.plan(source, inputs, outputs, **options)
    return {(use.column, use.required) for use in plan.uses}


@pytest.mark.parametrize(
    ("source", "outputs", "expected"),
    [
        ("r = income * 2 + late", [("r", "fixed")], {("income", PLAIN), ("late", PLAIN)}),
        ("r = mean(income) + sum(late)", [("r", "fixed")],
         {("income", AGGREGATE), ("late", AGGREGATE)}),
        ("r = income > 5000\ns = late", [("r", "bool"), ("s", "integer")],
         {("income", COMPARE), ("late", PLAIN)}),
        ("r = count(income > 5000)\ns = mean(late) + 0 * sum(income)", [("r", "integer"), ("s", "fixed")],
         {("income", COMPARE), ("income", AGGREGATE), ("late", AGGREGATE)}),
        ("r = sum(where(late > 2, income, 0))", [("r", "fixed")],
         {("income", AGGREGATE), ("late", COMPARE)}),
        # a public one-hot mask singles out a row: the sum is that row's value
        ("mask = zeros(60)\nr = sum(income * concat(mask[0:59], [1]))", [("r", "fixed")],
         {("income", PLAIN)}),
        ("r = sum(income[0:4])", [("r", "fixed")], {("income", PLAIN)}),
        ("r = max(income)", [("r", "fixed")], {("income", AGGREGATE)}),
        ("r = sign(income - 5000)", [("r", "integer")], {("income", COMPARE)}),
        ("s = late * 2\nr = mean(income)", [("r", "fixed")], {("income", AGGREGATE), ("late", ENCRYPTED)}),
    ],
)
def test_exposures_become_the_declared_column_uses(members, source, outputs, expected) -> None:
    assert uses(members, source, outputs) == expected


def test_requester_vectors_single_out_rows_too(members) -> None:
    found = uses(members, "r = dot(income, w)", [("r", "fixed")],
                 private={"w": {"type": "fixed", "length": 60, "min": -1, "max": 1}})
    assert found == {("income", PLAIN)}
    found = uses(members, "r = mean(income) * w", [("r", "fixed")],
                 private={"w": {"type": "fixed", "min": -1, "max": 1}})
    assert found == {("income", AGGREGATE)}


def test_a_use_above_the_requesters_level_is_reported_where_it_arises(members) -> None:
    levels = {(1, "income", ALL_MEMBERS): AGGREGATE, (1, "late", ALL_MEMBERS): AGGREGATE}
    catalog = members.catalog(levels)
    plan = members.plan("average = mean(income)\nflag = income > 100", {"income": INPUTS["income"]},
                        [("average", "fixed"), ("flag", "bool")])
    with pytest.raises(ScriptPolicyViolation) as caught:
        check_policy(plan, catalog, REQUESTER)
    error = caught.value
    assert (error.line, error.column) == (2, 8)
    assert "output 'flag'" in error.reason and "PLAINTEXT_AFTER_COMPARE" in error.reason
    assert "grants you PLAINTEXT_AFTER_AGGREGATE" in error.reason
    allowed = members.plan("average = mean(income)", {"income": INPUTS["income"]},
                           [("average", "fixed")])
    check_policy(allowed, catalog, REQUESTER)


def test_the_owner_may_use_its_own_columns_at_any_level(members) -> None:
    plan = members.plan("r = income * 2", {"income": INPUTS["income"]}, [("r", "fixed")])
    check_policy(plan, members.catalog(), members.banks[0].dataset.owner)
    with pytest.raises(ScriptPolicyViolation, match="needs PLAINTEXT, but bank0 grants you ENCRYPTED_ONLY"):
        check_policy(plan, members.catalog(), REQUESTER)


def test_aligned_keys_are_compared(members) -> None:
    inputs = {"a": column(0, "income", min=0, max=10_000), "b": column(1, "income", min=0, max=10_000)}
    plan = members.plan("r = mean(a - b)", inputs, [("r", "fixed")],
                        align_by={"bank0.customers": "customer_id", "bank1.customers": "customer_id"})
    keys = [(use.input_index, use.column, use.required) for use in plan.uses if use.column == "customer_id"]
    assert keys == [(0, "customer_id", COMPARE), (1, "customer_id", COMPARE)]
    assert [o.name for o in plan.outputs] == ["r", "rows_aligned"]


def test_the_recipients_levels_are_checked_too(members) -> None:
    from offchain.script.program import check_script, script_text

    recipient = "0x" + "cd" * 20
    catalog = members.catalog({(1, "income", REQUESTER): AGGREGATE})
    text = script_text("average = mean(income)", {"income": INPUTS["income"]},
                       [{"name": "average", "type": "fixed"}])
    check_script(text, catalog, REQUESTER)
    with pytest.raises(ScriptPolicyViolation, match="bank0 grants the recipient ENCRYPTED_ONLY"):
        check_script(text, catalog, REQUESTER, recipient=recipient)
