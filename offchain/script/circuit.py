"""A compiled script: a straight-line list of operations on secret registers, with its cost.

The compiler evaluates everything public at compile time — loop bounds,
public ``if`` conditions, constants, shapes — so what is left is a fixed
sequence of :class:`Op`, the same at every compute party: the script's
control flow never depends on secret data, and the circuit reveals
nothing but its outputs.

An operand is a register number (``int``) or a public constant
(``numpy.ndarray``). Registers are freed after their last use
(``Op.frees``), so a script's memory is the largest set of live values,
not the sum of all of them.

Costs per element (rounds; bytes sent by the busiest party), measured by
``benchmarks/mpc_ops.py`` and listed in docs/MPC.md, give
:meth:`Circuit.cost`: the number of communication rounds and bytes a run
needs, known before it starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Operand = int | np.ndarray

# (rounds, bytes per element at the busiest party) of each operation, from docs/MPC.md.
_COSTS: Mapping[str, tuple[int, float]] = {
    "input": (0, 0), "constant": (0, 0), "add": (0, 0), "subtract": (0, 0), "negate": (0, 0),
    "multiply_public": (0, 0), "to_fixed": (0, 0), "index": (0, 0), "concat": (0, 0),
    "sum": (0, 0), "multiply": (1, 8), "scale": (2, 32),
    "truncate": (2, 16), "less": (10, 35), "equal": (9, 26), "select": (1, 8),
    "minimum": (11, 43), "maximum": (11, 43), "abs": (11, 43), "relu": (11, 43),
    "sign": (19, 62), "exp": (41, 433), "sigmoid": (29, 269), "sqrt": (45, 584),
    "log": (33, 560), "divide": (40, 608), "reciprocal": (39, 600), "dot": (1, 8),
    "reduce_minimum": (11, 43), "reduce_maximum": (11, 43),
    "rows_aligned": (18, 52),
}


@dataclass(frozen=True)
class Op:
    """One operation: ``registers[result] = name(*arguments, **parameters)``.

    ``elements`` is the number of elements the operation works on (for its
    cost), ``where`` the source position it comes from (for messages).
    """

    name: str
    result: int
    arguments: tuple[Operand, ...]
    parameters: Mapping[str, Any]
    kind: str  # "int" | "fixed" | "bool": the result's kind
    shape: tuple[int, ...]
    elements: int
    where: tuple[int | None, int | None] = (None, None)
    frees: tuple[int, ...] = ()

    def cost(self) -> tuple[int, float]:
        """Rounds and bytes (busiest party) of this operation."""
        rounds, per_element = _COSTS[self.name]
        if self.name in ("reduce_minimum", "reduce_maximum") and self.elements > 1:
            rounds *= math.ceil(math.log2(self.elements))
        if self.name in ("multiply", "dot") and self.parameters.get("truncated"):
            rounds, per_element = 2, 26  # the product of two fixed-point values is truncated
        if self.name == "scale":
            # one two-limb truncation, plus a pre-truncation and a final shift when needed
            runs = 1 + (self.parameters["pre_shift"] > 0) + (self.parameters["exponent"] < 0)
            rounds, per_element = 2 * runs, 16 * (runs + 1)
        return rounds, per_element * self.elements


@dataclass(frozen=True)
class Output:
    """A declared output: the register holding it, its kind and shape."""

    name: str
    register: int
    kind: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Circuit:
    """A compiled script (see the module docstring)."""

    ops: tuple[Op, ...]
    outputs: tuple[Output, ...]
    fractional_bits: int
    inputs: tuple[tuple[str, str], ...] = ()  # (source, array name) loaded by "input" ops
    notes: tuple[str, ...] = field(default=())

    def cost(self) -> tuple[int, float]:
        """Total rounds and bytes sent by the busiest party (operations run one after another)."""
        rounds = 0
        sent = 0.0
        for op in self.ops:
            op_rounds, op_bytes = op.cost()
            rounds += op_rounds
            sent += op_bytes
        return rounds, sent

    def peak_elements(self) -> int:
        """The largest number of elements held in live registers at once."""
        live: dict[int, int] = {}
        peak = 0
        for op in self.ops:
            live[op.result] = max(1, int(np.prod(op.shape, dtype=np.int64)))
            peak = max(peak, sum(live.values()))
            for register in op.frees:
                live.pop(register, None)
        return peak
