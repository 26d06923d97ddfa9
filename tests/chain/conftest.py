"""Fixtures for the chain-layer tests.

The session's shared anvil (``anvil`` from ``tests/conftest.py``; its URL as
``anvil_url``), one deployment of the consortium in
``deploy/consortium.example.toml`` on it (``deployment``), and per test a
snapshot that is reverted afterwards (``rpc``), so tests never see each
other's transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from offchain.chain.anvil import development_key
from offchain.chain.client import ChainClient
from offchain.chain.config import ConsortiumConfig
from offchain.chain.deploy import run_deployment
from offchain.chain.deployment import Deployment
from offchain.chain.rpc import Rpc
from offchain.chain.signer import Signer
from tests.anvil import AnvilNode

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "deploy" / "consortium.example.toml"


@pytest.fixture(scope="session")
def anvil_url(anvil: AnvilNode) -> str:
    """The RPC URL of the session's anvil (automine, 20 development accounts)."""
    return anvil.rpc_url


@pytest.fixture(scope="session")
def consortium() -> ConsortiumConfig:
    """The example consortium: admin anvil:0, members anvil:1..4, regulator anvil:9."""
    return ConsortiumConfig.load(EXAMPLE_CONFIG)


@pytest.fixture(scope="session")
def deployment(anvil_url: str, consortium: ConsortiumConfig,
               tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """The example consortium deployed once per session."""
    path = tmp_path_factory.mktemp("deployment") / "deployment.json"
    return run_deployment(consortium, anvil_url, path).deployment


@pytest.fixture
def rpc(anvil_url: str) -> Iterator[Rpc]:
    """An RPC connection; the chain is reverted to its state before the test afterwards."""
    connection = Rpc(anvil_url)
    snapshot = connection.request("evm_snapshot")
    yield connection
    connection.request("evm_setIntervalMining", 0)
    connection.request("evm_setAutomine", True)
    connection.request("evm_revert", snapshot)


@pytest.fixture
def keys() -> list[str]:
    """Private keys of anvil's development accounts 0..19."""
    return [development_key(index) for index in range(20)]


@pytest.fixture
def client_for(rpc: Rpc, deployment: Deployment, keys: list[str]) -> Callable[[int], ChainClient]:
    """Return a client signing with anvil account N (0 admin, 1-4 members, 9 regulator)."""

    def make(index: int) -> ChainClient:
        return ChainClient(rpc, deployment, Signer(rpc, keys[index]))

    return make
