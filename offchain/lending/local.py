"""What each lender computes in its own DuckDB, and what the requester prepares, before sharing.

A lender selects the applications whose ``applied_on`` lies in the window,
keeps the DISTINCT applicant ids, maps them to applicant keys inside DuckDB
(:func:`offchain.lending.encoding.key_sql`) and lays them out at the public
size of the plan: padded to the registered row count (direct layout) or
simple-hashed into the bins of the batch and padded per bin (hashed
layout). Only this padded array of keys is secret-shared (as XOR shares).

The requester maps its applicant ids to keys the same way, places them in
slots (sorted keys in the first slots for the direct layout, cuckoo
placement for the hashed one), fills the other slots with dummies, and
shares the slots plus a digest of its key set, which comes back to it with
the counts so that the answer is read against the same set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from offchain.data.store import LocalStore
from offchain.errors import InputError
from offchain.lending.encoding import (
    REQUESTER_DUMMY,
    applicant_key,
    key_sql,
    keys_from_hex,
    lender_dummies,
    text_prefix,
    valid_id_sql,
)
from offchain.lending.hashing import cuckoo_place, simple_hash_table
from offchain.lending.spec import LendingSpec


def window_keys(spec: LendingSpec, input_index: int, store: LocalStore) -> np.ndarray:
    """Return the sorted distinct keys of the applicants with an application in the window."""
    dataset = spec.datasets[input_index]
    local_rows = store.row_count(dataset.name)
    if local_rows > dataset.row_count:
        raise InputError(
            f"{dataset.reference} holds {local_rows} rows locally but {dataset.row_count} are registered; "
            "the job's padding was sized from the registered count — register the new version first"
        )
    schema = store.schema(dataset.name)
    for column in (spec.id_column, spec.date_column):
        if column not in schema.names or schema.type_of(column) != dataset.schema.type_of(column):
            raise InputError(
                f"local table {dataset.name!r} does not match the registered schema of {dataset.reference} for {column!r}"
            )
    day = f'CAST("{spec.date_column}" AS DATE)'
    sql = (
        f'SELECT DISTINCT {key_sql(spec.id_column, spec.id_type)} AS k FROM "{dataset.name}" '
        f"WHERE {valid_id_sql(spec.id_column, spec.id_type)} AND {day} BETWEEN ? AND ?"
    )
    found = store.query(sql, [text_prefix(spec.id_key, spec.id_type), spec.first_day, spec.as_of])
    return keys_from_hex(found["k"].tolist())


def lender_array(spec: LendingSpec, input_index: int, store: LocalStore) -> np.ndarray:
    """Return lender ``input_index``'s padded key array, of the plan's public length."""
    keys = window_keys(spec, input_index, store)
    load = spec.loads[input_index]
    if spec.mode == "direct":
        padded = lender_dummies(load)
        padded[: keys.size] = keys  # keys.size <= distinct ids <= registered rows = load
        return padded
    filler = lender_dummies(spec.slots * load)
    return simple_hash_table(keys, spec.seed, spec.slots, load, filler).reshape(-1)


def requester_keys(spec: LendingSpec, applicants: Sequence[object]) -> np.ndarray:
    """Return the distinct keys of ``applicants``, sorted; refuse batches over the bound."""
    if isinstance(applicants, (str, bytes)) or not isinstance(applicants, Sequence):
        raise InputError("applicants must be a list of applicant ids")
    if not applicants:
        raise InputError("applicants is empty: give at least one applicant id")
    keys = np.unique(
        np.array([applicant_key(a, spec.id_key, spec.id_type) for a in applicants], dtype=np.uint64)
    )
    if keys.size > spec.batch_size:
        raise InputError(
            f"{keys.size} distinct applicants exceed the job's batch_size of {spec.batch_size}; "
            "split the batch or submit a job with a larger batch_size"
        )
    return keys


def slots_of(spec: LendingSpec, keys: np.ndarray) -> np.ndarray:
    """Return the slot of each (sorted, distinct) key; deterministic given the key set."""
    if spec.mode == "direct":
        return np.arange(keys.size)
    placement = cuckoo_place(keys, spec.seed, spec.slots)
    if placement is None:
        raise InputError(
            "these applicants do not cuckoo-insert with the job's seed; write the program text "
            "with multi_lending_text(...), which draws a seed that works"
        )
    return placement


def digest_of(keys: np.ndarray) -> int:
    """Return a 62-bit digest of a sorted key set (travels back to the requester with the counts)."""
    return (
        int.from_bytes(hashlib.sha256(np.asarray(keys, dtype=">u8").tobytes()).digest()[:8], "big")
        >> 2
    )


def requester_arrays(spec: LendingSpec, applicants: Sequence[object]) -> dict[str, np.ndarray]:
    """Return the requester's query slots (dummies where empty) and its key-set digest."""
    keys = requester_keys(spec, applicants)
    queries = REQUESTER_DUMMY + np.arange(spec.slots, dtype=np.uint64)
    queries[slots_of(spec, keys)] = keys
    return {"queries": queries, "request_digest": np.array([digest_of(keys)], dtype=np.int64)}
