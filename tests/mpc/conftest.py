"""Fixtures for the engine tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: failures reproduce."""
    return np.random.default_rng(20240611)


@pytest.fixture(params=["few rounds", "few bytes"])
def adder(request, monkeypatch) -> str:
    """Run the test with each adder and OR prefix (the engine picks one by size).

    Up to ``FEW_ROUNDS_UP_TO`` elements the engine uses Kogge–Stone and shifts,
    above it Brent–Kung scans on bit-reversed words; "few bytes" lowers the
    threshold to 0 so that small test inputs take the second path too.
    """
    if request.param == "few bytes":
        from offchain.mpc import binary

        monkeypatch.setattr(binary, "FEW_ROUNDS_UP_TO", 0)
    return request.param
