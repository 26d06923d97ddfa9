"""Gas of every contract operation and of a whole job lifecycle, on a local anvil.

Lifecycle = request, accepts, input commits, result commits, finalize, for a QUERY job
with 3 compute nodes and 2 datasets owned by two members other than the requester:

- "disjoint": the two owners are not compute nodes (10 transactions: each node accepts,
  each owner's commitInput is its acceptance). This is the case the 800,000 gas target binds.
- "owners compute": the two owners are two of the three compute nodes (8 transactions:
  an owner's commitInput also accepts for its node role).

Each is measured on the second job of the deployment ("steady state": counters, grants and
balances already non-zero, as in any running consortium) and on the first job of a fresh
deployment. Gas is deterministic for a given compiler, EVM hardfork and input, so one run is
the measurement; the machine is recorded for completeness.

Run: ``.venv/bin/python benchmarks/gas.py`` (exits 1 if the disjoint lifecycle exceeds the
target). ``--markdown`` prints the tables as Markdown for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from web3 import Web3  # noqa: E402

from benchmarks._machine import cpu_model  # noqa: E402
from tests.anvil import AnvilNode, anvil_binary  # noqa: E402
from tests.contracts.helpers import (  # noqa: E402
    ALL_KINDS,
    PLAINTEXT,
    ZERO_ADDRESS,
    Deployment,
    artifact,
    deploy,
    h,
    schema_hash,
)
from tests.contracts.scenario import HORIZON, WINDOW, World, build_world  # noqa: E402

TARGET = 800_000


@dataclass
class Lifecycle:
    steps: list[tuple[str, int]]

    @property
    def total(self) -> int:
        return sum(gas for _, gas in self.steps)


def run_lifecycle(world: World, owners_compute: bool) -> Lifecycle:
    """One job from request to finalize; returns the gas of each transaction."""
    d, jobs = world.d, world.d.jobs.functions
    nodes = [world.insurer, world.hospital, world.nodes[2]] if owners_compute else list(world.nodes)
    request = world.query_request(nodes=nodes, fee_cap=world.max_fee())
    steps: list[tuple[str, int]] = []
    job_id, receipt = world.request(request)
    steps.append(("request", receipt["gasUsed"]))
    owners = {world.insurer, world.hospital}
    for index, node in enumerate(nodes):
        if node not in owners:
            steps.append((f"accept (node {index})", d.send(jobs.accept(job_id), node)["gasUsed"]))
    steps.append(("commitInput (claims)", d.send(jobs.commitInput(job_id, 0, h(f"in0-{job_id}"), 800),
                                                 world.insurer)["gasUsed"]))
    steps.append(("commitInput (visits)", d.send(jobs.commitInput(job_id, 1, h(f"in1-{job_id}"), 400),
                                                 world.hospital)["gasUsed"]))
    for index, node in enumerate(nodes):
        receipt = d.send(jobs.commitResult(job_id, h(f"res{index}-{job_id}"), h(f"tr{index}-{job_id}")), node)
        steps.append((f"commitResult (node {index})", receipt["gasUsed"]))
    steps.append(("finalize", d.send(jobs.finalize(job_id), world.bank)["gasUsed"]))
    return Lifecycle(steps)


def single_operations(world: World) -> list[tuple[str, int]]:
    """Gas of the other state-changing operations, each on its own."""
    d = world.d
    spare = world.anvil.accounts[12].address
    rows: list[tuple[str, int]] = []

    def measure(label: str, call, sender: str) -> dict:
        receipt = d.send(call, sender)
        rows.append((label, receipt["gasUsed"]))
        return receipt

    measure("Consortium.admit", d.consortium.functions.admit(spare, "Bench Member", "bench:7443", h("bench"), 5),
            world.admin)
    measure("Consortium.updateNode", d.consortium.functions.updateNode("bench2:7443", h("bench2"), 6), spare)
    measure("Consortium.suspend", d.consortium.functions.suspend(spare, "benchmark"), world.regulator)
    measure("Consortium.reinstate", d.consortium.functions.reinstate(spare), world.admin)
    measure("Billing.issue", d.billing.functions.issue(spare, 1_000), world.admin)
    names, types = [f"c{i}" for i in range(8)], ["int64"] * 4 + ["float64", "string", "date", "bool"]
    measure("DataCatalog.register (8 columns)",
            d.catalog.functions.register("bench", names, types, schema_hash(names, types), 10_000, h("bench-v1"),
                                         10, 1), spare)
    dataset = d.catalog.functions.datasetCount().call()
    measure("DataCatalog.publishVersion", d.catalog.functions.publishVersion(dataset, h("bench-v2"), 12_000), spare)
    measure("AccessPolicy.setColumnLevels (8 columns)",
            d.policy.functions.setColumnLevels(dataset, ZERO_ADDRESS, list(range(8)), [PLAINTEXT] * 8), spare)
    measure("AccessPolicy.setGrant", d.policy.functions.setGrant(dataset, world.bank, world.now() + 86_400, 10,
                                                                 ALL_KINDS), spare)
    measure("AccessPolicy.approveProgram", d.policy.functions.approveProgram(dataset, h("prog"), "review"), spare)
    measure("AccessPolicy.recordConsent",
            d.policy.functions.recordConsent(dataset, h("subject"), h("purpose"), world.now() + 86_400, h("form"),
                                             ZERO_ADDRESS), spare)
    jobs = d.jobs.functions
    declined, _ = world.request()
    measure("Jobs.decline (refund)", jobs.decline(declined, "busy"), world.nodes[0])
    expiring, _ = world.request(world.query_request(deadline=world.now() + 600))
    world.anvil.advance_time(601)
    measure("Jobs.expire (refund)", jobs.expire(expiring), world.outsider)
    disputed, _ = world.request()
    world.run_to_committed(disputed)
    measure("Jobs.dispute", jobs.dispute(disputed, world.nodes[1], h("evidence")), world.bank)
    measure("Jobs.resolveDispute (pay)", jobs.resolveDispute(disputed, False), world.regulator)
    world.anvil.advance_time(WINDOW)
    late, _ = world.request()
    world.run_to_committed(late)
    world.anvil.advance_time(WINDOW)
    measure("Jobs.finalize by a node after the window", jobs.finalize(late), world.nodes[0])
    return rows


def fresh(anvil_args: tuple[str, ...]) -> tuple[AnvilNode, Deployment, World]:
    node = AnvilNode.start(accounts=20, extra_args=anvil_args)
    w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))
    deployment = deploy(w3, node.accounts[0].address, HORIZON, WINDOW)
    world = build_world(node, deployment)
    # The scenario's grant allows 5 jobs; the benchmark runs more.
    deployment.send(deployment.policy.functions.setGrant(world.claims, world.bank, world.now() + 86_400 * 365, 0,
                                                         ALL_KINDS), world.insurer)
    return node, deployment, world


def machine() -> dict[str, str]:
    cpu = cpu_model("unknown")
    settings = (PROJECT_ROOT / "foundry.toml").read_text()
    compiler = json.loads((PROJECT_ROOT / "build" / "contracts" / "Jobs.json").read_text())["compiler"]
    return {
        "machine": f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "compiler": f"solc {compiler}, " + ", ".join(
            line.strip() for line in settings.splitlines()
            if line.startswith(("evm_version", "optimizer_runs", "via_ir"))),
    }


def table(title: str, rows: list[tuple[str, int]], markdown: bool) -> str:
    width = max(len(label) for label, _ in rows)
    if markdown:
        lines = [f"**{title}**", "", "| operation | gas |", "|---|---:|"]
        lines += [f"| {label} | {gas:,} |" for label, gas in rows]
    else:
        lines = [title, "-" * (width + 14)]
        lines += [f"{label:<{width}}  {gas:>12,}" for label, gas in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--hardfork", default=None, help="anvil hardfork (default: anvil's own default)")
    args = parser.parse_args(argv)
    anvil_args = ("--hardfork", args.hardfork) if args.hardfork else ()

    results: dict[str, Lifecycle] = {}
    node, deployment, world = fresh(anvil_args)
    try:
        info = {**machine(), "anvil": str(node.rpc("web3_clientVersion")),
                "hardfork": str(node.rpc("anvil_nodeInfo").get("hardFork", "?"))}
        results["disjoint, first job"] = run_lifecycle(world, owners_compute=False)
        results["disjoint, steady state"] = run_lifecycle(world, owners_compute=False)
        results["owners compute, steady state"] = run_lifecycle(world, owners_compute=True)
        operations = single_operations(world)
        deployments = list(deployment.deploy_gas.items())
    finally:
        node.stop()
    node, _, world = fresh(anvil_args)
    try:
        results["owners compute, first job"] = run_lifecycle(world, owners_compute=True)
    finally:
        node.stop()

    markdown = args.markdown
    print("\n".join(f"{k}: {v}" for k, v in info.items()) + "\n")
    for name in ("disjoint, steady state", "owners compute, steady state"):
        lifecycle = results[name]
        print(table(f"Lifecycle: {name} ({len(lifecycle.steps)} transactions)",
                    [*lifecycle.steps, ("total", lifecycle.total)], markdown))
    summary = [(f"{name} ({len(lc.steps)} tx)", lc.total) for name, lc in sorted(results.items())]
    print(table(f"Lifecycle totals (target <= {TARGET:,})", summary, markdown))
    print(table("Other operations", operations, markdown))
    print(table("Deployment", deployments, markdown))

    over = {name: lc.total for name, lc in results.items() if lc.total > TARGET}
    if over:
        print(f"OVER TARGET: {over} exceed {TARGET:,} gas", file=sys.stderr)
        return 1
    print(f"every lifecycle is within the {TARGET:,} gas target")
    return 0


if __name__ == "__main__":
    if not anvil_binary().exists():
        raise SystemExit("anvil is missing: run `make setup`")
    if not (PROJECT_ROOT / "build" / "contracts" / "Jobs.json").exists():
        raise SystemExit(f"{artifact.__module__}: contracts are not built: run `make setup`")
    raise SystemExit(main())
