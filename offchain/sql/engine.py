"""The compute parties' side of a query: secret tables, joins, validity, then aggregate or rows.

A secret table is an ordered mapping of column names to shares whose
first axis is the row. Names are ``t<i>.<array>`` for the arrays table
``i``'s owner shared (``t0.value.amount``, ``t1.pred0`` …) plus ``valid``,
the running validity bit. Joins move every column of both sides at once
(:func:`stack`/:func:`unstack` pack them into one component matrix).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from offchain.errors import InputError
from offchain.mpc import compare
from offchain.mpc.opening import reveal
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import ArithmeticShare, FixedPointShare, Share
from offchain.mpc.sharing import share_public
from offchain.sql import ir
from offchain.sql.compiled import FALSE, TRUE, CompiledQuery, LocalPredicate
from offchain.sql.evaluate import Evaluator, Truth, Value
from offchain.sql.join import join_rows
from offchain.sql.oblivious import segmented_scan, shuffle

Columns = dict[str, ArithmeticShare]
ROW_ARRAY_PREFIXES = ("valid", "pred", "value.", "null.", "text.", "tags", "group.onehot",
                      "distinct.")


def stack(columns: Mapping[str, ArithmeticShare]) -> tuple[np.ndarray, list]:
    """Pack columns (first axis = rows) into components (2, rows, k); return them and the layout."""
    parts, layout = [], []
    for name, share in columns.items():
        rows = share.shape[0]
        flat = share.components.reshape(2, rows, int(np.prod(share.shape[1:], dtype=np.int64)))
        bits = share.fractional_bits if isinstance(share, FixedPointShare) else None
        layout.append((name, share.shape[1:], flat.shape[2], bits))
        parts.append(flat)
    if not parts:
        raise InputError("no columns to move")
    return np.ascontiguousarray(np.concatenate(parts, axis=2)), layout


def unstack(runtime: Runtime, components: np.ndarray, layout: list) -> Columns:
    columns: Columns = {}
    offset = 0
    rows = components.shape[1]
    for name, tail, width, bits in layout:
        part = np.ascontiguousarray(components[:, :, offset:offset + width]).reshape(2, rows, *tail)
        offset += width
        columns[name] = (FixedPointShare(runtime, part, bits) if bits is not None
                         else ArithmeticShare(runtime, part))
    return columns


def shuffle_columns(runtime: Runtime, columns: Columns) -> Columns:
    components, layout = stack(columns)
    return unstack(runtime, shuffle(runtime, components), layout)


class QueryRun:
    """Runs a compiled query at one compute party."""

    def __init__(self, runtime: Runtime, compiled: CompiledQuery,
                 inputs: Mapping[tuple[str, str], Share]) -> None:
        self.runtime = runtime
        self.compiled = compiled
        self.timings: dict[str, list[float]] = {}  # phase -> [seconds, rounds, bytes sent]
        self.rows: list[Columns] = []
        self.domains: list[dict[str, ArithmeticShare]] = []
        for index, work in enumerate(compiled.tables):
            rows: Columns = {}
            domain: dict[str, ArithmeticShare] = {}
            for (source, name), share in inputs.items():
                if source != f"input{index}":
                    continue
                if (name.startswith("group.") and name != "group.onehot") or name.startswith(
                        "pre."):
                    domain[name] = share
                else:
                    rows[f"t{index}.{name}"] = share
            self.rows.append(rows)
            self.domains.append(domain)
            del work

    # -- lookups for the evaluator ----------------------------------------------------

    def row_lookup(self, columns: Columns):
        def lookup(expr: ir.Expr):
            if isinstance(expr, ir.ColumnRef):
                null = columns.get(f"t{expr.table}.null.{expr.column}")
                data = columns.get(f"t{expr.table}.value.{expr.column}")
                if data is None and not expr.type.is_text:
                    raise InputError(f"column {expr.text} was not shared")
                return Value(data, null, expr.type)
            if isinstance(expr, LocalPredicate):
                bits = columns[f"t{expr.table}.pred{expr.index}"]
                return Truth(bits[:, 0], bits[:, 1])
            return None
        return lookup

    # -- the pipeline -------------------------------------------------------------------

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Account the time, rounds and bytes of a step to ``name`` (benchmarks read them)."""
        before, start = self.runtime.stats(), time.perf_counter()
        try:
            yield
        finally:
            spent = self.runtime.stats() - before
            totals = self.timings.setdefault(name, [0.0, 0, 0])
            totals[0] += time.perf_counter() - start
            totals[1] += spent.rounds
            totals[2] += spent.bytes_sent

    def run(self) -> dict[str, Share]:
        if self.compiled.preaggregated:
            from offchain.sql.aggregate import aggregate

            with self.phase("aggregate"):
                return aggregate(self, {}, None)
        current = dict(self.rows[0])
        current["valid"] = current.pop("t0.valid")
        for work in self.compiled.joins:
            with self.phase(f"join {work.index + 1}"):
                current = self.join(current, work)
        length = current["valid"].shape[0]
        valid = current["valid"]
        if self.compiled.where is not None:
            with self.phase("where"):
                evaluator = Evaluator(self.runtime, self.row_lookup(current), length)
                truth = evaluator.truth(self.compiled.where)
                valid = valid * _as_share(self.runtime, truth.true, length)
        if self.compiled.aggregate:
            from offchain.sql.aggregate import aggregate

            with self.phase("aggregate"):
                return aggregate(self, current, valid)
        with self.phase("rows"):
            return self.rows_result(current, valid)

    def join(self, current: Columns, work) -> Columns:
        runtime = self.runtime
        spec = work.join
        if work.index > 0:
            current = shuffle_columns(runtime, current)
        right = dict(self.rows[spec.table])
        # The tags of this join are spent once matched: routing them would only cost traffic.
        left_tags = current.pop(f"t{spec.left_table}.tags{work.index}")
        right_tags = right.pop(f"t{spec.table}.tags{work.index}")
        left_components, left_layout = stack(current)
        right_components, right_layout = stack(right)
        sides = join_rows(runtime, left_components, right_components, left_tags, right_tags,
                          spec.kind == "left",
                          lambda name: self.phase(f"join {work.index + 1}: {name}"))
        joined = unstack(runtime, sides.left, left_layout)
        joined.update(unstack(runtime, sides.right, right_layout))
        right_valid = joined.pop(f"t{spec.table}.valid")
        if spec.kind == "inner":
            joined["valid"] = joined["valid"] * right_valid
            return joined
        extension = sides.extension
        self.extend_with_nulls(joined, spec.table, extension)
        ok = (1 - extension) * right_valid
        if work.pair_condition is not None:
            evaluator = Evaluator(runtime, self.row_lookup(joined), sides.size)
            ok = ok * _as_share(runtime, evaluator.truth(work.pair_condition).true, sides.size)
        counts = segmented_scan(runtime, ok.reshape(sides.size, 1), sides.block_heads,
                                sides.left_depth).reshape(sides.size)
        unmatched = extension * compare.equal(counts, 0)
        joined["valid"] = joined["valid"] * (ok + unmatched)
        return joined

    def extend_with_nulls(self, joined: Columns, table: int, extension: ArithmeticShare) -> None:
        """Make the right table's columns NULL on the NULL-extended slots of a LEFT JOIN."""
        runtime = self.runtime
        work = self.compiled.tables[table]
        size = extension.shape[0]
        column = extension.reshape(size, 1)
        prefix = f"t{table}."
        for name in list(joined):
            if not name.startswith(prefix):
                continue
            array = name[len(prefix):]
            if array.startswith("null."):
                joined[name] = joined[name] + extension
            elif array.startswith("pred"):
                from offchain.sql.planner import value_on_null_row

                predicate = work.predicates[int(array[len("pred"):])]
                outcome = value_on_null_row(predicate)
                constant = np.array([[outcome == TRUE, outcome == FALSE]], dtype=np.int64)
                joined[name] = joined[name] + column.mul_public(constant)
            elif array.startswith("tags"):
                random = ArithmeticShare(runtime, runtime.random_components((size, 2)))
                joined[name] = joined[name] + column * random
            elif array == "group.onehot":
                indicator = self.domains[table]["group.nullrow"]
                joined[name] = joined[name] + column * indicator.reshape(1, -1)
            elif array.startswith("distinct."):
                pass  # the dummy rows are all-zero: no value, i.e. NULL

    def rows_result(self, current: Columns, valid: ArithmeticShare) -> dict[str, Share]:
        """Row-by-row results: compute the outputs, shuffle, open validity, keep the valid rows."""
        runtime = self.runtime
        length = valid.shape[0]
        evaluator = Evaluator(runtime, self.row_lookup(current), length)
        outputs: Columns = {"valid": valid}
        for index, column in enumerate(self.compiled.outputs):
            data, null = self.output_value(evaluator, current, column.expr, length)
            outputs[f"c{index}"] = data
            outputs[f"c{index}.null"] = null
            expr = column.expr
            if isinstance(expr, ir.ColumnRef) and f"t{expr.table}.rank.{expr.column}" in current:
                outputs[f"c{index}.rank"] = current[f"t{expr.table}.rank.{expr.column}"]
        return finish(runtime, self.compiled, outputs, "valid")

    def output_value(self, evaluator: Evaluator, current: Columns, expr: ir.Expr, length: int):
        runtime = self.runtime
        if isinstance(expr, ir.ColumnRef) and expr.type.is_text:
            data = current[f"t{expr.table}.text.{expr.column}"]
            null = current[f"t{expr.table}.null.{expr.column}"]
            return data, null
        value = evaluator.value(expr)
        return as_output(runtime, value, length)


def as_output(runtime: Runtime, value: Value, length: int) -> tuple[ArithmeticShare, ArithmeticShare]:
    """Return (data, null) shares of ``length`` rows for a value (public constants shared)."""
    data = value.data
    if not isinstance(data, ArithmeticShare):
        kind = "fixed" if value.type.is_float else "integer"
        data = share_public(runtime, np.full(length, data), kind)
    null = value.null
    if null is None:
        null = share_public(runtime, np.zeros(length, dtype=np.int64))
    return data, null


def _as_share(runtime: Runtime, bit, length: int) -> ArithmeticShare:
    if isinstance(bit, ArithmeticShare):
        return bit
    return share_public(runtime, np.full(length, int(bit), dtype=np.int64))


def finish(runtime: Runtime, compiled: CompiledQuery, columns: Columns,
           keep: str | None) -> dict[str, Share]:
    """Return the result rows: kept rows only, and under LIMIT only the first ones.

    With a ``keep`` column, the rows are shuffled obliviously and only the
    keep bits are opened (the parties learn how many rows are kept, not
    which). Under ``LIMIT n`` only ``n`` rows are returned: the first in
    ORDER BY order (:mod:`offchain.sql.sort`; the order is decided in MPC so
    that the other rows never reach the requester), or any ``n`` without
    ORDER BY. Columns named ``*.rank`` (text sort keys) are dropped.
    """
    if keep is not None:
        columns = shuffle_columns(runtime, columns)
        kept = np.flatnonzero(reveal(columns.pop(keep)) == 1)
        columns = {name: share[kept] for name, share in columns.items()}
    if compiled.limit is not None:
        count = next(iter(columns.values())).shape[0]
        if compiled.order and count > 1 and compiled.limit > 0:
            from offchain.sql.sort import SortKey, first_rows, sort_key_column

            keys = []
            for item in compiled.order:
                name = f"c{item.output}"
                values = columns.get(f"{name}.rank", columns[name])
                keys.append(sort_key_column(SortKey(values, columns[f"{name}.null"],
                                                    item.descending, item.nulls_first)))
            chosen = first_rows(keys, count, min(compiled.limit, count))
        else:
            chosen = np.arange(min(compiled.limit, count))
        columns = {name: share[chosen] for name, share in columns.items()}
    return {name: share for name, share in columns.items() if not name.endswith(".rank")}

