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
    if isinstance(expr, (ir.Arithmetic, ir.Comparison)):
        left = expression_sql(expr.left, parameters)
        right = expression_sql(expr.right, parameters)
        return f"({left} {expr.operator} {right})"
    if isinstance(expr, ir.Negate):
        return f"(-{expression_sql(expr.operand, parameters)})"
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
    if work.group is not None:
        # Group of each row: dense rank of its key tuple (NULL is a key, as GROUP BY treats it).
        keys = ", ".join(f"{_quote(c)} NULLS LAST" for c in work.group.columns)
        items.append(f'dense_rank() OVER (ORDER BY {keys}) - 1 AS "group.id"')
    coded = sorted(set(work.distinct) | set(work.ranks) | set(
        work.group.ranked if work.group else ()))
    for column in coded:
        # Rank of the value among the distinct non-NULL values (DuckDB's byte order for text).
        quoted = _quote(column)
        items.append(f"CASE WHEN {quoted} IS NULL THEN -1 ELSE dense_rank() OVER (PARTITION BY "
                     f'{quoted} IS NULL ORDER BY {quoted}) - 1 END AS "code.{column}"')
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


def _group_domain(work: TableWork, group_ids: np.ndarray,
                  raw: Mapping[str, tuple[np.ndarray, np.ndarray]], codes: Mapping[str, np.ndarray]
                  ) -> tuple[np.ndarray, dict[str, tuple[list, np.ndarray]], np.ndarray, int]:
    """Return the row-to-group map in a fresh random group order, and per group its keys.

    Returns ``(group of each row, {column: (key values, ranks)}, all-NULL indicator, groups)``.
    """
    columns = work.group.columns
    rows = len(group_ids)
    distinct, first_row = np.unique(group_ids, return_index=True)
    count = len(distinct)
    keys = {}
    all_null = np.ones(count, dtype=bool)
    for column in columns:
        data, mask = raw[column]
        values = _python_values(data[first_row], mask[first_row])
        ranks = np.maximum(codes[column][first_row], 0) if column in codes else None
        keys[column] = (values, ranks)
        all_null &= mask[first_row]
    if work.group.with_null_row and not all_null.any():
        for column in columns:
            values, ranks = keys[column]
            keys[column] = (values + [None], None if ranks is None else np.append(ranks, 0))
        all_null = np.append(all_null, True)
        count += 1
    if count > MAX_GROUPS or rows * max(1, count) > MAX_ONE_HOT_CELLS:
        raise InputError(
            f"GROUP BY {', '.join(columns)} on {work.table.dataset.reference} has "
            f"{count} distinct keys; at most {MAX_GROUPS} are supported (and "
            f"rows x keys <= {MAX_ONE_HOT_CELLS}): group by a coarser column")
    order = secure_permutation(count)  # group at new position p is old group order[p]
    position = np.empty(count, dtype=np.int64)
    position[order] = np.arange(count, dtype=np.int64)
    shuffled = {column: ([values[i] for i in order], None if ranks is None else ranks[order])
                for column, (values, ranks) in keys.items()}
    return position[group_ids], shuffled, all_null[order].astype(np.int64), count


def _ranks(values: list) -> np.ndarray:
    """Rank of each text among the distinct texts in UTF-8 byte order (DuckDB's); NULL -> 0."""
    distinct = sorted({v for v in values if v is not None}, key=lambda v: str(v).encode("utf-8"))
    rank = {value: position for position, value in enumerate(distinct)}
    return np.array([0 if v is None else rank[v] for v in values], dtype=np.int64)


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
    codes = {name[len("code."):]: _plain(values)[0].astype(np.int64)
             for name, values in result.items() if name.startswith("code.")}
    for column in work.ranks:
        put(f"rank.{column}", np.maximum(codes[column], 0))
    for tag in work.tags:
        secret = secrets.get(tag.secret)
        if secret is None:
            raise InputError(f"owner secret {tag.secret!r} (join tag key) was not agreed")
        key = TagKey.from_secret(secret, TAG_SESSION, tag.secret.encode())
        columns = [(*raw[c], "text" if kinds[c] == "text" else "int") for c in tag.columns]
        put(f"tags{tag.join}", _tags(columns, key))
    if work.group is not None:
        group_ids, _ = _plain(result["group.id"])
        group_of_row, keys, all_null, count = _group_domain(work, group_ids.astype(np.int64),
                                                            raw, codes)
        onehot = np.zeros((rows, count), dtype=np.int64)
        onehot[np.arange(rows), group_of_row] = 1
        put("group.onehot", onehot)
        for column, (values, ranks) in keys.items():
            _put_keys(arrays, column, values, kinds[column])
            if column in work.group.ranked:
                arrays[f"group.rank.{column}"] = ranks
        if work.group.with_null_row:
            arrays["group.nullrow"] = all_null
    for column in work.distinct:
        put(f"distinct.{column}", _distinct_onehot(codes[column], dataset.reference, column))
    return arrays


def _put_keys(arrays: dict, column: str, values: list, kind: str) -> None:
    """Group key values (NULL as 0) and NULL flags, as shared arrays."""
    arrays[f"group.null.{column}"] = np.array([v is None for v in values], dtype=np.int64)
    if kind == "text":
        arrays[f"group.key.{column}"], _ = text_words(values)
    elif kind == "fixed":
        arrays[f"group.key.{column}"] = np.array([v or 0.0 for v in values], np.float64)
    else:
        arrays[f"group.key.{column}"] = np.array([int(v or 0) for v in values], np.int64)


def _distinct_onehot(codes: np.ndarray, reference: str, column: str) -> np.ndarray:
    """Return a (rows, distinct values) one-hot of the non-NULL values, in a fresh random order.

    ``codes`` are the dense ranks of the values (-1 for NULL: an all-zero row,
    as COUNT(DISTINCT) ignores NULLs). The width reveals the number of
    distinct values to the compute nodes.
    """
    count = int(codes.max(initial=-1)) + 1
    if count > MAX_GROUPS or len(codes) * max(1, count) > MAX_ONE_HOT_CELLS:
        raise InputError(
            f"COUNT(DISTINCT {column}) on {reference}: {count} distinct values; at most "
            f"{MAX_GROUPS} are supported (and rows x values <= {MAX_ONE_HOT_CELLS})")
    order = secure_permutation(count)
    position = np.empty(count, dtype=np.int64)
    position[order] = np.arange(count, dtype=np.int64)
    onehot = np.zeros((len(codes), count), dtype=np.int64)
    present = np.flatnonzero(codes >= 0)
    onehot[present, position[codes[present]]] = 1
    return onehot
