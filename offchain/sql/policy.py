"""Column constraint levels through a query: what each use of a column requires, and the check.

Levels follow SecretFlow SCQL's CCL (docs/topics/ccl/intro.rst), for the
requester, who is the only party that learns anything about the data from a
query (owners learn nothing of each other's tables; compute nodes learn only
the sizes listed in the plan's disclosures). A query runs only if every
value it reveals is plaintext for the requester. Each *use* of a column is
allowed by a set of levels; ``PLAINTEXT`` allows every use:

====================================  ===========================================
use (nearest operator that releases)  allowed by
====================================  ===========================================
returned as is, row by row            PLAINTEXT
returned, as a key of an inner join   PLAINTEXT_AFTER_JOIN (the values returned
(or the right key of a LEFT JOIN)     are the intersection)
GROUP BY key (returned or not)        PLAINTEXT_AFTER_GROUP_BY; groups with fewer
                                      than the minimum rows are dropped in MPC
argument of an aggregate              PLAINTEXT_AFTER_AGGREGATE
operand of a comparison (WHERE, ON,   PLAINTEXT_AFTER_COMPARE
HAVING; IN, BETWEEN, IS NULL too)
JOIN ... ON key equality              PLAINTEXT_AFTER_JOIN; or, when the query
                                      returns only aggregates and group keys (the
                                      join is never revealed row by row),
                                      PLAINTEXT_AFTER_AGGREGATE
====================================  ===========================================

After an inner join whose key is granted ``PLAINTEXT_AFTER_JOIN``, the key
is plaintext for the rest of the query (SCQL: "the intersection result is
PLAINTEXT"), so its later uses are allowed by that grant too; for a LEFT
JOIN only the right key is. The nearest releasing operator decides: in
``SUM(x) > 10`` ``x`` is aggregated (the comparison sees a plaintext sum),
in ``SUM(x > 10)``-like positions it would be compared.

The contract's rule (``ConstraintLevel.permits``) lets a grant ``G`` permit a
declared requirement ``R`` iff ``G`` is ``PLAINTEXT``, ``R`` is
``ENCRYPTED_ONLY`` or ``G == R``; so each use is declared with the level of
its allowed set the requester actually holds (the first of the set when the
grant is ``PLAINTEXT``), and a refused use names the column, the level
granted, every level that would allow it and why.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from offchain.errors import PolicyViolation
from offchain.programs.base import Catalog, ColumnUse
from offchain.sql.ir import (
    Aggregate,
    Between,
    ColumnRef,
    Comparison,
    Expr,
    InList,
    IsNull,
    Query,
    children,
    render,
)
from offchain.vocabulary import ConstraintLevel as Level

DEFAULT_MIN_GROUP_SIZE = 3


@dataclass(frozen=True)
class Use:
    """One use of a column: the levels that allow it and, for people, what the query does."""

    column: ColumnRef
    allowed: tuple[Level, ...]
    reason: str


@dataclass(frozen=True)
class PolicyDecision:
    """The outcome of a passed check."""

    uses: tuple[ColumnUse, ...]
    enforce_min_group_size: bool  # some GROUP BY key is revealed only after grouping
    revealed_join_keys: frozenset[tuple[int, str]]  # (table, column) plaintext after their join


def _where(expr: Expr) -> str:
    position = getattr(expr, "position", None)
    return f" at {position}" if position is not None else ""


class _Collector:
    def __init__(self, query: Query, plaintext_keys: frozenset[tuple[int, str]]) -> None:
        self.query = query
        self.plaintext_keys = plaintext_keys
        self.uses: list[Use] = []

    def add(self, column: ColumnRef, allowed: tuple[Level, ...], reason: str) -> None:
        if (column.table, column.column) in self.plaintext_keys and Level.PLAINTEXT_AFTER_JOIN not in allowed:
            allowed = (*allowed, Level.PLAINTEXT_AFTER_JOIN)
        self.uses.append(Use(column, allowed, reason))

    def visit(self, expr: Expr, context: str, clause: str) -> None:
        """Record uses in ``expr``; ``context`` is the nearest releasing operator so far."""
        if isinstance(expr, ColumnRef):
            if context == "aggregate":
                self.add(expr, (Level.PLAINTEXT_AFTER_AGGREGATE,), clause)
            elif context == "compare":
                self.add(expr, (Level.PLAINTEXT_AFTER_COMPARE,), clause)
            elif context == "group":
                self.add(expr, (Level.PLAINTEXT_AFTER_GROUP_BY,), clause)
            else:
                self.add(expr, (Level.PLAINTEXT,), clause)
            return
        if isinstance(expr, Aggregate):
            if expr.argument is not None:
                joiner = ", " if clause.startswith(("returned", "compared")) else " in "
                self.visit(expr.argument, "aggregate",
                           f"aggregated by {expr.label()}{_where(expr)}{joiner}{clause}")
            return
        if isinstance(expr, (Comparison, InList, Between, IsNull)):
            for child in children(expr):
                self.visit(child, "compare", f"compared in {clause}: {render(expr)}{_where(expr)}")
            return
        for child in children(expr):
            self.visit(child, context, clause)


def collect_uses(query: Query, plaintext_keys: frozenset[tuple[int, str]]) -> list[Use]:
    """Return every use of every column in ``query`` with the levels that allow it."""
    collector = _Collector(query, plaintext_keys)
    aggregate_query = query.is_aggregate
    returns_rows_of_join = not aggregate_query
    for join in query.joins:
        for left, right in zip(join.left_keys, join.right_keys, strict=True):
            for column in (left, right):
                allowed = (Level.PLAINTEXT_AFTER_JOIN,)
                if not returns_rows_of_join:
                    allowed = (Level.PLAINTEXT_AFTER_JOIN, Level.PLAINTEXT_AFTER_AGGREGATE)
                joined = query.tables[join.table].dataset.reference
                collector.uses.append(Use(column, allowed, (
                    f"join key of {join.kind.upper()} JOIN {joined} ON "
                    f"{left.text} = {right.text}{_where(join)}")))
        if join.condition is not None:
            collector.visit(join.condition, "value", "ON")
    if query.where is not None:
        collector.visit(query.where, "value", "WHERE")
    for column in query.group_by:
        collector.add(column, (Level.PLAINTEXT_AFTER_GROUP_BY,),
                      f"GROUP BY key {column.text} (the number of groups is revealed)")
    if query.having is not None:
        collector.visit(query.having, "value", "HAVING")
    for item in query.select:
        context = "value"
        if aggregate_query:
            context = "group"  # bare columns of an aggregate query are group keys
        if isinstance(item.expr, ColumnRef) and not aggregate_query and _is_returned_join_key(
                query, item.expr):
            collector.uses.append(Use(item.expr, (Level.PLAINTEXT_AFTER_JOIN,), (
                f"returned as {item.name!r}: the join key's values that matched")))
            continue
        collector.visit(item.expr, context, f"returned as {item.name!r}")
    return collector.uses


def _is_returned_join_key(query: Query, column: ColumnRef) -> bool:
    """Whether every non-NULL value of ``column`` in the joined rows is in a join's intersection.

    True for both keys of an inner join and for the right key of a LEFT JOIN
    (its unmatched rows are NULL); the left key of a LEFT JOIN keeps all values.
    """
    for join in query.joins:
        if column in join.right_keys or (join.kind == "inner" and column in join.left_keys):
            return True
    return False


def _plaintext_join_keys(query: Query, catalog: Catalog, requester: str) -> frozenset[tuple[int, str]]:
    """Keys that become plaintext after their join: granted AFTER_JOIN (or PLAINTEXT) on both sides."""
    plain = set()
    for join in query.joins:
        for left, right in zip(join.left_keys, join.right_keys, strict=True):
            levels = [_level(query, catalog, requester, c) for c in (left, right)]
            if all(level in (Level.PLAINTEXT, Level.PLAINTEXT_AFTER_JOIN) for level in levels):
                plain.add((right.table, right.column))
                if join.kind == "inner":
                    plain.add((left.table, left.column))
    return frozenset(plain)


def _level(query: Query, catalog: Catalog, requester: str, column: ColumnRef) -> Level:
    dataset = query.tables[column.table].dataset
    return catalog.level(dataset.dataset_id, column.column, requester)


def check_policy(query: Query, catalog: Catalog, requester: str) -> PolicyDecision:
    """Return the declared column uses, or raise ``PolicyViolation`` naming every refused use."""
    plaintext_keys = _plaintext_join_keys(query, catalog, requester)
    uses = collect_uses(query, plaintext_keys)
    declared: dict[tuple[int, str, Level], list[str]] = defaultdict(list)
    refused: dict[tuple[int, str], list[Use]] = defaultdict(list)
    granted_of: dict[tuple[int, str], Level] = {}
    for use in uses:
        key = (use.column.table, use.column.column)
        granted = granted_of.setdefault(key, _level(query, catalog, requester, use.column))
        if granted is Level.PLAINTEXT:
            required = use.allowed[0]
        elif granted in use.allowed:
            required = granted
        else:
            refused[key].append(use)
            continue
        if use.reason not in declared[(*key, required)]:
            declared[(*key, required)].append(use.reason)
    if refused:
        raise PolicyViolation(_refusal(query, requester, refused, uses, granted_of))
    column_uses = tuple(
        ColumnUse(table, column, required, "; ".join(reasons))
        for (table, column, required), reasons in sorted(
            declared.items(), key=lambda item: (item[0][0], item[0][1], int(item[0][2])))
    )
    enforce = any(
        granted_of[(c.table, c.column)] is Level.PLAINTEXT_AFTER_GROUP_BY
        and (c.table, c.column) not in plaintext_keys
        for c in query.group_by
    )
    return PolicyDecision(column_uses, enforce, plaintext_keys)


def _refusal(query: Query, requester: str, refused: dict, uses: list[Use], granted_of: dict) -> str:
    lines = [f"the query is refused by column policies for requester {requester}:"]
    for (table, column), bad in sorted(refused.items()):
        name = f"{query.tables[table].dataset.reference}.{column}"
        granted = granted_of[(table, column)]
        for use in bad:
            options = " or ".join(level.name for level in use.allowed)
            lines.append(
                f"  - {name} has {granted.name} for you; this query needs {options} for it "
                f"({use.reason}). A grant of {use.allowed[0].name} (or PLAINTEXT) on {name} to "
                f"{requester} would allow this use.")
        needs = {frozenset(u.allowed) for u in uses if (u.column.table, u.column.column) == (table, column)}
        if len(needs) > 1 and not frozenset.intersection(*needs):
            lines.append(f"    {name} is used in ways no single level allows together "
                         f"({'; '.join(sorted(' or '.join(level.name for level in n) for n in needs))}): "
                         "only PLAINTEXT allows all of them — or split the query.")
    return "\n".join(lines)

