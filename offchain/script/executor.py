"""Running a compiled script at one compute party, over the engine's shares.

Every operation of the circuit maps to one handler in :data:`HANDLERS` — an
explicit table, no lookup by name elsewhere — which calls the engine's
protocols (:mod:`offchain.mpc`). All three parties run the same circuit
in the same order, so their protocol sequences, PRG streams and rounds
stay in step; registers are dropped after their last use.

Two operations are built here from engine primitives:

* ``scale`` — a fixed-point share times public reals ``c`` with the
  constant carried to ``2f`` bits in two limbs (one truncation run), after
  an optional pre-truncation that keeps the limb products in range, and a
  final power-of-two shift. Error: a few units of ``2**-f`` times
  ``max(1, 2**exponent)``, plus ``|c| * 2**(pre_shift - f)`` when the input
  was pre-truncated.
* ``reduce_minimum`` / ``reduce_maximum`` — a tree of elementwise
  minimums: ``ceil(log2 n)`` comparisons of halving vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from offchain.errors import InputError
from offchain.mpc import arithmetic, compare, division, exponential, logarithm, roots, sigmoid
from offchain.mpc.fixedpoint import FixedPoint
from offchain.mpc.ring import to_ring
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import ArithmeticShare, FixedPointShare, Share
from offchain.mpc.sharing import share_public
from offchain.mpc.truncation import additive_terms, truncate, truncate_many
from offchain.script.circuit import Circuit, Op

Operand = Share | np.ndarray


def run_circuit(runtime: Runtime, circuit: Circuit,
                inputs: Mapping[tuple[str, str], Share]) -> dict[str, Share]:
    """Run ``circuit`` at this party; return the output shares by name."""
    if runtime.fractional_bits != circuit.fractional_bits:
        raise InputError(
            f"the script was compiled for {circuit.fractional_bits} fractional bits, the engine "
            f"runs {runtime.fractional_bits}"
        )
    registers: dict[int, Share] = {}
    # Ring arithmetic wraps mod 2**64 by design; numpy warns about it on 0-d operands only.
    with np.errstate(over="ignore"):
        for op in circuit.ops:
            operands = [registers[a] if isinstance(a, int) else a for a in op.arguments]
            result = HANDLERS[op.name](runtime, op, operands, inputs)
            registers[op.result] = _checked(op, result)
            for register in op.frees:
                del registers[register]
    return {output.name: registers[output.register] for output in circuit.outputs}


def _checked(op: Op, share: Share) -> Share:
    if tuple(share.shape) != tuple(op.shape):
        raise InputError(f"{op.name} produced shape {share.shape}, the circuit expects {op.shape}")
    fixed = isinstance(share, FixedPointShare)
    if fixed != (op.kind == "fixed"):
        raise InputError(f"{op.name} produced {type(share).__name__}, the circuit expects {op.kind}")
    return share


# ---------------------------------------------------------------------------------------------
# handlers: (runtime, op, operands, inputs) -> share


def _input(runtime: Runtime, op: Op, operands: list, inputs: Mapping) -> Share:
    key = (op.parameters["source"], op.parameters["array"])
    if key not in inputs:
        raise InputError(f"the script reads {key[1]!r} from {key[0]}, which was not shared")
    share = inputs[key]
    if not isinstance(share, ArithmeticShare):
        raise InputError(f"{key[1]!r} from {key[0]} must be an arithmetic sharing")
    if isinstance(share, FixedPointShare) and share.fractional_bits != runtime.fractional_bits:
        raise InputError(f"{key[1]!r} has {share.fractional_bits} fractional bits")
    return share


def _constant(runtime: Runtime, op: Op, operands: list, inputs: Mapping) -> Share:
    kind = "fixed" if op.kind == "fixed" else "integer"
    return share_public(runtime, operands[0], kind)


def _add(runtime, op, operands, inputs) -> Share:
    left, right = operands
    return left + right if isinstance(left, Share) else right + left


def _subtract(runtime, op, operands, inputs) -> Share:
    left, right = operands
    return left - right


def _negate(runtime, op, operands, inputs) -> Share:
    return -operands[0]


def _multiply(runtime, op, operands, inputs) -> Share:
    return arithmetic.mul(*operands)


def _multiply_public(runtime, op, operands, inputs) -> Share:
    share, constant = operands
    return share.mul_public(np.asarray(constant, dtype=np.int64))


def _to_fixed(runtime, op, operands, inputs) -> Share:
    return operands[0].to_fixed(runtime.fractional_bits)


def _scale(runtime: Runtime, op: Op, operands: list, inputs: Mapping) -> Share:
    share, constants = operands
    f = share.fractional_bits
    pre_shift, exponent = int(op.parameters["pre_shift"]), int(op.parameters["exponent"])
    if pre_shift:
        share = truncate(share, pre_shift)
    # c * 2**pre_shift = m * 2**exponent with |m| < 1; m carried to 2f bits as high * 2**-f + low * 2**-2f
    scaled = np.rint(np.ldexp(np.asarray(constants, dtype=np.float64), pre_shift - exponent + 2 * f))
    scaled = scaled.astype(np.int64)
    high, low = scaled >> f, scaled & ((1 << f) - 1)
    ndim = max(share.ndim, scaled.ndim)
    components = share.components.reshape((2,) + (1,) * (ndim - share.ndim) + share.shape)
    limbs = truncate_many(runtime, [
        (additive_terms(ArithmeticShare(runtime, components * high.astype(np.uint64))), f),
        (additive_terms(ArithmeticShare(runtime, components * low.astype(np.uint64))), 2 * f),
    ])
    product = FixedPointShare(runtime, limbs[0] + limbs[1], f)
    if exponent > 0:
        return product.mul_public(1 << exponent)
    if exponent < 0:
        return truncate(product, -exponent)
    return product


def _divide(runtime, op, operands, inputs) -> Share:
    return division.divide(*operands)


def _less(runtime, op, operands, inputs) -> Share:
    return compare.less_than(*operands)


def _equal(runtime, op, operands, inputs) -> Share:
    return compare.equal(*operands)


def _select(runtime: Runtime, op: Op, operands: list, inputs: Mapping) -> Share:
    condition, if_true, if_false = operands
    if isinstance(if_true, Share) or isinstance(if_false, Share):
        difference = if_true - if_false  # a share (numpy defers public - share to the share)
    else:
        difference = np.asarray(if_true) - np.asarray(if_false)
    if isinstance(difference, Share):
        chosen = arithmetic.mul(condition, difference)
    elif op.kind == "fixed":
        # the condition is 0/1, so condition * encode(d) is exactly the encoding of condition * d
        encoded = FixedPoint(runtime.fractional_bits).encode(difference)
        chosen = FixedPointShare(runtime, condition.mul_public(encoded).components,
                                 runtime.fractional_bits)
    else:
        chosen = condition.mul_public(to_ring(np.asarray(difference, dtype=np.int64)))
    return chosen + if_false


def _pair(function: Callable) -> Callable:
    def handler(runtime, op, operands, inputs) -> Share:
        return function(*operands)

    return handler


def _single(function: Callable) -> Callable:
    def handler(runtime, op, operands, inputs) -> Share:
        return function(operands[0])

    return handler


def _sum(runtime, op, operands, inputs) -> Share:
    return operands[0].sum()


def _dot(runtime, op, operands, inputs) -> Share:
    return arithmetic.dot(*operands)


def _reduce(function: Callable) -> Callable:
    def handler(runtime, op, operands, inputs) -> Share:
        values = operands[0]
        while values.shape[0] > 1:
            half = values.shape[0] // 2
            picked = function(values[:half], values[half: 2 * half])
            if values.shape[0] % 2:
                picked = _join([picked, values[2 * half:]])
            values = picked
        return values[0]

    return handler


def _index(runtime, op, operands, inputs) -> Share:
    return operands[0][op.parameters["key"]].copy()


def _join(shares: list[Share]) -> Share:
    first = shares[0]
    components = np.concatenate([s.components.reshape(2, -1) for s in shares], axis=1)
    return first._like(components)


def _concat(runtime, op, operands, inputs) -> Share:
    return _join(list(operands))


def _rows_aligned(runtime: Runtime, op: Op, operands: list, inputs: Mapping) -> Share:
    first, second = operands
    matches = compare.equal(first, second).sum()
    return compare.equal(matches, first.shape[0])


HANDLERS: Mapping[str, Callable[[Runtime, Op, list, Mapping], Any]] = {
    "input": _input,
    "constant": _constant,
    "add": _add,
    "subtract": _subtract,
    "negate": _negate,
    "multiply": _multiply,
    "multiply_public": _multiply_public,
    "to_fixed": _to_fixed,
    "scale": _scale,
    "divide": _divide,
    "less": _less,
    "equal": _equal,
    "select": _select,
    "minimum": _pair(compare.minimum),
    "maximum": _pair(compare.maximum),
    "abs": _single(compare.absolute),
    "relu": _single(compare.relu),
    "sign": _single(compare.sign),
    "exp": _single(exponential.exp),
    "sigmoid": _single(sigmoid.sigmoid),
    "sqrt": _single(roots.sqrt),
    "log": _single(logarithm.log),
    "sum": _sum,
    "dot": _dot,
    "reduce_minimum": _reduce(compare.minimum),
    "reduce_maximum": _reduce(compare.maximum),
    "index": _index,
    "concat": _concat,
    "rows_aligned": _rows_aligned,
}
