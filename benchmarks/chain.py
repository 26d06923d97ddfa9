"""Transactions per second: the Unseen chain client versus plain web3.py.

Same anvil, same run, same calls:

* **web3.py, one by one** — ``contract.functions.f(...).transact()`` then
  ``wait_for_transaction_receipt``, one call after another (anvil signs, as
  its development accounts are unlocked; web3.py estimates gas and fees per
  call);
* **Unseen, one by one** — ``PreparedTransaction.transact()`` per call:
  simulation, local signing, send, wait (shows the cost of each round trip);
* **Unseen, pipelined** — ``ChainClient.transact_all``: one batch of
  simulations, local signing with local nonces, one batch of raw sends, then
  batched receipt polls.

Mixes: ``Billing.issue`` (admin credits members) and
``AccessPolicy.setColumnLevels`` (an owner sets levels for different
grantees). Every measurement starts from the same chain snapshot; each is
repeated and the median reported.

Run: ``.venv/bin/python benchmarks/chain.py [--transactions 300] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from web3 import Web3  # noqa: E402

from offchain.chain.anvil import AnvilProcess, development_key  # noqa: E402
from offchain.chain.client import ChainClient, PreparedTransaction  # noqa: E402
from offchain.chain.config import ConsortiumConfig  # noqa: E402
from offchain.chain.deploy import run_deployment  # noqa: E402
from offchain.chain.models import ConstraintLevel  # noqa: E402
from offchain.chain.rpc import Rpc  # noqa: E402
from offchain.chain.signer import Signer  # noqa: E402


def _setup(url: str, workdir: Path) -> tuple[ChainClient, ChainClient, int, list[str]]:
    config = ConsortiumConfig.load(ROOT / "deploy" / "consortium.example.toml")
    deployment = run_deployment(config, url, workdir / "deployment.json").deployment
    rpc = Rpc(url)
    admin = ChainClient(rpc, deployment, Signer(rpc, development_key(0)))
    owner = ChainClient(rpc, deployment, Signer(rpc, development_key(1)))
    receipt = owner.catalog.register("loans", [f"c{i}" for i in range(8)], ["int64"] * 8, 10_000,
                                     b"\x05" * 32, 10, 1).transact()
    dataset_id = next(e.args["datasetId"] for e in owner.events(receipt)
                      if e.name == "DatasetRegistered")
    members = [m.address for m in admin.consortium.members()]
    return admin, owner, dataset_id, members


Mix = tuple[ChainClient, Callable[[int], PreparedTransaction], Callable[[int], bytes]]


def _mixes(admin: ChainClient, owner: ChainClient, dataset_id: int, members: list[str], count: int
           ) -> tuple[dict[str, Mix], Web3]:
    """Per mix: the client that signs, our call i, and the web3.py call i; and the Web3."""
    w3 = Web3(Web3.HTTPProvider(admin.rpc.url))
    billing = w3.eth.contract(address=admin.billing.address, abi=admin.billing.handle.artifact.abi)
    policy = w3.eth.contract(address=owner.access_policy.address,
                             abi=owner.access_policy.handle.artifact.abi)
    grantees = [Account.create().address for _ in range(count)]
    columns = [0, 1, 2, 3]
    levels = [ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE] * 4

    def ours_issue(i: int) -> PreparedTransaction:
        return admin.billing.issue(members[i % len(members)], 1 + i)

    def web3_issue(i: int):  # noqa: ANN202
        return billing.functions.issue(members[i % len(members)], 1 + i).transact(
            {"from": admin.address})

    def ours_levels(i: int) -> PreparedTransaction:
        return owner.access_policy.set_column_levels(dataset_id, grantees[i], columns, levels)

    def web3_levels(i: int):  # noqa: ANN202
        return policy.functions.setColumnLevels(dataset_id, grantees[i], columns,
                                                [int(v) for v in levels]).transact(
            {"from": owner.address})

    return {
        "Billing.issue": (admin, ours_issue, web3_issue),
        "AccessPolicy.setColumnLevels": (owner, ours_levels, web3_levels),
    }, w3


def _runs(client: ChainClient, ours: Callable[[int], PreparedTransaction],
          theirs: Callable[[int], bytes], w3: Web3, count: int) -> dict[str, Callable[[], bool]]:
    """The three ways of sending ``count`` calls; each returns whether all succeeded."""

    def web3_one_by_one() -> bool:
        receipts = [w3.eth.wait_for_transaction_receipt(theirs(i)) for i in range(count)]
        return all(r["status"] == 1 for r in receipts)

    def ours_one_by_one() -> bool:
        client.signer.resync()
        return all(ours(i).transact().succeeded for i in range(count))

    def ours_pipelined() -> bool:
        client.signer.resync()
        return all(r.succeeded for r in client.transact_all([ours(i) for i in range(count)]))

    return {"web3": web3_one_by_one, "one": ours_one_by_one, "pipelined": ours_pipelined}


def _timed(run: Callable[[], bool]) -> float:
    started = time.perf_counter()
    succeeded = run()
    elapsed = time.perf_counter() - started
    if not succeeded:
        raise RuntimeError("a benchmark run had failed transactions")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    count = args.transactions
    console = Console(width=140)
    with tempfile.TemporaryDirectory() as workdir, AnvilProcess() as anvil:
        admin, owner, dataset_id, members = _setup(anvil.url, Path(workdir))
        mixes, w3 = _mixes(admin, owner, dataset_id, members, count)
        rpc = admin.rpc
        table = Table(title=f"Chain client throughput: {count} transactions per run, median of "
                      f"{args.repeats} (anvil automine)", title_justify="left")
        for column in ("mix", "method", "seconds", "tx/s", "vs web3.py", "round trips"):
            table.add_column(column, justify="left" if column in ("mix", "method") else "right")

        for mix, (client, ours, theirs) in mixes.items():
            results: dict[str, list[float]] = {"web3": [], "one": [], "pipelined": []}
            trips: dict[str, int] = {}

            runs = _runs(client, ours, theirs, w3, count)
            for _ in range(args.repeats):
                for name, run in runs.items():
                    snapshot = rpc.request("evm_snapshot")
                    before = client.rpc.round_trips
                    results[name].append(_timed(run))
                    trips[name] = client.rpc.round_trips - before
                    rpc.request("evm_revert", snapshot)
            web3_rate = count / statistics.median(results["web3"])
            labels = {"web3": "web3.py transact(), one by one",
                      "one": "Unseen transact(), one by one",
                      "pipelined": "Unseen transact_all (local nonces, batched)"}
            for name in ("web3", "one", "pipelined"):
                seconds = statistics.median(results[name])
                rate = count / seconds
                table.add_row(mix, labels[name], f"{seconds:.2f}", f"{rate:,.0f}",
                              f"{rate / web3_rate:.1f}x",
                              "n/a" if name == "web3" else str(trips[name]))
        console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
