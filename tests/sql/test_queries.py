"""Secure SQL answers equal DuckDB's on the same data put together in the clear.

Every query runs end to end with ``run_program_locally``: three owners
(one table each) compute in their DuckDB and secret-share, three compute
parties run the MPC, the requester reconstructs and decodes. Integers,
decimals, text and dates must be equal; doubles (AVG, VARIANCE, STDDEV,
DOUBLE columns) within 1e-3 + 1e-5 relative (fixed point, 16 fractional bits).
"""

from __future__ import annotations

import pytest

from tests.sql.world import assert_same_rows, build_world

C = "bank_a.customers"
L = "bank_b.loans"
A = "bank_c.accounts"

QUERIES = {
    # one table
    "count": f"SELECT COUNT(*) FROM {C}",
    "basic aggregates with NULLs": f"SELECT COUNT(*), COUNT(age), SUM(age), MIN(age), MAX(age) FROM {C}",
    "moments": f"SELECT AVG(age), VARIANCE(age), STDDEV(age), VAR_POP(age), STDDEV_POP(age) FROM {C}",
    "double column aggregates": f"SELECT SUM(score), AVG(score), MIN(score), MAX(score), STDDEV(score) FROM {C}",
    "group by with a NULL group": f"SELECT region, COUNT(*), COUNT(age) FROM {C} GROUP BY region",
    "group by, where and having": (
        f"SELECT region, SUM(score) AS total, AVG(age) FROM {C} WHERE age > 30 "
        "GROUP BY region HAVING COUNT(*) >= 2"),
    "rows with three-valued where": (
        f"SELECT id, age FROM {C} WHERE region = 'north' AND (age < 40 OR age IS NULL)"),
    "between and in": f"SELECT id, region FROM {C} WHERE age BETWEEN 30 AND 50 AND region IN ('east', 'west')",
    "not on a boolean, ordered with limit": f"SELECT id, vip FROM {C} WHERE NOT vip ORDER BY id DESC LIMIT 5",
    "dates": f"SELECT COUNT(*), MIN(opened), MAX(opened) FROM {L} WHERE opened >= DATE '2022-01-01'",
    "date literal as text": f"SELECT id, since FROM {C} WHERE since < '2020-06-01'",
    "group by a date and a boolean": f"SELECT vip, COUNT(*) FROM {C} WHERE since IS NOT NULL GROUP BY vip",
    "empty rows": f"SELECT id FROM {C} WHERE age > 1000",
    "empty aggregate": f"SELECT COUNT(*), SUM(age), AVG(age), MIN(age) FROM {C} WHERE age > 1000",
    "empty groups": f"SELECT region, COUNT(*) FROM {C} WHERE age > 1000 GROUP BY region",
    "order by an aggregate": (
        f"SELECT region, COUNT(*) AS n FROM {C} GROUP BY region ORDER BY n DESC, region LIMIT 3"),
    "count distinct": f"SELECT COUNT(DISTINCT region), COUNT(DISTINCT status) FROM {C} c JOIN {L} l ON c.id = l.customer_id",
    # joins
    "inner join rows with duplicate keys": (
        f"SELECT c.id, l.loan_id, l.amount FROM {C} c JOIN {L} l ON c.id = l.customer_id"),
    "join, group by the left side": (
        f"SELECT c.region, COUNT(*), SUM(l.amount), AVG(l.amount) FROM {C} c "
        f"JOIN {L} l ON c.id = l.customer_id GROUP BY c.region"),
    "group keys from two members": (
        f"SELECT c.region, l.status, COUNT(*), MAX(l.amount) FROM {C} c "
        f"JOIN {L} l ON c.id = l.customer_id GROUP BY c.region, l.status"),
    "filters on secret columns of both members": (
        f"SELECT COUNT(*), SUM(l.amount) FROM {C} c JOIN {L} l ON c.id = l.customer_id "
        "WHERE l.amount > 1000 AND c.age < 50"),
    "condition across members": (
        f"SELECT c.id, l.loan_id FROM {C} c JOIN {L} l ON c.id = l.customer_id "
        "WHERE l.amount > c.age * 40"),
    "or across members": (
        f"SELECT COUNT(*) FROM {C} c JOIN {L} l ON c.id = l.customer_id "
        "WHERE c.region = 'north' OR l.status = 'late'"),
    "left join rows": f"SELECT c.id, l.loan_id, l.amount FROM {C} c LEFT JOIN {L} l ON c.id = l.customer_id",
    "left join aggregates": (
        f"SELECT c.region, COUNT(l.loan_id), SUM(l.amount) FROM {C} c "
        f"LEFT JOIN {L} l ON c.id = l.customer_id GROUP BY c.region"),
    "left join with an ON filter on the right": (
        f"SELECT c.id, COUNT(l.loan_id) FROM {C} c LEFT JOIN {L} l "
        "ON c.id = l.customer_id AND l.status = 'ok' GROUP BY c.id HAVING COUNT(*) >= 1"),
    "anti join through IS NULL": (
        f"SELECT c.id FROM {C} c LEFT JOIN {L} l ON c.id = l.customer_id WHERE l.loan_id IS NULL"),
    "left join, group key of the right side": (
        f"SELECT l.status, COUNT(*) FROM {C} c LEFT JOIN {L} l ON c.id = l.customer_id "
        "GROUP BY l.status"),
    "three members": (
        f"SELECT c.region, COUNT(*), SUM(a.balance), SUM(l.amount) FROM {C} c "
        f"JOIN {L} l ON c.id = l.customer_id JOIN {A} a ON c.id = a.customer_id GROUP BY c.region"),
    "join with no match": (
        f"SELECT COUNT(*), SUM(l.amount) FROM {C} c JOIN {L} l ON c.id = l.customer_id "
        "WHERE l.amount < 0"),
    "having on an average": (
        f"SELECT l.status, AVG(l.amount), COUNT(*) FROM {L} l GROUP BY l.status "
        "HAVING AVG(l.amount) > 1500"),
    "arithmetic in aggregates": (
        f"SELECT SUM(l.amount * 2 + 1), SUM(c.age - 10), SUM(-c.age) FROM {C} c "
        f"JOIN {L} l ON c.id = l.customer_id"),
    "decimal times double": f"SELECT SUM(c.score * l.amount) FROM {C} c JOIN {L} l ON c.id = l.customer_id",
    "division of aggregates": f"SELECT SUM(l.amount) / COUNT(*) FROM {L} l",
    "division per row": (
        f"SELECT l.loan_id, l.amount / c.age FROM {C} c JOIN {L} l ON c.id = l.customer_id "
        "WHERE c.age > 60"),
    "text returned after a join": (
        f"SELECT c.region, l.status, a.branch FROM {C} c JOIN {L} l ON c.id = l.customer_id "
        f"JOIN {A} a ON a.customer_id = c.id WHERE l.amount > 500"),
    "self join of one member's table": (
        f"SELECT COUNT(*) FROM {L} x JOIN {L} y ON x.customer_id = y.customer_id "
        "WHERE x.loan_id < y.loan_id"),
    "min and max of decimals per group": (
        f"SELECT status, MIN(amount), MAX(amount), COUNT(amount) FROM {L} GROUP BY status"),
    "moments of doubles and dates after a join": (
        f"SELECT l.status, AVG(c.score), STDDEV(c.score), VAR_POP(c.age), MIN(c.score), "
        f"MAX(c.since), COUNT(DISTINCT c.region) FROM {C} c JOIN {L} l ON c.id = l.customer_id "
        "GROUP BY l.status"),
    "one-table count distinct per group": (
        f"SELECT status, COUNT(DISTINCT customer_id), COUNT(customer_id) FROM {L} GROUP BY status"),
    "variance per group after a join": (
        f"SELECT c.region, VARIANCE(l.amount), STDDEV_POP(c.age) FROM {C} c "
        f"JOIN {L} l ON c.id = l.customer_id GROUP BY c.region"),
}


@pytest.fixture(scope="module")
def world():
    return build_world()


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_result_equals_duckdb(world, name: str) -> None:
    sql = QUERIES[name]
    got = world.run(sql)
    assert_same_rows(got, world.expected(sql), ordered="ORDER BY" in sql)


def test_suite_covers_at_least_thirty_queries() -> None:
    assert len(QUERIES) >= 30


ORDERED_LIMITS = {
    "rows by a number, nulls last": f"SELECT id, age FROM {C} ORDER BY age, id LIMIT 7",
    "rows by text descending": f"SELECT region, id FROM {C} ORDER BY region DESC, id LIMIT 6",
    "rows after a join by a decimal": (
        f"SELECT l.loan_id, l.amount FROM {C} c JOIN {L} l ON c.id = l.customer_id "
        "ORDER BY l.amount DESC, l.loan_id LIMIT 5"),
    "groups by an aggregate": (
        f"SELECT status, SUM(amount) AS total FROM {L} GROUP BY status ORDER BY total LIMIT 2"),
    "groups by a text key": (
        f"SELECT c.region, COUNT(*) FROM {C} c JOIN {L} l ON c.id = l.customer_id "
        "GROUP BY c.region ORDER BY c.region NULLS FIRST LIMIT 3"),
    "limit larger than the result": f"SELECT id FROM {C} WHERE age > 70 ORDER BY id LIMIT 100",
    "one-table groups by a text key with NULLs last": (
        f"SELECT region, COUNT(*) FROM {C} GROUP BY region ORDER BY region DESC LIMIT 4"),
}


@pytest.mark.parametrize("name", sorted(ORDERED_LIMITS))
def test_order_by_limit_returns_only_the_first_rows(world, name: str) -> None:
    sql = ORDERED_LIMITS[name]
    assert_same_rows(world.run(sql), world.expected(sql), ordered=True)


def test_limit_without_order_returns_that_many_matching_rows(world) -> None:
    everything = {row for row in world.expected(f"SELECT id FROM {C} WHERE age > 30")}
    got = world.run(f"SELECT id FROM {C} WHERE age > 30 LIMIT 4")
    assert len(got.rows) == 4 and set(got.rows) <= everything
