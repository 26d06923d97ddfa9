"""Deployment: the steps, their effects, idempotency and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offchain.chain.client import ChainClient
from offchain.chain.config import ConsortiumConfig
from offchain.chain.deploy import predicted_address, run_deployment
from offchain.chain.deployment import Deployment
from offchain.chain.keys import load_account
from offchain.chain.models import MemberStatus
from offchain.chain.rpc import Rpc, to_int
from offchain.errors import ConfigError, DeploymentMismatch


def _nonce(rpc: Rpc, address: str) -> int:
    return to_int(rpc.request("eth_getTransactionCount", address, "latest"))


def test_full_deployment_wires_contracts_members_regulator_and_credits(
        rpc: Rpc, consortium: ConsortiumConfig, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    report = run_deployment(consortium, rpc.url, path)

    deployment = Deployment.load(path)
    assert deployment == report.deployment
    assert deployment.steps == ["contracts", "members", "credits"]
    deployment.verify(rpc)
    client = ChainClient(rpc, deployment)
    assert client.consortium.is_jobs_contract(deployment.contracts["Jobs"])
    assert client.consortium.is_admin(load_account(consortium.admin_key).address)
    assert client.consortium.is_regulator(consortium.regulator.address)
    members = client.consortium.members()
    assert [(m.name, m.status, m.endpoint, m.compute_price) for m in members] == [
        (m.name, MemberStatus.ACTIVE, m.endpoint, m.compute_price) for m in consortium.members]
    assert client.billing.balances([m.address for m in consortium.members]) == [100_000] * 4
    assert client.jobs.timings() == (consortium.chain.max_job_horizon,
                                     consortium.chain.confirmation_window)
    # 5 creations + JOBS_ROLE + regulator + 4 admissions + 4 credit issues (timings via constructor)
    assert report.transactions == 15


def test_addresses_are_predicted_from_the_deployer_nonces(rpc: Rpc, consortium: ConsortiumConfig,
                                                          tmp_path: Path) -> None:
    admin = load_account(consortium.admin_key).address
    first = _nonce(rpc, admin)
    deployment = run_deployment(consortium, rpc.url, tmp_path / "d.json", only=["contracts"]).deployment
    assert list(deployment.contracts.values()) == [predicted_address(admin, first + i) for i in range(5)]


def test_running_again_reports_the_existing_deployment_and_sends_nothing(
        rpc: Rpc, consortium: ConsortiumConfig, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    first = run_deployment(consortium, rpc.url, path)
    admin = load_account(consortium.admin_key).address
    nonce_after_first = _nonce(rpc, admin)

    again = run_deployment(consortium, rpc.url, path)

    assert again.reused and again.steps_run == [] and again.transactions == 0
    assert again.deployment.contracts == first.deployment.contracts
    assert _nonce(rpc, admin) == nonce_after_first


def test_an_interrupted_deployment_resumes_with_the_missing_steps(
        rpc: Rpc, consortium: ConsortiumConfig, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    run_deployment(consortium, rpc.url, path, only=["contracts"])

    resumed = run_deployment(consortium, rpc.url, path)

    assert resumed.reused and resumed.steps_run == ["members", "credits"]
    client = ChainClient(rpc, resumed.deployment)
    assert client.billing.balance_of(consortium.members[0].address) == 100_000


def test_a_deployment_file_of_another_chain_is_refused(rpc: Rpc, consortium: ConsortiumConfig,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    run_deployment(consortium, rpc.url, path, only=["contracts"])
    record = json.loads(path.read_text())
    record["chain_id"] = 1
    path.write_text(json.dumps(record))
    with pytest.raises(DeploymentMismatch, match="describes chain 1, but .* is chain 31337"):
        run_deployment(consortium, rpc.url, path)


def test_a_deployment_whose_code_is_gone_is_refused_until_fresh(
        rpc: Rpc, consortium: ConsortiumConfig, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    snapshot = rpc.request("evm_snapshot")
    run_deployment(consortium, rpc.url, path, only=["contracts"])
    rpc.request("evm_revert", snapshot)  # as after restarting anvil without its state

    with pytest.raises(DeploymentMismatch, match="no code at Consortium 0x[0-9a-fA-F]{40}"):
        run_deployment(consortium, rpc.url, path)
    fresh = run_deployment(consortium, rpc.url, path, fresh=True)
    assert fresh.steps_run == ["contracts", "members", "credits"]


def test_a_config_for_another_chain_id_is_refused(rpc: Rpc, tmp_path: Path) -> None:
    config = ConsortiumConfig.parse({"version": 1, "chain": {"chain_id": 5},
                                     "admin": {"key": "anvil:0"}})
    with pytest.raises(ConfigError, match="expects chain id 5 but .* is chain 31337"):
        run_deployment(config, rpc.url, tmp_path / "d.json")


@pytest.mark.parametrize(("document", "message"), [
    ({"version": 2, "admin": {"key": "anvil:0"}}, "version = 2"),
    ({"version": 1}, r"\[admin\] needs key"),
    ({"version": 1, "admin": {"key": "anvil:0"}, "chian": {}}, r"unknown keys \['chian'\]"),
    ({"version": 1, "admin": {"key": "anvil:0"},
      "members": [{"name": "A", "key": "anvil:1", "endpoint": "nohost"}]}, "endpoint must be host:port"),
    ({"version": 1, "admin": {"key": "anvil:0"},
      "members": [{"name": "A", "key": "anvil:1", "address": "0x" + "11" * 20, "endpoint": "h:1"}]},
     "does not match key"),
    ({"version": 1, "admin": {"key": "anvil:0"},
      "members": [{"name": "A", "key": "anvil:1", "endpoint": "h:1", "tls_fingerprint": "abcd"}]},
     "tls_fingerprint must be 32 non-zero bytes"),
    ({"version": 1, "admin": {"key": "anvil:0"},
      "members": [{"name": "A", "key": "anvil:1", "endpoint": "h:1"},
                  {"name": "B", "key": "anvil:1", "endpoint": "h:2"}]}, "appears twice"),
    ({"version": 1, "admin": {"key": "env:UNSEEN_TEST_UNSET_KEY"},
      "members": [{"name": "A", "key": "env:UNSEEN_TEST_UNSET_KEY", "endpoint": "h:1"}]},
     "UNSEEN_TEST_UNSET_KEY is not set"),
])
def test_bad_consortium_files_are_refused_with_the_offending_value(document: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ConsortiumConfig.parse(document, "test.toml")


def test_members_without_fingerprint_get_distinct_provisional_ones(consortium: ConsortiumConfig) -> None:
    fingerprints = {m.fingerprint_or_provisional() for m in consortium.members}
    assert len(fingerprints) == len(consortium.members)
    assert all(len(f) == 32 and f != bytes(32) for f in fingerprints)
