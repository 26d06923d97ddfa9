"""Fixtures for the engine tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: failures reproduce."""
    return np.random.default_rng(20240611)
