"""What a data owner does in the clear: one DuckDB query, then shuffling, tags, one-hot groups.

The local query reads every row of the table and computes, with literals
bound as parameters (never spliced into the text):

* ``valid``: the table's single-table WHERE conditions ``IS TRUE`` (1 or 0);
* ``pred<k>``: each single-table condition used in MPC, as ``IS TRUE`` and
  ``IS FALSE`` (SQL three-valued logic, exactly as DuckDB evaluates it);
* the canonical values of the columns MPC reads (decimals unscaled, dates as
  days, timestamps as microseconds) and their NULL flags;
* the raw key, group and text columns.

Then, in numpy: a fresh secret permutation of the rows (so the order of
anything shared reveals nothing), join-key tags ``PRF_k(key)`` with the key
agreed with the other owner of the join (a NULL key gets a random tag that
matches nothing), a one-hot row-to-group matrix over the distinct GROUP BY
keys (in random order), and text as UTF-8 packed into uint64 words.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from offchain.data.store import LocalStore, projection
from offchain.errors import InputError
from offchain.psi.encoding import encode_keys
from offchain.psi.shuffle import secure_permutation
from offchain.psi.tags import TagKey
from offchain.sql import ir
from offchain.sql.compiled import TableWork
from offchain.sql.types import SqlType

TAG_SESSION = b"unseen-sql/v1/join-tags"
MAX_GROUPS = 10_000
MAX_ONE_HOT_CELLS = 200_000_000


# -- SQL with bound parameters --------------------------------------------------------


def _quote(column: str) -> str:
    return f'"{column}"'  # names are checked identifiers ([a-z_][a-z0-9_]*)


def _literal_sql(literal: ir.Literal, parameters: list[Any]) -> str:
    value, ltype = literal.value, literal.type
    if value is None:
        return "NULL"
    parameters.append(_parameter(value, ltype))
    if ltype is None:
        return "?"
    if ltype.kind == "decimal":
        return f"CAST(? AS DECIMAL(18,{ltype.scale}))"
    if ltype.kind == "date":
        return "CAST(? AS DATE)"
    if ltype.kind == "timestamp":
        return "CAST(? AS TIMESTAMP)"
    if ltype.kind == "float":
        return "CAST(? AS DOUBLE)"
    if ltype.kind == "int":
        return "CAST(? AS BIGINT)"
    if ltype.kind == "bool":
        return "CAST(? AS BOOLEAN)"
    return "CAST(? AS VARCHAR)"


def _parameter(value: Any, ltype: SqlType | None) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def expression_sql(expr: ir.Expr, parameters: list[Any]) -> str:
    """Return DuckDB SQL for a single-table expression; literals go to ``parameters``."""
    if isinstance(expr, ir.ColumnRef):
        return _quote(expr.column)
    if isinstance(expr, ir.Literal):
        return _literal_sql(expr, parameters)
    if isinstance(expr, ir.Arithmetic):
        left = expression_sql(expr.left, parameters)
        right = expression_sql(expr.right, parameters)
        return f"({left} {expr.operator} {right})"
    if isinstance(expr, ir.Negate):
        return f"(-{expression_sql(expr.operand, parameters)})"
    if isinstance(expr, ir.Comparison):
        left = expression_sql(expr.left, parameters)
        right = expression_sql(expr.right, parameters)
        return f"({left} {expr.operator} {right})"
    if isinstance(expr, ir.InList):
        operand = expression_sql(expr.operand, parameters)
        values = ", ".join(expression_sql(v, parameters) for v in expr.values)
        return f"({operand} {'NOT ' if expr.negated else ''}IN ({values}))"
    if isinstance(expr, ir.Between):
        operand = expression_sql(expr.operand, parameters)
        low = expression_sql(expr.low, parameters)
        high = expression_sql(expr.high, parameters)
        return f"({operand} {'NOT ' if expr.negated else ''}BETWEEN {low} AND {high})"
    if isinstance(expr, ir.IsNull):
        return f"({expression_sql(expr.operand, parameters)} IS {'NOT ' if expr.negated else ''}NULL)"
    if isinstance(expr, ir.Logical):
        return "(" + f" {expr.operator} ".join(expression_sql(o, parameters)
                                               for o in expr.operands) + ")"
    if isinstance(expr, ir.Not):
        return f"(NOT {expression_sql(expr.operand, parameters)})"
    raise InputError(f"cannot evaluate {ir.render(expr)} locally")


def local_sql(work: TableWork) -> tuple[str, list[Any]]:
    """Return the owner's DuckDB query and its parameters."""
    schema = work.table.dataset.schema
    parameters: list[Any] = []
    items = []
    if work.filter is not None:
        items.append(f"coalesce({expression_sql(work.filter, parameters)}, FALSE) AS \"valid\"")
    else:
        items.append('TRUE AS "valid"')
    for index, predicate in enumerate(work.predicates):
        condition = expression_sql(predicate, parameters)
        items.append(f"({condition}) IS TRUE AS \"pred{index}.true\"")
        condition = expression_sql(predicate, parameters)
        items.append(f"({condition}) IS FALSE AS \"pred{index}.false\"")
    raw = sorted(set(work.texts) | set(work.ranks) | {c for tag in work.tags for c in tag.columns}
                 | set(work.group.columns if work.group else ()) | set(work.distinct))
    for column in work.values:
        column_type = schema.type_of(column)
        if column_type != "string":
            expression = projection(column, column_type).rsplit(" AS ", 1)[0]
            items.append(f'{expression} AS "value.{column}"')
        items.append(f'({_quote(column)} IS NULL) AS "null.{column}"')
    for column in raw:
        column_type = schema.type_of(column)
        expression = projection(column, column_type).rsplit(" AS ", 1)[0]
        items.append(f'{expression} AS "raw.{column}"')
    table = _quote(work.table.dataset.name)
    return f"SELECT {', '.join(items)} FROM {table}", parameters


_FUNCTIONS = {"COUNT": "count", "SUM": "sum", "AVG": "avg", "MIN": "min", "MAX": "max",
              "VAR_SAMP": "var_samp", "VAR_POP": "var_pop", "STDDEV_SAMP": "stddev_samp",
              "STDDEV_POP": "stddev_pop"}
VALID_COLUMN = '"unseen.valid"'  # a dot cannot occur in a dataset's column names


def _canonical_result(sql: str, result_type: SqlType) -> str:
    """Cast an aggregate's DuckDB result to the canonical form MPC carries."""
    if result_type.kind == "decimal":
        return f"CAST(({sql}) * {10 ** result_type.scale} AS BIGINT)"
    if result_type.kind == "date":
        return f"CAST(({sql}) - DATE '1970-01-01' AS BIGINT)"
    if result_type.kind == "timestamp":
        return f"epoch_us({sql})"
    if result_type.kind == "float":
        return f"CAST(({sql}) AS DOUBLE)"
    return f"CAST(({sql}) AS BIGINT)"


def preaggregate_sql(work: TableWork) -> tuple[str, list[Any]]:
    """The owner's GROUP BY query for a one-table aggregate; the filter sits inside the aggregates.

    Every group of the whole table is returned (``FILTER (WHERE valid)``), so
    the number of groups shared does not depend on the filter.
    """
    schema = work.table.dataset.schema
    parameters: list[Any] = []
    condition = (f"coalesce({expression_sql(work.filter, parameters)}, FALSE)"
                 if work.filter is not None else "TRUE")
    inner = f'SELECT *, {condition} AS {VALID_COLUMN} FROM {_quote(work.table.dataset.name)}'
    items = [f"count(*) FILTER (WHERE {VALID_COLUMN}) AS \"pre.count\""]
    for index, node in enumerate(work.aggregates):
        if node.argument is None:
            call = "count(*)"
        else:
            argument = expression_sql(node.argument, parameters)
            call = f"{_FUNCTIONS[node.function]}({'DISTINCT ' if node.distinct else ''}{argument})"
        items.append(_canonical_result(f"{call} FILTER (WHERE {VALID_COLUMN})", node.type)
                     + f' AS "pre.a{index}"')
    keys = list(work.group.columns) if work.group else []
    for column in keys:
        expression = projection(column, schema.type_of(column)).rsplit(" AS ", 1)[0]
        items.append(f'{expression} AS "raw.{column}"')
    group = f" GROUP BY {', '.join(_quote(c) for c in keys)}" if keys else ""
    return f"SELECT {', '.join(items)} FROM ({inner}) AS rows{group}", parameters


def preaggregated_arrays(work: TableWork, store: LocalStore, kinds: Mapping[str, str]
                         ) -> dict[str, np.ndarray]:
    """The per-group counts, aggregates and keys of a one-table aggregate, in random group order."""
    dataset = work.table.dataset
    rows = store.row_count(dataset.name)
    if rows != dataset.row_count:
        raise InputError(
            f"table {dataset.name!r} has {rows} rows but dataset {dataset.reference} is registered "
            f"with {dataset.row_count}; register a new version of the dataset")
    sql, parameters = preaggregate_sql(work)
    result = store.query(sql, parameters)
    groups = len(result["pre.count"])
    if groups > MAX_GROUPS:
        raise InputError(f"GROUP BY on {dataset.reference} has {groups} distinct keys; at most "
                         f"{MAX_GROUPS} are supported: group by a coarser column")
    order = secure_permutation(groups)
    arrays: dict[str, np.ndarray] = {}
    count, _ = _plain(result["pre.count"])
    arrays["pre.count"] = count.astype(np.int64)[order]
    for index, node in enumerate(work.aggregates):
        data, mask = _plain(result[f"pre.a{index}"])
        dtype = np.float64 if node.type.is_float else np.int64
        arrays[f"pre.a{index}"] = data.astype(dtype)[order]
        arrays[f"pre.a{index}.null"] = mask.astype(np.int64)[order]
    for column in work.group.columns if work.group else ():
        data, mask = _plain(result[f"raw.{column}"])
        values = [values for values in _python_values(data, mask)]
        values = [values[i] for i in order]
        nulls = np.array([v is None for v in values], dtype=np.int64)
        if kinds[column] == "text":
            arrays[f"group.key.{column}"], _ = text_words(values)
        elif kinds[column] == "fixed":
            arrays[f"group.key.{column}"] = np.array([v or 0.0 for v in values], np.float64)
        else:
            arrays[f"group.key.{column}"] = np.array([int(v or 0) for v in values], np.int64)
        arrays[f"group.null.{column}"] = nulls
        if column in work.group.ranked:
            arrays[f"group.rank.{column}"] = _ranks(values)
    return arrays


# -- arrays -----------------------------------------------------------------------------


def _plain(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (data with NULLs as zero/empty, null mask) of a fetched column."""
    if isinstance(values, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(values)
        data = np.ma.getdata(values).copy()
        if data.dtype.kind in "iufb":
            data[mask] = 0
        return data, mask
    return np.asarray(values), np.zeros(len(values), dtype=bool)


def _python_values(data: np.ndarray, mask: np.ndarray) -> list:
    return [None if null else (item.item() if hasattr(item, "item") else item)
            for item, null in zip(data, mask, strict=True)]


def text_words(strings: list, width: int | None = None) -> tuple[np.ndarray, int]:
    """Pack UTF-8 strings (None as empty) into ``(n, width)`` little-endian uint64 words."""
    encoded = [b"" if s is None else str(s).encode("utf-8") for s in strings]
    longest = max((len(b) for b in encoded), default=0)
    words = width if width is not None else max(1, -(-longest // 8))
    if longest > 8 * words:
        raise InputError(f"text of {longest} bytes does not fit in {words} words")
    buffer = np.zeros((len(encoded), 8 * words), dtype=np.uint8)
    for row, raw in enumerate(encoded):
        buffer[row, : len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return buffer.view("<u8").astype(np.uint64).reshape(len(encoded), words), words


def words_to_text(words: np.ndarray) -> list[str]:
    """Inverse of :func:`text_words` (trailing zero bytes dropped)."""
    raw = np.ascontiguousarray(words.astype(np.uint64)).view(np.uint8).reshape(len(words), -1)
    return [bytes(row).rstrip(b"\0").decode("utf-8") for row in raw]


def _tags(key_columns: list[tuple[np.ndarray, np.ndarray, str]], tag_key: TagKey) -> np.ndarray:
    """Tags of the (composite) keys; a row with a NULL key part gets a random, unmatched tag."""
    count = len(key_columns[0][0])
    null = np.zeros(count, dtype=bool)
    for _, mask, _ in key_columns:
        null |= mask
    present = np.flatnonzero(~null)
    tags = np.frombuffer(os.urandom(16 * count), dtype=np.uint64).reshape(count, 2).copy()
    if len(present) == 0:
        return tags
    if len(key_columns) == 1:
        data, _, kind = key_columns[0]
        keys = _key_values(data[present], kind)
    else:
        parts = [_python_key_list(data[present], kind) for data, _, kind in key_columns]
        keys = list(zip(*parts, strict=True))
    tags[present] = tag_key.tags(encode_keys(keys))
    return tags


def _key_values(data: np.ndarray, kind: str):
    if kind == "text":
        return [str(v) for v in data]
    if kind == "bool":
        return data.astype(np.int64)
    return data.astype(np.int64)


def _python_key_list(data: np.ndarray, kind: str) -> list:
    if kind == "text":
        return [str(v) for v in data]
    return [int(v) for v in data]


def _group_domain(work: TableWork, raw: Mapping[str, tuple[np.ndarray, np.ndarray]],
                  rows: int) -> tuple[np.ndarray, list[tuple]]:
    """Return (row -> group index, the distinct key tuples in a fresh random order)."""
    columns = work.group.columns
    schema = work.table.dataset.schema
    keys = []
    for column in columns:
        data, mask = raw[column]
        keys.append(_python_values(data, mask) if schema.type_of(column) == "string" else
                    [None if m else int(v) if schema.type_of(column) != "float64" else float(v)
                     for v, m in zip(data, mask, strict=True)])
    tuples = list(zip(*keys, strict=True)) if rows else []
    distinct = sorted(set(tuples), key=_sortable)
    if work.group.with_null_row:
        all_null = tuple(None for _ in columns)
        if all_null not in distinct:
            distinct.append(all_null)
    order = secure_permutation(len(distinct))
    distinct = [distinct[i] for i in order]
    if len(distinct) > MAX_GROUPS or rows * max(1, len(distinct)) > MAX_ONE_HOT_CELLS:
        raise InputError(
            f"GROUP BY {', '.join(columns)} on {work.table.dataset.reference} has "
            f"{len(distinct)} distinct keys; at most {MAX_GROUPS} are supported (and "
            f"rows x keys <= {MAX_ONE_HOT_CELLS}): group by a coarser column")
    position = {key: index for index, key in enumerate(distinct)}
    return np.array([position[key] for key in tuples], dtype=np.int64), distinct


def _ranks(values: list) -> np.ndarray:
    """Rank of each text among the distinct texts in UTF-8 byte order (DuckDB's); NULL -> 0."""
    distinct = sorted({v for v in values if v is not None}, key=lambda v: str(v).encode("utf-8"))
    rank = {value: position for position, value in enumerate(distinct)}
    return np.array([0 if v is None else rank[v] for v in values], dtype=np.int64)


def _sortable(key: tuple) -> tuple:
    return tuple((value is None, str(type(value)), value if value is not None else 0)
                 for value in key)


def owner_arrays(work: TableWork, store: LocalStore, secrets: Mapping[str, bytes],
                 kinds: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Compute, in the clear at the owner, every array ``work`` says to share."""
    if work.aggregates:
        return preaggregated_arrays(work, store, kinds)
    dataset = work.table.dataset
    if dataset.name not in store.tables():
        raise InputError(f"the local database has no table {dataset.name!r} for dataset "
                         f"{dataset.reference}")
    sql, parameters = local_sql(work)
    result = store.query(sql, parameters)
    rows = len(result["valid"])
    if rows != dataset.row_count:
        raise InputError(
            f"table {dataset.name!r} has {rows} rows but dataset {dataset.reference} is registered "
            f"with {dataset.row_count}; register a new version of the dataset")
    permutation = secure_permutation(rows)
    arrays: dict[str, np.ndarray] = {}

    def put(name: str, values: np.ndarray) -> None:
        arrays[name] = np.ascontiguousarray(values[permutation])

    valid, _ = _plain(result["valid"])
    put("valid", valid.astype(np.int64))
    for index in range(len(work.predicates)):
        true, _ = _plain(result[f"pred{index}.true"])
        false, _ = _plain(result[f"pred{index}.false"])
        put(f"pred{index}", np.stack([true.astype(np.int64), false.astype(np.int64)], axis=1))
    for column in work.values:
        if kinds[column] != "text":
            data, mask = _plain(result[f"value.{column}"])
            dtype = np.float64 if kinds[column] == "fixed" else np.int64
            put(f"value.{column}", data.astype(dtype))
        null, _ = _plain(result[f"null.{column}"])
        put(f"null.{column}", null.astype(np.int64))
    raw = {name[len("raw."):]: _plain(values) for name, values in result.items()
           if name.startswith("raw.")}
    for column in work.texts:
        data, mask = raw[column]
        words, _ = text_words(_python_values(data, mask))
        put(f"text.{column}", words)
        if column not in work.values:
            put(f"null.{column}", mask.astype(np.int64))
    for column in work.ranks:
        data, mask = raw[column]
        put(f"rank.{column}", _ranks(_python_values(data, mask)))
    for tag in work.tags:
        secret = secrets.get(tag.secret)
        if secret is None:
            raise InputError(f"owner secret {tag.secret!r} (join tag key) was not agreed")
        key = TagKey.from_secret(secret, TAG_SESSION, tag.secret.encode())
        columns = [(*raw[c], "text" if kinds[c] == "text" else "int") for c in tag.columns]
        put(f"tags{tag.join}", _tags(columns, key))
    if work.group is not None:
        group_of_row, domain = _group_domain(work, raw, rows)
        onehot = np.zeros((rows, len(domain)), dtype=np.int64)
        if rows:
            onehot[np.arange(rows), group_of_row] = 1
        put("group.onehot", onehot)
        for position, column in enumerate(work.group.columns):
            values = [key[position] for key in domain]
            nulls = np.array([v is None for v in values], dtype=np.int64)
            if kinds[column] == "text":
                arrays[f"group.key.{column}"], _ = text_words(values)
            elif kinds[column] == "fixed":
                arrays[f"group.key.{column}"] = np.array([v or 0.0 for v in values], np.float64)
            else:
                arrays[f"group.key.{column}"] = np.array([v or 0 for v in values], np.int64)
            arrays[f"group.null.{column}"] = nulls
            if column in work.group.ranked:
                arrays[f"group.rank.{column}"] = _ranks(values)
        if work.group.with_null_row:
            indicator = np.array([all(v is None for v in key) for key in domain], dtype=np.int64)
            arrays["group.nullrow"] = indicator
    for column in work.distinct:
        data, mask = raw[column]
        put(f"distinct.{column}", _distinct_onehot(data, mask, dataset.reference, column))
    return arrays


def _distinct_onehot(data: np.ndarray, mask: np.ndarray, reference: str, column: str) -> np.ndarray:
    """Return a (rows, distinct values) one-hot of the non-NULL values, in a fresh random order.

    A NULL row is all zero (COUNT(DISTINCT) ignores NULLs). The width reveals
    the number of distinct values to the compute nodes.
    """
    values = _python_values(data, mask)
    distinct = sorted({v for v in values if v is not None}, key=lambda v: (str(type(v)), v))
    if len(distinct) > MAX_GROUPS or len(values) * max(1, len(distinct)) > MAX_ONE_HOT_CELLS:
        raise InputError(
            f"COUNT(DISTINCT {column}) on {reference}: {len(distinct)} distinct values; at most "
            f"{MAX_GROUPS} are supported (and rows x values <= {MAX_ONE_HOT_CELLS})")
    order = secure_permutation(len(distinct))
    position = {distinct[i]: rank for rank, i in enumerate(order)}
    onehot = np.zeros((len(values), len(distinct)), dtype=np.int64)
    for row, value in enumerate(values):
        if value is not None:
            onehot[row, position[value]] = 1
    return onehot
