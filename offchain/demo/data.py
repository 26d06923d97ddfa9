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


# -- secure model: a lender's customers and a shop's behaviour -----------------------------------


def credit_population(rng: np.random.Generator, customers: int, applicants: int) -> dict[str, dict[str, np.ndarray]]:
    """A lender's repayment history and a shop's purchase behaviour of partly the same people.

    Returns three tables and the truth:

    * ``customers`` (the lender): ``customer_id, income, debt, defaulted`` for
      ``customers`` past borrowers (about 90 % of them also shop);
    * ``applicants`` (the lender): ``customer_id, income, debt`` for
      ``applicants`` new loan applicants, whose outcome is not known yet;
    * ``behaviour`` (the shop): ``customer_id, orders, returns, late_payments``
      for its clients, among them most borrowers and applicants;
    * ``outcomes``: ``customer_id, defaulted`` of the applicants (what will
      happen; only the demo knows it, to judge the scores).

    Default risk rises with debt relative to income and with late payments at
    the shop, and falls with regular orders, so neither member's columns alone
    predict it as well as both together.
    """
    total = customers + applicants
    ids = np.array([f"C{i:06d}" for i in range(total)], dtype=object)
    income = np.round(rng.lognormal(10.6, 0.35, total) / 1000, 2)  # thousands a year
    debt = np.round(rng.gamma(2.0, 9.0, total), 2)  # thousands owed
    orders = rng.poisson(8, total).astype(np.int64)
    returns = rng.binomial(orders, 0.12).astype(np.int64)
    late = rng.poisson(0.6, total).astype(np.int64)
    logit = -1.4 + 0.05 * (debt - 18) - 0.03 * (income - 42) + 0.7 * (late - 0.6) - 0.08 * (orders - 8)
    defaulted = (rng.random(total) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    shops = rng.random(total) < 0.9
    past, new = np.arange(customers), np.arange(customers, total)
    return {
        "customers": {"customer_id": ids[past], "income": income[past], "debt": debt[past],
                      "defaulted": defaulted[past]},
        "applicants": {"customer_id": ids[new], "income": income[new], "debt": debt[new]},
        "behaviour": {"customer_id": ids[shops], "orders": orders[shops], "returns": returns[shops],
                      "late_payments": late[shops]},
        "outcomes": {"customer_id": ids[new], "defaulted": defaulted[new]},
    }


# -- secure script: three members' columns about the same customers -------------------------------


def shared_customers(rng: np.random.Generator, count: int) -> dict[str, dict[str, np.ndarray]]:
    """Three members' ``accounts`` tables about the same ``count`` customers, each in its own row order.

    ``first`` and ``second`` are lenders (``debt``; the second also counts
    ``late`` payments), ``third`` an insurer that knows each customer's
    ``income``; all in thousands.
    """
    ids = np.array([f"K{i:06d}" for i in range(count)], dtype=object)
    columns = {
        "first": {"customer_id": ids, "debt": np.round(rng.gamma(2.0, 8.0, count), 2)},
        "second": {"customer_id": ids, "debt": np.round(rng.gamma(1.5, 6.0, count), 2),
                   "late": rng.poisson(0.8, count).astype(np.int64)},
        "third": {"customer_id": ids, "income": np.round(rng.lognormal(3.7, 0.4, count), 2)},
    }
    shuffled = {}
    for name, table in columns.items():
        order = rng.permutation(count)
        shuffled[name] = {column: values[order] for column, values in table.items()}
    return shuffled
