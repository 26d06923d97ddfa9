"""Joins on secret rows: the matcher's layout and the oblivious routing of both sides.

Compute party ``MATCHER`` (0) receives the tag columns of both sides opened
to it alone. It computes the joined order (:func:`layout`): one *block* of
consecutive slots per left row, holding one slot per matching right row
(and, for a LEFT JOIN, one NULL-extended slot at the end). It then routes
the rows with permutations only it knows
(:func:`offchain.sql.oblivious.permute_known_to`):

* left side: each used left row goes to the first slot of its block and
  zero dummy rows to the others; a segmented scan with the block heads
  (secret bits the matcher inputs) copies the row over its block;
* right side: the same in *grouped* order (slots of one right row next to
  each other), then a second permutation brings the slots into block order;
  when no right row matches more than one left row neither is needed.

The other two parties learn only the sizes and the scan depths; the
matcher learns the equality pattern of the tags under the owners' shuffles.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np

from offchain.errors import MpcError
from offchain.mpc.opening import reveal_to
from offchain.mpc.ring import RING_DTYPE
from offchain.mpc.runtime import Runtime, expect_arrays
from offchain.mpc.shares import ArithmeticShare
from offchain.mpc.sharing import input_from_party
from offchain.sql.oblivious import inverse_permutation, permute_known_to, segmented_scan

MATCHER = 0


@dataclass(frozen=True)
class Layout:
    """The joined order, known to the matcher only."""

    left_rows: np.ndarray  # (L,) left row of each slot
    right_rows: np.ndarray  # (L,) right row of each slot, -1 on NULL-extended slots
    block_heads: np.ndarray  # (L,) 1 on the first slot of each left row's block
    extension: np.ndarray  # (L,) 1 on NULL-extended slots

    @property
    def size(self) -> int:
        return len(self.left_rows)


def _group_ids(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map 128-bit tags (rows of two uint64) to integers equal iff the tags are.

    Tags are PRF outputs, so their first words almost never collide: group
    by the first word, and fall back to both words only if a group holds
    different second words.
    """
    tags = np.concatenate([left, right]).reshape(-1, 2)
    if len(tags) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    _, first_index, ids = np.unique(tags[:, 0], return_index=True, return_inverse=True)
    if np.any(tags[first_index[ids], 1] != tags[:, 1]):
        order = np.lexsort((tags[:, 1], tags[:, 0]))
        ordered = tags[order]
        new = np.ones(len(tags), dtype=bool)
        new[1:] = (ordered[1:, 0] != ordered[:-1, 0]) | (ordered[1:, 1] != ordered[:-1, 1])
        ids = np.empty(len(tags), dtype=np.int64)
        ids[order] = np.cumsum(new) - 1
    ids = ids.astype(np.int64).reshape(-1)
    return ids[: len(left)], ids[len(left):]


def layout(left_tags: np.ndarray, right_tags: np.ndarray, left_join: bool) -> Layout:
    """Return the joined order of rows whose tags are equal (all pairs; LEFT JOIN: plus extensions)."""
    left_ids, right_ids = _group_ids(left_tags, right_tags)
    groups = int(max(left_ids.max(initial=-1), right_ids.max(initial=-1))) + 1
    right_order = np.argsort(right_ids, kind="stable")  # right rows grouped by tag
    per_group = np.bincount(right_ids, minlength=groups)
    group_start = np.cumsum(per_group) - per_group
    starts = group_start[left_ids]
    matches = per_group[left_ids]
    blocks = matches + 1 if left_join else matches
    total = int(blocks.sum())
    offsets = np.cumsum(blocks) - blocks
    left_rows = np.repeat(np.arange(len(left_ids), dtype=np.int64), blocks)
    within = np.arange(total, dtype=np.int64) - np.repeat(offsets, blocks)
    block_matches = np.repeat(matches, blocks)
    extension = within == block_matches if left_join else np.zeros(total, dtype=bool)
    source = np.repeat(starts, blocks) + within
    right_rows = np.full(total, -1, dtype=np.int64)
    pair = ~extension
    right_rows[pair] = right_order[source[pair]]
    heads = np.zeros(total, dtype=np.int64)
    heads[offsets[blocks > 0]] = 1
    return Layout(left_rows, right_rows, heads, extension.astype(np.int64))


def _depth(longest: int) -> int:
    """Scan steps that cover segments of ``longest`` rows (0 when no row repeats)."""
    return int(np.ceil(np.log2(longest))) if longest > 1 else 0


def _padding(size: int, depth: int, dummies_without_copies: int) -> int:
    """Zero rows to append before routing: public, from the sizes and the scan depth alone.

    With copies (``depth > 0``) up to ``size`` slots may need a dummy; without,
    only the NULL-extended slots do (none for the left side, one per left row
    for the right side of a LEFT JOIN).
    """
    return size if depth else dummies_without_copies


def _routing(sources: np.ndarray, rows: int, size: int, pad: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """Permutation of ``rows + pad`` inputs (rows, then zero dummies) putting each used row at the
    first of its consecutive slots, and the head bits; ``sources`` (size,) is -1 for a dummy slot."""
    heads = np.zeros(size, dtype=np.int64)
    if size:
        first = np.ones(size, dtype=bool)
        first[1:] = sources[1:] != sources[:-1]
        first &= sources >= 0
        heads[first] = 1
        heads[sources < 0] = 1  # dummies start their own (zero) segment
    permutation = np.empty(rows + pad, dtype=np.int64)
    is_head = heads.astype(bool) & (sources >= 0)
    head_slots = np.flatnonzero(is_head)
    permutation[head_slots] = sources[head_slots]
    other_slots = np.flatnonzero(~is_head)
    if len(other_slots) > pad:
        raise MpcError(f"join routing needs {len(other_slots)} dummy rows but only {pad} exist")
    dummies = np.arange(rows, rows + pad, dtype=np.int64)
    permutation[other_slots] = dummies[: len(other_slots)]
    used = np.zeros(rows, dtype=bool)
    used[sources[head_slots]] = True
    unused_rows = np.flatnonzero(~used)
    permutation[size:] = np.concatenate([unused_rows, dummies[len(other_slots):]])
    return permutation, heads


@dataclass
class JoinedSides:
    """The routed columns of both sides, and the secret slot bits the caller needs."""

    size: int
    left: np.ndarray  # components (2, L, kL)
    right: np.ndarray  # components (2, L, kR)
    block_heads: ArithmeticShare  # (L,)
    extension: ArithmeticShare | None  # (L,) LEFT JOIN only
    left_depth: int


def join_rows(runtime: Runtime, left: np.ndarray, right: np.ndarray, left_tags: ArithmeticShare,
              right_tags: ArithmeticShare, left_join: bool,
              phase: Callable[[str], AbstractContextManager] = lambda name: nullcontext()
              ) -> JoinedSides:
    """Route the rows of both sides (components (2, n, k)) into joined order, obliviously.

    ``phase(name)`` brackets the steps (tag matching, routing, copy scans) for measurements.
    """
    with phase("match tags"):
        size, left_depth, right_depth, routes = _match(runtime, left.shape[1], right.shape[1],
                                                       left_tags, right_tags, left_join)
    with phase("route rows"):
        return _route(runtime, left, right, left_join, size, left_depth, right_depth, *routes)


def _match(runtime: Runtime, rows_left: int, rows_right: int, left_tags: ArithmeticShare,
           right_tags: ArithmeticShare, left_join: bool):
    """Open the tags to the matcher, which lays out the join and tells the others its size."""
    me = runtime.party
    both = ArithmeticShare(runtime, np.concatenate([left_tags.components, right_tags.components],
                                                   axis=1))
    opened = reveal_to(both, MATCHER)
    plan = None
    if me == MATCHER:
        tags = opened.astype(np.int64).view(np.uint64)
        plan = layout(tags[:rows_left], tags[rows_left:], left_join)
        counts = np.bincount(plan.right_rows[plan.right_rows >= 0], minlength=1)
        longest_block = int(np.max(np.bincount(plan.left_rows))) if plan.size else 0
        header = np.array([plan.size, _depth(longest_block), _depth(int(counts.max()))],
                          dtype=np.int64)
        runtime.exchange({1: [header], 2: [header]})
    else:
        received = runtime.exchange(receive_from=[MATCHER])
        (header,) = expect_arrays(received[MATCHER], 1, MATCHER, "join layout")
        if header.shape != (3,) or header.dtype != np.int64 or np.any(header < 0):
            raise MpcError(f"party {MATCHER} sent a malformed join header {header!r}")
    size, left_depth, right_depth = (int(v) for v in header)
    routes = (None, None, None, None)
    if me == MATCHER:
        left_route, left_heads = _routing(plan.left_rows, rows_left, size,
                                          _padding(size, left_depth, 0))
        grouped = np.argsort(np.where(plan.right_rows >= 0, plan.right_rows, rows_right),
                             kind="stable") if right_depth else np.arange(size, dtype=np.int64)
        right_route, right_heads = _routing(plan.right_rows[grouped], rows_right, size,
                                            _padding(size, right_depth,
                                                     rows_left if left_join else 0))
        bits = np.stack([left_heads, right_heads, plan.extension], axis=1).astype(np.int64)
        routes = (left_route, right_route, inverse_permutation(grouped), bits)
    return size, left_depth, right_depth, routes


def _route(runtime, left, right, left_join, size, left_depth, right_depth, left_route,
           right_route, right_order, bits) -> JoinedSides:
    me = runtime.party
    shared_bits = input_from_party(runtime, MATCHER, bits if me == MATCHER else None)

    rows_left = left.shape[1]
    left_pad = _padding(size, left_depth, 0)
    right_pad = _padding(size, right_depth, rows_left if left_join else 0)
    padded_left = np.concatenate([left, np.zeros((2, left_pad, left.shape[2]), RING_DTYPE)], axis=1)
    routed_left = permute_known_to(runtime, padded_left, left_route, MATCHER)[:, :size]
    padded_right = np.concatenate([right, np.zeros((2, right_pad, right.shape[2]), RING_DTYPE)],
                                  axis=1)
    routed_right = permute_known_to(runtime, padded_right, right_route, MATCHER)[:, :size]

    heads_left = shared_bits[:, 0]
    if left_depth:
        routed_left = segmented_scan(runtime, ArithmeticShare(runtime, routed_left), heads_left,
                                     left_depth).components
    if right_depth:
        routed_right = segmented_scan(runtime, ArithmeticShare(runtime, routed_right),
                                      shared_bits[:, 1], right_depth).components
        routed_right = permute_known_to(runtime, np.ascontiguousarray(routed_right), right_order,
                                        MATCHER)
    extension = ArithmeticShare(runtime, np.ascontiguousarray(shared_bits.components[:, :, 2])) \
        if left_join else None
    return JoinedSides(size, np.ascontiguousarray(routed_left), np.ascontiguousarray(routed_right),
                       ArithmeticShare(runtime, np.ascontiguousarray(heads_left.components)),
                       extension, left_depth)
