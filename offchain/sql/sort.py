"""ORDER BY ... LIMIT in MPC: only the first rows ever leave the compute nodes.

The rows arrive shuffled (:func:`offchain.sql.engine.finish` opens their
keep bits after an oblivious shuffle), so their order is uniformly random
and unknown to every party. Sorting them with comparisons whose outcomes
are *opened* then reveals only a random permutation, provided no two rows
compare equal: ties are broken by the (random) position, so every
comparison is strict. This is the shuffle-then-sort approach (Hamada et
al., ICISC 2012).

The comparison of rows ``i`` and ``j`` is lexicographic over the ORDER BY
keys; each key becomes one integer ``null_rank * 2**62 + v`` (``v`` the
value, negated for DESC, 0 when NULL; ``null_rank`` 1 for NULLs placed
last, or for non-NULLs when NULLs come first), so that one less-than and
one equality test per key and pair decide it. Text keys are compared
through the owner's secret rank of the value among its distinct values.

Quickselect with batched rounds: every segment that still overlaps the
first ``limit`` positions compares all its rows with its first row (the
pivot, random because of the shuffle) in one batch; the opened bits
partition it. Expected ``O(K + limit log limit)`` comparisons in
``O(log K)`` batches of about 20 rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offchain.mpc import compare
from offchain.mpc.opening import reveal
from offchain.mpc.shares import ArithmeticShare

NULL_WEIGHT = 1 << 62


@dataclass
class SortKey:
    values: ArithmeticShare  # (K,) ring values (integers, fixed point raw, or text ranks)
    nulls: ArithmeticShare  # (K,) 0/1
    descending: bool
    nulls_first: bool


def sort_key_column(key: SortKey) -> ArithmeticShare:
    """Return ``null_rank * 2**62 + v`` per row (requires ``|v| < 2**61``)."""
    runtime = key.values.runtime
    raw = ArithmeticShare(runtime, key.values.components)
    present = 1 - key.nulls
    value = raw * present
    if key.descending:
        value = -value
    null_rank = (1 - key.nulls) if key.nulls_first else key.nulls
    return value + (null_rank << 62)


def _before(columns: list[ArithmeticShare], first: np.ndarray, second: np.ndarray) -> ArithmeticShare:
    """Secret bits: row ``first[t]`` sorts before row ``second[t]`` (ties by position)."""
    runtime = columns[0].runtime
    stacked_first = ArithmeticShare(runtime, np.ascontiguousarray(
        np.stack([c.components[:, first] for c in columns], axis=-1)))
    stacked_second = ArithmeticShare(runtime, np.ascontiguousarray(
        np.stack([c.components[:, second] for c in columns], axis=-1)))
    less = compare.less_than(stacked_first, stacked_second)
    equal = compare.equal(stacked_first, stacked_second)
    result = (first < second).astype(np.int64)  # all keys equal: the earlier position first
    for k in reversed(range(len(columns))):
        result = less[:, k] + equal[:, k] * result
    return result


def first_rows(columns: list[ArithmeticShare], count: int, limit: int) -> np.ndarray:
    """Return the positions of the first ``limit`` rows in key order (public, opened comparisons)."""
    order = np.arange(count, dtype=np.int64)
    segments = [(0, count)]
    while True:
        active = [(s, e) for s, e in segments if e - s > 1 and s < limit]
        if not active:
            break
        firsts, seconds, owners = [], [], []
        for index, (start, end) in enumerate(active):
            pivot = order[start]
            others = order[start + 1:end]
            firsts.append(others)
            seconds.append(np.full(len(others), pivot, dtype=np.int64))
            owners.append(np.full(len(others), index, dtype=np.int64))
        first = np.concatenate(firsts)
        second = np.concatenate(seconds)
        bits = reveal(_before(columns, first, second)) if len(first) else np.zeros(0, np.int64)
        owner_of = np.concatenate(owners)
        done = {seg for seg in segments if seg not in active}
        next_segments = list(done)
        for index, (start, end) in enumerate(active):
            mine = owner_of == index
            others = first[mine]
            goes_first = bits[mine] == 1
            lower, upper = others[goes_first], others[~goes_first]
            pivot = order[start]
            order[start:end] = np.concatenate([lower, [pivot], upper])
            split = start + len(lower)
            next_segments += [(start, split), (split + 1, end)]
        segments = next_segments
    return order[:limit]
