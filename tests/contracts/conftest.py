"""Fixtures for the contract tests: one deployment and one populated consortium per session.

``deployment`` deploys the five contracts once; ``world`` then builds the
consortium of ``tests/contracts/scenario.py`` (members, two datasets, grants,
column levels, credits), also once per session. Every test runs inside
``chain_snapshot`` (autouse here), so it starts from exactly that state and its
transactions are reverted afterwards.
"""

from __future__ import annotations

import pytest
from web3 import Web3

from tests.anvil import AnvilNode
from tests.contracts.helpers import Deployment, deploy
from tests.contracts.scenario import HORIZON, WINDOW, World, build_world


@pytest.fixture(scope="session")
def deployment(anvil: AnvilNode, w3: Web3) -> Deployment:
    return deploy(w3, anvil.accounts[0].address, HORIZON, WINDOW)


@pytest.fixture(scope="session")
def world(anvil: AnvilNode, deployment: Deployment) -> World:
    return build_world(anvil, deployment)


@pytest.fixture(autouse=True)
def _isolated(world: World, chain_snapshot: str) -> None:
    """Every contract test starts from the session's populated consortium."""
