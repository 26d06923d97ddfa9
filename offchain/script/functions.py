"""The functions of the script language, each a handler ``(compiler, node, arguments) -> value``.

Elementwise: ``exp sigmoid sqrt log reciprocal abs relu sign minimum
maximum clip where fixed``. Reductions over a vector: ``sum count mean
var std dot min max any all`` (``min``/``max`` of two arguments are
elementwise). Public constructors: ``zeros ones arange full len concat``.
``range`` drives ``for`` loops only. Every handler checks its ranges
(``exp`` of at most 20.1, ``sqrt`` of non-negative and ``log`` of positive
values, products within the engine's limits) and sets the taint of its
result (comparisons and ``sign`` compare, reductions over whole rows
aggregate).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from offchain.script.builder import MAX_PUBLIC_ELEMENTS
from offchain.script.policy import MIN_AGGREGATE_ROWS, Taint
from offchain.script.ranges import Interval, describe_number
from offchain.script.syntax import location
from offchain.script.values import Public, Secret, Value, join

if TYPE_CHECKING:
    from offchain.script.operators import Operators as _Compiler

def _fixed_argument(compiler: _Compiler, node: ast.AST, value: Value) -> Value:
    if isinstance(value, Public):
        return Public(value.value.astype(np.float64), "fixed")
    return compiler.secret(node, value, "fixed")


def _unary_fixed(name: str, interval: Callable[[_Compiler, ast.AST, Interval], Interval],
                 plain: Callable[[np.ndarray], np.ndarray]):
    def handler(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
        (value,) = arguments
        result_interval = interval(compiler, node, value.interval)
        if isinstance(value, Public):
            return compiler.fold(node, lambda: plain(value.value.astype(np.float64)), value)
        return compiler.elementwise(node, name, (_fixed_argument(compiler, node, value),), "fixed",
                                    result_interval)

    return handler


def _exp_interval(compiler: _Compiler, node: ast.AST, interval: Interval) -> Interval:
    top = compiler.limits.exp_input
    if interval.high > top:
        raise compiler.fail(node, f"exp(x) needs x <= {top:.1f} (it saturates above); x may "
                                  f"reach {describe_number(interval.high)}: clip it first")
    return Interval(math.exp(max(interval.low, -745.0)), math.exp(interval.high))


def _sqrt_interval(compiler: _Compiler, node: ast.AST, interval: Interval) -> Interval:
    if interval.low < 0:
        raise compiler.fail(node, f"sqrt(x) needs x >= 0; x may be {describe_number(interval.low)}"
                                  ": use sqrt(maximum(x, 0))")
    return Interval(math.sqrt(interval.low), math.sqrt(interval.high))


def _log_interval(compiler: _Compiler, node: ast.AST, interval: Interval) -> Interval:
    if interval.low <= 0:
        raise compiler.fail(node, f"log(x) needs x > 0; x may be {describe_number(interval.low)}: "
                                  "use log(maximum(x, 0.0001))")
    return Interval(math.log(interval.low), math.log(interval.high))


def _sigmoid_interval(compiler: _Compiler, node: ast.AST, interval: Interval) -> Interval:
    return Interval(0.0, 1.0)


def _reciprocal(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
    return compiler.divide(node, Public.of(np.float64(1.0)), arguments[0])


def _sigmoid_plain(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def _elementwise_pair(name: str):
    def handler(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
        left, right = arguments
        if isinstance(left, Public) and isinstance(right, Public):
            function = np.minimum if name == "minimum" else np.maximum
            return compiler.fold(node, lambda: function(left.value, right.value), left, right)
        kind = join(left.kind, right.kind)
        if isinstance(left, Public):
            left, right = right, left
        interval = (left.interval.minimum(right.interval) if name == "minimum"
                    else left.interval.maximum(right.interval))
        return compiler.elementwise(node, name, (compiler.convert(node, left, kind),
                                                 compiler.convert(node, right, kind)), kind, interval)

    return handler


def _clip(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
    value, low, high = arguments
    if isinstance(low, Public) and isinstance(high, Public) and np.any(low.value > high.value):
        raise compiler.fail(node, "clip needs low <= high")
    return _elementwise_pair("minimum")(compiler, node,
                                        [_elementwise_pair("maximum")(compiler, node, [value, low]),
                                         high])


def _sign_like(name: str):
    def handler(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
        (value,) = arguments
        if isinstance(value, Public):
            function = {"abs": np.abs, "relu": lambda v: np.maximum(v, 0), "sign": np.sign}[name]
            return compiler.fold(node, lambda: function(value.value), value)
        kind = "int" if value.kind == "bool" else value.kind
        if name == "sign":
            return compiler.elementwise(node, "sign", (value,), "int", Interval(-1.0, 1.0),
                                        value.taint.compared(location(node)))
        interval = (value.interval.absolute() if name == "abs"
                    else value.interval.maximum(Interval(0.0, 0.0)))
        return compiler.elementwise(node, name, (value,), kind, interval)

    return handler


def _where(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
    condition, if_true, if_false = arguments
    compiler.require_bool(node, condition, "where")
    if isinstance(condition, Public) and condition.shape == ():
        # a public condition picks one side (the other one's data never flows), broadcast as numpy does
        shape = compiler.broadcast(node, if_true, if_false)
        chosen = if_true if condition.scalar() else if_false
        if chosen.shape == shape:
            return chosen
        if isinstance(chosen, Public):
            return Public(np.broadcast_to(chosen.value, shape).copy(), chosen.kind)
        zeros = Public(np.zeros(shape, dtype=np.int64), "int")
        spread = compiler.arithmetic(node, "+", chosen, zeros)
        return replace(spread, kind=chosen.kind) if chosen.kind == "bool" else spread
    kind = join(if_true.kind, if_false.kind) if {if_true.kind, if_false.kind} != {"bool"} else "bool"
    taint = Taint.union([condition.taint.compared(location(node)) if isinstance(condition, Secret)
                         else Taint(), compiler.taint_of(if_true, if_false)])
    interval = if_true.interval.hull(if_false.interval)
    if isinstance(condition, Public):
        if isinstance(if_true, Public) and isinstance(if_false, Public):
            return compiler.fold(node, lambda: np.where(condition.value, if_true.value,
                                                        if_false.value), condition, if_true, if_false)
        mask = condition.value.astype(np.int64)
        chosen_true = compiler.multiply(node, if_true if isinstance(if_true, Secret)
                                        else compiler.secret(node, if_true, kind),
                                        Public(mask, "int"))
        chosen_false = compiler.multiply(node, if_false if isinstance(if_false, Secret)
                                         else compiler.secret(node, if_false, kind),
                                         Public(1 - mask, "int"))
        combined = compiler.arithmetic(node, "+", chosen_true, chosen_false)
        return replace(combined, kind=kind) if kind == "bool" else combined
    value_kind = "int" if kind == "bool" else kind
    arguments_converted = (condition, compiler.convert(node, if_true, value_kind),
                           compiler.convert(node, if_false, value_kind))
    result = compiler.elementwise(node, "select", arguments_converted, value_kind, interval, taint)
    return replace(result, kind=kind)


def _reduction_taint(compiler: _Compiler, node: ast.AST, value: Secret) -> Taint:
    length = value.shape[0] if value.shape else 1
    if value.whole and length >= MIN_AGGREGATE_ROWS:
        return value.taint.aggregated(location(node))
    return value.taint


def _vector(compiler: _Compiler, node: ast.AST, value: Value, name: str) -> int:
    if value.shape == ():
        raise compiler.fail(node, f"{name} reduces a vector; got a single value")
    return value.shape[0]


def _sum(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
    (value,) = arguments
    length = _vector(compiler, node, value, "sum")
    if isinstance(value, Public):
        if value.kind != "fixed" and value.interval.magnitude * length >= 2**62:
            raise compiler.fail(node, "public integer overflow (beyond ±2**62)")
        return compiler.fold(node, lambda: np.sum(value.value), value)
    kind = "int" if value.kind == "bool" else value.kind
    return compiler.emit(node, "sum", (value,), kind=kind, shape=(),
                         interval=value.interval.scaled(length), rows=None, whole=True,
                         taint=_reduction_taint(compiler, node, value), elements=length)


def _count(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
    compiler.require_bool(node, arguments[0], "count")
    return _sum(compiler, node, arguments)


def _mean(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
    (value,) = arguments
    length = _vector(compiler, node, value, "mean")
    if isinstance(value, Public):
        return compiler.fold(node, lambda: np.mean(value.value.astype(np.float64)), value)
    total = _sum(compiler, node, [value])
    fixed = compiler.secret(node, total, "fixed")
    return compiler.emit_scale(node, fixed, np.array(1.0 / length), value.interval,
                               taint=total.taint)


def _variance(compiler: _Compiler, node: ast.AST, arguments: list[Value], root: bool) -> Value:
    (value,) = arguments
    _vector(compiler, node, value, "std" if root else "var")
    if isinstance(value, Public):
        function = np.std if root else np.var
        return compiler.fold(node, lambda: function(value.value.astype(np.float64)), value)
    average = _mean(compiler, node, [value])
    centred = compiler.arithmetic(node, "-", compiler.secret(node, value, "fixed"), average)
    centred = replace(centred, taint=value.taint, whole=value.whole)
    squared = compiler.multiply(node, centred, centred)
    variance = _mean(compiler, node, [squared])
    spread = (value.interval.high - value.interval.low) ** 2
    variance = replace(variance, interval=Interval(0.0, spread),
                       taint=_reduction_taint(compiler, node, value))
    if not root:
        return variance
    result = compiler.elementwise(node, "sqrt", (variance,), "fixed",
                                  Interval(0.0, math.sqrt(spread)), variance.taint)
    return result


def _dot(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
    left, right = arguments
    length = _vector(compiler, node, left, "dot")
    _vector(compiler, node, right, "dot")
    compiler.broadcast(node, left, right)
    if isinstance(left, Public) and isinstance(right, Public):
        if "fixed" not in (left.kind, right.kind) and \
                left.interval.magnitude * right.interval.magnitude * length >= 2**62:
            raise compiler.fail(node, "public integer overflow (beyond ±2**62)")
        return compiler.fold(node, lambda: np.dot(left.value, right.value), left, right)
    if isinstance(left, Public) or isinstance(right, Public):
        return _sum(compiler, node, [compiler.multiply(node, left, right)])
    kind = join(left.kind, right.kind)
    interval = (left.interval * right.interval).scaled(length)
    if kind == "fixed" and left.kind == "fixed" and right.kind == "fixed" \
            and interval.magnitude >= compiler.limits.fixed_product:
        raise compiler.fail(node, f"this dot product may reach {describe_number(interval.magnitude)}"
                                  f"; the engine's fixed-point products (summed) stay below "
                                  f"{describe_number(compiler.limits.fixed_product)}")
    rows, whole = compiler.row_space(node, left, right)
    joined = replace(left, whole=whole)
    taint = Taint.union([_reduction_taint(compiler, node, joined),
                         _reduction_taint(compiler, node, replace(right, whole=whole))])
    truncated = left.kind == "fixed" and right.kind == "fixed"
    return compiler.emit(node, "dot", (left, right), kind=kind, shape=(), interval=interval,
                         parameters={"truncated": truncated},
                         rows=None, whole=True, taint=taint, elements=1)


def _extreme(name: str):
    def handler(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
        if len(arguments) == 2:
            return _elementwise_pair("minimum" if name == "min" else "maximum")(
                compiler, node, arguments)
        (value,) = arguments
        length = _vector(compiler, node, value, name)
        if isinstance(value, Public):
            function = np.min if name == "min" else np.max
            return compiler.fold(node, lambda: function(value.value), value)
        kind = "int" if value.kind == "bool" else value.kind
        return compiler.emit(node, "reduce_minimum" if name == "min" else "reduce_maximum",
                             (value,), kind=kind, shape=(), interval=value.interval, rows=None,
                             whole=True, taint=_reduction_taint(compiler, node, value),
                             elements=length)

    return handler


def _any_all(name: str):
    def handler(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
        (value,) = arguments
        compiler.require_bool(node, value, name)
        length = _vector(compiler, node, value, name)
        if isinstance(value, Public):
            function = np.any if name == "any" else np.all
            return compiler.fold(node, lambda: function(value.value), value)
        total = _sum(compiler, node, [value])
        threshold = Public.of(np.int64(0 if name == "any" else length))
        return compiler.compare(node, ">" if name == "any" else "==", total, threshold)

    return handler


def _len(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
    return Public.of(np.int64(_vector(compiler, node, arguments[0], "len")))


def _constructor(name: str):
    def handler(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
        length = compiler.public_int(node, arguments[0], f"the length of {name}")
        if not 1 <= length <= MAX_PUBLIC_ELEMENTS:
            raise compiler.fail(node, f"{name}({length}): lengths run from 1 to {MAX_PUBLIC_ELEMENTS}")
        if name == "zeros":
            return Public.of(np.zeros(length, dtype=np.int64))
        if name == "ones":
            return Public.of(np.ones(length, dtype=np.int64))
        if name == "arange":
            return Public.of(np.arange(length, dtype=np.int64))
        fill = arguments[1]
        if isinstance(fill, Secret):
            zeros = compiler.secret(node, Public.of(np.zeros(length, dtype=np.int64)),
                                    "fixed" if fill.kind == "fixed" else "int")
            return compiler.arithmetic(node, "+", zeros, fill)
        return Public.of(np.full(length, fill.value))

    return handler


def _fixed(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
    (value,) = arguments
    if isinstance(value, Public):
        return Public(value.value.astype(np.float64), "fixed")
    return compiler.secret(node, value, "fixed")


def _concat(compiler: _Compiler, node: ast.AST, arguments: list[Value]) -> Value:
    return compiler.concat(node, arguments)


_FIXED_FUNCTIONS = {
    "exp": _unary_fixed("exp", _exp_interval, np.exp),
    "sigmoid": _unary_fixed("sigmoid", _sigmoid_interval, _sigmoid_plain),
    "sqrt": _unary_fixed("sqrt", _sqrt_interval, np.sqrt),
    "log": _unary_fixed("log", _log_interval, np.log),
}

#: name -> (minimum arguments, maximum arguments, handler)
FUNCTIONS: Mapping[str, tuple[int, int, Callable]] = {
    **{name: (1, 1, handler) for name, handler in _FIXED_FUNCTIONS.items()},
    "reciprocal": (1, 1, _reciprocal),
    "abs": (1, 1, _sign_like("abs")),
    "relu": (1, 1, _sign_like("relu")),
    "sign": (1, 1, _sign_like("sign")),
    "minimum": (2, 2, _elementwise_pair("minimum")),
    "maximum": (2, 2, _elementwise_pair("maximum")),
    "clip": (3, 3, _clip),
    "where": (3, 3, _where),
    "sum": (1, 1, _sum),
    "count": (1, 1, _count),
    "mean": (1, 1, _mean),
    "var": (1, 1, lambda c, n, a: _variance(c, n, a, root=False)),
    "std": (1, 1, lambda c, n, a: _variance(c, n, a, root=True)),
    "dot": (2, 2, _dot),
    "min": (1, 2, _extreme("min")),
    "max": (1, 2, _extreme("max")),
    "any": (1, 1, _any_all("any")),
    "all": (1, 1, _any_all("all")),
    "len": (1, 1, _len),
    "zeros": (1, 1, _constructor("zeros")),
    "ones": (1, 1, _constructor("ones")),
    "arange": (1, 1, _constructor("arange")),
    "full": (2, 2, _constructor("full")),
    "fixed": (1, 1, _fixed),
    "concat": (2, 16, _concat),
    "range": (1, 3, None),
}

