"""Public, reproducible randomness of a training job: validation split and mini-batch order.

Everything here is a deterministic function of the public program text (a
seed and sizes), computed identically by every owner, every compute node
and the plaintext reference, on any platform: permutations are the
``argsort`` of AES-128-CTR words keyed by ``SHA-256(domain ‖ seed ‖ purpose)``
(never numpy's generators, whose algorithms may change between versions).
Knowing the permutation reveals nothing: it reorders rows that are secret-shared.

* **Validation split**: each input's rows (for column-split data, the
  aligned rows) are ranked by a public permutation; the first
  ``round(fraction * n)`` in that order form the validation set, the rest
  the training set, each kept in its original relative order.
* **Mini-batches** (:func:`batch_plan`): the training rows are permuted once
  (the compute nodes gather the shared rows once, locally), cut into
  consecutive batches of ``batch_size`` (the last may be smaller), and each
  epoch visits those batches in its own public order. Reshuffling rows every
  epoch would cost a gather of the whole shared matrix per epoch for little
  statistical gain.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from offchain.errors import InputError
from offchain.mpc.prg import KEY_BYTES, Prg

DOMAIN = b"unseen/ml/schedule/v1"


def public_permutation(seed: int, purpose: str, count: int) -> np.ndarray:
    """Return a permutation of ``range(count)`` (int64) determined by ``seed`` and ``purpose``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    if count < 0:
        raise InputError(f"count must be non-negative, got {count}")
    key = hashlib.sha256(DOMAIN + seed.to_bytes(8, "big") + purpose.encode()).digest()[:KEY_BYTES]
    words = Prg(key).random(count)
    return np.argsort(words, kind="stable").astype(np.int64)


def validation_mask(seed: int, input_index: int, rows: int, fraction: float) -> np.ndarray:
    """Return a boolean mask over ``rows`` marking the validation rows of one input.

    ``round(fraction * rows)`` rows are chosen by a public permutation; for
    column-split data every owner calls this with ``input_index=0`` on the
    aligned rows, so all owners select the same rows.
    """
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"validation_fraction must lie in [0, 1), got {fraction!r}")
    chosen = round(fraction * rows)
    mask = np.zeros(rows, dtype=bool)
    mask[public_permutation(seed, f"validation/{input_index}", rows)[:chosen]] = True
    return mask


@dataclass(frozen=True)
class BatchPlan:
    """The row order and the per-epoch batch orders of one training run."""

    row_order: np.ndarray  # permutation of the training rows, applied once
    batch_size: int
    epoch_orders: tuple[np.ndarray, ...]  # per epoch, the order in which batches are visited

    @property
    def batch_count(self) -> int:
        return len(self.epoch_orders[0]) if self.epoch_orders else 0

    def bounds(self, batch: int) -> tuple[int, int]:
        """Return ``(start, stop)`` of batch ``batch`` in the permuted rows."""
        start = batch * self.batch_size
        return start, min(start + self.batch_size, len(self.row_order))

    @property
    def steps(self) -> int:
        return self.batch_count * len(self.epoch_orders)


def batch_plan(seed: int, rows: int, batch_size: int, epochs: int, shuffle: bool = True) -> BatchPlan:
    """Return the :class:`BatchPlan` for ``rows`` training rows (see the module docstring).

    Without ``shuffle`` rows keep their order and batches are visited in order.
    """
    if rows < 1:
        raise InputError("training needs at least one row")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InputError(f"epochs must be a positive integer, got {epochs!r}")
    batches = -(-rows // batch_size)
    if not shuffle:
        order = np.arange(rows, dtype=np.int64)
        epoch_orders = tuple(np.arange(batches, dtype=np.int64) for _ in range(epochs))
    else:
        order = public_permutation(seed, "rows", rows)
        epoch_orders = tuple(
            public_permutation(seed, f"batches/{epoch}", batches) for epoch in range(epochs)
        )
    return BatchPlan(order, batch_size, epoch_orders)
