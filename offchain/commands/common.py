"""What the member commands share: the node file, a requester, tables, job progress."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from offchain.cli import common_options
from offchain.errors import ConfigError

CONFIG_VARIABLE = "UNSEEN_NODE_CONFIG"


def member_options() -> argparse.ArgumentParser:
    """Global options plus ``--config``: the member's node file (its key, TLS identity, chain, data)."""
    parser = argparse.ArgumentParser(add_help=False, parents=[common_options()])
    parser.add_argument("--config", metavar="TOML", default=None,
                        help=f"the member's node file (default ${CONFIG_VARIABLE}, else ./node.toml)")
    return parser


def node_config(args: argparse.Namespace, **overrides: Any) -> Any:
    """Load the node file named by ``--config`` with the global flags as overrides."""
    from offchain.node.config import NodeConfig

    path = os.environ.get(CONFIG_VARIABLE) if not getattr(args, "config", None) else args.config
    path = Path(path or "node.toml")
    if not path.exists():
        raise ConfigError(
            f"no node file {path}: pass --config node.toml (made by `unseen node init`) or set ${CONFIG_VARIABLE}"
        )
    flags = {"key": getattr(args, "key", None), "rpc_url": getattr(args, "rpc", None),
             "deployment": getattr(args, "deployment", None), **overrides}
    return NodeConfig.load(path, overrides=flags)


def requester(args: argparse.Namespace) -> Any:
    from offchain.client.requester import Requester

    return Requester.from_node_config(node_config(args))


def table(title: str, columns: list[str]) -> Any:
    from rich.table import Table

    result = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        result.add_column(column)
    return result


def short(value: bytes | str, keep: int = 10) -> str:
    text = value if isinstance(value, str) else "0x" + bytes(value).hex()
    return text[:keep] + "…" + text[-4:] if len(text) > keep + 6 else text


def run_job(console: Console, requester: Any, text: str, private: dict | None, args: argparse.Namespace) -> Any:
    """Run a job with a live status line; print the plan first with ``--explain`` and stop there."""
    from offchain.client.requester import JobProgress

    program, plan = requester.plan(text)
    if getattr(args, "explain", False):
        console.print(escape(plan.explain()))
        requester.precheck(plan)
        request = requester.build_request(plan, compute_nodes=_nodes(requester, args))
        console.print(f"maximum fee: {request.fee_cap:,} credits; compute nodes: "
                      f"{', '.join(requester._name(n) for n in request.compute_nodes)}")
        return None
    with console.status("planning…") as status:
        def show(progress: JobProgress) -> None:
            status.update(
                f"job {progress.job_id}: {progress.status.name.lower()} — accepted {progress.accepted}/"
                f"{progress.roles}, inputs {progress.inputs_committed}/{progress.inputs}, results "
                f"{progress.results_committed}/{progress.roles - progress.inputs} ({progress.seconds:.1f} s)"
            )

        outcome = requester.run(text, private, compute_nodes=_nodes(requester, args),
                                deadline_seconds=args.deadline, progress=show)
    console.print(
        f"job {outcome.job_id}: finalized; paid {outcome.charged:,} credits of {outcome.max_fee:,} escrowed "
        f"({outcome.refund:,} refunded) — "
        + ", ".join(f"{name} {amount:,}" for name, amount in outcome.payouts.items())
    )
    seconds = sum(outcome.timings.values())
    if len(outcome.transcripts) == 1:
        console.print(f"evaluated at the data owner; its commitment and receipt check out; {seconds:.2f} s in all")
    else:
        agree = "agree" if outcome.transcripts_agree else "DISAGREE"
        console.print(f"session transcripts of the {len(outcome.transcripts)} compute nodes {agree}; "
                      f"{seconds:.2f} s in all")
    return outcome


def _nodes(requester: Any, args: argparse.Namespace) -> tuple[str, ...] | None:
    names = getattr(args, "nodes", None)
    if not names:
        return None
    from offchain.node.catalog import ChainCatalog

    catalog = ChainCatalog(requester.client)
    return tuple(catalog.member_address(n.strip()) for n in names.split(","))


def add_job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--explain", action="store_true", help="print the plan, who learns what and the fee; send nothing")
    parser.add_argument("--nodes", metavar="A,B,C", help="the 3 compute nodes (member names); default: the cheapest")
    parser.add_argument("--deadline", type=int, default=600, metavar="SECONDS",
                        help="seconds the job may take before it expires and refunds (default 600)")
