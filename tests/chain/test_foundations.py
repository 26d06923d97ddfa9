"""JSON-RPC batching, key sources and the deployment file format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from offchain.chain.anvil import development_key, free_port
from offchain.chain.deployment import Deployment, deployment_path
from offchain.chain.keys import KEYSTORE_PASSWORD_VARIABLE, load_account
from offchain.chain.rpc import MAX_BATCH_ENTRIES, Rpc, RpcFailure, to_int
from offchain.errors import ConfigError, DeploymentNotFound, RpcError, RpcUnavailable


def test_a_large_batch_is_split_and_answers_stay_in_order(rpc: Rpc) -> None:
    accounts = [Account.create().address for _ in range(MAX_BATCH_ENTRIES * 2 + 10)]
    before = rpc.round_trips

    answers = rpc.batch([("eth_getTransactionCount", [a, "latest"]) for a in accounts])

    assert [to_int(answer) for answer in answers] == [0] * len(accounts)
    assert rpc.round_trips - before == 3


def test_failed_entries_of_a_batch_do_not_fail_the_others(rpc: Rpc) -> None:
    number, failure, chain_id = rpc.batch([("eth_blockNumber", []), ("eth_noSuchMethod", []),
                                           ("eth_chainId", [])])
    assert to_int(number) >= 0 and to_int(chain_id) == 31337
    assert isinstance(failure, RpcFailure) and failure.method == "eth_noSuchMethod"
    with pytest.raises(RpcError, match="eth_noSuchMethod failed"):
        rpc.request("eth_noSuchMethod")


def test_an_unreachable_node_says_how_to_fix_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RpcUnavailable, match=rf"cannot reach the chain node at {url}.*unseen chain start"):
        Rpc(url, timeout=2).request("eth_chainId")
    with pytest.raises(ConfigError, match="unsupported RPC URL 'ftp://x'"):
        Rpc("ftp://x")


def test_key_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = development_key(7)
    expected = Account.from_key(key).address
    assert load_account("anvil:7").address == expected
    monkeypatch.setenv("UNSEEN_TEST_KEY", key)
    assert load_account("env:UNSEEN_TEST_KEY").address == expected

    key_file = tmp_path / "key.hex"
    key_file.write_text(key + "\n")
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users.*chmod 600"):
        load_account(f"file:{key_file}")
    key_file.chmod(0o600)
    assert load_account(f"file:{key_file}").address == expected

    keystore = tmp_path / "key.json"
    keystore.write_text(json.dumps(Account.encrypt(key, "correct horse", iterations=2)))
    keystore.chmod(0o600)
    with pytest.raises(ConfigError, match=KEYSTORE_PASSWORD_VARIABLE):
        load_account(f"keystore:{keystore}")
    monkeypatch.setenv(KEYSTORE_PASSWORD_VARIABLE, "wrong")
    with pytest.raises(ConfigError, match="cannot decrypt"):
        load_account(f"keystore:{keystore}")
    monkeypatch.setenv(KEYSTORE_PASSWORD_VARIABLE, "correct horse")
    assert load_account(f"keystore:{keystore}").address == expected

    with pytest.raises(ConfigError, match="unknown key source scheme 'vault'"):
        load_account("vault:secret/path")


def test_deployment_file_round_trip_and_location_rules(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    contracts = {name: "0x" + f"{index:040x}" for index, name in enumerate(
        ("Consortium", "DataCatalog", "AccessPolicy", "Jobs", "Billing"), start=1)}
    deployment = Deployment(31337, "http://127.0.0.1:8545", "0x" + "aa" * 20, 3,
                            contracts, steps=["contracts"])
    path = deployment.save(tmp_path / "d.json")
    assert Deployment.load(path) == Deployment.from_record(json.loads(path.read_text()))

    monkeypatch.delenv("UNSEEN_DEPLOYMENT", raising=False)
    assert deployment_path(None) == Path(".unseen/deployment.json")
    assert deployment_path("flag.json") == Path("flag.json")
    monkeypatch.setenv("UNSEEN_DEPLOYMENT", str(path))
    assert deployment_path("flag.json") == path  # the environment overrides the flag

    record = json.loads(path.read_text())
    record["version"] = 99
    path.write_text(json.dumps(record))
    with pytest.raises(ConfigError, match="format version 99"):
        Deployment.load(path)
    with pytest.raises(DeploymentNotFound, match="unseen deploy --config"):
        Deployment.load(tmp_path / "absent.json")
