"""The fixed-point budget of secure training and scoring: every bound, derived in one place.

Values are fixed point with ``f`` fractional bits (the session's, 16 by
default) in Z_2^64; a truncation needs its input below ``2**62`` in
magnitude, so a product of two encodings (scale ``2**(2f)``) needs
``|x * y| < 2**(62 - 2f)`` (2**30 at f = 16). Nothing in secure training
wraps silently because every quantity below is either checked where it
enters or proved from checked quantities:

==========================  =============================================================
quantity                    bound and how it is enforced
==========================  =============================================================
raw feature ``x``           ``|x * scale| <= FEATURE_LIMIT = 2**13``, checked by each owner
                            on its own rows before sharing (``scale`` is public, per column)
standardised ``x'``         ``|x'| <= sqrt(n)`` for the rows the statistics come from (a
                            property of standardisation), taken as ``2 sqrt(n)`` for rounding
                            of the statistics; columns with ``0 < std < 1/512`` are refused
                            (by the owner for column splits, in MPC with one bit opened for
                            row splits); at prediction every ``|x'|`` is checked against
                            the same bound in MPC (one bit opened)
``1/std``                   ``<= 512``, shared with ``K = 22`` fractional bits so that
                            ``(x - mean) * (1/std)`` stays below 2**61 for every checked raw
                            ``x``; its relative precision is ``2**-(22 - log2 std)``: better
                            than 0.01 % for ``std <= 256``, 0.2 % at the extreme ``std = 2**13``
weights ``w`` and bias      ``<= weight_limit`` (at most 2**10), checked in MPC at *every*
                            step in the same batch of comparisons as the sigmoid
scores ``z`` in training    ``|z| <= d * x_bound * weight_limit`` by the two rows above, and
                            ``|z| <= score_limit`` checked at every step
error ``e = g(z) - y``      ``|e| <= 1`` for clamped sigmoids; ``1.5 + score_limit/4`` for
                            ``taylor1``
gradient sum                ``B x_bound |e| + B lambda weight_limit``: fixes the shift ``t``
                            of the learning-rate multiplier (below)
==========================  =============================================================

A step's weight update is ``c * (X_b^T e + round(B lambda 2**f) w / 2**f) / 2**(f + t)``
with ``c = round(lr / B * 2**t)`` and ``t`` the largest shift that keeps the
truncation input below ``2**61``; the *effective* learning rate and L2
penalty are the rounded ones (:class:`StepScales`), which the plaintext
reference uses too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from offchain.errors import InputError

TRUNCATION_LIMIT_BITS = 62
SAFETY_BITS = 1  # products are kept below 2**61, one bit under the truncation limit
FEATURE_LIMIT = 2.0**13
"""``|x * scale|`` every shared raw feature value must satisfy (checked by its owner)."""
MAX_WEIGHT_LIMIT = 2.0**10
TAYLOR_SCORE_LIMIT = 2.0**6
"""``|z|`` allowed in training with the unclamped ``taylor1`` sigmoid (bounds the error ``e``)."""
CLAMPED_SCORE_LIMIT = 2.0**16
"""``|z|`` allowed in training with a clamped sigmoid (a larger score means divergence)."""
MIN_STANDARD_DEVIATION = 2.0**-9
"""Standardised columns need ``std >= 1/512`` (after their public scale) or exactly 0."""
VARIANCE_BITS = 32
"""Owners share variances with 32 fractional bits (tiny variances stay precise)."""
MIN_RATE_MULTIPLIER = 16
"""``c = round(lr / B * 2**t)`` below this would round the learning rate by more than 3 %."""
MAX_STANDARDIZED_ROWS = 2**24
"""Beyond this many rows the bound ``2 sqrt(n)`` on standardised values leaves too little room
for the weights and the learning rate (``weight_limit``, ``step_scales``)."""


def standardized_bound(rows: int) -> float:
    """Return the bound ``2 sqrt(rows)`` on standardised values (a power of two or not)."""
    if rows < 1:
        raise InputError(f"standardisation needs at least one row, got {rows}")
    if rows > MAX_STANDARDIZED_ROWS:
        raise InputError(
            f"standardised training supports up to {MAX_STANDARDIZED_ROWS} rows, got {rows}; "
            f"standardise the features at their owners, declare feature_limit and train with "
            f"standardize=false"
        )
    return 2.0 * math.sqrt(rows)


def inverse_std_bits(fractional_bits: int) -> int:
    """Return the fractional bits ``K`` of the shared ``1/std`` so that ``(x - mean) / std`` never wraps.

    ``|x - mean| < 2 FEATURE_LIMIT`` at scale ``2**f`` and ``1/std <= 1/MIN_STANDARD_DEVIATION``
    (up to rounding, absorbed by the safety bit), so the product stays below ``2**62`` when
    ``K = 61 - (log2(2 FEATURE_LIMIT) + f) - log2(1/MIN_STANDARD_DEVIATION)``: 22 at f = 16.
    """
    feature_bits = int(math.log2(FEATURE_LIMIT)) + 1
    inverse_bits = int(math.log2(1.0 / MIN_STANDARD_DEVIATION))
    bits = TRUNCATION_LIMIT_BITS - SAFETY_BITS - (feature_bits + fractional_bits) - inverse_bits
    if bits < fractional_bits:
        raise InputError(
            f"{fractional_bits} fractional bits leave only {bits} bits for 1/std; use at most 18"
        )
    return bits


def weight_limit(features: int, feature_bound: float, fractional_bits: int) -> float:
    """Return the largest power of two ``W <= 2**10`` with ``(d + 1) * x_bound * W < 2**(61 - 2f)``.

    Keeps every score ``z = x . w + b`` of a checked ``w`` within the product bound.
    """
    budget = 2.0 ** (TRUNCATION_LIMIT_BITS - SAFETY_BITS - 2 * fractional_bits)
    exact = budget / ((features + 1) * feature_bound)
    if exact < 1.0:
        raise InputError(
            f"{features} features bounded by {feature_bound:g} leave no room for weights of size 1 "
            f"in {fractional_bits}-bit fixed point; use fewer features or standardise them"
        )
    return min(MAX_WEIGHT_LIMIT, 2.0 ** math.floor(math.log2(exact)))


def coarse_score_shift(features: int, weight_bound: float, inverse_bits: int, fractional_bits: int) -> int:
    """Return ``s`` such that the coarse score ``sum_j (x_j - mean_j) v_j / 2**s`` can never wrap.

    At prediction a new row may lie far from the training data, so only the owners' limit bounds
    ``|x - mean| <= 2 FEATURE_LIMIT``; with ``|v_j| = |w_j| / std_j <= W / MIN_STANDARD_DEVIATION``
    the coarse sum at scale ``2**(f + K)`` stays below ``2**61`` for this ``s``.
    """
    largest = features * 2 * FEATURE_LIMIT * weight_bound / MIN_STANDARD_DEVIATION
    shift = max(0, math.ceil(math.log2(largest) + fractional_bits + inverse_bits - (TRUNCATION_LIMIT_BITS - SAFETY_BITS)))
    if shift > inverse_bits:
        raise InputError(
            f"{features} features with weights up to {weight_bound:g} are too many to score safely in "
            f"{fractional_bits}-bit fixed point"
        )
    return shift


@dataclass(frozen=True)
class StepScales:
    """The integers one SGD step multiplies by, and the hyperparameters they realise.

    ``rate_multiplier = round(lr / B * 2**rate_shift)`` scales the gradient
    sum; ``l2_multiplier = round(B * lambda * 2**f)`` scales the shared
    weights added to it (scale ``2**(2f)`` like the gradient sum).
    """

    batch_size: int
    rate_multiplier: int
    rate_shift: int
    l2_multiplier: int
    fractional_bits: int

    @property
    def effective_learning_rate(self) -> float:
        """The learning rate the rounded multiplier realises: ``c * B / 2**t``."""
        return self.rate_multiplier * self.batch_size / 2.0**self.rate_shift

    @property
    def effective_l2(self) -> float:
        """The L2 penalty the rounded multiplier realises: ``round(B lambda 2**f) / (B 2**f)``."""
        return self.l2_multiplier / (self.batch_size * 2.0**self.fractional_bits)


def step_scales(
    learning_rate: float,
    batch_size: int,
    l2_penalty: float,
    feature_bound: float,
    error_bound: float,
    weight_bound: float,
    fractional_bits: int,
) -> StepScales:
    """Choose the largest ``t`` such that the fused update's truncation input stays below 2**61.

    The input is ``c * (X_b^T e + l2_multiplier * w)`` at scale ``2**(2f)``, bounded by
    ``c * (B x_bound e_bound + B lambda w_bound + B e_bound) * 2**(2f)`` (the last term is the bias).
    """
    if not learning_rate > 0 or not math.isfinite(learning_rate):
        raise InputError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if not l2_penalty >= 0 or not math.isfinite(l2_penalty):
        raise InputError(f"l2_penalty must be a non-negative number, got {l2_penalty!r}")
    l2_multiplier = round(batch_size * l2_penalty * 2.0**fractional_bits)
    gradient_bound = batch_size * (
        feature_bound * error_bound + (l2_multiplier / (batch_size * 2.0**fractional_bits)) * weight_bound + error_bound
    )
    budget = 2.0 ** (TRUNCATION_LIMIT_BITS - SAFETY_BITS - 2 * fractional_bits)
    largest_multiplier = budget / gradient_bound
    shift = math.floor(math.log2(largest_multiplier * batch_size / learning_rate))
    multiplier = round(learning_rate / batch_size * 2.0**shift)
    while multiplier > largest_multiplier:
        shift -= 1
        multiplier = round(learning_rate / batch_size * 2.0**shift)
    if multiplier < MIN_RATE_MULTIPLIER:
        raise InputError(
            f"learning rate {learning_rate:g} with batches of {batch_size} cannot be represented within "
            f"the fixed-point budget (multiplier {multiplier} < {MIN_RATE_MULTIPLIER}); the gradient "
            f"bound is {gradient_bound:.3g}: standardise the features, lower the L2 penalty, or "
            f"use a larger learning rate"
        )
    if shift + fractional_bits >= TRUNCATION_LIMIT_BITS:
        raise InputError(
            f"learning rate {learning_rate:g} is too small for batches of {batch_size}: the update "
            f"would need a shift of {shift + fractional_bits} bits"
        )
    return StepScales(batch_size, multiplier, shift, l2_multiplier, fractional_bits)
