"""Shared entry point of the numbered deployment steps (``deploy/0N_*.py``).

Each step script is ``python deploy/0N_name.py --config FILE [--rpc URL]
[--deployment PATH] [--fresh]``; it runs that one step of
:mod:`offchain.chain.deploy` (idempotent: a step already recorded in the
deployment file is skipped). ``unseen deploy`` runs all of them in order.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from offchain.chain.config import ConsortiumConfig  # noqa: E402
from offchain.chain.deploy import run_deployment  # noqa: E402
from offchain.chain.deployment import deployment_path  # noqa: E402
from offchain.cli import setting  # noqa: E402
from offchain.errors import ConfigError, UnseenError  # noqa: E402


def run_step(step: str, description: str) -> int:
    """Parse the command line and run deployment step ``step``; return an exit code."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, help="consortium TOML file")
    parser.add_argument("--rpc", help="JSON-RPC URL (default: [chain] rpc_url; $UNSEEN_RPC_URL overrides)")
    parser.add_argument("--deployment", help="deployment file (default .unseen/deployment.json)")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing deployment file")
    args = parser.parse_args()
    try:
        config = ConsortiumConfig.load(args.config)
        rpc_url = setting(args.rpc, "UNSEEN_RPC_URL", config.chain.rpc_url)
        if not rpc_url:
            raise ConfigError(
                "no RPC URL: pass --rpc, set [chain] rpc_url, or start a local chain with "
                "`unseen chain start` and pass --rpc http://127.0.0.1:8545"
            )
        path = deployment_path(args.deployment)
        report = run_deployment(config, rpc_url, path, fresh=args.fresh, only=[step],
                                progress=lambda line: print(f"  {line}"))
    except UnseenError as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    if step not in report.steps_run:
        print(f"step {step!r} already done for the deployment in {path}")
    for action in report.actions:
        print(f"  {action}")
    print(f"{step}: {report.transactions} transactions, {report.gas_used:,} gas; {path}")
    return 0
