"""Shared pytest fixtures: one anvil chain per test session, state isolated per test.

Fixtures
--------
``anvil`` (session)
    A running :class:`tests.anvil.AnvilNode`: ``anvil.rpc_url``, ``anvil.accounts``
    (20 funded dev accounts with private keys), ``anvil.chain_id`` and helpers
    (``snapshot``, ``revert``, ``advance_time``, ``latest_timestamp``). Started
    lazily by the first test that needs it and stopped at the end of the session.
``w3`` (session)
    A ``web3.Web3`` HTTP client connected to ``anvil``.
``chain_snapshot`` (function)
    Takes an ``evm_snapshot`` before the test and ``evm_revert``s after it, so
    every test sees the chain exactly as the session-scoped fixtures left it.

Deploy once, isolate per test: put deployments in session-scoped fixtures
(which pytest sets up before any function-scoped one), and make the tests that
change state depend on ``chain_snapshot`` (e.g. with an autouse fixture in the
package's ``conftest.py``, as ``tests/contracts/conftest.py`` does).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from tests.anvil import AnvilNode


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    node = AnvilNode.start(accounts=20)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def w3(anvil: AnvilNode) -> Web3:
    client = Web3(Web3.HTTPProvider(anvil.rpc_url, request_kwargs={"timeout": 30}))
    if not client.is_connected():
        raise RuntimeError(f"cannot reach anvil at {anvil.rpc_url}")
    return client


@pytest.fixture
def chain_snapshot(anvil: AnvilNode) -> Iterator[str]:
    snapshot_id = anvil.snapshot()
    try:
        yield snapshot_id
    finally:
        anvil.revert(snapshot_id)
