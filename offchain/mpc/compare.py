"""Comparisons, equality, selection and the functions built on them (min, max, ReLU, abs).

Comparison extracts the sign bit of ``z = x - y`` without decomposing ``x``
and ``y`` into bits. Of ``z = z0 + z1 + z2``, party 0 knows ``u = z0 + z1``
and parties 1 and 2 know ``v = z2``; party 0 shares ``u`` as boolean (one
message), ``v`` is a free boolean sharing, and one carry computation gives
``msb(u + v)`` (:func:`offchain.mpc.binary.sign_of_split_sum`, 7 rounds). Equality:
``z == 0`` iff ``u == -v``, i.e. iff every bit of ``~(u ^ -v)`` is 1 (an AND
tree, 6 rounds); for equality every party plays party 0's part for a third
of the elements, which spreads the first round's bytes. Both results are
converted to arithmetic 0/1 by bit injection (2 rounds) so that they can be
summed and multiplied.

Contracts: comparisons read values as signed and require ``|x - y| < 2**63``
(any two fixed-point values in range qualify). Results are
:class:`~offchain.mpc.shares.ArithmeticShare` of 0/1 (integers, also for
fixed-point inputs); ``*_bits`` variants return the boolean bit and skip
the injection.

Costs per element (rounds; bytes sent by the busiest party): less-than 10
rounds, 31.6 bytes (8 and 23.6 for the boolean bit); equality 9 rounds, 18.5
bytes (7 and 10.5 for the boolean bit). Tree levels below a byte pack
several elements per byte.
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError
from offchain.mpc import binary
from offchain.mpc.converters import bits_to_arithmetic
from offchain.mpc.shares import ArithmeticShare, BooleanShare, FixedPointShare, Share
from offchain.mpc.sharing import share_split_words_rotated


def _difference(x: object, y: object) -> ArithmeticShare:
    if isinstance(x, Share) and not isinstance(x, ArithmeticShare):
        raise InputError(f"comparisons need arithmetic shares, got {type(x).__name__}")
    if isinstance(y, Share) and not isinstance(y, ArithmeticShare):
        raise InputError(f"comparisons need arithmetic shares, got {type(y).__name__}")
    if isinstance(x, ArithmeticShare):
        return x - y
    if isinstance(y, ArithmeticShare):
        return (-y) + x
    raise InputError("a comparison needs at least one share")


def _split(z: ArithmeticShare) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Return (u = z0 + z1 at party 0, v = z2 at parties 1 and 2, a flat template), flattened."""
    runtime = z.runtime
    flat = z.components.reshape(2, -1)
    u = np.add(flat[0], flat[1]) if runtime.party == 0 else None
    slot = runtime.slot_of_component(2)
    v = flat[slot] if slot is not None else None
    return u, v, flat[0, ...]


def sign_bit(z: ArithmeticShare) -> BooleanShare:
    """Return the boolean sharing (uint8 0/1) of ``z < 0`` (8 rounds)."""
    runtime = z.runtime
    u, v, like = _split(z)
    bits = binary.sign_of_split_sum(runtime, u, v, like)
    return BooleanShare(runtime, bits.reshape((2, *z.shape)))


def zero_bit(z: ArithmeticShare) -> BooleanShare:
    """Return the boolean sharing (uint8 0/1) of ``z == 0`` (7 rounds).

    ``z == 0`` iff ``u == -v`` iff ``~u ^ -v`` has all 64 bits set; the
    owners negate in plaintext, and every party owns a third of the
    elements (:func:`offchain.mpc.sharing.share_split_words_rotated`), so the
    first round's 8 bytes per element are spread over the three parties.
    """
    runtime = z.runtime
    words = share_split_words_rotated(runtime, z.components.reshape(2, -1), _equality_words)
    bits = binary.all_ones(runtime, words)
    return BooleanShare(runtime, bits.reshape((2, *z.shape)))


def _equality_words(words: np.ndarray, is_u: bool) -> np.ndarray:
    return np.invert(words) if is_u else np.negative(words)


def less_than_bits(x: object, y: object) -> BooleanShare:
    """Return the boolean bit of ``x < y``."""
    return sign_bit(_difference(x, y))


def equal_bits(x: object, y: object) -> BooleanShare:
    """Return the boolean bit of ``x == y``."""
    return zero_bit(_difference(x, y))


def less_than(x: object, y: object) -> ArithmeticShare:
    """Return an arithmetic sharing of 1 where ``x < y``, else 0 (10 rounds). Needs ``|x - y| < 2**63``."""
    return bits_to_arithmetic(less_than_bits(x, y))


def greater_than(x: object, y: object) -> ArithmeticShare:
    """Return 1 where ``x > y``, else 0."""
    return bits_to_arithmetic(sign_bit(_difference(y, x)))


def less_equal(x: object, y: object) -> ArithmeticShare:
    """Return 1 where ``x <= y``, else 0."""
    return 1 - greater_than(x, y)


def greater_equal(x: object, y: object) -> ArithmeticShare:
    """Return 1 where ``x >= y``, else 0."""
    return 1 - less_than(x, y)


def equal(x: object, y: object) -> ArithmeticShare:
    """Return an arithmetic sharing of 1 where ``x == y``, else 0 (9 rounds)."""
    return bits_to_arithmetic(equal_bits(x, y))


def select(condition: ArithmeticShare, if_true: object, if_false: object) -> ArithmeticShare:
    """Return ``if_true`` where ``condition`` is 1 and ``if_false`` where it is 0 (one round).

    ``condition`` must be an integer sharing of 0/1 (as comparisons return);
    ``if_false + condition * (if_true - if_false)``, exact, no truncation.
    """
    if isinstance(condition, FixedPointShare) or not isinstance(condition, ArithmeticShare):
        raise InputError(
            "select needs an integer 0/1 sharing as condition (the result of a comparison)"
        )
    difference = if_true - if_false
    if isinstance(difference, ArithmeticShare):
        return if_false + condition * difference
    return condition.mul_public(difference) + if_false


def minimum(x: ArithmeticShare, y: object) -> ArithmeticShare:
    """Return the elementwise minimum (11 rounds)."""
    return select(less_than(x, y), x, y)


def maximum(x: ArithmeticShare, y: object) -> ArithmeticShare:
    """Return the elementwise maximum (11 rounds)."""
    return select(less_than(x, y), y, x)


def relu(x: ArithmeticShare) -> ArithmeticShare:
    """Return ``max(x, 0)`` (11 rounds)."""
    return x * (1 - bits_to_arithmetic(sign_bit(x)))


def absolute(x: ArithmeticShare) -> ArithmeticShare:
    """Return ``|x|`` (11 rounds); ``-2**63`` stays itself."""
    negative = bits_to_arithmetic(sign_bit(x))
    return x * (1 - (negative << 1))


def sign(x: ArithmeticShare) -> ArithmeticShare:
    """Return the integer sharing of -1, 0 or 1 (a sign and a zero test, 19 rounds)."""
    negative = bits_to_arithmetic(sign_bit(x))
    zero = bits_to_arithmetic(zero_bit(x))
    return 1 - zero - (negative << 1)
