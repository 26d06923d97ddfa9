"""Fixtures of the audit tests: one consortium with a story, on the session's anvil.

``history`` (package scope) deploys the example consortium fresh and plays
:func:`tests.audit.consortium.build_history` once for all audit tests; the
chain is reverted to its state before when the package is done, so other
test packages never see it. ``chain`` (function scope) snapshots the chain
before a test and reverts after it, for tests that change chain state
(suspend, freeze, new jobs, time travel).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from offchain.chain.client import ChainClient
from offchain.chain.rpc import Rpc
from tests.anvil import AnvilNode
from tests.audit.consortium import Consortium, History, build_history, deploy_consortium


@dataclass(frozen=True)
class Story:
    """The deployed consortium and the ids of its jobs."""

    world: Consortium
    jobs: History

    @property
    def reader(self) -> ChainClient:
        """A client without a key: what a regulator's audit reads with."""
        return ChainClient(self.world.rpc, self.world.deployment)


@pytest.fixture(scope="package")
def history(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    rpc = Rpc(anvil.rpc_url)
    before = rpc.request("evm_snapshot")
    try:
        world = deploy_consortium(rpc, tmp_path_factory.mktemp("audit") / "deployment.json")
        yield Story(world, build_history(world))
    finally:
        rpc.request("evm_revert", before)


@pytest.fixture
def chain(history: Story) -> Iterator[Story]:
    """The story, with every chain change of the test reverted afterwards."""
    snapshot = history.world.rpc.request("evm_snapshot")
    try:
        yield history
    finally:
        history.world.rpc.request("evm_revert", snapshot)
        # Signers count nonces locally; after the revert they must read them from the chain again.
        history.world.clients.clear()
