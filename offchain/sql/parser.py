"""From query text to a checked :class:`~offchain.sql.ir.Query`, refusing what is not supported.

Parsing is sqlglot's (DuckDB dialect); this module walks the tree and
accepts exactly the supported set:

* ``SELECT expr [AS name], ...`` over tables named ``member.table`` (with
  optional aliases); expressions of columns and literals with ``+ - * /``
  and unary minus; aggregates ``COUNT(*)``, ``COUNT([DISTINCT] x)``, ``SUM``,
  ``AVG``, ``MIN``, ``MAX``, ``VARIANCE``/``VAR_SAMP``, ``VAR_POP``,
  ``STDDEV``/``STDDEV_SAMP``, ``STDDEV_POP``;
* ``WHERE`` with comparisons, ``AND``/``OR``/``NOT``, ``IN (literals)``,
  ``BETWEEN``, ``IS [NOT] NULL``, on columns of any owner;
* ``[INNER] JOIN`` and ``LEFT [OUTER] JOIN ... ON`` with at least one
  equality between a column of the joined table and a column of an earlier
  one (more equalities make a composite key; other conditions are allowed);
* ``GROUP BY`` columns, ``HAVING``; ``ORDER BY`` result columns (by name,
  alias, expression or position), ``ASC``/``DESC``, ``NULLS FIRST``/``LAST``;
  ``LIMIT n``.

Everything else raises :class:`~offchain.errors.UnsupportedQuery` naming the
construct and its line and column; unknown tables or columns, ambiguous
names and type errors raise :class:`~offchain.errors.InputError` with the
names that were expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from offchain.errors import InputError, UnsupportedQuery
from offchain.programs.base import Catalog
from offchain.sql import types as t
from offchain.sql.ir import (
    AGGREGATES,
    Aggregate,
    Arithmetic,
    Between,
    ColumnRef,
    Comparison,
    Expr,
    InList,
    IsNull,
    Join,
    Literal,
    Logical,
    Negate,
    Not,
    OrderItem,
    Position,
    Query,
    SelectItem,
    TableRef,
    columns_of,
    contains_aggregate,
    render,
    walk,
)

MAX_LIMIT = 10_000_000

_AGGREGATE_CLASSES: dict[type, str] = {
    exp.Count: "COUNT",
    exp.Sum: "SUM",
    exp.Avg: "AVG",
    exp.Min: "MIN",
    exp.Max: "MAX",
    exp.Variance: "VAR_SAMP",
    exp.VariancePop: "VAR_POP",
    exp.Stddev: "STDDEV_SAMP",
    exp.StddevSamp: "STDDEV_SAMP",
    exp.StddevPop: "STDDEV_POP",
}
_ARITHMETIC = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}
_COMPARISONS = {exp.EQ: "=", exp.NEQ: "<>", exp.LT: "<", exp.LTE: "<=", exp.GT: ">",
                exp.GTE: ">="}
_FLIPPED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_SELECT_CLAUSES = {"expressions", "from_", "from", "joins", "where", "group", "having", "order",
                   "limit"}
_CLAUSE_NAMES = {"distinct": "SELECT DISTINCT", "with_": "WITH (common table expressions)",
                 "with": "WITH (common table expressions)", "offset": "OFFSET",
                 "windows": "WINDOW", "qualify": "QUALIFY", "laterals": "LATERAL",
                 "sample": "TABLESAMPLE", "settings": "SETTINGS", "locks": "FOR UPDATE",
                 "connect": "CONNECT BY", "prewhere": "PREWHERE", "match": "MATCH_RECOGNIZE",
                 "into": "SELECT INTO", "kind": "SELECT AS STRUCT", "hint": "query hints",
                 "exclude": "EXCLUDE", "operation_modifiers": "query modifiers",
                 "cluster": "CLUSTER BY", "distribute": "DISTRIBUTE BY", "sort": "SORT BY"}


# -- positions ----------------------------------------------------------------------


def _offset_to_position(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Position(line, column)


def _keyword_of(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Func):
        return node.sql_name() if not isinstance(node, exp.Anonymous) else str(node.this)
    keywords = {exp.Like: "LIKE", exp.ILike: "ILIKE", exp.Case: "CASE", exp.Cast: "CAST",
                exp.Window: "OVER", exp.Subquery: "(", exp.Exists: "EXISTS",
                exp.Distinct: "DISTINCT", exp.Star: "*", exp.Order: "ORDER",
                exp.Offset: "OFFSET", exp.With: "WITH", exp.Union: "UNION",
                exp.Intersect: "INTERSECT", exp.Except: "EXCEPT", exp.Null: "NULL",
                exp.Join: "JOIN", exp.Mod: "%", exp.Is: "IS"}
    for cls, keyword in keywords.items():
        if isinstance(node, cls):
            return keyword
    return None


def position_of(node: exp.Expression, text: str) -> Position:
    """Return where ``node`` starts in ``text``: its first located token, moved back to its keyword."""
    if isinstance(node, (exp.Union, exp.Intersect, exp.Except)):
        found = re.search(rf"\b{_keyword_of(node)}\b", text, re.IGNORECASE)
        return _offset_to_position(text, found.start()) if found else Position(1, 1)
    if isinstance(node, exp.Join):
        words = [str(node.args.get(k) or "").upper() for k in ("side", "kind")]
        keyword = next((w for w in words if w and w != "OUTER"), "JOIN")
        table_start = position_offset(node.this, text)
        before = text[:table_start] if table_start is not None else text
        matches = list(re.finditer(rf"\b{keyword}\b", before, re.IGNORECASE))
        if matches:
            return _offset_to_position(text, matches[-1].start())
    meta_start = node.meta.get("start") if node.meta else None
    starts = [meta_start] if meta_start is not None else [
        n.meta["start"] for n in node.walk() if n.meta and n.meta.get("start") is not None
    ]
    keyword = _keyword_of(node)
    if not starts:
        if keyword:
            found = re.search(re.escape(keyword), text, re.IGNORECASE)
            if found:
                return _offset_to_position(text, found.start())
        return Position(1, 1)
    start = min(starts)
    if keyword and meta_start is None:
        before = text[:start]
        found = None
        for match in re.finditer(re.escape(keyword), before, re.IGNORECASE):
            found = match
        if found is not None:
            start = found.start()
    return _offset_to_position(text, start)


def position_offset(node: exp.Expression, text: str) -> int | None:
    """Return the offset of the first located token of ``node``, or None."""
    starts = [n.meta["start"] for n in node.walk() if n.meta and n.meta.get("start") is not None]
    return min(starts) if starts else None


# -- the parser -----------------------------------------------------------------------


@dataclass
class _Scope:
    tables: list[TableRef]
    aliases: dict[str, int]


class _Parser:
    def __init__(self, text: str, catalog: Catalog) -> None:
        self.text = text
        self.catalog = catalog

    # errors -------------------------------------------------------------------------

    def unsupported(self, construct: str, node: exp.Expression, detail: str = "") -> UnsupportedQuery:
        position = position_of(node, self.text)
        return UnsupportedQuery(construct, position.line, position.column, detail)

    def error(self, message: str, node: exp.Expression | None = None) -> InputError:
        if node is None:
            return InputError(message)
        return InputError(f"{message} (at {position_of(node, self.text)})")

    # statement ----------------------------------------------------------------------

    def parse(self) -> Query:
        try:
            statements = sqlglot.parse(self.text, dialect="duckdb")
        except (ParseError, TokenError) as exc:
            raise InputError(f"the query is not valid SQL: {_first_line(exc)}") from None
        statements = [s for s in statements if s is not None]
        if len(statements) != 1:
            raise InputError(f"expected exactly one SELECT statement, got {len(statements)}")
        statement = statements[0]
        if not isinstance(statement, exp.Select):
            construct = {exp.Union: "UNION", exp.Intersect: "INTERSECT",
                         exp.Except: "EXCEPT"}.get(type(statement))
            raise self.unsupported(construct or f"{statement.key.upper()} statement", statement,
                                   "only SELECT queries can be run")
        for key, value in statement.args.items():
            if value in (None, [], False):
                continue
            if key not in _SELECT_CLAUSES:
                node = value if isinstance(value, exp.Expression) else statement
                raise self.unsupported(_CLAUSE_NAMES.get(key, key.upper()), node)
        scope = self.parse_tables(statement)
        joins = self.parse_joins(statement, scope)
        where_node = statement.args.get("where")
        where = self.predicate(where_node.this, scope, "WHERE") if where_node else None
        if where is not None and contains_aggregate(where):
            raise self.error("aggregates are not allowed in WHERE; use HAVING", where_node)
        select = self.parse_select(statement, scope)
        group_by = self.parse_group_by(statement, scope, select)
        having_node = statement.args.get("having")
        having = self.predicate(having_node.this, scope, "HAVING") if having_node else None
        query_is_aggregate = bool(group_by) or having is not None or any(
            contains_aggregate(item.expr) for item in select)
        if query_is_aggregate:
            self.check_grouping(select, group_by, having, statement)
        order = self.parse_order(statement, scope, select)
        limit = self.parse_limit(statement)
        return Query(tuple(scope.tables), tuple(joins), where, tuple(group_by), having,
                     tuple(select), tuple(order), limit)

    # FROM and JOIN ------------------------------------------------------------------

    def table(self, node: exp.Expression, scope: _Scope) -> TableRef:
        if not isinstance(node, exp.Table):
            raise self.unsupported("a subquery or table function in FROM", node,
                                   "name registered datasets as member.table")
        if node.args.get("catalog") or not node.args.get("db"):
            raise self.error(
                f"table {node.sql(dialect='duckdb')!r} must be named member.table "
                "(the member that registered it, then the dataset name)", node)
        for key in ("joins", "pivots", "laterals", "sample", "hints"):
            if node.args.get(key):
                raise self.unsupported(key.upper(), node)
        reference = f"{node.db}.{node.name}".lower()
        dataset = self.catalog.dataset(reference)
        alias = (node.alias or node.name).lower()
        if alias in scope.aliases:
            raise self.error(f"table alias {alias!r} is used twice; give each table its own alias",
                             node)
        ref = TableRef(len(scope.tables), dataset, alias, position_of(node, self.text))
        scope.tables.append(ref)
        scope.aliases[alias] = ref.index
        return ref

    def parse_tables(self, statement: exp.Select) -> _Scope:
        scope = _Scope([], {})
        from_node = statement.args.get("from_") or statement.args.get("from")
        if from_node is None:
            raise self.error("the query has no FROM clause; name a table as member.table")
        if from_node.expressions:
            raise self.unsupported("a comma-separated FROM list", from_node,
                                   "use JOIN ... ON with an equality of keys")
        self.table(from_node.this, scope)
        return scope

    def parse_joins(self, statement: exp.Select, scope: _Scope) -> list[Join]:
        joins = []
        for node in statement.args.get("joins") or []:
            side = (node.args.get("side") or "").upper()
            kind = (node.args.get("kind") or "").upper()
            if side in ("RIGHT", "FULL"):
                raise self.unsupported(f"{side} JOIN", node,
                                       "swap the tables and use LEFT JOIN, or use INNER JOIN")
            if kind in ("CROSS", "SEMI", "ANTI", "ASOF", "POSITIONAL", "NATURAL"):
                raise self.unsupported(f"{kind} JOIN", node)
            if kind not in ("", "INNER", "OUTER"):
                raise self.unsupported(f"{kind} JOIN", node)
            if node.args.get("using"):
                raise self.unsupported("JOIN ... USING", node, "write ON left.key = right.key")
            if not side and not kind and node.args.get("on") is None:
                raise self.unsupported("a comma-separated FROM list", node.this,
                                       "use JOIN ... ON with an equality of keys")
            if node.args.get("method"):
                raise self.unsupported(f"{str(node.args['method']).upper()} JOIN", node)
            on = node.args.get("on")
            if on is None:
                raise self.unsupported("a JOIN without ON", node,
                                       "join on an equality of keys: ON a.key = b.key")
            table = self.table(node.this, scope)
            condition = self.predicate(on, scope, "ON")
            if contains_aggregate(condition):
                raise self.error("aggregates are not allowed in ON", on)
            joins.append(self.split_join(condition, table, "left" if side == "LEFT" else "inner",
                                         node, scope))
        return joins

    def split_join(self, condition: Expr, table: TableRef, kind: str, node: exp.Expression,
                   scope: _Scope) -> Join:
        from offchain.sql.ir import conjuncts

        keys: list[tuple[ColumnRef, ColumnRef]] = []
        rest: list[Expr] = []
        left_table: int | None = None
        for part in conjuncts(condition):
            pair = _key_pair(part, table.index)
            if pair is not None and (left_table is None or pair[0].table == left_table):
                left_table = pair[0].table
                keys.append(pair)
            else:
                rest.append(part)
        if not keys:
            raise self.error(
                f"JOIN {table.dataset.reference} needs an equality between one of its columns "
                "and a column of an earlier table in ON (e.g. ON a.id = b.id)", node)
        for left, right in keys:
            if not _same_key_type(left.type, right.type):
                raise self.error(
                    f"join keys {left.text} ({left.type.describe()}) and {right.text} "
                    f"({right.type.describe()}) have different types; keys must have the same type",
                    node)
            if left.type.is_float:
                raise self.error(
                    f"join key {left.text} is a DOUBLE: floating-point keys do not match reliably; "
                    "join on integers, decimals, text or dates", node)
        if rest:
            extra: Expr | None = rest[0] if len(rest) == 1 else Logical("AND", tuple(rest))
        else:
            extra = None
        return Join(kind, table.index, tuple(k[0] for k in keys), tuple(k[1] for k in keys),
                    extra, position_of(node, self.text))

    # SELECT list --------------------------------------------------------------------

    def parse_select(self, statement: exp.Select, scope: _Scope) -> list[SelectItem]:
        items = []
        for node in statement.expressions:
            if isinstance(node, exp.Star) or (isinstance(node, exp.Column)
                                              and isinstance(node.this, exp.Star)):
                items.extend(self.expand_star(node, scope))
                continue
            name = None
            inner = node
            if isinstance(node, exp.Alias):
                name = node.alias.lower()
                inner = node.this
            expr = self.value(inner, scope, "SELECT")
            if name is None:
                name = expr.column if isinstance(expr, ColumnRef) else inner.sql(dialect="duckdb")
            items.append(SelectItem(expr, name))
        if not items:
            raise self.error("the SELECT list is empty")
        return items

    def expand_star(self, node: exp.Expression, scope: _Scope) -> list[SelectItem]:
        table_name = node.table.lower() if isinstance(node, exp.Column) and node.table else None
        if table_name is not None and table_name not in scope.aliases:
            raise self.error(f"unknown table {table_name!r} in {node.sql()}", node)
        chosen = [scope.tables[scope.aliases[table_name]]] if table_name else scope.tables
        items = []
        for ref in chosen:
            for column in ref.dataset.schema.columns:
                ctype = t.from_schema_type(column.type)
                expr = ColumnRef(ref.index, column.name, ctype, f"{ref.alias}.{column.name}",
                                 position_of(node, self.text))
                items.append(SelectItem(expr, column.name))
        return items

    # GROUP BY, ORDER BY, LIMIT ------------------------------------------------------

    def parse_group_by(self, statement: exp.Select, scope: _Scope,
                       select: list[SelectItem]) -> list[ColumnRef]:
        group = statement.args.get("group")
        if group is None:
            return []
        for key in ("grouping_sets", "cube", "rollup", "totals"):
            if group.args.get(key):
                raise self.unsupported(f"GROUP BY {key.upper().replace('_', ' ')}", group)
        columns: list[ColumnRef] = []
        aliases = {item.name: item.expr for item in select}
        for node in group.expressions:
            if isinstance(node, exp.Literal) and not node.is_string:
                position = int(node.this)
                if not 1 <= position <= len(select):
                    raise self.error(f"GROUP BY {position}: the SELECT list has {len(select)} items",
                                     node)
                expr = select[position - 1].expr
            elif (isinstance(node, exp.Column) and not node.table
                  and node.name.lower() in aliases and not self.is_column(node, scope)):
                expr = aliases[node.name.lower()]
            else:
                expr = self.value(node, scope, "GROUP BY")
            if not isinstance(expr, ColumnRef):
                raise self.unsupported("GROUP BY an expression", node,
                                       "group by columns; compute expressions in SELECT")
            if expr.type.is_float:
                raise self.error(f"GROUP BY {expr.text}: a DOUBLE column is not a group key; group "
                                 "by integers, decimals, text, dates or booleans", node)
            if expr not in columns:
                columns.append(expr)
        return columns

    def check_grouping(self, select: list[SelectItem], group_by: list[ColumnRef],
                       having: Expr | None, statement: exp.Select) -> None:
        grouped = set(group_by)
        for expr, clause in [(item.expr, "SELECT") for item in select] + [(having, "HAVING")]:
            if expr is None:
                continue
            for column in _bare_columns(expr):
                if column not in grouped:
                    raise self.error(
                        f"column {column.text} in {clause} must appear in GROUP BY or be used "
                        "in an aggregate function", statement)
        for expr in [item.expr for item in select] + [having]:
            for node in walk(expr) if expr is not None else ():
                if isinstance(node, Aggregate) and node.argument is not None:
                    if contains_aggregate(node.argument):
                        raise self.error(f"aggregate {node.label()} contains another aggregate",
                                         statement)

    def parse_order(self, statement: exp.Select, scope: _Scope,
                    select: list[SelectItem]) -> list[OrderItem]:
        order = statement.args.get("order")
        if order is None:
            return []
        items = []
        names = [item.name for item in select]
        for node in order.expressions:
            if not isinstance(node, exp.Ordered):
                raise self.unsupported("this ORDER BY form", node)
            target = node.this
            index = None
            if isinstance(target, exp.Literal) and not target.is_string:
                position = int(target.this)
                if not 1 <= position <= len(select):
                    raise self.error(f"ORDER BY {position}: the SELECT list has {len(select)} items",
                                     target)
                index = position - 1
            elif isinstance(target, exp.Column) and not target.table and target.name.lower() in names:
                index = names.index(target.name.lower())
            else:
                expr = self.value(target, scope, "ORDER BY")
                matches = [i for i, item in enumerate(select) if item.expr == expr]
                if not matches:
                    raise self.unsupported(
                        "ORDER BY an expression that is not in the SELECT list", target,
                        "order by a result column: add it to SELECT")
                index = matches[0]
            descending = bool(node.args.get("desc"))
            nulls_first = node.args.get("nulls_first")
            items.append(OrderItem(index, descending, bool(nulls_first)))
        return items

    def parse_limit(self, statement: exp.Select) -> int | None:
        limit = statement.args.get("limit")
        if limit is None:
            return None
        value = limit.expression if isinstance(limit, exp.Limit) else limit
        if not isinstance(value, exp.Literal) or value.is_string or not value.this.isdigit():
            raise self.unsupported("LIMIT with an expression", limit, "use LIMIT <integer>")
        count = int(value.this)
        if count > MAX_LIMIT:
            raise self.error(f"LIMIT {count} is above the maximum {MAX_LIMIT}", limit)
        return count

    # expressions --------------------------------------------------------------------

    def is_column(self, node: exp.Column, scope: _Scope) -> bool:
        name = node.name.lower()
        return any(name in ref.dataset.schema.names for ref in scope.tables)

    def column(self, node: exp.Column, scope: _Scope) -> ColumnRef:
        if isinstance(node.this, exp.Star):
            raise self.unsupported("* inside an expression", node)
        name = node.name.lower()
        qualifier = node.table.lower() if node.table else None
        if node.args.get("db"):
            qualifier = f"{node.db}.{node.table}".lower()
            matches = [r for r in scope.tables if r.dataset.reference == qualifier]
            if not matches:
                raise self.error(f"unknown table {qualifier!r} in {node.sql()}", node)
            if len(matches) > 1:
                raise self.error(f"{qualifier!r} appears twice; qualify columns with an alias", node)
            candidates = matches
        elif qualifier is not None:
            if qualifier not in scope.aliases:
                known = ", ".join(sorted(scope.aliases))
                raise self.error(f"unknown table or alias {qualifier!r} in {node.sql()}; "
                                 f"tables in scope: {known}", node)
            candidates = [scope.tables[scope.aliases[qualifier]]]
        else:
            candidates = [r for r in scope.tables if name in r.dataset.schema.names]
            if not candidates:
                raise self.error(f"unknown column {name!r}; columns in scope: "
                                 f"{_columns_in_scope(scope)}", node)
            if len(candidates) > 1:
                raise self.error(f"column {name!r} is ambiguous (in "
                                 f"{', '.join(r.alias for r in candidates)}); qualify it", node)
        ref = candidates[0]
        if name not in ref.dataset.schema.names:
            raise self.error(f"{ref.dataset.reference} has no column {name!r}; its columns are "
                             f"{', '.join(ref.dataset.schema.names)}", node)
        ctype = t.from_schema_type(ref.dataset.schema.type_of(name))
        return ColumnRef(ref.index, name, ctype, f"{ref.alias}.{name}", position_of(node, self.text))

    def literal(self, node: exp.Expression) -> Literal | None:
        position = position_of(node, self.text)
        if isinstance(node, exp.Null):
            return Literal(None, None, position)
        if isinstance(node, exp.Boolean):
            return Literal(bool(node.this), t.BOOLEAN, position)
        if isinstance(node, exp.Literal):
            if node.is_string:
                return Literal(node.this, t.VARCHAR, position)
            typed = t.literal_number(node.this)
            return Literal(typed.value, typed.type, position)
        if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
            typed = t.literal_number(node.this.this)
            return Literal(-typed.value, typed.type, position)
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
            target = node.to.this
            if target == exp.DataType.Type.DATE:
                return Literal(self.convert(t.parse_date, node.this.this, node), t.DATE, position)
            if target in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ):
                return Literal(self.convert(t.parse_timestamp, node.this.this, node), t.TIMESTAMP,
                               position)
        return None

    def convert(self, function, value, node):
        try:
            return function(value)
        except InputError as exc:
            raise self.error(str(exc), node) from None

    def coerce(self, literal: Literal, target: Expr, node: exp.Expression) -> Literal:
        """Read a text literal compared with a date or timestamp as that type (as DuckDB does)."""
        ttype = getattr(target, "type", None)
        if literal.type is not None and literal.type.is_text and ttype is not None:
            if ttype.kind == "date":
                return Literal(self.convert(t.parse_date, literal.value, node), t.DATE,
                               literal.position)
            if ttype.kind == "timestamp":
                return Literal(self.convert(t.parse_timestamp, literal.value, node), t.TIMESTAMP,
                               literal.position)
        return literal

    def value(self, node: exp.Expression, scope: _Scope, clause: str) -> Expr:
        """Parse a value expression (columns, literals, arithmetic, aggregates)."""
        literal = self.literal(node)
        if literal is not None:
            return literal
        if isinstance(node, exp.Paren):
            return self.value(node.this, scope, clause)
        if isinstance(node, exp.Column):
            return self.column(node, scope)
        if type(node) in _ARITHMETIC:
            operator = _ARITHMETIC[type(node)]
            left = self.value(node.this, scope, clause)
            right = self.value(node.expression, scope, clause)
            for side in (left, right):
                if isinstance(side, Literal) and side.value is None:
                    raise self.unsupported("arithmetic with NULL", node)
            result = t.arithmetic_result(operator, _type(left), _type(right))
            if result is None:
                raise self.error(f"cannot compute {_type(left).describe()} {operator} "
                                 f"{_type(right).describe()} in {node.sql()}", node)
            return Arithmetic(operator, left, right, result, position_of(node, self.text))
        if isinstance(node, exp.Neg):
            operand = self.value(node.this, scope, clause)
            if not _type(operand).is_numeric:
                raise self.error(f"cannot negate {_type(operand).describe()} in {node.sql()}", node)
            return Negate(operand, _type(operand), position_of(node, self.text))
        if type(node) in _AGGREGATE_CLASSES:
            return self.aggregate(node, scope, clause)
        if isinstance(node, (exp.Predicate, exp.Connector, exp.Not)):
            raise self.unsupported(f"a condition as a value ({node.sql()})", node,
                                   "conditions belong in WHERE, ON or HAVING")
        raise self.unsupported(_describe(node), node)

    def aggregate(self, node: exp.Expression, scope: _Scope, clause: str) -> Aggregate:
        function = _AGGREGATE_CLASSES[type(node)]
        if clause in ("WHERE", "ON", "GROUP BY"):
            raise self.error(f"aggregate {function} is not allowed in {clause}", node)
        position = position_of(node, self.text)
        argument_node = node.this
        distinct = False
        if isinstance(argument_node, exp.Distinct):
            if function != "COUNT":
                raise self.unsupported(f"{function}(DISTINCT ...)", node,
                                       "only COUNT(DISTINCT column) is supported")
            if len(argument_node.expressions) != 1:
                raise self.unsupported("COUNT(DISTINCT of several columns)", node)
            distinct = True
            argument_node = argument_node.expressions[0]
        if node.args.get("expressions") or any(
                node.args.get(k) for k in ("filter", "over", "order", "ignore_nulls")):
            raise self.unsupported(f"{function} with extra arguments or modifiers", node)
        if isinstance(argument_node, exp.Star) or argument_node is None:
            if function != "COUNT":
                raise self.error(f"{function}(*) is not valid; name a column", node)
            return Aggregate("COUNT", None, False, t.BIGINT, position)
        argument = self.value(argument_node, scope, clause)
        if contains_aggregate(argument):
            raise self.error(f"aggregate {function} contains another aggregate", node)
        if isinstance(argument, Literal):
            raise self.unsupported(f"{function} of a constant", node, "aggregate a column")
        atype = _type(argument)
        if distinct and not isinstance(argument, ColumnRef):
            raise self.unsupported("COUNT(DISTINCT expression)", node,
                                   "COUNT(DISTINCT column) is supported")
        if function == "COUNT":
            return Aggregate("COUNT", argument, distinct, t.BIGINT, position)
        if atype.is_text:
            raise self.unsupported(f"{function} of a text column", node,
                                   "text columns can be counted, grouped by and filtered")
        if function == "SUM":
            if atype.kind in ("date", "timestamp"):
                raise self.error(f"SUM of {atype.describe()} {render(argument)} is not defined", node)
            result = t.BIGINT if atype.kind == "bool" else atype
        elif function in ("MIN", "MAX"):
            result = atype
        else:
            if atype.kind in ("date", "timestamp"):
                raise self.error(f"{function} of {atype.describe()} {render(argument)} is not "
                                 "supported", node)
            result = t.DOUBLE
        return Aggregate(function, argument, False, result, position)

    def predicate(self, node: exp.Expression, scope: _Scope, clause: str) -> Expr:
        """Parse a condition (comparisons, AND/OR/NOT, IN, BETWEEN, IS NULL, boolean columns)."""
        position = position_of(node, self.text)
        if isinstance(node, exp.Paren):
            return self.predicate(node.this, scope, clause)
        if isinstance(node, (exp.And, exp.Or)):
            operator = "AND" if isinstance(node, exp.And) else "OR"
            operands = []
            for side in (node.this, node.expression):
                parsed = self.predicate(side, scope, clause)
                if isinstance(parsed, Logical) and parsed.operator == operator:
                    operands.extend(parsed.operands)
                else:
                    operands.append(parsed)
            return Logical(operator, tuple(operands), position)
        if isinstance(node, exp.Not):
            inner = node.this
            if isinstance(inner, exp.Paren):
                inner = inner.this
            if isinstance(inner, exp.In):
                parsed = self.predicate(inner, scope, clause)
                return InList(parsed.operand, parsed.values, not parsed.negated, position)
            if isinstance(inner, exp.Between):
                parsed = self.predicate(inner, scope, clause)
                return Between(parsed.operand, parsed.low, parsed.high, True, position)
            if isinstance(inner, exp.Is):
                parsed = self.predicate(inner, scope, clause)
                return IsNull(parsed.operand, not parsed.negated, position)
            return Not(self.predicate(node.this, scope, clause), position)
        if type(node) in _COMPARISONS:
            operator = _COMPARISONS[type(node)]
            left = self.value(node.this, scope, clause)
            right = self.value(node.expression, scope, clause)
            if isinstance(left, Literal) and isinstance(right, Literal):
                raise self.unsupported("a comparison of two constants", node)
            if isinstance(left, Literal):
                left, right, operator = right, left, _FLIPPED[operator]
            if isinstance(right, Literal):
                if right.value is None:
                    raise self.error(f"comparing with NULL is never true in {node.sql()}; use IS "
                                     "NULL", node)
                right = self.coerce(right, left, node)
            self.check_comparable(left, right, node)
            return Comparison(operator, left, right, position)
        if isinstance(node, exp.In):
            if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
                raise self.unsupported("IN with a subquery", node, "list constants: IN (1, 2, 3)")
            operand = self.value(node.this, scope, clause)
            values = []
            for item in node.expressions:
                literal = self.literal(item)
                if literal is None:
                    raise self.unsupported("IN with a non-constant list item", item,
                                           "list constants: IN (1, 2, 3)")
                if literal.value is None:
                    raise self.unsupported("NULL inside an IN list", item)
                literal = self.coerce(literal, operand, item)
                self.check_comparable(operand, literal, item)
                values.append(literal)
            return InList(operand, tuple(values), False, position)
        if isinstance(node, exp.Between):
            operand = self.value(node.this, scope, clause)
            low = self.value(node.args["low"], scope, clause)
            high = self.value(node.args["high"], scope, clause)
            bounds = []
            for bound in (low, high):
                if isinstance(bound, Literal):
                    if bound.value is None:
                        raise self.unsupported("BETWEEN with a NULL bound", node)
                    bound = self.coerce(bound, operand, node)
                self.check_comparable(operand, bound, node)
                bounds.append(bound)
            return Between(operand, bounds[0], bounds[1], False, position)
        if isinstance(node, exp.Is):
            if not isinstance(node.expression, exp.Null):
                raise self.unsupported(f"IS {node.expression.sql()}", node, "use IS [NOT] NULL")
            return IsNull(self.value(node.this, scope, clause), False, position)
        if isinstance(node, exp.Column):
            column = self.column(node, scope)
            if column.type.kind != "bool":
                raise self.error(f"{column.text} is {column.type.describe()}, not a condition", node)
            return Comparison("=", column, Literal(True, t.BOOLEAN, position), position)
        if isinstance(node, exp.Boolean):
            raise self.unsupported("a constant condition", node)
        if isinstance(node, (exp.Like, exp.ILike, exp.RegexpLike, exp.SimilarTo)):
            raise self.unsupported(_describe(node), node, "compare text with =, <> or IN")
        raise self.unsupported(_describe(node), node)

    def check_comparable(self, left: Expr, right: Expr, node: exp.Expression) -> None:
        ltype, rtype = _type(left), _type(right)
        if not t.comparable(ltype, rtype):
            raise self.error(f"cannot compare {ltype.describe()} with {rtype.describe()} in "
                             f"{node.sql()}", node)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_CONSTRUCT_NAMES: dict[type, str] = {
    exp.Window: "window function (OVER)",
    exp.Subquery: "subquery",
    exp.Select: "subquery",
    exp.Case: "CASE",
    exp.Cast: "CAST",
    exp.Like: "LIKE",
    exp.ILike: "ILIKE",
    exp.Mod: "the % operator",
    exp.Exists: "EXISTS",
    exp.DPipe: "string concatenation (||)",
    exp.Placeholder: "query parameters",
    exp.Parameter: "query parameters",
}


def _describe(node: exp.Expression) -> str:
    """Name an unsupported construct for people."""
    for cls, name in _CONSTRUCT_NAMES.items():
        if isinstance(node, cls):
            return name
    if isinstance(node, exp.Anonymous):
        return f"function {str(node.this).upper()}"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()}"
    return f"{node.key.upper()} expression"


def _type(expr: Expr) -> t.SqlType:
    return expr.type if expr.type is not None else t.BIGINT


def _key_pair(part: Expr, right_table: int) -> tuple[ColumnRef, ColumnRef] | None:
    """Return (earlier column, joined-table column) if ``part`` is ``a.x = b.y`` across them."""
    if not (isinstance(part, Comparison) and part.operator == "="):
        return None
    left, right = part.left, part.right
    if not (isinstance(left, ColumnRef) and isinstance(right, ColumnRef)):
        return None
    if right.table == right_table and left.table < right_table:
        return left, right
    if left.table == right_table and right.table < right_table:
        return right, left
    return None


def _same_key_type(left: t.SqlType, right: t.SqlType) -> bool:
    return left.kind == right.kind and left.scale == right.scale


def _bare_columns(expr: Expr) -> list[ColumnRef]:
    """Columns of ``expr`` that are not inside an aggregate."""
    if isinstance(expr, Aggregate):
        return []
    if isinstance(expr, ColumnRef):
        return [expr]
    from offchain.sql.ir import children

    return [column for child in children(expr) for column in _bare_columns(child)]


def _columns_in_scope(scope: _Scope) -> str:
    return "; ".join(f"{r.alias}: {', '.join(r.dataset.schema.names)}" for r in scope.tables)


def parse_query(text: str, catalog: Catalog) -> Query:
    """Parse and check ``text`` against the catalog's datasets; see the module docstring."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("the query text is empty")
    return _Parser(text, catalog).parse()


__all__ = ["AGGREGATES", "columns_of", "parse_query", "position_of"]
