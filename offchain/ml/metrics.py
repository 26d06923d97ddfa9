"""Validation metrics computed on shares: AUC, accuracy, log-loss; only their values are opened.

Given shared scores ``z`` (logits) and labels ``y`` of ``n`` validation rows
(``n`` public):

* **AUC** — Mann–Whitney: ``U / (P N)`` with ``P`` positives, ``N``
  negatives and ties counted one half. Two oblivious bitonic sorts
  (Batcher), batched in the same rounds, order the rows by the compound
  keys ``2z + y`` and ``2z + (1 - y)``: tied scores put negatives below
  positives in the first (a tie counts as won) and above them in the
  second (lost), so ``2U = U_1 + U_2`` with ``U_k = sum_i i y_(i) - P (P+1)/2``
  (ranks ``i`` are public positions). Each compare-exchange is a comparison
  and one multiplication of the swap bit; ``log2(m) (log2(m) + 1) / 2``
  layers of 11 rounds for ``m`` = ``n`` rounded up to a power of two
  (padding rows sort last and carry label 0). The ratio is a secure
  division (:func:`offchain.ml.normalization.divide_fraction`).
* **Accuracy** — the number of rows where ``z > 0`` equals the label.
* **Log-loss** — ``sum softplus(z) - y z`` with the piecewise-linear softplus
  of :mod:`offchain.ml.approximations` (error below 0.00043 per row).

Opened to the requester: the AUC (and whether it is defined: both classes
present), the number of correct predictions and the log-loss sum — i.e. the
three metric values, since ``n`` is public. Nothing per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offchain.errors import InputError
from offchain.ml.approximations import SOFTPLUS
from offchain.ml.kernels import evaluate_piecewise, sign_bits
from offchain.ml.normalization import divide_fraction
from offchain.mpc.arithmetic import dot, mul
from offchain.mpc.compare import sign_bit
from offchain.mpc.converters import bits_to_arithmetic
from offchain.mpc.ring import RING_DTYPE
from offchain.mpc.shares import ArithmeticShare, FixedPointShare
from offchain.mpc.truncation import truncate

AUC_BITS = 20  # fractional bits of the opened AUC


@dataclass(frozen=True)
class SharedMetrics:
    """The shared metric values, ready to be opened to the requester."""

    auc: FixedPointShare  # () with AUC_BITS fractional bits
    auc_defined: ArithmeticShare  # () 0/1: both classes present
    correct: ArithmeticShare  # () number of rows with (z > 0) == y
    log_loss_sum: FixedPointShare  # () sum over rows of softplus(z) - y z


def integer_labels(labels: FixedPointShare) -> ArithmeticShare:
    """Return labels shared as fixed point (exact 0 or 1) as integers 0/1 (2 rounds, exact).

    Truncating an exact multiple of ``2**f`` rounds deterministically.
    """
    return ArithmeticShare(labels.runtime, truncate(labels, labels.fractional_bits).components)


def validation_metrics(scores: FixedPointShare, labels: FixedPointShare) -> SharedMetrics:
    """Compute the shared AUC, accuracy count and log-loss sum of ``scores`` against ``labels``."""
    if scores.ndim != 1 or labels.shape != scores.shape:
        raise InputError(f"scores and labels must be vectors of one length, got {scores.shape} and {labels.shape}")
    if scores.shape[0] < 1:
        raise InputError("validation metrics need at least one row")
    count = scores.shape[0]
    y = integer_labels(labels)
    loss_terms, positive_bits = evaluate_piecewise(SOFTPLUS, scores, range_thresholds=(0.0,))
    predicted = positive_bits[0]
    positives = y.sum()
    # One round: predicted*y (accuracy), P*P (pair count), y.z (log-loss)
    products = mul(
        ArithmeticShare(y.runtime, np.concatenate([predicted.components, positives.components[:, np.newaxis]], axis=1)),
        ArithmeticShare(y.runtime, np.concatenate([y.components, positives.components[:, np.newaxis]], axis=1)),
    )
    agree = products[:count].sum()
    positives_squared = products[count]
    correct = count - positives - predicted.sum() + (agree << 1)
    log_loss_sum = loss_terms.sum() - dot(y, scores)  # integer labels: exact, no truncation
    pairs = positives * count - positives_squared  # P * N
    twice_u = _rank_sums(scores, y) - positives_squared - positives
    # 2U / (2PN) = U / (PN)
    auc = divide_fraction(twice_u, pairs << 1, AUC_BITS)
    defined = bits_to_arithmetic(sign_bit(-pairs))
    return SharedMetrics(auc, defined, correct, log_loss_sum)


def _rank_sums(scores: FixedPointShare, y: ArithmeticShare) -> ArithmeticShare:
    """Return ``sum_i i y_(i)`` summed over the two tie orders: ``2U + P**2 + P``."""
    runtime = scores.runtime
    count = scores.shape[0]
    size = 1 << max(0, (count - 1).bit_length())
    doubled = np.left_shift(scores.components, np.uint64(1))
    keys = np.zeros((2, 2, size), dtype=RING_DTYPE)
    keys[:, 0, :count] = doubled + y.components
    keys[:, 1, :count] = doubled - y.components
    slot = runtime.public_slot
    if slot is not None:
        keys[slot, 1, :count] += np.uint64(1)
        keys[slot, :, count:] = np.uint64((1 << 62) - 1)  # padding: above every real key
    payload = np.zeros((2, 2, size), dtype=RING_DTYPE)
    payload[:, 0, :count] = y.components
    payload[:, 1, :count] = y.components
    keys, payload = _bitonic_sort(runtime, keys, payload)
    ranks = np.arange(1, size + 1, dtype=np.uint64)
    total = np.tensordot(payload, ranks, axes=([2], [0])).sum(axis=1)
    return ArithmeticShare(runtime, total)


def _bitonic_sort(runtime, keys: np.ndarray, payload: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row of ``keys`` (2, rows, m) ascending, carrying ``payload``; m a power of two."""
    size = keys.shape[-1]
    index = np.arange(size)
    block = 2
    while block <= size:
        stride = block // 2
        while stride >= 1:
            partner = index ^ stride
            low = index[partner > index]
            high = partner[partner > index]
            ascending = (low & block) == 0
            # swap when the pair is out of order: key_low > key_high (ascending) or < (descending)
            low_keys, high_keys = keys[:, :, low], keys[:, :, high]
            difference = np.where(ascending, low_keys - high_keys, high_keys - low_keys)
            swap = sign_bits(ArithmeticShare(runtime, np.negative(difference)))
            gaps = np.concatenate([high_keys - low_keys, payload[:, :, high] - payload[:, :, low]], axis=1)
            moved = mul(ArithmeticShare(runtime, np.concatenate([swap.components, swap.components], axis=1)),
                        ArithmeticShare(runtime, gaps)).components
            rows = keys.shape[1]
            keys[:, :, low] += moved[:, :rows]
            keys[:, :, high] -= moved[:, :rows]
            payload[:, :, low] += moved[:, rows:]
            payload[:, :, high] -= moved[:, rows:]
            stride //= 2
        block *= 2
    return keys, payload
