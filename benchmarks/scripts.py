"""Secure scripts and secure publishing, in process: compile, MPC, sandboxed evaluation.

Scripts: three members hold ``customers(customer_id, income, debt, late)``
with ``--rows`` rows each, in different orders; each script runs every
role with the local runner (three compute parties as threads, in-process
transport). Prints, per script, medians of ``--repeat`` runs: compile time,
the MPC (slowest party, key agreement excluded), rounds and bytes sent by
the busiest party, and the rounds the compiler estimated before running.

Publishing: the claim-settlement rules (decision table and rule script)
evaluated at the hospital's node for ``--claims`` claims: the whole
``evaluate_at_owner`` (DuckDB selection, sandbox process start,
evaluation, validation) per claim. Usage::

    python benchmarks/scripts.py                 # 3 members x 100,000 rows
    python benchmarks/scripts.py --rows 10000    # quicker
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.programs.base import DatasetInfo
from offchain.programs.catalog import StaticCatalog
from offchain.programs.local import run_program_locally
from offchain.publish.program import PublishProgram
from offchain.publish.samples import RECORDS_SCHEMA, claim_program_text, claims, hospital_records
from offchain.publish.subjects import SubjectKey, consent_reference
from offchain.script.program import ScriptProgram, script_text

SCHEMA = Schema.of([("customer_id", "string"), ("income", "float64"), ("debt", "float64"),
                    ("late", "int64")])


def bounds(bank: int, column: str, high: float) -> dict:
    return {"dataset": f"bank{bank}.customers", "column": column, "min": 0, "max": high}


INPUTS = {
    "income_a": bounds(0, "income", 100_000), "income_c": bounds(2, "income", 100_000),
    "debt_a": bounds(0, "debt", 100_000), "debt_b": bounds(1, "debt", 100_000),
    "late_b": bounds(1, "late", 10),
}
SCRIPTS = {
    "joint risk score (3 members, aligned rows)": (
        "ratio = (debt_a + debt_b) / maximum(income_a + income_c, 100.0)\n"
        "score = sigmoid(2.0 * ratio + 0.5 * late_b - 3.0)\n"
        "high_risk = count(score > 0.7)\n"
        "mean_score = mean(score)\n",
        [("high_risk", "integer"), ("mean_score", "fixed")],
    ),
    "per-member aggregates (no row combination)": (
        "exposure = mean(debt_a) + mean(debt_b)\n"
        "late_rate = mean(late_b / 10)\n"
        "top_income = max(income_a)\n",
        [("exposure", "fixed"), ("late_rate", "fixed"), ("top_income", "fixed")],
    ),
}


def members(rng: np.random.Generator, rows: int) -> tuple[list[LocalStore], StaticCatalog]:
    ids = np.array([f"C{i:07d}" for i in range(rows)], dtype=object)
    stores, datasets = [], []
    for index in range(3):
        order = rng.permutation(rows)
        store = LocalStore()
        store.create_table("customers", SCHEMA, {
            "customer_id": ids[order], "income": np.round(rng.uniform(500, 9_000, rows), 2),
            "debt": np.round(rng.uniform(0, 50_000, rows), 2), "late": rng.integers(0, 6, rows),
        })
        stores.append(store)
        datasets.append(DatasetInfo(index + 1, f"0x{index + 1:040x}", f"bank{index}",
                                    "customers", SCHEMA, rows, b"\0" * 32))
    return stores, StaticCatalog(datasets)


def script_rows(rows: int, repeat: int) -> list[tuple]:
    stores, catalog = members(np.random.default_rng(1), rows)
    align = {f"bank{i}.customers": "customer_id" for i in range(3)}
    table = []
    for label, (source, outputs) in SCRIPTS.items():
        used = {name: binding for name, binding in INPUTS.items() if name in source}
        datasets = {binding["dataset"] for binding in used.values()}
        text = script_text(source, used, [{"name": n, "type": t} for n, t in outputs],
                           align_by={k: v for k, v in align.items() if k in datasets})
        program = ScriptProgram()
        compile_seconds, mpc_seconds, job_seconds = [], [], []
        for _ in range(repeat):
            started = time.perf_counter()
            plan = program.plan(text, catalog)
            compile_seconds.append(time.perf_counter() - started)
            by_reference = {f"bank{i}.customers": stores[i] for i in range(3)}
            chosen = [by_reference[item.dataset.reference] for item in plan.inputs]
            started = time.perf_counter()
            _, run = run_program_locally(program, plan, chosen)
            job_seconds.append(time.perf_counter() - started)
            mpc_seconds.append(run.max_seconds)
        estimated, _ = plan.parameters["compiled"].circuit.cost()
        table.append((label, len(plan.parameters["compiled"].circuit.ops),
                      statistics.median(compile_seconds), statistics.median(mpc_seconds),
                      max(s.rounds for s in run.stats), estimated,
                      run.max_bytes_sent / 1e6, statistics.median(job_seconds)))
    return table


def publish_rows(count: int) -> list[tuple]:
    rng = np.random.default_rng(2)
    records = hospital_records(rng, patients=2_000)
    store = LocalStore()
    store.create_table("records", RECORDS_SCHEMA, records)
    dataset = DatasetInfo(1, "0x" + "11" * 20, "hospital", "records", RECORDS_SCHEMA,
                          len(records["patient_id"]), b"\0" * 32)
    catalog, key, program = StaticCatalog([dataset]), SubjectKey.generate(), PublishProgram()
    table = []
    for form in ("decision_table", "script"):
        plan = program.plan(claim_program_text("hospital.records", form), catalog)
        seconds, steps = [], []
        for claim in claims(rng, records, count):
            _, salt = key.subject(1, "insurance-claim-settlement", claim.patient_id)
            run = program.run_request(plan, {"subject_id": claim.patient_id,
                                             "consent_reference": consent_reference(salt),
                                             "arguments": claim.arguments()})
            started = time.perf_counter()
            evaluation = program.evaluate_at_owner(plan, store, run)
            seconds.append(time.perf_counter() - started)
            steps.append(evaluation.usage["steps"])
        table.append((form, count, statistics.median(seconds) * 1e3,
                      sorted(seconds)[int(0.9 * len(seconds))] * 1e3, statistics.median(steps)))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per member")
    parser.add_argument("--repeat", type=int, default=3, help="runs per script (median)")
    parser.add_argument("--claims", type=int, default=50, help="claims evaluated per rules form")
    options = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}; {options.rows} rows per member, median of "
          f"{options.repeat}")
    print("| script | ops | compile s | MPC s | rounds | estimated | MB sent | job s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in script_rows(options.rows, options.repeat):
        print("| {} | {} | {:.3f} | {:.2f} | {} | {} | {:.1f} | {:.2f} |".format(*row))
    print()
    print("| rules | claims | median ms per claim | 90th percentile ms | median steps |")
    print("|---|---:|---:|---:|---:|")
    for row in publish_rows(options.claims):
        print("| {} | {} | {:.1f} | {:.1f} | {:.0f} |".format(*row))


if __name__ == "__main__":
    main()
