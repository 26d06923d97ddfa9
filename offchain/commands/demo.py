"""``unseen demo``: a consortium on this machine, every capability end to end."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from rich.console import Console

from offchain.cli import EXIT_FAILED, EXIT_OK, common_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", parents=[common_options()],
        help="run the demo: every capability through the chain and member nodes, then the regulator's audit",
        description="Starts anvil, deploys, starts 7 member nodes (4 lenders, a shop, a hospital, an insurer) as "
        "processes with pinned TLS on loopback, loads generated data, and runs through the chain: secure "
        "statistics, the multi-lending check (one applicant and a batch), a refused job, a secure SQL join, a "
        "credit-risk model trained by a lender and a shop and applied to new applicants, claims settled at a "
        "hospital by an insurer's approved rules, a joint risk script over three members' columns, and the "
        "regulator's audit. Results are printed next to the plaintext answers, with fees and audit trails; the "
        "exit status is 1 if any secure answer differs from the plaintext one or the audit finds anything. "
        "Every process is stopped at the end or on Ctrl-C.",
    )
    parser.add_argument("--dir", default=".unseen/demo", metavar="DIR", help="working directory (replaced)")
    parser.add_argument("--rows", type=int, default=20_000,
                        help="rows per lender table (default 20000); the model's borrowers are half as many, the "
                        "script's customers as many")
    parser.add_argument("--pool", type=int, default=50_000, help="distinct applicants across lenders")
    parser.add_argument("--batch", type=int, default=200, help="applicants in the batch multi-lending check")
    parser.add_argument("--keep", action="store_true", help="keep the nodes' directories afterwards")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace, console: Console) -> int:
    from offchain.demo.scenario import run_demo
    from offchain.errors import InputError

    for name in ("rows", "pool", "batch"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name} must be at least 1, got {getattr(args, name)}")

    def stop(signal_number: int, frame: object) -> None:
        raise KeyboardInterrupt  # the demo's clean-up (every process stopped) runs on SIGTERM too

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        passed = run_demo(console, Path(args.dir).resolve(), args.rows, args.pool, args.keep, batch=args.batch)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK if passed else EXIT_FAILED
