"""The compiled query every role runs: per-table local work, joins, MPC expressions, outputs.

:func:`offchain.sql.planner.compile_query` builds a :class:`CompiledQuery`
from a checked :class:`~offchain.sql.ir.Query`; it is deterministic, so the
requester, every owner and every compute node derive the same one from the
same program text and catalog. Owners read :class:`TableWork` (what to
compute in their DuckDB and share); compute parties read the rest.

Expressions evaluated in MPC are the query's own IR, except that every
single-table condition is replaced by a :class:`LocalPredicate` — its owner
evaluates it in DuckDB (exact SQL three-valued logic) and shares the two
bits "is TRUE" and "is FALSE".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from offchain.sql.ir import Expr, Join, OrderItem, Position, TableRef
from offchain.sql.types import BOOLEAN, SqlType

TRUE, FALSE, UNKNOWN = "true", "false", "unknown"


@dataclass(frozen=True)
class LocalPredicate(Expr):
    """A condition on one table's columns, evaluated by its owner; ``index`` into its predicates."""

    table: int
    index: int
    on_null_row: str  # its value on an all-NULL row (a LEFT JOIN's null-extended rows)
    text: str = field(default="", compare=False)
    type: SqlType = BOOLEAN
    position: Position = field(default=Position(1, 1), compare=False)


@dataclass(frozen=True)
class TagWork:
    """Join-key tags an owner computes: ``PRF_k(key)`` with the key agreed for ``join``."""

    join: int
    columns: tuple[str, ...]
    secret: str  # name of the owner secret (agreed between the two owners of the join)


@dataclass(frozen=True)
class GroupWork:
    """GROUP BY columns held by one table: its owner shares a one-hot row-to-group matrix."""

    columns: tuple[str, ...]
    with_null_row: bool  # include the all-NULL key (the table is the right side of a LEFT JOIN)
    ranked: tuple[str, ...] = ()  # text keys ORDER BY ... LIMIT sorts in MPC: share their ranks


@dataclass(frozen=True)
class TableWork:
    """What the owner of one table computes locally and shares.

    Every row of the table is shared (in an order the owner shuffles), so
    filters never reveal how many rows pass them.
    """

    table: TableRef
    filter: Expr | None  # AND of single-table conditions applied before joins (or None: all rows)
    predicates: tuple[Expr, ...]  # conditions shared as TRUE/FALSE bits, used in MPC expressions
    values: tuple[str, ...]  # numeric/date/bool columns shared as values with NULL flags
    texts: tuple[str, ...]  # text columns returned row by row: shared as UTF-8 words
    tags: tuple[TagWork, ...]
    group: GroupWork | None
    distinct: tuple[str, ...] = ()  # columns counted with COUNT(DISTINCT)
    ranks: tuple[str, ...] = ()  # text columns ORDER BY ... LIMIT sorts in MPC: share their ranks
    aggregates: tuple[Expr, ...] = ()  # pre-aggregated by the owner, one row per group, if any


@dataclass(frozen=True)
class JoinWork:
    """One join in MPC: the matcher (compute party 0) matches the two tag columns."""

    join: Join
    index: int
    pair_condition: Expr | None  # LEFT JOIN: ON conditions beyond the keys (decide matching)


@dataclass(frozen=True)
class OutputColumn:
    name: str
    expr: Expr
    type: SqlType


@dataclass(frozen=True)
class CompiledQuery:
    """Everything the owners and compute parties need, derived from text and catalog."""

    sql: str
    requester: str
    tables: tuple[TableWork, ...]
    joins: tuple[JoinWork, ...]
    where: Expr | None  # conditions evaluated in MPC after the joins (None: none)
    aggregate: bool
    group_tables: tuple[int, ...]  # tables holding GROUP BY columns, in GROUP BY order of first use
    group_by: tuple[Expr, ...]
    having: Expr | None
    outputs: tuple[OutputColumn, ...]
    order: tuple[OrderItem, ...]
    limit: int | None
    min_group_size: int  # 1 when no minimum applies
    aggregates: tuple[Expr, ...]  # distinct Aggregate nodes computed in MPC
    preaggregated: bool = False  # one table: its owner computes the aggregates per group
    matcher_must_not_be: tuple[str, ...] = ()  # owners of joined tables (compute party 0 must not be one)
