"""Lenders' application tables for multi-lending tests, and DuckDB over their union as the reference."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pytest

from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.lending.program import MultiLendingProgram, multi_lending_text
from offchain.programs.base import DatasetInfo
from offchain.programs.catalog import StaticCatalog
from offchain.programs.local import run_program_locally

AS_OF = dt.date(2024, 6, 30)
WINDOW = 30


def schema_for(id_type: str = "string", date_type: str = "date") -> Schema:
    return Schema.of(
        [("applicant_id", id_type), ("applied_on", date_type), ("amount", "decimal(18,2)")]
    )


@dataclass
class Lenders:
    stores: list[LocalStore]
    datasets: list[DatasetInfo]
    reference: duckdb.DuckDBPyConnection
    id_type: str = "string"

    @property
    def catalog(self) -> StaticCatalog:
        return StaticCatalog(self.datasets)

    @property
    def references(self) -> list[str]:
        return [d.reference for d in self.datasets]

    def text(self, applicants, batch_size: int | None = None, **options) -> str:
        return multi_lending_text(
            "asker",
            self.references,
            as_of=options.pop("as_of", AS_OF),
            window_days=options.pop("window_days", WINDOW),
            batch_size=batch_size or len(set(applicants)),
            applicants=applicants,
            id_type=self.id_type,
            **options,
        )

    def ask(self, applicants, batch_size: int | None = None, **options):
        program = MultiLendingProgram()
        plan = program.plan(self.text(applicants, batch_size, **options), self.catalog)
        result, run = run_program_locally(
            program, plan, self.stores, private={"applicants": list(applicants)}
        )
        return result.counts_for(applicants), plan, run

    def truth(self, applicant, as_of: dt.date = AS_OF, window_days: int = WINDOW) -> int:
        first = as_of - dt.timedelta(days=window_days - 1)
        (count,) = self.reference.execute(
            "SELECT count(DISTINCT lender) FROM u WHERE applicant_id = ? "
            "AND CAST(applied_on AS DATE) BETWEEN ? AND ?",
            [applicant, first, as_of],
        ).fetchone()
        return count


def make_lenders(
    tables: Sequence[dict],
    id_type: str = "string",
    registered: Sequence[int] | None = None,
    date_types: Sequence[str] | None = None,
) -> Lenders:
    stores, datasets = [], []
    reference = duckdb.connect()
    sql_id = "VARCHAR" if id_type == "string" else "BIGINT"
    reference.execute(
        f"CREATE TABLE u (lender INTEGER, applicant_id {sql_id}, applied_on TIMESTAMP)"
    )
    for index, columns in enumerate(tables):
        schema = schema_for(id_type, date_types[index] if date_types else "date")
        store = LocalStore()
        store.create_table("applications", schema, columns)
        rows = len(columns["applicant_id"])
        stores.append(store)
        datasets.append(
            DatasetInfo(
                index + 1,
                f"0x{index + 1:040x}",
                f"lender{index}",
                "applications",
                schema,
                registered[index] if registered else rows,
                b"\0" * 32,
            )
        )
        reference.executemany(
            "INSERT INTO u VALUES (?, ?, CAST(? AS TIMESTAMP))",
            [
                [index, a, d]
                for a, d in zip(columns["applicant_id"], columns["applied_on"], strict=True)
            ],
        )
    return Lenders(stores, datasets, reference, id_type)


def application_tables(
    rng: np.random.Generator, sizes: Sequence[int], population: int = 400
) -> list[dict]:
    """Applications over ~90 days around the window; ids repeat within and across lenders; some NULL ids."""
    tables = []
    for size in sizes:
        ids = [f"A{int(v):05d}" for v in rng.integers(0, population, size)]
        ids = [None if i % 37 == 5 else a for i, a in enumerate(ids)]
        days = [(AS_OF - dt.timedelta(days=int(d))).isoformat() for d in rng.integers(-5, 85, size)]
        tables.append({"applicant_id": ids, "applied_on": days, "amount": [1000.0] * size})
    return tables


@pytest.fixture(scope="module")
def lenders() -> Lenders:
    rng = np.random.default_rng(42)
    tables = application_tables(rng, [200, 150, 260, 90, 120])
    # a lender with nothing in the window at all
    tables[3]["applied_on"] = [(AS_OF - dt.timedelta(days=200)).isoformat()] * 90
    return make_lenders(tables)
