"""Time to rebuild and verify the history of 10,000 jobs from contract events.

A real anvil with the example consortium (``deploy/consortium.example.toml``)
and two datasets; Northbank requests jobs over both, computed by Eastern
Mutual, St. Clare and Westland. The mix, per 100 jobs: 90 finalized, 4
disputed and resolved (half refunded, half paid), 3 declined, 3 expired.
The history is made with the chain client in batches of ``--batch`` jobs
(local nonces, one signer per member, members in parallel).

Then, ``--repeats`` times with a fresh auditor each (the median is
reported): read every event (``eth_getLogs`` in batched block ranges, fast
decoding), fold them, run every check, and compare the rebuilt state with
the contracts' views at the head (six views per job, batched). Also timed:
decoding the same logs with the chain layer's generic ABI decoder, and one
incremental refresh after one more job (what the live web page pays).

Run: ``.venv/bin/python benchmarks/audit.py [--jobs 10000] [--batch 250] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_utils import keccak  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from offchain.audit.engine import Auditor  # noqa: E402
from offchain.audit.findings import Severity  # noqa: E402
from offchain.audit.history import ChainHistory  # noqa: E402
from offchain.chain.anvil import AnvilProcess, development_key  # noqa: E402
from offchain.chain.client import ZERO_ADDRESS, ChainClient, JobInput, JobRequest  # noqa: E402
from offchain.chain.config import ConsortiumConfig  # noqa: E402
from offchain.chain.deploy import run_deployment  # noqa: E402
from offchain.chain.events import EventDecoder  # noqa: E402
from offchain.chain.models import ConstraintLevel, JobKind  # noqa: E402
from offchain.chain.rpc import Rpc, to_int  # noqa: E402
from offchain.chain.signer import Signer  # noqa: E402

ADMIN, NORTHBANK, EASTERN, ST_CLARE, WESTLAND, REGULATOR = 0, 1, 2, 3, 4, 9
NODES = (EASTERN, ST_CLARE, WESTLAND)


class History:
    """Makes the benchmark's job history on one chain."""

    def __init__(self, url: str, workdir: Path) -> None:
        config = ConsortiumConfig.load(ROOT / "deploy" / "consortium.example.toml")
        self.deployment = run_deployment(config, url, workdir / "deployment.json").deployment
        self.rpc = Rpc(url, timeout=120)
        self.clients = {i: ChainClient(self.rpc, self.deployment, Signer(self.rpc, development_key(i)))
                        for i in (ADMIN, NORTHBANK, EASTERN, ST_CLARE, WESTLAND, REGULATOR)}
        admin, eastern, st_clare = self.clients[ADMIN], self.clients[EASTERN], self.clients[ST_CLARE]
        self.northbank = self.clients[NORTHBANK].address
        admin.billing.issue(self.northbank, 10**12).transact()
        receipt = eastern.catalog.register("claims", ["claim_id", "amount"], ["int64", "float64"], 1_000,
                                           keccak(text="claims"), 100, 2).transact()
        self.claims = next(e.args["datasetId"] for e in eastern.events(receipt) if e.name == "DatasetRegistered")
        receipt = st_clare.catalog.register("visits", ["patient_id", "cost"], ["int64", "float64"], 400,
                                            keccak(text="visits"), 50, 1).transact()
        self.visits = next(e.args["datasetId"] for e in st_clare.events(receipt) if e.name == "DatasetRegistered")
        expiry = self.now() + 5 * 365 * 86_400
        eastern.transact_all([
            eastern.access_policy.set_grant(self.claims, self.northbank, expiry, 0, list(JobKind)),
            eastern.access_policy.set_column_levels(self.claims, ZERO_ADDRESS, [0, 1], [
                ConstraintLevel.PLAINTEXT_AFTER_JOIN, ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE])])
        st_clare.transact_all([
            st_clare.access_policy.set_grant(self.visits, ZERO_ADDRESS, expiry, 0, list(JobKind)),
            st_clare.access_policy.set_column_levels(self.visits, ZERO_ADDRESS, [0],
                                                     [ConstraintLevel.PLAINTEXT_AFTER_JOIN])])
        self.node_addresses = tuple(self.clients[n].address for n in NODES)
        self.fee = 0
        self.pool = ThreadPoolExecutor(max_workers=3)
        self.jobs = 0
        self.expiring: list[int] = []

    def now(self) -> int:
        return to_int(self.rpc.request("eth_getBlockByNumber", "latest", False)["timestamp"])

    def request(self, deadline: int) -> JobRequest:
        request = JobRequest(
            kind=JobKind.QUERY, program_hash=keccak(text="benchmark-join"), program='{"program":"join"}',
            inputs=(JobInput(self.claims, (0, 1), (ConstraintLevel.PLAINTEXT_AFTER_JOIN,
                                                  ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE)),
                    JobInput(self.visits, (0,), (ConstraintLevel.PLAINTEXT_AFTER_JOIN,))),
            compute_nodes=self.node_addresses, result_recipient=self.northbank, deadline=deadline, fee_cap=self.fee)
        if not self.fee:
            self.fee = self.clients[NORTHBANK].jobs.quote(self.northbank, request)
            request = JobRequest(**{**request.__dict__, "fee_cap": self.fee})
        return request

    def _parallel(self, work: dict[int, list]) -> None:
        futures = [self.pool.submit(self.clients[member].transact_all, transactions, 600)
                   for member, transactions in work.items() if transactions]
        for future in futures:
            future.result()

    def batch(self, count: int) -> None:
        """Add ``count`` jobs with the benchmark's mix of endings."""
        first = self.jobs + 1
        ids = list(range(first, first + count))
        self.jobs += count
        now = self.now()
        kinds = {job_id: _ending(job_id) for job_id in ids}
        northbank = self.clients[NORTHBANK]
        northbank.transact_all([northbank.jobs.request(self.request(
            now + (1_800 if kinds[j] == "expired" else 6 * 86_400))) for j in ids], 600)
        live = [j for j in ids if kinds[j] not in ("expired", "declined")]
        self.expiring += [j for j in ids if kinds[j] == "expired"]
        eastern, st_clare, westland = (self.clients[n] for n in NODES)
        self._parallel({
            EASTERN: [eastern.jobs.commit_input(j, 0, keccak(text=f"claims-{j}"), 800) for j in live],
            ST_CLARE: [st_clare.jobs.commit_input(j, 1, keccak(text=f"visits-{j}"), 300) for j in live],
            WESTLAND: [westland.jobs.accept(j) for j in live]
            + [westland.jobs.decline(j, "capacity") for j in ids if kinds[j] == "declined"],
        })
        transcript = {j: keccak(text=f"transcript-{j}") for j in live}
        self._parallel({node: [self.clients[node].jobs.commit_result(j, keccak(text=f"result-{j}-{k}"), transcript[j])
                               for j in live] for k, node in enumerate(NODES)})
        finalize = [northbank.jobs.finalize(j) for j in live if kinds[j] == "finalized"]
        disputes = [northbank.jobs.dispute(j, self.node_addresses[2], keccak(text=f"evidence-{j}"))
                    for j in live if kinds[j].startswith("disputed")]
        northbank.transact_all(finalize + disputes, 600)
        regulator = self.clients[REGULATOR]
        resolutions = [regulator.jobs.resolve_dispute(j, kinds[j] == "disputed-refund")
                       for j in live if kinds[j].startswith("disputed")]
        if resolutions:
            regulator.transact_all(resolutions, 600)

    def expire_all(self) -> None:
        if not self.expiring:
            return
        self.rpc.request("evm_mine", self.now() + 2 * 3_600)
        regulator = self.clients[REGULATOR]
        regulator.transact_all([regulator.jobs.expire(j) for j in self.expiring], 600)
        self.expiring = []


def _ending(job_id: int) -> str:
    slot = job_id % 100
    if slot < 2:
        return "disputed-refund"
    if slot < 4:
        return "disputed-pay"
    if slot < 7:
        return "declined"
    if slot < 10:
        return "expired"
    return "finalized"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    # A block gas limit far above a batch's gas (250 requests are ~100M gas): with anvil's default 30M,
    # full blocks push the base fee up until transactions priced a few blocks earlier stall in the pool.
    chain_arguments = ("--silent", "--gas-limit", "2000000000")
    with tempfile.TemporaryDirectory() as workdir, AnvilProcess(extra_arguments=chain_arguments) as anvil:
        history = History(anvil.url, Path(workdir))
        started = time.perf_counter()
        while history.jobs < args.jobs:
            history.batch(min(args.batch, args.jobs - history.jobs))
            console.print(f"  {history.jobs:,} jobs on chain ({time.perf_counter() - started:.0f} s)", highlight=False)
        history.expire_all()
        making = time.perf_counter() - started
        reader = ChainClient(Rpc(anvil.url, timeout=300), history.deployment)
        head = to_int(reader.rpc.request("eth_blockNumber"))

        runs = []
        for _ in range(args.repeats):
            auditor = Auditor(reader)
            auditor.refresh()
            runs.append(auditor.timings)
        state = auditor.state
        errors = [f for f in state.findings if f.severity is Severity.ERROR]

        logs = ChainHistory(reader.rpc, history.deployment)._logs(history.deployment.deploy_block, head)
        decoder = EventDecoder(history.deployment.contracts)
        decode_times = {}
        for name, decode in (("generic", decoder.decode_generic), ("fast", decoder.decode)):
            begin = time.perf_counter()
            for log in logs:
                decode(log)
            decode_times[name] = time.perf_counter() - begin

        history.batch(1)
        begin = time.perf_counter()
        new_events = auditor.refresh()
        incremental = time.perf_counter() - begin

    def median(stage: str) -> float:
        return statistics.median(getattr(run, stage) for run in runs)

    events = runs[0].events
    table = Table(title=f"Audit of {args.jobs:,} jobs: {events:,} events in {head:,} blocks "
                        f"(median of {args.repeats})", title_justify="left")
    for column in ("stage", "seconds", "events/s"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    for label, stage in (("read logs + decode (eth_getLogs)", "fetch"), ("fold into the ledger", "fold"),
                         ("run every check", "checks"), ("compare with the views (6 per job)", "views")):
        table.add_row(label, f"{median(stage):.2f}", f"{events / median(stage):,.0f}" if median(stage) else "-")
    total = statistics.median(run.total for run in runs)
    table.add_row("[bold]rebuild and verify, total[/]", f"[bold]{total:.2f}[/]", f"{events / total:,.0f}")
    console.print(table)
    console.print(f"decoding alone: generic ABI decoder {decode_times['generic']:.2f} s, fast decoder "
                  f"{decode_times['fast']:.2f} s ({decode_times['generic'] / decode_times['fast']:.1f}x)")
    console.print(f"incremental refresh after one more job ({new_events} events): {incremental:.2f} s")
    console.print(f"making the history: {making:.0f} s; findings: {len(errors)} errors, "
                  f"{sum(1 for f in state.findings if f.severity is Severity.WARNING)} warnings")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
