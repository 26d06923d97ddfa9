"""The base of the script compiler: emitting operations, shapes, rows, taint, public folding.

:class:`Builder` holds the circuit being built and the rules every
operation obeys when it is emitted: the size and range checks
(:mod:`.ranges`), how shapes broadcast, which row spaces may be combined
row by row (:mod:`.policy`'s *whole* rows), and how public values are
folded with overflow checks. :mod:`.operators` and :mod:`.functions`
build on it; :mod:`.compiler` walks the source.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from offchain.errors import ScriptError
from offchain.script.circuit import Op
from offchain.script.policy import Column, Taint
from offchain.script.ranges import Interval, Limits, describe_number
from offchain.script.syntax import error_at, location
from offchain.script.values import Public, Secret, Value

MAX_STEPS = 200_000
MAX_OPERATIONS = 50_000
MAX_ELEMENTS = 10_000_000
MAX_PUBLIC_ELEMENTS = 1_000_000
MAX_PUBLIC_WORK = 50_000_000
KIND_NAMES = {"int": "integer", "fixed": "fixed-point", "bool": "true/false"}


@dataclass(frozen=True)
class InputDeclaration:
    """A secret input a script reads: a bound column or a private input of the requester."""

    name: str
    source: str  # "input<i>" or "requester"
    kind: str
    length: int | None  # None: a scalar
    interval: Interval
    column: Column | None = None  # (input index, column) for owners' columns
    array: str | None = None  # the shared array's name, when it differs from ``name``


class Builder:
    """The circuit under construction and the checks of every emitted operation."""

    def __init__(self, fractional_bits: int, aligned: frozenset[int]) -> None:
        self.limits = Limits(fractional_bits)
        self.fractional_bits = fractional_bits
        self.aligned_inputs = aligned
        self.ops: list[Op] = []
        self.registers = 0
        self.steps = 0
        self.public_work = 0
        self.aligned_pairs: set[tuple[int, int]] = set()
        self.columns_read: set[Column] = set()

    # -- errors and budgets -------------------------------------------------------------

    def fail(self, node: ast.AST, reason: str) -> ScriptError:
        return error_at(node, reason)

    def step(self, node: ast.AST) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.fail(node, f"the script takes more than {MAX_STEPS} steps to unroll; "
                                  "use fewer or shorter loops (vectorise: operate on whole arrays)")

    # -- emission -----------------------------------------------------------------------

    def emit(self, node: ast.AST, name: str, arguments: tuple[Value, ...], *, kind: str,
             shape: tuple[int, ...], interval: Interval, rows: str | None, whole: bool,
             taint: Taint, parameters: Mapping[str, Any] | None = None,
             elements: int | None = None) -> Secret:
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if size > MAX_ELEMENTS:
            raise self.fail(node, f"a value of {size} elements; at most {MAX_ELEMENTS}")
        limit = self.limits.value(kind)
        if interval.magnitude >= limit:
            raise self.fail(node, f"this {KIND_NAMES[kind]} value may reach "
                                  f"{describe_number(interval.magnitude)} (range "
                                  f"{interval.describe()}), beyond the engine's limit "
                                  f"{describe_number(limit)}; declare tighter bounds on the "
                                  "inputs or scale the values down")
        if len(self.ops) >= MAX_OPERATIONS:
            raise self.fail(node, f"the script compiles to more than {MAX_OPERATIONS} "
                                  "operations; vectorise it or shorten its loops")
        operands = tuple(argument.register if isinstance(argument, Secret) else argument.value
                         for argument in arguments)
        register = self.registers
        self.registers += 1
        self.ops.append(Op(name, register, operands, dict(parameters or {}), kind, shape,
                           elements if elements is not None else max(size, 1), location(node)))
        return Secret(register, kind, shape, interval, rows if shape else None,
                      whole if shape else True, taint)

    def secret(self, node: ast.AST, value: Value, kind: str) -> Secret:
        """Return ``value`` as a secret of ``kind`` (promoting ints, sharing public constants)."""
        if isinstance(value, Public):
            return self.emit(node, "constant", (self.public_as(node, value, kind),), kind=kind,
                             shape=value.shape, interval=value.interval, rows=None, whole=True,
                             taint=Taint())
        if kind == "fixed" and value.kind != "fixed":
            return self.emit(node, "to_fixed", (value,), kind="fixed", shape=value.shape,
                             interval=value.interval, rows=value.rows, whole=value.whole,
                             taint=value.taint)
        return value

    def public_as(self, node: ast.AST, value: Public, kind: str) -> Public:
        if kind == "fixed":
            return Public(value.value.astype(np.float64), "fixed")
        if value.kind == "fixed":
            if not np.all(np.floor(value.value) == value.value):
                raise self.fail(node, "an integer value is needed here, got a real number")
            return Public(value.value.astype(np.int64), "int")
        return Public(value.value.astype(np.int64), "int")

    # -- shapes, rows, taint --------------------------------------------------------------

    def broadcast(self, node: ast.AST, *values: Value) -> tuple[int, ...]:
        shapes = {value.shape for value in values if value.shape != ()}
        if len(shapes) > 1:
            rendered = " and ".join(str(list(shape)) for shape in sorted(shapes))
            raise self.fail(node, f"shapes {rendered} do not match; elementwise operations "
                                  "need equal lengths or a single value")
        return shapes.pop() if shapes else ()

    def row_space(self, node: ast.AST, *values: Value) -> tuple[str | None, bool]:
        """The row space of an elementwise result and whether it stays whole."""
        secrets = [v for v in values if isinstance(v, Secret) and v.shape]
        spaces = {v.rows for v in secrets}
        datasets = sorted(s for s in spaces if s and s.startswith("input"))
        if len(datasets) > 1:
            indexes = [int(s[len("input"):]) for s in datasets]
            unaligned = [i for i in indexes if i not in self.aligned_inputs]
            if unaligned:
                raise self.fail(node, "this combines rows of different datasets row by row; "
                                      "declare align_by keys for both datasets so their rows "
                                      "correspond (or aggregate each one first)")
            for first in indexes:
                for second in indexes:
                    if first < second:
                        self.aligned_pairs.add((first, second))
        whole = all(v.whole for v in secrets)
        whole &= not any(isinstance(v, Public) and v.shape and not v.uniform for v in values)
        whole &= not any(s and s.startswith("requester:") for s in spaces)
        rows = datasets[0] if datasets else next((s for s in spaces if s), None)
        return rows, whole

    @staticmethod
    def taint_of(*values: Value) -> Taint:
        return Taint.union(v.taint for v in values if isinstance(v, Secret))

    def elementwise(self, node: ast.AST, name: str, arguments: tuple[Value, ...], kind: str,
                    interval: Interval, taint: Taint | None = None,
                    parameters: Mapping[str, Any] | None = None) -> Secret:
        shape = self.broadcast(node, *arguments)
        rows, whole = self.row_space(node, *arguments)
        return self.emit(node, name, arguments, kind=kind, shape=shape, interval=interval,
                         rows=rows, whole=whole,
                         taint=taint if taint is not None else self.taint_of(*arguments),
                         parameters=parameters)

    # -- public folding ---------------------------------------------------------------

    def fold(self, node: ast.AST, compute: Callable[[], Any], *values: Public,
             elementwise: bool = True) -> Public:
        sizes = [max(1, v.value.size) for v in values]
        self.public_work += max(sizes)
        if self.public_work > MAX_PUBLIC_WORK:
            raise self.fail(node, "the script does too much public arithmetic; simplify it")
        if elementwise:
            self.broadcast(node, *values)
        with np.errstate(all="raise"):
            try:
                result = Public.of(compute())
            except (FloatingPointError, ZeroDivisionError, OverflowError, ValueError) as exc:
                raise self.fail(node, f"public arithmetic failed: {exc}") from None
        if result.value.size > MAX_PUBLIC_ELEMENTS:
            raise self.fail(node, f"a public value of {result.value.size} elements; at most "
                                  f"{MAX_PUBLIC_ELEMENTS}")
        if result.kind == "fixed" and not np.all(np.isfinite(result.value)):
            raise self.fail(node, "public arithmetic gave a non-finite number")
        if result.kind == "int" and result.value.size and np.max(np.abs(result.value)) >= 2**62:
            raise self.fail(node, "public integer overflow (beyond ±2**62)")
        return result

