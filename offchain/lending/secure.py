"""The MPC part of a multi-lending check: compare query slots with lenders' keys, count lenders.

All keys are XOR-shared 64-bit words. For query slot ``s`` and lender ``j``
with items ``x_1 .. x_L`` (its whole padded array in the direct layout, the
items of bin ``s`` in the hashed one)::

    match_j(s) = XOR_i [x_i == q_s],   [x == q] = AND of the 64 bits of ~(x ^ q)

``~(x ^ q)`` is local; the AND of 64 bits is a tree of 6 AND rounds on
words of halving width (:func:`offchain.mpc.binary.all_ones`, 10 bytes per
comparison per party). A lender's keys are distinct, placed at most once
per bin, and dummies never equal a query, so at most one ``i`` matches and
the XOR of the bits (local) is their OR: whether lender ``j`` has the
applicant. The ``k x slots`` lender bits are converted to integers in one
bit injection (2 rounds) and summed over lenders:
``count(s) = sum_j match_j(s)``. Only these counts are revealed, to the
requester.

Large tables are compared in chunks of at most :data:`CHUNK_ELEMENTS`
comparisons, 6 rounds each: 2**20 keeps the working arrays near the
processor's caches (measured twice as fast per comparison as 2**22 at 5 x
10**6 keys) at a modest number of rounds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from offchain.errors import InputError
from offchain.lending.spec import LendingSpec
from offchain.mpc.binary import all_ones, xor_public
from offchain.mpc.converters import bits_to_arithmetic
from offchain.mpc.shares import ArithmeticShare, BooleanShare

CHUNK_ELEMENTS = 1 << 20
_ALL_ONES = np.uint64(2**64 - 1)


def _lender_matches(
    runtime, complement_queries: np.ndarray, table: np.ndarray, chunk: int
) -> np.ndarray:
    """Return the ``(2, slots)`` uint8 XOR sharing of "some item of the slot's row equals its query".

    ``complement_queries`` are the components of ``~q``, shape ``(2, slots)``;
    ``table`` the lender's components, shape ``(2, slots, items)`` or
    ``(2, 1, items)`` (every slot compared with the same items).
    """
    slots = complement_queries.shape[1]
    items = table.shape[2]
    rows_per_chunk = max(1, chunk // items)
    items_per_chunk = min(items, chunk)
    matched = np.zeros((2, slots), dtype=np.uint8)
    for first_row in range(0, slots, rows_per_chunk):
        rows = slice(first_row, min(first_row + rows_per_chunk, slots))
        queries = complement_queries[:, rows, None]
        for first_item in range(0, items, items_per_chunk):
            block = table[
                :,
                rows if table.shape[1] > 1 else slice(None),
                first_item : first_item + items_per_chunk,
            ]
            words = np.bitwise_xor(block, queries)  # ~(x ^ q): all ones iff x == q
            shape = words.shape
            bits = all_ones(runtime, words.reshape(2, -1))
            matched[:, rows] ^= np.bitwise_xor.reduce(bits.reshape(shape), axis=2)
    return matched


def count_lenders(
    spec: LendingSpec,
    queries: BooleanShare,
    lenders: Sequence[BooleanShare],
    chunk: int = CHUNK_ELEMENTS,
) -> ArithmeticShare:
    """Return, per query slot, the number of lenders holding the slot's key (see the module docstring)."""
    runtime = queries.runtime
    if queries.shape != (spec.slots,):
        raise InputError(
            f"the requester shared {queries.shape[0]} query slots, the plan has {spec.slots}"
        )
    complement = xor_public(runtime, queries.components, _ALL_ONES)
    per_lender = []
    for index, keys in enumerate(lenders):
        expected = spec.padded_length(index)
        if keys.shape != (expected,) or keys.dtype != np.uint64:
            raise InputError(
                f"lender {index} shared {keys.shape} {keys.dtype} keys; the plan expects {expected} uint64 keys"
            )
        if spec.mode == "direct":
            table = keys.components.reshape(2, 1, expected)
        else:
            table = keys.components.reshape(2, spec.slots, spec.loads[index])
        per_lender.append(_lender_matches(runtime, complement, table, chunk))
    bits = BooleanShare(runtime, np.stack(per_lender, axis=1))  # (2, lenders, slots)
    return bits_to_arithmetic(bits).sum(axis=0)
