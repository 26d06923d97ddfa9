"""The ``sql`` job program: plan, owners' local work, MPC, and decoding at the requester.

Program text (canonical JSON, public on chain)::

    {"program": "sql", "version": 1,
     "parameters": {"sql": "SELECT ...", "requester": "0x...", "min_group_size": 3}}

The requester's address is part of the text because the plan depends on
the requester's grants; the node must check that it equals the job's
requester on chain. ``min_group_size`` (at least 3) is the smallest group
returned when a GROUP BY key is revealed only after grouping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np

from offchain.data.store import LocalStore
from offchain.errors import InputError
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import Share
from offchain.programs.base import (
    Catalog,
    Inputs,
    Plan,
    canonical_program_text,
    program_parameters,
)
from offchain.sql.compiled import CompiledQuery
from offchain.sql.owner import owner_arrays, words_to_text
from offchain.sql.parser import parse_query
from offchain.sql.planner import (
    PROGRAM_NAME,
    PROGRAM_VERSION,
    build_plan,
    check_plan_text_parameters,
    column_kinds,
    compile_query,
)
from offchain.sql.policy import DEFAULT_MIN_GROUP_SIZE, check_policy
from offchain.sql.types import EPOCH_DATE, EPOCH_TIMESTAMP, SqlType
from offchain.vocabulary import JobKind


def query_program_text(sql: str, requester: str, min_group_size: int | None = None) -> str:
    """Return the canonical program text of a query asked by ``requester``."""
    return canonical_program_text(PROGRAM_NAME, PROGRAM_VERSION, {
        "sql": sql,
        "requester": requester,
        "min_group_size": DEFAULT_MIN_GROUP_SIZE if min_group_size is None else min_group_size,
    })


@dataclass(frozen=True)
class QueryResult:
    """A query's answer at the requester: column names and rows of Python values."""

    columns: tuple[str, ...]
    types: tuple[SqlType, ...]
    rows: list[tuple]

    def __len__(self) -> int:
        return len(self.rows)

    def to_text(self) -> str:
        """Return the rows as an aligned text table (NULL shown as ``NULL``)."""
        cells = [list(self.columns)] + [["NULL" if v is None else str(v) for v in row]
                                        for row in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                 for row in cells]
        lines.insert(1, "-+-".join("-" * width for width in widths))
        lines.append(f"({len(self.rows)} row{'s' if len(self.rows) != 1 else ''})")
        return "\n".join(lines)


def _compiled(plan: Plan) -> CompiledQuery:
    compiled = plan.parameters.get("compiled") if plan.parameters else None
    if not isinstance(compiled, CompiledQuery):
        raise InputError("this plan was not made by the sql program")
    return compiled


class SqlProgram:
    """Secure SQL over members' tables (see ``docs/SQL.md``)."""

    name: ClassVar[str] = PROGRAM_NAME
    kind: ClassVar[JobKind] = JobKind.QUERY

    def plan(self, text: str, catalog: Catalog) -> Plan:
        parameters = program_parameters(text, PROGRAM_NAME, PROGRAM_VERSION)
        sql, requester, min_group_size = check_plan_text_parameters(parameters)
        query = parse_query(sql, catalog)
        decision = check_policy(query, catalog, requester)
        compiled = compile_query(query, decision, requester, min_group_size, sql)
        return build_plan(text, compiled, decision, parameters)

    def owner_inputs(self, plan: Plan, input_index: int, store: LocalStore,
                     secrets: Mapping[str, bytes] | None = None) -> dict[str, np.ndarray]:
        compiled = _compiled(plan)
        if input_index not in range(len(compiled.tables)):
            raise InputError(f"input {input_index} does not exist; the query has "
                             f"{len(compiled.tables)} tables")
        work = compiled.tables[input_index]
        return owner_arrays(work, store, secrets or {}, column_kinds(work))

    def requester_inputs(self, plan: Plan, private: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if private:
            raise InputError("a SQL query takes no private requester inputs; put constants in the "
                             "query text")
        return {}

    def compute(self, runtime: Runtime, plan: Plan, inputs: Inputs) -> dict[str, Share]:
        from offchain.sql.engine import QueryRun

        return QueryRun(runtime, _compiled(plan), inputs).run()

    def decode(self, plan: Plan, outputs: Mapping[str, np.ndarray]) -> QueryResult:
        compiled = _compiled(plan)
        columns = []
        for index, column in enumerate(compiled.outputs):
            columns.append(decode_column(column.type, outputs[f"c{index}"],
                                         outputs[f"c{index}.null"]))
        count = len(columns[0]) if columns else 0
        rows = [tuple(column[i] for column in columns) for i in range(count)]
        rows = order_rows(rows, compiled)
        return QueryResult(tuple(c.name for c in compiled.outputs),
                           tuple(c.type for c in compiled.outputs), rows)


def decode_column(sql_type: SqlType, data: np.ndarray, null: np.ndarray) -> list:
    """Turn reconstructed ring values (or words, or floats) back into Python values."""
    null = np.asarray(null).astype(np.int64)
    if np.any((null != 0) & (null != 1)):
        raise InputError("a NULL flag outside {0, 1}: the result shares are inconsistent")
    if sql_type.is_text:
        texts = words_to_text(np.asarray(data).astype(np.int64).view(np.uint64).reshape(
            len(null), -1)) if len(null) else []
        return [None if n else t for t, n in zip(texts, null, strict=True)]
    values: list = []
    for raw, is_null in zip(np.asarray(data).tolist(), null.tolist(), strict=True):
        if is_null:
            values.append(None)
        elif sql_type.kind == "float":
            values.append(float(raw))
        elif sql_type.kind == "decimal":
            values.append(Decimal(int(raw)).scaleb(-sql_type.scale))
        elif sql_type.kind == "bool":
            values.append(bool(raw))
        elif sql_type.kind == "date":
            values.append(EPOCH_DATE + dt.timedelta(days=int(raw)))
        elif sql_type.kind == "timestamp":
            values.append(EPOCH_TIMESTAMP + dt.timedelta(microseconds=int(raw)))
        else:
            values.append(int(raw))
    return values


def order_rows(rows: list[tuple], compiled: CompiledQuery) -> list[tuple]:
    """Apply ORDER BY (stable, SQL NULL placement) and LIMIT to decoded rows."""
    for item in reversed(compiled.order):
        present = [r for r in rows if r[item.output] is not None]
        missing = [r for r in rows if r[item.output] is None]
        present.sort(key=lambda r: r[item.output], reverse=item.descending)
        rows = missing + present if item.nulls_first else present + missing
    if compiled.limit is not None:
        rows = rows[: compiled.limit]
    return rows
