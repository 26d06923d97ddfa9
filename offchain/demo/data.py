"""Generated data for the demo, the end-to-end tests and the benchmarks.

Two tables per lender, drawn from one seeded generator so every run sees
the same data:

``applications(applicant_id string, applied_on date, amount float64)``
    loan applications over the last ``history_days`` days. Applicants come
    from one shared pool, so some applied at several lenders — what the
    multi-lending check counts.
``loans(loan_id int64, amount float64, rate float64, region string)``
    a loan book: log-normal amounts (money, two decimals), rates, regions.

Files are written as Parquet through DuckDB (fast for millions of rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import duckdb
import numpy as np

REGIONS = np.array(["north", "south", "east", "west", "central"])


def applicant_ids(indexes: np.ndarray) -> np.ndarray:
    """Applicant ids ``A0000042`` for pool indexes (a string array)."""
    return np.char.add("A", np.char.zfill(indexes.astype(str), 7)).astype(object)


def applications(rng: np.random.Generator, rows: int, pool: int, as_of: dt.date,
                 history_days: int = 90) -> dict[str, np.ndarray]:
    """One lender's applications: ``rows`` rows, applicants drawn from ``pool``."""
    first = np.datetime64(as_of) - np.timedelta64(history_days - 1, "D")
    return {
        "applicant_id": applicant_ids(rng.integers(0, pool, rows)),
        "applied_on": first + rng.integers(0, history_days, rows).astype("timedelta64[D]"),
        "amount": np.round(rng.lognormal(9.0, 0.8, rows), 2),
    }


def loan_book(rng: np.random.Generator, rows: int, first_id: int = 1) -> dict[str, np.ndarray]:
    """One lender's loan book of ``rows`` loans."""
    return {
        "loan_id": np.arange(first_id, first_id + rows, dtype=np.int64),
        "amount": np.round(np.minimum(rng.lognormal(10.0, 0.9, rows), 5_000_000.0), 2),
        "rate": np.round(rng.uniform(0.01, 0.15, rows), 4),
        "region": REGIONS[rng.integers(0, len(REGIONS), rows)].astype(object),
    }


def write_parquet(columns: Mapping[str, np.ndarray], path: Path) -> Path:
    """Write ``columns`` as a Parquet file (through an in-memory DuckDB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame, select = {}, []
    for name, values in columns.items():
        values = np.asarray(values)
        if values.dtype == np.dtype("datetime64[D]"):
            # DuckDB reads datetime64 at second resolution or finer; cast back to DATE.
            frame[name] = values.astype("datetime64[s]")
            select.append(f'CAST("{name}" AS DATE) AS "{name}"')
        else:
            frame[name] = values
            select.append(f'"{name}"')
    connection = duckdb.connect()
    try:
        connection.register("frame", frame)
        connection.execute(f"COPY (SELECT {', '.join(select)} FROM frame) TO '{path}' (FORMAT PARQUET)")
    finally:
        connection.close()
    return path


def plaintext(sql: str, **tables: Path) -> list[tuple]:
    """Run ``sql`` over Parquet files in the clear (``tables`` name → file): the answers to compare with."""
    connection = duckdb.connect()
    try:
        for name, path in tables.items():
            connection.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
        return connection.execute(sql).fetchall()
    finally:
        connection.close()
