"""Grouped aggregates in MPC: one-hot matrices, matrix products, MIN/MAX trees, and the keep bit.

Groups: each table holding GROUP BY columns shared a one-hot matrix ``H_t``
(rows x its distinct keys); with keys from several tables the groups are
the row-wise products of their one-hots (a Kronecker product per row), so
group ``(g1, g2)`` exists for every pair of the owners' keys. Per group:

* ``COUNT(*) = H^T valid`` and ``COUNT(x) = H^T w`` with ``w = valid * (1 - null(x))``;
* ``SUM(x) = H^T (w x)`` (one matrix product for all sums at once, one round);
* ``AVG = SUM / COUNT`` and the variances through :mod:`offchain.sql.numeric`
  (two passes: the mean rounded to an integer ``m`` per group, then exact
  sums of ``d = x - m`` and ``d**2``; ``var = D2/(n-1) - D1**2/(n(n-1))``);
* ``MIN``/``MAX``: per group, invalid rows replaced by a sentinel (``±2**62``),
  then a tree of pairwise minima (``log2 rows`` levels of comparisons);
* ``COUNT(DISTINCT x)``: the owner of ``x`` shares a one-hot of its distinct
  values; ``H^T (w * D)`` counts each value per group, and the number of
  positive counts is the answer.

Then HAVING, the minimum group size and non-emptiness give a keep bit per
group; groups are shuffled, the keep bits opened, and the kept groups'
outputs returned (:func:`offchain.sql.engine.finish`).
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError
from offchain.mpc import compare
from offchain.mpc.ring import RING_DTYPE
from offchain.mpc.shares import ArithmeticShare, FixedPointShare, Share
from offchain.mpc.sharing import share_public
from offchain.mpc.truncation import truncate
from offchain.sql import ir
from offchain.sql.evaluate import Evaluator, Value
from offchain.sql.numeric import integer_quotient, square_root
from offchain.sql.types import BIGINT, DOUBLE

SENTINEL = 1 << 62


class Groups:
    """The group structure: one-hot (rows x groups) or a single group, and the key values."""

    def __init__(self, run, current, valid: ArithmeticShare | None) -> None:
        compiled = run.compiled
        runtime = run.runtime
        self.runtime = runtime
        self.onehot: ArithmeticShare | None = None
        self.keys: dict[tuple[int, str], Value] = {}
        self.ranks: dict[tuple[int, str], ArithmeticShare] = {}
        if compiled.preaggregated:
            # one row per group, from the owner: keys as shared, no one-hot
            domain = run.domains[0]
            self.length = self.count = domain["pre.count"].shape[0]
            for column in compiled.group_by:
                self.keys[(0, column.column)] = Value(domain[f"group.key.{column.column}"],
                                                      domain[f"group.null.{column.column}"],
                                                      column.type)
                if f"group.rank.{column.column}" in domain:
                    self.ranks[(0, column.column)] = domain[f"group.rank.{column.column}"]
            return
        self.length = valid.shape[0]
        if not compiled.group_by:
            self.count = 1
            return
        sizes = []
        matrices = []
        for table in compiled.group_tables:
            onehot = current[f"t{table}.group.onehot"]
            matrices.append(onehot)
            sizes.append(onehot.shape[1])
        combined = matrices[0]
        for matrix in matrices[1:]:
            left = combined.reshape(self.length, combined.shape[1], 1)
            right = matrix.reshape(self.length, 1, matrix.shape[1])
            shape = (self.length, combined.shape[1], matrix.shape[1])
            combined = (_broadcast(left, shape) * _broadcast(right, shape)).reshape(
                self.length, shape[1] * shape[2])
        self.onehot = combined
        self.count = combined.shape[1]
        # Key values of combined group g = (g_1, ..., g_T) in row-major order.
        for position, table in enumerate(compiled.group_tables):
            before = int(np.prod(sizes[:position], dtype=np.int64))
            after = int(np.prod(sizes[position + 1:], dtype=np.int64))
            domain = run.domains[table]
            work = compiled.tables[table]
            for column in work.group.columns:
                ref = next(c for c in compiled.group_by if c.table == table and c.column == column)
                data = _expand(domain[f"group.key.{column}"], before, after)
                null = _expand(domain[f"group.null.{column}"], before, after)
                self.keys[(table, column)] = Value(data, null, ref.type)
                if f"group.rank.{column}" in domain:
                    self.ranks[(table, column)] = _expand(domain[f"group.rank.{column}"], before,
                                                          after)

    def sum(self, columns: ArithmeticShare) -> ArithmeticShare:
        """Per-group sums of row columns (rows, k) -> (groups, k)."""
        if self.onehot is None:
            return columns.sum(axis=0).reshape(1, -1)
        return self.onehot.T @ columns

    def per_row(self, values: ArithmeticShare) -> ArithmeticShare:
        """Each row's group value of per-group values (groups,) -> (rows,)."""
        if self.onehot is None:
            return ArithmeticShare(self.runtime, np.ascontiguousarray(
                np.broadcast_to(values.components.reshape(2, 1), (2, self.length))))
        return (self.onehot @ values.reshape(-1, 1)).reshape(self.length)


def _broadcast(share: ArithmeticShare, shape: tuple[int, ...]) -> ArithmeticShare:
    return ArithmeticShare(share.runtime, np.ascontiguousarray(
        np.broadcast_to(share.components, (2, *shape))))


def _expand(share: Share, before: int, after: int) -> Share:
    components = np.repeat(share.components, after, axis=1)
    components = np.tile(components, (1, before) + (1,) * (components.ndim - 2))
    return share._like(np.ascontiguousarray(components))


def _raw(share: ArithmeticShare) -> ArithmeticShare:
    return ArithmeticShare(share.runtime, share.components)


class Aggregator:
    def __init__(self, run, current, valid: ArithmeticShare | None) -> None:
        self.compiled = run.compiled
        self.runtime = run.runtime
        self.groups = Groups(run, current, valid)
        self.values: dict[ir.Aggregate, Value] = {}
        if self.compiled.preaggregated:
            domain = run.domains[0]
            self.count_star = domain["pre.count"]
            for index, node in enumerate(self.compiled.tables[0].aggregates):
                self.values[node] = Value(domain[f"pre.a{index}"],
                                          domain[f"pre.a{index}.null"], node.type)
            return
        self.valid = valid
        self.length = valid.shape[0]
        self.evaluator = Evaluator(self.runtime, run.row_lookup(current), self.length)
        self.current = current
        self.count_star = self.groups.sum(valid.reshape(-1, 1)).reshape(-1)

    def weights(self, argument: ir.Expr) -> tuple[Value, ArithmeticShare]:
        value = self.evaluator.value(argument) if not (
            isinstance(argument, ir.ColumnRef) and argument.type.is_text) else Value(
            None, self.current[f"t{argument.table}.null.{argument.column}"], argument.type)
        if value.null is None:
            return value, self.valid
        return value, self.valid * (1 - value.null)

    def compute(self, node: ir.Aggregate) -> Value:
        if node.function == "COUNT" and node.argument is None:
            return Value(self.count_star, None, BIGINT)
        if node.distinct:
            return self.count_distinct(node)
        value, weight = self.weights(node.argument)
        if node.function == "COUNT":
            return Value(self.groups.sum(weight.reshape(-1, 1)).reshape(-1), None, BIGINT)
        if node.function in ("MIN", "MAX"):
            return self.extreme(node, value, weight)
        data = _public_to_share(self.runtime, value, self.length)
        if isinstance(data, FixedPointShare):
            weighted = data * weight
        else:
            weighted = _raw(data) * weight
        sums = self.groups.sum(ArithmeticShare(self.runtime, np.ascontiguousarray(np.stack(
            [weight.components, weighted.components], axis=-1))))
        count = ArithmeticShare(self.runtime, np.ascontiguousarray(sums.components[..., 0]))
        total = ArithmeticShare(self.runtime, np.ascontiguousarray(sums.components[..., 1]))
        empty = compare.equal(count, 0)
        atype = node.argument.type
        if node.function == "SUM":
            if atype.is_float:
                total = FixedPointShare(self.runtime, total.components,
                                        self.runtime.fractional_bits)
            return Value(total, empty, node.type)
        offset = -self.runtime.fractional_bits if atype.is_float else 0
        scale = atype.scale if atype.kind == "decimal" else 0
        if node.function == "AVG":
            return Value(integer_quotient(total, count, offset, scale), empty, DOUBLE)
        mean = integer_quotient(total, count, offset)  # in unscaled units
        return self.variance(node, value, weight, count, mean, scale)

    def variance(self, node: ir.Aggregate, value: Value, weight: ArithmeticShare,
                 count: ArithmeticShare, mean: FixedPointShare, scale: int) -> Value:
        runtime = self.runtime
        f = runtime.fractional_bits
        data = _public_to_share(runtime, value, self.length)
        if isinstance(data, FixedPointShare):
            centred = data - FixedPointShare(runtime, self.groups.per_row(_raw(mean)).components, f)
            weighted = centred * weight
            squares = weighted * centred  # fixed x fixed: truncated back to f bits
            units = -f
        else:
            # the mean rounded to an integer (in unscaled units), per row
            rounded = truncate(_raw(mean) + (1 << (f - 1)), f)
            centred = _raw(data) - self.groups.per_row(rounded)
            weighted = centred * weight
            squares = weighted * centred
            units = 0
        sums = self.groups.sum(ArithmeticShare(runtime, np.ascontiguousarray(np.stack(
            [_raw(weighted).components, _raw(squares).components], axis=-1))))
        first = ArithmeticShare(runtime, np.ascontiguousarray(sums.components[..., 0]))
        second = ArithmeticShare(runtime, np.ascontiguousarray(sums.components[..., 1]))
        sample = node.function in ("VAR_SAMP", "STDDEV_SAMP")
        denominator = count - 1 if sample else count
        square_of_first = first * first
        spread = integer_quotient(second, denominator, units, 2 * scale)
        correction = integer_quotient(square_of_first, count * denominator, 2 * units, 2 * scale)
        variance = spread - correction
        null = compare.less_than(count, 2 if sample else 1)
        if node.function.startswith("STDDEV"):
            variance = square_root(variance)
        return Value(variance, null, DOUBLE)

    def extreme(self, node: ir.Aggregate, value: Value, weight: ArithmeticShare) -> Value:
        """MIN/MAX per group: sentinel for rows outside the group, then a tree of minima."""
        runtime = self.runtime
        data = _raw(_public_to_share(runtime, value, self.length))
        sign = 1 if node.function == "MIN" else -1
        signed = data if sign == 1 else -data
        if self.groups.onehot is None:
            member = weight.reshape(-1, 1)
        else:
            member = self.groups.onehot * weight.reshape(-1, 1)
        count = member.sum(axis=0)
        width = member.shape[1]
        spread = signed.reshape(-1, 1) - SENTINEL
        masked = member * _broadcast(spread, (self.length, width)) + SENTINEL
        best = _tree_minimum(masked)
        result = best if sign == 1 else -best
        if value.type.is_float:
            result = FixedPointShare(runtime, result.components, runtime.fractional_bits)
        return Value(result, compare.equal(count, 0), node.type)

    def count_distinct(self, node: ir.Aggregate) -> Value:
        column = node.argument
        codes = self.current.get(f"t{column.table}.distinct.{column.column}")
        if codes is None:
            raise InputError(f"COUNT(DISTINCT {column.text}) values were not shared")
        weighted = codes * _broadcast(self.valid.reshape(-1, 1), codes.shape)
        if self.groups.onehot is None:
            per_value = weighted.sum(axis=0).reshape(1, -1)
        else:
            per_value = self.groups.onehot.T @ weighted
        present = compare.greater_than(per_value, 0)
        return Value(present.sum(axis=1), None, BIGINT)

    def result(self) -> dict[str, Share]:
        compiled = self.compiled
        for node in compiled.aggregates:
            if node not in self.values:
                self.values[node] = self.compute(node)
        groups = self.groups
        count = groups.count

        def lookup(expr: ir.Expr):
            if isinstance(expr, ir.Aggregate):
                return self.values[expr]
            if isinstance(expr, ir.ColumnRef):
                found = groups.keys.get((expr.table, expr.column))
                if found is None:
                    raise InputError(f"{expr.text} is not a GROUP BY key")
                return found
            return None

        evaluator = Evaluator(self.runtime, lookup, count, wide_division=True)
        outputs: dict[str, ArithmeticShare] = {}
        from offchain.sql.engine import as_output, finish

        for index, column in enumerate(compiled.outputs):
            value = evaluator.value(column.expr)
            if value.type.is_text:
                outputs[f"c{index}"], outputs[f"c{index}.null"] = value.data, value.null
                rank = self.groups.ranks.get((column.expr.table, column.expr.column))
                if rank is not None:
                    outputs[f"c{index}.rank"] = rank
            else:
                outputs[f"c{index}"], outputs[f"c{index}.null"] = as_output(self.runtime, value,
                                                                             count)
        keep = None
        if compiled.group_by:
            keep = compare.greater_equal(self.count_star, max(1, compiled.min_group_size))
        if compiled.having is not None:
            having = evaluator.truth(compiled.having).true
            if not isinstance(having, ArithmeticShare):
                having = share_public(self.runtime, np.full(count, int(having), dtype=np.int64))
            keep = having if keep is None else keep * having
        if keep is not None:
            outputs["keep"] = keep
        return finish(self.runtime, compiled, outputs, "keep" if keep is not None else None)


def _public_to_share(runtime, value: Value, length: int):
    data = value.data
    if isinstance(data, ArithmeticShare):
        return data
    kind = "fixed" if value.type.is_float else "integer"
    return share_public(runtime, np.full(length, data), kind)


def _tree_minimum(values: ArithmeticShare) -> ArithmeticShare:
    """Column-wise minimum of (rows, k) values by a tree of pairwise minima (log2 rows levels)."""
    runtime = values.runtime
    current = values
    if current.shape[0] == 0:
        return ArithmeticShare(runtime, np.zeros((2, current.shape[1]), dtype=RING_DTYPE)) + SENTINEL
    while current.shape[0] > 1:
        rows = current.shape[0]
        if rows % 2:
            pad = ArithmeticShare(runtime, np.zeros((2, 1, current.shape[1]), RING_DTYPE)) + SENTINEL
            current = ArithmeticShare(runtime, np.concatenate([current.components, pad.components],
                                                              axis=1))
            rows += 1
        first, second = current[0:rows:2], current[1:rows:2]
        current = compare.minimum(first, second)
    return current.reshape(-1)


def aggregate(run, current, valid: ArithmeticShare) -> dict[str, Share]:
    """Return the output shares of an aggregate query (see the module docstring)."""
    return Aggregator(run, current, valid).result()
