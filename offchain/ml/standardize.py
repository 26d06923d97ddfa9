"""Standardisation of secret-shared features: ``x' = (x - mean) / std``, statistics computed in MPC.

Each owner computes, in the clear and over the rows it contributes, every
column's mean and population variance, weighted by its public share of the
rows ``w_i = n_i / n`` (1 for column-split inputs), and secret-shares them
(:func:`owner_moments`): means with ``f`` fractional bits, variances with 32
so that small variances stay precise. The compute parties combine them
(:func:`combine_moments`):

* columns split across owners (each column has one owner): the owner's
  moments are the column's; local;
* rows split across owners: ``mean = sum_i w_i m_i`` and
  ``var = sum_i w_i v_i + sum_i w_i (m_i - mean)**2`` (Chan et al.'s
  combination; no raw sums of squares, so no large intermediate values);
  3 rounds.

Then one batch of comparisons classifies each variance as zero (at most 4
units of ``2**-32``: a constant column), usable (``std >= 1/512``) or too
small. A too-small non-zero standard deviation would let ``(x - mean) / std``
leave the bounds of :mod:`offchain.ml.ranges`, so one bit — "some column is
too small" — is opened and the job stops with advice if it is set (owners
of column-split inputs check their own columns first and name them). Zero
variances become exactly zero and :func:`offchain.ml.normalization.inverse_sqrt`
turns them into ``1/std = 0`` (the column standardises to zeros, as
scikit-learn's ``StandardScaler`` does). Finally ``x' = (x - mean) * (1/std)``
for all rows in one product and one truncation (2 rounds): ``1/std``
carries ``K = 22`` fractional bits (:func:`offchain.ml.ranges.inverse_std_bits`)
so that the product cannot wrap for any raw value within the owners' limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from offchain.errors import FixedPointOverflow, InputError
from offchain.ml.kernels import rescale, sign_bits, truncate_scaled
from offchain.ml.normalization import inverse_sqrt
from offchain.ml.ranges import MIN_STANDARD_DEVIATION, VARIANCE_BITS, inverse_std_bits
from offchain.mpc.arithmetic import mul, raw_product_terms
from offchain.mpc.compare import sign_bit
from offchain.mpc.opening import reveal
from offchain.mpc.ring import to_ring
from offchain.mpc.shares import ArithmeticShare, FixedPointShare

ZERO_VARIANCE_UNITS = 4  # raw units of 2**-32: a variance this small is a constant column
WEIGHT_SHIFT = 30


@dataclass(frozen=True)
class Standardizer:
    """The shared statistics of a standardisation: means (``f`` bits) and ``1/std`` (``K`` bits)."""

    means: FixedPointShare
    inverse_std: FixedPointShare

    def apply(self, features: FixedPointShare) -> FixedPointShare:
        """Return ``(x - mean) * inv_std`` for every row of ``features`` (n, d); 2 rounds.

        Requires ``|x - mean| < 2 FEATURE_LIMIT`` (owners check ``|x| <= FEATURE_LIMIT``).
        """
        if features.ndim != 2 or features.shape[1:] != self.means.shape:
            raise InputError(
                f"features {features.shape} do not match the {self.means.shape[0]} standardised columns"
            )
        return self.apply_scaled(features, [1], 0)[0]

    def apply_scaled(self, features: FixedPointShare, multipliers: list[int], extra_shift: int) -> FixedPointShare:
        """Return ``m_k (x - mean) * inv_std / 2**extra_shift`` for each ``m_k``, stacked; 2 rounds.

        One truncation gives every scaled copy (e.g. ``x'`` and a coarse ``x' / 2**s`` that cannot
        wrap in a later product). Requires ``|m_k| * |x - mean| * inv_std < 2**(62 - f - K + extra_shift)``.
        """
        if features.ndim != 2 or features.shape[1:] != self.means.shape:
            raise InputError(
                f"features {features.shape} do not match the {self.means.shape[0]} standardised columns"
            )
        term = raw_product_terms(features - self.means, self.inverse_std)
        return truncate_scaled(
            features.runtime, term, multipliers, self.inverse_std.fractional_bits + extra_shift,
            features.fractional_bits,
        )


def owner_moments(values: np.ndarray, weight: float, fractional_bits: int) -> np.ndarray:
    """At an owner: the (3, d) int64 moments it shares for its block of rows.

    Rows: ``mean`` and ``weight * mean`` (``fractional_bits``), ``weight * variance``
    (:data:`~offchain.ml.ranges.VARIANCE_BITS`); ``weight = n_i / n`` is the block's public share
    of the rows (1 for column-split inputs). Population variance.
    """
    if len(values) == 0:
        raise InputError("an owner contributes no rows; a model input needs at least one row")
    mean = values.mean(axis=0)
    variance = values.var(axis=0)
    return np.stack(
        [
            np.rint(np.ldexp(mean, fractional_bits)),
            np.rint(np.ldexp(weight * mean, fractional_bits)),
            np.rint(np.ldexp(weight * variance, VARIANCE_BITS)),
        ]
    ).astype(np.int64)


def combine_moments(
    moments: Sequence[ArithmeticShare], weights: Sequence[float], fractional_bits: int
) -> tuple[FixedPointShare, ArithmeticShare]:
    """Return the mean (``f`` bits) and the raw variance (32 bits) of the union of row blocks.

    ``moments[i]`` is block ``i``'s (3, d) sharing from :func:`owner_moments` and
    ``weights[i] = n_i / n``. One block: local. Several: ``mean = sum_i w_i m_i`` (local) and
    ``var = sum_i w_i v_i + sum_i (w_i m_i - w_i mean)(m_i - mean)``, 3 rounds; the products of
    two ``f``-bit values are exact at 32 bits.
    """
    if not moments or len(moments) != len(weights):
        raise InputError("combine_moments needs one (3, d) moment sharing and one weight per block")
    runtime = moments[0].runtime
    stacked = np.stack([m.components for m in moments], axis=1)  # (2, k, 3, d)
    mean = FixedPointShare(runtime, stacked[:, :, 1].sum(axis=1, dtype=np.uint64), fractional_bits)
    variance = ArithmeticShare(runtime, stacked[:, :, 2].sum(axis=1, dtype=np.uint64))
    if len(moments) == 1:
        return mean, variance
    multipliers = [round(w * 2**WEIGHT_SHIFT) for w in weights]
    weighted_means = rescale(mean, multipliers, WEIGHT_SHIFT)  # (k, d): w_i * mean
    spread = ArithmeticShare(runtime, stacked[:, :, 1] - weighted_means.components)
    deviation = ArithmeticShare(runtime, stacked[:, :, 0] - mean.components[:, np.newaxis, :])
    between = mul(spread, deviation).sum(axis=0)
    return mean, variance + between


def fit_standardizer(mean: FixedPointShare, variance: ArithmeticShare) -> Standardizer:
    """Check the variances and compute ``1/std``; opens one bit (some column too small). 53 rounds.

    ``variance`` holds raw values with :data:`~offchain.ml.ranges.VARIANCE_BITS` fractional bits.
    """
    runtime = variance.runtime
    floor = int(MIN_STANDARD_DEVIATION**2 * 2**VARIANCE_BITS)
    thresholds = to_ring(np.array([ZERO_VARIANCE_UNITS, floor], dtype=np.int64))
    differences = np.broadcast_to(np.negative(variance.components)[:, np.newaxis], (2, 2, *variance.shape)).copy()
    slot = runtime.public_slot
    if slot is not None:
        differences[slot] += thresholds.reshape((2,) + (1,) * variance.ndim)
    above = sign_bits(ArithmeticShare(runtime, differences))  # [var > zero units], [var > floor]
    nonzero, usable = above[0], above[1]
    too_small = nonzero - usable  # 1 exactly when zero units < var <= floor
    if int(reveal(sign_bit(-too_small.sum()))[()]):
        raise FixedPointOverflow(
            f"a column has a standard deviation between 0 and {MIN_STANDARD_DEVIATION:g} over the "
            f"training rows: too small to standardise within the fixed-point bounds. Declare a "
            f"larger public scale for it (scales in the job's inputs, e.g. 64 or 1024), or drop it"
        )
    cleaned = mul(nonzero, variance)
    inverse = inverse_sqrt(cleaned, VARIANCE_BITS, inverse_std_bits(mean.fractional_bits))
    return Standardizer(mean, inverse)
