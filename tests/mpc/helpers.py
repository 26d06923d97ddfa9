"""Helpers for engine tests: every protocol runs at three in-process parties."""

from __future__ import annotations

import numpy as np

from offchain.mpc import PerParty, deal


def dealt(values, kind: str = "integer", fractional_bits: int = 16) -> PerParty:
    """Deal plaintext ``values`` as an outside owner would; one payload per party."""
    return PerParty(deal(values, kind=kind, fractional_bits=fractional_bits))


def encoded(values, fractional_bits: int = 16) -> np.ndarray:
    """Return the fixed-point encodings round(v * 2**f) as Python ints (object array)."""
    return (
        np.rint(np.asarray(values, dtype=np.float64) * (1 << fractional_bits))
        .astype(np.int64)
        .astype(object)
    )


def floor_product(x, y, fractional_bits: int = 16) -> np.ndarray:
    """Return floor(X * Y / 2**f) for the encodings X, Y (the exact truncation target), as int64."""
    product = encoded(x, fractional_bits) * encoded(y, fractional_bits)
    return np.vectorize(lambda p: p >> fractional_bits, otypes=[object])(product).astype(np.int64)


def as_encoding(values, fractional_bits: int = 16) -> np.ndarray:
    """Return revealed fixed-point floats as their integer encodings (exact for our range)."""
    return np.rint(np.asarray(values) * (1 << fractional_bits)).astype(np.int64)
