"""The ``unseen`` command as a subprocess: deploy, inspect, one-line errors, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from offchain.chain.anvil import free_port
from offchain.chain.client import ChainClient
from offchain.chain.deployment import Deployment
from offchain.chain.rpc import Rpc

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "deploy" / "consortium.example.toml"


def unseen(*arguments: str, cwd: Path, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("UNSEEN_")
                   or k == "UNSEEN_ARTIFACTS"}
    environment["COLUMNS"] = "200"
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "offchain.cli", *arguments], cwd=cwd,
                          env=environment, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def deployed(rpc: Rpc, tmp_path: Path) -> Path:
    """A fresh deployment made by ``unseen deploy``; returns the deployment file."""
    path = tmp_path / "deployment.json"
    done = unseen("deploy", "--config", str(EXAMPLE_CONFIG), "--rpc", rpc.url,
                  "--deployment", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return path


def test_deploy_prints_the_contracts_and_a_second_run_deploys_nothing(deployed: Path,
                                                                      rpc: Rpc) -> None:
    deployment = Deployment.load(deployed)
    again = unseen("--deployment", str(deployed), "deploy", "--config", str(EXAMPLE_CONFIG),
                   "--rpc", rpc.url, cwd=deployed.parent)
    assert again.returncode == 0, again.stderr
    assert "existing deployment on chain 31337 verified" in again.stdout
    assert "nothing to do" in again.stdout
    for address in deployment.contracts.values():
        assert address in again.stdout


def test_non_admin_transaction_prints_exactly_one_error_line(deployed: Path) -> None:
    done = unseen("chain", "issue", "0x" + "12" * 20, "100", "--key", "anvil:5",
                  "--deployment", str(deployed), cwd=deployed.parent)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "BillingNotAdmin: 0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc is not the consortium "
        "admin (calling Billing.issue)"
    ]
    assert done.stdout == ""


def test_admin_transaction_and_inspection_commands(deployed: Path) -> None:
    recipient = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # Northbank, anvil:1
    issued = unseen("--key", "anvil:0", "--deployment", str(deployed), "chain", "issue",
                    recipient, "250", cwd=deployed.parent)
    assert issued.returncode == 0, issued.stderr
    balance = unseen("chain", "balance", recipient, "--deployment", str(deployed),
                     cwd=deployed.parent)
    assert balance.returncode == 0, balance.stderr
    assert "100,250" in balance.stdout and "Northbank" in balance.stdout
    members = unseen("chain", "members", "--deployment", str(deployed), cwd=deployed.parent)
    assert members.returncode == 0, members.stderr
    for name in ("Northbank", "Eastern Mutual Insurance", "St. Clare Hospital", "Westland Credit Union"):
        assert name in members.stdout
    events = unseen("chain", "events", "--name", "CreditsIssued", "--deployment", str(deployed),
                    cwd=deployed.parent)
    assert events.returncode == 0, events.stderr
    assert events.stdout.count("Billing.CreditsIssued") == 5
    info = unseen("chain", "info", "--deployment", str(deployed), cwd=deployed.parent)
    assert info.returncode == 0, info.stderr
    assert info.stdout.count("verified") == 5


def test_dataset_and_job_listings(deployed: Path) -> None:
    owner = ChainClient.connect(deployed, key="anvil:1")
    owner.catalog.register("loans", ["id", "amount"], ["string", "int64"], 1234, b"\x09" * 32,
                           5, 1).transact()
    datasets = unseen("chain", "datasets", "--deployment", str(deployed), cwd=deployed.parent)
    assert datasets.returncode == 0, datasets.stderr
    assert "loans" in datasets.stdout and "Northbank" in datasets.stdout
    assert "1,234" in datasets.stdout and "active" in datasets.stdout
    jobs = unseen("chain", "jobs", "--deployment", str(deployed), cwd=deployed.parent)
    assert jobs.returncode == 0, jobs.stderr
    assert "0 of 0 jobs" in jobs.stdout


def test_environment_overrides_the_deployment_flag(deployed: Path, tmp_path: Path) -> None:
    done = unseen("chain", "members", "--deployment", str(tmp_path / "missing.json"),
                  cwd=deployed.parent, env={"UNSEEN_DEPLOYMENT": str(deployed)})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("arguments", "code", "first_words"), [
    (("chain", "members", "--deployment", "nowhere.json"), 1, "DeploymentNotFound: no deployment file at nowhere.json"),
    (("deploy", "--config", "missing.toml"), 2, "ConfigError: consortium file missing.toml does not exist"),
    (("chain", "decode-error", "zz"), 2, "InputError: revert data must be hex"),
    (("chain", "frobnicate"), 2, "usage: unseen chain"),
])
def test_failures_map_to_exit_codes(arguments: tuple[str, ...], code: int, first_words: str,
                                    tmp_path: Path) -> None:
    done = unseen(*arguments, cwd=tmp_path)
    assert done.returncode == code
    assert done.stderr.startswith(first_words), done.stderr


def test_unreachable_node_is_one_line(tmp_path: Path, deployed: Path) -> None:
    done = unseen("chain", "members", "--deployment", str(deployed), "--rpc",
                  f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("RpcUnavailable: cannot reach the chain node at http://127.0.0.1:")


def test_deploy_without_rpc_starts_a_local_chain_that_keeps_running(tmp_path: Path) -> None:
    port = str(free_port())
    try:
        done = unseen("deploy", "--config", str(EXAMPLE_CONFIG), "--port", port, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"local anvil running at http://127.0.0.1:{port}" in done.stdout
        # The chain outlives the command: a later command finds the deployment on it.
        members = unseen("chain", "members", cwd=tmp_path)
        assert members.returncode == 0, members.stderr
        assert "Northbank" in members.stdout
        assert (tmp_path / ".unseen" / "anvil.json").exists()
    finally:
        stopped = unseen("chain", "stop", cwd=tmp_path)
    assert stopped.returncode == 0 and "anvil stopped" in stopped.stdout
    assert (tmp_path / ".unseen" / "anvil-state.json").exists()
