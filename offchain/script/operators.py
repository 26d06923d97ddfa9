"""Operators of the script language: arithmetic, division, powers, logic, comparisons, indexing.

Each method takes compile-time values (:mod:`.values`), folds them when
all are public, and otherwise emits the secret operation with its kind,
shape, interval and taint — refusing, at the source position, whatever
would break the engine's contracts (:mod:`.ranges`).
"""

from __future__ import annotations

import ast
import math
from dataclasses import replace
from typing import Any

import numpy as np

from offchain.script.builder import KIND_NAMES, Builder
from offchain.script.policy import Taint
from offchain.script.ranges import BOOLEAN, Interval, describe_number
from offchain.script.syntax import location
from offchain.script.values import Public, Secret, Value, join

MAX_POWER = 8


class Operators(Builder):
    """The language's operators on top of :class:`~offchain.script.builder.Builder`."""

    # -- arithmetic -----------------------------------------------------------------------

    def arithmetic(self, node: ast.AST, operator: str, left: Value, right: Value) -> Value:
        if isinstance(left, Public) and isinstance(right, Public):
            return self.fold_arithmetic(node, operator, left, right)
        if operator in ("//", "%"):
            raise self.fail(node, f"{operator} works on public values only; for secret values "
                                  "use / and comparisons")
        if operator == "**":
            return self.power(node, left, right)
        if operator == "/":
            return self.divide(node, left, right)
        kind = join(left.kind, right.kind)
        if operator in ("+", "-"):
            left_value, right_value = (self.convert(node, v, kind) for v in (left, right))
            interval = (left.interval + right.interval if operator == "+"
                        else left.interval - right.interval)
            return self.elementwise(node, "add" if operator == "+" else "subtract",
                                    (left_value, right_value), kind, interval)
        return self.multiply(node, left, right)

    def convert(self, node: ast.AST, value: Value, kind: str) -> Value:
        if isinstance(value, Public):
            return self.public_as(node, value, kind) if kind == "fixed" else self.public_as(node, value, "int")
        return self.secret(node, value, kind)

    def fold_arithmetic(self, node: ast.AST, operator: str, left: Public, right: Public) -> Public:
        a, b = left.value, right.value
        if left.kind == "bool":
            a = a.astype(np.int64)
        if right.kind == "bool":
            b = b.astype(np.int64)
        if operator == "**":
            if right.kind != "int" or right.shape != () or not 0 <= int(b) <= 64:
                raise self.fail(node, "public ** needs an integer exponent 0..64")
            if left.kind != "fixed" and left.interval.magnitude ** int(b) >= 2**62:
                raise self.fail(node, "public integer overflow (beyond ±2**62)")
            return self.fold(node, lambda: np.power(a.astype(np.float64) if left.kind == "fixed"
                                                    else a, int(b)), left, right)
        if operator in ("//", "%", "/") and np.any(b == 0):
            raise self.fail(node, "division by zero")
        if "fixed" not in (left.kind, right.kind) and operator in ("+", "-", "*"):
            bound = {"+": lambda: left.interval.magnitude + right.interval.magnitude,
                     "-": lambda: left.interval.magnitude + right.interval.magnitude,
                     "*": lambda: left.interval.magnitude * right.interval.magnitude}[operator]()
            if bound >= 2**62:
                raise self.fail(node, "public integer overflow (beyond ±2**62)")
        if operator == "/":
            return self.fold(node, lambda: np.true_divide(a, b), left, right)
        function = {"+": np.add, "-": np.subtract, "*": np.multiply, "//": np.floor_divide,
                    "%": np.mod}[operator]
        return self.fold(node, lambda: function(a, b), left, right)

    def multiply(self, node: ast.AST, left: Value, right: Value) -> Secret:
        kind = join(left.kind, right.kind)
        interval = left.interval * right.interval
        if isinstance(left, Public):
            left, right = right, left
        if isinstance(right, Public):
            return self.scale(node, left, right, interval)
        if left.kind == "fixed" and right.kind == "fixed":
            limit = self.limits.fixed_product
            if interval.magnitude >= limit:
                raise self.fail(node, f"this product of fixed-point values may reach "
                                      f"{describe_number(interval.magnitude)} (factors in "
                                      f"{left.interval.describe()} and {right.interval.describe()}); "
                                      f"the engine multiplies reals below {describe_number(limit)}: "
                                      "declare tighter bounds or scale a factor down first")
        truncated = left.kind == "fixed" and right.kind == "fixed"
        return self.elementwise(node, "multiply", (left, right), kind, interval,
                                parameters={"truncated": truncated})

    def scale(self, node: ast.AST, secret: Secret, public: Public, interval: Interval) -> Secret:
        """``secret * public``: exact for integers; precise two-limb scaling for reals."""
        integral = public.kind != "fixed" or bool(np.all(np.floor(public.value) == public.value))
        if integral and public.interval.magnitude < 2**31:
            constant = public.value.astype(np.int64)
            return self.elementwise(node, "multiply_public", (secret, Public(constant, "int")),
                                    secret.kind if secret.kind != "bool" else "int", interval)
        fixed = self.secret(node, secret, "fixed")
        return self.emit_scale(node, fixed, public.value.astype(np.float64), interval)

    def emit_scale(self, node: ast.AST, fixed: Secret, constants: np.ndarray,
                   interval: Interval, taint: Taint | None = None) -> Secret:
        """Multiply a fixed-point secret by public reals, with the parameters every party uses.

        ``pre_shift`` keeps ``|x| / 2**pre_shift < 2**(61-2f)`` for the two-limb
        product; ``exponent`` makes the constants ``c * 2**(pre_shift - exponent)``
        lie in ``(-1, 1)``.
        """
        f = self.fractional_bits
        largest = float(np.max(np.abs(constants))) if constants.size else 0.0
        if largest == 0.0:
            return self.elementwise(node, "multiply_public", (fixed, Public(np.zeros_like(
                constants, dtype=np.int64), "int")), "fixed", Interval(0.0, 0.0), taint)
        magnitude = max(fixed.interval.magnitude, 2.0**-f)
        pre_shift = max(0, math.ceil(math.log2(magnitude)) - (61 - 2 * f) + 1)
        exponent = math.frexp(largest * 2.0**pre_shift)[1]
        return self.elementwise(node, "scale", (fixed, Public(constants, "fixed")), "fixed",
                                interval, taint,
                                parameters={"pre_shift": pre_shift, "exponent": exponent})

    def divide(self, node: ast.AST, left: Value, right: Value) -> Secret:
        if isinstance(right, Public):
            if np.any(right.value == 0):
                raise self.fail(node, "division by zero")
            reciprocal = Public(1.0 / right.value.astype(np.float64), "fixed")
            interval = left.interval * reciprocal.interval
            return self.emit_scale(node, self.secret(node, left, "fixed"), reciprocal.value,
                                   interval)
        divisor = right.interval
        limits = self.limits
        if divisor.contains_zero():
            raise self.fail(node, f"the divisor may be 0 (range {divisor.describe()}); bound it "
                                  "away from zero first, e.g. maximum(y, 0.01)")
        if divisor.magnitude >= limits.fixed_value:
            raise self.fail(node, f"the divisor may reach {describe_number(divisor.magnitude)}; "
                                  f"the engine divides by values below {describe_number(limits.fixed_value)}")
        if left.interval.magnitude >= limits.dividend:
            raise self.fail(node, f"the dividend may reach {describe_number(left.interval.magnitude)}"
                                  f"; the engine divides values below {describe_number(limits.dividend)}")
        quotient = left.interval.magnitude / divisor.smallest_magnitude
        if quotient >= limits.fixed_product:
            raise self.fail(node, f"the quotient may reach {describe_number(quotient)} (dividend "
                                  f"{left.interval.describe()}, divisor {divisor.describe()}); the "
                                  f"engine's quotients stay below {describe_number(limits.fixed_product)}")
        interval = left.interval * divisor.reciprocal()
        numerator = (Public(left.value.astype(np.float64), "fixed") if isinstance(left, Public)
                     else self.secret(node, left, "fixed"))
        return self.elementwise(node, "divide", (numerator, self.secret(node, right, "fixed")),
                                "fixed", interval)

    def power(self, node: ast.AST, base: Value, exponent: Value) -> Value:
        if isinstance(exponent, Secret) or exponent.kind != "int" or exponent.shape != ():
            raise self.fail(node, f"** needs a public integer exponent 0..{MAX_POWER}")
        count = int(exponent.scalar())
        if not 0 <= count <= MAX_POWER:
            raise self.fail(node, f"** needs a public integer exponent 0..{MAX_POWER}, got {count}")
        if count == 0:
            return Public.of(np.ones(base.shape, dtype=np.int64) if base.shape else np.int64(1))
        result: Value = base
        for _ in range(count - 1):
            result = self.multiply(node, result, base)
        return result

    def unary(self, node: ast.UnaryOp) -> Value:
        operand = self.value(node.operand)
        if isinstance(node.op, ast.Not):
            return self.negation(node, operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if not isinstance(node.op, ast.USub):
            raise self.fail(node, "the ~ operator is not allowed")
        if isinstance(operand, Public):
            return self.fold(node, lambda: np.negative(
                operand.value.astype(np.int64) if operand.kind == "bool" else operand.value), operand)
        kind = "int" if operand.kind == "bool" else operand.kind
        return self.elementwise(node, "negate", (operand,), kind, -operand.interval)

    # -- booleans and comparisons ------------------------------------------------------

    def require_bool(self, node: ast.AST, value: Value, what: str) -> None:
        if value.kind != "bool":
            raise self.fail(node, f"{what} needs true/false values (comparisons), got "
                                  f"{KIND_NAMES[value.kind]} values")

    def negation(self, node: ast.AST, value: Value) -> Value:
        self.require_bool(node, value, "not")
        if isinstance(value, Public):
            return self.fold(node, lambda: np.logical_not(value.value), value)
        result = self.elementwise(node, "subtract", (Public.of(np.int64(1)), value), "int",
                                  BOOLEAN)
        return replace(result, kind="bool")

    def logical(self, node: ast.AST, operator: str, left: Value, right: Value) -> Value:
        self.require_bool(node, left, operator)
        self.require_bool(node, right, operator)
        if isinstance(left, Public) and isinstance(right, Public):
            function = np.logical_and if operator == "and" else np.logical_or
            return self.fold(node, lambda: function(left.value, right.value), left, right)
        if isinstance(left, Public) or isinstance(right, Public):
            public, secret = (left, right) if isinstance(left, Public) else (right, left)
            if public.shape == ():
                decided = bool(public.scalar())
                if operator == "and":
                    return secret if decided else Public.of(np.zeros(secret.shape, dtype=bool))
                return Public.of(np.ones(secret.shape, dtype=bool)) if decided else secret
        product = replace(self.multiply(node, left, right), interval=BOOLEAN)
        if operator == "and":
            return replace(product, kind="bool")
        total = self.elementwise(node, "add", (left, right), "int", Interval(0.0, 2.0))
        either = self.elementwise(node, "subtract", (total, product), "int", BOOLEAN)
        return replace(either, kind="bool")

    def compare(self, node: ast.AST, symbol: str, left: Value, right: Value) -> Value:
        if isinstance(left, Public) and isinstance(right, Public):
            function = {"<": np.less, "<=": np.less_equal, ">": np.greater,
                        ">=": np.greater_equal, "==": np.equal, "!=": np.not_equal}[symbol]
            return self.fold(node, lambda: function(left.value, right.value), left, right)
        kind = join(left.kind, right.kind)
        left, right = self.convert(node, left, kind), self.convert(node, right, kind)
        taint = self.taint_of(left, right).compared(location(node))
        if symbol in ("==", "!="):
            equal = self.elementwise(node, "equal", (left, right), "bool", BOOLEAN, taint)
            if symbol == "==":
                return equal
            other = self.elementwise(node, "subtract", (Public.of(np.int64(1)), equal), "int",
                                     BOOLEAN, taint)
            return replace(other, kind="bool")
        # a < b, a > b as less(b, a); a <= b as 1 - less(b, a); a >= b as 1 - less(a, b)
        first, second = {"<": (left, right), ">": (right, left), "<=": (right, left),
                         ">=": (left, right)}[symbol]
        less = self.elementwise(node, "less", (first, second), "bool", BOOLEAN, taint)
        if symbol in ("<", ">"):
            return less
        flipped = self.elementwise(node, "subtract", (Public.of(np.int64(1)), less), "int",
                                   BOOLEAN, taint)
        return replace(flipped, kind="bool")

    # -- indexing and lists ---------------------------------------------------------------

    def public_int(self, node: ast.AST, value: Value, what: str) -> int:
        if isinstance(value, Secret) or value.kind != "int" or value.shape != ():
            raise self.fail(node, f"{what} must be a public integer")
        return int(value.scalar())

    def subscript(self, node: ast.Subscript) -> Value:
        container = self.value(node.value)
        if container.shape == ():
            raise self.fail(node, "a single value cannot be indexed")
        length = container.shape[0]
        if isinstance(node.slice, ast.Slice):
            parts = [None if part is None else self.public_int(part, self.value(part), "a slice bound")
                     for part in (node.slice.lower, node.slice.upper, node.slice.step)]
            if parts[2] == 0:
                raise self.fail(node, "slice step must not be zero")
            key: Any = slice(*parts)
            count = len(range(*key.indices(length)))
            if count == 0:
                raise self.fail(node, "the slice is empty")
            shape: tuple[int, ...] = (count,)
        else:
            key = self.public_int(node.slice, self.value(node.slice), "an index")
            if not -length <= key < length:
                raise self.fail(node, f"index {key} is outside a vector of length {length}")
            shape = ()
        if isinstance(container, Public):
            return self.fold(node, lambda: container.value[key], container)
        return self.emit(node, "index", (container,), kind=container.kind, shape=shape,
                         interval=container.interval, rows=container.rows, whole=False,
                         taint=container.taint, parameters={"key": key})

    def concat(self, node: ast.AST, values: list[Value], elements: bool = False) -> Value:
        for value in values:
            if elements and value.shape != ():
                raise self.fail(node, "list items must be single values; use concat() for vectors")
            if not elements and value.shape == ():
                raise self.fail(node, "concat joins vectors; use a list [a, b] for single values")
        total = sum(max(1, v.shape[0]) if v.shape else 1 for v in values)
        if all(isinstance(v, Public) for v in values):
            return self.fold(node, lambda: np.concatenate([np.atleast_1d(v.value) for v in values]),
                             *values, elementwise=False)
        kinds = {v.kind for v in values}
        kind = "bool" if kinds == {"bool"} else join(*kinds)
        parts = tuple(self.secret(node, v, kind) for v in values)
        interval = Interval.of([p.interval.low for p in values] + [p.interval.high for p in values])
        whole = all(isinstance(v, Secret) and v.whole and v.shape for v in values)
        return self.emit(node, "concat", parts, kind=kind, shape=(total,), interval=interval,
                         rows=f"concat:{len(self.ops)}", whole=whole, taint=self.taint_of(*values))

