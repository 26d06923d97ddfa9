"""Canonical encoding of values and rows, the input of dataset fingerprints.

Every member must encode the same row to the same bytes, whatever database
or language produced it; the encoding is therefore defined here exactly.

A value is a tag byte, ``0x00`` for NULL and ``0x01`` otherwise, followed by:

=============  ===============================================================
type           bytes after the tag
=============  ===============================================================
int64          8, big-endian two's complement
decimal(p,s)   8, big-endian two's complement of the unscaled integer
float64        8, big-endian IEEE 754; ``-0.0`` is written as ``0.0`` and every
               NaN as ``0x7ff8000000000000``
date           4, big-endian signed days since 1970-01-01
timestamp      8, big-endian signed microseconds since 1970-01-01T00:00:00 UTC
bool           1, ``0x00`` or ``0x01``
string         4-byte big-endian length, then the UTF-8 bytes of the NFC form
=============  ===============================================================

A NULL of a fixed-width type is the tag followed by that many zero bytes; a
NULL string is the tag followed by a zero length. A row is the encoding of its
fixed-width columns in schema order, followed by its strings in schema order
(the schema is fixed per dataset, so this is unambiguous and lets the
fixed-width part be built with numpy for all rows at once).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping

import numpy as np

from offchain.data.schema import Schema, decimal_scale
from offchain.errors import InputError

_WIDTH = {"int64": 8, "float64": 8, "date": 4, "timestamp": 8, "bool": 1}
_CANONICAL_NAN = np.uint64(0x7FF8000000000000)


def _width(column_type: str) -> int:
    return 8 if decimal_scale(column_type) is not None else _WIDTH[column_type]


def _split_mask(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(data, null_mask)`` for a plain or masked array."""
    if isinstance(values, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(values)
        return np.ma.getdata(values), mask
    if values.dtype == object:
        mask = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
        return values, mask
    return values, np.zeros(len(values), dtype=bool)


def _fixed_column(column_type: str, values: np.ndarray, name: str) -> np.ndarray:
    """Encode one fixed-width column as an ``(n, 1 + width)`` uint8 matrix."""
    data, null = _split_mask(values)
    n = len(data)
    width = _width(column_type)
    out = np.zeros((n, 1 + width), dtype=np.uint8)
    out[:, 0] = ~null
    try:
        if column_type == "float64":
            floats = np.where(null, 0.0, np.asarray(data, dtype=np.float64)) + 0.0  # -0.0 -> 0.0
            bits = floats.view(np.uint64).copy()
            bits[np.isnan(floats)] = _CANONICAL_NAN
            payload = bits.astype(">u8").view(np.uint8).reshape(n, 8)
        elif column_type == "bool":
            payload = np.where(null, False, np.asarray(data, dtype=bool)).astype(np.uint8)
            payload = payload.reshape(n, 1)
        elif column_type == "date":
            days = np.where(null, 0, _as_int(data, "date")).astype(">i4")
            payload = days.view(np.uint8).reshape(n, 4)
        else:  # int64, decimal, timestamp: already integers (see store.py's projections)
            integers = np.where(null, 0, _as_int(data, column_type)).astype(">i8")
            payload = integers.view(np.uint8).reshape(n, 8)
    except (TypeError, ValueError) as exc:
        raise InputError(f"column {name!r} ({column_type}) holds a value of another type: {exc}") from exc
    out[:, 1:] = payload
    return out


def _as_int(data: np.ndarray, column_type: str) -> np.ndarray:
    array = np.asarray(data)
    if array.dtype.kind == "M":
        unit = "D" if column_type == "date" else "us"
        return array.astype(f"datetime64[{unit}]").astype(np.int64)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array) & (np.floor(array) == array)):
            raise ValueError("a non-integer number")
        return array.astype(np.int64)
    return array.astype(np.int64)


def _string_column(values: np.ndarray, name: str) -> list[bytes]:
    data, null = _split_mask(values)
    encoded: list[bytes] = []
    for value, is_null in zip(data.tolist(), null.tolist(), strict=True):
        if is_null:
            encoded.append(b"\x00\x00\x00\x00\x00")
            continue
        if not isinstance(value, str):
            raise InputError(f"column {name!r} (string) holds {value!r}, not a string")
        raw = unicodedata.normalize("NFC", value).encode()
        encoded.append(b"\x01" + len(raw).to_bytes(4, "big") + raw)
    return encoded


def encode_rows(schema: Schema, columns: Mapping[str, np.ndarray]) -> Iterator[bytes]:
    """Yield the canonical encoding of each row.

    ``columns`` maps every schema column name to a 1-D array (numpy or numpy
    masked array, NULLs masked or ``None`` in object arrays) holding the
    values as :class:`offchain.data.store.LocalStore` projects them: integers
    for int64/decimal (unscaled)/timestamp (µs)/date (days) or numpy
    datetimes, floats, bools, Python strings.
    """
    missing = [name for name in schema.names if name not in columns]
    if missing:
        raise InputError(f"missing columns {missing} for schema {schema.names}")
    lengths = {len(columns[name]) for name in schema.names}
    if len(lengths) != 1:
        raise InputError(f"columns have different lengths: {sorted(lengths)}")
    (n,) = lengths
    fixed_parts = [
        _fixed_column(c.type, columns[c.name], c.name) for c in schema.columns if c.type != "string"
    ]
    strings = [_string_column(columns[c.name], c.name) for c in schema.columns if c.type == "string"]
    if fixed_parts:
        fixed = np.ascontiguousarray(np.concatenate(fixed_parts, axis=1))
        row_width = fixed.shape[1]
        buffer = memoryview(fixed.reshape(-1)).cast("B")
    else:
        row_width, buffer = 0, memoryview(b"")
    for row in range(n):
        head = bytes(buffer[row * row_width : (row + 1) * row_width])
        if strings:
            yield head + b"".join(column[row] for column in strings)
        else:
            yield head
