"""The ``statistics`` job program: plan, owner inputs, MPC, decoding.

Secure statistics over one column of datasets held by several members
(same column, rows split across members), with an optional filter on the
same rows: count, sum, mean, population and sample variance and standard
deviation, min, max, histogram over public edges, median and quantiles.
Only the requester learns the result; see ``docs/STATISTICS.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from offchain.data.store import LocalStore
from offchain.errors import InputError, TooFewRows, ValueOutOfRange
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import ArithmeticShare, Share
from offchain.programs.base import (
    Catalog,
    ColumnUse,
    Disclosure,
    InputPlan,
    Inputs,
    OutputSpec,
    Plan,
    SharedArray,
    Step,
    canonical_program_text,
    program_parameters,
)
from offchain.stats.local import SCALARS, owner_arrays, value_expression
from offchain.stats.secure import (
    STATUS_OK,
    STATUS_OUT_OF_RANGE,
    STATUS_TOO_FEW_ROWS,
    combine,
    output_names,
    sqrt_non_negative,
)
from offchain.stats.spec import STATISTICS, StatisticsSpec, parse_spec
from offchain.vocabulary import ConstraintLevel, JobKind

PROGRAM_NAME = "statistics"
VERSION = 1
STATUS_NAMES = {
    STATUS_OK: "ok",
    STATUS_TOO_FEW_ROWS: "too_few_rows",
    STATUS_OUT_OF_RANGE: "out_of_range",
}

_OUTPUT_DESCRIPTIONS = {
    "status": "0 ok, 1 too few rows, 2 a value out of the declared bound",
    "count": "number of non-null values passing the filter",
    "sum": "exact sum, in units of the column's integer domain",
    "mean": "mean times 2**F, rounded to nearest",
    "var_pop": "population variance times 2**Gv",
    "var_samp": "sample variance times 2**Gv",
    "min": "smallest value, integer domain",
    "max": "largest value, integer domain",
    "histogram": "count per public bin",
    "quantile_cells": "grid cell holding each quantile (0 below the grid, cells + 1 above)",
}


def statistics_text(
    datasets: Sequence[str],
    column: str,
    statistics: Sequence[str],
    *,
    filter: Sequence[Sequence[Any]] | None = None,  # noqa: A002 - the parameter's name in the text
    bound: float | int | None = None,
    histogram_edges: Sequence[float] | None = None,
    quantiles: Sequence[float] | None = None,
    quantile_grid: Mapping[str, Any] | None = None,
    min_count: int | None = None,
) -> str:
    """Return the canonical program text of a statistics job (statistics put in canonical order)."""
    unknown = [s for s in statistics if s not in STATISTICS]
    if unknown:
        raise InputError(f"unknown statistics {unknown}; choose from {', '.join(STATISTICS)}")
    parameters: dict[str, Any] = {
        "datasets": list(datasets),
        "column": column,
        "statistics": [s for s in STATISTICS if s in set(statistics)],
    }
    optional = {
        "filter": [list(c) for c in filter] if filter else None,
        "bound": bound,
        "histogram_edges": list(histogram_edges) if histogram_edges is not None else None,
        "quantiles": sorted(set(quantiles)) if quantiles is not None else None,
        "quantile_grid": dict(quantile_grid) if quantile_grid is not None else None,
        "min_count": min_count,
    }
    parameters.update({k: v for k, v in optional.items() if v is not None})
    return canonical_program_text(PROGRAM_NAME, VERSION, parameters)


@dataclass(frozen=True)
class QuantileCell:
    """Where a quantile lies: in ``[low, high)`` of the public grid, or outside it.

    ``low`` is None when the quantile is below the grid, ``high`` None when
    it is at or above its upper end. ``value`` is the middle of the cell
    (or the one possible value when ``exact``); ``error_bound`` is half the
    cell width (0 when exact; infinite outside the grid).
    """

    q: Fraction
    low: float | None
    high: float | None
    value: float | None
    exact: bool
    error_bound: float


@dataclass(frozen=True)
class StatisticsResult:
    """What the requester learns: a status and, when it is ``"ok"``, the statistics asked for.

    Exact results are ``int`` (int64 columns), ``Decimal`` (decimal columns)
    or ``float`` (float columns, quantised to ``2**-Fx``); mean, variances
    and deviations are floats with the error bounds in ``error_bounds``.
    """

    status: str
    min_count: int
    count: int | None = None
    sum: int | Decimal | float | None = None
    mean: float | None = None
    var_pop: float | None = None
    var_samp: float | None = None
    stddev_pop: float | None = None
    stddev_samp: float | None = None
    min: int | Decimal | float | None = None
    max: int | Decimal | float | None = None
    histogram: tuple[int, ...] | None = None
    histogram_edges: tuple[float, ...] | None = None
    quantiles: dict[float, QuantileCell] = field(default_factory=dict)
    error_bounds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def raise_for_status(self) -> StatisticsResult:
        """Return self if the values were revealed; raise ``TooFewRows`` or ``ValueOutOfRange``."""
        if self.status == "too_few_rows":
            raise TooFewRows(
                f"fewer than {self.min_count} values match; the statistics are withheld "
                "(lower min_count in the program text only if the data owners accept it)"
            )
        if self.status == "out_of_range":
            raise ValueOutOfRange(
                "at least one value lies outside the declared bound (or is NaN/infinite), so the "
                "statistics are withheld — resubmit with a larger 'bound'"
            )
        return self


class StatisticsProgram:
    """Secure statistics as a job program (see :mod:`offchain.programs.base`)."""

    name: ClassVar[str] = PROGRAM_NAME
    kind: ClassVar[JobKind] = JobKind.STATISTICS

    def plan(self, text: str, catalog: Catalog) -> Plan:
        parameters = program_parameters(text, PROGRAM_NAME, VERSION)
        spec = parse_spec(parameters, catalog)
        shared = [SharedArray("scalars", "integer", len(SCALARS))]
        if spec.histogram_edges:
            shared.append(SharedArray("histogram", "integer", len(spec.histogram_edges) - 1))
        if spec.grid is not None:
            shared.append(SharedArray("grid", "integer", spec.grid.cells + 2))
        condition, _ = spec.filter.compile()
        inputs = tuple(
            InputPlan(
                dataset=dataset,
                columns=(spec.column, *(c for c in spec.filter.columns if c != spec.column)),
                local_step=(
                    f"SELECT count, exact sum and sum of squares, min, max"
                    f"{', histogram' if spec.histogram_edges else ''}"
                    f"{', grid counts' if spec.grid else ''} OF "
                    f"{value_expression(spec.column, spec.column_type)} FROM {dataset.name} "
                    f'WHERE "{spec.column}" IS NOT NULL AND ({condition})'
                ),
                shared=tuple(shared),
            )
            for dataset in spec.datasets
        )
        return Plan(
            program=PROGRAM_NAME,
            kind=JobKind.STATISTICS,
            text=text,
            inputs=inputs,
            uses=_column_uses(spec),
            outputs=tuple(
                OutputSpec(name, "integer", _OUTPUT_DESCRIPTIONS[name])
                for name in output_names(spec)
            ),
            steps=_steps(spec),
            disclosures=_disclosures(spec),
            parameters={"spec": spec},
        )

    def owner_inputs(
        self, plan: Plan, input_index: int, store: LocalStore
    ) -> dict[str, np.ndarray]:
        return owner_arrays(_spec(plan), input_index, store)

    def requester_inputs(self, plan: Plan, private: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if private:
            raise InputError(
                f"statistics take no private parameters (got {sorted(private)}); everything is in the program text"
            )
        return {}

    def compute(self, runtime: Runtime, plan: Plan, inputs: Inputs) -> dict[str, Share]:
        spec = _spec(plan)
        owners = range(len(spec.datasets))

        def received(index: int, name: str) -> ArithmeticShare:
            share = inputs[(f"input{index}", name)]
            if type(share) is not ArithmeticShare:
                raise InputError(
                    f"input{index} shared {name!r} as {type(share).__name__}, expected integers"
                )
            return share

        scalars = [received(i, "scalars") for i in owners]
        histograms = [received(i, "histogram") for i in owners] if spec.histogram_edges else []
        grids = [received(i, "grid") for i in owners] if spec.grid is not None else []
        return combine(spec, scalars, histograms, grids)

    def decode(self, plan: Plan, outputs: Mapping[str, np.ndarray]) -> StatisticsResult:
        return decode_result(_spec(plan), outputs)


def _spec(plan: Plan) -> StatisticsSpec:
    spec = plan.parameters.get("spec")
    if not isinstance(spec, StatisticsSpec):
        raise InputError("this plan was not made by the statistics planner")
    return spec


def _column_uses(spec: StatisticsSpec) -> tuple[ColumnUse, ...]:
    aggregates = ", ".join(spec.statistics)
    uses = []
    for index in range(len(spec.datasets)):
        uses.append(
            ColumnUse(
                index,
                spec.column,
                ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE,
                f"aggregated over all inputs ({aggregates}); only the aggregates are revealed",
            )
        )
        for column in spec.filter.columns:
            uses.append(
                ColumnUse(
                    index,
                    column,
                    ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
                    f"compared in the filter ({spec.filter.describe()}); the result depends on "
                    "which rows pass",
                )
            )
    return tuple(uses)


def _steps(spec: StatisticsSpec) -> tuple[Step, ...]:
    steps = [
        Step(
            f"each of the {len(spec.datasets)} owners, locally in DuckDB",
            f"filter ({spec.filter.describe()}) and pre-aggregate {spec.column}: count, "
            "out-of-range count, exact sum, mean and variance, min, max"
            + (f", {len(spec.histogram_edges) - 1} histogram bins" if spec.histogram_edges else "")
            + (f", {spec.grid.cells + 2} quantile-grid counts" if spec.grid else "")
            + "; secret-share these numbers",
        ),
        Step(
            "MPC on 3 compute nodes",
            "add the counts and sums; check the minimum count and the bound; divide by the count "
            "exactly (long division); combine variances; compare extremes; locate quantile cells; "
            "multiply every output by the status check",
        ),
        Step(
            "requester",
            "reconstruct the outputs, scale them to column units, take square roots of variances",
        ),
    ]
    return tuple(steps)


def _disclosures(spec: StatisticsSpec) -> tuple[Disclosure, ...]:
    return (
        Disclosure(
            "requester",
            f"whether at least {spec.effective_min_count} values matched"
            + (" and all lay within the bound" if spec.range_checked else "")
            + f"; if so: {', '.join(spec.statistics)}",
        ),
        Disclosure(
            "compute nodes",
            "nothing but public sizes (number of inputs, histogram bins, grid cells); all values are shares",
        ),
        Disclosure(
            "each data owner", "nothing about the other owners' data; it receives no output"
        ),
        Disclosure(
            "chain",
            "the program text: inputs, column, filter, statistics, edges, grid, bound, min_count",
        ),
    )


def decode_result(spec: StatisticsSpec, outputs: Mapping[str, np.ndarray]) -> StatisticsResult:
    """Turn the reconstructed outputs into a :class:`StatisticsResult`."""
    status_code = int(outputs["status"][0])
    if status_code not in STATUS_NAMES:
        raise InputError(f"status output {status_code} is not a status; the outputs are corrupt")
    status = STATUS_NAMES[status_code]
    if status != "ok":
        return StatisticsResult(status=status, min_count=spec.effective_min_count)
    found: dict[str, Any] = {}
    bounds: dict[str, float] = {}
    if "count" in outputs:
        found["count"] = int(outputs["count"][0])
    scales = spec.scales
    if scales is not None:
        domain = scales.domain
        unit = domain.unit
        if "sum" in outputs:
            found["sum"] = domain.to_value(int(outputs["sum"][0]))
        if "mean" in outputs:
            found["mean"] = float(Fraction(int(outputs["mean"][0]), 2**scales.mean_bits) * unit)
            bounds["mean"] = float(Fraction(1, 2 ** (scales.mean_bits + 1)) * unit)
        variance_unit = Fraction(2) ** -scales.variance_bits * unit * unit
        for name, root in (("var_pop", "stddev_pop"), ("var_samp", "stddev_samp")):
            if name in outputs:
                variance = float(int(outputs[name][0]) * variance_unit)
                variance = max(variance, 0.0)
                if spec.wants(name):
                    found[name] = variance
                if spec.wants(root):
                    found[root] = sqrt_non_negative(variance)
                bounds[name] = float(variance_unit)
        for name in ("min", "max"):
            if name in outputs:
                found[name] = domain.to_value(int(outputs[name][0]))
        if domain.is_float and ("sum" in outputs or "mean" in outputs):
            bounds["quantisation"] = float(unit / 2)
    if "histogram" in outputs:
        found["histogram"] = tuple(int(c) for c in outputs["histogram"])
        found["histogram_edges"] = tuple(float(e) for e in spec.histogram_edges)
    if "quantile_cells" in outputs:
        found["quantiles"] = {
            float(q): _quantile_cell(spec, q, int(index))
            for q, index in zip(spec.quantiles, outputs["quantile_cells"], strict=True)
        }
    return StatisticsResult(
        status=status, min_count=spec.effective_min_count, error_bounds=bounds, **found
    )


def _quantile_cell(spec: StatisticsSpec, q: Fraction, index: int) -> QuantileCell:
    grid = spec.grid
    if index <= 0:
        return QuantileCell(q, None, float(grid.low), None, False, math.inf)
    if index > grid.cells:
        return QuantileCell(q, float(grid.high), None, None, False, math.inf)
    low, high = grid.cell_edges(index)
    domain = spec.scales.domain
    if not domain.is_float:
        first, last = domain.u_ceil(low), domain.u_ceil(high) - 1
        if first == last:
            return QuantileCell(q, float(low), float(high), float(first * domain.unit), True, 0.0)
    return QuantileCell(
        q, float(low), float(high), float((low + high) / 2), False, float((high - low) / 2)
    )
