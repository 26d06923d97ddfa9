"""Event cursors: typed records, resuming exactly where they stopped, reorg checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from offchain.chain.client import ChainClient
from offchain.chain.deployment import Deployment
from offchain.chain.events import (
    CursorPosition,
    CursorStore,
    EventCursor,
    JsonFileCursorStore,
    SqliteCursorStore,
)
from offchain.chain.models import MemberStatus
from offchain.chain.rpc import Rpc, to_int
from offchain.errors import ReorgDetected


def _stores(tmp_path: Path) -> dict[str, Callable[[], CursorStore]]:
    return {
        "json": lambda: JsonFileCursorStore(tmp_path / "cursors.json"),
        "sqlite": lambda: SqliteCursorStore(tmp_path / "cursors.sqlite"),
    }


def _issue(admin: ChainClient, amounts: list[int]) -> None:
    member = admin.consortium.members()[0].address
    admin.transact_all([admin.billing.issue(member, amount) for amount in amounts])


def _head(rpc: Rpc) -> int:
    return to_int(rpc.request("eth_blockNumber"))


def test_records_are_typed_and_cover_the_deployment(rpc: Rpc, deployment: Deployment,
                                                    tmp_path: Path) -> None:
    cursor = EventCursor(rpc, deployment.contracts, JsonFileCursorStore(tmp_path / "c.json"),
                         start_block=deployment.deploy_block)
    events, end = cursor.poll()

    admitted = [e for e in events if e.name == "MemberAdmitted"]
    assert [e.args["name"] for e in admitted] == [
        "Northbank", "Eastern Mutual Insurance", "St. Clare Hospital", "Westland Credit Union"]
    assert all(e.contract == "Consortium" and e.address == deployment.contracts["Consortium"]
               for e in admitted)
    issued = [e for e in events if e.name == "CreditsIssued"]
    assert [e.args["amount"] for e in issued] == [100_000] * 4
    positions = [(e.block_number, e.log_index) for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert end.block_number == _head(rpc)
    assert MemberStatus.ACTIVE.name == "ACTIVE"  # enums decode by ABI internalType elsewhere


@pytest.mark.parametrize("store_kind", ["json", "sqlite"])
def test_cursor_resumes_after_restart_without_duplicates_or_losses(
        store_kind: str, rpc: Rpc, deployment: Deployment, client_for: Callable[[int], ChainClient],
        tmp_path: Path) -> None:
    make_store = _stores(tmp_path)[store_kind]
    admin = client_for(0)
    start = _head(rpc) + 1
    seen: list[tuple[int, int, int]] = []

    def handle(event):  # noqa: ANN001, ANN202
        if event.name == "CreditsIssued":
            seen.append((event.block_number, event.log_index, event.args["amount"]))

    _issue(admin, [1, 2, 3])
    first = EventCursor(rpc, deployment.contracts, make_store(), start_block=start, block_range=1)
    assert first.consume(handle) == 3
    _issue(admin, [4, 5])
    # A new process: new cursor object, same store.
    second = EventCursor(rpc, deployment.contracts, make_store(), start_block=start, block_range=2)
    assert second.consume(handle) == 2
    assert second.consume(handle) == 0

    assert [amount for _, _, amount in seen] == [1, 2, 3, 4, 5]
    assert len(set(seen)) == 5


@pytest.mark.parametrize("store_kind", ["json", "sqlite"])
def test_handler_failure_leaves_the_failed_event_for_the_next_run(
        store_kind: str, rpc: Rpc, deployment: Deployment, client_for: Callable[[int], ChainClient],
        tmp_path: Path) -> None:
    make_store = _stores(tmp_path)[store_kind]
    admin = client_for(0)
    start = _head(rpc) + 1
    _issue(admin, [10, 20, 30, 40])
    handled: list[int] = []

    def crash_on_thirty(event):  # noqa: ANN001, ANN202
        if event.args["amount"] == 30:
            raise RuntimeError("node crashed")
        handled.append(event.args["amount"])

    cursor = EventCursor(rpc, deployment.contracts, make_store(), start_block=start)
    with pytest.raises(RuntimeError, match="node crashed"):
        cursor.consume(crash_on_thirty)
    restarted = EventCursor(rpc, deployment.contracts, make_store(), start_block=start)
    restarted.consume(lambda event: handled.append(event.args["amount"]))

    assert handled == [10, 20, 30, 40]


def test_events_within_the_confirmation_depth_wait(rpc: Rpc, deployment: Deployment,
                                                   client_for: Callable[[int], ChainClient],
                                                   tmp_path: Path) -> None:
    admin = client_for(0)
    start = _head(rpc) + 1
    _issue(admin, [1])
    _issue(admin, [2])
    cursor = EventCursor(rpc, deployment.contracts, JsonFileCursorStore(tmp_path / "c.json"),
                         start_block=start, confirmations=1)
    amounts: list[int] = []
    cursor.consume(lambda event: amounts.append(event.args["amount"]))
    assert amounts == [1]
    rpc.request("evm_mine")
    cursor.consume(lambda event: amounts.append(event.args["amount"]))
    assert amounts == [1, 2]


def test_a_reorganised_block_under_the_cursor_is_detected(rpc: Rpc, deployment: Deployment,
                                                          client_for: Callable[[int], ChainClient],
                                                          tmp_path: Path) -> None:
    admin = client_for(0)
    store = JsonFileCursorStore(tmp_path / "c.json")
    cursor = EventCursor(rpc, deployment.contracts, store, start_block=deployment.deploy_block)
    snapshot = rpc.request("evm_snapshot")
    _issue(admin, [1])
    cursor.consume(lambda event: None)
    stopped_at = store.load("events")
    assert isinstance(stopped_at, CursorPosition)
    # Replace the block the cursor stopped at by a different one at the same height.
    rpc.request("evm_revert", snapshot)
    _issue(client_for(0), [2])  # a new signer: the reverted chain forgot our last nonce

    with pytest.raises(ReorgDetected, match=f"stopped at block {stopped_at.block_number}"):
        cursor.consume(lambda event: None)
