"""Whether a member's local table still holds the data it registered.

The registered fingerprint is a Merkle root over every row
(:mod:`offchain.data.merkle`): exact, but it reads and hashes the whole
table. The node therefore keeps, per table, the full fingerprint together
with DuckDB's fast checksum at the moment it was computed (and when), and
recomputes the Merkle root only when the checksum moved. The checksum is no
security measure — it only decides when the full computation is needed; the
comparison with the chain always uses the full fingerprint.
"""

from __future__ import annotations

import time

from offchain.data.store import LocalStore
from offchain.errors import DatasetChanged
from offchain.node.state import FingerprintRecord, NodeState
from offchain.programs.base import DatasetInfo

#: Recompute while the table keeps changing under us, at most this often.
_ATTEMPTS = 3


def current_fingerprint(store: LocalStore, state: NodeState, table: str) -> tuple[FingerprintRecord, bool]:
    """Return the table's fingerprint record and whether it was recomputed now."""
    for _ in range(_ATTEMPTS):
        checksum = store.checksum(table)
        recorded = state.fingerprint(table)
        if recorded is not None and recorded.checksum == checksum:
            return recorded, False
        fingerprint = store.fingerprint(table)
        if store.checksum(table) != checksum:
            continue  # the table changed while it was being hashed
        record = FingerprintRecord(table, checksum, fingerprint.value, fingerprint.row_count, time.time())
        state.save_fingerprint(record)
        return record, True
    raise DatasetChanged(
        f"local table {table!r} kept changing while its fingerprint was computed; stop writing to it "
        "and try again"
    )


def check_unchanged(store: LocalStore, state: NodeState, dataset: DatasetInfo,
                    registered_fingerprint: bytes) -> FingerprintRecord:
    """Return the fingerprint record of ``dataset``'s table if it matches the chain, else raise."""
    if not store.has_table(dataset.name):
        raise DatasetChanged(
            f"dataset {dataset.reference} (id {dataset.dataset_id}) has no local table "
            f"{dataset.name!r} in {store.path}: import it with `unseen dataset register`"
        )
    record, _ = current_fingerprint(store, state, dataset.name)
    if record.fingerprint != registered_fingerprint:
        raise DatasetChanged(
            f"data changed without a new version: local table {dataset.name!r} has fingerprint "
            f"0x{record.fingerprint.hex()[:16]}… ({record.row_count} rows), dataset "
            f"{dataset.dataset_id} version {dataset.version} is registered with "
            f"0x{registered_fingerprint.hex()[:16]}… ({dataset.row_count} rows); run "
            f"`unseen dataset register --new-version` to publish the change"
        )
    return record
