"""The protocols callable by name, for layers that dispatch on names (approved scripts, plans).

An explicit table: adding a protocol means adding a line here, and an
unknown name is refused with the list of known ones. Every entry takes
shares (and public values) and returns a share.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

from offchain.errors import InputError
from offchain.mpc import (
    arithmetic,
    binary,
    compare,
    converters,
    division,
    exponential,
    logarithm,
    roots,
    sigmoid,
)

PROTOCOLS: MappingProxyType[str, Callable] = MappingProxyType(
    {
        "mul": arithmetic.mul,
        "mul_public": arithmetic.mul_public,
        "matmul": arithmetic.matmul,
        "dot": arithmetic.dot,
        "and": binary.and_,
        "or": binary.or_,
        "to_boolean": converters.arithmetic_to_boolean,
        "to_arithmetic": converters.boolean_to_arithmetic,
        "bits_to_arithmetic": converters.bits_to_arithmetic,
        "less_than": compare.less_than,
        "less_equal": compare.less_equal,
        "greater_than": compare.greater_than,
        "greater_equal": compare.greater_equal,
        "equal": compare.equal,
        "select": compare.select,
        "minimum": compare.minimum,
        "maximum": compare.maximum,
        "relu": compare.relu,
        "abs": compare.absolute,
        "sign": compare.sign,
        "divide": division.divide,
        "reciprocal": division.reciprocal,
        "exp": exponential.exp,
        "sigmoid": sigmoid.sigmoid,
        "sqrt": roots.sqrt,
        "log": logarithm.log,
    }
)


def protocol(name: str) -> Callable:
    """Return the protocol registered as ``name``; refuse unknown names with the known ones."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise InputError(
            f"unknown MPC protocol {name!r}; known protocols: {', '.join(sorted(PROTOCOLS))}"
        ) from None
