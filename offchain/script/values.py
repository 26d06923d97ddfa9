"""What a script's names hold while it is compiled: public values and secret registers.

* :class:`Public` — a value everyone knows at compile time (literals, loop
  indices, lengths, constants derived from them): a numpy scalar or vector
  of kind ``int``, ``fixed`` (a real) or ``bool``. Public arithmetic is
  folded by the compiler, with overflow checks.
* :class:`Secret` — a register of the circuit, holding shares at run time,
  with what the compiler knows of it: kind, shape, the interval of its
  values, the rows it ranges over, and its taint (:mod:`.policy`).

Kinds: ``int`` (integers mod 2**64, signed), ``fixed`` (fixed point with
the engine's fractional bits), ``bool`` (an integer sharing of 0/1, as
comparisons return). ``bool`` joins ``int`` in arithmetic; ``int`` joins
``fixed`` (the integer is promoted, locally).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offchain.script.policy import Taint
from offchain.script.ranges import Interval

KINDS = ("int", "fixed", "bool")


def join(*kinds: str) -> str:
    """The kind of an arithmetic result of operands of ``kinds``."""
    return "fixed" if "fixed" in kinds else "int"


@dataclass(frozen=True)
class Public:
    """A compile-time value: a 0-d or 1-d numpy array of int64, float64 or bool."""

    value: np.ndarray
    kind: str

    @classmethod
    def of(cls, value: object) -> Public:
        array = np.asarray(value)
        if array.dtype.kind == "b":
            return cls(array.astype(bool), "bool")
        if array.dtype.kind in "iu":
            return cls(array.astype(np.int64), "int")
        return cls(array.astype(np.float64), "fixed")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def interval(self) -> Interval:
        if self.value.size == 0:
            return Interval(0.0, 0.0)
        return Interval(float(np.min(self.value)), float(np.max(self.value)))

    @property
    def uniform(self) -> bool:
        """Whether every element is the same (a public vector that does not single out rows)."""
        return self.value.ndim == 0 or self.value.size == 0 or bool(
            np.all(self.value == self.value.reshape(-1)[0])
        )

    def scalar(self) -> int | float | bool:
        return self.value.item()


@dataclass(frozen=True)
class Secret:
    """A register of the circuit and what the compiler knows about its values."""

    register: int
    kind: str
    shape: tuple[int, ...]
    interval: Interval
    rows: str | None  # the row space of a vector ("input0", "requester:w", ...), None for scalars
    whole: bool  # covers all rows of its row space, unselected (see .policy)
    taint: Taint


Value = Public | Secret
