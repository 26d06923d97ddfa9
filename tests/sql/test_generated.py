"""Generated queries: each either returns DuckDB's answer or a clear refusal.

Never a crash (any exception but Unseen's refusals), never a hang (the
pytest timeout), and never a revealed value the policy forbids: when a
query runs under random column levels, every use it declared is permitted
by the requester's grants (the contract's rule), and what it returns is
exactly what DuckDB computes.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offchain.errors import InputError, PolicyViolation, UnseenError
from offchain.programs.catalog import ALL_MEMBERS
from offchain.sql.program import SqlProgram, query_program_text
from offchain.vocabulary import ConstraintLevel as Level
from tests.sql.world import REQUESTER, assert_same_rows, build_world, generate

WORLD = build_world()
# Also a small world with an empty table, and another seed.
WORLDS = [WORLD, build_world(generate(seed=3, customers=6, loans=0, accounts=1)),
          build_world(generate(seed=11, customers=15, loans=25, accounts=12))]

TABLES = {
    "c": ("bank_a.customers", {"id": "int", "region": "text", "age": "int", "score": "float",
                               "since": "date", "vip": "bool"}),
    "l": ("bank_b.loans", {"loan_id": "int", "customer_id": "int", "amount": "decimal",
                           "status": "text", "opened": "date"}),
    "a": ("bank_c.accounts", {"customer_id": "int", "balance": "int", "branch": "text"}),
}
FROMS = [
    ["c"], ["l"], ["a"],
    ["c", ("JOIN", "l", "c.id = l.customer_id")],
    ["c", ("LEFT JOIN", "l", "c.id = l.customer_id")],
    ["l", ("JOIN", "a", "l.customer_id = a.customer_id")],
    ["c", ("JOIN", "l", "c.id = l.customer_id"), ("JOIN", "a", "a.customer_id = c.id")],
    ["c", ("LEFT JOIN", "a", "c.id = a.customer_id")],
]
TEXT_VALUES = {"region": ["north", "south", "east", "west"], "status": ["ok", "late", "default"],
               "branch": ["main", "harbour", "airport"]}


@st.composite
def atom(draw, aliases: list[str]) -> str:
    alias = draw(st.sampled_from(aliases))
    columns = TABLES[alias][1]
    column = draw(st.sampled_from(sorted(columns)))
    kind = columns[column]
    name = f"{alias}.{column}"
    if draw(st.integers(0, 9)) == 0:
        return f"{name} IS {'NOT ' if draw(st.booleans()) else ''}NULL"
    if kind == "text":
        values = TEXT_VALUES[column]
        if draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))
            return f"{name} IN ({', '.join(repr(v) for v in chosen)})"
        return f"{name} {draw(st.sampled_from(['=', '<>']))} {draw(st.sampled_from(values))!r}"
    if kind == "bool":
        return name if draw(st.booleans()) else f"NOT {name}"
    if kind == "date":
        day = dt.date(2020, 1, 1) + dt.timedelta(days=draw(st.integers(0, 1500)))
        return f"{name} {draw(st.sampled_from(['<', '>=']))} DATE '{day.isoformat()}'"
    operator = draw(st.sampled_from(["<", "<=", ">", ">=", "=", "<>"]))
    if kind == "float":
        return f"{name} {operator} {draw(st.integers(-5, 95))}.125"
    if kind == "decimal":
        return f"{name} {operator} {draw(st.integers(50, 5000))}.5"
    if draw(st.booleans()):
        low = draw(st.integers(-100, 60))
        return f"{name} BETWEEN {low} AND {low + draw(st.integers(0, 40))}"
    return f"{name} {operator} {draw(st.integers(-5, 80))}"


@st.composite
def cross_atom(draw, aliases: list[str]) -> str:
    numeric = [(a, c) for a in aliases for c, k in TABLES[a][1].items() if k in ("int", "decimal")]
    (a1, c1), (a2, c2) = draw(st.lists(st.sampled_from(numeric), min_size=2, max_size=2,
                                       unique=True))
    factor = draw(st.integers(1, 50))
    return f"{a1}.{c1} {draw(st.sampled_from(['<', '>']))} {a2}.{c2} * {factor}"


@st.composite
def condition(draw, aliases: list[str], depth: int = 0) -> str:
    choice = draw(st.integers(0, 5 if depth < 2 else 1))
    if choice <= 1:
        if len(aliases) > 1 and draw(st.integers(0, 3)) == 0:
            return draw(cross_atom(aliases))
        return draw(atom(aliases))
    if choice == 2:
        return f"NOT ({draw(condition(aliases, depth + 1))})"
    operator = draw(st.sampled_from(["AND", "OR"]))
    return (f"({draw(condition(aliases, depth + 1))} {operator} "
            f"{draw(condition(aliases, depth + 1))})")


@st.composite
def query(draw) -> str:
    source = draw(st.sampled_from(FROMS))
    aliases = [source[0]] + [step[1] for step in source[1:]]
    text = f"FROM {TABLES[source[0]][0]} {source[0]}"
    seen = [source[0]]
    for kind, alias, on in source[1:]:
        seen.append(alias)
        if draw(st.integers(0, 3)) == 0:  # a further ON condition (decides matching in a LEFT JOIN)
            on += f" AND {draw(condition(seen if draw(st.booleans()) else [alias], 1))}"
        text += f" {kind} {TABLES[alias][0]} {alias} ON {on}"
    where = f" WHERE {draw(condition(aliases))}" if draw(st.booleans()) else ""
    columns = [(a, c, k) for a in aliases for c, k in TABLES[a][1].items()]
    numeric = [(a, c, k) for a, c, k in columns if k in ("int", "decimal", "float")]
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from([(a, c) for a, c, k in columns
                                              if k in ("text", "bool")]),
                             max_size=2, unique=True))
        aggregates = []
        for _ in range(draw(st.integers(1, 3))):
            function = draw(st.sampled_from(["COUNT(*)", "COUNT", "SUM", "AVG", "MIN", "MAX",
                                             "VARIANCE", "STDDEV", "COUNT(DISTINCT"]))
            if function == "COUNT(*)":
                aggregates.append("COUNT(*)")
            elif function == "COUNT(DISTINCT":
                a, c, _ = draw(st.sampled_from([x for x in columns if x[2] == "text"]))
                aggregates.append(f"COUNT(DISTINCT {a}.{c})")
            elif function == "COUNT":
                a, c, _ = draw(st.sampled_from(columns))
                aggregates.append(f"COUNT({a}.{c})")
            else:
                a, c, _ = draw(st.sampled_from(numeric))
                aggregates.append(f"{function}({a}.{c})")
        select = [f"{a}.{c}" for a, c in keys] + aggregates
        group = f" GROUP BY {', '.join(f'{a}.{c}' for a, c in keys)}" if keys else ""
        having = ""
        if draw(st.integers(0, 3)) == 0:
            having = f" HAVING COUNT(*) > {draw(st.integers(0, 4))}"
        return f"SELECT {', '.join(select)} {text}{where}{group}{having}"
    chosen = draw(st.lists(st.sampled_from(columns), min_size=1, max_size=3, unique=True))
    query = f"SELECT {', '.join(f'{a}.{c}' for a, c, _ in chosen)} {text}{where}"
    if draw(st.integers(0, 3)) == 0:
        # ORDER BY every returned column, then a unique row id, so the first rows are determined
        unique = [f"{a}.{c}" for a, c in (("c", "id"), ("l", "loan_id")) if a in aliases]
        if unique and not any(k == "text" for _, _, k in chosen):
            order = [f"{a}.{c}" for a, c, _ in chosen]
            query = (f"SELECT {', '.join(order + unique)} {text}{where} ORDER BY "
                     f"{', '.join(order + unique)} LIMIT {draw(st.integers(0, 8))}")
    return query


def _expected(sql: str, world=WORLD):
    try:
        return world.expected(sql)
    except duckdb.Error:
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query(), st.sampled_from(range(len(WORLDS))))
def test_generated_query_returns_duckdbs_answer_or_a_refusal(sql: str, world: int) -> None:
    expected = _expected(sql, WORLDS[world])
    try:
        got = WORLDS[world].run(sql)
    except (InputError, PolicyViolation) as refusal:
        assert str(refusal), "a refusal must say why"
        return
    assert expected is not None, f"DuckDB rejects {sql!r} but it ran"
    assert_same_rows(got, expected, ordered="ORDER BY" in sql)


LEVELS = [Level.PLAINTEXT, Level.PLAINTEXT_AFTER_JOIN, Level.PLAINTEXT_AFTER_GROUP_BY,
          Level.PLAINTEXT_AFTER_AGGREGATE, Level.PLAINTEXT_AFTER_COMPARE, Level.ENCRYPTED_ONLY]


@st.composite
def grants(draw) -> dict:
    levels = {}
    for dataset in WORLD.datasets.values():
        for column in dataset.schema.names:
            levels[(dataset.dataset_id, column, ALL_MEMBERS)] = draw(st.sampled_from(LEVELS))
    return levels


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query(), grants())
def test_a_query_that_passes_the_policy_declares_only_permitted_uses(sql: str, levels) -> None:
    catalog = WORLD.catalog(levels)
    try:
        plan = SqlProgram().plan(query_program_text(sql, REQUESTER), catalog)
    except PolicyViolation as refusal:
        assert "would allow this use" in str(refusal)
        return
    except UnseenError:
        return
    for use in plan.uses:
        dataset = plan.inputs[use.input_index].dataset
        granted = catalog.level(dataset.dataset_id, use.column, REQUESTER)
        assert granted.permits(use.required), f"{sql}: {use} not permitted by {granted.name}"
    # Every returned column not aggregated must be plaintext-after-something the query earned.
    compiled = plan.parameters["compiled"]
    for output in compiled.outputs:
        for column in _raw_columns(output.expr):
            dataset = compiled.tables[column.table].table.dataset
            granted = catalog.level(dataset.dataset_id, column.column, REQUESTER)
            assert granted in (Level.PLAINTEXT, Level.PLAINTEXT_AFTER_JOIN,
                               Level.PLAINTEXT_AFTER_GROUP_BY), (sql, column, granted)


def _raw_columns(expr):
    from offchain.sql import ir

    if isinstance(expr, ir.Aggregate):
        return []
    if isinstance(expr, ir.ColumnRef):
        return [expr]
    return [c for child in ir.children(expr) for c in _raw_columns(child)]


@pytest.mark.parametrize("sql", [
    "SELECT c.region, COUNT(*) FROM bank_a.customers c LEFT JOIN bank_b.loans l "
    "ON c.id = l.customer_id WHERE (l.status = 'late' OR c.age > 50) GROUP BY c.region",
    "SELECT l.status, COUNT(DISTINCT a.branch), MAX(a.balance) FROM bank_b.loans l "
    "JOIN bank_c.accounts a ON l.customer_id = a.customer_id GROUP BY l.status",
])
def test_generated_shapes_known_to_be_tricky(sql: str) -> None:
    assert_same_rows(WORLD.run(sql), WORLD.expected(sql))
