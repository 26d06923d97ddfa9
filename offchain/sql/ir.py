"""The checked query: expressions and clauses, resolved against the catalog and typed.

The parser turns sqlglot's tree into these frozen dataclasses; the policy
check, the planner, the owners' local steps and the MPC evaluator all read
them. Every node keeps the :class:`Position` of its source text so that a
refusal can point at it. Nodes compare by value, so two parties parsing
the same text get equal trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from offchain.programs.base import DatasetInfo
from offchain.sql.types import BIGINT, SqlType


@dataclass(frozen=True)
class Position:
    """Where a construct starts in the query text (1-based line and column)."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}"


NOWHERE = Position(1, 1)


@dataclass(frozen=True)
class Expr:
    """Base of all expressions; ``type`` is the SQL type of the value."""


@dataclass(frozen=True)
class ColumnRef(Expr):
    table: int  # index into Query.tables
    column: str
    type: SqlType
    text: str = field(default="", compare=False)  # as written, e.g. "b.amount"
    position: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Literal(Expr):
    value: object  # int, Decimal, float, str, bool, date, datetime or None (NULL)
    type: SqlType | None  # None for NULL
    position: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Arithmetic(Expr):
    operator: str  # + - * /
    left: Expr
    right: Expr
    type: SqlType
    position: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Negate(Expr):
    operand: Expr
    type: SqlType
    position: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Comparison(Expr):
    operator: str  # = <> < <= > >=
    left: Expr
    right: Expr
    position: Position = field(default=NOWHERE, compare=False)
    type: SqlType = SqlType("bool")


@dataclass(frozen=True)
class InList(Expr):
    operand: Expr
    values: tuple[Literal, ...]
    negated: bool
    position: Position = field(default=NOWHERE, compare=False)
    type: SqlType = SqlType("bool")


@dataclass(frozen=True)
class Between(Expr):
    operand: Expr
    low: Expr
    high: Expr
    negated: bool
    position: Position = field(default=NOWHERE, compare=False)
    type: SqlType = SqlType("bool")


@dataclass(frozen=True)
class IsNull(Expr):
    operand: Expr
    negated: bool
    position: Position = field(default=NOWHERE, compare=False)
    type: SqlType = SqlType("bool")


@dataclass(frozen=True)
class Logical(Expr):
    operator: str  # AND, OR
    operands: tuple[Expr, ...]
    position: Position = field(default=NOWHERE, compare=False)
    type: SqlType = SqlType("bool")


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr
    position: Position = field(default=NOWHERE, compare=False)
    type: SqlType = SqlType("bool")


AGGREGATES = ("COUNT", "SUM", "AVG", "MIN", "MAX", "VAR_SAMP", "VAR_POP", "STDDEV_SAMP",
              "STDDEV_POP")


@dataclass(frozen=True)
class Aggregate(Expr):
    function: str  # one of AGGREGATES
    argument: Expr | None  # None for COUNT(*)
    distinct: bool
    type: SqlType
    position: Position = field(default=NOWHERE, compare=False)

    def label(self) -> str:
        inner = "*" if self.argument is None else render(self.argument)
        return f"{self.function}({'DISTINCT ' if self.distinct else ''}{inner})"


@dataclass(frozen=True)
class TableRef:
    """One table of FROM/JOIN: the dataset, its alias in the query, and its input index."""

    index: int
    dataset: DatasetInfo
    alias: str
    position: Position = field(default=NOWHERE, compare=False)


@dataclass(frozen=True)
class Join:
    """``<previous tables> kind JOIN table ON left_keys = right_keys [AND condition]``.

    ``left_keys`` are columns of one earlier table (its owner computes the
    tags), ``right_keys`` columns of ``table``.
    """

    kind: str  # "inner" or "left"
    table: int
    left_keys: tuple[ColumnRef, ...]
    right_keys: tuple[ColumnRef, ...]
    condition: Expr | None  # further ON conditions (AND-ed), or None
    position: Position = field(default=NOWHERE, compare=False)

    @property
    def left_table(self) -> int:
        return self.left_keys[0].table


@dataclass(frozen=True)
class SelectItem:
    expr: Expr
    name: str  # output column name


@dataclass(frozen=True)
class OrderItem:
    output: int  # index into Query.select
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Query:
    """A supported SELECT statement, resolved and typed."""

    tables: tuple[TableRef, ...]
    joins: tuple[Join, ...]
    where: Expr | None
    group_by: tuple[ColumnRef, ...]
    having: Expr | None
    select: tuple[SelectItem, ...]
    order: tuple[OrderItem, ...]
    limit: int | None

    @property
    def is_aggregate(self) -> bool:
        """Whether the result has one row per group (GROUP BY or any aggregate)."""
        return bool(self.group_by) or any(
            contains_aggregate(item.expr) for item in self.select
        ) or self.having is not None


def children(expr: Expr) -> tuple[Expr, ...]:
    """Return the direct sub-expressions of ``expr``."""
    if isinstance(expr, (Arithmetic, Comparison)):
        return (expr.left, expr.right)
    if isinstance(expr, (Negate, Not, IsNull)):
        return (expr.operand,)
    if isinstance(expr, InList):
        return (expr.operand, *expr.values)
    if isinstance(expr, Between):
        return (expr.operand, expr.low, expr.high)
    if isinstance(expr, Logical):
        return expr.operands
    if isinstance(expr, Aggregate):
        return () if expr.argument is None else (expr.argument,)
    return ()


def walk(expr: Expr):
    """Yield ``expr`` and every sub-expression, depth first."""
    yield expr
    for child in children(expr):
        yield from walk(child)


def columns_of(expr: Expr | None) -> list[ColumnRef]:
    """Return the column references in ``expr`` (in order, with repeats)."""
    if expr is None:
        return []
    return [node for node in walk(expr) if isinstance(node, ColumnRef)]


def tables_of(expr: Expr | None) -> frozenset[int]:
    return frozenset(column.table for column in columns_of(expr))


def contains_aggregate(expr: Expr | None) -> bool:
    return expr is not None and any(isinstance(node, Aggregate) for node in walk(expr))


def aggregates_of(expr: Expr | None) -> list[Aggregate]:
    if expr is None:
        return []
    return [node for node in walk(expr) if isinstance(node, Aggregate)]


def conjuncts(expr: Expr | None) -> list[Expr]:
    """Split an AND tree into its conjuncts."""
    if expr is None:
        return []
    if isinstance(expr, Logical) and expr.operator == "AND":
        return [part for operand in expr.operands for part in conjuncts(operand)]
    return [expr]


def render_literal(literal: Literal) -> str:
    """Return a literal as SQL text (the query text is public, so constants may be shown)."""
    value = literal.value
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if literal.type is not None and literal.type.kind == "date":
        return f"DATE '{value.isoformat()}'"
    if literal.type is not None and literal.type.kind == "timestamp":
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    return str(value)


def render(expr: Expr) -> str:
    """Return SQL text of ``expr`` for people (explain output, messages)."""
    if isinstance(expr, ColumnRef):
        return expr.text or expr.column
    if isinstance(expr, Literal):
        return render_literal(expr)
    if isinstance(expr, Arithmetic):
        return f"({render(expr.left)} {expr.operator} {render(expr.right)})"
    if isinstance(expr, Negate):
        return f"-{render(expr.operand)}"
    if isinstance(expr, Comparison):
        return f"{render(expr.left)} {expr.operator} {render(expr.right)}"
    if isinstance(expr, InList):
        listed = ", ".join(render_literal(value) for value in expr.values)
        return f"{render(expr.operand)} {'NOT ' if expr.negated else ''}IN ({listed})"
    if isinstance(expr, Between):
        return (f"{render(expr.operand)} {'NOT ' if expr.negated else ''}BETWEEN "
                f"{render(expr.low)} AND {render(expr.high)}")
    if isinstance(expr, IsNull):
        return f"{render(expr.operand)} IS {'NOT ' if expr.negated else ''}NULL"
    if isinstance(expr, Logical):
        return "(" + f" {expr.operator} ".join(render(o) for o in expr.operands) + ")"
    if isinstance(expr, Not):
        return f"NOT {render(expr.operand)}"
    if isinstance(expr, Aggregate):
        return expr.label()
    raise TypeError(f"unknown expression {expr!r}")


COUNT_TYPE = BIGINT
