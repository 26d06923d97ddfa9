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

Decoding: :class:`FastEventDecoder` produces the same
:class:`~offchain.chain.events.EventRecord` values as the chain layer's
generic ABI decoder, but decodes events whose fields are all static words
(and ``Metered``'s two arrays) by slicing 32-byte words, with checksummed
addresses cached: the hot lifecycle events cost a few microseconds each
instead of a generic ``eth_abi`` pass. Other events (strings, the
``JobRequested`` struct) go through the generic decoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from offchain.chain import abi as abi_codec
from offchain.chain.artifacts import Artifact, load_artifact
from offchain.chain.deployment import Deployment
from offchain.chain.events import EventRecord, fetch_logs
from offchain.chain.models import SOLIDITY_ENUMS
from offchain.chain.rpc import Rpc, RpcFailure, to_bytes, to_int
from offchain.errors import DeploymentMismatch, InputError, ReorgDetected, RpcError

WORD = 32


@dataclass(frozen=True)
class TimedEvent:
    """One decoded event and the timestamp of its block (Unix seconds)."""

    event: EventRecord
    timestamp: int


class _Plan:
    """How to decode one event: field kinds in ABI order, or None for the generic path."""

    __slots__ = ("abi", "name", "fields", "fast")

    def __init__(self, event: Mapping[str, Any]) -> None:
        self.abi = event
        self.name = event["name"]
        self.fields: list[tuple[str, str, bool]] = []
        self.fast = True
        for index, parameter in enumerate(event.get("inputs", ())):
            kind = abi_codec.type_string(parameter)
            name = parameter.get("name") or f"_{index}"
            indexed = bool(parameter.get("indexed"))
            self.fields.append((name, kind, indexed))
            if abi_codec.enum_name(parameter) is not None:
                self.fast = False
            elif not _is_word(kind) and not (not indexed and kind in ("address[]", "uint256[]")):
                self.fast = False
        # Dynamic arrays are decoded by hand only for the all-static-head layout of Metered.
        dynamic = [kind for _, kind, indexed in self.fields if not indexed and kind.endswith("[]")]
        if dynamic and self.fast and self.name != "Metered":
            self.fast = False


def _is_word(kind: str) -> bool:
    return kind == "address" or kind == "bool" or kind == "bytes32" or kind.startswith(("uint", "int"))


class FastEventDecoder:
    """Decode raw logs of the deployment's contracts into :class:`EventRecord` values."""

    def __init__(self, contracts: Mapping[str, str], artifacts: Mapping[str, Artifact] | None = None):
        self.addresses = {to_checksum_address(address): name for name, address in contracts.items()}
        self._lower = {address.lower(): address for address in self.addresses}
        self._plans: dict[tuple[str, bytes], _Plan] = {}
        for address, name in self.addresses.items():
            artifact = artifacts[name] if artifacts else load_artifact(name)
            for event in artifact.elements("event"):
                if not event.get("anonymous"):
                    self._plans[(address, abi_codec.event_topic(event))] = _Plan(event)
        self._checksums: dict[bytes, str] = {}

    def _address(self, word: bytes) -> str:
        raw = word[-20:]
        cached = self._checksums.get(raw)
        if cached is None:
            cached = self._checksums[raw] = to_checksum_address(raw)
        return cached

    def _word(self, kind: str, word: bytes) -> Any:
        if kind == "address":
            return self._address(word)
        if kind == "bytes32":
            return bytes(word)
        if kind == "bool":
            return word[-1] == 1
        if kind.startswith("int"):
            return int.from_bytes(word, "big", signed=True)
        return int.from_bytes(word, "big")

    def decode(self, log: Mapping[str, Any]) -> EventRecord:
        """Decode one raw log (as ``eth_getLogs`` returns it)."""
        address = self._lower.get(log["address"].lower())
        if address is None:
            raise InputError(f"log from {log['address']}, which is not an Unseen contract")
        topics = [to_bytes(topic) for topic in log["topics"]]
        plan = self._plans.get((address, topics[0])) if topics else None
        if plan is None:
            raise DeploymentMismatch(
                f"{self.addresses[address]} at {address} emitted an event with topic "
                f"0x{topics[0].hex() if topics else ''} that build/contracts does not declare: the "
                "deployed contracts differ from the compiled ones"
            )
        data = to_bytes(log["data"])
        if plan.fast:
            args = self._decode_fast(plan, topics, data)
        else:
            args = abi_codec.decode_log(plan.abi, topics, data, SOLIDITY_ENUMS).args
        return EventRecord(
            contract=self.addresses[address],
            name=plan.name,
            args=args,
            block_number=to_int(log["blockNumber"]),
            block_hash=log["blockHash"],
            transaction_hash=log["transactionHash"],
            log_index=to_int(log["logIndex"]),
            address=address,
        )

    def _decode_fast(self, plan: _Plan, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
        indexed_count = sum(1 for _, _, indexed in plan.fields if indexed)
        if len(topics) - 1 != indexed_count:
            raise InputError(
                f"log of {plan.name} has {len(topics) - 1} indexed topics, its ABI declares {indexed_count}"
            )
        args: dict[str, Any] = {}
        topic_position = 1
        head = 0
        for name, kind, indexed in plan.fields:
            if indexed:
                args[name] = self._word(kind, topics[topic_position])
                topic_position += 1
                continue
            word = data[head: head + WORD]
            if len(word) != WORD:
                raise InputError(f"log of {plan.name} has {len(data)} data bytes; too short for {name}")
            if kind.endswith("[]"):
                args[name] = self._array(kind[:-2], data, int.from_bytes(word, "big"), plan.name)
            else:
                args[name] = self._word(kind, word)
            head += WORD
        return args

    def _array(self, element: str, data: bytes, offset: int, event: str) -> list[Any]:
        if offset + WORD > len(data):
            raise InputError(f"log of {event}: array offset {offset} beyond {len(data)} data bytes")
        length = int.from_bytes(data[offset: offset + WORD], "big")
        start = offset + WORD
        if start + length * WORD > len(data):
            raise InputError(f"log of {event}: array of {length} words overruns {len(data)} data bytes")
        return [self._word(element, data[start + i * WORD: start + (i + 1) * WORD]) for i in range(length)]


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
        self.decoder = FastEventDecoder(deployment.contracts, artifacts)
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
