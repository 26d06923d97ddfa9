"""What each data owner computes in its own DuckDB before anything is shared.

An owner filters its table (:mod:`offchain.stats.filters`, parameterised
SQL) and pre-aggregates the column: at most three queries, each one scan.
Only the resulting few numbers are secret-shared:

``scalars`` (8 integers, :data:`SCALARS`)
    ``count`` of non-null in-range values ``n_j``; ``out_of_range`` count
    (outside the bound, NaN or infinite) ``o_j``; exact ``sum`` ``S_j`` in the
    ``u`` domain; the owner's mean ``round(S_j / n_j * 2**(Gm + 30))``; its
    population variance ``round(var_j * 2**Gv)`` as two 30-bit limbs; ``min``
    and ``max`` (``Bu + 1`` and ``-(Bu + 1)`` when it has no value). Mean and
    variance are computed exactly (integer ``S`` and ``sum(u*u)`` in HUGEINT,
    then rational arithmetic), so an owner's rounding is its only error.
``histogram``
    counts per bin for the public edges (values outside the edges ignored).
``grid``
    counts per quantile-grid cell, plus "below" and "at or above" cells.

When the job needs no range check (only count, histogram or quantiles),
``count`` is every non-null value and ``out_of_range`` is 0.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from offchain.data.schema import decimal_scale
from offchain.data.store import LocalStore
from offchain.errors import InputError
from offchain.programs.base import DatasetInfo
from offchain.stats.spec import StatisticsSpec

SCALARS = ("count", "out_of_range", "sum", "mean", "variance_high", "variance_low", "min", "max")
LIMB_BITS = 30


def value_expression(column: str, column_type: str) -> str:
    """SQL for the column as ``u`` (int64 and decimal; floats are quantised separately)."""
    quoted = f'"{column}"'
    scale = decimal_scale(column_type)
    if scale is not None:
        return f"CAST({quoted} * {10**scale} AS BIGINT)"
    if column_type == "int64":
        return f"CAST({quoted} AS BIGINT)"
    return f"CAST({quoted} AS DOUBLE)"


def _checked_table(store: LocalStore, dataset: DatasetInfo, columns: tuple[str, ...]) -> str:
    table = dataset.name
    local_rows = store.row_count(table)
    if local_rows > dataset.row_count:
        raise InputError(
            f"{dataset.reference} holds {local_rows} rows locally but {dataset.row_count} are "
            "registered; the job's ranges were sized from the registered count — register the "
            "new version before computing on it"
        )
    schema = store.schema(table)
    for column in columns:
        if column not in schema.names or schema.type_of(column) != dataset.schema.type_of(column):
            raise InputError(
                f"local table {table!r} does not match the registered schema of {dataset.reference} "
                f"for column {column!r}"
            )
    return table


def owner_arrays(
    spec: StatisticsSpec, input_index: int, store: LocalStore
) -> dict[str, np.ndarray]:
    """Return the arrays the owner of input ``input_index`` shares, computed in its DuckDB."""
    dataset = spec.datasets[input_index]
    table = _checked_table(store, dataset, (spec.column, *spec.filter.columns))
    condition, parameters = spec.filter.compile()
    rows = f'FROM "{table}" WHERE "{spec.column}" IS NOT NULL AND ({condition})'
    arrays = {"scalars": _scalars(spec, store, rows, parameters)}
    if spec.histogram_starts_u:
        counts = _bin_counts(spec, store, rows, parameters, spec.histogram_starts_u)
        arrays["histogram"] = counts[:-1]  # the last bin holds values past the final edge
    if spec.grid is not None:
        arrays["grid"] = _bin_counts(spec, store, rows, parameters, spec.grid.starts_u)
    return arrays


def _scalars(spec: StatisticsSpec, store: LocalStore, rows: str, parameters: list) -> np.ndarray:
    out = np.zeros(len(SCALARS), dtype=np.int64)
    scales = spec.scales
    if scales is None or not spec.range_checked:
        (count,) = store.query(f"SELECT count(*) AS n {rows}", parameters)["n"]
        out[0] = int(count)
        return out
    bound_u = scales.bound_u
    if scales.domain.is_float:
        raw = f'CAST("{spec.column}" AS DOUBLE)'
        in_range = f"(isfinite({raw}) AND abs({raw}) <= ? AND abs(round({raw} * ?)) <= ?)"
        range_parameters = [float(scales.bound), float(2**scales.domain.float_bits), float(bound_u)]
        value = f"CASE WHEN {in_range} THEN CAST(round({raw} * ?) AS BIGINT) END"
        value_parameters = [*range_parameters, float(2**scales.domain.float_bits)]
    else:
        expression = value_expression(spec.column, spec.column_type)
        in_range = f"({expression} BETWEEN ? AND ?)"
        range_parameters = [-bound_u, bound_u]
        value = expression
        value_parameters = []
    # HUGEINT sums travel as text: numpy would round them to doubles.
    sql = (
        f"WITH v AS (SELECT {value} AS u, {in_range} AS ok {rows}) "
        "SELECT count(*) FILTER (WHERE ok) AS n, count(*) FILTER (WHERE NOT ok) AS outside, "
        "CAST(sum(CAST(u AS HUGEINT)) FILTER (WHERE ok) AS VARCHAR) AS total, "
        "CAST(sum(CAST(u AS HUGEINT) * CAST(u AS HUGEINT)) FILTER (WHERE ok) AS VARCHAR) AS squares, "
        "CAST(min(u) FILTER (WHERE ok) AS VARCHAR) AS low, "
        "CAST(max(u) FILTER (WHERE ok) AS VARCHAR) AS high FROM v"
    )
    found = store.query(sql, [*value_parameters, *range_parameters, *parameters])
    count, outside, total, squares, low, high = (
        found[name][0] for name in ("n", "outside", "total", "squares", "low", "high")
    )
    count, outside = int(count), int(outside)
    out[0], out[1] = count, outside
    if count == 0:
        out[6], out[7] = scales.sentinel, -scales.sentinel
        return out
    total, squares = int(total), int(squares)
    mean = Fraction(total, count)
    variance = Fraction(count * squares - total * total, count * count)
    mean_scaled = round(mean * Fraction(2) ** scales.owner_mean_bits)
    variance_scaled = round(variance * Fraction(2) ** scales.variance_bits)
    out[2] = total
    out[3] = mean_scaled
    out[4], out[5] = variance_scaled >> LIMB_BITS, variance_scaled & ((1 << LIMB_BITS) - 1)
    out[6], out[7] = int(low), int(high)
    return out


def _bin_counts(
    spec: StatisticsSpec,
    store: LocalStore,
    rows: str,
    parameters: list,
    starts: tuple[int | float, ...],
) -> np.ndarray:
    """Count values per bin ``[starts[i], starts[i+1])`` (the last bin open above), by an ASOF join."""
    expression = value_expression(spec.column, spec.column_type)
    element = "DOUBLE" if spec.scales is not None and spec.scales.domain.is_float else "BIGINT"
    not_nan = f" AND NOT isnan({expression})" if element == "DOUBLE" else ""
    sql = (
        f"WITH v AS (SELECT {expression} AS u {rows}{not_nan}), "
        f"b AS (SELECT unnest(CAST(? AS {element}[])) AS start, unnest(range(?)) AS bin) "
        "SELECT b.bin AS bin, count(*) AS n FROM v ASOF JOIN b ON v.u >= b.start GROUP BY b.bin"
    )
    found = store.query(sql, [*parameters, list(starts), len(starts)])
    counts = np.zeros(len(starts), dtype=np.int64)
    counts[np.asarray(found["bin"], dtype=np.int64)] = np.asarray(found["n"], dtype=np.int64)
    return counts
