"""A member's local data in DuckDB: import, schema, projections, fingerprints.

One DuckDB database file per node holds the member's datasets as tables.
Filters and pre-aggregation run here, inside DuckDB, so only what a
computation needs ever leaves the database (as secret shares).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from offchain.data.encoding import encode_rows
from offchain.data.merkle import Fingerprint, fingerprint_rows
from offchain.data.schema import Schema, check_identifier, decimal_scale, from_duckdb_type
from offchain.errors import InputError

_FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}
FINGERPRINT_CHUNK_ROWS = 1_000_000


def projection(column: str, column_type: str) -> str:
    """SQL expression yielding ``column`` in the form the canonical encoding expects."""
    quoted = f'"{column}"'
    scale = decimal_scale(column_type)
    if scale is not None:
        return f"CAST({quoted} * {10**scale} AS BIGINT) AS {quoted}"
    if column_type == "date":
        return f"CAST({quoted} - DATE '1970-01-01' AS BIGINT) AS {quoted}"
    if column_type == "timestamp":
        return f"epoch_us({quoted}) AS {quoted}"
    if column_type == "int64":
        return f"CAST({quoted} AS BIGINT) AS {quoted}"
    if column_type == "float64":
        return f"CAST({quoted} AS DOUBLE) AS {quoted}"
    return quoted


class LocalStore:
    """The DuckDB database of one member node.

    Safe to share between threads: every call takes a cursor of its own.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connection = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise InputError(f"cannot open DuckDB database {self.path}: {exc}") from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        self._connection.close()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self._connection.cursor()

    # -- tables ---------------------------------------------------------------

    def tables(self) -> list[str]:
        rows = self._cursor().execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY table_name"
        ).fetchall()
        return [row[0] for row in rows]

    def has_table(self, name: str) -> bool:
        return check_identifier(name, "table") in self.tables()

    def _require(self, name: str) -> str:
        table = check_identifier(name, "table")
        if table not in self.tables():
            known = ", ".join(self.tables()) or "none"
            raise InputError(f"no local table {name!r} in {self.path} (tables: {known})")
        return table

    def import_file(self, name: str, source: str | Path, *, replace: bool = False) -> Schema:
        """Create table ``name`` from a CSV or Parquet file and return its schema.

        CSV types are detected by DuckDB; a column whose type Unseen cannot
        share (lists, blobs, 128-bit integers…) is refused before anything is
        written.
        """
        table = check_identifier(name, "table")
        path = Path(source)
        if not path.is_file():
            raise InputError(f"{path} does not exist or is not a file")
        file_format = _FORMATS.get(path.suffix.lower())
        if file_format is None:
            raise InputError(
                f"{path}: unknown file type {path.suffix!r}; use .csv, .tsv or .parquet"
            )
        if table in self.tables() and not replace:
            raise InputError(
                f"table {table!r} already exists in {self.path}; pass replace=True "
                "(`--replace`) to load a new version"
            )
        reader = "read_parquet(?)" if file_format == "parquet" else "read_csv(?, header=true)"
        cursor = self._cursor()
        try:
            described = cursor.execute(f"DESCRIBE SELECT * FROM {reader}", [str(path)]).fetchall()
        except duckdb.Error as exc:
            raise InputError(f"cannot read {path} as {file_format}: {exc}") from exc
        schema = Schema.of([(check_identifier(row[0]), from_duckdb_type(row[1], row[0]))
                            for row in described])
        cursor.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM {reader}', [str(path)])
        return schema

    def create_table(self, name: str, schema: Schema, columns: Mapping[str, Sequence[Any]],
                     *, replace: bool = False) -> None:
        """Create table ``name`` with ``schema`` from in-memory columns (tests, generators)."""
        table = check_identifier(name, "table")
        if table in self.tables() and not replace:
            raise InputError(f"table {table!r} already exists; pass replace=True")
        sql_types = {"int64": "BIGINT", "float64": "DOUBLE", "string": "VARCHAR",
                     "date": "DATE", "timestamp": "TIMESTAMP", "bool": "BOOLEAN"}
        definitions = []
        for column in schema.columns:
            scale = decimal_scale(column.type)
            sql_type = (column.type.upper() if scale is not None else sql_types[column.type])
            definitions.append(f'"{column.name}" {sql_type}')
        cursor = self._cursor()
        cursor.execute(f'CREATE OR REPLACE TABLE "{table}" ({", ".join(definitions)})')
        frame = {c.name: np.asarray(columns[c.name]) for c in schema.columns}
        lengths = {len(v) for v in frame.values()}
        if len(lengths) > 1:
            raise InputError(f"columns have different lengths: {sorted(lengths)}")
        cursor.register("_unseen_incoming", frame)
        cursor.execute(f'INSERT INTO "{table}" SELECT * FROM _unseen_incoming')
        cursor.unregister("_unseen_incoming")

    def schema(self, name: str) -> Schema:
        table = self._require(name)
        rows = self._cursor().execute(f'DESCRIBE "{table}"').fetchall()
        return Schema.of([(row[0], from_duckdb_type(row[1], row[0])) for row in rows])

    def row_count(self, name: str) -> int:
        table = self._require(name)
        return int(self._cursor().execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])

    # -- reading ----------------------------------------------------------------

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> dict[str, np.ndarray]:
        """Run a read-only query and return its columns as numpy (masked where NULL) arrays."""
        try:
            return self._cursor().execute(sql, parameters or []).fetchnumpy()
        except duckdb.Error as exc:
            raise InputError(f"local query failed: {exc}\n  query: {sql}") from exc

    def read_columns(self, name: str, columns: Sequence[str] | None = None,
                     where: str | None = None, parameters: Sequence[Any] | None = None
                     ) -> dict[str, np.ndarray]:
        """Return columns of table ``name`` in canonical projection, optionally filtered."""
        table = self._require(name)
        schema = self.schema(table)
        wanted = [schema.columns[schema.index(c)] for c in (columns or schema.names)]
        select = ", ".join(projection(c.name, c.type) for c in wanted)
        sql = f'SELECT {select} FROM "{table}"' + (f" WHERE {where}" if where else "")
        return self.query(sql, parameters)

    # -- fingerprints -----------------------------------------------------------

    def fingerprint(self, name: str) -> Fingerprint:
        """Fingerprint table ``name`` (see :mod:`offchain.data.merkle`), reading it in chunks."""
        table = self._require(name)
        schema = self.schema(table)
        select = ", ".join(projection(c.name, c.type) for c in schema.columns)
        cursor = self._cursor()
        (max_rowid,) = cursor.execute(f'SELECT coalesce(max(rowid), -1) FROM "{table}"').fetchone()

        def rows():
            for start in range(0, int(max_rowid) + 1, FINGERPRINT_CHUNK_ROWS):
                chunk = cursor.execute(
                    f'SELECT {select} FROM "{table}" WHERE rowid >= ? AND rowid < ?',
                    [start, start + FINGERPRINT_CHUNK_ROWS],
                ).fetchnumpy()
                yield from encode_rows(schema, chunk)

        return fingerprint_rows(schema, rows())

    def checksum(self, name: str) -> str:
        """A fast, order-independent change detector (DuckDB's 64-bit row hash, summed).

        Not cryptographic: used only to skip recomputing an unchanged
        fingerprint; any difference triggers the full computation.
        """
        table = self._require(name)
        schema = self.schema(table)
        columns = ", ".join(f'"{c}"' for c in schema.names)
        count, total = self._cursor().execute(
            f'SELECT count(*), coalesce(sum(hash({columns})::HUGEINT), 0) FROM "{table}"'
        ).fetchone()
        return f"{count}:{total}"
