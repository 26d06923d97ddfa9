"""Public ranges of secret values, and the engine's limits they must respect.

The compiler knows a closed interval ``[low, high]`` (real units) for every
secret value: inputs are clipped by their owners to their declared bounds,
and every operation maps intervals to intervals. Where an interval could
break a contract of the engine (:mod:`offchain.mpc`, docs/MPC.md) the
compiler refuses the script at that operation, naming the ranges — a
script never overflows silently.

Limits at ``f`` fractional bits (f = 16 by default):

=============================  ==========================================
every fixed-point value        ``|v| < 2**(61-f)``  (3.5e13), so that any
                               difference of two values fits a comparison
every integer value            ``|v| < 2**61``
fixed × fixed (and dot)        ``|x·y| < 2**(62-2f)`` (1.07e9), summed for dot
division x / y                 ``|x| < 2**(61-2f)``, ``0 < min|y|``,
                               ``|x| / min|y| < 2**(62-2f)``
exp                            ``x ≤ (61-2f)·ln 2`` (20.1): above, it saturates
sqrt / log                     ``0 ≤ x`` / ``0 < x``, below ``2**(61-f)``
=============================  ==========================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """The engine's magnitude limits at ``fractional_bits``."""

    fractional_bits: int

    @property
    def fixed_value(self) -> float:
        return float(2 ** (61 - self.fractional_bits))

    @property
    def integer_value(self) -> float:
        return float(2**61)

    @property
    def fixed_product(self) -> float:
        return float(2 ** (62 - 2 * self.fractional_bits))

    @property
    def dividend(self) -> float:
        return float(2 ** (61 - 2 * self.fractional_bits))

    @property
    def exp_input(self) -> float:
        return (61 - 2 * self.fractional_bits) * math.log(2)

    def value(self, kind: str) -> float:
        """The magnitude every value of ``kind`` (``int``, ``fixed``, ``bool``) stays below."""
        return self.fixed_value if kind == "fixed" else self.integer_value


@dataclass(frozen=True)
class Interval:
    """A closed interval of reals (``low <= high``)."""

    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Interval:
        items = list(values)
        return cls(min(items), max(items))

    @property
    def magnitude(self) -> float:
        """The largest ``|v|`` in the interval."""
        return max(abs(self.low), abs(self.high))

    @property
    def smallest_magnitude(self) -> float:
        """The smallest ``|v|`` in the interval (0 when it contains 0)."""
        if self.low <= 0 <= self.high:
            return 0.0
        return min(abs(self.low), abs(self.high))

    def contains_zero(self) -> bool:
        return self.low <= 0 <= self.high

    def __add__(self, other: Interval) -> Interval:
        return Interval(self.low + other.low, self.high + other.high)

    def __sub__(self, other: Interval) -> Interval:
        return Interval(self.low - other.high, self.high - other.low)

    def __neg__(self) -> Interval:
        return Interval(-self.high, -self.low)

    def __mul__(self, other: Interval) -> Interval:
        products = [a * b for a in (self.low, self.high) for b in (other.low, other.high)]
        return Interval.of(0.0 if math.isnan(p) else p for p in products)

    def scaled(self, factor: float) -> Interval:
        return Interval.of((self.low * factor, self.high * factor))

    def hull(self, other: Interval) -> Interval:
        return Interval(min(self.low, other.low), max(self.high, other.high))

    def minimum(self, other: Interval) -> Interval:
        return Interval(min(self.low, other.low), min(self.high, other.high))

    def maximum(self, other: Interval) -> Interval:
        return Interval(max(self.low, other.low), max(self.high, other.high))

    def absolute(self) -> Interval:
        return Interval(self.smallest_magnitude, self.magnitude)

    def reciprocal(self) -> Interval:
        """``1/y`` over an interval that does not contain 0."""
        return Interval.of((1.0 / self.low, 1.0 / self.high))

    def describe(self) -> str:
        return f"[{_number(self.low)}, {_number(self.high)}]"


BOOLEAN = Interval(0.0, 1.0)


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def describe_number(value: float) -> str:
    """A number as messages print it (integers without a point, others with 6 digits)."""
    return _number(value)
