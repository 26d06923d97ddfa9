"""Generated multi-member data for the SQL tests, and DuckDB's answer on it put together in the clear.

Three members, one table each:

* ``bank_a.customers`` (id unique; region, age, score, since, vip with NULLs)
* ``bank_b.loans`` (customer_id repeats, is sometimes NULL or unknown to bank_a;
  amount DECIMAL(12,2) with NULLs; status; opened date)
* ``bank_c.accounts`` (customer_id with a few duplicates; balance; branch)
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

import duckdb
import numpy as np

from offchain.data.schema import Schema, decimal_scale
from offchain.data.store import LocalStore
from offchain.programs.base import DatasetInfo
from offchain.programs.catalog import ALL_MEMBERS, StaticCatalog
from offchain.programs.local import run_program_locally
from offchain.sql.program import QueryResult, SqlProgram, query_program_text
from offchain.vocabulary import ConstraintLevel

REQUESTER = "0x" + "9" * 40
OWNERS = {"bank_a": "0x" + "a1" * 20, "bank_b": "0x" + "b2" * 20, "bank_c": "0x" + "c3" * 20}

SCHEMAS = {
    ("bank_a", "customers"): Schema.of([("id", "int64"), ("region", "string"), ("age", "int64"),
                                        ("score", "float64"), ("since", "date"), ("vip", "bool")]),
    ("bank_b", "loans"): Schema.of([("loan_id", "int64"), ("customer_id", "int64"),
                                    ("amount", "decimal(12,2)"), ("status", "string"),
                                    ("opened", "date")]),
    ("bank_c", "accounts"): Schema.of([("customer_id", "int64"), ("balance", "int64"),
                                       ("branch", "string")]),
}


def _maybe(rng: np.random.Generator, values: list, null_rate: float) -> list:
    return [None if rng.random() < null_rate else v for v in values]


def generate(seed: int = 7, customers: int = 40, loans: int = 60, accounts: int = 30) -> dict:
    """Return ``{(member, table): {column: list}}``; deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    regions = ["north", "south", "east", "west"]
    start = dt.date(2020, 1, 1)
    data = {
        ("bank_a", "customers"): {
            "id": list(range(1, customers + 1)),
            "region": _maybe(rng, [regions[i] for i in rng.integers(0, 4, customers)], 0.08),
            "age": _maybe(rng, [int(v) for v in rng.integers(18, 80, customers)], 0.1),
            "score": _maybe(rng, [round(float(v), 2) for v in rng.uniform(-5, 95, customers)],
                            0.1),
            "since": _maybe(rng, [start + dt.timedelta(days=int(d))
                                  for d in rng.integers(0, 1500, customers)], 0.05),
            "vip": _maybe(rng, [bool(v) for v in rng.integers(0, 2, customers)], 0.1),
        },
        ("bank_b", "loans"): {
            "loan_id": list(range(1000, 1000 + loans)),
            "customer_id": _maybe(rng, [int(v) for v in rng.integers(1, customers + 12, loans)],
                                  0.05),
            "amount": _maybe(rng, [Decimal(int(v)).scaleb(-2)
                                   for v in rng.integers(5_000, 500_000, loans)], 0.1),
            "status": [["ok", "late", "default"][i] for i in rng.choice(3, loans, p=[.6, .3, .1])],
            "opened": [start + dt.timedelta(days=int(d)) for d in rng.integers(0, 1500, loans)],
        },
        ("bank_c", "accounts"): {
            "customer_id": [int(v) for v in rng.integers(1, customers + 20, accounts)],
            "balance": [int(v) for v in rng.integers(-2_000, 50_000, accounts)],
            "branch": _maybe(rng, [["main", "harbour", "airport"][i]
                                   for i in rng.integers(0, 3, accounts)], 0.1),
        },
    }
    return data


_SQL_TYPES = {"int64": "BIGINT", "float64": "DOUBLE", "string": "VARCHAR", "date": "DATE",
              "timestamp": "TIMESTAMP", "bool": "BOOLEAN"}


def _sql_type(column_type: str) -> str:
    return column_type.upper() if decimal_scale(column_type) is not None else _SQL_TYPES[column_type]


def _fill(connection, qualified: str, schema: Schema, columns: dict) -> None:
    definitions = ", ".join(f'"{c.name}" {_sql_type(c.type)}' for c in schema.columns)
    connection.execute(f"CREATE TABLE {qualified} ({definitions})")
    rows = list(zip(*(columns[c.name] for c in schema.columns), strict=True))
    if rows:
        marks = ", ".join("?" for _ in schema.columns)
        connection.executemany(f"INSERT INTO {qualified} VALUES ({marks})", rows)


@dataclass
class World:
    """Members' stores, the catalog, and a DuckDB connection with every table in the clear."""

    stores: dict[str, LocalStore]
    datasets: dict[str, DatasetInfo]
    reference: duckdb.DuckDBPyConnection
    levels: dict

    def catalog(self, levels: dict | None = None) -> StaticCatalog:
        return StaticCatalog(self.datasets.values(), self.levels if levels is None else levels)

    def run(self, sql: str, requester: str = REQUESTER, catalog: StaticCatalog | None = None,
            min_group_size: int | None = None) -> QueryResult:
        program = SqlProgram()
        plan = program.plan(query_program_text(sql, requester, min_group_size),
                            catalog or self.catalog())
        stores = [self.stores[i.dataset.owner_name] for i in plan.inputs]
        result, _ = run_program_locally(program, plan, stores)
        return result

    def expected(self, sql: str) -> list[tuple]:
        return self.reference.execute(sql).fetchall()


def build_world(data: dict | None = None, level: ConstraintLevel = ConstraintLevel.PLAINTEXT) -> World:
    data = data or generate()
    stores: dict[str, LocalStore] = {}
    datasets: dict[str, DatasetInfo] = {}
    reference = duckdb.connect()
    levels = {}
    for dataset_id, ((member, table), columns) in enumerate(sorted(data.items()), start=1):
        schema = SCHEMAS[(member, table)]
        store = stores.setdefault(member, LocalStore())
        _fill(store._cursor(), f'"{table}"', schema, columns)
        reference.execute(f"CREATE SCHEMA IF NOT EXISTS {member}")
        _fill(reference, f"{member}.{table}", schema, columns)
        rows = len(next(iter(columns.values())))
        datasets[f"{member}.{table}"] = DatasetInfo(dataset_id, OWNERS[member], member, table,
                                                    schema, rows, b"\0" * 32)
        for column in schema.names:
            levels[(dataset_id, column, ALL_MEMBERS)] = level
    return World(stores, datasets, reference, levels)


FLOAT_ABSOLUTE = 1e-3
FLOAT_RELATIVE = 1e-5


def same_value(got, want) -> bool:
    """Exact for integers, decimals, text, dates; within the fixed-point tolerance for doubles."""
    if got is None or want is None:
        return got is None and want is None
    if isinstance(want, float) or isinstance(got, float):
        if isinstance(want, float) and math.isnan(want):
            return False
        return abs(float(got) - float(want)) <= FLOAT_ABSOLUTE + FLOAT_RELATIVE * abs(float(want))
    if isinstance(want, Decimal) or isinstance(got, Decimal):
        return Decimal(str(got)) == Decimal(str(want))
    return got == want


def _sort_key(row: tuple) -> tuple:
    return tuple((value is None, str(type(value).__name__),
                  round(float(value), 2) if isinstance(value, (float, Decimal)) else value
                  if value is not None else 0) for value in row)


def assert_same_rows(got: QueryResult, want: list[tuple], ordered: bool = False) -> None:
    rows = list(got.rows)
    if not ordered:
        rows = sorted(rows, key=_sort_key)
        want = sorted(want, key=_sort_key)
    assert len(rows) == len(want), f"{len(rows)} rows, DuckDB has {len(want)}:\n{rows}\n{want}"
    for got_row, want_row in zip(rows, want, strict=True):
        assert len(got_row) == len(want_row)
        assert all(same_value(g, w) for g, w in zip(got_row, want_row, strict=True)), (
            f"row {got_row} differs from DuckDB's {want_row}\nall: {rows}\nDuckDB: {want}")
