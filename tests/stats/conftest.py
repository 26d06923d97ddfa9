"""Members' tables for statistics tests, and DuckDB over their union in the clear as the reference."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pytest

from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.programs.base import DatasetInfo
from offchain.programs.catalog import StaticCatalog
from offchain.programs.local import run_program_locally
from offchain.stats.program import StatisticsProgram

SCHEMA = Schema.of(
    [
        ("amount", "decimal(18,2)"),
        ("units", "int64"),
        ("score", "float64"),
        ("region", "string"),
        ("opened", "date"),
        ("active", "bool"),
    ]
)


@dataclass
class Consortium:
    """Owners' stores, their catalog entries and a reference DuckDB holding the union."""

    stores: list[LocalStore]
    datasets: list[DatasetInfo]
    reference: duckdb.DuckDBPyConnection

    @property
    def catalog(self) -> StaticCatalog:
        return StaticCatalog(self.datasets)

    @property
    def references(self) -> list[str]:
        return [d.reference for d in self.datasets]

    def run(self, text: str, program: Any = None):
        program = program or StatisticsProgram()
        plan = program.plan(text, self.catalog)
        result, _ = run_program_locally(program, plan, self.stores)
        return result

    def clear(self, sql: str, parameters: Sequence[Any] = ()) -> tuple:
        """Run ``sql`` over the table ``u``, the union of every owner's rows."""
        return self.reference.execute(sql, list(parameters)).fetchone()


def make_consortium(
    tables: Sequence[Mapping[str, Any]],
    schema: Schema = SCHEMA,
    registered_rows: Sequence[int] | None = None,
) -> Consortium:
    """Create one owner per table (columns as lists, ``None`` for NULL)."""
    stores, datasets = [], []
    reference = duckdb.connect()
    for index, columns in enumerate(tables):
        store = LocalStore()
        store.create_table(
            "loans", schema, {name: list(values) for name, values in columns.items()}
        )
        stores.append(store)
        rows = len(next(iter(columns.values())))
        registered = registered_rows[index] if registered_rows else rows
        datasets.append(
            DatasetInfo(
                index + 1,
                f"0x{index + 1:040x}",
                f"bank{index}",
                "loans",
                schema,
                registered,
                b"\0" * 32,
            )
        )
    sql_types = {
        "int64": "BIGINT",
        "float64": "DOUBLE",
        "string": "VARCHAR",
        "date": "DATE",
        "bool": "BOOLEAN",
    }
    definitions = ", ".join(
        f'"{c.name}" {sql_types.get(c.type, c.type.upper())}' for c in schema.columns
    )
    reference.execute(f"CREATE TABLE u ({definitions})")
    for store in stores:
        frame = store.query('SELECT * FROM "loans"')
        reference.register("incoming", frame)
        reference.execute("INSERT INTO u SELECT * FROM incoming")
        reference.unregister("incoming")
    return Consortium(stores, datasets, reference)


def generated_tables(
    rng: np.random.Generator, sizes: Sequence[int], null_every: int = 11
) -> list[dict]:
    """Loans with negative amounts, NULLs, several regions; owner ``i`` has ``sizes[i]`` rows."""
    tables = []
    for size in sizes:
        amount = np.round(rng.normal(2_000, 5_000, size), 2)
        tables.append(
            {
                "amount": [None if i % null_every == 3 else float(a) for i, a in enumerate(amount)],
                "units": [int(v) for v in rng.integers(-50, 200, size)],
                "score": [float(v) for v in rng.normal(0.0, 3.0, size)],
                "region": [str(r) for r in rng.choice(["north", "south", "east", "west"], size)],
                "opened": [
                    (dt.date(2024, 1, 1) + dt.timedelta(days=int(d))).isoformat()
                    for d in rng.integers(0, 366, size)
                ],
                "active": [bool(b) for b in rng.integers(0, 2, size)],
            }
        )
    return tables


@pytest.fixture(scope="module")
def consortium() -> Consortium:
    """Four owners; the last one has no 'west' rows, so a filter on it matches nothing there."""
    rng = np.random.default_rng(20240501)
    tables = generated_tables(rng, [120, 300, 75, 40])
    tables[3]["region"] = ["north" if r == "west" else r for r in tables[3]["region"]]
    return make_consortium(tables)
