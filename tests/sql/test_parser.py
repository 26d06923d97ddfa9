"""The parser accepts the supported set and refuses everything else by name and position."""

from __future__ import annotations

import pytest

from offchain.errors import InputError, UnsupportedQuery
from offchain.sql.ir import Aggregate, ColumnRef, Comparison, Literal
from offchain.sql.parser import parse_query
from tests.sql.world import build_world

C = "bank_a.customers"
L = "bank_b.loans"


@pytest.fixture(scope="module")
def catalog():
    return build_world().catalog()


UNSUPPORTED = [
    # (query, construct named in the message, line, column)
    (f"SELECT UPPER(region) FROM {C}", "function UPPER", 1, 8),
    (f"SELECT id FROM {C} WHERE region LIKE 'n%'", "LIKE", 1, 39),
    (f"SELECT DISTINCT region FROM {C}", "SELECT DISTINCT", 1, 8),
    (f"SELECT id FROM {C}\nLIMIT 3 OFFSET 2", "OFFSET", 2, 9),
    (f"SELECT c.id FROM {C} c RIGHT JOIN {L} l ON c.id = l.customer_id", "RIGHT JOIN", 1, 37),
    (f"SELECT c.id FROM {C} c FULL JOIN {L} l ON c.id = l.customer_id", "FULL JOIN", 1, 37),
    (f"SELECT c.id FROM {C} c CROSS JOIN {L} l", "CROSS JOIN", 1, 37),
    (f"SELECT SUM(age) OVER () FROM {C}", "window function", 1, 8),
    (f"SELECT id FROM {C} WHERE id IN (SELECT customer_id FROM {L})", "IN with a subquery", 1, 39),
    (f"SELECT id FROM {C} UNION SELECT customer_id FROM {L}", "UNION", 1, 33),
    (f"WITH x AS (SELECT id FROM {C}) SELECT id FROM x", "WITH", 1, 1),
    (f"SELECT CASE WHEN age > 3 THEN 1 ELSE 0 END FROM {C}", "CASE", 1, 8),
    (f"SELECT CAST(age AS DOUBLE) FROM {C}", "CAST", 1, 8),
    (f"SELECT age % 2 FROM {C}", "the % operator", 1, 8),
    (f"SELECT id FROM {C} c JOIN {L} l USING (id)", "JOIN ... USING", 1, 35),
    (f"SELECT id FROM {C}, {L}", "comma-separated FROM", 1, 34),
    (f"SELECT SUM(DISTINCT age) FROM {C}", "SUM(DISTINCT", 1, 8),
    (f"SELECT region, COUNT(*) FROM {C} GROUP BY ROLLUP (region)", "ROLLUP", 1, 64),
    (f"SELECT id FROM {C} ORDER BY age", "ORDER BY an expression that is not in the SELECT", 1, 42),
    (f"SELECT region FROM {C} WHERE region || 'x' = 'nx'", "string concatenation", 1, 43),
    (f"SELECT id FROM {C} WHERE region = ANY (SELECT status FROM {L})", "", 1, 1),
]


@pytest.mark.parametrize("query, construct, line, column", UNSUPPORTED)
def test_unsupported_constructs_are_named_with_their_position(catalog, query, construct, line,
                                                              column) -> None:
    with pytest.raises(UnsupportedQuery) as caught:
        parse_query(query, catalog)
    error = caught.value
    assert construct in str(error)
    if construct:
        assert (error.line, error.column) == (line, column), str(error)
    assert "not supported" in str(error)


@pytest.mark.parametrize("query, fragment", [
    (f"SELECT nope FROM {C}", "unknown column 'nope'"),
    ("SELECT id FROM bank_z.customers", "unknown dataset 'bank_z.customers'"),
    ("SELECT id FROM customers", "must be named member.table"),
    (f"SELECT customer_id FROM {L} l JOIN bank_c.accounts a ON l.customer_id = a.customer_id",
     "ambiguous"),
    (f"SELECT age, COUNT(*) FROM {C} GROUP BY region", "must appear in GROUP BY"),
    (f"SELECT id FROM {C} WHERE SUM(age) > 3", "not allowed in WHERE"),
    (f"SELECT id FROM {C} WHERE region > 3", "cannot compare VARCHAR with BIGINT"),
    (f"SELECT region + 1 FROM {C}", r"cannot compute VARCHAR \+ BIGINT"),
    (f"SELECT c.id FROM {C} c JOIN {L} l ON c.region = l.customer_id", "cannot compare VARCHAR"),
    (f"SELECT c.id FROM {C} c JOIN {L} l ON c.id = l.amount", "different types"),
    (f"SELECT c.id FROM {C} c JOIN {L} l ON c.age > l.customer_id", "needs an equality"),
    (f"SELECT id FROM {C} WHERE since > 'yesterday'", "is not a date"),
    ("SELEC id FROM x", "not valid SQL"),
    (f"SELECT id FROM {C}; SELECT id FROM {C}", "exactly one SELECT"),
    (f"SELECT id FROM {C} WHERE age = NULL", "use IS NULL"),
])
def test_mistakes_are_explained(catalog, query, fragment) -> None:
    with pytest.raises(InputError, match=fragment):
        parse_query(query, catalog)


def test_supported_query_resolves_tables_columns_and_types(catalog) -> None:
    query = parse_query(
        f"SELECT c.region AS r, SUM(l.amount * 2) FROM {C} c JOIN {L} AS l "
        "ON c.id = l.customer_id AND l.status = 'ok' WHERE c.since > '2021-01-01' "
        "GROUP BY c.region HAVING COUNT(*) > 3 ORDER BY r DESC LIMIT 10", catalog)
    assert [t.dataset.reference for t in query.tables] == [C, L]
    (join,) = query.joins
    assert join.kind == "inner" and join.left_keys[0].column == "id"
    assert join.right_keys[0].column == "customer_id"
    assert isinstance(join.condition, Comparison)
    where = query.where
    assert isinstance(where.right, Literal) and where.right.type.kind == "date"
    total = query.select[1].expr
    assert isinstance(total, Aggregate) and total.type.kind == "decimal" and total.type.scale == 2
    assert query.group_by == (ColumnRef(0, "region", query.group_by[0].type),)
    assert query.order[0].output == 0 and query.order[0].descending
    assert query.limit == 10


def test_parsing_is_deterministic(catalog) -> None:
    text = f"SELECT region, COUNT(*) FROM {C} WHERE age BETWEEN 20 AND 30 GROUP BY region"
    assert parse_query(text, catalog) == parse_query(text, catalog)
