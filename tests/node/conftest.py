"""Fixtures of the node tests that need a chain.

``node_deployment`` deploys the example consortium (admin anvil:0, members
anvil:1..4, regulator anvil:9) once per session on the session's anvil;
``member`` returns a signing client for member N; every test using them runs
inside ``chain_snapshot``, so the chain is reverted after it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from offchain.chain.client import ChainClient
from offchain.chain.config import ConsortiumConfig
from offchain.chain.deploy import run_deployment
from offchain.chain.deployment import Deployment
from offchain.chain.keys import load_account
from offchain.chain.rpc import Rpc
from offchain.chain.signer import Signer
from tests.anvil import AnvilNode

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "consortium.example.toml"


@pytest.fixture(scope="session")
def node_deployment(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    path = tmp_path_factory.mktemp("node-deployment") / "deployment.json"
    return run_deployment(ConsortiumConfig.load(EXAMPLE), anvil.rpc_url, path).deployment


@pytest.fixture
def member(node_deployment: Deployment, anvil: AnvilNode, chain_snapshot: str) -> Callable[[int], ChainClient]:
    """Return a client signing with anvil account N (1-4 members, 9 regulator, 0 admin)."""

    def make(index: int) -> ChainClient:
        rpc = Rpc(anvil.rpc_url)
        return ChainClient(rpc, node_deployment, Signer(rpc, load_account(f"anvil:{index}")))

    return make
