"""The filter language: literals stay parameters, semantics are DuckDB's, bad filters are refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.data.schema import Schema
from offchain.errors import InputError
from offchain.stats.filters import parse_filter

SCHEMA = Schema.of(
    [
        ("name", "string"),
        ("amount", "decimal(10,2)"),
        ("units", "int64"),
        ("ratio", "float64"),
        ("day", "date"),
        ("seen", "timestamp"),
        ("flag", "bool"),
    ]
)
INPUTS = [("bank.loans", SCHEMA)]
ROWS = [
    ("ann", "100.00", 1, 0.5, "2024-01-31", "2024-01-31 10:00:00", True),
    ("bob", "100.01", 2, 1.5, "2024-02-01", "2024-02-01 00:00:00", False),
    ("o'neil; DROP TABLE t; --", "-5.50", 3, None, None, None, None),
    (None, None, None, 2.0, "2024-03-01", "2024-03-01 12:30:00", True),
]


@pytest.fixture(scope="module")
def table() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE t (name VARCHAR, amount DECIMAL(10,2), units BIGINT, ratio DOUBLE, day DATE, "
        "seen TIMESTAMP, flag BOOLEAN)"
    )
    connection.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)", ROWS)
    return connection


def matching(connection, document) -> list:
    sql, parameters = parse_filter(document, INPUTS).compile()
    return [
        r[0]
        for r in connection.execute(
            f"SELECT units FROM t WHERE {sql} ORDER BY units", parameters
        ).fetchall()
    ]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], [1, 2, 3, None]),
        ([["amount", ">", 100.005]], [2]),  # compared as the decimal written, not a rounded one
        ([["amount", "<=", 100]], [1, 3]),
        ([["units", "in", [1, 3, 99]]], [1, 3]),
        ([["units", "!=", 2]], [1, 3]),  # NULL fails every comparison
        ([["day", "between", ["2024-01-31", "2024-02-01"]]], [1, 2]),
        ([["seen", ">=", "2024-02-01T00:00:00"]], [2, None]),
        ([["flag", "=", True], ["ratio", "<", 1.0]], [1]),
        ([["name", "=", "o'neil; DROP TABLE t; --"]], [3]),
        ([["name", "is_null", True]], [None]),
        ([["name", "is_null", False], ["units", ">", 1]], [2, 3]),
    ],
)
def test_filters_select_what_duckdb_selects(table, document, expected) -> None:
    assert matching(table, document) == expected


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=30), st.integers(-(2**63), 2**63 - 1))
def test_literals_never_enter_the_sql_text(text: str, number: int) -> None:
    row_filter = parse_filter([["name", "=", text], ["units", "in", [number, 0]]], INPUTS)
    sql, parameters = row_filter.compile()
    assert sql == '"name" = ? AND "units" IN (?, ?)'
    assert parameters == [text, number, 0]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([["units", "=", 1.5]], "expected an integer literal"),
        ([["units", "=", True]], "expected an integer literal"),
        ([["amount", "=", "1.5"]], "expected a number"),
        ([["ratio", "<", float("nan")]], "finite number"),
        ([["day", "=", "31/01/2024"]], "YYYY-MM-DD"),
        ([["seen", "=", "noon"]], "ISO 8601"),
        ([["flag", "<", True]], "supports =, != and in only"),
        ([["name", "in", []]], "list of 1 to 1000"),
        ([["name", "between", ["a"]]], r"takes \[low, high\]"),
        ([["name", "is_null", "yes"]], "true or false"),
        ([["Name; drop", "=", 1]], "not a valid identifier"),
        ([["units", "=="]], r"must be \[column, op, literal\]"),
        ([["units", "=", 1]] * 33, "at most 32"),
    ],
)
def test_bad_filters_name_the_problem(document, message) -> None:
    with pytest.raises(InputError, match=message):
        parse_filter(document, INPUTS)


def test_literals_are_typed_for_exact_comparison() -> None:
    (condition,) = parse_filter([["amount", "=", 0.1]], INPUTS).conditions
    assert condition.values == (Decimal("0.1"),)
    (condition,) = parse_filter([["seen", "<", "2024-01-01T01:00:00+01:00"]], INPUTS).conditions
    assert condition.values == (dt.datetime(2024, 1, 1, 0, 0),)
    described = parse_filter(
        [["day", "between", ["2024-01-01", "2024-02-01"]], ["name", "is_null", False]], INPUTS
    )
    assert described.describe() == "day between '2024-01-01' and '2024-02-01' and name is not null"
    assert described.columns == ("day", "name")
