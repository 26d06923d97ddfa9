"""The public parameters of a statistics job: parsing, checking and derived scales.

Program text parameters (canonical JSON, see :mod:`offchain.programs.base`):

``datasets``         ``["member.table", ...]``: inputs with the same column
``column``           the aggregated column
``statistics``       a subset, in this order, of ``count sum mean var_pop
                     var_samp stddev_pop stddev_samp min max histogram median
                     quantiles`` (SQL names; ``var_samp``/``stddev_samp`` divide
                     by ``n - 1``)
``filter``           optional ``[[column, op, literal], ...]``
                     (:mod:`offchain.stats.filters`)
``bound``            optional, ``|value| <= bound`` (:mod:`offchain.stats.scaling`)
``histogram_edges``  with ``histogram``: strictly increasing numbers; bins are
                     ``[e_i, e_{i+1})``, the last one closed (numpy's rule)
``quantiles``        with ``quantiles``: increasing numbers in ``[0, 1]``, at most
                     nine decimals
``quantile_grid``    optional ``{"low": a, "high": b, "cells": c}``; default
                     ``[-bound, bound)`` in 4096 cells
``min_count``        optional, default 5: fewer values than this and only "too
                     few rows" is revealed

The quantile of ``q`` is DuckDB's ``quantile_disc``: the smallest value
``x`` with at least ``ceil(q * n)`` values ``<= x`` (the minimum for ``q =
0``); ``median`` is ``q = 0.5``, the lower median. It is located to a grid
cell, so its error is at most one cell width (reported as the cell); it is
exact when every cell holds at most one possible value (integer or decimal
data with a grid of unit-wide cells). Values below ``low`` or at or above
``high`` are counted in two extra cells, so a quantile outside the grid is
reported as such, never clamped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from offchain.data.schema import check_identifier
from offchain.errors import InputError
from offchain.programs.base import Catalog, DatasetInfo
from offchain.stats.filters import Filter, parse_filter
from offchain.stats.scaling import (
    Scales,
    default_bound,
    edges_to_u,
    exact_number,
    is_numeric,
    plan_scales,
)

STATISTICS = (
    "count",
    "sum",
    "mean",
    "var_pop",
    "var_samp",
    "stddev_pop",
    "stddev_samp",
    "min",
    "max",
    "histogram",
    "median",
    "quantiles",
)
VALUE_STATISTICS = frozenset(STATISTICS) - {"count"}
RANGE_CHECKED = frozenset(
    {"sum", "mean", "var_pop", "var_samp", "stddev_pop", "stddev_samp", "min", "max"}
)
VARIANCE = frozenset({"var_pop", "var_samp", "stddev_pop", "stddev_samp"})
SAMPLE_VARIANCE = frozenset({"var_samp", "stddev_samp"})
PARAMETERS = frozenset(
    {
        "datasets",
        "column",
        "statistics",
        "filter",
        "bound",
        "histogram_edges",
        "quantiles",
        "quantile_grid",
        "min_count",
    }
)
DEFAULT_MIN_COUNT = 5
DEFAULT_GRID_CELLS = 4096
MAX_GRID_CELLS = 65536
MAX_BINS = 4096
MAX_QUANTILES = 99
MAX_QUANTILE_DECIMALS = 9
MAX_DATASETS = 64


@dataclass(frozen=True)
class Grid:
    """Public cells for locating quantiles: ``cells`` equal cells over ``[low, high)``.

    ``starts_u`` are the lower ends of the ``cells + 2`` counting bins in the
    ``u`` domain: "below low", the cells, then "at or above high".
    """

    low: Fraction
    high: Fraction
    cells: int
    starts_u: tuple[int | float, ...]

    def cell_edges(self, index: int) -> tuple[Fraction, Fraction]:
        """Return ``[low, high)`` of grid cell ``index`` (1-based; 0 and cells + 1 are outside)."""
        width = (self.high - self.low) / self.cells
        return self.low + (index - 1) * width, self.low + index * width


@dataclass(frozen=True)
class StatisticsSpec:
    """A checked statistics job: what to compute, over which inputs, at which scales."""

    datasets: tuple[DatasetInfo, ...]
    column: str
    column_type: str
    statistics: tuple[str, ...]
    filter: Filter
    min_count: int
    scales: Scales | None  # None when only counts are asked
    histogram_edges: tuple[Fraction, ...] = ()
    histogram_starts_u: tuple[int | float, ...] = ()
    quantiles: tuple[Fraction, ...] = ()  # median included, sorted, unique
    grid: Grid | None = None

    def wants(self, *names: str) -> bool:
        """Return whether any of ``names`` was asked for."""
        return any(name in self.statistics for name in names)

    @property
    def range_checked(self) -> bool:
        """Whether values outside the bound withhold the result (sums, moments, extremes)."""
        return self.wants(*RANGE_CHECKED)

    @property
    def effective_min_count(self) -> int:
        """The minimum count enforced: ``min_count``, and at least 2 for sample variances."""
        return max(self.min_count, 2) if self.wants(*SAMPLE_VARIANCE) else self.min_count


def _list_of(value: Any, what: str, minimum: int, maximum: int) -> list:
    if not isinstance(value, list) or not minimum <= len(value) <= maximum:
        raise InputError(f"{what} must be a list of {minimum} to {maximum} items, got {value!r}")
    return value


def _statistics(value: Any, column: str, column_type: str) -> tuple[str, ...]:
    names = _list_of(value, "statistics", 1, len(STATISTICS))
    unknown = [n for n in names if n not in STATISTICS]
    if unknown:
        raise InputError(f"unknown statistics {unknown}; choose from {', '.join(STATISTICS)}")
    canonical = tuple(n for n in STATISTICS if n in names)
    if tuple(names) != canonical:
        raise InputError(
            f"statistics must be listed once each in the canonical order {list(canonical)}, "
            f"got {names} (one job, one program text)"
        )
    if not is_numeric(column_type) and set(canonical) & VALUE_STATISTICS:
        raise InputError(
            f"column {column!r} is {column_type}; {', '.join(sorted(set(canonical) & VALUE_STATISTICS))} "
            "need a numeric column (int64, float64 or decimal); only count applies to it"
        )
    return canonical


def _increasing(values: list, what: str) -> tuple[Fraction, ...]:
    exact = tuple(exact_number(v, what) for v in values)
    for position in range(1, len(exact)):
        if exact[position] <= exact[position - 1]:
            raise InputError(
                f"{what} must be strictly increasing; item {position} ({values[position]!r}) "
                f"follows {values[position - 1]!r}"
            )
    return exact


def _quantiles(value: Any, median: bool) -> tuple[Fraction, ...]:
    listed = _increasing(_list_of(value, "quantiles", 1, MAX_QUANTILES), "quantiles")
    for q, raw in zip(listed, value, strict=True):
        if not 0 <= q <= 1:
            raise InputError(f"quantile {raw!r} lies outside [0, 1]")
        if q.denominator > 10**MAX_QUANTILE_DECIMALS or 10**MAX_QUANTILE_DECIMALS % q.denominator:
            raise InputError(f"quantile {raw!r} must have at most {MAX_QUANTILE_DECIMALS} decimals")
    if median and Fraction(1, 2) in listed:
        raise InputError(
            "median is quantile 0.5: remove 0.5 from quantiles or median from statistics"
        )
    return listed


def _grid(value: Any, scales: Scales) -> Grid:
    if value is None:
        low, high, cells = -scales.bound, scales.bound, DEFAULT_GRID_CELLS
    else:
        if not isinstance(value, dict) or set(value) != {"low", "high", "cells"}:
            raise InputError(
                f'quantile_grid must be {{"low": a, "high": b, "cells": c}}, got {value!r}'
            )
        low = exact_number(value["low"], "quantile_grid.low")
        high = exact_number(value["high"], "quantile_grid.high")
        cells = value["cells"]
        if (
            isinstance(cells, bool)
            or not isinstance(cells, int)
            or not 1 <= cells <= MAX_GRID_CELLS
        ):
            raise InputError(
                f"quantile_grid.cells must be an integer in [1, {MAX_GRID_CELLS}], got {cells!r}"
            )
        if not low < high:
            raise InputError(
                f"quantile_grid needs low < high, got low={value['low']!r}, high={value['high']!r}"
            )
    width = (high - low) / cells
    boundaries = [low + i * width for i in range(cells + 1)]
    domain = scales.domain
    if domain.is_float:
        starts: list[int | float] = [float("-inf")] + [float(b) for b in boundaries]
    else:
        starts = [-(2**63)] + [domain.u_ceil(b) for b in boundaries]
    return Grid(low, high, cells, tuple(starts))


def parse_spec(parameters: Mapping[str, Any], catalog: Catalog) -> StatisticsSpec:
    """Check the parameters of a statistics program text against the catalog."""
    unknown = sorted(set(parameters) - PARAMETERS)
    if unknown:
        raise InputError(
            f"unknown statistics parameters {unknown}; known: {', '.join(sorted(PARAMETERS))}"
        )
    for required in ("datasets", "column", "statistics"):
        if required not in parameters:
            raise InputError(f"statistics parameter {required!r} is required")
    references = _list_of(parameters["datasets"], "datasets", 1, MAX_DATASETS)
    if any(not isinstance(r, str) for r in references) or len(set(references)) != len(references):
        raise InputError(f"datasets must be distinct 'member.table' strings, got {references!r}")
    datasets = tuple(catalog.dataset(r) for r in references)
    inactive = [d.reference for d in datasets if not d.active]
    if inactive:
        raise InputError(f"datasets {inactive} are not active")
    if not isinstance(parameters["column"], str):
        raise InputError(f"column must be a string, got {parameters['column']!r}")
    column = check_identifier(parameters["column"])
    types: dict[str, list[str]] = {}
    for dataset in datasets:
        if column not in dataset.schema.names:
            raise InputError(
                f"dataset {dataset.reference} has no column {column!r} (its columns: "
                f"{', '.join(dataset.schema.names)})"
            )
        types.setdefault(dataset.schema.type_of(column), []).append(dataset.reference)
    if len(types) > 1:
        spelled = "; ".join(f"{t} in {', '.join(refs)}" for t, refs in sorted(types.items()))
        raise InputError(f"column {column!r} must have one type in every input, found {spelled}")
    column_type = next(iter(types))
    statistics = _statistics(parameters["statistics"], column, column_type)
    row_filter = parse_filter(parameters.get("filter"), [(d.reference, d.schema) for d in datasets])
    min_count = parameters.get("min_count", DEFAULT_MIN_COUNT)
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise InputError(f"min_count must be a positive integer, got {min_count!r}")
    wants = set(statistics)
    for name, needed_by in (("histogram_edges", "histogram"), ("quantiles", "quantiles")):
        if (name in parameters) != (needed_by in wants):
            raise InputError(
                f"{name} must be given exactly when {needed_by!r} is among the statistics"
            )
    if "quantile_grid" in parameters and not wants & {"median", "quantiles"}:
        raise InputError("quantile_grid is only used with median or quantiles")
    if "bound" in parameters and not is_numeric(column_type):
        raise InputError(f"bound applies to numeric columns; {column!r} is {column_type}")
    if not wants & VALUE_STATISTICS:
        return StatisticsSpec(
            datasets, column, column_type, statistics, row_filter, min_count, None
        )
    bound = (
        exact_number(parameters["bound"], "bound")
        if "bound" in parameters
        else default_bound(column_type)
    )
    scales = plan_scales(column_type, bound, sum(d.row_count for d in datasets))
    edges: tuple[Fraction, ...] = ()
    starts: tuple[int | float, ...] = ()
    if "histogram" in wants:
        raw_edges = _list_of(parameters["histogram_edges"], "histogram_edges", 2, MAX_BINS + 1)
        edges = _increasing(raw_edges, "histogram_edges")
        starts = tuple(edges_to_u(scales.domain, list(edges)))
    quantiles: tuple[Fraction, ...] = ()
    grid = None
    if wants & {"median", "quantiles"}:
        listed = (
            _quantiles(parameters["quantiles"], "median" in wants) if "quantiles" in wants else ()
        )
        quantiles = tuple(sorted(set(listed) | ({Fraction(1, 2)} if "median" in wants else set())))
        grid = _grid(parameters.get("quantile_grid"), scales)
    return StatisticsSpec(
        datasets=datasets,
        column=column,
        column_type=column_type,
        statistics=statistics,
        filter=row_filter,
        min_count=min_count,
        scales=scales,
        histogram_edges=edges,
        histogram_starts_u=starts,
        quantiles=quantiles,
        grid=grid,
    )


def describe_number(value: Fraction) -> str:
    """Return an exact-looking decimal for messages and plans."""
    if value.denominator == 1:
        return str(value.numerator)
    return str(Decimal(value.numerator) / Decimal(value.denominator))
