"""How a script's outputs expose the columns they derive from, as column constraint levels.

Every secret value carries a *taint*: for each input column it depends on,
how it depends on it — one or more **exposures**, each with the place in
the source where it arose. Revealing an output reveals its taint, which
becomes the job's declared column uses (SecretFlow SCQL's CCL derivation,
adapted to array programs):

=============  ==================================  ==============================
exposure       arises from                          level required to reveal it
=============  ==================================  ==============================
``RAW``        the column itself, any elementwise   ``PLAINTEXT``
               arithmetic, slicing, indexing
``COMPARED``   a comparison (``<``, ``==``, ...),   ``PLAINTEXT_AFTER_COMPARE``
               ``sign``, the condition of ``where``
``AGGREGATED`` a reduction over rows (``sum``,      ``PLAINTEXT_AFTER_AGGREGATE``
               ``mean``, ``min``, ``max``, ``dot``,
               ``count``, ``var``...)
(none)         read, but reaching no output         ``ENCRYPTED_ONLY``
=============  ==================================  ==============================

Rules: elementwise operations keep each operand's exposures; a comparison
turns ``RAW`` into ``COMPARED`` (a compared column stays compared); a
reduction turns ``RAW`` into ``AGGREGATED`` — but only when it reduces at
least :data:`MIN_AGGREGATE_ROWS` rows that are *whole*: no slicing or
indexing, and no elementwise product with a public or requester-chosen
array that differs between rows (``sum(x * [0, 0, 1, 0, ...])`` is ``x[2]``
and stays ``RAW``). A value depending on one column in several ways
requires several levels, and only ``PLAINTEXT`` grants permit more than one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from offchain.vocabulary import ConstraintLevel

MIN_AGGREGATE_ROWS = 5

Location = tuple[int | None, int | None]


class Exposure(Enum):
    """How a value depends on a column (see the module docstring)."""

    RAW = "raw"
    COMPARED = "compared"
    AGGREGATED = "aggregated"

    @property
    def level(self) -> ConstraintLevel:
        return {
            Exposure.RAW: ConstraintLevel.PLAINTEXT,
            Exposure.COMPARED: ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
            Exposure.AGGREGATED: ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE,
        }[self]

    @property
    def meaning(self) -> str:
        return {
            Exposure.RAW: "reveals values of the column row by row",
            Exposure.COMPARED: "reveals results of comparisons of the column",
            Exposure.AGGREGATED: "reveals aggregates of the column",
        }[self]


Column = tuple[int, str]  # (input index, column name)


@dataclass(frozen=True)
class Taint:
    """Column → exposure → where it arose. Immutable; operations return new taints."""

    entries: tuple[tuple[Column, Exposure, Location], ...] = ()

    @classmethod
    def column(cls, column: Column, where: Location) -> Taint:
        return cls(((column, Exposure.RAW, where),))

    @classmethod
    def union(cls, taints: Iterable[Taint]) -> Taint:
        merged: dict[tuple[Column, Exposure], Location] = {}
        for taint in taints:
            for column, exposure, where in taint.entries:
                merged.setdefault((column, exposure), where)
        return cls(tuple((c, e, w) for (c, e), w in sorted(merged.items(), key=_order)))

    def _mapped(self, mapping: Mapping[Exposure, Exposure], where: Location) -> Taint:
        merged: dict[tuple[Column, Exposure], Location] = {}
        for column, exposure, origin in self.entries:
            target = mapping.get(exposure, exposure)
            merged.setdefault((column, target), where if target is not exposure else origin)
        return Taint(tuple((c, e, w) for (c, e), w in sorted(merged.items(), key=_order)))

    def compared(self, where: Location) -> Taint:
        """The taint of a comparison of this value."""
        return self._mapped({Exposure.RAW: Exposure.COMPARED}, where)

    def aggregated(self, where: Location) -> Taint:
        """The taint of a reduction over whole rows of this value."""
        return self._mapped({Exposure.RAW: Exposure.AGGREGATED}, where)

    @property
    def columns(self) -> set[Column]:
        return {column for column, _, _ in self.entries}

    def __bool__(self) -> bool:
        return bool(self.entries)


def _order(item: tuple[tuple[Column, Exposure], Location]) -> tuple:
    (column, exposure), _ = item
    return (column[0], column[1], list(Exposure).index(exposure))
