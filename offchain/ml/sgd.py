"""Logistic regression by mini-batch SGD on secret-shared data, with overflow detection.

One step on a batch ``X_b`` (``B`` rows, ``d`` features) with labels ``y_b``
and parameters ``theta = (w, b)``, all fixed point with ``f`` fractional bits:

1. ``T = X_b w + b`` as additive terms (local), then **one** truncation gives
   ``z/2**c`` (a coarse copy for the range check, ``c`` = coefficient bits),
   ``z``, ``slope z`` and ``a_j z`` for every knot of the sigmoid
   approximation ``g`` (:mod:`offchain.ml.approximations`). 2 rounds.
2. **One** batch of comparisons: ``z`` against every knot, the coarse ``z``
   against ``±score_limit`` and ``theta`` against ``±weight_limit``
   (:mod:`offchain.ml.ranges`). 10 rounds.
3. ``g(z) = intercept + slope z + sum_j bit_j (a_j z - a_j t_j)``: one
   multiplication of bits by shares. 1 round. ``e = g(z) - y_b`` (local).
4. ``theta -= c_lr * (X_b^T e + l2 w, sum e) / 2**(f + t)``: the gradient
   sum, the L2 term and the learning rate in **one** truncation. 2 rounds.

15 rounds per step (``taylor1``: 14, no multiplication). With the engine's
own sigmoid (``logistic``, error 3e-5) a step is ``z`` (2 rounds), the
sigmoid (29) and the update (2), and the weights are checked once per epoch
against a limit low enough that one epoch of bounded updates cannot carry
them past the limit that bounds every score. The range bits of
every step are summed (an integer sharing, local); at the end of each epoch
one comparison tells whether the sum is positive and only that bit is
opened: if set, training stops with ``FixedPointOverflow`` at every party.
This is sound, not probabilistic: a checked ``theta`` bounds ``z`` below the
wrap-around limit of the coarse copy, so the score check sees the true
``z``; a checked score bounds the finer copies and the error; checked
weights and errors bound the update (see :mod:`offchain.ml.ranges`).
Opened per epoch: one bit. Everything else stays shared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from offchain.errors import FixedPointOverflow, InputError
from offchain.ml.approximations import (
    DEFAULT_SIGMOID,
    KNOT_BITS,
    EngineLogistic,
    PiecewiseLinear,
    sigmoid,
)
from offchain.ml.kernels import (
    matrix_vector_term,
    sign_bits,
    truncate_scaled,
    vector_matrix_term,
)
from offchain.ml.ranges import (
    CLAMPED_SCORE_LIMIT,
    TAYLOR_SCORE_LIMIT,
    StepScales,
    step_scales,
    weight_limit,
)
from offchain.ml.schedule import batch_plan
from offchain.mpc.arithmetic import mul
from offchain.mpc.compare import sign_bit
from offchain.mpc.fixedpoint import FixedPoint
from offchain.mpc.opening import reveal
from offchain.mpc.ring import RING_DTYPE, to_ring
from offchain.mpc.shares import ArithmeticShare, FixedPointShare
from offchain.mpc.sigmoid import sigmoid as engine_sigmoid


@dataclass(frozen=True)
class TrainingOptions:
    """Hyperparameters of mini-batch SGD (all public; they go into the program text)."""

    learning_rate: float = 0.1
    epochs: int = 10
    batch_size: int = 1024
    l2_penalty: float = 0.0
    sigmoid: str = DEFAULT_SIGMOID
    shuffle: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        sigmoid(self.sigmoid)
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.epochs > 10_000:
            raise InputError(f"epochs must be at most 10000, got {self.epochs}")
        for name in ("learning_rate", "l2_penalty"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{name} must be a finite number, got {value!r}")
        if not self.learning_rate > 0:
            raise InputError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.l2_penalty < 0:
            raise InputError(f"l2_penalty must be non-negative, got {self.l2_penalty!r}")
        if not isinstance(self.shuffle, bool):
            raise InputError(f"shuffle must be true or false, got {self.shuffle!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise InputError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")

    @property
    def function(self) -> PiecewiseLinear | EngineLogistic:
        return sigmoid(self.sigmoid)


@dataclass(frozen=True)
class TrainingBounds:
    """The public bounds a training run works within (see :mod:`offchain.ml.ranges`)."""

    feature_bound: float
    weight_limit: float
    score_limit: float
    error_bound: float
    scales: dict[int, StepScales] = field(default_factory=dict)  # by batch size
    epoch_weight_limit: float | None = None  # the engine's sigmoid: checked once per epoch


def training_bounds(
    options: TrainingOptions, rows: int, features: int, feature_bound: float, fractional_bits: int
) -> TrainingBounds:
    """Derive the weight and score limits and the per-batch-size step scales."""
    function = options.function
    if isinstance(function, EngineLogistic):
        score_limit, error_bound = CLAMPED_SCORE_LIMIT, 1.0 + 2 * function.max_error
    elif function.bounded:
        score_limit, error_bound = CLAMPED_SCORE_LIMIT, 1.0
    else:
        score_limit = TAYLOR_SCORE_LIMIT
        error_bound = 1.0 + abs(function.intercept) + abs(function.slope) * score_limit
    limit = weight_limit(features, feature_bound, fractional_bits)
    sizes = {min(options.batch_size, rows)}
    if rows % options.batch_size and rows > options.batch_size:
        sizes.add(rows % options.batch_size)
    scales = {
        size: step_scales(
            options.learning_rate, size, options.l2_penalty, feature_bound, error_bound, limit,
            fractional_bits,
        )
        for size in sorted(sizes)
    }
    epoch_limit = None
    if isinstance(function, EngineLogistic):
        # No per-step checks: weights checked at each epoch's end against a limit low enough that a
        # whole epoch of bounded updates cannot take them past `limit` (which bounds every score).
        steps = -(-rows // options.batch_size)
        rate = max(scale.effective_learning_rate for scale in scales.values())
        l2 = max(scale.effective_l2 for scale in scales.values())
        growth = steps * rate * (feature_bound * error_bound + l2 * limit + error_bound)
        epoch_limit = limit - growth
        if epoch_limit < 1.0:
            raise InputError(
                f"sigmoid 'logistic' checks the weights once per epoch, but {steps} steps of learning rate "
                f"{options.learning_rate:g} could move them by {growth:.3g} (limit {limit:g}); use a "
                f"segmented sigmoid (checked every step), larger batches or a smaller learning rate"
            )
    return TrainingBounds(feature_bound, limit, score_limit, error_bound, scales, epoch_limit)


@dataclass(frozen=True)
class TrainingRecord:
    """What a run did: steps, rounds of the training loop, the bounds it worked within."""

    steps: int
    epochs: int
    rounds: int
    bounds: TrainingBounds


def train_logistic(
    features: FixedPointShare,
    labels: FixedPointShare,
    options: TrainingOptions,
    feature_bound: float,
) -> tuple[FixedPointShare, TrainingRecord]:
    """Train ``theta = (w_1..w_d, b)`` by mini-batch SGD; return its sharing and the run record.

    ``features`` is (n, d), ``labels`` (n,) with values 0/1, both fixed point
    in the session's format; ``feature_bound`` is a public bound on every
    ``|x|`` (``2 sqrt(n)`` for standardised data, the owners' checked limit
    otherwise). The parameters start at zero. Raises ``FixedPointOverflow``
    (at every party) when a step left the bounds.
    """
    runtime = features.runtime
    bits = features.fractional_bits
    if features.ndim != 2 or labels.shape != (features.shape[0],):
        raise InputError(
            f"features must be (n, d) and labels (n,), got {features.shape} and {labels.shape}"
        )
    if not isinstance(features, FixedPointShare) or not isinstance(labels, FixedPointShare):
        raise InputError("features and labels must be fixed-point shares")
    if labels.fractional_bits != bits:
        raise InputError(f"labels have {labels.fractional_bits} fractional bits, features {bits}")
    rows, count = features.shape
    function = options.function
    if isinstance(function, PiecewiseLinear) and function.coefficient_bits + KNOT_BITS > bits:
        raise InputError(
            f"sigmoid {function.name} needs at least {function.coefficient_bits + KNOT_BITS} "
            f"fractional bits, the session has {bits}"
        )
    bounds = training_bounds(options, rows, count, feature_bound, bits)
    plan = batch_plan(options.seed, rows, options.batch_size, options.epochs, options.shuffle)
    # Gather the rows once in the public training order (local: the permutation is public).
    order = plan.row_order
    x_all = np.ascontiguousarray(features.components[:, order, :])
    y_all = np.ascontiguousarray(labels.components[:, order])
    theta = FixedPointShare(runtime, np.zeros((2, count + 1), dtype=RING_DTYPE), bits)
    step = _LogisticStep(bounds, bits) if isinstance(function, EngineLogistic) else _Step(function, bounds, bits)
    violations = ArithmeticShare(runtime, np.zeros((2,), dtype=RING_DTYPE))
    start_rounds = runtime.rounds
    steps = 0
    for epoch, batch_order in enumerate(plan.epoch_orders):
        for batch in batch_order:
            start, stop = plan.bounds(int(batch))
            x_batch = FixedPointShare(runtime, x_all[:, start:stop], bits)
            y_batch = FixedPointShare(runtime, y_all[:, start:stop], bits)
            theta, flagged = step(theta, x_batch, y_batch)
            violations = violations + flagged
            steps += 1
        if epoch == len(plan.epoch_orders) - 1 or bounds.epoch_weight_limit is not None:
            violations = violations + step.check_parameters(theta)
        _raise_if_flagged(violations, epoch, options, bounds)
    record = TrainingRecord(steps, options.epochs, runtime.rounds - start_rounds, bounds)
    return theta, record


class _Step:
    """One SGD step with the constants of a run precomputed."""

    def __init__(self, function: PiecewiseLinear, bounds: TrainingBounds, bits: int) -> None:
        self.function = function
        self.bounds = bounds
        self.bits = bits
        self.coefficient_bits = function.coefficient_bits
        scale = 1 << self.coefficient_bits
        coefficients = function.scaled_coefficients()
        # rows: coarse z, z, then slope*z only if the slope is not 0, then a_j*z per knot
        self.has_slope = bool(coefficients[0])
        self.multipliers = np.concatenate(
            ([1, scale], coefficients if self.has_slope else coefficients[1:])
        ).astype(np.int64)
        self.first_knot_row = 3 if self.has_slope else 2
        self.knot_count = len(function.knots)
        encode = FixedPoint(bits).encode
        self.knots = encode(np.asarray(function.knots, dtype=np.float64))
        offsets = np.array(
            [c * k for c, k in zip(function.coefficients, function.knots, strict=True)]
        )
        self.knot_offsets = encode(offsets)
        if not np.array_equal(FixedPoint(bits).decode(self.knot_offsets), offsets):
            raise InputError(f"{function.name}: a_j * t_j is not exact in {bits} fractional bits")
        coarse = FixedPoint(max(bits - self.coefficient_bits, 1))
        self.coarse_score_limit = to_ring(round(bounds.score_limit * coarse.scale))
        self.weight_limit = encode(bounds.weight_limit)
        self.intercept = float(function.intercept)

    def __call__(
        self, theta: FixedPointShare, x_batch: FixedPointShare, y_batch: FixedPointShare
    ) -> tuple[FixedPointShare, ArithmeticShare]:
        runtime = theta.runtime
        bits = self.bits
        size = x_batch.shape[0]
        weights = FixedPointShare(runtime, theta.components[:, :-1], bits)
        # 1. z-terms at scale 2**(2f): X w + b (the bias's own component, scaled up).
        term = matrix_vector_term(x_batch, weights)
        term += np.left_shift(theta.components[0, -1], np.uint64(bits))
        scaled = truncate_scaled(
            runtime, term, self.multipliers, bits + self.coefficient_bits, bits
        )
        coarse, z = scaled[0], scaled[1]
        # 2. One batch of comparisons: knots, score range (coarse), parameter range.
        differences = [
            _public_minus(z.components, self.knots, runtime),
            _public_minus(coarse.components, np.stack([self.coarse_score_limit]), runtime),
            _public_plus(coarse.components, np.stack([self.coarse_score_limit]), runtime),
            _public_minus(theta.components, np.stack([self.weight_limit]), runtime),
            _public_plus(theta.components, np.stack([self.weight_limit]), runtime),
        ]
        flat = np.concatenate([d.reshape(2, -1) for d in differences], axis=1)
        bits_all = sign_bits(ArithmeticShare(runtime, flat))
        knot_bits = self.knot_count * size
        flagged = bits_all[knot_bits:].sum()
        # 3. g(z) = intercept + slope z + sum_j bit_j (a_j z - a_j t_j).
        value = (scaled[2] if self.has_slope else FixedPointShare(runtime, np.zeros_like(z.components), bits)) + self.intercept
        if self.knot_count:
            relu_inputs = FixedPointShare(runtime, scaled.components[:, self.first_knot_row :].copy(), bits)
            slot = runtime.public_slot
            if slot is not None:
                relu_inputs.components[slot] -= self.knot_offsets[:, np.newaxis]
            knot_share = ArithmeticShare(
                runtime, bits_all.components[:, :knot_bits].reshape(2, self.knot_count, size)
            )
            value = value + mul(knot_share, relu_inputs).sum(axis=0)
        error = value - y_batch
        return theta - self._update(theta, x_batch, error), flagged

    def _update(self, theta: FixedPointShare, x_batch: FixedPointShare, error: FixedPointShare) -> FixedPointShare:
        """Return ``c (X^T e + l2 w, sum e) / 2**(f + t)``: one truncation (2 rounds)."""
        bits = self.bits
        scales = self.bounds.scales[x_batch.shape[0]]
        gradient = np.empty(theta.shape, dtype=RING_DTYPE)
        gradient[:-1] = vector_matrix_term(error, x_batch)
        if scales.l2_multiplier:
            gradient[:-1] += theta.components[0, :-1] * np.uint64(scales.l2_multiplier)
        gradient[-1] = np.left_shift(error.components[0].sum(dtype=RING_DTYPE), np.uint64(bits))
        update = truncate_scaled(
            theta.runtime, gradient, [scales.rate_multiplier], bits + scales.rate_shift, bits
        )
        return update[0]

    def check_parameters(self, theta: FixedPointShare) -> ArithmeticShare:
        """Return the number of parameters outside ``±weight_limit`` (integer sharing, 10 rounds)."""
        runtime = theta.runtime
        differences = np.concatenate(
            [
                _public_minus(theta.components, np.stack([self.weight_limit]), runtime).reshape(2, -1),
                _public_plus(theta.components, np.stack([self.weight_limit]), runtime).reshape(2, -1),
            ],
            axis=1,
        )
        return sign_bits(ArithmeticShare(runtime, differences)).sum()


class _LogisticStep(_Step):
    """A step with the engine's sigmoid: 2 + 29 + 2 rounds, weights checked per epoch instead."""

    def __init__(self, bounds: TrainingBounds, bits: int) -> None:
        self.bounds = bounds
        self.bits = bits
        self.weight_limit = FixedPoint(bits).encode(bounds.epoch_weight_limit)

    def __call__(
        self, theta: FixedPointShare, x_batch: FixedPointShare, y_batch: FixedPointShare
    ) -> tuple[FixedPointShare, ArithmeticShare]:
        runtime = theta.runtime
        bits = self.bits
        weights = FixedPointShare(runtime, theta.components[:, :-1], bits)
        term = matrix_vector_term(x_batch, weights)
        term += np.left_shift(theta.components[0, -1], np.uint64(bits))
        z = truncate_scaled(runtime, term, [1], bits, bits)[0]
        error = engine_sigmoid(z) - y_batch
        theta = theta - self._update(theta, x_batch, error)
        return theta, ArithmeticShare(runtime, np.zeros((2,), dtype=RING_DTYPE))


def _public_minus(components: np.ndarray, publics: np.ndarray, runtime) -> np.ndarray:
    """Components of ``p_k - x`` for public ring values ``p_k``, shape (2, k, *x)."""
    out = np.broadcast_to(
        np.negative(components)[:, np.newaxis, ...], (2, len(publics), *components.shape[1:])
    ).copy()
    slot = runtime.public_slot
    if slot is not None:
        out[slot] += publics.reshape((-1,) + (1,) * (components.ndim - 1))
    return out


def _public_plus(components: np.ndarray, publics: np.ndarray, runtime) -> np.ndarray:
    """Components of ``x + p_k`` for public ring values ``p_k``, shape (2, k, *x)."""
    out = np.broadcast_to(
        components[:, np.newaxis, ...], (2, len(publics), *components.shape[1:])
    ).copy()
    slot = runtime.public_slot
    if slot is not None:
        out[slot] += publics.reshape((-1,) + (1,) * (components.ndim - 1))
    return out


def _raise_if_flagged(
    violations: ArithmeticShare, epoch: int, options: TrainingOptions, bounds: TrainingBounds
) -> None:
    """Open one bit, ``violations > 0``, and raise ``FixedPointOverflow`` if it is set (9 rounds)."""
    # -violations < 0 exactly when violations > 0 (the count is far below 2**63).
    flag = int(reveal(sign_bit(-violations))[()])
    if flag:
        raise FixedPointOverflow(
            f"secure training left the fixed-point range in epoch {epoch + 1} of {options.epochs}: "
            f"a score exceeded ±{bounds.score_limit:g} or a weight ±{bounds.weight_limit:g} "
            f"(features bounded by {bounds.feature_bound:g}). The model was discarded. Standardise "
            f"the features (standardize=true), lower the learning rate (now {options.learning_rate:g}), "
            f"raise the L2 penalty (now {options.l2_penalty:g}) or train fewer epochs"
        )
