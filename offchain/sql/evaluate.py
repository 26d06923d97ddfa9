"""Expressions on secret rows: values with NULL flags, and conditions in three-valued logic.

A :class:`Value` is a secret (or public) column with an optional secret
NULL flag and its SQL type; integers, booleans, dates and timestamps are
ring integers, ``DECIMAL(s)`` the unscaled integer, doubles fixed point. A
:class:`Truth` is a condition as two secret 0/1 columns, "is TRUE" and "is
FALSE" (both 0 means UNKNOWN), so that NOT, AND, OR and WHERE follow SQL:

* comparison: ``T = notnull * c``, ``F = notnull - T`` (``c`` from the
  engine's comparison, ``notnull`` from the operands' NULL flags);
* ``NOT``: swap; ``AND``: ``T = T1 T2``, ``F = F1 + F2 - F1 F2``; ``OR``: dual;
* ``IS NULL``: ``T = null``, ``F = 1 - null``.

Arithmetic aligns operands first (decimal scales by exact multiplication
with a power of ten, anything with a double in fixed point) and propagates
NULL as ``n1 + n2 - n1 n2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from offchain.errors import InputError, UnsupportedQuery
from offchain.mpc import compare
from offchain.mpc.shares import ArithmeticShare, FixedPointShare
from offchain.sql import ir
from offchain.sql.compiled import LocalPredicate
from offchain.sql.types import DOUBLE, SqlType, encode_integer_literal

Lookup = Callable[[ir.Expr], "Value | Truth | None"]


@dataclass
class Value:
    """A column (or a public constant) in MPC with its NULL flag and SQL type."""

    data: ArithmeticShare | np.ndarray | float | int
    null: ArithmeticShare | None
    type: SqlType

    @property
    def public(self) -> bool:
        return not isinstance(self.data, ArithmeticShare)


@dataclass
class Truth:
    """A condition: secret (or public) 0/1 columns for "is TRUE" and "is FALSE"."""

    true: ArithmeticShare | int
    false: ArithmeticShare | int


def _or_null(a: ArithmeticShare | None, b: ArithmeticShare | None) -> ArithmeticShare | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b - a * b


def _mul(a, b):
    """Multiply shares or public values (ints stay exact; one round when both are shares)."""
    if isinstance(a, ArithmeticShare) and isinstance(b, ArithmeticShare):
        return a * b
    if isinstance(a, ArithmeticShare):
        return a.mul_public(b) if not (isinstance(b, int) and b in (0, 1)) else (a if b else a * 0)
    if isinstance(b, ArithmeticShare):
        return _mul(b, a)
    return a * b


def literal_value(literal: ir.Literal) -> Value:
    """Return a constant of the query as a public value in its carrying encoding."""
    ltype = literal.type
    if literal.value is None:
        return Value(0, None, SqlType("int"))
    if ltype.kind == "float":
        return Value(float(literal.value), None, ltype)
    if ltype.kind == "text":
        raise UnsupportedQuery("text constants in MPC expressions", literal.position.line,
                               literal.position.column)
    return Value(encode_integer_literal(literal.value, ltype), None, ltype)


DECIMAL_CONVERSION_BITS = 24


def to_fixed(value: Value) -> Value:
    """Return ``value`` as a double (fixed point for shares).

    A decimal ``v = u / 10**s`` becomes ``u * c >> K`` with the public
    ``c = round(2**(f + K) / 10**s)`` chosen to have 24 significant bits:
    relative error below 6e-8, for ``|u| < 2**37`` (one truncation).
    """
    if value.type.is_float:
        return value
    scale = value.type.scale if value.type.kind == "decimal" else 0
    if value.public:
        return Value(float(Decimal(int(value.data)) / (Decimal(10) ** scale)), value.null, DOUBLE)
    if not scale:
        return Value(value.data.to_fixed(), value.null, DOUBLE)
    from offchain.mpc.truncation import truncate

    runtime = value.data.runtime
    f = runtime.fractional_bits
    extra = max(0, DECIMAL_CONVERSION_BITS - f + math.ceil(scale * math.log2(10)))
    factor = round(Decimal(2) ** (f + extra) / (Decimal(10) ** scale))
    scaled = ArithmeticShare(runtime, value.data.components).mul_public(int(factor))
    fixed = truncate(scaled, extra) if extra else scaled
    return Value(FixedPointShare(runtime, fixed.components, f), value.null, DOUBLE)


def rescale(value: Value, scale: int) -> Value:
    """Return an integer or decimal ``value`` as DECIMAL(``scale``) (exact)."""
    current = value.type.scale if value.type.kind == "decimal" else 0
    if scale < current:
        raise InputError(f"cannot lower a decimal scale from {current} to {scale}")
    factor = 10 ** (scale - current)
    data = value.data * factor if value.public else value.data.mul_public(factor)
    return Value(data, value.null, SqlType("decimal", scale) if scale else value.type)


def align(left: Value, right: Value) -> tuple[Value, Value]:
    """Bring two numeric values to one representation for adding or comparing."""
    if left.type.is_float or right.type.is_float:
        return to_fixed(left), to_fixed(right)
    if left.type.kind == "decimal" or right.type.kind == "decimal":
        scale = max(v.type.scale if v.type.kind == "decimal" else 0 for v in (left, right))
        return rescale(left, scale), rescale(right, scale)
    return left, right


class Evaluator:
    """Evaluates expressions on secret rows (or groups); ``lookup`` resolves leaves."""

    def __init__(self, runtime, lookup: Lookup, length: int, wide_division: bool = False) -> None:
        self.runtime = runtime
        self.lookup = lookup
        self.length = length
        self.wide_division = wide_division  # group values: divide over the whole ring

    # values -------------------------------------------------------------------------

    def value(self, expr: ir.Expr) -> Value:
        found = self.lookup(expr)
        if found is not None:
            if not isinstance(found, Value):
                raise InputError(f"{ir.render(expr)} is a condition, not a value")
            return found
        if isinstance(expr, ir.Literal):
            return literal_value(expr)
        if isinstance(expr, ir.Negate):
            inner = self.value(expr.operand)
            return Value(-inner.data, inner.null, inner.type)
        if isinstance(expr, ir.Arithmetic):
            return self.arithmetic(expr)
        raise InputError(f"cannot evaluate {ir.render(expr)} in MPC")

    def arithmetic(self, expr: ir.Arithmetic) -> Value:
        left, right = self.value(expr.left), self.value(expr.right)
        null = _or_null(left.null, right.null)
        if expr.operator in "+-":
            left, right = align(left, right)
            data = left.data + right.data if expr.operator == "+" else left.data - right.data
            return Value(data, null, expr.type)
        if expr.operator == "*":
            if expr.type.is_float:
                left, right = to_fixed(left), to_fixed(right)
            return Value(_mul(left.data, right.data), null, expr.type)
        # "/": a double; DuckDB returns NULL when dividing by zero.
        from offchain.sql.numeric import divide_values

        return divide_values(self.runtime, to_fixed(left), to_fixed(right), null,
                             self.wide_division)

    # conditions ---------------------------------------------------------------------

    def truth(self, expr: ir.Expr) -> Truth:
        found = self.lookup(expr)
        if found is not None:
            if not isinstance(found, Truth):
                raise InputError(f"{ir.render(expr)} is a value, not a condition")
            return found
        if isinstance(expr, ir.Not):
            inner = self.truth(expr.operand)
            return Truth(inner.false, inner.true)
        if isinstance(expr, ir.Logical):
            result = self.truth(expr.operands[0])
            for operand in expr.operands[1:]:
                other = self.truth(operand)
                if expr.operator == "AND":
                    result = Truth(_mul(result.true, other.true),
                                   _bool_or(result.false, other.false))
                else:
                    result = Truth(_bool_or(result.true, other.true),
                                   _mul(result.false, other.false))
            return result
        if isinstance(expr, ir.IsNull):
            operand = self.value(expr.operand)
            null = operand.null if operand.null is not None else 0
            true, false = null, 1 - null
            return Truth(false, true) if expr.negated else Truth(true, false)
        if isinstance(expr, ir.Comparison):
            left, right = self.value(expr.left), self.value(expr.right)
            return self.compared(self.compare(expr.operator, left, right),
                                 _or_null(left.null, right.null))
        if isinstance(expr, ir.Between):
            operand = self.value(expr.operand)
            low, high = self.value(expr.low), self.value(expr.high)
            above = self.compare(">=", operand, low)
            below = self.compare("<=", operand, high)
            inside = _mul(above, below)
            if expr.negated:
                inside = 1 - inside
            return self.compared(inside, _or_null(operand.null, _or_null(low.null, high.null)))
        if isinstance(expr, ir.InList):
            operand = self.value(expr.operand)
            values = {v.value: v for v in expr.values}.values()
            hits = [self.compare("=", operand, self.value(v)) for v in values]
            found_any = hits[0]
            for hit in hits[1:]:
                found_any = found_any + hit  # distinct constants: at most one hit
            if expr.negated:
                found_any = 1 - found_any
            return self.compared(found_any, operand.null)
        if isinstance(expr, LocalPredicate):
            raise InputError(f"local condition {expr.text} of table {expr.table} is not available")
        raise InputError(f"cannot evaluate condition {ir.render(expr)} in MPC")

    def compare(self, operator: str, left: Value, right: Value):
        """Return 0/1 (secret) of ``left operator right`` ignoring NULLs."""
        left, right = align(left, right)
        a, b = left.data, right.data
        if not isinstance(a, ArithmeticShare):
            a, b = b, a
            operator = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}[operator]
        if not isinstance(a, ArithmeticShare):
            raise InputError("a comparison of two constants")
        if operator == "=":
            return compare.equal(a, b)
        if operator == "<>":
            return 1 - compare.equal(a, b)
        if operator == "<":
            return compare.less_than(a, b)
        if operator == "<=":
            return compare.less_equal(a, b)
        if operator == ">":
            return compare.greater_than(a, b)
        return compare.greater_equal(a, b)

    @staticmethod
    def compared(result, null: ArithmeticShare | None) -> Truth:
        if null is None:
            return Truth(result, 1 - result)
        present = 1 - null
        true = _mul(present, result)
        return Truth(true, present - true)


def _bool_or(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a | b
    if isinstance(a, int):
        return b if a == 0 else a + 0 * b
    if isinstance(b, int):
        return a if b == 0 else b + 0 * a
    return a + b - a * b


def truth_bit(truth: Truth, length: int, runtime) -> ArithmeticShare:
    """Return the "is TRUE" column as a share of ``length`` rows."""
    from offchain.mpc.sharing import share_public

    if isinstance(truth.true, ArithmeticShare):
        return truth.true
    return share_public(runtime, np.full(length, int(truth.true), dtype=np.int64))
