"""The rules language of published programs: a checked Python subset and its interpreter.

A rule set is evaluated by the data owner's node on its own plaintext rows
(compute moved to the data). The source is parsed with :mod:`ast` and then
*interpreted by this module*: Python never compiles or executes it, and
the interpreter only knows the constructs and functions listed here, over
the closed set of values of :mod:`offchain.publish.values`. There is no
attribute of a Python object to reach, no builtin, no import, no file, no
network: the language has no way to name them.

**What a program sees.** Its declared arguments as names (``claim_date``,
``claimed``...), and ``rows``: the data subject's rows as a list of
records with the declared columns (``r.kind`` or ``r["kind"]``). It
assigns its declared outputs as names; their final values are the result.

**Statements**: ``x = e``, ``x += e`` (and ``-= *= /=``), ``if / elif /
else``, ``for x in e:`` over a list, ``rows`` or ``range(...)`` (no
``else``), ``break``, ``continue``, ``pass``; a string alone is a comment.

**Expressions**: literals (``None``, booleans, integers, decimals — every
number with a point is an exact decimal —, text), names, ``r.field`` and
``r["field"]`` on records, ``x[i]`` and ``x[a:b]`` on lists and text, list
literals, ``+ - * / // % **`` (``**`` with an integer exponent 0..64),
unary ``- + not``, ``and`` / ``or``, comparisons (chained; ``in``, ``not
in``; ``is None`` / ``is not None``), ``a if c else b``, list
comprehensions and generator expressions, and calls of :data:`FUNCTIONS`.

**Semantics.** Integers stay below 2**63 in magnitude; ``int / int`` is a
decimal; decimals use 28 significant digits, round half even; a date minus
a date is a number of days and a date plus an integer is a date. Division
by zero, an overflow, a missing field, comparing text with a number, or an
output never assigned raise :class:`~offchain.errors.RuleFailed` with the
line and column.

**Limits.** Every evaluated node and loop iteration costs one step of the
budget given to :func:`evaluate`; exceeding it raises
:class:`~offchain.errors.SandboxTimeout`. Texts, lists and ranges have
maximum sizes. The sandbox process (:mod:`offchain.publish.sandbox`) adds
CPU, memory and wall-clock limits enforced by the operating system.

This module uses the standard library only: the sandbox worker imports it.
"""

from __future__ import annotations

import ast
import datetime as dt
import decimal
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from offchain.errors import RuleFailed, SandboxTimeout, ScriptError
from offchain.publish.values import INTEGER_LIMIT, MAX_TEXT_CHARS, Record, kind_of
from offchain.script.syntax import describe, error_at, location, parse

ROWS = "rows"
MAX_LIST_ITEMS = 1_000_000
MAX_RANGE = 1_000_000
MAX_POWER = 64
DECIMAL_CONTEXT = decimal.Context(
    prec=28,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=999_999,
    Emin=-999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

_STATEMENTS = (ast.Assign, ast.AugAssign, ast.If, ast.For, ast.Break, ast.Continue, ast.Pass,
               ast.Expr)
_EXPRESSIONS = (ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Slice, ast.List,
                ast.Tuple, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
                ast.ListComp, ast.GeneratorExp)
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
           ast.Mod: "%", ast.Pow: "**"}
_AUGMENTED = (ast.Add, ast.Sub, ast.Mult, ast.Div)


class _Fault(Exception):
    """An evaluation error without a location yet (functions raise it; nodes locate it)."""


class _StepsExhausted(Exception):
    pass


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# functions


def _number(value: Any, what: str) -> int | Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _Fault(f"{what} needs a number, got {kind_of(value)}")
    return value


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Fault(f"{what} needs an integer, got {kind_of(value)}")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _Fault(f"{what} needs text, got {kind_of(value)}")
    return value


def _items(value: Any, what: str) -> tuple:
    if isinstance(value, tuple):
        return value
    if isinstance(value, range):
        return tuple(value)
    raise _Fault(f"{what} needs a list, got {kind_of(value)}")


def _aggregate_items(arguments: tuple, what: str) -> tuple:
    if len(arguments) == 1:
        items = _items(arguments[0], what)
    else:
        items = arguments
    if not items:
        raise _Fault(f"{what} of an empty list")
    return items


def _min(*arguments: Any) -> Any:
    items = _aggregate_items(arguments, "min")
    return _ordered(items, "min", min)


def _max(*arguments: Any) -> Any:
    items = _aggregate_items(arguments, "max")
    return _ordered(items, "max", max)


def _ordered(items: tuple, what: str, pick: Callable) -> Any:
    try:
        return pick(items)
    except TypeError:
        kinds = sorted({kind_of(item) for item in items})
        raise _Fault(f"{what} cannot order {' and '.join(kinds)} values together") from None


def _sum(items: Any, start: Any = 0) -> Any:
    total = _number(start, "sum")
    for item in _items(items, "sum"):
        total = _arithmetic("+", total, _number(item, "sum"))
    return total


def _count(items: Any) -> int:
    return sum(1 for item in _items(items, "count") if item)


def _round(value: Any, places: Any = 0) -> Any:
    number = _number(value, "round")
    places = _integer(places, "round")
    if not -18 <= places <= 18:
        raise _Fault(f"round to {places} places; use -18..18")
    if isinstance(number, int):
        return number if places >= 0 else int(round(Decimal(number), places))
    rounded = number.quantize(Decimal(1).scaleb(-places))
    return int(rounded) if places == 0 else rounded


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return _checked_int(int(value))
    if isinstance(value, str):
        try:
            return _checked_int(int(value.strip()))
        except ValueError:
            raise _Fault(f"int({value!r:.40}): not an integer") from None
    raise _Fault(f"int() of {kind_of(value)}")


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise _Fault(f"decimal({value!r:.40}): not a number") from None
        if not number.is_finite():
            raise _Fault(f"decimal({value!r:.40}): not a finite number")
        return number
    raise _Fault(f"decimal() of {kind_of(value)}")


def _date(*arguments: Any) -> dt.date:
    try:
        if len(arguments) == 1:
            return dt.date.fromisoformat(_text(arguments[0], "date"))
        if len(arguments) == 3:
            year, month, day = (_integer(a, "date") for a in arguments)
            return dt.date(year, month, day)
    except ValueError as exc:
        raise _Fault(f"date{arguments!r:.60}: {exc}") from None
    raise _Fault("date takes 'YYYY-MM-DD' or (year, month, day)")


def _date_part(name: str) -> Callable[[Any], int]:
    def part(value: Any) -> int:
        if not isinstance(value, dt.date):
            raise _Fault(f"{name} needs a date or timestamp, got {kind_of(value)}")
        return getattr(value, name)

    return part


def _date_of(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise _Fault(f"date_of needs a timestamp, got {kind_of(value)}")


def _decimal_function(name: str) -> Callable[[Any], Decimal]:
    def function(value: Any) -> Decimal:
        number = Decimal(_number(value, name))
        if name == "sqrt" and number < 0:
            raise _Fault(f"sqrt of the negative number {number}")
        if name == "ln" and number <= 0:
            raise _Fault(f"ln of the non-positive number {number}")
        return getattr(number, name)(DECIMAL_CONTEXT)

    return function


def _floor(value: Any) -> int:
    number = _number(value, "floor")
    return _checked_int(math.floor(number))


def _ceil(value: Any) -> int:
    number = _number(value, "ceil")
    return _checked_int(math.ceil(number))


def _range(*arguments: Any) -> range:
    bounds = [_integer(a, "range") for a in arguments]
    if len(bounds) == 3 and bounds[2] == 0:
        raise _Fault("range step must not be zero")
    span = range(*bounds)
    if len(span) > MAX_RANGE:
        raise _Fault(f"range of {len(span)} numbers; at most {MAX_RANGE}")
    return span


def _len(value: Any) -> int:
    if isinstance(value, str | tuple | range):
        return len(value)
    raise _Fault(f"len of {kind_of(value)}")


def _sorted(items: Any) -> tuple:
    return tuple(_ordered(_items(items, "sorted"), "sorted", sorted))


def _any(items: Any) -> bool:
    return any(_items(items, "any"))


def _all(items: Any) -> bool:
    return all(_items(items, "all"))


def _abs(value: Any) -> Any:
    return abs(_number(value, "abs"))


def _clamp(value: Any, low: Any, high: Any) -> Any:
    for item, what in ((value, "clamp"), (low, "clamp low"), (high, "clamp high")):
        _number(item, what)
    if low > high:
        raise _Fault(f"clamp with low {low} above high {high}")
    return min(max(value, low), high)


def _startswith(value: Any, prefix: Any) -> bool:
    return _text(value, "startswith").startswith(_text(prefix, "startswith"))


def _lower(value: Any) -> str:
    return _text(value, "lower").lower()


def _upper(value: Any) -> str:
    return _text(value, "upper").upper()


@dataclass(frozen=True)
class Function:
    """A function of the language: its implementation and how many arguments it takes."""

    implementation: Callable[..., Any]
    minimum: int
    maximum: int
    summary: str


FUNCTIONS: Mapping[str, Function] = {
    "len": Function(_len, 1, 1, "number of items of a list or characters of a text"),
    "count": Function(_count, 1, 1, "number of true items: count(r.kind == 'visit' for r in rows)"),
    "sum": Function(_sum, 1, 2, "sum of a list of numbers (0 for an empty list)"),
    "min": Function(_min, 1, 64, "smallest of a non-empty list, or of the arguments"),
    "max": Function(_max, 1, 64, "largest of a non-empty list, or of the arguments"),
    "any": Function(_any, 1, 1, "whether any item is true"),
    "all": Function(_all, 1, 1, "whether every item is true"),
    "sorted": Function(_sorted, 1, 1, "the items in increasing order"),
    "abs": Function(_abs, 1, 1, "absolute value"),
    "round": Function(_round, 1, 2, "round half even to n decimal places (default 0)"),
    "floor": Function(_floor, 1, 1, "largest integer not above"),
    "ceil": Function(_ceil, 1, 1, "smallest integer not below"),
    "clamp": Function(_clamp, 3, 3, "clamp(x, low, high)"),
    "int": Function(_to_int, 1, 1, "integer of a number (toward zero), text or bool"),
    "decimal": Function(_to_decimal, 1, 1, "exact decimal of a number or text"),
    "sqrt": Function(_decimal_function("sqrt"), 1, 1, "square root (28 digits)"),
    "exp": Function(_decimal_function("exp"), 1, 1, "e to the power (28 digits)"),
    "ln": Function(_decimal_function("ln"), 1, 1, "natural logarithm (28 digits)"),
    "date": Function(_date, 1, 3, "date('2025-03-01') or date(2025, 3, 1)"),
    "date_of": Function(_date_of, 1, 1, "the date of a timestamp"),
    "year": Function(_date_part("year"), 1, 1, "year of a date"),
    "month": Function(_date_part("month"), 1, 1, "month of a date (1-12)"),
    "day": Function(_date_part("day"), 1, 1, "day of the month of a date"),
    "range": Function(_range, 1, 3, "range(stop), range(start, stop[, step])"),
    "startswith": Function(_startswith, 2, 2, "startswith(text, prefix)"),
    "lower": Function(_lower, 1, 1, "text in lower case"),
    "upper": Function(_upper, 1, 1, "text in upper case"),
}


# ---------------------------------------------------------------------------------------------
# arithmetic


def _checked_int(value: int) -> int:
    if abs(value) >= INTEGER_LIMIT:
        raise _Fault(f"integer overflow: the result has {value.bit_length()} bits (limit 63)")
    return value


def _limit_size(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        raise _Fault(f"text of {len(value)} characters; at most {MAX_TEXT_CHARS}")
    if isinstance(value, tuple) and len(value) > MAX_LIST_ITEMS:
        raise _Fault(f"list of {len(value)} items; at most {MAX_LIST_ITEMS}")
    return value


def _arithmetic(operator: str, left: Any, right: Any) -> Any:
    """Apply a binary operator with the language's rules (see the module docstring)."""
    if isinstance(left, bool):
        left = int(left)
    if isinstance(right, bool):
        right = int(right)
    numeric = (int, Decimal)
    if isinstance(left, numeric) and isinstance(right, numeric):
        return _numeric(operator, left, right)
    if isinstance(left, dt.date) and not isinstance(left, dt.datetime):
        if operator == "-" and type(right) is dt.date:
            return (left - right).days
        if operator in "+-" and isinstance(right, int):
            try:
                return left + dt.timedelta(days=right if operator == "+" else -right)
            except OverflowError:
                raise _Fault(f"date {left} {operator} {right} days is out of range") from None
    if isinstance(right, dt.date) and operator == "+" and isinstance(left, int):
        return _arithmetic("+", right, left)
    if isinstance(left, dt.datetime) and isinstance(right, dt.datetime) and operator == "-":
        return Decimal((left - right).total_seconds())
    if operator == "+" and isinstance(left, str) and isinstance(right, str):
        return _limit_size(left + right)
    if operator == "+" and isinstance(left, tuple) and isinstance(right, tuple):
        return _limit_size(left + right)
    raise _Fault(f"cannot apply {operator} to {kind_of(left)} and {kind_of(right)}")


def _numeric(operator: str, left: int | Decimal, right: int | Decimal) -> int | Decimal:
    both_int = isinstance(left, int) and isinstance(right, int)
    if operator == "/":
        if right == 0:
            raise _Fault("division by zero")
        return Decimal(left) / Decimal(right)
    if operator in ("//", "%") and right == 0:
        raise _Fault("division by zero")
    if operator == "**":
        if not isinstance(right, int) or not 0 <= right <= MAX_POWER:
            raise _Fault(f"** needs an integer exponent in 0..{MAX_POWER}, got {right}")
        if isinstance(left, int) and left not in (-1, 0, 1) and right * abs(left).bit_length() > 128:
            raise _Fault(f"integer overflow: {left} ** {right}")
    if both_int:
        result = {
            "+": lambda: left + right,
            "-": lambda: left - right,
            "*": lambda: left * right,
            "//": lambda: left // right,
            "%": lambda: left % right,
            "**": lambda: left**right,
        }[operator]()
        return _checked_int(result)
    left_d, right_d = Decimal(left), Decimal(right)
    if operator in ("//", "%"):
        # floor semantics, as for integers (Decimal's own // and % truncate toward zero)
        quotient = (left_d / right_d).to_integral_value(rounding=decimal.ROUND_FLOOR)
        return quotient if operator == "//" else left_d - right_d * quotient
    return {
        "+": lambda: left_d + right_d,
        "-": lambda: left_d - right_d,
        "*": lambda: left_d * right_d,
        "**": lambda: left_d**right,
    }[operator]()


def _compare(operator: type, left: Any, right: Any) -> bool:
    if operator in (ast.In, ast.NotIn):
        if isinstance(right, str):
            found = _text(left, "in") in right
        elif isinstance(right, tuple | range):
            found = left in right
        else:
            raise _Fault(f"'in' needs a list or text on the right, got {kind_of(right)}")
        return found if operator is ast.In else not found
    if operator is ast.Is:
        return left is None and right is None
    if operator is ast.IsNot:
        return not (left is None and right is None)
    if operator is ast.Eq:
        return _equal(left, right)
    if operator is ast.NotEq:
        return not _equal(left, right)
    if left is None or right is None:
        raise _Fault("cannot order null values (test `x is None` first)")
    try:
        return {
            ast.Lt: lambda: left < right,
            ast.LtE: lambda: left <= right,
            ast.Gt: lambda: left > right,
            ast.GtE: lambda: left >= right,
        }[operator]()
    except TypeError:
        raise _Fault(f"cannot compare {kind_of(left)} with {kind_of(right)}") from None


def _equal(left: Any, right: Any) -> bool:
    # Python's == would call 2 == "2" False silently and date == datetime False; both are
    # allowed here but a comparison of unrelated kinds is almost always a bug in a rule.
    numeric = (int, Decimal)
    if isinstance(left, numeric) and isinstance(right, numeric):
        return left == right
    if left is None or right is None:
        return left is right
    if kind_of(left) != kind_of(right):
        raise _Fault(f"cannot compare {kind_of(left)} with {kind_of(right)} for equality; "
                     "convert one side first")
    return left == right


# ---------------------------------------------------------------------------------------------
# checking


@dataclass(frozen=True)
class CheckedRules:
    """A rule source that passed :func:`check_rules`: its tree and what it reads and writes."""

    source: str
    tree: ast.Module
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    fields: tuple[str, ...]


def check_rules(source: str, inputs: Sequence[str], outputs: Sequence[str],
                fields: Sequence[str], *, where: str | None = None) -> CheckedRules:
    """Parse and check a rule source; raise :class:`ScriptError` at the first offending node.

    ``inputs`` are the argument names (``rows`` is always available),
    ``outputs`` the names the program must assign, ``fields`` the columns a
    row has.
    """
    tree = parse(source, "exec", what="rule set", where=where)
    checker = _Checker(set(inputs) | {ROWS}, tuple(outputs), frozenset(fields), where)
    checker.check_module(tree)
    return CheckedRules(source, tree, tuple(inputs), tuple(outputs), tuple(fields))


def check_expression(source: str, names: Iterable[str], fields: Sequence[str],
                     *, where: str | None = None) -> ast.Expression:
    """Parse and check one expression that may read ``names`` (for decision tables)."""
    tree = parse(source, "eval", what="expression", where=where)
    checker = _Checker(set(names), (), frozenset(fields), where)
    checker.expression(tree.body, set(names))
    return tree


class _Checker:
    """Static checks: allowed constructs, known names and functions, arities, fields."""

    def __init__(self, inputs: set[str], outputs: tuple[str, ...], fields: frozenset[str],
                 where: str | None) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.fields = fields
        self.where = where

    def fail(self, node: ast.AST, reason: str) -> ScriptError:
        return error_at(node, reason, self.where)

    def check_module(self, tree: ast.Module) -> None:
        assigned = self._assigned_names(tree)
        self.block(tree.body, self.inputs | assigned, loop_depth=0)
        for name in self.outputs:
            if name not in assigned:
                raise ScriptError(f"the declared output {name!r} is never assigned", where=self.where)

    def _assigned_names(self, tree: ast.Module) -> set[str]:
        names: set[str] = set()
        for node in ast.walk(tree):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AugAssign | ast.For):
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    self.check_target(target)
                    names.add(target.id)
        return names

    def check_target(self, target: ast.AST) -> None:
        if not isinstance(target, ast.Name):
            raise self.fail(target, "assign to a plain name (no unpacking, items or fields)")
        if target.id in self.inputs:
            raise self.fail(target, f"{target.id!r} is an input; inputs are read-only")
        if target.id in FUNCTIONS:
            raise self.fail(target, f"{target.id!r} is a function of the language")
        if target.id.startswith("_"):
            raise self.fail(target, f"names may not start with '_' ({target.id!r})")

    def block(self, statements: list[ast.stmt], names: set[str], loop_depth: int) -> None:
        for statement in statements:
            self.statement(statement, names, loop_depth)

    def statement(self, node: ast.stmt, names: set[str], loop_depth: int) -> None:
        if not isinstance(node, _STATEMENTS):
            raise self.fail(node, f"{describe(node)} are not allowed in a rule set")
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1:
                raise self.fail(node, "assign one name at a time (no a = b = value)")
            self.check_target(node.targets[0])
            self.expression(node.value, names)
        elif isinstance(node, ast.AugAssign):
            self.check_target(node.target)
            if not isinstance(node.op, _AUGMENTED):
                raise self.fail(node, "only += -= *= /= are allowed")
            self.expression(node.value, names)
        elif isinstance(node, ast.If):
            self.expression(node.test, names)
            self.block(node.body, names, loop_depth)
            self.block(node.orelse, names, loop_depth)
        elif isinstance(node, ast.For):
            if node.orelse:
                raise self.fail(node, "for ... else is not allowed")
            if node.type_comment:
                raise self.fail(node, "type comments are not allowed")
            self.check_target(node.target)
            self.expression(node.iter, names)
            self.block(node.body, names, loop_depth + 1)
        elif isinstance(node, ast.Break | ast.Continue):
            if loop_depth == 0:
                raise self.fail(node, f"{type(node).__name__.lower()} outside a loop")
        elif isinstance(node, ast.Expr):
            if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                raise self.fail(node, "an expression alone does nothing; assign it to a name")

    def expression(self, node: ast.AST, names: set[str]) -> None:
        if not isinstance(node, _EXPRESSIONS):
            raise self.fail(node, f"{describe(node)} are not allowed in a rule set")
        if isinstance(node, ast.Constant):
            value = node.value
            if value is not None and not isinstance(value, bool | int | float | str):
                raise self.fail(node, f"{type(value).__name__} literals are not allowed")
            if isinstance(value, float) and not math.isfinite(value):
                raise self.fail(node, "numbers must be finite")
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= INTEGER_LIMIT:
                raise self.fail(node, "integer literal outside the 64-bit range")
            if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
                raise self.fail(node, f"text literal longer than {MAX_TEXT_CHARS} characters")
            return
        if isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise self.fail(node, f"{node.id!r} is a function: call it, e.g. {node.id}(...)")
            if node.id not in names:
                known = ", ".join(sorted(names)) or "none"
                raise self.fail(node, f"unknown name {node.id!r}; known names: {known}")
            return
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_") or node.attr not in self.fields:
                fields = ", ".join(sorted(self.fields)) or "none"
                raise self.fail(node, f"rows have no field {node.attr!r}; their fields: {fields}")
            self.expression(node.value, names)
            return
        if isinstance(node, ast.Call):
            self.call(node, names)
            return
        if isinstance(node, ast.ListComp | ast.GeneratorExp):
            scope = set(names)
            for generator in node.generators:
                if generator.is_async:
                    raise self.fail(node, "async comprehensions are not allowed")
                self.expression(generator.iter, scope)
                self.check_target(generator.target)
                scope = scope | {generator.target.id}
                for condition in generator.ifs:
                    self.expression(condition, scope)
            self.expression(node.elt, scope)
            return
        if isinstance(node, ast.BinOp) and type(node.op) not in _BINARY:
            raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
        if isinstance(node, ast.Compare):
            for operator, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(operator, ast.Is | ast.IsNot) and not (
                    isinstance(right, ast.Constant) and right.value is None
                ):
                    raise self.fail(node, "use `is` only as `x is None` / `x is not None`")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            raise self.fail(node, "the ~ operator is not allowed")
        if isinstance(node, ast.Subscript | ast.List | ast.Tuple) and isinstance(
            getattr(node, "ctx", ast.Load()), ast.Store | ast.Del
        ):
            raise self.fail(node, "assign to a plain name")
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr_context | ast.operator | ast.unaryop | ast.cmpop | ast.boolop):
                continue
            self.expression(child, names)

    def call(self, node: ast.Call, names: set[str]) -> None:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only the functions of the language can be called, by name")
        function = FUNCTIONS.get(node.func.id)
        if function is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise self.fail(node.func, f"unknown function {node.func.id!r}; functions: {known}")
        if node.keywords:
            raise self.fail(node, f"{node.func.id} takes positional arguments only")
        if not function.minimum <= len(node.args) <= function.maximum:
            expected = (str(function.minimum) if function.minimum == function.maximum
                        else f"{function.minimum} to {function.maximum}")
            raise self.fail(node, f"{node.func.id} takes {expected} arguments, got {len(node.args)}")
        for argument in node.args:
            self.expression(argument, names)


# ---------------------------------------------------------------------------------------------
# evaluation


@dataclass(frozen=True)
class Evaluation:
    """The outputs of one evaluation and the steps it used."""

    outputs: dict[str, Any]
    steps: int


def evaluate(rules: CheckedRules, arguments: Mapping[str, Any], rows: Sequence[Record],
             step_budget: int) -> Evaluation:
    """Run checked ``rules`` on plain values; return the declared outputs.

    Raises :class:`RuleFailed` (with line and column) when the program
    fails, :class:`SandboxTimeout` when it exceeds ``step_budget`` steps.
    """
    missing = sorted(set(rules.inputs) - set(arguments))
    if missing:
        raise RuleFailed(f"arguments {missing} were not given")
    interpreter = _Interpreter(step_budget)
    interpreter.names.update(arguments)
    interpreter.names[ROWS] = tuple(rows)
    with decimal.localcontext(DECIMAL_CONTEXT):
        interpreter.run(rules.tree.body)
    outputs = {}
    for name in rules.outputs:
        if name not in interpreter.names:
            raise RuleFailed(f"the output {name!r} was not assigned on this path through the rules")
        outputs[name] = interpreter.names[name]
    return Evaluation(outputs, interpreter.steps)


def evaluate_expression(tree: ast.Expression, names: Mapping[str, Any], interpreter: _Interpreter
                        ) -> Any:
    """Evaluate one checked expression with ``interpreter`` (decision tables)."""
    interpreter.names = dict(names)
    with decimal.localcontext(DECIMAL_CONTEXT):
        return interpreter.guarded(tree.body)


class _Interpreter:
    """Walks a checked tree over plain values, counting steps."""

    def __init__(self, step_budget: int) -> None:
        self.names: dict[str, Any] = {}
        self.steps = 0
        self.budget = step_budget

    def tick(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > self.budget:
            raise _StepsExhausted

    def run(self, statements: list[ast.stmt]) -> None:
        try:
            self.block(statements)
        except _StepsExhausted:
            raise SandboxTimeout(
                f"the program used its whole budget of {self.budget} steps; it was stopped"
            ) from None

    def guarded(self, node: ast.expr) -> Any:
        try:
            return self.value(node)
        except _StepsExhausted:
            raise SandboxTimeout(
                f"the program used its whole budget of {self.budget} steps; it was stopped"
            ) from None

    def fail(self, node: ast.AST, reason: str) -> RuleFailed:
        line, column = location(node)
        return RuleFailed(reason, line, column)

    # -- statements -------------------------------------------------------------------

    def block(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            self.tick()
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            self.names[node.targets[0].id] = self.value(node.value)
        elif isinstance(node, ast.AugAssign):
            name = node.target.id
            if name not in self.names:
                raise self.fail(node, f"{name!r} is used before it is assigned")
            right = self.value(node.value)
            self.names[name] = self.located(node, _arithmetic, _BINARY[type(node.op)],
                                            self.names[name], right)
        elif isinstance(node, ast.If):
            self.block(node.body if self.truth(node.test) else node.orelse)
        elif isinstance(node, ast.For):
            items = self.iterable(node.iter)
            for item in items:
                self.tick()
                self.names[node.target.id] = item
                try:
                    self.block(node.body)
                except _Break:
                    break
                except _Continue:
                    continue
        elif isinstance(node, ast.Break):
            raise _Break
        elif isinstance(node, ast.Continue):
            raise _Continue
        # Pass and docstrings do nothing.

    # -- expressions ------------------------------------------------------------------

    def located(self, node: ast.AST, function: Callable, *arguments: Any) -> Any:
        try:
            return function(*arguments)
        except _Fault as fault:
            raise self.fail(node, str(fault)) from None
        except (decimal.DecimalException, OverflowError, ValueError) as exc:
            raise self.fail(node, _decimal_message(exc)) from None
        except RecursionError:
            raise self.fail(node, "the expression nests too deeply") from None

    def truth(self, node: ast.expr) -> bool:
        return bool(self.value(node))

    def iterable(self, node: ast.expr) -> tuple | range:
        value = self.value(node)
        if isinstance(value, tuple | range):
            return value
        raise self.fail(node, f"a loop needs a list or a range, got {kind_of(value)}")

    def value(self, node: ast.expr) -> Any:
        self.tick()
        if isinstance(node, ast.Constant):
            literal = node.value
            if isinstance(literal, float):
                return Decimal(repr(literal))
            return literal
        if isinstance(node, ast.Name):
            try:
                return self.names[node.id]
            except KeyError:
                raise self.fail(node, f"{node.id!r} is used before it is assigned") from None
        if isinstance(node, ast.Attribute):
            return self.field(node, self.value(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.List | ast.Tuple):
            return _limit_size(tuple(self.value(item) for item in node.elts))
        if isinstance(node, ast.BinOp):
            left, right = self.value(node.left), self.value(node.right)
            return self.located(node, _arithmetic, _BINARY[type(node.op)], left, right)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BoolOp):
            return self.boolean(node)
        if isinstance(node, ast.Compare):
            left = self.value(node.left)
            for operator, comparator in zip(node.ops, node.comparators, strict=True):
                right = self.value(comparator)
                if not self.located(node, _compare, type(operator), left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.value(node.body) if self.truth(node.test) else self.value(node.orelse)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.ListComp | ast.GeneratorExp):
            return self.comprehension(node)
        raise self.fail(node, f"{describe(node)} cannot be evaluated")  # unreachable after checks

    def field(self, node: ast.AST, record: Any, name: str) -> Any:
        if not isinstance(record, Record):
            raise self.fail(node, f"field {name!r} of a {kind_of(record)}; only rows have fields")
        try:
            return record.field(name)
        except KeyError:
            raise self.fail(node, f"rows have no field {name!r}") from None

    def subscript(self, node: ast.Subscript) -> Any:
        container = self.value(node.value)
        if isinstance(node.slice, ast.Slice):
            bounds = [None if part is None else self.value(part)
                      for part in (node.slice.lower, node.slice.upper, node.slice.step)]
            for bound in bounds:
                if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
                    raise self.fail(node, f"slice bounds must be integers, got {kind_of(bound)}")
            if bounds[2] == 0:
                raise self.fail(node, "slice step must not be zero")
            if not isinstance(container, tuple | str):
                raise self.fail(node, f"cannot slice a {kind_of(container)}")
            return container[slice(*bounds)]
        key = self.value(node.slice)
        if isinstance(container, Record):
            if not isinstance(key, str):
                raise self.fail(node, "a row is indexed by field name, e.g. r['amount']")
            return self.field(node, container, key)
        if isinstance(container, tuple | str):
            if isinstance(key, bool) or not isinstance(key, int):
                raise self.fail(node, f"list positions are integers, got {kind_of(key)}")
            if not -len(container) <= key < len(container):
                raise self.fail(node, f"position {key} is outside a {kind_of(container)} of "
                                      f"length {len(container)}")
            return container[key]
        raise self.fail(node, f"cannot index a {kind_of(container)}")

    def unary(self, node: ast.UnaryOp) -> Any:
        operand = self.value(node.operand)
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(operand, bool):
            operand = int(operand)
        negate = isinstance(node.op, ast.USub)
        if not isinstance(operand, int | Decimal):
            raise self.fail(node, f"unary {'-' if negate else '+'} of {kind_of(operand)}")
        if not negate:
            return operand
        return self.located(node, _checked_int, -operand) if isinstance(operand, int) else -operand

    def boolean(self, node: ast.BoolOp) -> Any:
        is_and = isinstance(node.op, ast.And)
        result: Any = None
        for item in node.values:
            result = self.value(item)
            if bool(result) != is_and:
                return result
        return result

    def call(self, node: ast.Call) -> Any:
        function = FUNCTIONS[node.func.id]
        arguments = [self.value(argument) for argument in node.args]
        for argument in arguments:
            if isinstance(argument, tuple | range):
                self.tick(len(argument))
        result = self.located(node, function.implementation, *arguments)
        return _limit_size(result) if isinstance(result, tuple | str) else result

    def comprehension(self, node: ast.ListComp | ast.GeneratorExp) -> tuple:
        saved = dict(self.names)
        results: list[Any] = []
        try:
            self._generate(node, 0, results)
        finally:
            self.names = saved
        return _limit_size(tuple(results))

    def _generate(self, node: ast.ListComp | ast.GeneratorExp, index: int, results: list) -> None:
        if index == len(node.generators):
            results.append(self.value(node.elt))
            if len(results) > MAX_LIST_ITEMS:
                raise self.fail(node, f"the comprehension makes more than {MAX_LIST_ITEMS} items")
            return
        generator = node.generators[index]
        for item in self.iterable(generator.iter):
            self.tick()
            self.names[generator.target.id] = item
            if all(self.truth(condition) for condition in generator.ifs):
                self._generate(node, index + 1, results)


def _decimal_message(exc: Exception) -> str:
    if isinstance(exc, decimal.DivisionByZero):
        return "division by zero"
    if isinstance(exc, decimal.Overflow):
        return "decimal overflow"
    if isinstance(exc, decimal.InvalidOperation):
        return "invalid decimal operation (e.g. 0 / 0 or a result too large)"
    return f"{type(exc).__name__}: {exc}"


def new_interpreter(step_budget: int) -> _Interpreter:
    """Return an interpreter with a fresh step budget (for evaluating several expressions)."""
    return _Interpreter(step_budget)
