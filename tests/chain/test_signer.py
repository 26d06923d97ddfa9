"""The signer against a real anvil: pipelined sends, nonce resync, dropped transactions."""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from offchain.chain.rpc import Rpc, to_int
from offchain.chain.signer import Signer, TransactionRequest
from offchain.errors import NonceGap, RpcError


def _transfer(to: str, value: int = 1, label: str = "") -> TransactionRequest:
    return TransactionRequest(to=to, data=b"", value=value, description=label or f"transfer to {to}")


def _nonce(rpc: Rpc, address: str, tag: str = "latest") -> int:
    return to_int(rpc.request("eth_getTransactionCount", address, tag))


def test_hundred_transactions_in_flight_all_mined_in_order(rpc: Rpc, keys: list[str]) -> None:
    signer = Signer(rpc, keys[0])
    recipients = [Account.create().address for _ in range(100)]
    start_nonce = _nonce(rpc, signer.address)
    round_trips_before = rpc.round_trips

    sent = signer.send([_transfer(to, value=index + 1) for index, to in enumerate(recipients)])
    receipts = signer.wait(sent)

    assert [tx.nonce for tx in sent] == list(range(start_nonce, start_nonce + 100))
    assert all(receipt.succeeded for receipt in receipts)
    assert _nonce(rpc, signer.address) == start_nonce + 100
    balances = rpc.batch([("eth_getBalance", [to, "latest"]) for to in recipients])
    assert [to_int(balance) for balance in balances] == list(range(1, 101))
    # Pipelining: a handful of round trips for 100 transactions, not several each.
    assert rpc.round_trips - round_trips_before <= 10


def test_send_resyncs_when_another_process_used_the_nonce(rpc: Rpc, keys: list[str]) -> None:
    signer = Signer(rpc, keys[1])
    recipient = Account.create().address
    signer.transact([_transfer(recipient)])
    other_process = Signer(rpc, keys[1])
    other_process.transact([_transfer(recipient) for _ in range(3)])

    receipts = signer.transact([_transfer(recipient) for _ in range(5)])

    assert all(receipt.succeeded for receipt in receipts)
    assert signer.resyncs == 1
    assert to_int(rpc.request("eth_getBalance", recipient, "latest")) == 9


def test_wait_rebroadcasts_a_dropped_transaction_and_closes_the_gap(rpc: Rpc, keys: list[str]) -> None:
    signer = Signer(rpc, keys[2])
    recipient = Account.create().address
    start_nonce = _nonce(rpc, signer.address)
    rpc.request("evm_setAutomine", False)
    sent = signer.send([_transfer(recipient, value=1) for _ in range(5)])
    rpc.request("anvil_dropTransaction", sent[2].hash)
    rpc.request("evm_mine")
    # Only the two transactions before the gap can be mined.
    assert _nonce(rpc, signer.address) == start_nonce + 2
    rpc.request("evm_setIntervalMining", 1)

    receipts = signer.wait(sent, rebroadcast_after=0.3, timeout=30)

    assert all(receipt.succeeded for receipt in receipts)
    # anvil drops the transactions queued behind the gap too; all come back.
    assert signer.rebroadcasts >= 1
    assert _nonce(rpc, signer.address) == start_nonce + 5
    assert to_int(rpc.request("eth_getBalance", recipient, "latest")) == 5
    rpc.request("evm_setIntervalMining", 0)


def test_wait_raises_nonce_gap_when_the_dropped_nonce_was_taken(rpc: Rpc, keys: list[str]) -> None:
    signer = Signer(rpc, keys[3])
    recipient = Account.create().address
    rpc.request("evm_setAutomine", False)
    sent = signer.send([_transfer(recipient, label=f"payment {i}") for i in range(3)])
    rpc.request("anvil_dropTransaction", sent[1].hash)
    # Another process with the same key fills the hole with its own transaction.
    intruder = Signer(rpc, keys[3])
    assert intruder.resync() == sent[1].nonce
    intruder.send([_transfer(Account.create().address, label="intruder")])
    rpc.request("evm_mine")

    with pytest.raises(NonceGap, match=r"payment 1 \(nonce \d+, hash 0x[0-9a-f]{64}\) was dropped"):
        signer.wait(sent, rebroadcast_after=0.0, timeout=30)


def test_unaffordable_transaction_is_refused_before_anything_is_sent(rpc: Rpc, keys: list[str]) -> None:
    signer = Signer(rpc, keys[4])
    start_nonce = _nonce(rpc, signer.address, "pending")
    recipient = Account.create().address
    too_much = to_int(rpc.request("eth_getBalance", signer.address, "latest")) * 2

    with pytest.raises(RpcError, match=r"cannot pay for 2 transactions \(transfer to 0x"):
        signer.send([_transfer(recipient), _transfer(recipient, value=too_much)])

    assert _nonce(rpc, signer.address, "pending") == start_nonce


def test_wait_reports_a_gap_left_by_a_chain_reset(rpc: Rpc, keys: list[str]) -> None:
    signer = Signer(rpc, keys[5])
    recipient = Account.create().address
    snapshot = rpc.request("evm_snapshot")
    signer.transact([_transfer(recipient)])
    rpc.request("evm_revert", snapshot)  # the chain forgets the transaction; the signer does not
    sent = signer.send([_transfer(recipient, label="after reset")])

    with pytest.raises(NonceGap, match=r"wait behind nonce \d+, which none of them fills"):
        signer.wait(sent, rebroadcast_after=0.0, timeout=30)
    # The signer resyncs: the next send goes through.
    assert signer.transact([_transfer(recipient)])[0].succeeded


def test_a_refused_send_in_the_middle_of_a_batch_leaves_no_gap(rpc: Rpc, keys: list[str]) -> None:
    signer = Signer(rpc, keys[6])
    recipient = Account.create().address
    start_nonce = _nonce(rpc, signer.address)
    block_gas_limit = to_int(rpc.request("eth_getBlockByNumber", "latest", False)["gasLimit"])
    # An explicit gas limit above the block's skips simulation; the node refuses it on send.
    oversized = TransactionRequest(recipient, b"", 1, gas=block_gas_limit + 1,
                                   description="oversized transfer")

    with pytest.raises(RpcError, match=r"refused 1 of 4 transactions; first: oversized transfer: "
                                       r".*; 3 others were sent"):
        signer.send([_transfer(recipient), oversized, _transfer(recipient), _transfer(recipient)])

    # The refused nonce was filled, so the three accepted transfers are all mined (the node mines the
    # transactions queued behind the filler on its own schedule: wait for them, within a bound).
    deadline = time.monotonic() + 30
    while _nonce(rpc, signer.address) < start_nonce + 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _nonce(rpc, signer.address) == start_nonce + 4
    assert to_int(rpc.request("eth_getBalance", recipient, "latest")) == 3
    assert signer.transact([_transfer(recipient)])[0].succeeded
