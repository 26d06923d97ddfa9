"""Statistics end to end: every role run by the local runner, compared with DuckDB over the union in the clear."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from offchain.data.schema import Schema
from offchain.errors import InputError, TooFewRows, ValueOutOfRange
from offchain.programs import registry
from offchain.programs.base import canonical_program_text
from offchain.programs.catalog import StaticCatalog
from offchain.stats.local import owner_arrays
from offchain.stats.program import StatisticsProgram, statistics_text
from offchain.stats.secure import variance_error_bound
from offchain.vocabulary import ConstraintLevel, JobKind

from .conftest import SCHEMA, Consortium, generated_tables, make_consortium

ALL_MOMENTS = [
    "count",
    "sum",
    "mean",
    "var_pop",
    "var_samp",
    "stddev_pop",
    "stddev_samp",
    "min",
    "max",
]


class RawOutputs(StatisticsProgram):
    """The statistics program, but returning the reconstructed outputs instead of decoding them."""

    def decode(self, plan, outputs):
        return {name: np.asarray(values) for name, values in outputs.items()}


def exact_values(
    consortium: Consortium, column: str, where: str = "TRUE", parameters=()
) -> list[Fraction]:
    rows = consortium.reference.execute(
        f'SELECT CAST("{column}" AS VARCHAR) FROM u WHERE "{column}" IS NOT NULL AND ({where})',
        list(parameters),
    ).fetchall()
    return [Fraction(Decimal(r[0])) for r in rows]


def exact_variance(values: list[Fraction], ddof: int) -> Fraction:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - ddof)


def variance_tolerance(consortium: Consortium, text: str, unit: Fraction) -> float:
    """The documented error bound, evaluated on the owners' own pre-aggregates, in column units²."""
    program = StatisticsProgram()
    spec = program.plan(text, consortium.catalog).parameters["spec"]
    scales = spec.scales
    variance_units, mean_units = [], []
    for index, store in enumerate(consortium.stores):
        scalars = owner_arrays(spec, index, store)["scalars"]
        if scalars[0] == 0:
            continue
        variance_units.append(int(scalars[4]) * 2**30 + int(scalars[5]))
        mean_units.append(
            Fraction(int(scalars[2]), int(scalars[0])) * Fraction(2) ** scales.half_variance_bits
        )
    bound = variance_error_bound(variance_units, mean_units)
    return bound * float(Fraction(2) ** -scales.variance_bits * unit * unit)


def test_moments_of_a_decimal_column_with_nulls_negatives_and_a_filter(
    consortium: Consortium,
) -> None:
    text = statistics_text(
        consortium.references, "amount", ALL_MOMENTS, filter=[["region", "in", ["west", "south"]]]
    )
    result = consortium.run(text).raise_for_status()
    where = "region IN ('west', 'south')"
    count, total, low, high = consortium.clear(
        f"SELECT count(amount), sum(amount), min(amount), max(amount) FROM u WHERE {where}"
    )
    values = exact_values(consortium, "amount", where)
    assert any(v < 0 for v in values)
    assert result.count == count and result.sum == total
    assert result.min == low and result.max == high
    assert isinstance(result.sum, Decimal)
    mean = sum(values) / len(values)
    assert abs(Fraction(result.mean) - mean) <= Fraction(result.error_bounds["mean"]) + Fraction(
        1, 10**9
    )
    tolerance = variance_tolerance(consortium, text, Fraction(1, 100))
    for name, ddof in (("var_pop", 0), ("var_samp", 1)):
        exact = exact_variance(values, ddof)
        allowed = tolerance * (2 if ddof else 1) + float(exact) * 2.0**-29
        assert abs(getattr(result, name) - float(exact)) <= allowed, name
        # |sqrt(a) - sqrt(b)| <= |a - b| / sqrt(b)
        deviation = getattr(result, name.replace("var", "stddev"))
        assert abs(deviation - math.sqrt(exact)) <= allowed / math.sqrt(exact)
    # with the default bound (1e9) the resolution is 2**16 cent² = 6.55 dollar²
    assert result.error_bounds["var_pop"] == pytest.approx(6.5536)
    # which still leaves the deviation good to about seven significant digits
    assert abs(result.stddev_pop / math.sqrt(exact_variance(values, 0)) - 1) < 1e-6


def test_histogram_and_quantiles_match_duckdb(consortium: Consortium) -> None:
    edges = [-20_000, -5_000, 0, 0.01, 2_500.5, 7_000, 30_000]
    text = statistics_text(
        consortium.references,
        "amount",
        ["count", "histogram", "median", "quantiles"],
        histogram_edges=edges,
        quantiles=[0, 0.05, 0.25, 0.9, 1],
        quantile_grid={"low": -30_000, "high": 30_000, "cells": 6_000},
    )
    result = consortium.run(text).raise_for_status()
    expected = [
        consortium.clear(
            "SELECT count(*) FROM u WHERE amount >= ? AND (amount < ? OR (? AND amount = ?))",
            [Decimal(repr(a)), Decimal(repr(b)), i == len(edges) - 2, Decimal(repr(b))],
        )[0]
        for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]
    assert list(result.histogram) == expected
    for q, cell in result.quantiles.items():
        (truth,) = consortium.clear(f"SELECT quantile_disc(amount, {q}) FROM u")
        assert cell.low <= float(truth) < cell.high, (q, cell, truth)
        assert abs(cell.value - float(truth)) <= cell.error_bound
    assert set(result.quantiles) == {0.0, 0.05, 0.25, 0.5, 0.9, 1.0}


def test_quantiles_are_exact_for_integers_on_a_unit_grid(consortium: Consortium) -> None:
    text = statistics_text(
        consortium.references,
        "units",
        ["median", "quantiles", "min", "max"],
        quantiles=[0.01, 0.3, 0.99],
        quantile_grid={"low": -50, "high": 200, "cells": 250},
        filter=[["active", "=", True]],
    )
    result = consortium.run(text).raise_for_status()
    for q, cell in result.quantiles.items():
        (truth,) = consortium.clear(f"SELECT quantile_disc(units, {q}) FROM u WHERE active")
        assert cell.exact and cell.value == truth and cell.error_bound == 0
    assert (result.min, result.max) == consortium.clear(
        "SELECT min(units), max(units) FROM u WHERE active"
    )


def test_quantiles_outside_the_grid_are_reported_as_outside(consortium: Consortium) -> None:
    text = statistics_text(
        consortium.references,
        "units",
        ["quantiles"],
        quantiles=[0.0, 0.5, 1.0],
        quantile_grid={"low": 0, "high": 100, "cells": 10},
    )
    result = consortium.run(text).raise_for_status()
    assert result.quantiles[0.0].low is None and result.quantiles[0.0].high == 0.0
    assert result.quantiles[1.0].high is None and result.quantiles[1.0].low == 100.0
    assert result.quantiles[0.0].error_bound == math.inf
    (median,) = consortium.clear("SELECT quantile_disc(units, 0.5) FROM u")
    assert result.quantiles[0.5].low <= median < result.quantiles[0.5].high


def test_an_owner_without_matching_rows_and_date_and_null_filters(consortium: Consortium) -> None:
    conditions = [
        ["region", "=", "west"],
        ["opened", "between", ["2024-02-01", "2024-10-31"]],
        ["amount", "is_null", False],
    ]
    text = statistics_text(
        consortium.references, "amount", ["count", "sum", "mean", "min", "max"], filter=conditions
    )
    program = StatisticsProgram()
    plan = program.plan(text, consortium.catalog)
    assert owner_arrays(plan.parameters["spec"], 3, consortium.stores[3])["scalars"][0] == 0
    result = consortium.run(text).raise_for_status()
    where = "region = 'west' AND opened BETWEEN DATE '2024-02-01' AND DATE '2024-10-31' AND amount IS NOT NULL"
    count, total, low, high = consortium.clear(
        f"SELECT count(*), sum(amount), min(amount), max(amount) FROM u WHERE {where}"
    )
    assert (result.count, result.sum, result.min, result.max) == (count, total, low, high)


def test_statistics_without_a_filter_and_a_count_of_a_string_column(consortium: Consortium) -> None:
    result = consortium.run(
        statistics_text(consortium.references, "units", ["count", "sum", "mean"])
    ).raise_for_status()
    count, total = consortium.clear("SELECT count(units), sum(units) FROM u")
    assert (result.count, result.sum) == (count, total)
    assert abs(result.mean - total / count) <= result.error_bounds["mean"] + 1e-12
    strings = consortium.run(
        statistics_text(consortium.references, "region", ["count"], filter=[["units", ">", 100]])
    ).raise_for_status()
    assert strings.count == consortium.clear("SELECT count(region) FROM u WHERE units > 100")[0]


def test_too_few_rows_withholds_every_value(consortium: Consortium) -> None:
    (matching,) = consortium.clear("SELECT count(amount) FROM u WHERE units = 7")
    assert 1 <= matching < 5
    text = statistics_text(
        consortium.references,
        "amount",
        [*ALL_MOMENTS, "histogram"],
        filter=[["units", "=", 7]],
        histogram_edges=[-1e6, 0, 1e6],
    )
    result = consortium.run(text)
    assert result.status == "too_few_rows" and result.count is None and result.mean is None
    with pytest.raises(TooFewRows, match="fewer than 5"):
        result.raise_for_status()
    outputs = consortium.run(text, RawOutputs())
    assert outputs["status"].tolist() == [1]
    assert all(not np.any(values) for name, values in outputs.items() if name != "status")
    # exactly min_count values: revealed
    exact = statistics_text(
        consortium.references, "amount", ["count"], filter=[["units", "=", 7]], min_count=matching
    )
    assert consortium.run(exact).raise_for_status().count == matching
    nothing = statistics_text(
        consortium.references, "amount", ["count"], filter=[["region", "=", "nowhere"]]
    )
    assert consortium.run(nothing).status == "too_few_rows"


def test_sample_variance_needs_two_rows_even_with_min_count_one(consortium: Consortium) -> None:
    (single,) = consortium.clear("SELECT min(units) FROM u GROUP BY units HAVING count(*) = 1")
    text = statistics_text(
        consortium.references, "units", ["var_samp"], filter=[["units", "=", single]], min_count=1
    )
    assert consortium.run(text).status == "too_few_rows"
    text = statistics_text(
        consortium.references,
        "units",
        ["var_pop", "mean"],
        filter=[["units", "=", single]],
        min_count=1,
    )
    result = consortium.run(text).raise_for_status()
    assert result.var_pop == 0 and result.mean == single


def test_a_value_outside_the_bound_withholds_moments_but_not_histograms(
    consortium: Consortium,
) -> None:
    (largest,) = consortium.clear("SELECT max(amount) FROM u")
    bound = float(largest) - 1
    text = statistics_text(consortium.references, "amount", ["count", "sum", "mean"], bound=bound)
    result = consortium.run(text)
    assert result.status == "out_of_range"
    with pytest.raises(ValueOutOfRange, match="bound"):
        result.raise_for_status()
    assert all(
        not np.any(v) for k, v in consortium.run(text, RawOutputs()).items() if k != "status"
    )
    histogram = statistics_text(
        consortium.references, "amount", ["histogram"], bound=bound, histogram_edges=[-1e5, 0, 1e5]
    )
    assert consortium.run(histogram).raise_for_status().histogram == consortium.clear(
        "SELECT count(*) FILTER (WHERE amount < 0), count(*) FILTER (WHERE amount >= 0) FROM u"
    )
    # exactly at the bound is inside
    exact = statistics_text(consortium.references, "amount", ["max"], bound=float(largest))
    assert consortium.run(exact).raise_for_status().max == largest


def test_float_column_nan_and_infinity_are_out_of_range() -> None:
    rng = np.random.default_rng(7)
    consortium = make_consortium(generated_tables(rng, [30, 40]))
    plain = statistics_text(
        consortium.references, "score", ["count", "mean", "var_pop", "min", "max"], bound=100
    )
    result = consortium.run(plain).raise_for_status()
    count, mean, variance, low, high = consortium.clear(
        "SELECT count(score), avg(score), var_pop(score), min(score), max(score) FROM u"
    )
    assert result.count == count
    spec = StatisticsProgram().plan(plain, consortium.catalog).parameters["spec"]
    step = float(spec.scales.domain.unit)
    assert abs(result.mean - mean) <= step / 2 + result.error_bounds["mean"]
    assert abs(result.min - low) <= step / 2 and abs(result.max - high) <= step / 2
    assert abs(result.var_pop - variance) <= step * (abs(high) + abs(low)) + 1e-9
    consortium.stores[1].query("INSERT INTO loans (score, region) VALUES ('nan'::DOUBLE, 'north')")
    consortium.datasets[1] = replace(consortium.datasets[1], row_count=41)
    assert consortium.run(plain).status == "out_of_range"
    consortium.stores[0].query("DELETE FROM loans WHERE score IS NULL OR isnan(score)")
    consortium.stores[1].query("UPDATE loans SET score = 'inf'::DOUBLE WHERE isnan(score)")
    assert consortium.run(plain).status == "out_of_range"


def test_money_at_the_documented_scale_is_exact_in_sum_and_close_in_variance() -> None:
    """Amounts up to 1e9 in cents, datasets registered with 10**7 rows in total."""
    rng = np.random.default_rng(11)
    tables = []
    for size in (60, 45, 80, 30, 50):
        amount = np.round(rng.uniform(-1e9, 1e9, size), 2)
        amount[:2] = [999_999_999.99, -999_999_999.99]
        table = generated_tables(rng, [size])[0]
        table["amount"] = [float(a) for a in amount]
        tables.append(table)
    consortium = make_consortium(tables, registered_rows=[2_000_000] * 5)
    text = statistics_text(
        consortium.references, "amount", ["count", "sum", "mean", "var_pop", "min", "max"]
    )
    result = consortium.run(text).raise_for_status()
    count, total, low, high = consortium.clear(
        "SELECT count(amount), sum(amount), min(amount), max(amount) FROM u"
    )
    assert (result.count, result.sum, result.min, result.max) == (count, total, low, high)
    values = exact_values(consortium, "amount")
    assert abs(Fraction(result.mean) - sum(values) / len(values)) <= Fraction(
        result.error_bounds["mean"]
    ) + Fraction(1, 10**6)
    exact = exact_variance(values, 0)
    assert abs(result.var_pop - float(exact)) <= variance_tolerance(
        consortium, text, Fraction(1, 100)
    )
    assert abs(result.var_pop / float(exact) - 1) < 1e-8


def test_unbalanced_owners_stay_within_the_stated_variance_bound() -> None:
    rng = np.random.default_rng(3)
    tables = generated_tables(rng, [400, 6, 9], null_every=1000)
    tables[1]["amount"] = [float(v) for v in np.round(rng.normal(40_000, 20_000, 6), 2)]
    consortium = make_consortium(tables)
    text = statistics_text(consortium.references, "amount", ["var_pop", "var_samp"], bound=1e6)
    result = consortium.run(text).raise_for_status()
    values = exact_values(consortium, "amount")
    tolerance = variance_tolerance(consortium, text, Fraction(1, 100))
    assert abs(result.var_pop - float(exact_variance(values, 0))) <= tolerance
    assert (
        abs(result.var_samp - float(exact_variance(values, 1)))
        <= 2 * tolerance + float(exact_variance(values, 1)) * 2.0**-29
    )


def test_local_tables_larger_than_registered_are_refused(consortium: Consortium) -> None:
    shrunk = [replace(d, row_count=d.row_count - 1) for d in consortium.datasets]
    tight = Consortium(consortium.stores, shrunk, consortium.reference)
    with pytest.raises(InputError, match="registered"):
        tight.run(statistics_text(tight.references, "units", ["sum"]))


def test_plans_are_deterministic_and_declare_column_uses(consortium: Consortium) -> None:
    text = statistics_text(
        consortium.references,
        "amount",
        ["mean", "histogram"],
        filter=[["region", "!=", "east"], ["units", ">=", 0]],
        histogram_edges=[0, 1, 2],
    )
    program = registry.get("statistics")
    first, second = program.plan(text, consortium.catalog), program.plan(text, consortium.catalog)
    assert first == second and first.explain() == second.explain()
    assert first.kind is JobKind.STATISTICS and first.text == text
    levels = {(u.input_index, u.column): u.required for u in first.uses}
    for index in range(len(consortium.datasets)):
        assert levels[(index, "amount")] is ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE
        assert levels[(index, "region")] is ConstraintLevel.PLAINTEXT_AFTER_COMPARE
        assert levels[(index, "units")] is ConstraintLevel.PLAINTEXT_AFTER_COMPARE
    assert "units >= 0" in first.explain() and "?" not in first.explain()
    assert [o.name for o in first.outputs] == ["status", "mean", "histogram"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"column": "missing"}, "no column 'missing'"),
        ({"column": "region", "statistics": ["mean"]}, "need a numeric column"),
        ({"statistics": ["histogram"], "histogram_edges": [0, 5, 5]}, "strictly increasing"),
        (
            {"statistics": ["histogram"], "histogram_edges": [3]},
            "histogram_edges must be a list of 2",
        ),
        ({"statistics": ["quantiles"], "quantiles": [0.5, 1.5]}, r"outside \[0, 1\]"),
        ({"statistics": ["quantiles"], "quantiles": [-0.1]}, r"outside \[0, 1\]"),
        ({"statistics": ["quantiles"], "quantiles": [0.1234567891]}, "at most 9 decimals"),
        ({"statistics": ["quantiles"]}, "quantiles must be given exactly when"),
        ({"statistics": ["mean", "count"]}, "canonical order"),
        ({"statistics": ["median"]}, None),
        ({"statistics": ["variance"]}, "unknown statistics"),
        ({"bound": 1e16}, "declare a bound of at most"),
        ({"bound": -1}, "bound must be positive"),
        ({"filter": [["units", "=", "seven"]]}, "expected an integer literal"),
        ({"filter": [["units", "like", 3]]}, "unknown operator 'like'"),
        ({"filter": [["units", "between", [5, 1]]]}, "low <= high"),
        ({"filter": [["opened", "<", "yesterday"]]}, "YYYY-MM-DD"),
        ({"filter": [["nowhere", "=", 1]]}, "has no column 'nowhere'"),
        ({"filter": "units > 3"}, "filter must be a list"),
        ({"min_count": 0}, "min_count must be a positive integer"),
        (
            {"quantile_grid": {"low": 0, "high": 1, "cells": 2}},
            "only used with median or quantiles",
        ),
        ({"extra": 1}, "unknown statistics parameters"),
        ({"datasets": ["bank0.loans", "bank0.loans"]}, "distinct"),
        ({"datasets": ["bank9.loans"]}, "unknown dataset"),
    ],
)
def test_bad_parameters_are_refused_with_the_offending_value(
    consortium: Consortium, change, message
) -> None:
    parameters = {
        "datasets": consortium.references,
        "column": "amount",
        "statistics": ["count", "mean"],
    }
    parameters.update(change)
    text = canonical_program_text("statistics", 1, parameters)
    if message is None:
        StatisticsProgram().plan(text, consortium.catalog)
        return
    with pytest.raises(InputError, match=message):
        StatisticsProgram().plan(text, consortium.catalog)


def test_column_types_must_agree_across_inputs() -> None:
    rng = np.random.default_rng(1)
    first = make_consortium(generated_tables(rng, [10]))
    other_schema = Schema.of(
        [(c.name, "float64" if c.name == "amount" else c.type) for c in SCHEMA.columns]
    )
    second = make_consortium(generated_tables(rng, [10]), schema=other_schema)
    mixed = first.datasets + [replace(second.datasets[0], dataset_id=2, owner_name="bank9")]

    text = statistics_text([d.reference for d in mixed], "amount", ["sum"])
    with pytest.raises(InputError, match="one type in every input"):
        StatisticsProgram().plan(text, StaticCatalog(mixed))
