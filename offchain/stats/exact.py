"""Exact integer arithmetic on shares for statistics: floor division by secret divisors, limbs.

The engine's fixed-point products keep about 62 bits in total, which is too
little to divide a sum of 10**7 money amounts by a secret count with useful
precision. Statistics therefore divide *integers* exactly, by restoring long
division in radix ``2**r`` (one comparison per candidate digit, all digits of
all divisions of a step in one batch), and split wide values into limbs with
the engine's probabilistic truncation where a product would not fit.

Costs: :func:`divide_floor` takes ``ceil(q / r)`` steps of 11 rounds for ``q``
quotient bits (a comparison, 10 rounds; a digit-times-divisor product, 1),
and ``2**r - 1`` comparisons per division per step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from offchain.errors import InputError
from offchain.mpc.compare import sign_bit
from offchain.mpc.converters import bits_to_arithmetic
from offchain.mpc.ring import RING_DTYPE
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import ArithmeticShare, FixedPointShare
from offchain.mpc.truncation import truncate

DEFAULT_RADIX_BITS = 8
DIVISION_LIMIT_BITS = 63


def zeros(runtime: Runtime, length: int) -> ArithmeticShare:
    """Return a sharing of ``length`` zeros (local)."""
    return ArithmeticShare(runtime, np.zeros((2, length), dtype=RING_DTYPE))


def concatenate(shares: Sequence[ArithmeticShare]) -> ArithmeticShare:
    """Return the 1-D integer shares joined end to end (local)."""
    if not shares:
        raise InputError("concatenate needs at least one share")
    for share in shares:
        if type(share) is not ArithmeticShare:
            raise InputError(f"concatenate joins integer sharings, got {type(share).__name__}")
    runtime = shares[0].runtime
    flat = [share.components.reshape(2, -1) for share in shares]
    return ArithmeticShare(runtime, np.concatenate(flat, axis=1))


def split(share: ArithmeticShare, lengths: Sequence[int]) -> list[ArithmeticShare]:
    """Cut a 1-D share into consecutive pieces of ``lengths`` (local)."""
    if sum(lengths) != share.shape[0]:
        raise InputError(f"pieces of lengths {list(lengths)} do not add up to {share.shape[0]}")
    bounds = np.cumsum([0, *lengths])
    return [
        share[int(start) : int(end)] for start, end in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def less_than_zero(values: ArithmeticShare) -> ArithmeticShare:
    """Return 1 where ``values < 0``, else 0 (10 rounds). Requires ``|values| < 2**63``."""
    return bits_to_arithmetic(sign_bit(values))


def divide_floor(
    numerators: ArithmeticShare,
    divisors: ArithmeticShare,
    quotient_bits: Sequence[int],
    divisor_bounds: Sequence[int],
    radix_bits: int = DEFAULT_RADIX_BITS,
) -> tuple[ArithmeticShare, ArithmeticShare]:
    """Return ``(floor(x / d), x mod d)`` elementwise for integer sharings of 1-D ``x`` and ``d``.

    Restoring long division, ``radix_bits`` quotient bits per step. Element
    ``e`` requires ``0 <= x < d * 2**quotient_bits[e]`` (its quotient fits)
    and ``1 <= d <= divisor_bounds[e]`` with ``divisor_bounds[e] *
    2**quotient_bits[e] <= 2**63``, so that every compared value lies in
    ``[0, 2**63)``. These are public bounds the caller derives from public
    sizes; a zero divisor returns an all-ones quotient (the caller withholds
    such results). Exact; ``max(quotient_bits) / radix_bits`` steps of 11 rounds.
    """
    for share in (numerators, divisors):
        if type(share) is not ArithmeticShare or share.ndim != 1:
            raise InputError("divide_floor needs 1-D integer sharings (not fixed point)")
    count = numerators.shape[0]
    if divisors.shape != (count,) or len(quotient_bits) != count or len(divisor_bounds) != count:
        raise InputError(
            f"divide_floor: {count} numerators need as many divisors, quotient widths and bounds; "
            f"got {divisors.shape[0]}, {len(quotient_bits)} and {len(divisor_bounds)}"
        )
    if not 1 <= radix_bits <= 12:
        raise InputError(f"radix_bits must lie in [1, 12], got {radix_bits}")
    remaining = np.array(quotient_bits, dtype=np.int64)
    for bits, bound in zip(quotient_bits, divisor_bounds, strict=True):
        if bits < 0 or bound < 1 or bound * 2**bits > 2**DIVISION_LIMIT_BITS:
            raise InputError(
                f"divide_floor: divisor bound {bound} with {bits} quotient bits exceeds 2**63; "
                "narrow the quotient or the divisor"
            )
    runtime = numerators.runtime
    remainder = numerators.components.copy()
    quotient = np.zeros_like(remainder)
    while np.any(remaining > 0):
        active = np.flatnonzero(remaining > 0)
        width = np.minimum(remaining[active], radix_bits)
        shift = remaining[active] - width
        candidates = (1 << width) - 1  # digits 1 .. 2**width - 1 per active element
        owner = np.repeat(np.arange(active.size), candidates)
        starts = np.concatenate(([0], np.cumsum(candidates)[:-1]))
        digit_values = np.arange(owner.size) - starts[owner] + 1
        multiples = digit_values.astype(np.uint64) << shift[owner].astype(np.uint64)
        rows = active[owner]
        # remainder - digit * d * 2**shift < 0 for the digits too large
        candidate_divisors = ArithmeticShare(runtime, divisors.components[:, rows])
        differences = ArithmeticShare(runtime, remainder[:, rows]) - candidate_divisors.mul_public(
            multiples
        )
        too_large = less_than_zero(differences)
        # digit = number of candidates that fit = candidates - number too large (monotone)
        too_large_count = np.add.reduceat(too_large.components, starts, axis=1)
        digit = ArithmeticShare(runtime, np.negative(too_large_count)) + candidates.astype(
            np.uint64
        )
        product = digit * ArithmeticShare(runtime, divisors.components[:, active])
        scale = np.uint64(1) << shift.astype(np.uint64)
        remainder[:, active] -= product.components * scale
        quotient[:, active] += digit.components * scale
        remaining[active] = shift
    return ArithmeticShare(runtime, quotient), ArithmeticShare(runtime, remainder)


def split_limbs(values: ArithmeticShare, low_bits: int) -> tuple[ArithmeticShare, ArithmeticShare]:
    """Return ``(high, low)`` with ``values = high * 2**low_bits + low`` exactly (2 rounds).

    ``high`` is ``floor(values / 2**low_bits)`` or one more (probabilistic
    truncation), so ``low`` lies in ``(-2**low_bits, 2**low_bits)``.
    Requires ``|values| < 2**62``.
    """
    if isinstance(values, FixedPointShare):
        raise InputError("split_limbs works on integer sharings")
    high = truncate(values, low_bits)
    low = values - (high << low_bits)
    return high, low
