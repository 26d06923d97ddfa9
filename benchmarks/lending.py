"""Multi-lending check over several lenders' applications, in process: one applicant and batches.

Each lender holds ``applications(applicant_id varchar, applied_on date,
amount decimal(18,2))`` with ``--rows`` rows: applicants drawn from a
population of ``3 * rows``, dates over one year, a 30-day window. Every
role runs with the local runner (three compute parties as threads). Prints
per batch size, medians of ``--repeat`` runs: the layout, equality tests, the slowest lender's local
work (DuckDB window query, keys, layout), the MPC (slowest party), rounds,
bytes sent by the busiest party, the whole job and applicants per second.
Usage::

    python benchmarks/lending.py                       # 5 lenders x 1,000,000 rows
    python benchmarks/lending.py --rows 100000 --batches 1 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import time

import numpy as np

from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.lending.program import MultiLendingProgram, multi_lending_text
from offchain.programs.base import DatasetInfo
from offchain.programs.catalog import StaticCatalog
from offchain.programs.local import run_program_locally

SCHEMA = Schema.of(
    [("applicant_id", "string"), ("applied_on", "date"), ("amount", "decimal(18,2)")]
)
AS_OF = dt.date(2024, 12, 31)


def lender_store(seed: int, rows: int) -> LocalStore:
    store = LocalStore()
    # generated inside DuckDB: a million Python strings would dominate the set-up
    store.query(
        "CREATE TABLE applications AS SELECT 'APP' || lpad(CAST(hash(i, ?) % ? AS VARCHAR), 9, '0') AS applicant_id, "
        "DATE '2024-01-01' + CAST(hash(i, ? + 1) % 366 AS INTEGER) AS applied_on, "
        "CAST(1000 + hash(i, ? + 2) % 100000 AS DECIMAL(18,2)) AS amount FROM range(?) t(i)",
        [seed, 3 * rows, seed, seed, rows],
    )
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lenders", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 100, 1000, 10000])
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="runs per batch; medians are printed")
    arguments = parser.parse_args()
    started = time.perf_counter()
    stores = [lender_store(index * 7919 + 1, arguments.rows) for index in range(arguments.lenders)]
    datasets = [
        DatasetInfo(
            i + 1,
            f"0x{i + 1:040x}",
            f"lender{i}",
            "applications",
            SCHEMA,
            arguments.rows,
            b"\0" * 32,
        )
        for i in range(arguments.lenders)
    ]
    catalog = StaticCatalog(datasets)
    print(
        f"multi-lending check: {arguments.lenders} lenders x {arguments.rows:,} applications, "
        f"{arguments.window}-day window (data generated in {time.perf_counter() - started:.1f} s); "
        f"{platform.machine()}, Python {platform.python_version()}"
    )
    print()
    print(
        "| applicants | layout | equality tests | lender local (s, slowest) | MPC (s) | rounds "
        "| MB sent (busiest party) | job total (s) | applicants/s |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(3)
    program = MultiLendingProgram()
    for batch in arguments.batches:
        applicants = [
            f"APP{int(v):09d}" for v in rng.choice(3 * arguments.rows, batch, replace=False)
        ]
        text = multi_lending_text(
            "asker",
            [d.reference for d in datasets],
            as_of=AS_OF,
            window_days=arguments.window,
            batch_size=batch,
            applicants=applicants,
        )
        plan = program.plan(text, catalog)
        spec = plan.parameters["spec"]
        local, mpc, total = [], [], []
        for _ in range(arguments.repeat):
            slowest = 0.0
            for index, store in enumerate(stores):
                began = time.perf_counter()
                program.owner_inputs(plan, index, store)
                slowest = max(slowest, time.perf_counter() - began)
            local.append(slowest)
            began = time.perf_counter()
            result, run = run_program_locally(
                program, plan, stores, private={"applicants": applicants}
            )
            total.append(time.perf_counter() - began)
            result.counts_for(applicants)
            mpc.append(max(s.seconds for s in run.stats))
        job = float(np.median(total))
        print(
            f"| {batch:,} | {spec.mode} ({spec.slots:,} slots) | {spec.comparisons:,} | {np.median(local):.2f} "
            f"| {np.median(mpc):.2f} | {max(s.rounds for s in run.stats)} "
            f"| {max(s.bytes_sent for s in run.stats) / 1e6:.0f} | {job:.2f} | {batch / job:,.1f} |"
        )


if __name__ == "__main__":
    main()
