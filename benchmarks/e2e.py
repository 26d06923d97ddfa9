"""End-to-end figures: governed jobs through anvil and five member node processes over TLS.

    .venv/bin/python benchmarks/e2e.py                 # 5 lenders x 1M rows, 0 and 20 ms RTT
    .venv/bin/python benchmarks/e2e.py --rows 100000 --delays 0

For each network setting (``--delays``: one-way delay in ms added by the
net layer to every frame of the MPC links, so 10 means 20 ms round trips;
the machine has no netem), one consortium is started (anvil, contracts, 5
nodes as processes) and loaded with 5 x ``--rows`` applications and loans,
then these jobs run as Aurora Bank, each a few times (median reported):

* a trivial job — ``count`` over one 10-row dataset — timed phase by phase
  from request to confirmed result: plan and quote, request transaction,
  every participant accepted, every input committed, every result
  committed (MPC inside), fetch and verify, finalize;
* secure statistics over the 5 loan books (count, mean, variance, histogram);
* the multi-lending check for one applicant over the 4 other lenders;
* the multi-lending check for batches (throughput in applicants per second).

Phases are measured by the requester polling the chain every 20 ms; the MPC
time is what the compute nodes log for the session. The machine is shared
and noisy: read ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from offchain.client.datasets import register_dataset  # noqa: E402
from offchain.client.grants import set_policy  # noqa: E402
from offchain.client.requester import JobProgress, _chain_now  # noqa: E402
from offchain.demo.consortium import LocalConsortium, MemberSpec  # noqa: E402
from offchain.demo.data import write_parquet  # noqa: E402
from offchain.demo.scenario import offer_data  # noqa: E402
from offchain.lending.program import multi_lending_text  # noqa: E402
from offchain.stats.program import statistics_text  # noqa: E402
from offchain.vocabulary import ConstraintLevel, JobKind  # noqa: E402

REQUESTER = "Aurora Bank"
#: Five lenders, as the figures in benchmarks/RESULTS.md were measured with.
LENDERS = (
    MemberSpec("Aurora Bank", 1, compute_price=10),
    MemberSpec("Borealis Credit", 2, compute_price=8),
    MemberSpec("Cobalt Finance", 3, compute_price=12),
    MemberSpec("Delta Lending", 4, compute_price=9),
    MemberSpec("Ember Savings", 5, compute_price=11),
)
PHASES = ("plan", "request", "accepted", "inputs", "results", "fetch", "finalize")


class Timeline:
    """First time each phase was seen, from the requester's progress polls."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def __call__(self, progress: JobProgress) -> None:
        now = time.perf_counter()
        if progress.accepted == progress.roles:
            self.seen.setdefault("accepted", now)
        if progress.inputs_committed == progress.inputs:
            self.seen.setdefault("inputs", now)
        if progress.results_committed == 3:
            self.seen.setdefault("results", now)


def run_timed(consortium: LocalConsortium, text: str, private: dict | None = None) -> dict[str, float]:
    """Run one job; return seconds per phase and the total."""
    requester = consortium.requester(REQUESTER)
    requester.poll_seconds = 0.02
    timeline = Timeline()
    started = time.perf_counter()
    outcome = requester.run(text, private, progress=timeline)
    timings = outcome.timings
    # outcome.timings: plan, request, deal, compute (request mined -> committed), fetch, finalize
    compute_start = started + timings["plan"] + timings["request"] + timings["deal"]
    phases = {"plan": timings["plan"], "request": timings["request"] + timings["deal"]}
    last = compute_start
    for phase in ("accepted", "inputs", "results"):
        at = timeline.seen.get(phase, last)
        phases[phase] = max(0.0, at - last)
        last = max(last, at)
    phases["results"] += max(0.0, compute_start + timings["compute"] - last)
    phases["fetch"] = timings["fetch"]
    phases["finalize"] = timings.get("finalize", 0.0)
    phases["total"] = sum(timings.values())
    phases["mpc"] = mpc_seconds(consortium, outcome.job_id)
    phases["job_id"] = outcome.job_id
    phases["result"] = outcome.result
    return phases


def mpc_seconds(consortium: LocalConsortium, job_id: int) -> float:
    """The slowest compute node's MPC session time for ``job_id``, from the node logs."""
    pattern = re.compile(rf"job {job_id}: MPC done as party \d in ([0-9.]+) s")
    found = []
    for name in consortium.members:
        log = consortium.node_config(name).log_file
        if log.exists():
            found += [float(m.group(1)) for m in pattern.finditer(log.read_text())]
    return max(found) if found else float("nan")


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def add_tiny_dataset(consortium: LocalConsortium, directory: Path) -> None:
    owner = "Borealis Credit"
    rng = np.random.default_rng(5)
    path = write_parquet({"amount": np.round(rng.uniform(1, 100, 10), 2)}, directory / "tiny.parquet")
    config = consortium.node_config(owner)
    client = consortium.client(owner)
    register_dataset(client, config.duckdb_path, config.state_database, "tiny", source=path)
    set_policy(client, f"{owner}.tiny", "all", levels={"amount": ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE},
               expiry=_chain_now(client) + 86_400, kinds=(JobKind.STATISTICS,))


def bench_setting(directory: Path, rows: int, delay_ms: float, repeats: int, batches: list[int]) -> list[tuple]:
    members = list(LENDERS)
    table = []
    with LocalConsortium(directory / f"consortium-{delay_ms:g}ms", members, network_delay_ms=delay_ms,
                         max_concurrent_jobs=2, session_timeout=600.0) as consortium:
        started = time.perf_counter()
        consortium.start()
        as_of = dt.date.today()
        offer_data(consortium, directory / "data", np.random.default_rng(2026), rows, max(rows * 3, 1000), as_of,
                   report=lambda line: print(f"  {line}", flush=True))
        add_tiny_dataset(consortium, directory)
        consortium.start_nodes()
        print(f"  consortium ready in {time.perf_counter() - started:.0f} s", flush=True)
        rtt = f"{2 * delay_ms:g} ms RTT"

        trivial = [run_timed(consortium, statistics_text(["Borealis Credit.tiny"], "amount", ["count"]))
                   for _ in range(repeats + 2)][2:]  # two warm-up runs
        breakdown = ", ".join(f"{phase} {median_of(trivial, phase):.2f}" for phase in PHASES)
        table.append((rtt, "trivial job (count, 10 rows), request to finalized", f"{median_of(trivial, 'total'):.2f} s",
                      f"{breakdown}; MPC {median_of(trivial, 'mpc'):.3f}"))

        text = statistics_text([f"{m.name}.loans" for m in members], "amount", ["count", "mean", "var_pop", "histogram"],
                               histogram_edges=[0, 10_000, 25_000, 50_000, 100_000, 5_000_000])
        runs = [run_timed(consortium, text) for _ in range(repeats)]
        table.append((rtt, f"statistics over {len(members)} x {rows:,} rows (count, mean, variance, histogram)",
                      f"{median_of(runs, 'total'):.2f} s",
                      ", ".join(f"{p} {median_of(runs, p):.2f}" for p in PHASES) + f"; MPC {median_of(runs, 'mpc'):.3f}"))

        lenders = [f"{m.name}.applications" for m in members if m.name != REQUESTER]
        applicant = "A0000042"
        text = multi_lending_text(REQUESTER, lenders, as_of=as_of, window_days=30, batch_size=1, applicants=[applicant])
        runs = [run_timed(consortium, text, {"applicants": [applicant]}) for _ in range(repeats)]
        table.append((rtt, f"multi-lending, 1 applicant, {len(lenders)} lenders x {rows:,}", f"{median_of(runs, 'total'):.2f} s",
                      ", ".join(f"{p} {median_of(runs, p):.2f}" for p in PHASES) + f"; MPC {median_of(runs, 'mpc'):.2f}"))

        for batch in batches:
            applicants = [f"A{i:07d}" for i in range(0, batch * 7, 7)]
            text = multi_lending_text(REQUESTER, lenders, as_of=as_of, window_days=30, batch_size=batch,
                                      applicants=applicants)
            run = run_timed(consortium, text, {"applicants": applicants})
            table.append((rtt, f"multi-lending, batch of {batch:,}, {len(lenders)} lenders x {rows:,}",
                          f"{batch / run['total']:.0f} applicants/s",
                          f"{run['total']:.2f} s end to end; MPC {run['mpc']:.2f} s; "
                          + ", ".join(f"{p} {run[p]:.2f}" for p in PHASES)))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per table per lender")
    parser.add_argument("--delays", default="0,10", help="one-way delays in ms, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", default="1000,10000")
    parser.add_argument("--dir", help="working directory (default: a temporary one)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="unseen-e2e-") as temporary:
        directory = Path(args.dir or temporary)
        for delay in (float(d) for d in args.delays.split(",")):
            print(f"== one-way delay {delay:g} ms", flush=True)
            rows += bench_setting(directory, args.rows, delay, args.repeats,
                                  [int(b) for b in args.batches.split(",") if b])
    print()
    print("| network | job | figure | breakdown (s) |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
