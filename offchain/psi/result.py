"""What a PSI run returns to a member."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class Reveal(enum.Enum):
    """What the receivers of a PSI learn beyond the set sizes."""

    INTERSECTION = 1
    """Which of their own keys (and rows) are common, in an order common to both sides."""
    CARDINALITY = 2
    """Only the number of distinct common keys."""


@dataclass(frozen=True)
class PsiResult:
    """One member's output of a PSI run.

    Sizes count distinct keys: duplicates are removed before the protocol,
    so the peer learns neither multiplicities nor how many rows a key has.

    When this member received the intersection, ``rows`` and ``row_offsets``
    form a CSR index over the common keys in the common order (rank): the
    local rows holding the k-th common key are
    ``rows[row_offsets[k]:row_offsets[k + 1]]``, increasing. The peer's rank k
    is the same key, so an inner join pairs every local row of rank k with
    every peer row of rank k. ``first_rows[k]`` is the first local row of
    rank k (enough for joins on unique keys), and ``intersection[k]`` its key.
    """

    own_size: int
    peer_size: int
    cardinality: int | None = None
    intersection: list | np.ndarray | None = None
    first_rows: np.ndarray | None = None
    rows: np.ndarray | None = None
    row_offsets: np.ndarray | None = None
    stats: dict = field(default_factory=dict, compare=False)

    @property
    def received(self) -> bool:
        """Whether this member learned anything beyond the sizes."""
        return self.cardinality is not None

    def rows_of(self, rank: int) -> np.ndarray:
        """Return the local rows holding the common key of the given rank."""
        if self.rows is None:
            raise ValueError("this member did not receive the intersection")
        return self.rows[self.row_offsets[rank] : self.row_offsets[rank + 1]]

    def row_mask(self, row_count: int) -> np.ndarray:
        """Return a boolean array over the local rows: True where the key is common."""
        if self.rows is None:
            raise ValueError("this member did not receive the intersection")
        mask = np.zeros(row_count, dtype=bool)
        mask[self.rows] = True
        return mask


def select_values(values, rows: np.ndarray):
    """Return ``values`` at ``rows``: a numpy slice for arrays, a list otherwise."""
    if isinstance(values, np.ndarray):
        return values[rows]
    if not hasattr(values, "__getitem__"):
        values = list(values)
    return [values[i] for i in rows.tolist()]
