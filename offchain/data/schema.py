"""Dataset schemas: column names and canonical column types.

A schema is the ordered list of ``(name, type)`` a dataset is registered
with on chain. Types are one of::

    int64  float64  decimal(p,s)  string  date  timestamp  bool

``decimal(p,s)`` holds exact fixed-point numbers (money) with ``p <= 18``
digits, ``s`` of them after the point; it is stored and shared as the
unscaled integer. Column names are SQL identifiers (letters, digits and
underscores, not starting with a digit, at most 63 characters), compared
case-insensitively and stored in lower case.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from offchain.errors import InputError

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DECIMAL = re.compile(r"^decimal\((\d{1,2}),(\d{1,2})\)$")
SIMPLE_TYPES = ("int64", "float64", "string", "date", "timestamp", "bool")

# DuckDB type name (as `DESCRIBE` prints it) -> canonical type.
_DUCKDB_TYPES = {
    "TINYINT": "int64",
    "SMALLINT": "int64",
    "INTEGER": "int64",
    "BIGINT": "int64",
    "UTINYINT": "int64",
    "USMALLINT": "int64",
    "UINTEGER": "int64",
    "FLOAT": "float64",
    "DOUBLE": "float64",
    "VARCHAR": "string",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_US": "timestamp",
    "BOOLEAN": "bool",
}


def check_identifier(name: str, what: str = "column") -> str:
    """Return ``name`` lower-cased if it is a valid identifier, else raise ``InputError``."""
    lowered = name.strip().lower()
    if not _IDENTIFIER.match(lowered):
        raise InputError(
            f"{what} name {name!r} is not a valid identifier: use letters, digits and "
            "underscores, not starting with a digit, at most 63 characters"
        )
    return lowered


def check_type(column_type: str) -> str:
    """Return the canonical spelling of ``column_type`` or raise ``InputError``."""
    spelled = column_type.strip().lower().replace(" ", "")
    if spelled in SIMPLE_TYPES:
        return spelled
    match = _DECIMAL.match(spelled)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        if not 1 <= precision <= 18 or scale > precision:
            raise InputError(
                f"column type {column_type!r}: decimal needs 1 <= precision <= 18 and "
                "scale <= precision (values are kept as 64-bit unscaled integers)"
            )
        return f"decimal({precision},{scale})"
    raise InputError(
        f"unknown column type {column_type!r}; use one of {', '.join(SIMPLE_TYPES)} "
        "or decimal(p,s)"
    )


def decimal_scale(column_type: str) -> int | None:
    """Return ``s`` for ``decimal(p,s)``, else ``None``."""
    match = _DECIMAL.match(column_type)
    return int(match.group(2)) if match else None


def from_duckdb_type(duckdb_type: str, column: str) -> str:
    """Map a DuckDB column type to a canonical type, or explain why it cannot be."""
    upper = duckdb_type.upper()
    if upper in _DUCKDB_TYPES:
        return _DUCKDB_TYPES[upper]
    match = re.match(r"^DECIMAL\((\d+),(\d+)\)$", upper)
    if match:
        return check_type(f"decimal({match.group(1)},{match.group(2)})")
    raise InputError(
        f"column {column!r} has type {duckdb_type}, which Unseen cannot share; cast it to "
        f"one of BIGINT, DOUBLE, DECIMAL(p<=18,s), VARCHAR, DATE, TIMESTAMP, BOOLEAN"
    )


@dataclass(frozen=True)
class Column:
    """One column of a schema."""

    name: str
    type: str


@dataclass(frozen=True)
class Schema:
    """An ordered list of columns with unique names."""

    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        if not self.columns:
            raise InputError("a schema needs at least one column")
        seen: set[str] = set()
        for column in self.columns:
            if column.name in seen:
                raise InputError(f"column {column.name!r} appears twice in the schema")
            seen.add(column.name)

    @classmethod
    def of(cls, pairs: list[tuple[str, str]] | dict[str, str]) -> Schema:
        """Build a schema from ``(name, type)`` pairs, checking and canonicalising both."""
        items = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)
        return cls(tuple(Column(check_identifier(n), check_type(t)) for n, t in items))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def types(self) -> list[str]:
        return [c.type for c in self.columns]

    def index(self, name: str) -> int:
        """Return the position of column ``name``; raise ``InputError`` naming the known ones."""
        lowered = name.lower()
        for position, column in enumerate(self.columns):
            if column.name == lowered:
                return position
        raise InputError(f"no column {name!r}; the schema has {', '.join(self.names)}")

    def type_of(self, name: str) -> str:
        return self.columns[self.index(name)].type

    def canonical_bytes(self) -> bytes:
        """Return the unambiguous byte encoding that fingerprints bind to."""
        parts = [len(self.columns).to_bytes(2, "big")]
        for column in self.columns:
            for text in (column.name, column.type):
                raw = text.encode()
                parts.append(len(raw).to_bytes(1, "big") + raw)
        return b"".join(parts)

    def digest(self) -> bytes:
        """SHA-256 of :meth:`canonical_bytes`; binds row fingerprints to this schema."""
        return hashlib.sha256(b"unseen-schema/v1" + self.canonical_bytes()).digest()
