"""Read every event of the Unseen contracts exactly once, across restarts.

An :class:`EventCursor` scans ``eth_getLogs`` of all deployed contracts in
block ranges (several ranges per JSON-RPC batch), decodes each log into an
:class:`EventRecord` (contract, event name, named arguments, block, tx, log
index) and remembers how far its consumer got in a :class:`CursorStore`
(JSON file or SQLite, both provided).

Exactly-once contract: :meth:`EventCursor.consume` hands events to a handler
in chain order and saves the position after each one the handler returned
from; a handler that raises leaves the position on the event before, so the
next run starts with the event that failed. No event is handed out twice
after it was acknowledged and none is skipped. (For effects outside the
store to be exactly-once as well, the consumer keeps them in the same SQLite
database and transaction as the cursor: see :class:`SqliteCursorStore`.)

Reorganisations: the cursor only reads blocks at least ``confirmations``
below the head (0 suits anvil and instant-finality BFT chains such as QBFT;
use more on chains with probabilistic finality), and checks on every poll
that the block it stopped at is still canonical, raising
:class:`~offchain.errors.ReorgDetected` if not.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from eth_utils import to_checksum_address

from offchain.chain import abi as abi_codec
from offchain.chain.artifacts import Artifact, load_artifact
from offchain.chain.models import SOLIDITY_ENUMS
from offchain.chain.rpc import Rpc, RpcFailure, to_bytes, to_int
from offchain.errors import DeploymentMismatch, InputError, ReorgDetected, RpcError

#: A log index beyond any real one: the position "after every event of this block".
END_OF_BLOCK = 2**62


WORD = 32  # bytes of an ABI word


@dataclass(frozen=True)
class EventRecord:
    """One decoded event, located on the chain."""

    contract: str
    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    transaction_hash: str
    log_index: int
    address: str

    @property
    def position(self) -> CursorPosition:
        """The cursor position just after this event."""
        return CursorPosition(self.block_number, self.log_index, self.block_hash)


@dataclass(frozen=True, order=True)
class CursorPosition:
    """How far a consumer got: every event up to and including ``(block, log_index)``.

    ``log_index == END_OF_BLOCK`` means the whole block was processed.
    ``block_hash`` lets the cursor notice when that block was reorganised away.
    """

    block_number: int
    log_index: int
    block_hash: str | None = None

    def includes(self, block_number: int, log_index: int) -> bool:
        """Return whether the event at ``(block_number, log_index)`` was already processed."""
        return (block_number, log_index) <= (self.block_number, self.log_index)


class CursorStore(Protocol):
    """Where cursors keep their positions, by cursor name."""

    def load(self, name: str) -> CursorPosition | None:
        """Return the saved position of cursor ``name``, or None if never saved."""
        ...

    def save(self, name: str, position: CursorPosition) -> None:
        """Persist the position of cursor ``name`` durably."""
        ...


class JsonFileCursorStore:
    """Positions in one small JSON file, rewritten atomically on each save."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as exc:
            raise InputError(f"cursor file {self.path} is corrupt: {exc}; delete it to rescan") from exc

    def load(self, name: str) -> CursorPosition | None:
        record = self._read().get(name)
        return CursorPosition(**record) if record else None

    def save(self, name: str, position: CursorPosition) -> None:
        records = self._read()
        records[name] = asdict(position)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w") as handle:
            handle.write(json.dumps(records, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


class SqliteCursorStore:
    """Positions in a SQLite table ``event_cursors``.

    Pass a path, or the consumer's own connection with ``autocommit=False`` to
    save positions inside the consumer's transactions (then the consumer
    commits, making its effects and the position durable together).
    """

    def __init__(self, database: str | os.PathLike[str] | sqlite3.Connection,
                 autocommit: bool = True) -> None:
        if isinstance(database, sqlite3.Connection):
            self.connection = database
        else:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.connection = sqlite3.connect(str(database))
        self.autocommit = autocommit
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS event_cursors ("
            " name TEXT PRIMARY KEY, block_number INTEGER NOT NULL,"
            " log_index INTEGER NOT NULL, block_hash TEXT)"
        )
        if autocommit:
            self.connection.commit()

    def load(self, name: str) -> CursorPosition | None:
        row = self.connection.execute(
            "SELECT block_number, log_index, block_hash FROM event_cursors WHERE name = ?", (name,)
        ).fetchone()
        return CursorPosition(*row) if row else None

    def save(self, name: str, position: CursorPosition) -> None:
        self.connection.execute(
            "INSERT INTO event_cursors (name, block_number, log_index, block_hash)"
            " VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
            " block_number = excluded.block_number, log_index = excluded.log_index,"
            " block_hash = excluded.block_hash",
            (name, position.block_number, position.log_index, position.block_hash),
        )
        if self.autocommit:
            self.connection.commit()


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


class EventDecoder:
    """Decode raw logs of known contracts into :class:`EventRecord` values.

    Events whose fields are all static words (and ``Metered``'s two arrays)
    are decoded by slicing 32-byte words, with checksummed addresses cached:
    a few microseconds each instead of a generic ``eth_abi`` pass (the
    audit decodes every event of a deployment). Other events (strings, the
    ``JobRequested`` struct) go through the generic ABI decoder, which
    :meth:`decode_generic` applies to any event.
    """

    def __init__(self, contracts: Mapping[str, str], artifacts: Mapping[str, Artifact] | None = None):
        self.addresses = {to_checksum_address(address): name for name, address in contracts.items()}
        self._lower = {address.lower(): address for address in self.addresses}
        self._plans: dict[tuple[str, bytes], _Plan] = {}
        self.events: dict[tuple[str, bytes], dict[str, Any]] = {}
        for address, name in self.addresses.items():
            artifact = artifacts[name] if artifacts else load_artifact(name)
            for event in artifact.elements("event"):
                if not event.get("anonymous"):
                    topic = abi_codec.event_topic(event)
                    self._plans[(address, topic)] = _Plan(event)
                    self.events[(address, topic)] = event
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

    def decode_generic(self, log: Mapping[str, Any]) -> EventRecord:
        """Decode one raw log with the generic ABI decoder (what :meth:`decode` must equal)."""
        address = to_checksum_address(log["address"])
        topics = [to_bytes(topic) for topic in log["topics"]]
        if address not in self.addresses:
            raise InputError(f"log from {address}, which is not an Unseen contract")
        event = self.events.get((address, topics[0])) if topics else None
        if event is None:
            raise DeploymentMismatch(
                f"{self.addresses[address]} at {address} emitted an event with topic "
                f"0x{topics[0].hex() if topics else ''} that build/contracts does not declare: the "
                "deployed contracts differ from the compiled ones"
            )
        decoded = abi_codec.decode_log(event, topics, to_bytes(log["data"]), SOLIDITY_ENUMS)
        return EventRecord(
            contract=self.addresses[address],
            name=decoded.name,
            args=decoded.args,
            block_number=to_int(log["blockNumber"]),
            block_hash=log["blockHash"],
            transaction_hash=log["transactionHash"],
            log_index=to_int(log["logIndex"]),
            address=address,
        )


class EventCursor:
    """Resumable reader of all events of the Unseen contracts.

    ``contracts`` maps contract name to address (a deployment's
    ``contracts``); ``start_block`` is where a never-saved cursor begins (the
    deployment block). ``block_range`` is the first range size per
    ``eth_getLogs``; it halves when the node says a range is too large.
    """

    def __init__(
        self,
        rpc: Rpc,
        contracts: Mapping[str, str],
        store: CursorStore,
        *,
        name: str = "events",
        start_block: int = 0,
        confirmations: int = 0,
        block_range: int = 2_000,
        ranges_per_batch: int = 8,
        artifacts: Mapping[str, Artifact] | None = None,
    ) -> None:
        if confirmations < 0:
            raise InputError(f"confirmations must be >= 0, got {confirmations}")
        if block_range < 1:
            raise InputError(f"block_range must be >= 1, got {block_range}")
        self.rpc = rpc
        self.store = store
        self.name = name
        self.start_block = start_block
        self.confirmations = confirmations
        self.block_range = block_range
        self.ranges_per_batch = ranges_per_batch
        self.decoder = EventDecoder(contracts, artifacts)
        self._addresses = list(self.decoder.addresses)

    @property
    def position(self) -> CursorPosition:
        """The saved position, or the one just before ``start_block``."""
        saved = self.store.load(self.name)
        if saved is not None:
            return saved
        return CursorPosition(self.start_block - 1, END_OF_BLOCK, None)

    def poll(self, max_blocks: int | None = None) -> tuple[list[EventRecord], CursorPosition]:
        """Return the events after the saved position, and how far they reach.

        Nothing is saved: pass each event (or the returned position, once all
        are handled) to :meth:`advance`. The returned position is the end of
        the last scanned block: the safe head, or ``max_blocks`` further.
        """
        position = self.position
        safe_head = self._safe_head(position)
        if safe_head is None:
            return [], position
        first = position.block_number if position.log_index != END_OF_BLOCK else position.block_number + 1
        first = max(first, self.start_block)
        last = safe_head["number"]
        if max_blocks is not None:
            last = min(last, first + max_blocks - 1)
        if first > last:
            return [], position
        logs = self._logs(first, last)
        events = []
        for log in logs:
            if log.get("removed"):
                continue
            record = self.decoder.decode(log)
            if position.includes(record.block_number, record.log_index):
                continue
            events.append(record)
        events.sort(key=lambda record: (record.block_number, record.log_index))
        end_hash = safe_head["hash"] if last == safe_head["number"] else self._block_hash(last)
        return events, CursorPosition(last, END_OF_BLOCK, end_hash)

    def advance(self, position: CursorPosition) -> None:
        """Save ``position`` (an event's, or the end returned by :meth:`poll`)."""
        self.store.save(self.name, position)

    def consume(self, handler: Callable[[EventRecord], None], max_blocks: int | None = None) -> int:
        """Hand every new event to ``handler`` in order, saving after each; return the count.

        If ``handler`` raises, the position stays on the event before and the
        exception propagates; the next call starts with the failed event.
        """
        events, end = self.poll(max_blocks)
        for event in events:
            handler(event)
            self.advance(event.position)
        if end != self.position:
            self.advance(end)
        return len(events)

    # -- chain access ---------------------------------------------------------

    def _safe_head(self, position: CursorPosition) -> dict[str, Any] | None:
        """Return the newest block to read (number, hash), checking the saved block."""
        calls: list[tuple[str, list[Any]]] = [("eth_blockNumber", [])]
        check = position.block_hash is not None and position.block_number >= 0
        if check:
            calls.append(("eth_getBlockByNumber", [hex(position.block_number), False]))
        outcomes = self.rpc.batch(calls)
        for outcome in outcomes:
            if isinstance(outcome, RpcFailure):
                raise outcome.as_error()
        if check:
            block = outcomes[1]
            if block is None or block["hash"] != position.block_hash:
                raise ReorgDetected(
                    f"cursor {self.name!r} stopped at block {position.block_number} "
                    f"({position.block_hash}) but the chain now has "
                    f"{block['hash'] if block else 'no block'} there: a reorganisation deeper than "
                    f"{self.confirmations} confirmations; raise --confirmations and rebuild "
                    "the consumer's state from the deployment block"
                )
        head = to_int(outcomes[0]) - self.confirmations
        if head < 0:
            return None
        block = self.rpc.request("eth_getBlockByNumber", hex(head), False)
        return {"number": head, "hash": block["hash"]}

    def _block_hash(self, number: int) -> str:
        return self.rpc.request("eth_getBlockByNumber", hex(number), False)["hash"]

    def _logs(self, first: int, last: int) -> list[dict[str, Any]]:
        """Return the raw logs of all contracts in ``[first, last]``, range by range."""
        logs, self.block_range = fetch_logs(self.rpc, self._addresses, first, last, self.block_range,
                                            self.ranges_per_batch)
        return logs


def fetch_logs(rpc: Rpc, addresses: list[str], first: int, last: int, block_range: int,
               ranges_per_batch: int) -> tuple[list[dict[str, Any]], int]:
    """Return the raw logs of ``addresses`` in blocks ``[first, last]`` and the block range that worked.

    Ranges of ``block_range`` blocks go ``ranges_per_batch`` to a JSON-RPC
    batch; a range the node refuses as too large is halved and retried,
    and the halved size is returned for the caller's next call.
    """
    ranges = []
    start = first
    while start <= last:
        end = min(start + block_range - 1, last)
        ranges.append((start, end))
        start = end + 1
    logs: list[dict[str, Any]] = []
    while ranges:
        chunk, ranges = ranges[:ranges_per_batch], ranges[ranges_per_batch:]
        outcomes = rpc.batch([
            ("eth_getLogs", [{"address": addresses, "fromBlock": hex(a), "toBlock": hex(b)}]) for a, b in chunk
        ])
        retry: list[tuple[int, int]] = []
        for (a, b), outcome in zip(chunk, outcomes, strict=True):
            if isinstance(outcome, RpcFailure):
                if b > a and _range_too_large(outcome):
                    middle = (a + b) // 2
                    retry += [(a, middle), (middle + 1, b)]
                    block_range = max(1, (b - a + 1) // 2)
                    continue
                raise RpcError(
                    f"eth_getLogs for blocks {a}..{b} failed: {outcome.message}",
                    code=outcome.code,
                )
            logs.extend(outcome)
        ranges = retry + ranges
    return logs, block_range


def _range_too_large(failure: RpcFailure) -> bool:
    message = failure.message.lower()
    return any(marker in message for marker in (
        "range", "too many", "limit", "exceed", "response size", "10000 results",
    ))


def decode_receipt_events(receipt_logs: Sequence[Mapping[str, Any]], decoder: EventDecoder
                          ) -> list[EventRecord]:
    """Decode the logs of one transaction receipt (logs of unknown addresses skipped)."""
    return [decoder.decode(log) for log in receipt_logs
            if to_checksum_address(log["address"]) in decoder.addresses]


class MemoryCursorStore:
    """Positions in memory only: for one-off reads such as ``unseen chain events``."""

    def __init__(self) -> None:
        self.positions: dict[str, CursorPosition] = {}

    def load(self, name: str) -> CursorPosition | None:
        return self.positions.get(name)

    def save(self, name: str, position: CursorPosition) -> None:
        self.positions[name] = position
