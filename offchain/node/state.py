"""The node's durable state: one SQLite database per node (``state_dir/node.sqlite``).

=================  ===========================================================
table              holds
=================  ===========================================================
``event_cursors``  how far the chain watcher got (saved in the same transaction
                   as the effects of each event, so events apply exactly once)
``jobs``           every job that involves this member: its description from
                   ``JobRequested``, this node's roles, phase and last known
                   chain status
``steps``          each step done for a job, with its transaction hash: a step
                   recorded here is never done again
``dealt``          share payloads an owner dealt for a job, per compute party,
                   kept until the job ends so a restart re-delivers the very
                   same shares it committed to
``received``       share payloads delivered to this compute node, per source
``results``        a compute node's result payload, nonce, commitment and
                   session transcript (served to the recipient only)
``owner_secrets``  keys the owners of a job's inputs share (never a compute node)
``fingerprints``   per local table: the full Merkle fingerprint, the fast
                   checksum it was computed at, and when
``flags``          node-wide facts, e.g. that the member is suspended
=================  ===========================================================

Crash safety: every write is a transaction; a step's effect on the chain is
recorded only after its receipt, and before a step is sent again the chain is
asked whether it already happened (see :mod:`offchain.node.daemon`). The
database runs in WAL mode so ``unseen dataset register`` can record a
fingerprint while the node runs.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from offchain.chain.events import CursorPosition, SqliteCursorStore
from offchain.errors import InputError
from offchain.node.jobspec import JobDescription

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    party INTEGER,
    owned_inputs TEXT NOT NULL,
    phase TEXT NOT NULL,
    chain_status TEXT NOT NULL,
    reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    job_id INTEGER NOT NULL,
    step TEXT NOT NULL,
    tx_hash TEXT,
    detail TEXT,
    done_at REAL NOT NULL,
    PRIMARY KEY (job_id, step)
);
CREATE TABLE IF NOT EXISTS dealt (
    job_id INTEGER NOT NULL,
    input_index INTEGER NOT NULL,
    party INTEGER NOT NULL,
    names TEXT NOT NULL,
    blob BLOB NOT NULL,
    PRIMARY KEY (job_id, input_index, party)
);
CREATE TABLE IF NOT EXISTS commitments (
    job_id INTEGER NOT NULL,
    input_index INTEGER NOT NULL,
    fingerprint BLOB NOT NULL,
    rows_used INTEGER NOT NULL,
    PRIMARY KEY (job_id, input_index)
);
CREATE TABLE IF NOT EXISTS received (
    job_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    names TEXT NOT NULL,
    blob BLOB NOT NULL,
    sender TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (job_id, source)
);
CREATE TABLE IF NOT EXISTS results (
    job_id INTEGER PRIMARY KEY,
    names TEXT NOT NULL,
    blob BLOB NOT NULL,
    nonce BLOB NOT NULL,
    commitment BLOB NOT NULL,
    transcript BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fingerprints (
    table_name TEXT PRIMARY KEY,
    checksum TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    row_count INTEGER NOT NULL,
    computed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS owner_secrets (
    job_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    secret BLOB NOT NULL,
    PRIMARY KEY (job_id, name)
);
CREATE TABLE IF NOT EXISTS flags (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

#: Phases of a job at this node. ``closed`` jobs ended on chain; nothing more is done.
PHASES = ("new", "accepted", "declined", "done", "failed", "halted", "closed")
ACTIVE_PHASES = ("new", "accepted", "done", "failed", "halted")


@dataclass(frozen=True)
class JobRow:
    """One job as the node tracks it."""

    job_id: int
    description: JobDescription
    party: int | None
    owned_inputs: tuple[int, ...]
    phase: str
    chain_status: str
    reason: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class StoredResult:
    """A compute node's result for one job."""

    names: tuple[str, ...]
    blob: bytes
    nonce: bytes
    commitment: bytes
    transcript: bytes


@dataclass(frozen=True)
class FingerprintRecord:
    """The full fingerprint of a local table and the checksum it was computed at."""

    table_name: str
    checksum: str
    fingerprint: bytes
    row_count: int
    computed_at: float


class NodeState:
    """The SQLite state of one node; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE below).
        self._connection = sqlite3.connect(str(self.path), check_same_thread=False,
                                           isolation_level=None, timeout=30.0)
        self._lock = threading.RLock()
        self._depth = 0
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
            self._connection.executescript(_SCHEMA)
            found = self._connection.execute(
                "SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
            if found is None:
                self._connection.execute(
                    "INSERT INTO meta (name, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(found[0]) != SCHEMA_VERSION:
                raise InputError(
                    f"state database {self.path} has schema version {found[0]}; this Unseen uses "
                    f"{SCHEMA_VERSION}: move the file away to start from the chain again"
                )
        self.cursor_store = _LockedCursorStore(SqliteCursorStore(self._connection, autocommit=False),
                                               self._lock)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction (nested blocks join the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._connection
                finally:
                    self._depth -= 1
                return
            self._connection.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            else:
                self._connection.execute("COMMIT")
            finally:
                self._depth = 0

    def _read(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    # -- jobs ---------------------------------------------------------------------

    def add_job(self, description: JobDescription, party: int | None, owned_inputs: tuple[int, ...]) -> bool:
        """Record a job that involves this node; return False if it was already known."""
        now = time.time()
        with self.transaction() as connection:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO jobs (job_id, description, party, owned_inputs, phase,"
                " chain_status, created_at, updated_at) VALUES (?, ?, ?, ?, 'new', 'REQUESTED', ?, ?)",
                (description.job_id, description.to_json(), party, json.dumps(list(owned_inputs)), now, now),
            )
            return cursor.rowcount == 1

    def job(self, job_id: int) -> JobRow | None:
        rows = self._read("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return _job_row(rows[0]) if rows else None

    def jobs(self, phases: tuple[str, ...] | None = None) -> list[JobRow]:
        if phases is None:
            rows = self._read("SELECT * FROM jobs ORDER BY job_id")
        else:
            marks = ", ".join("?" for _ in phases)
            rows = self._read(f"SELECT * FROM jobs WHERE phase IN ({marks}) ORDER BY job_id", phases)
        return [_job_row(row) for row in rows]

    def set_phase(self, job_id: int, phase: str, reason: str | None = None) -> None:
        if phase not in PHASES:
            raise InputError(f"unknown job phase {phase!r}; phases: {PHASES}")
        with self.transaction() as connection:
            connection.execute(
                "UPDATE jobs SET phase = ?, reason = coalesce(?, reason), updated_at = ? WHERE job_id = ?",
                (phase, reason, time.time(), job_id),
            )

    def set_chain_status(self, job_id: int, status: str) -> None:
        with self.transaction() as connection:
            connection.execute("UPDATE jobs SET chain_status = ?, updated_at = ? WHERE job_id = ?",
                               (status, time.time(), job_id))

    # -- steps ----------------------------------------------------------------------

    def step(self, job_id: int, step: str) -> tuple[str | None, str | None] | None:
        """Return ``(tx_hash, detail)`` if ``step`` was done for ``job_id``, else None."""
        rows = self._read("SELECT tx_hash, detail FROM steps WHERE job_id = ? AND step = ?", (job_id, step))
        return (rows[0][0], rows[0][1]) if rows else None

    def record_step(self, job_id: int, step: str, tx_hash: str | None = None, detail: str | None = None) -> None:
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO steps (job_id, step, tx_hash, detail, done_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(job_id, step) DO UPDATE SET tx_hash = coalesce(excluded.tx_hash, tx_hash),"
                " detail = coalesce(excluded.detail, detail)",
                (job_id, step, tx_hash, detail, time.time()),
            )

    def steps(self, job_id: int) -> list[tuple[str, str | None, str | None, float]]:
        return self._read("SELECT step, tx_hash, detail, done_at FROM steps WHERE job_id = ? ORDER BY done_at",
                          (job_id,))

    # -- owners: dealt shares and input commitments ----------------------------------

    def save_dealt(self, job_id: int, input_index: int, names: list[str], blobs: list[bytes],
                   fingerprint: bytes, rows_used: int) -> None:
        """Store the three parties' payloads of one input and its commitment, atomically."""
        with self.transaction() as connection:
            for party, blob in enumerate(blobs):
                connection.execute(
                    "INSERT OR REPLACE INTO dealt (job_id, input_index, party, names, blob) VALUES (?, ?, ?, ?, ?)",
                    (job_id, input_index, party, json.dumps(names), blob),
                )
            connection.execute(
                "INSERT OR REPLACE INTO commitments (job_id, input_index, fingerprint, rows_used)"
                " VALUES (?, ?, ?, ?)", (job_id, input_index, fingerprint, rows_used),
            )

    def dealt(self, job_id: int, input_index: int, party: int) -> tuple[list[str], bytes] | None:
        rows = self._read("SELECT names, blob FROM dealt WHERE job_id = ? AND input_index = ? AND party = ?",
                          (job_id, input_index, party))
        return (json.loads(rows[0][0]), bytes(rows[0][1])) if rows else None

    def commitment(self, job_id: int, input_index: int) -> tuple[bytes, int] | None:
        rows = self._read("SELECT fingerprint, rows_used FROM commitments WHERE job_id = ? AND input_index = ?",
                          (job_id, input_index))
        return (bytes(rows[0][0]), int(rows[0][1])) if rows else None

    # -- compute nodes: received inputs and results -----------------------------------

    def save_received(self, job_id: int, source: str, names: list[str], blob: bytes, sender: str) -> bool:
        """Store a delivered payload; return False if the same one was already stored.

        A second, different payload for the same source is refused: a source
        delivers the shares it committed to, once.
        """
        with self.transaction() as connection:
            row = connection.execute("SELECT blob FROM received WHERE job_id = ? AND source = ?",
                                     (job_id, source)).fetchone()
            if row is not None:
                if bytes(row[0]) != blob:
                    raise InputError(
                        f"job {job_id}: {source} already delivered different shares to this node; "
                        "a source delivers its shares once"
                    )
                return False
            connection.execute(
                "INSERT INTO received (job_id, source, names, blob, sender, received_at) VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, source, json.dumps(names), blob, sender, time.time()),
            )
            return True

    def received(self, job_id: int) -> dict[str, tuple[list[str], bytes]]:
        rows = self._read("SELECT source, names, blob FROM received WHERE job_id = ?", (job_id,))
        return {source: (json.loads(names), bytes(blob)) for source, names, blob in rows}

    def save_result(self, job_id: int, result: StoredResult) -> None:
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO results (job_id, names, blob, nonce, commitment, transcript, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, json.dumps(list(result.names)), result.blob, result.nonce, result.commitment,
                 result.transcript, time.time()),
            )

    def result(self, job_id: int) -> StoredResult | None:
        rows = self._read("SELECT names, blob, nonce, commitment, transcript FROM results WHERE job_id = ?",
                          (job_id,))
        if not rows:
            return None
        names, blob, nonce, commitment, transcript = rows[0]
        return StoredResult(tuple(json.loads(names)), bytes(blob), bytes(nonce), bytes(commitment),
                            bytes(transcript))

    def discard_payloads(self, job_id: int, keep_result: bool = False) -> None:
        """Delete the shares of a job that ended (the result too unless ``keep_result``)."""
        with self.transaction() as connection:
            connection.execute("DELETE FROM dealt WHERE job_id = ?", (job_id,))
            connection.execute("DELETE FROM received WHERE job_id = ?", (job_id,))
            connection.execute("DELETE FROM owner_secrets WHERE job_id = ?", (job_id,))
            if not keep_result:
                connection.execute("DELETE FROM results WHERE job_id = ?", (job_id,))

    # -- owner secrets ----------------------------------------------------------------

    def owner_secret(self, job_id: int, name: str) -> bytes | None:
        rows = self._read("SELECT secret FROM owner_secrets WHERE job_id = ? AND name = ?", (job_id, name))
        return bytes(rows[0][0]) if rows else None

    def keep_owner_secret(self, job_id: int, name: str, secret: bytes) -> bytes:
        """Store ``secret`` unless one is already stored; return the stored one (first wins)."""
        with self.transaction() as connection:
            connection.execute("INSERT OR IGNORE INTO owner_secrets (job_id, name, secret) VALUES (?, ?, ?)",
                               (job_id, name, secret))
            return bytes(connection.execute("SELECT secret FROM owner_secrets WHERE job_id = ? AND name = ?",
                                            (job_id, name)).fetchone()[0])

    # -- fingerprints -----------------------------------------------------------------

    def fingerprint(self, table_name: str) -> FingerprintRecord | None:
        rows = self._read("SELECT table_name, checksum, fingerprint, row_count, computed_at FROM fingerprints"
                          " WHERE table_name = ?", (table_name,))
        if not rows:
            return None
        name, checksum, fingerprint, row_count, computed_at = rows[0]
        return FingerprintRecord(name, checksum, bytes(fingerprint), int(row_count), float(computed_at))

    def save_fingerprint(self, record: FingerprintRecord) -> None:
        with self.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO fingerprints (table_name, checksum, fingerprint, row_count, computed_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (record.table_name, record.checksum, record.fingerprint, record.row_count, record.computed_at),
            )

    # -- flags ----------------------------------------------------------------------------

    def flag(self, name: str) -> str | None:
        rows = self._read("SELECT value FROM flags WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def set_flag(self, name: str, value: str | None) -> None:
        with self.transaction() as connection:
            if value is None:
                connection.execute("DELETE FROM flags WHERE name = ?", (name,))
            else:
                connection.execute("INSERT OR REPLACE INTO flags (name, value) VALUES (?, ?)", (name, value))


class _LockedCursorStore:
    """The cursor store on the node's connection, used under the state's lock."""

    def __init__(self, store: SqliteCursorStore, lock: threading.RLock) -> None:
        self._store = store
        self._lock = lock

    def load(self, name: str) -> CursorPosition | None:
        with self._lock:
            return self._store.load(name)

    def save(self, name: str, position: CursorPosition) -> None:
        with self._lock:
            self._store.save(name, position)


def _job_row(row: tuple) -> JobRow:
    job_id, description, party, owned, phase, chain_status, reason, created_at, updated_at = row
    return JobRow(job_id, JobDescription.from_json(description), party, tuple(json.loads(owned)), phase,
                  chain_status, reason, created_at, updated_at)
