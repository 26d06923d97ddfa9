"""Validation metrics on shares against scikit-learn: AUC with ties, accuracy, log-loss."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from offchain.ml.approximations import SOFTPLUS_MAX_ERROR
from offchain.ml.metrics import AUC_BITS, validation_metrics
from offchain.ml.reference import auc_plain, sigmoid
from offchain.mpc import receive_input
from tests.ml.helpers import dealt, run


def _metrics(runtime, scores, labels):
    result = validation_metrics(receive_input(runtime, scores), receive_input(runtime, labels))
    return (
        float(result.auc.reveal()),
        int(result.auc_defined.reveal()),
        int(result.correct.reveal()),
        float(result.log_loss_sum.reveal()),
    )


@pytest.mark.parametrize(("rows", "ties"), [(1, False), (37, True), (128, False), (301, True)])
def test_metrics_match_scikit_learn(rows: int, ties: bool) -> None:
    rng = np.random.default_rng(rows)
    scores = rng.normal(0, 2, rows)
    if ties:
        scores = np.round(scores * 4) / 4  # many equal scores: ties count one half
    labels = (rng.random(rows) < sigmoid(scores)).astype(np.float64)
    if rows > 1:
        labels[:2] = [0.0, 1.0]
    auc, defined, correct, loss_sum = run(_metrics, dealt(scores), dealt(labels))
    if rows > 1:
        assert defined == 1
        assert abs(auc - roc_auc_score(labels, scores)) <= 4 * 2.0**-AUC_BITS
    else:
        assert defined == 0
    assert correct == round(accuracy_score(labels, scores > 0) * rows)
    expected = log_loss(labels, sigmoid(scores), labels=[0, 1]) * rows
    assert abs(loss_sum - expected) <= rows * (SOFTPLUS_MAX_ERROR + 2.0**-15)


def test_auc_is_undefined_with_one_class() -> None:
    scores = np.linspace(-1, 1, 10)
    _, defined, correct, _ = run(_metrics, dealt(scores), dealt(np.ones(10)))
    assert defined == 0
    assert correct == 5


def test_reference_auc_counts_ties_as_half() -> None:
    assert auc_plain(np.array([1.0, 1.0]), np.array([0, 1])) == 0.5
    assert auc_plain(np.array([0.0, 1.0, 1.0, 2.0]), np.array([0, 0, 1, 1])) == roc_auc_score([0, 0, 1, 1], [0, 1, 1, 2])
