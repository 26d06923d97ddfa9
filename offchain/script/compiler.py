"""The script checker and compiler: from source text to a checked circuit over shares.

A script is a short program in a subset of Python's syntax over secret
arrays. The compiler reads it with :mod:`ast` (never executes it),
*evaluates everything public at compile time* and emits the secret
operations into a :class:`~offchain.script.circuit.Circuit`. On the way it
checks, and reports with line and column before anything runs:

* **syntax and constructs** — statements: ``x = e``, ``x += e`` (``-= *=
  /=``), ``if``/``elif``/``else`` on *public* conditions, ``for i in
  range(...)`` with public bounds (at most :data:`MAX_LOOP` iterations per
  loop), ``break``/``continue`` (under public conditions), ``pass``;
  expressions: numbers, ``True``/``False``, names, ``+ - * / **`` (``**`` by
  a public integer 0..8), ``// %`` on public values, comparisons (chained),
  ``and or not``, ``a if c else b`` with public ``c``, ``x[i]`` and
  ``x[a:b:s]`` with public indices, list literals, calls of :data:`FUNCTIONS`.
  No imports, no attributes, no function definitions, no ``while``: the
  language has no way to name a file, a socket or a module;
* **names and types** — every name is an input, a private input of the
  requester, or assigned before use; kinds ``int``, ``fixed``, ``bool``;
  secret conditions go through ``where``;
* **shapes** — scalars and vectors; elementwise operations need equal
  lengths (or a scalar); vectors from different datasets may only be
  combined row by row when both datasets are aligned by a key;
* **ranges** — every value's interval against the engine's limits
  (:mod:`.ranges`): a script that could overflow is refused at the
  operation that could;
* **cost** — the unrolled circuit's size, rounds and traffic against
  ``builder.MAX_OPERATIONS``, :data:`MAX_ROUNDS` and :data:`MAX_BYTES`, and
  every value's size against ``builder.MAX_ELEMENTS``;
* **exposures** — what each output reveals of each column (:mod:`.policy`),
  from which the job's column uses and their required levels follow.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from offchain.errors import ScriptError
from offchain.script.builder import KIND_NAMES, InputDeclaration
from offchain.script.circuit import Circuit, Op, Output
from offchain.script.functions import FUNCTIONS
from offchain.script.operators import Operators
from offchain.script.policy import Column, Taint
from offchain.script.ranges import BOOLEAN, Interval
from offchain.script.syntax import describe, location, parse
from offchain.script.values import Public, Secret, Value

MAX_LOOP = 10_000
MAX_ROUNDS = 100_000
MAX_BYTES = 16e9
ROWS_KEY = "rows_key"
ROWS_ALIGNED = "rows_aligned"

_STATEMENTS = (ast.Assign, ast.AugAssign, ast.If, ast.For, ast.Break, ast.Continue, ast.Pass,
               ast.Expr)
_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
               ast.Mod: "%", ast.Pow: "**"}
_COMPARISONS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
                ast.NotEq: "!="}


@dataclass(frozen=True)
class CompiledScript:
    """A checked script: its circuit, and what each output exposes of which column."""

    circuit: Circuit
    exposures: Mapping[str, Taint]
    columns_read: frozenset[Column]
    aligned: tuple[tuple[int, int], ...]  # input indexes whose rows are combined row by row
    intervals: Mapping[str, Interval] = field(default_factory=dict)  # each output's range


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def compile_script(source: str, inputs: Sequence[InputDeclaration],
                   outputs: Sequence[tuple[str, str]], fractional_bits: int,
                   aligned: frozenset[int] = frozenset()) -> CompiledScript:
    """Check and compile ``source``; raise :class:`ScriptError` with line and column.

    ``outputs`` are ``(name, kind)`` pairs, kind ``integer``, ``fixed`` or
    ``bool``; ``aligned`` the input indexes whose rows are ordered by a key
    and may be combined row by row.
    """
    tree = parse(source, "exec", what="script")
    compiler = _Compiler(inputs, fractional_bits, aligned)
    compiler.block(tree.body, loop_depth=0)
    return compiler.finish(outputs)


class _Compiler(Operators):
    """Walks the source: statements, names and calls; finishes the circuit."""

    def __init__(self, inputs: Sequence[InputDeclaration], fractional_bits: int,
                 aligned: frozenset[int]) -> None:
        super().__init__(fractional_bits, aligned)
        self.inputs = {declaration.name: declaration for declaration in inputs}
        self.names: dict[str, Value] = {}
        self.loaded: dict[str, Secret] = {}

    # -- statements -------------------------------------------------------------------

    def block(self, statements: list[ast.stmt], loop_depth: int) -> None:
        for statement in statements:
            self.step(statement)
            self.statement(statement, loop_depth)

    def statement(self, node: ast.stmt, loop_depth: int) -> None:
        if not isinstance(node, _STATEMENTS):
            raise self.fail(node, f"{describe(node)} are not allowed in a script")
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1:
                raise self.fail(node, "assign one name at a time (no a = b = value)")
            self.assign(node.targets[0], self.value(node.value))
        elif isinstance(node, ast.AugAssign):
            target = self.target_name(node.target)
            if type(node.op) not in (ast.Add, ast.Sub, ast.Mult, ast.Div):
                raise self.fail(node, "only += -= *= /= are allowed")
            current = self.lookup(node.target, target)
            self.assign(node.target, self.arithmetic(node, _ARITHMETIC[type(node.op)], current,
                                                     self.value(node.value)))
        elif isinstance(node, ast.If):
            if self.condition(node.test, "an if statement"):
                self.block(node.body, loop_depth)
            else:
                self.block(node.orelse, loop_depth)
        elif isinstance(node, ast.For):
            self.loop(node, loop_depth)
        elif isinstance(node, ast.Break | ast.Continue):
            if loop_depth == 0:
                raise self.fail(node, f"{type(node).__name__.lower()} outside a loop")
            raise _Break if isinstance(node, ast.Break) else _Continue
        elif isinstance(node, ast.Expr):
            if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                raise self.fail(node, "an expression alone does nothing; assign it to a name")

    def target_name(self, target: ast.AST) -> str:
        if not isinstance(target, ast.Name):
            raise self.fail(target, "assign to a plain name (no unpacking, items or attributes)")
        if target.id in self.inputs:
            raise self.fail(target, f"{target.id!r} is an input; inputs are read-only")
        if target.id in FUNCTIONS:
            raise self.fail(target, f"{target.id!r} is a function of the language")
        if target.id.startswith("_"):
            raise self.fail(target, f"names may not start with '_' ({target.id!r})")
        return target.id

    def assign(self, target: ast.AST, value: Value) -> None:
        self.names[self.target_name(target)] = value

    def condition(self, node: ast.expr, what: str) -> bool:
        value = self.value(node)
        if isinstance(value, Secret):
            raise self.fail(node, f"the condition of {what} depends on secret data; "
                                  "compute both sides and choose with where(condition, a, b)")
        if value.shape != ():
            raise self.fail(node, f"the condition of {what} must be one value, not a vector")
        return bool(value.scalar())

    def loop(self, node: ast.For, loop_depth: int) -> None:
        if node.orelse:
            raise self.fail(node, "for ... else is not allowed")
        name = self.target_name(node.target)
        call = node.iter
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                and call.func.id == "range" and not call.keywords and 1 <= len(call.args) <= 3):
            raise self.fail(call, "loops run over range(stop) or range(start, stop[, step]) "
                                  "with public integers")
        bounds = []
        for argument in call.args:
            value = self.value(argument)
            if isinstance(value, Secret) or value.kind != "int" or value.shape != ():
                raise self.fail(argument, "loop bounds must be public integers (literals, "
                                          "lengths, loop indices)")
            bounds.append(int(value.scalar()))
        if len(bounds) == 3 and bounds[2] == 0:
            raise self.fail(call, "range step must not be zero")
        span = range(*bounds)
        if len(span) > MAX_LOOP:
            raise self.fail(call, f"the loop runs {len(span)} times; at most {MAX_LOOP} "
                                  "(operate on whole vectors instead of elements)")
        for index in span:
            self.names[name] = Public.of(np.int64(index))
            try:
                self.block(node.body, loop_depth + 1)
            except _Break:
                break
            except _Continue:
                continue

    # -- expressions ------------------------------------------------------------------

    def lookup(self, node: ast.AST, name: str) -> Value:
        if name in self.names:
            return self.names[name]
        if name in self.inputs:
            return self.load(node, self.inputs[name])
        if name in FUNCTIONS:
            raise self.fail(node, f"{name!r} is a function: call it, e.g. {name}(...)")
        known = sorted(set(self.names) | set(self.inputs))
        raise self.fail(node, f"unknown name {name!r}; defined here: {', '.join(known) or 'none'}")

    def load(self, node: ast.AST, declaration: InputDeclaration) -> Secret:
        if declaration.name not in self.loaded:
            shape = () if declaration.length is None else (declaration.length,)
            where = location(node)
            if declaration.column is not None:
                self.columns_read.add(declaration.column)
                taint = Taint.column(declaration.column, where)
                rows = declaration.source if shape else None
            else:
                taint = Taint()
                rows = f"requester:{declaration.name}" if shape else None
            self.loaded[declaration.name] = self.emit(
                node, "input", (), kind=declaration.kind, shape=shape,
                interval=declaration.interval, rows=rows, whole=declaration.column is not None,
                taint=taint,
                parameters={"source": declaration.source, "array": declaration.array or declaration.name},
            )
        return self.loaded[declaration.name]

    def value(self, node: ast.expr) -> Value:
        self.step(node)
        if isinstance(node, ast.Constant):
            literal = node.value
            if isinstance(literal, bool | int | float) and not isinstance(literal, complex):
                if isinstance(literal, float) and not math.isfinite(literal):
                    raise self.fail(node, "numbers must be finite")
                if isinstance(literal, int) and not isinstance(literal, bool) and abs(literal) >= 2**62:
                    raise self.fail(node, "integer literal outside ±2**62")
                return Public.of(literal)
            raise self.fail(node, f"{type(literal).__name__} literals are not allowed "
                                  "(numbers and True/False only)")
        if isinstance(node, ast.Name):
            return self.lookup(node, node.id)
        if isinstance(node, ast.BinOp):
            operator = _ARITHMETIC.get(type(node.op))
            if operator is None:
                raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")
            return self.arithmetic(node, operator, self.value(node.left), self.value(node.right))
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BoolOp):
            values = [self.value(item) for item in node.values]
            result = values[0]
            for item in values[1:]:
                result = self.logical(node, "and" if isinstance(node.op, ast.And) else "or",
                                      result, item)
            return result
        if isinstance(node, ast.Compare):
            left = self.value(node.left)
            result: Value | None = None
            for operator, comparator in zip(node.ops, node.comparators, strict=True):
                symbol = _COMPARISONS.get(type(operator))
                if symbol is None:
                    raise self.fail(node, f"comparison {type(operator).__name__} is not allowed")
                right = self.value(comparator)
                outcome = self.compare(node, symbol, left, right)
                result = outcome if result is None else self.logical(node, "and", result, outcome)
                left = right
            return result
        if isinstance(node, ast.IfExp):
            return self.value(node.body if self.condition(node.test, "a conditional expression")
                              else node.orelse)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.List | ast.Tuple):
            if not node.elts:
                raise self.fail(node, "empty lists have no kind; use zeros(n)")
            return self.concat(node, [self.value(item) for item in node.elts], elements=True)
        raise self.fail(node, f"{describe(node)} are not allowed in a script")

    # -- calls -------------------------------------------------------------------------

    def call(self, node: ast.Call) -> Value:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only the functions of the language can be called, by name")
        name = node.func.id
        entry = FUNCTIONS.get(name)
        if entry is None:
            raise self.fail(node.func, f"unknown function {name!r}; functions: "
                                       f"{', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            raise self.fail(node, f"{name} takes positional arguments only")
        minimum, maximum, handler = entry
        if not minimum <= len(node.args) <= maximum:
            expected = str(minimum) if minimum == maximum else f"{minimum} to {maximum}"
            raise self.fail(node, f"{name} takes {expected} arguments, got {len(node.args)}")
        if name == "range":
            raise self.fail(node, "range() only drives for loops")
        return handler(self, node, [self.value(argument) for argument in node.args])

    # -- finishing ----------------------------------------------------------------------

    def finish(self, outputs: Sequence[tuple[str, str]]) -> CompiledScript:
        results: list[Output] = []
        exposures: dict[str, Taint] = {}
        intervals: dict[str, Interval] = {}
        registers: list[tuple[str, Secret]] = []
        for name, declared in outputs:
            if name not in self.names:
                raise ScriptError(f"the declared output {name!r} is never assigned")
            value = self.names[name]
            kind = {"integer": "int", "fixed": "fixed", "bool": "bool"}[declared]
            if kind == "bool" and value.kind != "bool":
                raise ScriptError(f"output {name!r} is declared bool but the script computes "
                                  f"{KIND_NAMES[value.kind]} values")
            if kind == "int" and value.kind == "fixed":
                raise ScriptError(f"output {name!r} is declared integer but the script computes "
                                  "fixed-point values; declare it fixed")
            anchor = ast.Pass(lineno=None, col_offset=None)
            secret = self.secret(anchor, value, "fixed" if kind == "fixed" else value.kind
                                 if isinstance(value, Secret) else kind)
            registers.append((name, replace(secret, kind=kind)))
            exposures[name] = secret.taint
            intervals[name] = secret.interval
        if self.aligned_pairs:
            flag = self.alignment_flag()
            masked = []
            for name, secret in registers:
                product = self.emit(ast.Pass(), "multiply", (secret, flag), kind=secret.kind,
                                    shape=secret.shape, interval=secret.interval.hull(
                                        Interval(0.0, 0.0)), rows=secret.rows, whole=secret.whole,
                                    taint=secret.taint)
                masked.append((name, product))
            registers = masked + [(ROWS_ALIGNED, flag)]
        for name, secret in registers:
            results.append(Output(name, secret.register, secret.kind, secret.shape))
        ops = _with_frees(self.ops, {output.register for output in results})
        circuit = Circuit(tuple(ops), tuple(results), self.fractional_bits,
                          tuple((op.parameters["source"], op.parameters["array"])
                                for op in ops if op.name == "input"))
        rounds, sent = circuit.cost()
        if rounds > MAX_ROUNDS or sent > MAX_BYTES:
            heaviest = max(self.ops, key=lambda op: op.cost()[1])
            line, column = heaviest.where
            raise ScriptError(
                f"the script needs about {rounds} rounds and {sent / 1e9:.1f} GB per party "
                f"(limits {MAX_ROUNDS} rounds, {MAX_BYTES / 1e9:.0f} GB); the heaviest operation "
                f"is {heaviest.name} on {heaviest.elements} elements", line, column,
            )
        return CompiledScript(circuit, exposures, frozenset(self.columns_read),
                              tuple(sorted(self.aligned_pairs)), intervals)

    def alignment_flag(self) -> Secret:
        """1 when every pair of aligned inputs has equal keys row by row, else 0."""
        flag: Secret | None = None
        for first, second in sorted(self.aligned_pairs):
            length = next(d.length for d in self.inputs.values()
                          if d.source == f"input{first}" and d.length is not None)
            keys = [self.load(ast.Pass(), InputDeclaration(
                f"rows_key{index}", f"input{index}", "int", length, Interval(-2.0**60, 2.0**60),
                array=ROWS_KEY)) for index in (first, second)]
            pair = self.emit(ast.Pass(), "rows_aligned", tuple(keys), kind="bool", shape=(),
                             interval=BOOLEAN, rows=None, whole=True, taint=Taint(),
                             elements=length)
            flag = pair if flag is None else replace(self.emit(
                ast.Pass(), "multiply", (flag, pair), kind="int", shape=(), interval=BOOLEAN,
                rows=None, whole=True, taint=Taint()), kind="bool")
        return flag


def _with_frees(ops: list[Op], keep: set[int]) -> list[Op]:
    """Mark on each operation the registers whose last use it is."""
    last: dict[int, int] = {}
    for index, op in enumerate(ops):
        for argument in op.arguments:
            if isinstance(argument, int):
                last[argument] = index
    frees: dict[int, list[int]] = {}
    for register, index in last.items():
        if register not in keep:
            frees.setdefault(index, []).append(register)
    for index, op in enumerate(ops):
        if op.result not in last and op.result not in keep:  # computed, never used
            frees.setdefault(index, []).append(op.result)
    return [replace(op, frees=tuple(sorted(frees.get(index, ())))) for index, op in enumerate(ops)]



__all__ = ["FUNCTIONS", "ROWS_ALIGNED", "ROWS_KEY", "CompiledScript", "InputDeclaration",
           "compile_script"]
