"""``unseen demo``: a consortium of five lenders on this machine, end to end."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from rich.console import Console

from offchain.cli import EXIT_OK, common_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", parents=[common_options()], help="run the demo: 5 lenders, statistics and the multi-lending check",
        description="Starts anvil, deploys, starts 5 member nodes as processes with TLS on loopback, loads "
        "generated data, and runs secure statistics and the multi-lending check (one applicant and a batch) "
        "through the chain, printing results next to the plaintext answers, fees and audit trails. Every "
        "process is stopped at the end or on Ctrl-C.",
    )
    parser.add_argument("--dir", default=".unseen/demo", metavar="DIR", help="working directory (replaced)")
    parser.add_argument("--rows", type=int, default=20_000, help="rows per table per lender (default 20000)")
    parser.add_argument("--pool", type=int, default=50_000, help="distinct applicants across lenders")
    parser.add_argument("--keep", action="store_true", help="keep the nodes' directories afterwards")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace, console: Console) -> int:
    from offchain.demo.scenario import run_demo

    def stop(signal_number: int, frame: object) -> None:
        raise KeyboardInterrupt  # the demo's clean-up (every process stopped) runs on SIGTERM too

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        run_demo(console, Path(args.dir).resolve(), args.rows, args.pool, args.keep)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK
