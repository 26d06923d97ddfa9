"""``ChainCatalog``: the planners' :class:`~offchain.programs.base.Catalog`, answered by the chain.

Datasets are named ``member.table`` (the member's registered name, compared
without regard to case, then the dataset name) or by id. The schema of a
dataset is not in its record but in its ``DatasetRegistered`` event; it never
changes, so it is read once and cached.

A catalog answers for one chain state: ``block="latest"`` at the requester,
or the block of a job's request at the nodes that re-derive its plan, so the
requester, the owners and the compute nodes plan against the same row
counts and levels even if a dataset is republished meanwhile. One instance
caches what it read; make a new one for a newer state.
"""

from __future__ import annotations

import threading
from typing import Any

from eth_utils import is_address, to_checksum_address

from offchain.chain import abi as abi_codec
from offchain.chain.client import ChainClient
from offchain.data.schema import Schema
from offchain.errors import ChainError, InputError
from offchain.programs.base import DatasetInfo
from offchain.vocabulary import ConstraintLevel

#: On-chain column types that the local data layer reads as a wider type.
_WIDENED_TYPES = {"int32": "int64", "float32": "float64"}

_SCHEMAS: dict[tuple, Schema] = {}
_SCHEMAS_LOCK = threading.Lock()


class ChainCatalog:
    """Datasets and column levels as the chain records them at ``block``."""

    def __init__(self, client: ChainClient, block: str | int = "latest") -> None:
        self.client = client
        self.block = block
        self._members: dict[str, str] | None = None  # lower-case name -> address
        self._names: dict[str, str] = {}  # address -> name
        self._datasets: dict[int, DatasetInfo] = {}
        self._levels: dict[tuple[int, int, str], ConstraintLevel] = {}

    # -- Catalog ---------------------------------------------------------------

    def dataset(self, reference: str | int) -> DatasetInfo:
        """Return the dataset ``member.table`` or with this id; raise ``InputError`` if unknown."""
        if isinstance(reference, int) or (isinstance(reference, str) and reference.isdigit()):
            return self.dataset_by_id(int(reference))
        if not isinstance(reference, str) or "." not in reference:
            raise InputError(
                f"a dataset is named member.table (e.g. \"Northbank.loans\") or by id, got {reference!r}"
            )
        member, _, table = reference.rpartition(".")
        owner = self.member_address(member)
        (dataset_id,) = self._views([("DataCatalog", "datasetIdByName", (owner, table))])
        if dataset_id == 0:
            (ids,) = self._views([("DataCatalog", "datasetsOf", (owner,))])
            names = [self.dataset_by_id(i).name for i in ids]
            raise InputError(
                f"{self.member_name(owner)} has no dataset named {table!r}; its datasets: "
                f"{', '.join(names) or 'none'}"
            )
        return self.dataset_by_id(dataset_id)

    def level(self, dataset_id: int, column: str, grantee: str) -> ConstraintLevel:
        """Return the effective level of ``column`` of ``dataset_id`` for ``grantee`` (an address)."""
        dataset = self.dataset_by_id(dataset_id)
        column_index = dataset.schema.index(column)
        key = (dataset_id, column_index, to_checksum_address(grantee))
        if key not in self._levels:
            (level,) = self._views([("AccessPolicy", "effectiveLevel", key)])
            self._levels[key] = ConstraintLevel(level)
        return self._levels[key]

    # -- members ---------------------------------------------------------------

    def member_address(self, member: str) -> str:
        """Return the address of the member called ``member`` (or given as an address)."""
        if is_address(member):
            return to_checksum_address(member)
        members = self._load_members()
        found = members.get(member.strip().lower())
        if found is None:
            raise InputError(
                f"no member named {member!r}; members: {', '.join(sorted(self._names.values()))}"
            )
        return found

    def member_name(self, address: str) -> str:
        """Return the registered name of the member at ``address`` (the address if unknown)."""
        self._load_members()
        return self._names.get(to_checksum_address(address), to_checksum_address(address))

    def _load_members(self) -> dict[str, str]:
        if self._members is None:
            (addresses,) = self._views([("Consortium", "members", ())])
            records = self._views([("Consortium", "member", (a,)) for a in addresses])
            self._names = {to_checksum_address(a): r["name"] for a, r in zip(addresses, records, strict=True)}
            self._members = {name.lower(): address for address, name in self._names.items()}
        return self._members

    # -- datasets ---------------------------------------------------------------

    def dataset_by_id(self, dataset_id: int) -> DatasetInfo:
        """Return dataset ``dataset_id``; raise ``InputError`` if no dataset has this id."""
        if dataset_id not in self._datasets:
            (count,) = self._views([("DataCatalog", "datasetCount", ())])
            if not 1 <= dataset_id <= count:
                raise InputError(
                    f"no dataset has id {dataset_id}; ids run from 1 to {count}"
                )
            (record,) = self._views([("DataCatalog", "dataset", (dataset_id,))])
            self._datasets[dataset_id] = DatasetInfo(
                dataset_id=dataset_id,
                owner=to_checksum_address(record["owner"]),
                owner_name=self.member_name(record["owner"]),
                name=record["name"],
                schema=self.schema(dataset_id, bytes(record["schemaHash"])),
                row_count=int(record["rowCount"]),
                fingerprint=bytes(record["fingerprint"]),
                version=int(record["version"]),
                active=bool(record["active"]) and not bool(record["frozen"]),
            )
        return self._datasets[dataset_id]

    def schema(self, dataset_id: int, schema_hash: bytes | None = None) -> Schema:
        """Return the schema of ``dataset_id`` from its ``DatasetRegistered`` event.

        Cached by the dataset's on-chain schema hash when the caller knows it,
        so a chain that was reset or reorganised never serves a stale schema.
        """
        if schema_hash is None:
            (record,) = self._views([("DataCatalog", "dataset", (dataset_id,))])
            schema_hash = bytes(record["schemaHash"])
        address = self.client.catalog.address
        deployment = self.client.deployment
        # Two local chains may hold contracts at the same addresses: key by chain as well.
        cache_key = (self.client.rpc.url, deployment.chain_id, deployment.created_at, address,
                     dataset_id, schema_hash)
        with _SCHEMAS_LOCK:
            cached = _SCHEMAS.get(cache_key)
        if cached is not None:
            return cached
        event = next(e for e in self.client.artifacts["DataCatalog"].elements("event")
                     if e["name"] == "DatasetRegistered")
        logs = self.client.rpc.request("eth_getLogs", {
            "address": address,
            "fromBlock": hex(self.client.deployment.deploy_block),
            "toBlock": "latest",
            "topics": ["0x" + abi_codec.event_topic(event).hex(),
                       "0x" + dataset_id.to_bytes(32, "big").hex()],
        })
        if not logs:
            raise ChainError(
                f"dataset {dataset_id} has no DatasetRegistered event from block "
                f"{self.client.deployment.deploy_block}: the node's RPC cannot serve the logs "
                "since deployment (is it pruning history?)"
            )
        record = self.client.event_decoder.decode(logs[0])
        names, types = record.args["columnNames"], record.args["columnTypes"]
        schema = Schema.of([(name, _WIDENED_TYPES.get(kind, kind)) for name, kind in zip(names, types, strict=True)])
        with _SCHEMAS_LOCK:
            _SCHEMAS[cache_key] = schema
        return schema

    # -- chain access -----------------------------------------------------------

    def _views(self, calls: list[tuple[str, str, tuple[Any, ...]]]) -> list[Any]:
        """Run views at this catalog's block in one round trip.

        Falls back to the latest state when the node no longer holds the
        pinned block's state (pruned history): the answer then describes a
        newer state, which the caller's checks against the chain still cover.
        """
        prepared = [(self.client.handles[contract], name, args) for contract, name, args in calls]
        try:
            return self.client.call_many(prepared, block=_block_tag(self.block))
        except ChainError as error:
            if self.block == "latest" or not _missing_state(error):
                raise
            return self.client.call_many(prepared)


def _block_tag(block: str | int) -> str:
    return hex(block) if isinstance(block, int) else block


def _missing_state(error: ChainError) -> bool:
    message = str(error).lower()
    return any(marker in message for marker in ("missing trie node", "state not available",
                                                 "header not found", "pruned", "unknown block"))

