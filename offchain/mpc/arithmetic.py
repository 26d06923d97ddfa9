"""Multiplication, dot and matrix products of arithmetic sharings mod 2**64.

Replicated multiplication (Araki, Furukawa, Lindell, Nof, Ohara, CCS 2016):
party ``i`` computes its additive term of ``x * y``::

    z_i = x_i*y_i + x_i*y_{i+1} + x_{i+1}*y_i + alpha_i

(``alpha`` a fresh zero sharing from the pairwise PRGs, which hides ``z_i``
from its recipient) and sends ``z_i`` to party ``i - 1``: one round, one
ring element per output element per party. Dot and matrix products sum the
terms before the round, so they cost one round and one element per
*output* element, whatever the inner dimension.

Fixed-point operands are truncated after the product, fused into the same
protocol (:mod:`offchain.mpc.truncation`): 2 rounds in total.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from offchain.errors import InputError
from offchain.mpc.fixedpoint import FixedPoint
from offchain.mpc.ring import to_ring
from offchain.mpc.shares import ArithmeticShare, FixedPointShare, Share, expand_components
from offchain.mpc.truncation import mul_truncate, truncate, truncate_product_terms

CHUNK_ELEMENTS = 1 << 15  # elements per piece of local work (three arrays of them fit in L2)


def _check_operands(x: object, y: object, operation: str) -> None:
    for operand in (x, y):
        if isinstance(operand, Share) and not isinstance(operand, ArithmeticShare):
            raise InputError(
                f"{operation} needs arithmetic shares, got {type(operand).__name__}; "
                f"use & for boolean shares or convert with to_arithmetic()"
            )
    if isinstance(x, Share) and isinstance(y, Share):
        x._check_same_runtime(y)


def _result_bits(x: ArithmeticShare, y: ArithmeticShare) -> int | None:
    """Fractional bits of an untruncated product with at most one fixed-point factor, or None."""
    for operand in (x, y):
        if isinstance(operand, FixedPointShare):
            return operand.fractional_bits
    return None


def _wrap(runtime, components: np.ndarray, fractional_bits: int | None) -> ArithmeticShare:
    if fractional_bits is None:
        return ArithmeticShare(runtime, components)
    return FixedPointShare(runtime, components, fractional_bits)


def product_terms(
    x: ArithmeticShare, y: ArithmeticShare, out: np.ndarray | None = None, mask: bool = True
) -> np.ndarray:
    """Return this party's additive term ``z_i`` of the elementwise ``x * y`` (local).

    ``z_i = x_i * (y_i + y_{i+1}) + x_{i+1} * y_i (+ alpha_i)``, written into
    ``out`` if given. With ``mask`` the zero sharing ``alpha`` hides ``z_i``
    so it can be sent as it is; the truncation protocol masks what it sends
    itself and takes unmasked terms (:func:`raw_product_terms`).
    """
    ndim = max(x.ndim, y.ndim)
    xc, yc = expand_components(x.components, ndim), expand_components(y.components, ndim)
    shape = np.broadcast_shapes(xc.shape[1:], yc.shape[1:])
    term = np.empty(shape, dtype=np.uint64) if out is None else out
    if xc.shape == yc.shape and term.flags.c_contiguous and term.size > CHUNK_ELEMENTS:
        # Same shapes (the common case): the three passes run on cache-sized pieces.
        flat_x, flat_y = xc.reshape(2, -1), yc.reshape(2, -1)
        flat_term = term.reshape(-1)
        scratch = np.empty(CHUNK_ELEMENTS, dtype=np.uint64)
        for start in range(0, flat_term.size, CHUNK_ELEMENTS):
            piece = slice(start, start + CHUNK_ELEMENTS)
            part, cross = flat_term[piece], scratch[: flat_term[piece].size]
            np.add(flat_y[0, piece], flat_y[1, piece], out=part)
            np.multiply(part, flat_x[0, piece], out=part)
            np.multiply(flat_x[1, piece], flat_y[0, piece], out=cross)
            np.add(part, cross, out=part)
            if mask:  # the streams are consumed in order, piece after piece
                x.runtime.add_zero_sharing_into(part)
        return term
    else:
        # explicit outputs throughout: 0-d operands would otherwise turn into numpy scalars
        y_sum = np.add(yc[0], yc[1], out=np.empty(yc.shape[1:], dtype=np.uint64))
        np.multiply(xc[0], y_sum, out=term)
        cross = np.multiply(xc[1], yc[0], out=np.empty(shape, dtype=np.uint64))
        np.add(term, cross, out=term)
    if mask:
        x.runtime.add_zero_sharing_into(term)
    return term


def raw_product_terms(x: ArithmeticShare, y: ArithmeticShare) -> np.ndarray:
    """Return the unmasked additive term of ``x * y``, for :func:`offchain.mpc.truncation.truncate_many`."""
    return product_terms(x, y, mask=False)


def _reshared(runtime, term_into: np.ndarray) -> np.ndarray:
    """Complete ``[term, ?]`` by resharing ``components[0]``; the result is read-only."""
    term_into[1, ...] = runtime.reshare(term_into[0, ...])
    term_into.flags.writeable = False
    return term_into


def mul(x: ArithmeticShare, y: ArithmeticShare) -> ArithmeticShare:
    """Return a sharing of ``x * y`` (elementwise, numpy broadcasting).

    Integers: exact mod 2**64, one round. Fixed point times fixed point:
    truncated product (2 rounds, see :func:`offchain.mpc.truncation.mul_truncate`).
    Fixed point times an integer sharing: exact, one round, stays fixed point.
    """
    _check_operands(x, y, "mul")
    if isinstance(x, FixedPointShare) and isinstance(y, FixedPointShare):
        return mul_truncate(x, y)
    runtime = x.runtime
    shape = np.broadcast_shapes(x.shape, y.shape)
    components = np.empty((2, *shape), dtype=np.uint64)
    product_terms(x, y, out=components[0, ...])
    return _wrap(runtime, _reshared(runtime, components), _result_bits(x, y))


def mul_many(pairs: Sequence[tuple[ArithmeticShare, ArithmeticShare]]) -> list[ArithmeticShare]:
    """Return ``x * y`` for every pair, all in one round (one message per party).

    Exact products mod 2**64: both factors integer, or one fixed point and
    one integer (the product keeps the fixed-point format). Two fixed-point
    factors need a truncation: use :func:`mul`.
    """
    if not pairs:
        return []
    runtime = pairs[0][0].runtime
    terms = []
    for x, y in pairs:
        _check_operands(x, y, "mul_many")
        x._check_same_runtime(y)
        if isinstance(x, FixedPointShare) and isinstance(y, FixedPointShare):
            raise InputError(
                "mul_many multiplies exactly; two fixed-point factors need mul (truncation)"
            )
        shape = np.broadcast_shapes(x.shape, y.shape)
        components = np.empty((2, *shape), dtype=np.uint64)
        product_terms(x, y, out=components[0, ...])
        terms.append(components)
    incoming = runtime.reshare_many([components[0, ...] for components in terms])
    results = []
    for (x, y), components, following in zip(pairs, terms, incoming, strict=True):
        components[1, ...] = following
        components.flags.writeable = False
        results.append(_wrap(runtime, components, _result_bits(x, y)))
    return results


def _is_integer_public(value: object) -> bool:
    return np.asarray(value).dtype.kind in "biu"


def mul_public(x: ArithmeticShare, value: object) -> ArithmeticShare:
    """Return ``x * c`` for a public ``c``.

    Integer ``c``: local and exact. Real ``c`` with a fixed-point ``x``: ``c``
    is encoded with ``x``'s fractional bits and the product truncated (2 rounds).
    """
    _check_operands(x, value, "mul_public")
    if _is_integer_public(value):
        public = to_ring(value)
        return x._like(
            np.multiply(expand_components(x.components, max(x.ndim, public.ndim)), public)
        )
    if not isinstance(x, FixedPointShare):
        raise InputError(
            "an integer share can only be multiplied by public integers; share the data as "
            "fixed point (kind='fixed') to multiply by reals"
        )
    public = FixedPoint(x.fractional_bits).encode(value)
    scaled = x._like(np.multiply(expand_components(x.components, max(x.ndim, public.ndim)), public))
    return truncate(scaled, x.fractional_bits)


def _component_matmul(
    components: np.ndarray, public: np.ndarray, share_on_left: bool
) -> np.ndarray:
    if share_on_left:
        return np.stack((components[0] @ public, components[1] @ public))
    return np.stack((public @ components[0], public @ components[1]))


def matmul(x: object, y: object) -> ArithmeticShare:
    """Return a sharing of the matrix product ``x @ y`` (numpy ``matmul`` shapes).

    Share @ share: one round and one ring element per output element
    (inner dimension free), plus the truncation for two fixed-point
    operands (2 rounds in total); the sum of products must satisfy the
    fixed-point product bound. Share @ public integer matrix: local.
    """
    _check_operands(x, y, "matmul")
    if isinstance(x, ArithmeticShare) and isinstance(y, ArithmeticShare):
        runtime = x.runtime
        xc, yc = x.components, y.components
        # np.asarray: a vector-vector product comes back as a numpy scalar
        term = np.asarray(xc[0] @ np.add(yc[0], yc[1]))
        term = np.asarray(term + xc[1] @ yc[0] + runtime.zero_sharing(term.shape))
        return _finish_product(x, y, term)
    share, public, share_on_left = (x, y, True) if isinstance(x, ArithmeticShare) else (y, x, False)
    if not isinstance(share, ArithmeticShare):
        raise InputError("matmul needs at least one arithmetic share")
    if _is_integer_public(public):
        return share._like(_component_matmul(share.components, to_ring(public), share_on_left))
    if not isinstance(share, FixedPointShare):
        raise InputError(
            "multiply integer shares by integer matrices, or share the data as fixed point"
        )
    encoded = FixedPoint(share.fractional_bits).encode(public)
    return truncate(
        share._like(_component_matmul(share.components, encoded, share_on_left)),
        share.fractional_bits,
    )


def dot(x: ArithmeticShare, y: ArithmeticShare, axis: int = -1) -> ArithmeticShare:
    """Return ``sum(x * y, axis)``: one round, one element per output element.

    For two fixed-point operands the sum of products is truncated once (2 rounds).
    """
    _check_operands(x, y, "dot")
    if not (isinstance(x, ArithmeticShare) and isinstance(y, ArithmeticShare)):
        raise InputError(
            "dot needs two arithmetic shares; multiply by public vectors with mul_public and sum"
        )
    ndim = max(x.ndim, y.ndim)
    if ndim == 0:
        raise InputError("dot needs at least one axis")
    xc, yc = expand_components(x.components, ndim), expand_components(y.components, ndim)
    terms = np.multiply(xc[0], np.add(yc[0], yc[1]))
    terms += np.multiply(xc[1], yc[0])
    term = np.asarray(np.sum(terms, axis=axis % ndim, dtype=np.uint64))
    term = np.asarray(term + x.runtime.zero_sharing(term.shape))
    return _finish_product(x, y, term)


def _finish_product(x: ArithmeticShare, y: ArithmeticShare, term: np.ndarray) -> ArithmeticShare:
    runtime = x.runtime
    if isinstance(x, FixedPointShare) and isinstance(y, FixedPointShare):
        if x.fractional_bits != y.fractional_bits:
            raise InputError(
                f"fixed-point operands have {x.fractional_bits} and {y.fractional_bits} fractional bits"
            )
        return truncate_product_terms(runtime, term, x.fractional_bits)
    components = np.empty((2, *term.shape), dtype=np.uint64)
    components[0, ...] = term
    return _wrap(runtime, _reshared(runtime, components), _result_bits(x, y))
