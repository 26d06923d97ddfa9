"""Secure statistics over several owners' tables, in process: local DuckDB time vs MPC time.

Each owner holds ``loans(amount decimal(18,2), region varchar)`` with
``--rows`` rows; the jobs run every role with the local runner (three
compute parties as threads, in-process transport). Prints one row per job,
medians of ``--repeat`` runs: the slowest owner's DuckDB pre-aggregation,
the MPC (slowest party, key agreement excluded), rounds and bytes sent by
the busiest party, and the whole job. Usage::

    python benchmarks/stats.py                 # 5 owners x 1,000,000 rows
    python benchmarks/stats.py --rows 100000   # quicker
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.programs.base import DatasetInfo
from offchain.programs.catalog import StaticCatalog
from offchain.programs.local import run_program_locally
from offchain.stats.program import StatisticsProgram, statistics_text

SCHEMA = Schema.of([("amount", "decimal(18,2)"), ("region", "string")])
REGIONS = np.array(["north", "south", "east", "west"], dtype=object)


def owner_store(rng: np.random.Generator, rows: int) -> LocalStore:
    store = LocalStore()
    amount = np.round(rng.lognormal(mean=9.0, sigma=1.2, size=rows), 2)
    store.create_table(
        "loans", SCHEMA, {"amount": amount, "region": REGIONS[rng.integers(0, 4, rows)]}
    )
    return store


JOBS = {
    "mean, variance, histogram (20 bins)": dict(
        statistics=["mean", "var_pop", "stddev_pop", "histogram"],
        histogram_edges=[float(e) for e in np.linspace(0, 200_000, 21)],
    ),
    "count, sum, mean, min, max, filtered": dict(
        statistics=["count", "sum", "mean", "min", "max"],
        filter=[["region", "in", ["north", "east"]]],
    ),
    "median, quartiles (4096-cell grid)": dict(
        statistics=["median", "quantiles"],
        quantiles=[0.25, 0.75],
        quantile_grid={"low": 0, "high": 100_000, "cells": 4096},
    ),
    "all moments + histogram + quantiles": dict(
        statistics=[
            "count",
            "sum",
            "mean",
            "var_pop",
            "var_samp",
            "stddev_samp",
            "min",
            "max",
            "histogram",
            "median",
            "quantiles",
        ],
        histogram_edges=[0, 1_000, 10_000, 100_000, 1e6],
        quantiles=[0.1, 0.9],
        quantile_grid={"low": 0, "high": 100_000, "cells": 4096},
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per job; medians are printed")
    arguments = parser.parse_args()
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    stores = [owner_store(rng, arguments.rows) for _ in range(arguments.owners)]
    datasets = [
        DatasetInfo(
            i + 1, f"0x{i + 1:040x}", f"bank{i}", "loans", SCHEMA, arguments.rows, b"\0" * 32
        )
        for i in range(arguments.owners)
    ]
    catalog = StaticCatalog(datasets)
    print(
        f"secure statistics: {arguments.owners} owners x {arguments.rows:,} rows "
        f"(data generated in {time.perf_counter() - started:.1f} s); {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    print()
    print(
        "| job | DuckDB per owner (s, slowest) | MPC (s) | rounds | MB sent (busiest party) | job total (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    program = StatisticsProgram()
    for name, options in JOBS.items():
        text = statistics_text([d.reference for d in datasets], "amount", bound=1e7, **options)
        plan = program.plan(text, catalog)
        local, mpc, total = [], [], []
        for _ in range(arguments.repeat):
            slowest = 0.0
            for index, store in enumerate(stores):
                began = time.perf_counter()
                program.owner_inputs(plan, index, store)
                slowest = max(slowest, time.perf_counter() - began)
            local.append(slowest)
            began = time.perf_counter()
            result, run = run_program_locally(program, plan, stores)
            total.append(time.perf_counter() - began)
            result.raise_for_status()
            mpc.append(max(s.seconds for s in run.stats))
        rounds = max(s.rounds for s in run.stats)
        sent = max(s.bytes_sent for s in run.stats) / 1e6
        print(
            f"| {name} | {np.median(local):.3f} | {np.median(mpc):.3f} | {rounds} | {sent:.2f} "
            f"| {np.median(total):.2f} |"
        )


if __name__ == "__main__":
    main()
