"""``unseen demo``: a consortium of lenders, a shop, a hospital and an insurer, governed on chain.

1. start anvil, deploy the contracts, admit the members and a regulator; give
   each member a TLS identity and a node file, register its node;
2. generate each lender's ``applications`` and ``loans``, import them into
   its node's DuckDB, register them on chain with their fingerprints, and
   grant every member ``applications(applicant_id, applied_on)`` for
   comparisons (QUERY jobs) and ``loans.amount`` for aggregates filtered on
   ``region`` (STATISTICS);
3. start every member's node as its own process (pinned mutual TLS on loopback);
4. run, through the chain, each capability's flagship scenario: secure
   statistics over the loan books and the multi-lending check (one applicant,
   then a batch) as Aurora Bank; a job asking for a column above its level
   (refused before any fee); then (:mod:`offchain.demo.capabilities`) a
   secure SQL join, a credit-risk model trained by a lender and a shop and
   applied to new applicants, claims settled by an insurer's rules at a
   hospital, a joint risk script over three members' columns, and at the
   end the regulator's audit of the whole chain;
5. print each result next to the answer computed in the clear, the fees paid
   and each job's audit trail, and check that they agree: the demo exits
   with status 1 if any secure answer differs from the plaintext one or the
   audit finds anything.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape

from offchain.client.datasets import register_dataset
from offchain.client.grants import set_policy
from offchain.client.requester import JobOutcome, Requester, _chain_now
from offchain.client.trail import job_summary
from offchain.demo.consortium import LocalConsortium, MemberSpec, directory_name
from offchain.demo.data import applications, loan_book, plaintext, write_parquet
from offchain.errors import PolicyViolation
from offchain.lending.program import multi_lending_text
from offchain.stats.program import statistics_text
from offchain.vocabulary import ConstraintLevel, JobKind

LENDERS = (
    MemberSpec("Aurora Bank", 1, compute_price=10),
    MemberSpec("Borealis Credit", 2, compute_price=8),
    MemberSpec("Cobalt Finance", 3, compute_price=12),
    MemberSpec("Delta Lending", 4, compute_price=9),
)
SHOP = MemberSpec("Orbit Market", 5, compute_price=11)
HOSPITAL = MemberSpec("St. Clare Hospital", 6, compute_price=12)
INSURER = MemberSpec("Eastern Mutual Insurance", 7, compute_price=11)
MEMBERS = (*LENDERS, SHOP, HOSPITAL, INSURER)
REQUESTER = "Aurora Bank"
WINDOW_DAYS = 30
HISTOGRAM_EDGES = [0, 10_000, 25_000, 50_000, 100_000, 5_000_000]


def offer_data(consortium: LocalConsortium, directory: Path, rng: np.random.Generator, rows: int, pool: int,
               as_of: dt.date, report: Callable[[str], None] = lambda line: None,
               members: Sequence[str] | None = None) -> dict[str, dict[str, Path]]:
    """Generate, import, register and grant every member's ``applications`` and ``loans``.

    Returns the Parquet file of each table, by member, for plaintext answers.
    """
    files: dict[str, dict[str, Path]] = {}
    for name in members or list(consortium.members):
        home = directory / directory_name(name)
        files[name] = {
            "applications": write_parquet(applications(rng, rows, pool, as_of), home / "applications.parquet"),
            "loans": write_parquet(loan_book(rng, rows), home / "loans.parquet"),
        }
    for name, tables in files.items():
        client = consortium.client(name)
        config = consortium.node_config(name)
        for table, price in (("applications", 20), ("loans", 50)):
            done = register_dataset(client, config.duckdb_path, config.state_database, table,
                                    source=tables[table], price_per_job=price)
            report(f"{name}.{table}: dataset {done.dataset_id}, {done.row_count:,} rows, "
                   f"fingerprint 0x{done.fingerprint.hex()[:12]}… ({done.seconds:.1f} s)")
        expiry = _chain_now(client) + 30 * 86_400
        set_policy(client, f"{name}.applications", "all",
                   levels={"applicant_id": ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
                           "applied_on": ConstraintLevel.PLAINTEXT_AFTER_COMPARE},
                   expiry=expiry, kinds=(JobKind.QUERY,))
        set_policy(client, f"{name}.loans", "all",
                   levels={"amount": ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE,
                           "region": ConstraintLevel.PLAINTEXT_AFTER_COMPARE},
                   expiry=expiry, kinds=(JobKind.STATISTICS,))
    return files


class Demo:
    """The demo's state and its helpers: the consortium, the generated files, the checks made so far."""

    def __init__(self, console: Console, directory: Path, rows: int, pool: int, *, batch: int = 200,
                 seed: int = 2026) -> None:
        self.console = console
        self.directory = directory
        self.rows = rows
        self.pool = pool
        self.batch = batch
        self.rng = np.random.default_rng(seed)
        self.as_of = dt.date.today()
        self.files: dict[str, dict[str, Path]] = {}
        self.checks: list[tuple[str, bool]] = []
        self.consortium = LocalConsortium(directory / "consortium", MEMBERS)
        self._steps = 0

    # -- output -----------------------------------------------------------------------------------

    def step(self, text: str) -> None:
        self._steps += 1
        self.console.rule(f"[bold]{self._steps}. {text}")

    def say(self, text: str) -> None:
        """Print a line (rich markup; escape anything that came from data)."""
        self.console.print(text)

    def print(self, renderable: Any) -> None:
        self.console.print(renderable)

    @staticmethod
    def table(title: str, columns: list[str]) -> Any:
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        return table

    def check(self, name: str, agrees: bool) -> None:
        """Record whether a secure answer agrees with the plaintext one (the demo fails if not)."""
        self.checks.append((name, bool(agrees)))
        if not agrees:
            self.say(f"[bold red]{name}: the secure answer differs from the plaintext one[/]")

    # -- set-up ------------------------------------------------------------------------------

    def set_up(self) -> None:
        self.step("chain, contracts, members, nodes' identities")
        started = time.perf_counter()
        self.consortium.start()
        self.say(f"anvil at {self.consortium.anvil.url}; contracts deployed; {len(MEMBERS)} members admitted "
                 f"({', '.join(spec.name for spec in MEMBERS)}) with a regulator; each node's TLS fingerprint "
                 f"registered ({time.perf_counter() - started:.1f} s)")

        self.step("each lender's data: generated, imported into its DuckDB, registered, governed")
        self.files = offer_data(self.consortium, self.directory / "data", self.rng, self.rows, self.pool,
                                self.as_of, report=lambda line: self.say(escape(line)),
                                members=[spec.name for spec in LENDERS])
        self.say("grants to all members for 30 days: applications (applicant_id, applied_on: compare; QUERY), "
                 "loans (amount: aggregate, region: compare; STATISTICS); loans.rate stays ENCRYPTED_ONLY")

        self.step(f"{len(MEMBERS)} member nodes, each its own process, pinned mutual TLS on loopback")
        started = time.perf_counter()
        self.consortium.start_nodes()
        for spec in MEMBERS:
            config = self.consortium.node_config(spec.name)
            self.say(f"{escape(spec.name)}: node on {config.listen} (pid {self.consortium.nodes[spec.name].process.pid})")
        self.say(f"ready in {time.perf_counter() - started:.1f} s")

    # -- scenarios ------------------------------------------------------------------------------

    def statistics(self) -> None:
        self.step(f"secure statistics over the {len(LENDERS)} lenders' loan books, as {REQUESTER}")
        datasets = [f"{spec.name}.loans" for spec in LENDERS]
        text = statistics_text(datasets, "amount", ["count", "mean", "stddev_pop", "min", "max", "histogram", "median"],
                               filter=[["region", "=", "north"]], histogram_edges=HISTOGRAM_EDGES,
                               quantile_grid={"low": 0, "high": 500_000, "cells": 5_000})
        outcome = self.run_job(self.consortium.requester(REQUESTER), text)
        result = outcome.result
        files = {f"l{i}": self.files[spec.name]["loans"] for i, spec in enumerate(LENDERS)}
        union = " UNION ALL ".join(f"SELECT amount, region FROM l{i}" for i in range(len(LENDERS)))
        (count, mean, stddev, low, high, median), = plaintext(
            f"SELECT count(amount), avg(amount), stddev_pop(amount), min(amount), max(amount), "
            f"quantile_disc(amount, 0.5) FROM ({union}) WHERE region = 'north'", **files)
        edges = HISTOGRAM_EDGES
        bins = plaintext(
            "SELECT " + ", ".join(
                f"count(*) FILTER (WHERE amount >= {edges[i]} AND amount {'<=' if i == len(edges) - 2 else '<'} {edges[i + 1]})"
                for i in range(len(edges) - 1)) + f" FROM ({union}) WHERE region = 'north'", **files)[0]
        median_cell = result.quantiles[0.5]
        table = self.table("amount of loans in region north", ["", "secure (MPC)", "plaintext (DuckDB, for comparison)"])
        table.add_row("count", f"{result.count:,}", f"{count:,}")
        table.add_row("mean", f"{result.mean:,.4f}", f"{mean:,.4f}")
        table.add_row("stddev_pop", f"{result.stddev_pop:,.4f}", f"{stddev:,.4f}")
        table.add_row("min", f"{result.min:,.2f}", f"{low:,.2f}")
        table.add_row("max", f"{result.max:,.2f}", f"{high:,.2f}")
        table.add_row("median", f"in [{median_cell.low:,.0f}, {median_cell.high:,.0f})", f"{median:,.2f}")
        table.add_row("histogram", " ".join(f"{c:,}" for c in result.histogram), " ".join(f"{c:,}" for c in bins))
        self.print(table)
        self.check("secure statistics", result.count == count and abs(result.mean - mean) <= 1e-3 * max(1.0, abs(mean))
                   and abs(result.stddev_pop - stddev) <= 1e-3 * max(1.0, stddev) and abs(result.min - low) <= 1e-3
                   and abs(result.max - high) <= 1e-3 and tuple(result.histogram) == tuple(bins)
                   and median_cell.low <= median <= median_cell.high)
        self.trail(outcome, REQUESTER)

    def lending(self) -> None:
        others = [spec.name for spec in LENDERS if spec.name != REQUESTER]
        requester = self.consortium.requester(REQUESTER)
        files = {f"l{i}": self.files[name]["applications"] for i, name in enumerate(others)}
        first = self.as_of - dt.timedelta(days=WINDOW_DAYS - 1)
        counts = dict(plaintext(
            "SELECT applicant_id, count(*) FROM (" + " UNION ALL ".join(
                f"SELECT DISTINCT applicant_id FROM l{i} WHERE applied_on BETWEEN DATE '{first}' AND DATE '{self.as_of}'"
                for i in range(len(others))) + ") GROUP BY applicant_id", **files))
        busiest = max(counts, key=lambda a: (counts[a], a))
        self.step(f"the multi-lending check, one applicant, as {REQUESTER}")
        self.console.print(f"asking privately about {busiest}: on how many of the {len(others)} other lenders did "
                           f"they apply in the {WINDOW_DAYS} days to {self.as_of}?")
        text = multi_lending_text(REQUESTER, [f"{name}.applications" for name in others], as_of=self.as_of,
                                  window_days=WINDOW_DAYS, batch_size=1, applicants=[busiest])
        outcome = self.run_job(requester, text, {"applicants": [busiest]})
        found = outcome.result.count_for(busiest)
        self.say(f"secure answer: [bold]{found}[/] lenders; plaintext answer: {counts.get(busiest, 0)}")
        self.check("multi-lending check, one applicant", found == counts.get(busiest, 0))
        self.trail(outcome, REQUESTER)

        batch = sorted(self.rng.choice(sorted(counts), size=min(self.batch, len(counts)), replace=False).tolist())
        batch += [f"X{i:07d}" for i in range(20)]  # never applied anywhere
        self.step(f"the multi-lending check, a batch of {len(batch)} applicants in one job")
        text = multi_lending_text(REQUESTER, [f"{name}.applications" for name in others], as_of=self.as_of,
                                  window_days=WINDOW_DAYS, batch_size=len(batch), applicants=batch)
        outcome = self.run_job(requester, text, {"applicants": batch})
        secure = outcome.result.counts_for(batch)
        agree = sum(secure[a] == counts.get(a, 0) for a in batch)
        spread = Counter(secure.values())
        self.say(f"{agree} of {len(batch)} counts equal the plaintext answers; distribution "
                 + ", ".join(f"{k} lenders: {spread[k]}" for k in sorted(spread)))
        seconds = sum(outcome.timings.values())
        self.say(f"{len(batch)} applicants in {seconds:.1f} s ({len(batch) / seconds:.0f} per second end to end, "
                 "chain included)")
        self.check("multi-lending check, batch", agree == len(batch))
        self.trail(outcome, REQUESTER)

    def refused(self) -> None:
        self.step("a job asking for a column above its level is refused before any fee")
        text = statistics_text([f"{spec.name}.loans" for spec in LENDERS], "rate", ["mean"])
        requester = self.consortium.requester(REQUESTER)
        _, plan = requester.plan(text)
        jobs_before = requester.client.jobs.job_count()
        try:
            requester.precheck(plan)
        except PolicyViolation as error:
            self.say(f"[red]{type(error).__name__}[/]: {escape(str(error))}")
            self.check("refusal before any fee", requester.client.jobs.job_count() == jobs_before)
        else:
            self.check("refusal before any fee", False)

    # -- helpers ----------------------------------------------------------------------------------

    def run_job(self, requester: Requester, text: str, private: dict | None = None) -> JobOutcome:
        """Run one job through the chain and the nodes, with a live status line."""
        with self.console.status("submitting…") as status:
            outcome = requester.run(
                text, private,
                progress=lambda p: status.update(
                    f"job {p.job_id}: {p.status.name.lower()} — accepted {p.accepted}/{p.roles}, inputs "
                    f"{p.inputs_committed}/{p.inputs}, results {p.results_committed}/{p.roles - p.inputs} "
                    f"({p.seconds:.1f} s)"))
        timings = ", ".join(f"{k} {v:.2f} s" for k, v in outcome.timings.items())
        self.say(f"job {outcome.job_id} ({outcome.plan.kind.name.lower()}) done in "
                 f"{sum(outcome.timings.values()):.1f} s ({timings})")
        return outcome

    def trail(self, job_id: int | JobOutcome, requester: str) -> None:
        """Fees, the job's events, its commitments and whether its nodes' transcripts agree, from the chain."""
        job_id = job_id.job_id if isinstance(job_id, JobOutcome) else job_id
        summary = job_summary(self.consortium.client(requester), job_id)
        names = Counter(event.name for event in summary.events)
        self.say(f"fees: {summary.charged:,} credits paid of {summary.escrowed:,} escrowed ({summary.refund:,} "
                 "refunded): " + ", ".join(f"{escape(k)} {v:,}" for k, v in summary.payouts.items()))
        self.say("audit trail: " + ", ".join(f"{name}×{count}" if count > 1 else name for name, count in names.items()))
        commitments = ", ".join(f"input {i} 0x{fingerprint.hex()[:10]}…"
                                for i, (fingerprint, _) in sorted(summary.commitments.inputs.items()))
        self.say(f"input commitments: {commitments}")
        results = ", ".join(f"{escape(name)} 0x{commitment.hex()[:10]}…"
                            for name, commitment in summary.result_commitments.items())
        self.say(f"result commitments: {results} (events fold to the on-chain digest "
                 f"0x{summary.commitments.digest.hex()[:10]}…)")
        (owner, transcript), *others = summary.transcripts.items()
        if not others:  # evaluated at the owner: its transcript hash is the run's receipt
            self.say(f"receipt 0x{transcript.hex()[:16]}… committed by {escape(owner)}: binds the program, the "
                     "run's parameters, the rows used and the outputs")
            return
        verdict = "[green]identical at the 3 compute nodes[/]" if summary.transcripts_agree else "[red]DIFFER[/]"
        self.say(f"session transcript 0x{transcript.hex()[:16]}…: {verdict}")

    def summary(self) -> bool:
        """Print every check; return whether all passed."""
        self.step("summary")
        for name, agrees in self.checks:
            self.say(f"{'[green]agrees[/]' if agrees else '[bold red]DIFFERS[/]'}  {name}")
        return all(agrees for _, agrees in self.checks)


def run_demo(console: Console, directory: Path, rows: int, pool: int, keep: bool, *, batch: int = 200) -> bool:
    """Run the whole demo in ``directory`` (replaced); stop every process at the end; return whether all agreed."""
    from offchain.demo import capabilities

    if directory.exists():
        shutil.rmtree(directory)
    started = time.perf_counter()
    demo = Demo(console, directory, rows, pool, batch=batch)
    try:
        demo.set_up()
        demo.statistics()
        demo.lending()
        demo.refused()
        capabilities.sql_join(demo, "Delta Lending", "Borealis Credit", "Cobalt Finance")
        # The model's and the script's tables scale with --rows (10,000 borrowers and 20,000 customers by default).
        capabilities.secure_model(demo, REQUESTER, SHOP.name, customers=max(rows // 2, 200),
                                  applicants=max(rows // 10, 50))
        capabilities.secure_publishing(demo, HOSPITAL.name, INSURER.name)
        capabilities.secure_script(demo, REQUESTER, "Borealis Credit", "Cobalt Finance", INSURER.name,
                                   customers=max(rows, 100))
        capabilities.regulator_audit(demo)
        passed = demo.summary()
    finally:
        demo.consortium.close()
        if not keep:
            shutil.rmtree(directory / "consortium", ignore_errors=True)
    console.rule(f"[bold]done in {time.perf_counter() - started:.0f} s; every process stopped")
    return passed
