"""The same algorithms in plaintext numpy (float64): what the secure versions are tested against.

:func:`train_logistic_plain` runs exactly the algorithm of
:func:`offchain.ml.sgd.train_logistic`: same batch plan, same
piecewise-linear sigmoid, same *effective* learning rate and L2 penalty
(the values the fixed-point multipliers realise, see
:class:`offchain.ml.ranges.StepScales`), zero initialisation, bias without
penalty. The only differences left are the secure run's fixed-point
rounding (stochastic, one unit of ``2**-f`` per truncation).

Metrics use the textbook definitions (scikit-learn's, where it has them):
AUC with ties counted one half, accuracy of ``z > 0``, log-loss of the true
sigmoid.
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError
from offchain.ml.schedule import batch_plan
from offchain.ml.sgd import TrainingOptions, training_bounds


def standardize_plain(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(x - mean) / std`` (population std), the means and ``1/std`` (0 for constant columns)."""
    values = np.asarray(features, dtype=np.float64)
    means = values.mean(axis=0)
    deviations = values.std(axis=0)
    inverse = np.divide(1.0, deviations, out=np.zeros_like(deviations), where=deviations > 0)
    return (values - means) * inverse, means, inverse


def train_logistic_plain(
    features: np.ndarray,
    labels: np.ndarray,
    options: TrainingOptions,
    feature_bound: float,
    fractional_bits: int = 16,
) -> np.ndarray:
    """Return ``theta = (w_1..w_d, b)`` trained exactly as the secure trainer does, in float64."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise InputError(f"features must be (n, d) and labels (n,), got {x.shape} and {y.shape}")
    rows, count = x.shape
    bounds = training_bounds(options, rows, count, feature_bound, fractional_bits)
    plan = batch_plan(options.seed, rows, options.batch_size, options.epochs, options.shuffle)
    x, y = x[plan.row_order], y[plan.row_order]
    function = options.function
    weights = np.zeros(count)
    bias = 0.0
    for batch_order in plan.epoch_orders:
        for batch in batch_order:
            start, stop = plan.bounds(int(batch))
            x_batch, y_batch = x[start:stop], y[start:stop]
            size = stop - start
            scales = bounds.scales[size]
            error = function(x_batch @ weights + bias) - y_batch
            rate = scales.effective_learning_rate / size
            gradient = x_batch.T @ error + size * scales.effective_l2 * weights
            weights = weights - rate * gradient
            bias = bias - rate * error.sum()
    return np.append(weights, bias)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, computed without overflow."""
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


def auc_plain(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U / (P N)), ties counted one half."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    positives, negatives = scores[labels], scores[~labels]
    if positives.size == 0 or negatives.size == 0:
        return float("nan")
    order = np.sort(negatives)
    below = np.searchsorted(order, positives, side="left")
    not_above = np.searchsorted(order, positives, side="right")
    return float((below + not_above).sum() / (2.0 * positives.size * negatives.size))


def accuracy_plain(scores: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows where ``z > 0`` equals the label."""
    return float(np.mean((np.asarray(scores) > 0) == np.asarray(labels).astype(bool)))


def log_loss_plain(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean of ``-y log p - (1 - y) log(1 - p)`` with ``p = sigmoid(z)``, i.e. ``softplus(z) - y z``."""
    z = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))
