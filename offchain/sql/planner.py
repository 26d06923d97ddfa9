"""From a checked query to the job plan: local work at each owner, MPC steps, disclosures.

The plan (``docs/SQL.md`` has the full design):

1. **At each owner, locally (DuckDB).** Every row of every table is read
   (row counts are public on chain). Conditions that touch one table only are
   evaluated here, with literals bound as parameters: a table's WHERE
   conjuncts become its secret *validity* bit; other single-table conditions
   (inside an OR across tables, or on the right side of a LEFT JOIN) become
   secret TRUE/FALSE bits. Columns the MPC needs are shared as values with a
   NULL flag; text columns returned row by row as UTF-8 words; join keys as
   128-bit tags under a key the two owners agree; GROUP BY columns as a
   one-hot row-to-group matrix over the owner's distinct keys. The owner
   shuffles its rows before sharing.
2. **MPC on the three compute nodes.** Joins (compute party 0 matches tags
   and routes rows by a permutation only it knows), conditions across
   tables, validity, grouped aggregates, HAVING, the minimum group size,
   and the compaction of the result.
3. **At the requester.** Reconstruction, decoding, ORDER BY and LIMIT.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from offchain.errors import InputError, UnsupportedQuery
from offchain.programs.base import (
    Catalog,
    InputPlan,
    OutputSpec,
    OwnerSecret,
    Plan,
    SharedArray,
)
from offchain.sql import ir
from offchain.sql.compiled import (
    FALSE,
    TRUE,
    UNKNOWN,
    CompiledQuery,
    GroupWork,
    JoinWork,
    LocalPredicate,
    OutputColumn,
    TableWork,
    TagWork,
)
from offchain.sql.ir import (
    Aggregate,
    ColumnRef,
    Expr,
    Logical,
    Query,
    conjuncts,
    render,
    tables_of,
)
from offchain.sql.policy import PolicyDecision
from offchain.vocabulary import JobKind

PROGRAM_NAME = "sql"
PROGRAM_VERSION = 1
MAX_GROUPS_PER_TABLE = 10_000
BOOLEAN_NODES = (ir.Comparison, ir.InList, ir.Between, ir.IsNull, ir.Logical, ir.Not)


# -- three-valued evaluation on an all-NULL row ------------------------------------------


def value_on_null_row(expr: Expr) -> str:
    """Return TRUE/FALSE/UNKNOWN: ``expr`` evaluated where every column is NULL (SQL 3VL)."""
    if isinstance(expr, ir.IsNull):
        null = _is_null_on_null_row(expr.operand)
        return (FALSE if null else TRUE) if expr.negated else (TRUE if null else FALSE)
    if isinstance(expr, (ir.Comparison, ir.InList, ir.Between)):
        operands = ir.children(expr)
        if any(_is_null_on_null_row(o) for o in operands):
            return UNKNOWN
        raise InputError(f"condition {render(expr)} has no column")
    if isinstance(expr, ir.Not):
        inner = value_on_null_row(expr.operand)
        return {TRUE: FALSE, FALSE: TRUE, UNKNOWN: UNKNOWN}[inner]
    if isinstance(expr, Logical):
        values = [value_on_null_row(o) for o in expr.operands]
        if expr.operator == "AND":
            return FALSE if FALSE in values else (UNKNOWN if UNKNOWN in values else TRUE)
        return TRUE if TRUE in values else (UNKNOWN if UNKNOWN in values else FALSE)
    if isinstance(expr, LocalPredicate):
        return expr.on_null_row
    raise InputError(f"not a condition: {render(expr)}")


def _is_null_on_null_row(expr: Expr) -> bool:
    if isinstance(expr, ColumnRef):
        return True
    if isinstance(expr, ir.Literal):
        return expr.value is None
    return any(_is_null_on_null_row(child) for child in ir.children(expr))


# -- compiling --------------------------------------------------------------------------


class _Compiler:
    def __init__(self, query: Query, decision: PolicyDecision, requester: str, min_group_size: int,
                 sql: str) -> None:
        self.query = query
        self.decision = decision
        self.requester = requester
        self.min_group_size = min_group_size
        self.sql = sql
        count = len(query.tables)
        self.filters: list[list[Expr]] = [[] for _ in range(count)]
        self.predicates: list[list[Expr]] = [[] for _ in range(count)]
        self.values: list[list[str]] = [[] for _ in range(count)]
        self.texts: list[list[str]] = [[] for _ in range(count)]
        self.tags: list[list[TagWork]] = [[] for _ in range(count)]
        self.distinct: list[list[str]] = [[] for _ in range(count)]
        self.left_joined = {join.table for join in query.joins if join.kind == "left"}

    def localize(self, expr: Expr) -> Expr:
        """Replace every maximal single-table condition in ``expr`` by a LocalPredicate."""
        if isinstance(expr, BOOLEAN_NODES) and not ir.contains_aggregate(expr):
            tables = tables_of(expr)
            if len(tables) == 1:
                (table,) = tables
                predicates = self.predicates[table]
                if expr not in predicates:
                    predicates.append(expr)
                return LocalPredicate(table, predicates.index(expr), value_on_null_row(expr),
                                      render(expr), position=getattr(expr, "position", ir.NOWHERE))
            if not tables:
                raise UnsupportedQuery("a condition without columns", expr.position.line,
                                       expr.position.column, render(expr))
        if isinstance(expr, Logical):
            return Logical(expr.operator, tuple(self.localize(o) for o in expr.operands),
                           expr.position)
        if isinstance(expr, ir.Not):
            return ir.Not(self.localize(expr.operand), expr.position)
        self.need_values(expr)
        return expr

    def need_values(self, expr: Expr) -> None:
        """Record the columns whose values (and NULL flags) MPC expressions read."""
        for node in ir.walk(expr):
            if isinstance(node, ColumnRef):
                if node.type.is_text and not isinstance(expr, Aggregate):
                    raise UnsupportedQuery(
                        f"comparing or computing with text column {node.text} across tables",
                        node.position.line, node.position.column,
                        "text columns can be compared with constants, grouped by, counted, "
                        "returned, or used as join keys")
                self.add_value(node)

    def add_value(self, column: ColumnRef) -> None:
        if column.column not in self.values[column.table]:
            self.values[column.table].append(column.column)

    def split_conditions(self) -> tuple[Expr | None, list[JoinWork]]:
        query = self.query
        mpc_where: list[Expr] = []
        # INNER JOIN conditions beyond the keys act like WHERE conditions, and so do HAVING
        # conditions on group keys alone (a group passes iff its rows do).
        where_parts = conjuncts(query.where) + self.having_on_keys
        for join in query.joins:
            if join.kind == "inner":
                where_parts += conjuncts(join.condition)
        for part in where_parts:
            tables = tables_of(part)
            if len(tables) == 1 and next(iter(tables)) not in self.left_joined:
                self.filters[next(iter(tables))].append(part)
            elif not tables:
                raise UnsupportedQuery("a condition without columns", part.position.line,
                                       part.position.column, render(part))
            else:
                mpc_where.append(self.localize(part))
        joins = []
        for index, join in enumerate(query.joins):
            pair_parts: list[Expr] = []
            if join.kind == "left":
                for part in conjuncts(join.condition):
                    if tables_of(part) == {join.table}:
                        self.filters[join.table].append(part)
                    else:
                        pair_parts.append(self.localize(part))
            pair = _and(pair_parts)
            joins.append(JoinWork(join, index, pair))
            secret = f"join{index}"
            self.tags[join.left_table].append(
                TagWork(index, tuple(k.column for k in join.left_keys), secret))
            self.tags[join.table].append(
                TagWork(index, tuple(k.column for k in join.right_keys), secret))
        return _and(mpc_where), joins

    def compile(self) -> CompiledQuery:
        query = self.query
        having_parts = conjuncts(query.having)
        self.having_on_keys = [p for p in having_parts if not ir.contains_aggregate(p)]
        having_rest = [p for p in having_parts if ir.contains_aggregate(p)]
        where, joins = self.split_conditions()
        aggregate = query.is_aggregate
        outputs = []
        aggregates: list[Expr] = []
        group_tables: list[int] = []
        for column in query.group_by:
            if column.table not in group_tables:
                group_tables.append(column.table)
        having = None
        if aggregate:
            having = _and(having_rest)
            for expr in [item.expr for item in query.select] + (
                    [having] if having is not None else []):
                for node in ir.aggregates_of(expr):
                    if node not in aggregates:
                        aggregates.append(node)
            for node in aggregates:
                self.check_aggregate(node)
            if having is not None:
                self.check_group_expression(having, "HAVING")
            for item in query.select:
                self.check_group_expression(item.expr, "SELECT")
        for item in query.select:
            expr = item.expr
            if not aggregate:
                if isinstance(expr, ColumnRef) and expr.type.is_text:
                    if expr.column not in self.texts[expr.table]:
                        self.texts[expr.table].append(expr.column)
                else:
                    self.need_values(expr)
            outputs.append(OutputColumn(item.name, expr, expr.type))
        ranked: list[ColumnRef] = []
        if query.limit is not None:
            for item in query.order:
                expr = query.select[item.output].expr
                if isinstance(expr, ColumnRef) and expr.type.is_text and expr not in ranked:
                    ranked.append(expr)
        groups: dict[int, GroupWork] = {}
        for table in group_tables:
            columns = tuple(c.column for c in query.group_by if c.table == table)
            groups[table] = GroupWork(columns, table in self.left_joined, tuple(
                c.column for c in ranked if c.table == table and aggregate))
        preaggregated = aggregate and len(query.tables) == 1
        if preaggregated:
            # One table: everything is the owner's own data, so it can aggregate per group
            # in DuckDB (over all rows, with the filter inside the aggregates, so that the
            # number of groups does not depend on the filter); MPC keeps HAVING, the
            # minimum group size, the compaction and LIMIT.
            (ref,) = query.tables
            tables = (TableWork(ref, _and(self.filters[0]), (), (), (), (),
                                groups.get(0), aggregates=tuple(aggregates)),)
            return self.finish(query, where, joins, aggregate, group_tables, having, outputs,
                               aggregates, tables, True)
        tables = tuple(
            TableWork(
                table=ref,
                filter=_and(self.filters[ref.index]),
                predicates=tuple(self.predicates[ref.index]),
                values=tuple(self.values[ref.index]),
                texts=tuple(self.texts[ref.index]),
                tags=tuple(self.tags[ref.index]),
                group=groups.get(ref.index),
                distinct=tuple(self.distinct[ref.index]),
                ranks=tuple(c.column for c in ranked if c.table == ref.index and not aggregate),
            )
            for ref in query.tables
        )
        return self.finish(query, where, joins, aggregate, group_tables, having, outputs,
                           aggregates, tables, False)

    def finish(self, query, where, joins, aggregate, group_tables, having, outputs, aggregates,
               tables, preaggregated) -> CompiledQuery:
        joined_owners = sorted({query.tables[t].dataset.owner.lower() for j in query.joins
                                for t in (j.table, j.left_table)})
        return CompiledQuery(
            sql=self.sql,
            requester=self.requester,
            tables=tables,
            joins=tuple(joins),
            where=where,
            aggregate=aggregate,
            group_tables=tuple(group_tables),
            group_by=tuple(query.group_by),
            having=having,
            outputs=tuple(outputs),
            order=query.order,
            limit=query.limit,
            min_group_size=self.min_group_size if self.decision.enforce_min_group_size else 1,
            aggregates=tuple(aggregates),
            preaggregated=preaggregated,
            matcher_must_not_be=tuple(joined_owners),
        )

    def check_aggregate(self, node: Aggregate) -> None:
        if node.argument is None:
            return
        argument = node.argument
        if node.distinct:
            column = argument
            if column.column not in self.distinct[column.table]:
                self.distinct[column.table].append(column.column)
            self.add_value(column) if not column.type.is_text else None
            return
        if isinstance(argument, ColumnRef) and argument.type.is_text:
            if node.function != "COUNT":
                raise UnsupportedQuery(f"{node.function} of a text column", node.position.line,
                                       node.position.column)
            self.add_value(argument)
            return
        self.need_values(argument)

    def check_group_expression(self, expr: Expr, clause: str) -> None:
        """Text group keys can be returned, not computed with, at group level."""
        for node in ir.walk(expr):
            if isinstance(node, ColumnRef) and node.type.is_text and clause == "HAVING":
                raise UnsupportedQuery(
                    f"comparing text group key {node.text} in HAVING together with aggregates",
                    node.position.line, node.position.column,
                    "put conditions on group keys in WHERE")


def _and(parts: list[Expr]) -> Expr | None:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return Logical("AND", tuple(parts))


def compile_query(query: Query, decision: PolicyDecision, requester: str, min_group_size: int,
                  sql: str) -> CompiledQuery:
    """Return the compiled query (deterministic in its inputs)."""
    return _Compiler(query, decision, requester, min_group_size, sql).compile()


# -- the job plan ---------------------------------------------------------------------


def shared_arrays(work: TableWork, kinds: Mapping[str, str]) -> tuple[SharedArray, ...]:
    """Return the arrays the owner of ``work`` shares, in a fixed order."""
    rows = work.table.dataset.row_count
    if work.aggregates:
        arrays = [SharedArray("pre.count", "integer")]
        for index, node in enumerate(work.aggregates):
            arrays.append(SharedArray(f"pre.a{index}", "fixed" if node.type.is_float else "integer"))
            arrays.append(SharedArray(f"pre.a{index}.null", "integer"))
        for column in work.group.columns if work.group else ():
            kind = kinds[column]
            arrays.append(SharedArray(f"group.key.{column}", "integer" if kind == "text" else kind))
            arrays.append(SharedArray(f"group.null.{column}", "integer"))
        arrays += [SharedArray(f"group.rank.{c}", "integer")
                   for c in (work.group.ranked if work.group else ())]
        return tuple(arrays)
    arrays = [SharedArray("valid", "integer", rows)]
    arrays += [SharedArray(f"pred{k}", "integer", rows) for k in range(len(work.predicates))]
    for column in work.values:
        if kinds[column] != "text":
            arrays.append(SharedArray(f"value.{column}", kinds[column], rows))
        arrays.append(SharedArray(f"null.{column}", "integer", rows))
    for column in work.texts:
        arrays.append(SharedArray(f"text.{column}", "integer", rows))
        if column not in work.values:
            arrays.append(SharedArray(f"null.{column}", "integer", rows))
    arrays += [SharedArray(f"rank.{column}", "integer", rows) for column in work.ranks]
    arrays += [SharedArray(f"tags{tag.join}", "integer", rows) for tag in work.tags]
    if work.group is not None:
        arrays.append(SharedArray("group.onehot", "integer", rows))
        for column in work.group.columns:
            kind = kinds[column]
            arrays.append(SharedArray(f"group.key.{column}", "integer" if kind == "text" else kind))
            arrays.append(SharedArray(f"group.null.{column}", "integer"))
        arrays += [SharedArray(f"group.rank.{column}", "integer") for column in work.group.ranked]
        if work.group.with_null_row:
            arrays.append(SharedArray("group.nullrow", "integer"))
    for column in work.distinct:
        arrays.append(SharedArray(f"distinct.{column}", "integer", rows))
    return tuple(arrays)


def column_kinds(work: TableWork) -> dict[str, str]:
    """Map each column of the table to ``integer``, ``fixed`` or ``text``."""
    from offchain.sql.types import from_schema_type

    kinds = {}
    for column in work.table.dataset.schema.columns:
        sql_type = from_schema_type(column.type)
        kinds[column.name] = "text" if sql_type.is_text else sql_type.share_kind
    return kinds


def output_specs(compiled: CompiledQuery) -> tuple[OutputSpec, ...]:
    specs = []
    for index, column in enumerate(compiled.outputs):
        kind = "fixed" if column.type.is_float else "integer"
        what = "UTF-8 words" if column.type.is_text else column.type.describe()
        specs.append(OutputSpec(f"c{index}", kind, f"{column.name} ({what})"))
        specs.append(OutputSpec(f"c{index}.null", "integer", f"{column.name} is NULL"))
    return tuple(specs)


def local_step_text(work: TableWork) -> str:
    from offchain.sql.owner import local_sql

    sql, parameters = local_sql(work)
    shown = sql if len(sql) < 600 else sql[:600] + " ..."
    return f"{shown}  -- {len(parameters)} bound parameter(s)"


def build_plan(text: str, compiled: CompiledQuery, decision: PolicyDecision,
               parameters: Mapping[str, Any]) -> Plan:
    """Assemble the job plan: inputs with their shared arrays, uses, outputs, steps, disclosures."""
    from offchain.sql.explain import describe_disclosures, describe_steps

    inputs = []
    for work in compiled.tables:
        kinds = column_kinds(work)
        read = sorted(set(work.values) | set(work.texts) | set(
            c for tag in work.tags for c in tag.columns) | set(
            work.group.columns if work.group else ()) | set(work.distinct) | {
            c.column for e in ([work.filter] if work.filter else []) + list(work.predicates)
            for c in ir.columns_of(e)})
        inputs.append(InputPlan(work.table.dataset, tuple(read), local_step_text(work),
                                shared_arrays(work, kinds)))
    secrets = tuple(
        OwnerSecret(f"join{join.index}", tuple(sorted({join.join.left_table, join.join.table})),
                    f"tag key of join {join.index + 1}: both owners compute PRF tags of their "
                    "keys with it; the matching compute node never sees it")
        for join in compiled.joins
    )
    return Plan(
        program=PROGRAM_NAME,
        kind=JobKind.QUERY,
        text=text,
        inputs=tuple(inputs),
        uses=decision.uses,
        outputs=output_specs(compiled),
        steps=describe_steps(compiled),
        disclosures=describe_disclosures(compiled),
        parameters={**parameters, "compiled": compiled},
        owner_secrets=secrets,
    )


def check_plan_text_parameters(parameters: Mapping[str, Any]) -> tuple[str, str, int]:
    """Return (sql, requester, min_group_size) from the program parameters, checked."""
    from offchain.sql.policy import DEFAULT_MIN_GROUP_SIZE

    expected = {"sql", "requester", "min_group_size"}
    if set(parameters) != expected:
        raise InputError(f"sql program parameters must be exactly {sorted(expected)}, got "
                         f"{sorted(parameters)}")
    sql, requester, minimum = (parameters["sql"], parameters["requester"],
                               parameters["min_group_size"])
    if not isinstance(sql, str) or not sql.strip():
        raise InputError("parameter 'sql' must be the query text")
    if not (isinstance(requester, str) and requester.startswith("0x") and len(requester) == 42):
        raise InputError(f"parameter 'requester' must be a 0x-prefixed address, got {requester!r}")
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < DEFAULT_MIN_GROUP_SIZE:
        raise InputError(f"min_group_size must be an integer >= {DEFAULT_MIN_GROUP_SIZE} (groups "
                         f"revealed after GROUP BY need at least that many rows), got {minimum!r}")
    return sql, requester, minimum


__all__ = ["PROGRAM_NAME", "PROGRAM_VERSION", "Catalog", "build_plan", "compile_query"]
