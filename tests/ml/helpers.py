"""Helpers for the secure-model tests: three in-process parties, plaintext data dealt by an owner."""

from __future__ import annotations

import numpy as np

from offchain.mpc import PerParty, deal
from offchain.net.local import run_local


def dealt(values, kind: str = "fixed", fractional_bits: int = 16) -> PerParty:
    """Deal plaintext ``values`` as an outside owner would: one payload per party."""
    return PerParty(deal(np.asarray(values), kind=kind, fractional_bits=fractional_bits))


def run(program, *args, **options):
    """Run ``program(runtime, *args)`` at three parties; return the value they agree on."""
    return run_local(program, *args, **options).agreed()


def logistic_data(rows: int, features: int, seed: int, strength: float = 0.5, bias: float = 0.0):
    """Standard-normal features and labels drawn from a logistic model (a real signal to learn)."""
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((rows, features))
    w = generator.standard_normal(features) * strength
    probability = 1.0 / (1.0 + np.exp(-(x @ w + bias)))
    y = (generator.random(rows) < probability).astype(np.float64)
    return x, y
