"""Fixtures for the chain-layer tests: one anvil per session, a snapshot per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from offchain.chain.anvil import AnvilProcess, development_key
from offchain.chain.rpc import Rpc


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """The RPC URL of an anvil started for this test session (automine)."""
    with AnvilProcess() as anvil:
        yield anvil.url


@pytest.fixture
def rpc(anvil_url: str) -> Iterator[Rpc]:
    """An RPC connection; the chain is reverted to its state before the test afterwards."""
    connection = Rpc(anvil_url)
    snapshot = connection.request("evm_snapshot")
    yield connection
    connection.request("evm_setAutomine", True)
    connection.request("evm_revert", snapshot)


@pytest.fixture
def keys() -> list[str]:
    """Private keys of anvil's development accounts 0..9."""
    return [development_key(index) for index in range(10)]
