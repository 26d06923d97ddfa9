"""Offering data: import a file into the node's DuckDB, fingerprint it, register it on chain.

``register_dataset`` is what ``unseen dataset register`` runs:

1. import the CSV or Parquet file as a table of the member node's DuckDB file
   (the table is named like the dataset), or take a table already there;
2. compute its fingerprint (Merkle root over canonical rows) and record it,
   with DuckDB's fast checksum, in the node's state, so the node can tell at
   job time whether the table changed without recomputing the root;
3. register the dataset (name, schema, row count, fingerprint, prices), or
   with ``new_version`` publish the changed data as the dataset's next
   version. Changing data without a new version makes the node refuse every
   job on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from offchain.chain.client import ChainClient
from offchain.data.schema import Schema, decimal_scale
from offchain.data.store import LocalStore
from offchain.errors import InputError
from offchain.node.state import FingerprintRecord, NodeState

#: Column types the DataCatalog contract records (offchain/data types map onto these).
CHAIN_TYPES = ("bool", "int32", "int64", "float32", "float64", "string", "date", "timestamp")
STORE_LOCK_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Registration:
    """What ``register_dataset`` did."""

    dataset_id: int
    name: str
    version: int
    row_count: int
    fingerprint: bytes
    schema: Schema
    action: str  # "registered", "published version N", "unchanged"
    transaction_hash: str | None
    seconds: float


def open_store_for_writing(path: Path) -> LocalStore:
    """Open the node's DuckDB file for writing, waiting while the node reads it for a job."""
    deadline = time.monotonic() + STORE_LOCK_WAIT_SECONDS
    while True:
        try:
            return LocalStore(path)
        except InputError as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def chain_schema(schema: Schema) -> tuple[list[str], list[str]]:
    """Column names and types as the DataCatalog records them; refuse types it cannot."""
    refused = [(c.name, c.type) for c in schema.columns
               if c.type not in CHAIN_TYPES and decimal_scale(c.type) is None]
    if refused:
        listed = ", ".join(f"{name} ({kind})" for name, kind in refused)
        raise InputError(
            f"columns {listed} have types the DataCatalog contract does not record (it takes "
            f"{', '.join(CHAIN_TYPES)} and decimal(p,s) with p <= 18); cast them in the source"
        )
    return schema.names, schema.types


def register_dataset(client: ChainClient, store_path: Path, state_path: Path, name: str, *,
                     source: Path | None = None, price_per_job: int = 0, price_per_row: int = 0,
                     new_version: bool = False) -> Registration:
    """Import (if ``source``), fingerprint and register ``name``; see the module docstring."""
    started = time.perf_counter()
    owner = client.address
    existing = client.catalog.dataset_id_by_name(owner, name)
    if existing and not new_version and source is not None:
        raise InputError(
            f"you already registered a dataset named {name!r} (id {existing}); pass --new-version to "
            "publish changed data as its next version"
        )
    store = open_store_for_writing(store_path)
    try:
        if source is not None:
            schema = store.import_file(name, source, replace=new_version or not existing)
        else:
            schema = store.schema(name)
        names, types = chain_schema(schema)
        checksum = store.checksum(name)
        fingerprint = store.fingerprint(name)
    finally:
        store.close()
    if fingerprint.row_count == 0:
        raise InputError(f"table {name!r} has no rows; an empty dataset cannot be used in a job")
    state = NodeState(state_path)
    try:
        state.save_fingerprint(FingerprintRecord(name, checksum, fingerprint.value, fingerprint.row_count,
                                                 time.time()))
    finally:
        state.close()

    if not existing:
        receipt = client.catalog.register(name, names, types, fingerprint.row_count, fingerprint.value,
                                          price_per_job, price_per_row).transact()
        dataset_id = next(e.args["datasetId"] for e in client.events(receipt) if e.name == "DatasetRegistered")
        return Registration(dataset_id, name, 1, fingerprint.row_count, fingerprint.value, schema,
                            "registered", receipt.transaction_hash, time.perf_counter() - started)
    record = client.catalog.dataset(existing)
    if record.schema_hash != client.catalog.schema_hash(names, types):
        raise InputError(
            f"the schema of {name!r} changed ({', '.join(f'{n} {t}' for n, t in zip(names, types, strict=True))}); "
            "a dataset's schema is fixed: register the new data under another name"
        )
    if record.fingerprint == fingerprint.value:
        return Registration(existing, name, record.version, record.row_count, record.fingerprint, schema,
                            "unchanged", None, time.perf_counter() - started)
    if not new_version:
        raise InputError(
            f"table {name!r} differs from version {record.version} registered on chain; pass --new-version "
            "to publish it"
        )
    receipt = client.catalog.publish_version(existing, fingerprint.value, fingerprint.row_count).transact()
    return Registration(existing, name, record.version + 1, fingerprint.row_count, fingerprint.value, schema,
                        f"published version {record.version + 1}", receipt.transaction_hash,
                        time.perf_counter() - started)
