"""Standardisation in MPC: owners' moments combined, 1/std, zero and too-narrow columns."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import FixedPointOverflow
from offchain.ml.reference import standardize_plain
from offchain.ml.standardize import combine_moments, fit_standardizer, owner_moments
from offchain.mpc import PerParty, receive_input
from tests.ml.helpers import dealt, run


def _standardize(runtime, blocks, moments, weights):
    shares = [receive_input(runtime, b) for b in blocks]
    mean, variance = combine_moments([receive_input(runtime, m) for m in moments], weights, 16)
    standardizer = fit_standardizer(mean, variance)
    return (
        [standardizer.apply(s).reveal() for s in shares],
        mean.reveal(),
        np.asarray(variance.reveal(), dtype=np.float64) / 2**32,
        standardizer.inverse_std.reveal(),
    )


def _per_party(items):
    return PerParty([[item.values[p] for item in items] for p in range(3)])


def _run(blocks):
    total = sum(len(b) for b in blocks)
    weights = [len(b) / total for b in blocks]
    moments = [owner_moments(b, w, 16) for b, w in zip(blocks, weights, strict=True)]
    return run(
        _standardize,
        _per_party([dealt(b) for b in blocks]),
        _per_party([dealt(m, "integer") for m in moments]),
        weights,
    )


def test_rows_split_over_three_owners_standardise_like_numpy() -> None:
    rng = np.random.default_rng(6)
    blocks = [
        rng.normal(5, 3, (300, 5)),
        rng.normal(-2, 0.5, (200, 5)),
        rng.normal(100, 40, (150, 5)),
    ]
    for block in blocks:
        block[:, 4] = 7.0  # a constant column
        block[:, 3] *= 0.001  # a narrow one (std about 0.003 to 0.04)
    standardized, mean, variance, inverse = _run(blocks)
    joined = np.vstack(blocks)
    expected, means, inverses = standardize_plain(joined)
    assert np.abs(mean - means).max() < 2e-5
    assert np.abs(variance - joined.var(axis=0)).max() < 1e-3 * joined.var(axis=0).max() + 1e-6
    # 1/std is as precise as the means (2**-16 absolute): relative error about 2**-16 / std
    assert np.all(np.abs(inverse - inverses) <= 4 * 2.0**-16 * inverses**2 + 1e-5 * inverses + 2 * 2.0**-22)
    assert inverse[4] == 0.0
    assert np.abs(np.vstack(standardized) - expected).max() < 2e-3
    assert np.all(np.vstack(standardized)[:, 4] == 0.0)


def test_one_owner_per_column_uses_its_moments_directly() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(0, 1, (400, 3)) * np.array([0.004, 1.0, 4000.0]) + np.array([0.0, -3.0, 2000.0])
    (standardized,), _, _, _ = _run([values])
    expected, _, _ = standardize_plain(values)
    # 1/std carries 22 fractional bits: relative precision 2**-(22 - log2 std)
    assert np.abs(standardized - expected).max() < 5e-3


def test_a_column_too_narrow_to_standardise_stops_the_job() -> None:
    values = np.random.default_rng(8).normal(0, 1, (100, 2))
    values[:, 1] *= 1e-3  # std 0.001 < 1/512
    with pytest.raises(FixedPointOverflow, match="larger public scale"):
        _run([values])
