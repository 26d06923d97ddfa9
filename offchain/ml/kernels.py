"""Fused MPC kernels for training and scoring, built on the engine's public protocols.

The engine offers products as additive terms (``arithmetic.raw_product_terms``)
and truncation of additive terms (``truncation.truncate_terms``, 2 rounds,
stochastic rounding, which masks every term it sends). Training fuses them
further:

* :func:`matrix_vector_term` — the additive term of ``X @ v`` (local);
* :func:`truncate_scaled` — from one additive term ``T`` of scale
  ``2**(2f)`` (or from a replicated share), the fixed-point sharings of
  ``m_k * T / 2**shift`` for several public integers ``m_k`` *in one
  truncation* (2 rounds): a score ``z`` and every ``a_j * z`` a
  piecewise-linear function needs, or a gradient scaled by the learning
  rate;
* :func:`sign_bits` — a batch of comparisons with zero, as arithmetic 0/1
  (10 rounds whatever the batch);
* :func:`evaluate_piecewise` — ``g(z)`` for a
  :class:`~offchain.ml.approximations.PiecewiseLinear` ``g``: one batch of
  comparisons against all knots (plus any range checks riding along), one
  multiplication of the bits by ``a_j (z - t_j)``.

Contracts (``f`` = fractional bits): truncation inputs must satisfy
``|T * m_k| < 2**62`` as signed ring elements (the callers bound them, see
:mod:`offchain.ml.ranges`); comparisons need ``|x| < 2**63``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from offchain.errors import InputError
from offchain.ml.approximations import KNOT_BITS, PiecewiseLinear
from offchain.mpc.arithmetic import mul
from offchain.mpc.compare import sign_bit
from offchain.mpc.converters import bits_to_arithmetic
from offchain.mpc.fixedpoint import FixedPoint
from offchain.mpc.ring import RING_DTYPE, to_ring
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import ArithmeticShare, FixedPointShare
from offchain.mpc.truncation import truncate_terms


def matrix_vector_term(matrix: ArithmeticShare, vector: ArithmeticShare) -> np.ndarray:
    """Return this party's additive term of ``matrix @ vector`` (local, no rounds).

    ``matrix`` is (m, k), ``vector`` (k,). Replicated product (Araki et al.):
    ``X_i (v_i + v_{i+1}) + X_{i+1} v_i``. The term is *unmasked*: it may
    only go into the truncation protocol, which masks every term it sends
    (the helper's with randomness of its own), never be sent as it is.
    """
    xc, vc = matrix.components, vector.components
    term = xc[0] @ np.add(vc[0], vc[1])
    term += xc[1] @ vc[0]
    return term


def vector_matrix_term(vector: ArithmeticShare, matrix: ArithmeticShare) -> np.ndarray:
    """Return this party's unmasked additive term of ``vector @ matrix`` (local; see above)."""
    vc, xc = vector.components, matrix.components
    term = np.add(vc[0], vc[1]) @ xc[0]
    term += vc[0] @ xc[1]
    return term


def replicated_term(share: ArithmeticShare, helper: int) -> np.ndarray:
    """Return an additive term of a replicated ``share`` that the truncation helper need not send.

    The helper's term is zero; its component is folded into the term of the
    party after its successor, which holds it already (as in the engine's
    ``truncate``). Never send a replicated component as a travelling term:
    the receiving opener would then hold all three components.
    """
    runtime = share.runtime
    offset = (runtime.party - helper) % 3
    components = share.components
    if offset == 0:
        return np.zeros(share.shape, dtype=RING_DTYPE)
    if offset == 1:
        return components[0].copy()
    return np.add(components[0], components[1])


def truncate_scaled(
    runtime: Runtime,
    term: np.ndarray,
    multipliers: Sequence[int] | np.ndarray,
    shift: int,
    fractional_bits: int,
    helper: int | None = None,
    helper_term_travels: bool = True,
) -> FixedPointShare:
    """Return the sharing of ``m_k * T / 2**shift`` for every multiplier ``m_k`` (2 rounds).

    ``term`` is this party's additive term of ``T`` (any shape); the result
    has shape ``(len(multipliers), *term.shape)`` and ``fractional_bits``
    fractional bits. Requires ``|m_k * T| < 2**62`` for every k (signed);
    stochastic rounding, error below one unit in the last place.
    ``helper_term_travels=False`` only for terms from :func:`replicated_term`
    with the same ``helper``.
    """
    factors = to_ring(np.asarray(multipliers, dtype=np.int64))
    if factors.ndim != 1 or factors.size == 0:
        raise InputError(f"multipliers must be a non-empty list of integers, got {multipliers!r}")
    if factors.size == 1 and factors[0] == 1:
        scaled = term[np.newaxis, ...]  # no copy of what may be a large matrix
    else:
        scaled = np.multiply(factors.reshape((-1,) + (1,) * term.ndim), term[np.newaxis, ...])
    components = truncate_terms(
        runtime, scaled, shift, helper_term_travels=helper_term_travels, helper=helper
    )
    return FixedPointShare(runtime, components, fractional_bits)


def rescale(share: FixedPointShare, multipliers: Sequence[int], shift: int) -> FixedPointShare:
    """Return ``m_k * x / 2**shift`` for a replicated fixed-point ``x`` and each ``m_k`` (2 rounds)."""
    runtime = share.runtime
    helper = runtime.take_helper()
    term = replicated_term(share, helper)
    return truncate_scaled(
        runtime, term, multipliers, shift, share.fractional_bits,
        helper=helper, helper_term_travels=False,
    )


def sign_bits(values: ArithmeticShare) -> ArithmeticShare:
    """Return an integer sharing of ``values < 0`` (0/1, same shape; 10 rounds for any batch)."""
    return bits_to_arithmetic(sign_bit(values))


def threshold_differences(z: FixedPointShare, thresholds: Sequence[float]) -> FixedPointShare:
    """Return ``t_k - z`` for every public threshold, stacked (k, *z.shape), local.

    ``t_k - z < 0`` exactly when ``z > t_k``.
    """
    encoded = FixedPoint(z.fractional_bits).encode(np.asarray(thresholds, dtype=np.float64))
    negated = np.negative(z.components)
    stacked = np.broadcast_to(negated[:, np.newaxis, ...], (2, len(encoded), *z.shape)).copy()
    slot = z.runtime.public_slot
    if slot is not None:
        stacked[slot] += encoded.reshape((-1,) + (1,) * z.ndim)
    return FixedPointShare(z.runtime, stacked, z.fractional_bits)


def stack(shares: Sequence[ArithmeticShare]) -> ArithmeticShare:
    """Concatenate shares of the same kind along axis 0 (local); integer result for mixed kinds."""
    if not shares:
        raise InputError("nothing to stack")
    components = np.concatenate([s.components for s in shares], axis=1)
    first = shares[0]
    return first._like(components)


def evaluate_piecewise(
    function: PiecewiseLinear,
    z: FixedPointShare,
    scaled: FixedPointShare | None = None,
    range_thresholds: Sequence[float] = (),
) -> tuple[FixedPointShare, ArithmeticShare | None]:
    """Return ``g(z)`` and the 0/1 bits of ``z > r`` for each range threshold ``r``.

    One batch of comparisons covers every knot and every range threshold
    (10 rounds), then one multiplication of the knot bits (1 round):

    * fused (``scaled`` given: ``slope * z`` then ``coefficient_j * z`` for
      every knot, shape ``(1 + knots, *z.shape)``, as :func:`truncate_scaled`
      makes them together with ``z``): ``g = intercept + slope z +
      sum_j bit_j (a_j z - a_j t_j)``; needs every ``a_j t_j`` exact in the
      session's fractional bits. 11 rounds.
    * unfused: ``P_j = bit_j (z - t_j)`` exactly, then ``slope z + sum_j a_j
      P_j`` in one truncation. 13 rounds.

    Range bits come back as a ``(thresholds, *z.shape)`` integer sharing, or
    None without thresholds. Requires ``|a_j z| < 2**(62 - 2f)``.
    """
    knots = list(function.knots)
    thresholds = knots + list(range_thresholds)
    bits = sign_bits(threshold_differences(z, thresholds)) if thresholds else None
    range_bits = bits[len(knots) :] if range_thresholds else None
    count = len(knots)
    shape_tail = (1,) * z.ndim
    if scaled is not None:
        offsets = np.array(
            [c * k for c, k in zip(function.coefficients, knots, strict=True)], dtype=np.float64
        )
        _check_exact(offsets, z.fractional_bits, function)
        value = scaled[0] + function.intercept
        if count:
            shifted = scaled[1 : 1 + count] - offsets.reshape((-1, *shape_tail))
            value = value + mul(bits[:count], shifted).sum(axis=0)
        return value, range_bits
    multipliers = function.scaled_coefficients()
    if count:
        knot_values = np.asarray(knots, dtype=np.float64).reshape((-1, *shape_tail))
        relus = mul(bits[:count], _minus_knots(z, knot_values))
        combined = np.tensordot(to_ring(multipliers[1:]), relus.components, axes=([0], [1]))
        combined = np.add(combined, np.multiply(to_ring(multipliers[0]), z.components))
    else:
        combined = np.multiply(to_ring(multipliers[0]), z.components)
    linear = FixedPointShare(z.runtime, combined, z.fractional_bits)
    value = rescale(linear, [1], function.coefficient_bits)[0] + function.intercept
    return value, range_bits


def _minus_knots(z: FixedPointShare, knot_values: np.ndarray) -> FixedPointShare:
    """Return ``z - t_j`` for every knot, stacked (local)."""
    stacked = FixedPointShare(
        z.runtime,
        np.broadcast_to(z.components[:, np.newaxis, ...], (2, knot_values.shape[0], *z.shape)).copy(),
        z.fractional_bits,
    )
    return stacked - knot_values


def _check_exact(offsets: np.ndarray, fractional_bits: int, function: PiecewiseLinear) -> None:
    scaled = np.ldexp(offsets, fractional_bits)
    if np.any(scaled != np.rint(scaled)):
        raise InputError(
            f"{function.name}: its constants a_j * t_j need {KNOT_BITS + function.coefficient_bits} "
            f"fractional bits, the session has {fractional_bits}; use the unfused evaluation"
        )
