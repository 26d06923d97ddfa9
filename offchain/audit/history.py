"""Read the whole event history of a deployment, fast, with block timestamps.

The audit needs every event of the five contracts, in chain order, each with
the timestamp of its block (the events carry no time; grants, deadlines and
the charts need one). :class:`ChainHistory` scans ``eth_getLogs`` over block
ranges, several ranges per JSON-RPC batch, and halves a range the node finds
too large, like :class:`~offchain.chain.events.EventCursor`; it keeps its
position in memory and, on every :meth:`ChainHistory.poll`, first checks
that the last block it read is still canonical (raising
:class:`~offchain.errors.ReorgDetected` if not), so the live web page can
follow the chain.

Timestamps come from the logs' ``blockTimestamp`` field where the node sends
it (anvil, geth ≥ 1.16); otherwise from the block headers, fetched in
batches for the blocks that hold events.

Decoding is the chain layer's :class:`~offchain.chain.events.EventDecoder`,
whose word-slicing path keeps the hot lifecycle events at a few
microseconds each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from offchain.chain.artifacts import Artifact
from offchain.chain.deployment import Deployment
from offchain.chain.events import EventDecoder, EventRecord, fetch_logs
from offchain.chain.rpc import Rpc, RpcFailure, to_int
from offchain.errors import InputError, ReorgDetected, RpcError


@dataclass(frozen=True)
class TimedEvent:
    """One decoded event and the timestamp of its block (Unix seconds)."""

    event: EventRecord
    timestamp: int


class ChainHistory:
    """Every event of a deployment from its deployment block on, read incrementally.

    ``confirmations`` keeps the reader that many blocks below the head (0 for
    anvil and instant-finality chains). ``block_range`` is the first range
    size per ``eth_getLogs``; it halves when the node says a range is too large.
    """

    def __init__(self, rpc: Rpc, deployment: Deployment, *, start_block: int | None = None,
                 confirmations: int = 0, block_range: int = 5_000, ranges_per_batch: int = 8,
                 artifacts: Mapping[str, Artifact] | None = None) -> None:
        if confirmations < 0:
            raise InputError(f"confirmations must be >= 0, got {confirmations}")
        if block_range < 1:
            raise InputError(f"block_range must be >= 1, got {block_range}")
        self.rpc = rpc
        self.deployment = deployment
        self.start_block = deployment.deploy_block if start_block is None else start_block
        self.confirmations = confirmations
        self.block_range = block_range
        self.ranges_per_batch = ranges_per_batch
        self.decoder = EventDecoder(deployment.contracts, artifacts)
        self._addresses = list(self.decoder.addresses)
        #: The last block read (number, hash), or None before the first poll.
        self.head: tuple[int, str] | None = None
        self.head_timestamp = 0

    def poll(self, max_blocks: int | None = None) -> list[TimedEvent]:
        """Return the events after the last block read, up to the safe head, in chain order."""
        calls: list[tuple[str, list[Any]]] = [("eth_blockNumber", [])]
        if self.head is not None:
            calls.append(("eth_getBlockByNumber", [hex(self.head[0]), False]))
        outcomes = self.rpc.batch(calls)
        for outcome in outcomes:
            if isinstance(outcome, RpcFailure):
                raise outcome.as_error()
        if self.head is not None:
            block = outcomes[1]
            if block is None or block["hash"] != self.head[1]:
                raise ReorgDetected(
                    f"the audit read up to block {self.head[0]} ({self.head[1]}) but the chain now has "
                    f"{block['hash'] if block else 'no block'} there: a reorganisation deeper than "
                    f"{self.confirmations} confirmations; restart the audit with a larger --confirmations"
                )
        safe = to_int(outcomes[0]) - self.confirmations
        first = self.start_block if self.head is None else self.head[0] + 1
        last = safe if max_blocks is None else min(safe, first + max_blocks - 1)
        if last < first:
            return []
        logs = [log for log in self._logs(first, last) if not log.get("removed")]
        logs.sort(key=lambda log: (to_int(log["blockNumber"]), to_int(log["logIndex"])))
        timestamps = self._timestamps(logs)
        end = self.rpc.request("eth_getBlockByNumber", hex(last), False)
        self.head = (last, end["hash"])
        self.head_timestamp = to_int(end["timestamp"])
        return [TimedEvent(self.decoder.decode(log), timestamps[to_int(log["blockNumber"])]) for log in logs]

    def _timestamps(self, logs: Sequence[Mapping[str, Any]]) -> dict[int, int]:
        stamps: dict[int, int] = {}
        missing: set[int] = set()
        for log in logs:
            number = to_int(log["blockNumber"])
            stamp = log.get("blockTimestamp")
            if stamp is not None:
                stamps[number] = to_int(stamp)
            elif number not in stamps:
                missing.add(number)
        missing -= stamps.keys()
        if missing:
            ordered = sorted(missing)
            blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in ordered])
            for number, block in zip(ordered, blocks, strict=True):
                if isinstance(block, RpcFailure):
                    raise block.as_error()
                if block is None:
                    raise RpcError(f"the node has no block {number}, which holds Unseen events")
                stamps[number] = to_int(block["timestamp"])
        return stamps

    def _logs(self, first: int, last: int) -> list[dict[str, Any]]:
        logs, self.block_range = fetch_logs(self.rpc, self._addresses, first, last, self.block_range,
                                            self.ranges_per_batch)
        return logs
