"""Secure SQL: a join of two members' tables with a filter and a grouped aggregate.

    python benchmarks/sql.py [--rows 1000000] [--groups 8] [--overlap 0.5] [--check]
                             [--transport inprocess|tls]

Two members hold ``rows``-row tables: ``bank_a.customers(id, region)`` and
``bank_b.loans(customer_id, amount)`` (``customer_id`` unique, a share
``overlap`` of them are customers). The query::

    SELECT c.region, COUNT(*), SUM(l.amount)
    FROM bank_a.customers c JOIN bank_b.loans l ON c.id = l.customer_id
    WHERE l.amount > 1000 GROUP BY c.region

runs every role the way a job does (``offchain.programs.local``): each owner
computes its arrays in DuckDB (filter bit, values, keyed join tags, one-hot
groups) and deals shares; three compute parties (threads, in-process
transport) run the MPC; the requester reconstructs. The table shows where
the time goes — owners' local work, dealing, and each MPC phase (the
matcher opening and matching tags, routing rows, aggregation) with the
rounds and bytes sent by the busiest party. Chain overhead is measured by
``benchmarks/e2e.py``. ``--check`` compares with DuckDB on the plain data.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offchain.data.schema import Schema  # noqa: E402
from offchain.data.store import LocalStore  # noqa: E402
from offchain.mpc.opening import export, reconstruct  # noqa: E402
from offchain.mpc.program import PerParty  # noqa: E402
from offchain.mpc.runtime import EngineConfig  # noqa: E402
from offchain.mpc.sharing import receive_input  # noqa: E402
from offchain.net.local import run_local  # noqa: E402
from offchain.programs.base import DatasetInfo  # noqa: E402
from offchain.programs.catalog import ALL_MEMBERS, StaticCatalog  # noqa: E402
from offchain.programs.local import agree_owner_secrets, deal_arrays  # noqa: E402
from offchain.sql.engine import QueryRun  # noqa: E402
from offchain.sql.program import SqlProgram, query_program_text  # noqa: E402
from offchain.vocabulary import ConstraintLevel  # noqa: E402

REQUESTER = "0x" + "9" * 40
QUERY = ("SELECT c.region, COUNT(*), SUM(l.amount) FROM bank_a.customers c "
         "JOIN bank_b.loans l ON c.id = l.customer_id WHERE l.amount > 1000 GROUP BY c.region")


def make_world(rows: int, groups: int, overlap: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    regions = np.array([f"region_{i:02d}" for i in range(groups)], dtype=object)
    customers = Schema.of([("id", "int64"), ("region", "string")])
    loans = Schema.of([("customer_id", "int64"), ("amount", "decimal(12,2)")])
    a, b = LocalStore(), LocalStore()
    start = int(rows * (1 - overlap))
    a.create_table("customers", customers, {
        "id": np.arange(rows, dtype=np.int64),
        "region": regions[rng.integers(0, groups, rows)],
    })
    cents = rng.integers(1_000, 500_000, rows)
    b._cursor().execute("CREATE TABLE loans (customer_id BIGINT, amount DECIMAL(12,2))")
    cursor = b._cursor()
    cursor.register("incoming", {"customer_id": rng.permutation(
        np.arange(start, start + rows, dtype=np.int64)), "cents": cents})
    cursor.execute("INSERT INTO loans SELECT customer_id, CAST(cents AS DECIMAL(12,2)) / 100 "
                   "FROM incoming")
    datasets = [DatasetInfo(1, "0x" + "a1" * 20, "bank_a", "customers", customers, rows, b""),
                DatasetInfo(2, "0x" + "b2" * 20, "bank_b", "loans", loans, rows, b"")]
    levels = {(1, "id", ALL_MEMBERS): ConstraintLevel.PLAINTEXT_AFTER_JOIN,
              (2, "customer_id", ALL_MEMBERS): ConstraintLevel.PLAINTEXT_AFTER_JOIN,
              (1, "region", ALL_MEMBERS): ConstraintLevel.PLAINTEXT_AFTER_GROUP_BY,
              (2, "amount", ALL_MEMBERS): ConstraintLevel.PLAINTEXT}
    return StaticCatalog(datasets, levels), [a, b]


def _compute(runtime, plan, payloads):
    inputs = {(source, name): receive_input(runtime, payload)
              for source, arrays in payloads.items() for name, payload in arrays.items()}
    run = QueryRun(runtime, plan.parameters["compiled"], inputs)
    outputs = run.run()
    return {name: export(share) for name, share in outputs.items()}, run.timings


def measure(rows: int, groups: int, overlap: float, check: bool,
            transport: str = "inprocess") -> list[tuple]:
    catalog, stores = make_world(rows, groups, overlap)
    program = SqlProgram()
    table = []
    started = time.perf_counter()
    plan = program.plan(query_program_text(QUERY, REQUESTER), catalog)
    table.append(("plan (parse, policy, compile)", time.perf_counter() - started, "", ""))
    secrets = agree_owner_secrets(plan)
    per_party: list[dict] = [{}, {}, {}]
    config = EngineConfig()
    for index, store in enumerate(stores):
        started = time.perf_counter()
        arrays = program.owner_inputs(plan, index, store, secrets=secrets[index])
        local = time.perf_counter() - started
        owner = plan.inputs[index].dataset.owner_name
        table.append((f"owner {owner}: DuckDB, tags, one-hot, shuffle", local, "", ""))
        started = time.perf_counter()
        dealt = deal_arrays(arrays, plan.inputs[index].shared, config.fractional_bits)
        size = sum(a.nbytes for a in arrays.values())
        table.append((f"owner {owner}: deal shares", time.perf_counter() - started, "",
                      f"{size / 2**20:.0f} MiB plain"))
        for party in range(3):
            per_party[party][f"input{index}"] = dealt[party]
    started = time.perf_counter()
    if transport == "tls":
        from offchain.net.cluster import run_tls

        run = run_tls(_compute, plan, PerParty(per_party), config=config, timeout=3600)
    else:
        run = run_local(_compute, plan, PerParty(per_party), config=config, timeout=3600)
    mpc = time.perf_counter() - started
    timings = [result[1] for result in run.results]
    for phase in timings[0]:
        seconds = max(t[phase][0] for t in timings)
        rounds = timings[0][phase][1]
        sent = max(t[phase][2] for t in timings)
        table.append((f"MPC: {phase}", seconds, rounds, f"{sent / 2**20:.1f} MiB"))
    label = ("MPC total (3 processes over TLS: start, handshakes and key agreement included)"
             if transport == "tls" else "MPC total (3 parties, key agreement included)")
    table.append((label, mpc,
                  max(s.rounds for s in run.stats), f"{run.max_bytes_sent / 2**20:.1f} MiB"))
    started = time.perf_counter()
    outputs = {name: reconstruct([run.results[p][0][name] for p in range(3)])
               for name in run.results[0][0]}
    result = program.decode(plan, outputs)
    table.append(("requester: reconstruct and decode", time.perf_counter() - started, "", ""))
    if check:
        import duckdb

        reference = duckdb.connect()
        reference.execute("CREATE SCHEMA bank_a; CREATE SCHEMA bank_b")
        for store, name, schema in ((stores[0], "customers", "bank_a"),
                                    (stores[1], "loans", "bank_b")):
            frame = store.query(f'SELECT * FROM "{name}"')
            reference.register("frame", frame)
            reference.execute(f"CREATE TABLE {schema}.{name} AS SELECT * FROM frame")
            reference.unregister("frame")
        want = sorted(reference.execute(
            QUERY + " HAVING COUNT(*) >= 3").fetchall(), key=lambda r: r[0])
        got = sorted(result.rows, key=lambda r: r[0])
        same = len(got) == len(want) and all(
            g[0] == w[0] and g[1] == w[1] and abs(float(g[2]) - float(w[2])) < 0.005
            for g, w in zip(got, want, strict=True))
        table.append((f"check against DuckDB: {'equal' if same else 'DIFFERENT'}", 0.0, "", ""))
        if not same:
            print(got, want, file=sys.stderr)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--transport", choices=("inprocess", "tls"), default="inprocess",
                        help="three threads in one process, or three processes over pinned TLS")
    arguments = parser.parse_args()
    print(f"# secure SQL: {arguments.rows:,} x {arguments.rows:,} rows, "
          f"{arguments.groups} groups, {arguments.overlap:.0%} overlap, {arguments.transport}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, numpy {np.__version__}")
    load_before = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    table = measure(arguments.rows, arguments.groups, arguments.overlap, arguments.check,
                    arguments.transport)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    width = max(len(row[0]) for row in table) + 2
    print(f"| {'step':<{width}} | {'seconds':>8} | {'rounds':>6} | {'sent (busiest party)':>20} |")
    print(f"|{'-' * (width + 2)}|{'-' * 10}|{'-' * 8}|{'-' * 22}|")
    for step, seconds, rounds, sent in table:
        print(f"| {step:<{width}} | {seconds:8.2f} | {rounds!s:>6} | {sent:>20} |")
    print(f"| {'total (data generation excluded)':<{width}} | {total:8.2f} | {'':>6} | {'':>20} |")
    print(f"# CPU seconds (all threads): {cpu:.1f}; 1-minute load average {load_before:.1f} -> "
          f"{os.getloadavg()[0]:.1f} (the machine is shared)")


if __name__ == "__main__":
    main()
