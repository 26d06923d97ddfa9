"""The MPC part of a statistics job: combine the owners' shared pre-aggregates, reveal only what was asked.

Inputs, per owner ``j`` of ``k`` (all secret-shared integers, see
:mod:`offchain.stats.local`): ``n_j, o_j, S_j, M_j, Vh_j, Vl_j, min_j, max_j``,
histogram and grid counts. Every step below works on those few numbers;
nothing is ever opened except the final outputs, to the requester.

* ``n = sum n_j``, ``S = sum S_j``, histogram sums: local.
* status: "too few rows" if ``n + o < min_count``, else "out of range" if
  ``o > 0``; all outputs are multiplied by ``[status == ok]``, so a withheld
  result reveals its status and nothing else.
* mean: ``round(S * 2**F / n)`` by exact long division of
  ``(S + n*Bu) * 2**(F+1) + n`` by ``2n`` (:func:`offchain.stats.exact.divide_floor`).
* population variance, in units of ``2**-Gv`` (``Gv = 2 Gm``), by the
  parallel-variance decomposition (Chan, Golub, LeVeque 1979)::

      var = sum_j w_j var_j + sum_{j<k} w_j w_k (mean_j - mean_k)**2,   w_j = n_j / n

  with ``w_j = round(n_j 2**30 / n)`` from the same long division batch. Every
  product stays below ``2**62``: ``var_j = Vh_j 2**30 + Vl_j`` is split by the
  owner; mean differences (``Gm + 30`` bits) are split into two limbs in MPC
  and squared limb by limb; pair weights ``w_j w_k`` are truncated to 30 bits
  and squared differences split again before weighting.
* sample variance: ``var_pop * floor(n 2**30 / (n - 1)) / 2**30``, the
  variance split into limbs first.
* standard deviations: the requester takes the square root of the revealed
  variance. This reveals nothing more than the deviation itself: each is a
  function of the other.
* min, max: a tournament of comparisons over the owners' extremes.
* quantile ``q = a/b`` (exact decimal): with ``P_i`` the prefix sums of the
  grid counts and ``m`` their total, the revealed cell index is the number
  of cells with ``P_i * b < a * m`` (``P_i < 1`` for ``q = 0``): one batch of
  comparisons for all cells and quantiles.

**Error of the population variance** (units of ``2**-Gv`` of ``u**2``),
with ``V_j`` the owners' rounded ``var_j 2**Gv`` and ``E_jk`` the squared
differences of their means in the same units::

    |error| <= 5 + 2**-31 * sum_j V_j + 2**-29 * sum_{j<k} E_jk

The constant collects truncations and owner roundings; the other terms are
the 30-bit weights ``w_j`` (rounded) and pair weights ``w_j w_k`` (truncated):
the relative error is about ``k * 2**-31`` when owners hold comparable
shares of the rows, and grows as ``n / n_j`` for an owner holding a tiny
share with a large variance. :func:`variance_error_bound` evaluates it from plaintext owner data, for tests and documentation.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from offchain.mpc.compare import select
from offchain.mpc.shares import ArithmeticShare
from offchain.stats.exact import (
    concatenate,
    divide_floor,
    less_than_zero,
    split,
    split_limbs,
)
from offchain.stats.local import LIMB_BITS, SCALARS
from offchain.stats.scaling import WEIGHT_BITS
from offchain.stats.spec import VARIANCE, StatisticsSpec

STATUS_OK, STATUS_TOO_FEW_ROWS, STATUS_OUT_OF_RANGE = 0, 1, 2


def output_names(spec: StatisticsSpec) -> list[str]:
    """Return the names of the outputs revealed to the requester, in a fixed order."""
    names = ["status"]
    if spec.wants("count"):
        names.append("count")
    if spec.wants("sum"):
        names.append("sum")
    if spec.wants("mean"):
        names.append("mean")
    if spec.wants("var_pop", "stddev_pop"):
        names.append("var_pop")
    if spec.wants("var_samp", "stddev_samp"):
        names.append("var_samp")
    if spec.wants("min"):
        names.append("min")
    if spec.wants("max"):
        names.append("max")
    if spec.histogram_edges:
        names.append("histogram")
    if spec.quantiles:
        names.append("quantile_cells")
    return names


def _column(scalars: Sequence[ArithmeticShare], name: str) -> ArithmeticShare:
    """Return one scalar of every owner as a length-k share."""
    position = SCALARS.index(name)
    runtime = scalars[0].runtime
    return ArithmeticShare(runtime, np.stack([s.components[:, position] for s in scalars], axis=1))


def _one(share: ArithmeticShare) -> ArithmeticShare:
    return share.reshape(1)


def _extremes(
    lows: ArithmeticShare, highs: ArithmeticShare
) -> tuple[ArithmeticShare, ArithmeticShare]:
    """Return (min of ``lows``, max of ``highs``) by a tournament: one comparison batch per level."""
    while lows.shape[0] > 1:
        half = lows.shape[0] // 2
        odd = lows.shape[0] % 2
        left = concatenate([lows[:half], highs[:half]])
        right = concatenate([lows[half : 2 * half], highs[half : 2 * half]])
        left_smaller = less_than_zero(left - right)
        # the smaller of each low pair, the larger of each high pair
        low_pick, high_pick = split(left_smaller, [half, half])
        new_lows = select(low_pick, lows[:half], lows[half : 2 * half])
        new_highs = select(high_pick, highs[half : 2 * half], highs[:half])
        if odd:
            new_lows = concatenate([new_lows, lows[2 * half :]])
            new_highs = concatenate([new_highs, highs[2 * half :]])
        lows, highs = new_lows, new_highs
    return lows, highs


def combine(
    spec: StatisticsSpec,
    scalars: Sequence[ArithmeticShare],
    histograms: Sequence[ArithmeticShare] = (),
    grids: Sequence[ArithmeticShare] = (),
) -> dict[str, ArithmeticShare]:
    """Return the gated output shares named by :func:`output_names` (see the module docstring)."""
    runtime = scalars[0].runtime
    owners = len(scalars)
    counts = _column(scalars, "count")
    outside = _column(scalars, "out_of_range")
    n = _one(counts.sum())
    o = _one(outside.sum())
    values: dict[str, ArithmeticShare] = {}

    # -- one batch of comparisons: status and quantile cells ------------------------------
    comparisons = [n + o - spec.effective_min_count]
    if spec.range_checked:
        comparisons.append(-o)
    quantile_shape = None
    if spec.quantiles:
        grid_total = grids[0]
        for grid in grids[1:]:
            grid_total = grid_total + grid
        prefix = ArithmeticShare(runtime, np.cumsum(grid_total.components, axis=1, dtype=np.uint64))
        in_grid = prefix[-1]
        numerators = np.array([q.numerator for q in spec.quantiles], dtype=np.uint64)
        denominators = np.array([q.denominator for q in spec.quantiles], dtype=np.uint64)
        at_zero = np.array([q == 0 for q in spec.quantiles], dtype=np.uint64)
        # cell i is before the quantile iff P_i * b - m * a - [q == 0] * b < 0
        reached = prefix.mul_public(denominators[:, None]) - in_grid.mul_public(numerators[:, None])
        reached = reached + np.negative(at_zero * denominators)[:, None]
        quantile_shape = reached.shape
        comparisons.append(reached.ravel())
    below = less_than_zero(concatenate(comparisons))
    pieces = [1, 1] if spec.range_checked else [1]
    if quantile_shape is not None:
        pieces.append(int(np.prod(quantile_shape)))
    parts = split(below, pieces)
    too_few = parts[0]
    out_of_range = parts[1] if spec.range_checked else None
    if quantile_shape is not None:
        values["quantile_cells"] = parts[-1].reshape(quantile_shape).sum(axis=1)

    # -- divisions by the count -------------------------------------------------------
    scales = spec.scales
    numerators_: list[ArithmeticShare] = []
    divisors: list[ArithmeticShare] = []
    widths: list[int] = []
    bounds: list[int] = []
    wants_variance = spec.wants(*VARIANCE)
    if spec.wants("mean"):
        total = _one(_column(scalars, "sum").sum())
        numerators_.append(((total + n.mul_public(scales.bound_u)) << (scales.mean_bits + 1)) + n)
        divisors.append(n << 1)
        widths.append(scales.mean_quotient_bits)
        bounds.append(scales.mean_divisor_bound)
    if wants_variance:
        # w_j = round(n_j 2**30 / n) = floor((n_j 2**31 + n) / 2n): unbiased weights
        repeated_n = ArithmeticShare(runtime, np.repeat(n.components, owners, axis=1))
        numerators_.append((counts << (WEIGHT_BITS + 1)) + repeated_n)
        divisors.append(repeated_n << 1)
        widths += [WEIGHT_BITS + 1] * owners
        bounds += [2 * scales.total_rows] * owners
    if spec.wants("var_samp", "stddev_samp"):
        # n / (n - 1) in [1, 2] for n >= 2, rounded: floor((n 2**31 + n - 1) / (2 (n - 1)))
        numerators_.append((n << (WEIGHT_BITS + 1)) + n - 1)
        divisors.append((n - 1) << 1)
        widths.append(WEIGHT_BITS + 2)
        bounds.append(2 * scales.total_rows)
    if numerators_:
        quotients, _ = divide_floor(concatenate(numerators_), concatenate(divisors), widths, bounds)
        lengths = [x.shape[0] for x in numerators_]
        quotient_parts = iter(split(quotients, lengths))
        if spec.wants("mean"):
            values["mean"] = next(quotient_parts) - scales.bound_u * 2**scales.mean_bits
        if wants_variance:
            weights = next(quotient_parts)
            variance = _population_variance(scalars, weights)
            if spec.wants("var_pop", "stddev_pop"):
                values["var_pop"] = variance
            if spec.wants("var_samp", "stddev_samp"):
                values["var_samp"] = _times_ratio(variance, next(quotient_parts))

    if spec.wants("count"):
        values["count"] = n
    if spec.wants("sum"):
        values["sum"] = _one(_column(scalars, "sum").sum())
    if spec.wants("min", "max"):
        low, high = _extremes(_column(scalars, "min"), _column(scalars, "max"))
        values["min"], values["max"] = low, high
    if spec.histogram_edges:
        histogram = histograms[0]
        for other in histograms[1:]:
            histogram = histogram + other
        values["histogram"] = histogram

    # -- gate everything on the status ---------------------------------------------------
    if out_of_range is not None:
        both = too_few * out_of_range
        status = too_few + ((out_of_range - both) << 1)
        ok = 1 - too_few - out_of_range + both
    else:
        status = too_few
        ok = 1 - too_few
    names = [name for name in output_names(spec) if name != "status"]
    outputs: dict[str, ArithmeticShare] = {"status": status}
    if names:
        flat = [values[name].ravel() for name in names]
        gated = concatenate(flat) * ArithmeticShare(
            runtime, np.repeat(ok.components, sum(f.shape[0] for f in flat), axis=1)
        )
        for name, piece in zip(names, split(gated, [f.shape[0] for f in flat]), strict=True):
            outputs[name] = piece
    return outputs


def _population_variance(
    scalars: Sequence[ArithmeticShare], weights: ArithmeticShare
) -> ArithmeticShare:
    """Return ``var_pop * 2**Gv`` from owner means and variances and the 30-bit weights (10 rounds)."""
    owners = weights.shape[0]
    high = _column(scalars, "variance_high")
    low = _column(scalars, "variance_low")
    pairs = list(itertools.combinations(range(owners), 2))
    if not pairs:
        products = concatenate([weights, weights]) * concatenate([high, low])
        within_high, within_low = split(products, [1, 1])
        truncated_low, _ = split_limbs(within_low, LIMB_BITS)
        return within_high + truncated_low
    first = [a for a, _ in pairs]
    second = [b for _, b in pairs]
    count = len(pairs)
    means = _column(scalars, "mean")
    # D = mean_a - mean_b (Gm + 30 bits, below 2**60) = Dh 2**30 + Dl; D**2 / 2**60 = Dh**2 + 2 Dh Dl / 2**30 + (< 1)
    difference_high, difference_low = split_limbs(means[first] - means[second], LIMB_BITS)
    products = concatenate(
        [weights, weights, weights[first], difference_high, difference_high]
    ) * concatenate([high, low, weights[second], difference_high, difference_low << 1])
    within_high, within_low, pair_weights, squares_high, cross = split(
        products, [owners, owners, count, count, count]
    )
    truncated, _ = split_limbs(
        concatenate([_one(within_low.sum()), pair_weights, cross]), WEIGHT_BITS
    )
    within_low_part, omega, cross_part = split(truncated, [1, count, count])
    squares = squares_high + cross_part  # (mean_a - mean_b)**2 * 2**Gv, below 2**60
    squares_high, squares_low = split_limbs(squares, WEIGHT_BITS)
    between = concatenate([omega, omega]) * concatenate([squares_high, squares_low])
    between_high, between_low = split(between, [count, count])
    between_low_total, _ = split_limbs(_one(between_low.sum()), WEIGHT_BITS)
    return _one(within_high.sum()) + within_low_part + _one(between_high.sum()) + between_low_total


def _times_ratio(variance: ArithmeticShare, ratio: ArithmeticShare) -> ArithmeticShare:
    """Return ``variance * ratio / 2**30`` for a 30-bit-fraction ratio below 2 (5 rounds)."""
    high, low = split_limbs(variance, WEIGHT_BITS)
    products = concatenate([high, low]) * concatenate([ratio, ratio])
    product_high, product_low = split(products, [1, 1])
    truncated, _ = split_limbs(product_low, WEIGHT_BITS)
    return product_high + truncated


def variance_error_bound(variance_units: Sequence[int], mean_units: Sequence[Fraction]) -> float:
    """Return the error bound of the docstring (units of ``2**-Gv``) from plaintext owner data.

    ``variance_units`` are the owners' ``round(var_j 2**Gv)``, ``mean_units``
    their exact means times ``2**Gm`` (owners without values left out).
    For tests and documentation.
    """
    squares = sum(float((a - b) ** 2) for a, b in itertools.combinations(mean_units, 2))
    return 5 + 2.0**-31 * sum(variance_units) + 2.0**-29 * squares


def sqrt_non_negative(value: float) -> float:
    """Square root that maps the tiny negatives truncation can leave to 0."""
    return math.sqrt(max(value, 0.0))
