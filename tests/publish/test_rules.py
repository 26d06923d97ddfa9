"""The rules language: what the checker refuses (with line and column), what rules compute."""

from __future__ import annotations

import ast
import datetime as dt
import operator
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from offchain.errors import RuleFailed, SandboxTimeout, ScriptError
from offchain.publish.rules import check_rules, evaluate
from offchain.publish.values import Record

FIELDS = ["kind", "amount", "day"]
ROWS = [
    Record({"kind": "visit", "amount": Decimal("120.50"), "day": dt.date(2025, 1, 10)}),
    Record({"kind": "prescription", "amount": Decimal("33.30"), "day": dt.date(2025, 1, 12)}),
    Record({"kind": "visit", "amount": Decimal("80.00"), "day": dt.date(2025, 3, 2)}),
]


def run(source: str, outputs=("result",), arguments=None, rows=ROWS, budget=100_000):
    rules = check_rules(source, list(arguments or {}), list(outputs), FIELDS)
    return evaluate(rules, arguments or {}, rows, budget).outputs


def refused(source: str, outputs=("result",), inputs=()) -> ScriptError:
    with pytest.raises(ScriptError) as caught:
        check_rules(source, list(inputs), list(outputs), FIELDS)
    return caught.value


@pytest.mark.parametrize(
    ("source", "line", "column", "words"),
    [
        ("import os\nresult = 1", 1, 1, "imports are not allowed"),
        ("from os import path\nresult = 1", 1, 1, "imports are not allowed"),
        ("result = open('/etc/passwd')", 1, 10, "unknown function 'open'"),
        ("result = __import__('os')", 1, 10, "unknown function '__import__'"),
        ("result = eval('1')", 1, 10, "unknown function 'eval'"),
        ("result = rows.__class__", 1, 10, "rows have no field '__class__'"),
        ("result = ().__class__.__bases__", 1, 10, "no field"),
        ("result = 1\nwhile True:\n    result = 2", 2, 1, "while loops"),
        ("def f():\n    return 1\nresult = 1", 1, 1, "function definitions"),
        ("result = (lambda: 1)()", 1, 10, "only the functions of the language"),
        ("class A:\n    pass\nresult = 1", 1, 1, "class definitions"),
        ("result = 1\ntry:\n    result = 2\nexcept Exception:\n    pass", 2, 1, "try blocks"),
        ("result = {'a': 1}", 1, 10, "dictionaries"),
        ("result = f'{rows}'", 1, 10, "f-strings"),
        ("result = unknown + 1", 1, 10, "unknown name 'unknown'"),
        ("rows = 1\nresult = 1", 1, 1, "inputs are read-only"),
        ("result = len(rows, 2)", 1, 10, "len takes 1 arguments"),
        ("result = 1 if 2 else 3\nx = 1 is 2", 2, 5, "use `is` only"),
        ("result = 1\nresult.x = 2", 2, 1, "assign to a plain name"),
        ("result = 1\nglobal g", 2, 1, "global declarations"),
        ("x = 1", None, None, "declared output 'result' is never assigned"),
        ("result = (1", 1, None, "syntax error"),
        ("result = b'bytes'", 1, 10, "bytes literals"),
        ("result = [r for r in rows]\nresult = 1\nresult.append(2)", 3, 1, "an expression alone"),
        ("result = min\n", 1, 10, "'min' is a function"),
        ("result = 1\nbreak", 2, 1, "break outside a loop"),
        ("_secret = 1\nresult = 1", 1, 1, "may not start with '_'"),
    ],
)
def test_checker_refuses_with_line_and_column(source, line, column, words) -> None:
    error = refused(source)
    assert words in error.reason
    assert error.line == line
    if column is not None:
        assert error.column == column


def test_deep_nesting_and_huge_sources_are_refused_before_walking() -> None:
    assert "nests more than" in str(refused("result = " + "-" * 100 + "1"))
    assert "nests more than" in str(refused("result = " + "[" * 90 + "]" * 90))
    assert "syntax error" in str(refused("result = " + "(" * 500 + ")" * 500))
    assert "characters" in str(refused("result = 1\n" + "#" * 70_000))
    assert "NUL" in str(refused("result = 1\x00"))


def test_rules_compute_with_exact_decimals_dates_and_comprehensions() -> None:
    outputs = run(
        "visits = [r for r in rows if r.kind == 'visit']\n"
        "total = sum(r.amount for r in visits)\n"
        "span = rows[-1].day - rows[0].day\n"
        "later = rows[0].day + 30\n"
        "share = total / 3\n"
        "result = [total, span, later, round(share, 2), count(r.amount > 50 for r in rows),\n"
        "          max(r['amount'] for r in rows), 7 // 2, -7 // 2, -7 % 3, decimal('-7') // 2,\n"
        "          0.1 + 0.2 == 0.3, 2 ** 10, 'J45.1'[0:3], startswith('J45.1', 'J45')]\n",
    )
    assert outputs["result"] == (
        Decimal("200.50"), 51, dt.date(2025, 2, 9), Decimal("66.83"), 2, Decimal("120.50"),
        3, -4, 2, Decimal("-4"), True, 1024, "J45", True,
    )


def test_loops_break_continue_and_augmented_assignment() -> None:
    outputs = run(
        "result = 0\n"
        "for r in rows:\n"
        "    if r.kind != 'visit':\n"
        "        continue\n"
        "    result += r.amount\n"
        "    if result > 100:\n"
        "        break\n"
    )
    assert outputs["result"] == Decimal("120.50")


@pytest.mark.parametrize(
    ("source", "line", "column", "words"),
    [
        ("result = 1 / (len(rows) - 3)", 1, 10, "division by zero"),
        ("result = 2 ** 62 * 4", 1, 10, "integer overflow"),
        ("result = rows[5]", 1, 10, "position 5 is outside"),
        ("result = rows[0].day < 3", 1, 10, "cannot compare date with integer"),
        ("result = 'a' == 1", 1, 10, "cannot compare text with integer"),
        ("result = min(r.amount for r in rows if r.kind == 'x')", 1, 10, "min of an empty list"),
        ("result = sqrt(0 - 1)", 1, 10, "sqrt of the negative number"),
        ("result = len(1)", 1, 10, "len of integer"),
        ("if len(rows) > 5:\n    result = 1", None, None, "was not assigned on this path"),
        ("result = range(10 ** 7)", 1, 10, "at most 1000000"),
        ("result = date('2025-02-30')", 1, 10, "day is out of range"),
        ("result = decimal(10) ** 64 ** 2", 1, 10, "exponent in 0..64"),
        ("x = 'ab'\nfor i in range(20):\n    x = x + x\nresult = x", 3, 9, "characters; at most"),
    ],
)
def test_runtime_errors_name_line_and_column(source, line, column, words) -> None:
    with pytest.raises(RuleFailed) as caught:
        run(source)
    assert words in caught.value.reason
    assert (caught.value.line, caught.value.column) == (line, column)


def test_step_budget_stops_a_program_that_loops_forever() -> None:
    rules = check_rules(
        "result = 0\nfor i in range(1000000):\n    for j in range(1000000):\n        result = i",
        [], ["result"], FIELDS,
    )
    with pytest.raises(SandboxTimeout, match="budget of 5000 steps"):
        evaluate(rules, {}, ROWS, 5_000)


def test_arguments_are_names_and_must_be_given() -> None:
    assert run("result = claimed * 2", arguments={"claimed": Decimal("1.25")})["result"] == Decimal("2.50")
    rules = check_rules("result = claimed", ["claimed"], ["result"], FIELDS)
    with pytest.raises(RuleFailed, match="were not given"):
        evaluate(rules, {}, ROWS, 100)


# -- properties ---------------------------------------------------------------------------

_NAMES = st.sampled_from(["rows", "result", "x", "len", "sum", "open", "__import__", "os"])
_TOKENS = st.sampled_from(
    ["result", "=", "+", "-", "*", "/", "(", ")", "[", "]", ".", ":", ",", "\n", "    ", "for",
     "in", "if", "else", "while", "import", "lambda", "def", "r", "rows", "1", "2.5", "'a'",
     "__class__", "kind", "range", "sum", "len", "not", "and", "==", "<", "**", "yield", "@"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TOKENS, max_size=40))
def test_checker_answers_any_token_soup_with_a_script_error_or_a_checked_program(tokens) -> None:
    source = " ".join(tokens)
    try:
        rules = check_rules(source, [], ["result"], FIELDS)
    except ScriptError as error:
        assert error.reason and (error.line is None or error.line >= 1)
        return
    # Whatever passes the checker evaluates without any exception other than the language's.
    try:
        evaluate(rules, {}, ROWS, 10_000)
    except (RuleFailed, SandboxTimeout):
        pass


_INTEGERS = st.integers(min_value=-10**6, max_value=10**6)


@st.composite
def _integer_expressions(draw, depth=0):
    if depth > 3 or draw(st.booleans()):
        return str(draw(_INTEGERS))
    operator = draw(st.sampled_from(["+", "-", "*", "//", "%", "min", "max", "abs"]))
    left = draw(_integer_expressions(depth=depth + 1))
    right = draw(_integer_expressions(depth=depth + 1))
    if operator in ("min", "max"):
        return f"{operator}({left}, {right})"
    if operator == "abs":
        return f"abs({left})"
    return f"({left} {operator} {right})"


class _Overflow(Exception):
    pass


def _reference(expression: str) -> int:
    """Python's own integers, with the language's limit checked after every step (as the rules check it)."""
    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant):
            result = node.value
        elif isinstance(node, ast.UnaryOp):
            result = -value(node.operand)
        elif isinstance(node, ast.Call):
            arguments = [value(argument) for argument in node.args]
            result = {"min": min, "max": max, "abs": abs}[node.func.id](*arguments)
        else:
            left, right = value(node.left), value(node.right)
            result = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                      ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}[type(node.op)](left, right)
        if abs(result) >= 2**63:
            raise _Overflow
        return result
    return value(ast.parse(expression, mode="eval").body)


@settings(max_examples=300, deadline=None)
@given(_integer_expressions())
# A product past the limit fails even when a later step would bring the result back within it.
@example("((960563520 * 9602056654) - 20000000000000)")
def test_integer_arithmetic_agrees_with_python(expression) -> None:
    try:
        expected = _reference(expression)
    except ZeroDivisionError:
        with pytest.raises(RuleFailed, match="division by zero"):
            run(f"result = {expression}")
        return
    except _Overflow:
        with pytest.raises(RuleFailed, match="overflow"):
            run(f"result = {expression}")
        return
    assert run(f"result = {expression}")["result"] == expected
