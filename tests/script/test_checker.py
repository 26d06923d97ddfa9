"""The script checker: every refusal names its line and column, before anything runs."""

from __future__ import annotations

import pytest

from offchain.errors import ScriptError
from tests.script.conftest import column

INCOME = {"income": column(0, "income", min=0, max=10_000)}
DEBT = {"debt": column(0, "debt", min=0, max=500_000)}
BOTH = {**INCOME, **DEBT}


def refused(members, source: str, inputs=None, outputs=(("result", "fixed"),), **options):
    with pytest.raises(ScriptError) as caught:
        members.plan(source, inputs or INCOME, outputs, **options)
    return caught.value


@pytest.mark.parametrize(
    ("source", "line", "column", "words"),
    [
        ("import os\nresult = income", 1, 1, "imports are not allowed"),
        ("from os import system\nresult = income", 1, 1, "imports are not allowed"),
        ("result = open('/etc/passwd')", 1, 10, "unknown function 'open'"),
        ("result = eval('income')", 1, 10, "unknown function 'eval'"),
        ("result = __import__('os')", 1, 10, "unknown function '__import__'"),
        ("result = income.__class__", 1, 10, "attribute access are not allowed"),
        ("result = income\nwhile True:\n    result = result + 1", 2, 1, "while loops"),
        ("def f(x):\n    return x\nresult = income", 1, 1, "function definitions"),
        ("result = (lambda: income)()", 1, 10, "only the functions of the language"),
        ("result = income\nfor i in range(10 ** 9):\n    result = result + 1", 2, 10,
         "the loop runs 1000000000 times; at most 10000"),
        ("result = income\nfor i in range(sum(income)):\n    pass", 2, 16,
         "loop bounds must be public integers"),
        ("result = income\nif sum(income) > 10:\n    result = income * 2", 2, 4,
         "depends on secret data"),
        ("result = income if income[0] > 1 else 0", 1, 20, "depends on secret data"),
        ("result = income // 2", 1, 10, "// works on public values only"),
        ("result = unknown * 2", 1, 10, "unknown name 'unknown'"),
        ("income = 3\nresult = income", 1, 1, "inputs are read-only"),
        ("result = income + [1.0, 2.0]", 1, 10, "shapes [2] and [60] do not match"),
        ("result = zeros(100000000)", 1, 10, "lengths run from 1 to 1000000"),
        ("result = 'text'", 1, 10, "str literals are not allowed"),
        ("result = income\nx.y = 2", 2, 1, "assign to a plain name"),
        ("result = income\nglobal g", 2, 1, "global declarations"),
        ("result = income\ntry:\n    pass\nexcept Exception:\n    pass", 2, 1, "try blocks"),
        ("result = sum(income) @ 2", 1, 10, "operator MatMult is not allowed"),
        ("result = income ** 20", 1, 10, "exponent 0..8"),
        ("result = (income", 1, None, "syntax error"),
        ("result = sqrt(income - 100)", 1, 10, "sqrt(x) needs x >= 0"),
        ("result = log(income)", 1, 10, "log(x) needs x > 0"),
        ("result = exp(income)", 1, 10, "exp(x) needs x <= 20.1"),
        ("result = 1 / income", 1, 10, "the divisor may be 0"),
        ("result = income\nbreak", 2, 1, "break outside a loop"),
    ],
)
def test_refusals_name_line_and_column(members, source, line, column, words) -> None:
    error = refused(members, source)
    assert words in error.reason, error
    assert error.line == line
    if column is not None:
        assert error.column == column


def test_products_that_could_overflow_are_refused_at_the_operation(members) -> None:
    error = refused(members, "ratio = income / 1000\nresult = income * debt", BOTH)
    assert (error.line, error.column) == (2, 10)
    assert "product of fixed-point values may reach 5000000000" in error.reason
    assert "[0, 10000] and [0, 500000]" in error.reason
    # scaled down first, the same product fits
    members.plan("result = (income / 1000) * (debt / 1000)", BOTH, [("result", "fixed")])


def test_inputs_without_bounds_cannot_be_multiplied(members) -> None:
    error = refused(members, "result = income * income", {"income": column(0, "income")})
    assert "declare tighter bounds" in error.reason


def test_a_runaway_unrolling_is_refused(members) -> None:
    source = "result = income\nfor i in range(10000):\n    for j in range(10000):\n        pass"
    assert "more than 200000 steps" in refused(members, source).reason


def test_values_beyond_the_element_limit_are_refused(members) -> None:
    error = refused(members, "big = concat(income, income)\nfor i in range(20):\n"
                             "    big = concat(big, big)\nresult = sum(big)")
    assert "elements; at most 10000000" in error.reason


def test_combining_rows_of_two_datasets_needs_alignment(members) -> None:
    inputs = {"a": column(0, "income", min=0, max=10_000), "b": column(1, "income", min=0, max=10_000)}
    error = refused(members, "result = a - b", inputs)
    assert "declare align_by keys" in error.reason and error.line == 1
    members.plan("result = a - b", inputs, [("result", "fixed")],
                 align_by={"bank0.customers": "customer_id", "bank1.customers": "customer_id"})
    members.plan("result = mean(a) - mean(b)", inputs, [("result", "fixed")])


def test_outputs_are_checked_against_their_declarations(members) -> None:
    assert "never assigned" in refused(members, "x = income").reason
    assert "declared integer but the script computes fixed-point" in refused(
        members, "result = income", outputs=(("result", "integer"),)).reason
    assert "declared bool" in refused(members, "result = income",
                                      outputs=(("result", "bool"),)).reason
    assert "never reads" in refused(members, "result = sum(income)", BOTH).reason


def test_checking_is_deterministic(members) -> None:
    source = "s = 0\nfor i in range(3):\n    s = s + income * (i + 1)\nresult = mean(s)"
    first = members.plan(source, INCOME, [("result", "fixed")])
    second = members.plan(source, INCOME, [("result", "fixed")])
    assert first.parameters["compiled"].circuit == second.parameters["compiled"].circuit
    assert first.uses == second.uses


@pytest.mark.parametrize("expression", ["2 ** 63", "sum(full(1000, 2 ** 60))", "3 ** 40",
                                        "dot(full(10, 2 ** 31), full(10, 2 ** 31))",
                                        "(2 ** 61) * 4", "2 ** 61 + 2 ** 61 + 2 ** 61"])
def test_public_integer_arithmetic_never_wraps_silently(members, expression) -> None:
    error = refused(members, f"big = {expression}\nresult = income * 0 + big")
    assert "public integer overflow" in error.reason or "integer literal" in error.reason
    assert error.line == 1
