"""The values a published program sees and returns, and their tagged JSON form.

A rule set works on a closed set of plain values — nothing else can exist
in its interpreter, so there is no object to reach through:

===========  ================================================================
kind         Python value
===========  ================================================================
null         ``None``
bool         ``bool``
integer      ``int`` with ``|v| < 2**63``
decimal      ``decimal.Decimal`` (every non-integer number: exact decimal
             arithmetic, 28 significant digits, round half even)
text         ``str`` (NFC)
date         ``datetime.date``
timestamp    ``datetime.datetime`` (naive, UTC)
list         ``tuple`` of values (immutable)
record       :class:`Record`: a row, read-only fields by name
===========  ================================================================

Between the node and its sandbox process, values travel as tagged JSON
(:func:`encode` / :func:`decode`): ``{"i": "12"}``, ``{"d": "12.50"}``,
``{"t": "text"}``, ``{"b": true}``, ``{"date": "2025-03-01"}``,
``{"ts": "2025-03-01T10:00:00"}``, ``{"n": null}``. Numbers travel as
strings so nothing is rounded through binary floating point. This module
uses the standard library only (it is imported by the sandbox worker).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from offchain.errors import InputError

INTEGER_LIMIT = 2**63
MAX_TEXT_CHARS = 4_096


class Record:
    """A read-only row: fields by name (``row.kind`` or ``row["kind"]`` in a rule)."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        object.__setattr__(self, "_fields", dict(fields))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("records are read-only")

    def field(self, name: str) -> Any:
        """Return field ``name``; ``KeyError`` if the row has no such field."""
        return self._fields[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self._fields == other._fields

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._fields.items(), key=lambda item: item[0])))

    def __repr__(self) -> str:
        return f"Record({self._fields!r})"


def kind_of(value: Any) -> str:
    """Name the kind of a value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dt.datetime):
        return "timestamp"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, tuple):
        return "list"
    if isinstance(value, Record):
        return "record"
    return type(value).__name__


def encode(value: Any) -> dict[str, Any]:
    """Return the tagged JSON form of one scalar value."""
    if value is None:
        return {"n": None}
    if isinstance(value, bool):
        return {"b": value}
    if isinstance(value, int):
        return {"i": str(value)}
    if isinstance(value, Decimal):
        return {"d": format(value, "f")}
    if isinstance(value, str):
        return {"t": value}
    if isinstance(value, dt.datetime):
        return {"ts": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    raise InputError(f"a {kind_of(value)} cannot be passed as a single value")


def decode(tagged: Any) -> Any:
    """Return the value of a tagged JSON form; refuse anything else with ``InputError``."""
    if not isinstance(tagged, dict) or len(tagged) != 1:
        raise InputError(f"not a tagged value: {tagged!r:.80}")
    ((tag, raw),) = tagged.items()
    try:
        if tag == "n" and raw is None:
            return None
        if tag == "b" and isinstance(raw, bool):
            return raw
        if tag == "i" and isinstance(raw, str):
            number = int(raw)
            if abs(number) >= INTEGER_LIMIT:
                raise InputError(f"integer {raw} is outside the 64-bit range")
            return number
        if tag == "d" and isinstance(raw, str):
            number = Decimal(raw)
            if not number.is_finite():
                raise InputError(f"decimal {raw!r} is not finite")
            return number
        if tag == "t" and isinstance(raw, str):
            if len(raw) > MAX_TEXT_CHARS:
                raise InputError(f"text of {len(raw)} characters (at most {MAX_TEXT_CHARS})")
            return unicodedata.normalize("NFC", raw)
        if tag == "date" and isinstance(raw, str):
            return dt.date.fromisoformat(raw)
        if tag == "ts" and isinstance(raw, str):
            return dt.datetime.fromisoformat(raw)
    except (ValueError, InvalidOperation) as exc:
        raise InputError(f"bad {tag!r} value {raw!r:.80}: {exc}") from None
    raise InputError(f"unknown tagged value {tagged!r:.80}")
