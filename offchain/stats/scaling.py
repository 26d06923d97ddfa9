"""Public range analysis: how column values become ring integers, and the scales that keep them in range.

Everything here is a function of public information only — the column
type, the bound declared in the program text (or its default), the number
of inputs and their registered row counts — so the requester, every owner
and every compute node derive the same scales from the same program text.

**Value domain.** Each value ``x`` of the aggregated column is read at its
owner as an integer ``u``:

=============  =========================================  ====================
column type    ``u``                                      exact?
=============  =========================================  ====================
int64          ``x``                                      yes
decimal(p,s)   ``x * 10**s`` (the unscaled integer)       yes
float64        ``round(x * 2**Fx)``, ``Fx`` from the      to ``2**-(Fx+1)``
               bound and the row counts (below)
=============  =========================================  ====================

**Bound.** Sums, means, variances, minima and maxima need ``|x| <= bound``
(default ``min(10**(p-s), 1e9)`` for decimals and ``1e9`` otherwise; declare
another in the program text). A value outside it, or a float NaN or
infinity, is not used; the owner counts it and the MPC withholds the
result with the status "out of range" — never a wrapped-around number.
``Bu`` is the bound in the ``u`` domain.

**Scales** (``N`` = the datasets' registered rows in total, at most 2**30):

* sum: exact, ``|S| <= N * Bu``;
* mean: ``round((S + n*Bu) * 2**F / n) - Bu * 2**F`` by exact long division,
  ``F`` the largest of 0..30 with ``N * (Bu * 2**(F+2) + 1) < 2**63`` and
  ``2N * 2**q <= 2**63`` for the ``q`` quotient bits (the contract of
  :func:`offchain.stats.exact.divide_floor`); error at most half a unit of
  ``2**-F``. A bound for which even ``F = 0`` does not fit is refused: with
  ``N = 10**7`` rows, amounts in cents up to 1.37e9 fit;
* variance: in units of ``2**-Gv`` with ``Gv = 2 * Gm``, ``Gm`` the largest
  integer (possibly negative) with ``Bu * 2**Gm < 2**29``, so every variance
  is below ``2**58``; owner means are shared with ``Gm + 30`` fractional bits
  (below ``2**59``), so their differences split into two 30-bit limbs whose
  products stay below ``2**61``; weights ``n_j / n`` with ``W = 30`` bits. The
  error bound is stated in :mod:`offchain.stats.secure`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from offchain.data.schema import decimal_scale
from offchain.errors import InputError

NUMERIC_TYPES = ("int64", "float64")
MAX_TOTAL_ROWS = 2**30
DEFAULT_BOUND = 10**9
WEIGHT_BITS = 30
OWNER_MEAN_EXTRA_BITS = 30
MAX_MEAN_BITS = 30
MAX_FLOAT_BITS = 24
DIVISION_LIMIT = 2**63  # numerators and divisor * 2**quotient_bits (see exact.divide_floor)


def is_numeric(column_type: str) -> bool:
    """Return whether statistics other than ``count`` apply to ``column_type``."""
    return column_type in NUMERIC_TYPES or decimal_scale(column_type) is not None


def exact_number(value: object, what: str) -> Fraction:
    """Return a JSON number exactly as written (floats through their shortest repr)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{what} must be a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"{what} must be finite, got {value!r}")
        return Fraction(Decimal(repr(value)))
    return Fraction(value)


@dataclass(frozen=True)
class ValueDomain:
    """How values of one column map to integers ``u`` and back.

    ``unit`` is the value of ``u = 1`` in column units: ``10**-s`` for
    decimals, 1 for int64, ``2**-Fx`` for float64.
    """

    column_type: str
    unit: Fraction

    @property
    def is_float(self) -> bool:
        return self.column_type == "float64"

    @property
    def float_bits(self) -> int:
        """``Fx``: fractional bits floats are quantised to (0 for exact types)."""
        return int(math.log2(1 / self.unit)) if self.is_float else 0

    def u_floor(self, value: Fraction) -> int:
        """Return the largest ``u`` with ``u * unit <= value``."""
        return math.floor(value / self.unit)

    def u_ceil(self, value: Fraction) -> int:
        """Return the smallest ``u`` with ``u * unit >= value``."""
        return math.ceil(value / self.unit)

    def to_value(self, u: int | Fraction) -> Decimal | int | float:
        """Return ``u`` in column units: ``Decimal`` for decimals, ``int`` for int64, float."""
        if self.column_type == "int64" and isinstance(u, int):
            return u
        if decimal_scale(self.column_type) is not None and isinstance(u, int):
            return Decimal(u).scaleb(-decimal_scale(self.column_type))
        return float(Fraction(u) * self.unit)


@dataclass(frozen=True)
class Scales:
    """The public scales of one statistics job (see the module docstring)."""

    domain: ValueDomain
    bound: Fraction  # in column units
    bound_u: int  # Bu
    total_rows: int  # N
    mean_bits: int  # F
    mean_quotient_bits: int
    mean_divisor_bound: int
    half_variance_bits: int  # Gm
    weight_bits: int = WEIGHT_BITS

    @property
    def variance_bits(self) -> int:
        """``Gv = 2 * Gm``: fractional bits of variances in the ``u`` domain."""
        return 2 * self.half_variance_bits

    @property
    def owner_mean_bits(self) -> int:
        """``Gm + 30``: fractional bits of the owner means shared for the variance."""
        return self.half_variance_bits + OWNER_MEAN_EXTRA_BITS

    @property
    def sentinel(self) -> int:
        """``Bu + 1``: the minimum an owner without values reports (and minus it for the maximum)."""
        return self.bound_u + 1


def value_domain(column_type: str, bound: Fraction, total_rows: int) -> ValueDomain:
    """Return the value domain of ``column_type`` for a job over ``total_rows`` rows."""
    scale = decimal_scale(column_type)
    if scale is not None:
        return ValueDomain(column_type, Fraction(1, 10**scale))
    if column_type == "int64":
        return ValueDomain(column_type, Fraction(1))
    if column_type != "float64":
        raise InputError(f"column type {column_type} has no numeric value domain")
    for bits in range(MAX_FLOAT_BITS, -1, -1):
        bound_u = math.floor(bound * 2**bits)
        if _mean_fits(total_rows, bound_u, 0):
            return ValueDomain(column_type, Fraction(1, 2**bits))
    raise InputError(
        f"float column: a bound of {float(bound):g} over {total_rows} rows leaves no room to sum "
        f"exactly in 64 bits even without fractional bits; declare a bound of at most "
        f"{largest_bound_u(total_rows):g}"
    )


def default_bound(column_type: str) -> Fraction:
    """Return the bound used when the program text declares none."""
    scale = decimal_scale(column_type)
    if scale is not None:
        precision = int(column_type[len("decimal(") :].split(",")[0])
        return Fraction(min(10 ** (precision - scale), DEFAULT_BOUND))
    return Fraction(DEFAULT_BOUND)


def _mean_fits(total_rows: int, bound_u: int, bits: int) -> bool:
    """Whether the rounded mean with ``bits`` fractional bits is an in-range long division."""
    numerator = total_rows * (bound_u * 2 ** (bits + 2) + 1)
    quotient_bits = (bound_u * 2 ** (bits + 1)).bit_length()
    return numerator < DIVISION_LIMIT and 2 * total_rows * 2**quotient_bits <= DIVISION_LIMIT


def largest_bound_u(total_rows: int) -> int:
    """Return the largest ``Bu`` whose mean and sum fit for ``total_rows`` rows."""
    low, high = 1, DIVISION_LIMIT
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if _mean_fits(total_rows, middle, 0) else (low, middle - 1)
    return low


def plan_scales(column_type: str, bound: Fraction, total_rows: int) -> Scales:
    """Return the scales for a column of ``column_type`` bounded by ``bound`` over ``total_rows`` rows.

    Refuses, with the largest workable bound in the message, a bound whose
    sums would not fit the ring exactly.
    """
    if not 0 <= total_rows <= MAX_TOTAL_ROWS:
        raise InputError(
            f"the inputs register {total_rows} rows in total; statistics support at most "
            f"{MAX_TOTAL_ROWS} (2**30)"
        )
    if bound <= 0:
        raise InputError(f"bound must be positive, got {float(bound):g}")
    rows = max(total_rows, 1)
    domain = value_domain(column_type, bound, rows)
    bound_u = domain.u_floor(bound)
    if bound_u < 1:
        raise InputError(
            f"bound {float(bound):g} is smaller than the column's unit {float(domain.unit):g}"
        )
    if not _mean_fits(rows, bound_u, 0):
        largest = largest_bound_u(rows) * domain.unit
        raise InputError(
            f"bound {float(bound):g} over {rows} registered rows does not fit 64-bit exact sums "
            f"and means (about rows * bound * 4 < 2**63 in units of {float(domain.unit):g}); "
            f"declare a bound of at most {float(largest):g}"
        )
    mean_bits = max(b for b in range(MAX_MEAN_BITS + 1) if _mean_fits(rows, bound_u, b))
    quotient_bits = (bound_u * 2 ** (mean_bits + 1)).bit_length()
    return Scales(
        domain=domain,
        bound=bound,
        bound_u=bound_u,
        total_rows=rows,
        mean_bits=mean_bits,
        mean_quotient_bits=quotient_bits,
        mean_divisor_bound=2 * rows,
        half_variance_bits=29 - bound_u.bit_length(),
    )


def edges_to_u(domain: ValueDomain, edges: list[Fraction]) -> list[int | float]:
    """Return half-open bin starts ``[e0, e1, ..., e_m]`` in the ``u`` domain of ``domain``.

    Bins are ``[e_i, e_{i+1})`` except that the last includes ``e_m`` (numpy's
    ``histogram``); in the returned list the final entry is the exclusive end
    of the last bin. Exact for int64 and decimal columns (``u >= e`` iff
    ``u >= ceil(e / unit)``); float columns compare raw doubles, so the edges
    stay floats and the final end moves to the next double above ``e_m``.
    """
    if domain.is_float:
        floats = [float(e) for e in edges]
        return floats[:-1] + [math.nextafter(floats[-1], math.inf)]
    starts: list[int | float] = [domain.u_ceil(e) for e in edges[:-1]]
    return starts + [domain.u_floor(edges[-1]) + 1]
