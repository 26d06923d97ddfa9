"""Exact matching of 128-bit tags held as (n, 2) uint64 arrays, and row bookkeeping.

Tags are pseudorandom (PRF outputs or truncated double-blinded points), so the
first column alone almost always separates them; ties in it are resolved on
the second column, so the result is exact whatever the tags are.
"""

from __future__ import annotations

import numpy as np

from offchain.errors import PsiError

TAG_BYTES = 16


def tags_from_bytes(blob: bytes | np.ndarray, element_bytes: int) -> np.ndarray:
    """Return the leading 16 bytes of each ``element_bytes``-byte element as an (n, 2) uint64 array."""
    raw = np.frombuffer(blob, dtype=np.uint8) if not isinstance(blob, np.ndarray) else blob
    if raw.size % element_bytes:
        raise PsiError(f"{raw.size} bytes is not a whole number of {element_bytes}-byte elements")
    rows = raw.reshape(-1, element_bytes)[:, :TAG_BYTES]
    return np.ascontiguousarray(rows).view(np.uint64).reshape(-1, 2)


def match_tags(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (left_index, right_index) of all equal tags, ordered by tag value.

    ``left`` and ``right`` are (n, 2) and (m, 2) uint64 arrays whose rows are
    distinct within each side. The order (by first then second column) depends
    only on the matched tags, so two parties matching the same tags get the
    same order. Raises ``PsiError`` if a side repeats a tag (a PRF collision,
    probability ≈ n²/2**129, or a caller that did not deduplicate).
    """
    _check_tags(left, "left")
    _check_tags(right, "right")
    n_left = len(left)
    tags = np.concatenate([left, right])
    if len(tags) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Sorting one uint64 column is ~3x faster than a two-column lexsort; runs
    # of three or more equal first words (only with 64-bit collisions) fall
    # back to the exact two-column sort.
    order = np.argsort(tags[:, 0])
    high = tags[order, 0]
    equal_high = high[1:] == high[:-1]
    if np.any(equal_high[1:] & equal_high[:-1]):
        order = np.lexsort((tags[:, 1], tags[:, 0]))
        ordered = tags[order]
        same_as_next = (ordered[1:, 0] == ordered[:-1, 0]) & (ordered[1:, 1] == ordered[:-1, 1])
        first = np.flatnonzero(same_as_next)
        if len(first) > 1 and np.any(first[1:] == first[:-1] + 1):
            raise PsiError("a tag occurs three times: a side repeats a tag; deduplicate keys first")
    else:
        first = np.flatnonzero(equal_high)
        first = first[tags[order[first], 1] == tags[order[first + 1], 1]]
    a, b = order[first], order[first + 1]
    from_left_a = a < n_left
    from_left_b = b < n_left
    if np.any(from_left_a == from_left_b):
        side = "left" if np.any(from_left_a & from_left_b) else "right"
        raise PsiError(
            f"the {side} side repeats a tag: keys were not deduplicated, or a 128-bit collision "
            "occurred (probability ~n²/2**129); rerun with a fresh key"
        )
    left_index = np.where(from_left_a, a, b).astype(np.int64)
    right_index = (np.where(from_left_a, b, a) - n_left).astype(np.int64)
    return left_index, right_index


def count_matches(left: np.ndarray, right: np.ndarray) -> int:
    """Return the number of tags common to ``left`` and ``right`` (distinct rows per side)."""
    return len(match_tags(left, right)[0])


def _check_tags(tags: np.ndarray, name: str) -> None:
    if tags.dtype != np.uint64 or tags.ndim != 2 or tags.shape[1] != 2:
        raise PsiError(f"{name} tags must be an (n, 2) uint64 array, got {tags.dtype} {tags.shape}")


def rows_by_group(inverse: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (rows, offsets): the rows whose group is ``groups[k]`` at rows[offsets[k]:offsets[k+1]].

    ``inverse[r]`` is the group (distinct key index) of row r. Rows of one group
    come in increasing order; groups come in the order given.
    """
    rank_of_group = np.full(int(inverse.max()) + 1 if len(inverse) else 0, -1, dtype=np.int64)
    rank_of_group[groups] = np.arange(len(groups), dtype=np.int64)
    row_rank = rank_of_group[inverse] if len(inverse) else np.zeros(0, np.int64)
    selected = np.flatnonzero(row_rank >= 0)
    ranks = row_rank[selected]
    order = np.argsort(ranks, kind="stable")
    rows = selected[order].astype(np.int64)
    counts = np.bincount(ranks, minlength=len(groups))
    offsets = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return rows, offsets
