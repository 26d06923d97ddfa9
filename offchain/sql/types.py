"""SQL value types and how each is carried in the engine.

=============  ===========================  ==========================================
SQL type       from schema type             carried in MPC as
=============  ===========================  ==========================================
``BIGINT``     ``int64``                    integer share (two's complement mod 2**64)
``BOOLEAN``    ``bool``                     integer share of 0/1
``DATE``       ``date``                     integer share of days since 1970-01-01
``TIMESTAMP``  ``timestamp``                integer share of microseconds since the epoch
``DECIMAL(s)`` ``decimal(p,s)``             integer share of the unscaled value ``v * 10**s``
``DOUBLE``     ``float64``                  fixed-point share (``f`` fractional bits)
``VARCHAR``    ``string``                   only inside an owner's DuckDB (filters, join and
                                            group keys), or as UTF-8 bytes packed into uint64
                                            words when a query returns it
=============  ===========================  ==========================================

Arithmetic follows DuckDB's result types so that answers compare exactly:
integers stay integers, decimals add with the larger scale and multiply
with the sum of scales, anything with a double is a double, and ``/`` is
always a double. Integer and decimal arithmetic is exact mod 2**64 (a sum
beyond 9.2e18 wraps); doubles are fixed point with the engine's range
(``|v| < 2**(63 - f)``, products below ``2**(62 - 2f)``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from offchain.data.schema import decimal_scale
from offchain.errors import InputError

INTEGER_KINDS = ("int", "bool", "date", "timestamp", "decimal")
MAX_DECIMAL_SCALE = 18
EPOCH_DATE = dt.date(1970, 1, 1)
EPOCH_TIMESTAMP = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class SqlType:
    """One SQL value type: ``kind`` is int, bool, date, timestamp, decimal, float or text."""

    kind: str
    scale: int = 0  # decimal digits after the point (decimal only)

    @property
    def is_text(self) -> bool:
        return self.kind == "text"

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_numeric(self) -> bool:
        """Whether arithmetic is defined (integers, decimals, doubles)."""
        return self.kind in ("int", "decimal", "float")

    @property
    def share_kind(self) -> str:
        """The engine share kind carrying this type: ``integer`` or ``fixed`` (text: ``integer`` words)."""
        return "fixed" if self.kind == "float" else "integer"

    def describe(self) -> str:
        names = {"int": "BIGINT", "bool": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP",
                 "float": "DOUBLE", "text": "VARCHAR"}
        if self.kind == "decimal":
            return f"DECIMAL(18,{self.scale})"
        return names[self.kind]


BIGINT = SqlType("int")
BOOLEAN = SqlType("bool")
DATE = SqlType("date")
TIMESTAMP = SqlType("timestamp")
DOUBLE = SqlType("float")
VARCHAR = SqlType("text")


def decimal(scale: int) -> SqlType:
    if not 0 <= scale <= MAX_DECIMAL_SCALE:
        raise InputError(f"decimal scale {scale} outside [0, {MAX_DECIMAL_SCALE}]")
    return SqlType("decimal", scale)


def from_schema_type(column_type: str) -> SqlType:
    """Return the SQL type of a dataset column of canonical schema type ``column_type``."""
    scale = decimal_scale(column_type)
    if scale is not None:
        return decimal(scale)
    mapping = {"int64": BIGINT, "bool": BOOLEAN, "date": DATE, "timestamp": TIMESTAMP,
               "float64": DOUBLE, "string": VARCHAR}
    try:
        return mapping[column_type]
    except KeyError:
        raise InputError(f"unknown schema type {column_type!r}") from None


def arithmetic_result(operator: str, left: SqlType, right: SqlType) -> SqlType | None:
    """Return the type of ``left operator right`` (``+ - * /``), or None if undefined."""
    if not (left.is_numeric and right.is_numeric):
        return None
    if operator == "/" or left.is_float or right.is_float:
        return DOUBLE
    if left.kind == "int" and right.kind == "int":
        return BIGINT
    if operator == "*":
        scale = left.scale + right.scale
        return decimal(scale) if scale <= MAX_DECIMAL_SCALE else None
    return decimal(max(left.scale, right.scale))


def comparable(left: SqlType, right: SqlType) -> bool:
    """Whether ``left`` and ``right`` values can be compared with each other."""
    if left.is_numeric and right.is_numeric:
        return True
    return left.kind == right.kind


@dataclass(frozen=True)
class LiteralValue:
    """A constant of the query with its type; ``value`` is the Python value (None for NULL)."""

    value: object
    type: SqlType | None  # None for an untyped NULL


def literal_number(text: str) -> LiteralValue:
    """Type a numeric literal as DuckDB does: integers BIGINT, ``1.50`` DECIMAL(.,2), ``1e3`` DOUBLE."""
    lowered = text.lower()
    if "e" in lowered:
        return LiteralValue(float(text), DOUBLE)
    if "." in text:
        value = Decimal(text)
        scale = max(0, -value.as_tuple().exponent)
        if scale > MAX_DECIMAL_SCALE:
            return LiteralValue(float(text), DOUBLE)
        return LiteralValue(value, decimal(scale))
    return LiteralValue(int(text), BIGINT)


def encode_integer_literal(value: object, as_type: SqlType) -> int:
    """Return the ring integer of a literal read as ``as_type`` (an integer-carried type).

    Refuses values that would lose digits (``1.25`` as DECIMAL(1)).
    """
    if as_type.kind == "decimal":
        scaled = Decimal(str(value)) * (Decimal(10) ** as_type.scale) if not isinstance(
            value, Decimal) else value * (Decimal(10) ** as_type.scale)
        if scaled != scaled.to_integral_value():
            raise InputError(f"literal {value} has more than {as_type.scale} decimal digits")
        return int(scaled)
    if as_type.kind == "date":
        if not isinstance(value, dt.date):
            raise InputError(f"{value!r} is not a date")
        return (value - EPOCH_DATE).days
    if as_type.kind == "timestamp":
        if not isinstance(value, dt.datetime):
            raise InputError(f"{value!r} is not a timestamp")
        return (value - EPOCH_TIMESTAMP) // dt.timedelta(microseconds=1)
    if as_type.kind == "bool":
        return int(bool(value))
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise InputError(f"literal {value} is not an integer")
        return int(value)
    return int(value)


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{text!r} is not a date (use 'YYYY-MM-DD')") from None


def parse_timestamp(text: str) -> dt.datetime:
    try:
        stamp = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{text!r} is not a timestamp (use 'YYYY-MM-DD HH:MM:SS')") from None
    if stamp.tzinfo is not None:
        raise InputError(f"timestamp {text!r} has a time zone; columns are TIMESTAMP without one")
    return stamp
