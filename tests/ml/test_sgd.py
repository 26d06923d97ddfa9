"""Secure mini-batch SGD against the plaintext reference, and its overflow detection."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import FixedPointOverflow, InputError
from offchain.ml.ranges import FEATURE_LIMIT, StepScales, step_scales, weight_limit
from offchain.ml.reference import auc_plain, train_logistic_plain
from offchain.ml.schedule import batch_plan, public_permutation, validation_mask
from offchain.ml.sgd import TrainingOptions, _Step, train_logistic, training_bounds
from offchain.mpc import receive_input
from tests.ml.helpers import dealt, logistic_data, run

WEIGHT_TOLERANCE = 0.01  # stated in docs/ML.md: |w_secure - w_plain| <= 0.01 at f = 16


def _train(runtime, features, labels, options, bound):
    theta, record = train_logistic(receive_input(runtime, features), receive_input(runtime, labels), options, bound)
    return theta.reveal(), record.steps, record.rounds


@pytest.mark.parametrize("name", ["taylor1", "segments3", "segments5", "segments9", "logistic"])
def test_secure_training_follows_the_plaintext_algorithm(name: str) -> None:
    x, y = logistic_data(1500, 6, seed=11)
    options = TrainingOptions(learning_rate=0.2, epochs=3, batch_size=100, l2_penalty=0.01, sigmoid=name, seed=3)
    theta, steps, rounds = run(_train, dealt(x), dealt(y), options, 8.0)
    plain = train_logistic_plain(x, y, options, 8.0)
    assert steps == 3 * 15
    assert np.abs(theta - plain).max() <= WEIGHT_TOLERANCE
    assert abs(auc_plain(x @ theta[:-1] + theta[-1], y) - auc_plain(x @ plain[:-1] + plain[-1], y)) < 1e-3
    if name == "logistic":
        # z 2 + the engine's sigmoid 29 + update 2; weights checked (10) and one bit opened (9) per epoch
        assert rounds == steps * 33 + 3 * (10 + 9)
    else:
        # 15 rounds a step (14 without knots), 9 per epoch check, 10 for the final weight check
        per_step = 14 if name == "taylor1" else 15
        assert rounds == steps * per_step + 3 * 9 + 10


def test_a_partial_last_batch_and_no_shuffling() -> None:
    x, y = logistic_data(250, 4, seed=12)
    options = TrainingOptions(learning_rate=0.5, epochs=2, batch_size=64, shuffle=False)
    theta, steps, _ = run(_train, dealt(x), dealt(y), options, 8.0)
    assert steps == 2 * 4
    assert np.abs(theta - train_logistic_plain(x, y, options, 8.0)).max() <= WEIGHT_TOLERANCE


def test_divergent_training_is_reported_not_returned() -> None:
    # taylor1 is least squares on 4(y - 1/2): a learning rate of 20 makes it diverge
    x, y = logistic_data(400, 5, seed=13)
    options = TrainingOptions(learning_rate=20.0, epochs=5, batch_size=50, sigmoid="taylor1")
    with pytest.raises(FixedPointOverflow, match=r"epoch \d of 5.*Standardise the features"):
        run(_train, dealt(x), dealt(y), options, 8.0)


def _check(runtime, values, bound):
    theta = receive_input(runtime, values)
    bounds = training_bounds(TrainingOptions(), 100, theta.shape[0] - 1, bound, 16)
    step = _Step(TrainingOptions().function, bounds, 16)
    return int(step.check_parameters(theta).reveal()), bounds.weight_limit


def test_parameters_beyond_the_weight_limit_are_counted() -> None:
    limit = weight_limit(3, 8.0, 16)
    inside = np.array([0.5, -limit + 0.01, limit - 0.01, 3.0])
    assert run(_check, dealt(inside), 8.0) == (0, limit)
    outside = np.array([limit + 0.5, 0.0, -limit - 2.0, 0.0])
    assert run(_check, dealt(outside), 8.0)[0] == 2


def test_step_scales_realise_the_learning_rate_within_the_budget() -> None:
    scales = step_scales(0.1, 1024, 0.001, 448.0, 1.0, 1024.0, 16)
    assert isinstance(scales, StepScales)
    assert abs(scales.effective_learning_rate - 0.1) / 0.1 < 2e-3
    assert abs(scales.effective_l2 - 0.001) / 0.001 < 1e-3
    gradient_bound = 1024 * (448.0 + scales.effective_l2 * 1024.0 + 1.0)
    assert scales.rate_multiplier * gradient_bound * 2.0**32 < 2.0**61
    assert (scales.rate_multiplier + 1) * 2 * gradient_bound * 2.0**32 > 2.0**61  # the largest that fits


def test_hyperparameters_outside_the_budget_or_the_domain_are_refused() -> None:
    with pytest.raises(InputError, match="cannot be represented"):
        step_scales(0.1, 1024, 0.0, FEATURE_LIMIT * 64, 1.0, 1.0, 16)
    with pytest.raises(InputError, match="learning_rate must be positive"):
        TrainingOptions(learning_rate=0.0)
    with pytest.raises(InputError, match="batch_size must be a positive integer"):
        TrainingOptions(batch_size=0)
    with pytest.raises(InputError, match="unknown sigmoid.*logistic"):
        TrainingOptions(sigmoid="exact")
    with pytest.raises(InputError, match="checks the weights once per epoch"):
        training_bounds(TrainingOptions(sigmoid="logistic", batch_size=1, learning_rate=1.0), 10**5, 10, 448.0, 16)
    with pytest.raises(InputError, match="leave no room"):
        weight_limit(10_000, 2.0**20, 16)


def test_public_schedule_is_a_deterministic_function_of_the_seed() -> None:
    first = public_permutation(42, "rows", 1000)
    assert np.array_equal(first, public_permutation(42, "rows", 1000))
    assert not np.array_equal(first, public_permutation(43, "rows", 1000))
    assert sorted(first.tolist()) == list(range(1000))
    plan = batch_plan(42, 1000, 300, 3)
    assert plan.batch_count == 4 and plan.bounds(3) == (900, 1000)
    assert all(sorted(order.tolist()) == [0, 1, 2, 3] for order in plan.epoch_orders)
    mask = validation_mask(42, 0, 1000, 0.2)
    assert mask.sum() == 200 and np.array_equal(mask, validation_mask(42, 0, 1000, 0.2))
