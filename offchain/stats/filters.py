"""A small, safe filter language for statistics, compiled to parameterised DuckDB SQL.

A filter is a conjunction: a list of conditions ``[column, op, literal]``,
all of which a row must satisfy. It travels in the public program text, is
checked against the schema of every input dataset when the job is planned,
and is compiled at each data owner into a SQL ``WHERE`` fragment whose
literals are always bound parameters (``?``), never spliced into the text.

==============  =====================================  ===========================
op              literal                                SQL
==============  =====================================  ===========================
``=`` ``!=``    one value                              ``"c" = ?``, ``"c" <> ?``
``<`` ``<=``    one value (not for bool)               ``"c" < ?`` ...
``>`` ``>=``
``in``          a non-empty list of at most 1000       ``"c" IN (?, ?, ...)``
                values
``between``     ``[low, high]``, low <= high           ``"c" BETWEEN ? AND ?``
                (both ends included)
``is_null``     ``true`` or ``false``                  ``"c" IS NULL`` /
                                                       ``"c" IS NOT NULL``
==============  =====================================  ===========================

Literals must match the column type: integers for ``int64``; numbers for
``decimal(p,s)`` (compared exactly, as the decimal the JSON text spells) and
``float64``; ``"YYYY-MM-DD"`` strings for ``date``; ISO 8601 strings for
``timestamp``; strings for ``string``; ``true``/``false`` for ``bool``.
SQL semantics apply: a comparison with a NULL value is not true, so rows
whose filter column is NULL fail every condition except ``is_null``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from offchain.data.schema import Schema, check_identifier, decimal_scale
from offchain.errors import InputError

COMPARISONS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
OPERATORS = (*COMPARISONS, "in", "between", "is_null")
MAX_IN_VALUES = 1000
MAX_CONDITIONS = 32


@dataclass(frozen=True)
class Condition:
    """One checked comparison, ``in`` or ``between``: the literal(s) as DuckDB parameters."""

    column: str
    op: str
    values: tuple[Any, ...]  # parameters bound in order

    def sql(self) -> str:
        quoted = f'"{self.column}"'
        if self.op in COMPARISONS:
            return f"{quoted} {COMPARISONS[self.op]} ?"
        if self.op == "in":
            return f"{quoted} IN ({', '.join('?' for _ in self.values)})"
        return f"{quoted} BETWEEN ? AND ?"

    def describe(self) -> str:
        shown = [_show(v) for v in self.values]
        if self.op in COMPARISONS:
            return f"{self.column} {self.op} {shown[0]}"
        if self.op == "in":
            return f"{self.column} in ({', '.join(shown)})"
        return f"{self.column} between {shown[0]} and {shown[1]}"


@dataclass(frozen=True)
class Filter:
    """A checked conjunction of conditions."""

    conditions: tuple[Condition, ...]
    null_tests: tuple[tuple[str, bool], ...] = ()  # (column, is_null) pairs

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the filter reads, in first-use order, without repeats."""
        seen: dict[str, None] = {}
        for condition in self.conditions:
            seen.setdefault(condition.column, None)
        for column, _ in self.null_tests:
            seen.setdefault(column, None)
        return tuple(seen)

    def compile(self) -> tuple[str, list[Any]]:
        """Return ``(sql, parameters)``: a boolean SQL expression and its bound values.

        The SQL text depends only on the filter's shape (columns, operators,
        list lengths); every literal is a ``?`` parameter.
        """
        parts: list[str] = []
        parameters: list[Any] = []
        for condition in self.conditions:
            parts.append(condition.sql())
            parameters.extend(condition.values)
        for column, is_null in self.null_tests:
            parts.append(f'"{column}" IS {"" if is_null else "NOT "}NULL')
        return (" AND ".join(parts) if parts else "TRUE"), parameters

    def describe(self) -> str:
        """Return the filter as readable text (for plans and audit); ``"none"`` if empty."""
        parts = [c.describe() for c in self.conditions]
        parts += [
            f"{column} is {'' if is_null else 'not '}null" for column, is_null in self.null_tests
        ]
        return " and ".join(parts) if parts else "none"


def _show(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return repr(value.isoformat())
    if isinstance(value, Decimal):
        return str(value)
    return repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def literal_for(column: str, column_type: str, value: Any) -> Any:
    """Return ``value`` as the DuckDB parameter comparing exactly with ``column_type``.

    Refuses values of the wrong type with ``InputError`` naming the column.
    """
    where = f"filter on {column!r} ({column_type})"
    if column_type == "int64":
        if isinstance(value, int) and not isinstance(value, bool):
            if not -(2**63) <= value < 2**63:
                raise InputError(f"{where}: {value} is outside the int64 range")
            return value
        raise InputError(f"{where}: expected an integer literal, got {value!r}")
    if decimal_scale(column_type) is not None:
        if not _is_number(value):
            raise InputError(f"{where}: expected a number, got {value!r}")
        # repr gives the shortest text that round-trips, i.e. the number as written.
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not exact.is_finite():
            raise InputError(f"{where}: {value!r} is not a finite number")
        return exact
    if column_type == "float64":
        if not _is_number(value) or value != value or value in (float("inf"), float("-inf")):
            raise InputError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if column_type == "string":
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string, got {value!r}")
        return value
    if column_type == "bool":
        if not isinstance(value, bool):
            raise InputError(f"{where}: expected true or false, got {value!r}")
        return value
    if column_type == "date":
        try:
            return dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            raise InputError(f"{where}: expected a date as 'YYYY-MM-DD', got {value!r}") from None
    if column_type == "timestamp":
        try:
            parsed = dt.datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise InputError(
                f"{where}: expected an ISO 8601 timestamp such as '2024-05-01T12:00:00', got {value!r}"
            ) from None
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
        return parsed
    raise InputError(f"{where}: columns of type {column_type} cannot be filtered")


def parse_filter(document: Any, schemas: list[tuple[str, Schema]]) -> Filter:
    """Check a filter document against every input schema and return it compiled.

    ``document`` is the JSON list of ``[column, op, literal]`` conditions;
    ``schemas`` pairs each input's ``member.table`` reference with its schema.
    A filter column must exist with one type in every input.
    """
    if document is None:
        return Filter(())
    if not isinstance(document, list):
        raise InputError(
            f"filter must be a list of [column, op, literal] conditions, got {document!r}"
        )
    if len(document) > MAX_CONDITIONS:
        raise InputError(
            f"filter has {len(document)} conditions; at most {MAX_CONDITIONS} are allowed"
        )
    conditions: list[Condition] = []
    null_tests: list[tuple[str, bool]] = []
    for position, item in enumerate(document):
        if not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], str):
            raise InputError(
                f"filter condition {position} must be [column, op, literal], got {item!r}"
            )
        raw_column, op, literal = item
        column = check_identifier(raw_column)
        if op not in OPERATORS:
            raise InputError(
                f"filter condition {position}: unknown operator {op!r}; use one of {', '.join(OPERATORS)}"
            )
        column_type = _common_type(column, schemas, position)
        if op == "is_null":
            if not isinstance(literal, bool):
                raise InputError(
                    f"filter condition {position}: is_null takes true or false, got {literal!r}"
                )
            null_tests.append((column, literal))
            continue
        if column_type == "bool" and op not in ("=", "!=", "in"):
            raise InputError(
                f"filter condition {position}: bool column {column!r} supports =, != and in only"
            )
        if op in COMPARISONS:
            values: tuple[Any, ...] = (literal_for(column, column_type, literal),)
        elif op == "in":
            if not isinstance(literal, list) or not 1 <= len(literal) <= MAX_IN_VALUES:
                raise InputError(
                    f"filter condition {position}: 'in' takes a list of 1 to {MAX_IN_VALUES} values, got {literal!r}"
                )
            values = tuple(literal_for(column, column_type, v) for v in literal)
        else:  # between
            if not isinstance(literal, list) or len(literal) != 2:
                raise InputError(
                    f"filter condition {position}: 'between' takes [low, high], got {literal!r}"
                )
            low, high = (literal_for(column, column_type, v) for v in literal)
            if low > high:
                raise InputError(
                    f"filter condition {position}: 'between' needs low <= high, got {literal!r}"
                )
            values = (low, high)
        conditions.append(Condition(column, op, values))
    return Filter(tuple(conditions), tuple(null_tests))


def _common_type(column: str, schemas: list[tuple[str, Schema]], position: int) -> str:
    types: dict[str, list[str]] = {}
    for reference, schema in schemas:
        if column not in schema.names:
            raise InputError(
                f"filter condition {position}: dataset {reference} has no column {column!r} "
                f"(its columns: {', '.join(schema.names)})"
            )
        types.setdefault(schema.type_of(column), []).append(reference)
    if len(types) > 1:
        spelled = "; ".join(f"{t} in {', '.join(refs)}" for t, refs in sorted(types.items()))
        raise InputError(
            f"filter condition {position}: column {column!r} has different types across inputs ({spelled})"
        )
    return next(iter(types))
