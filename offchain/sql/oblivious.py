"""Oblivious data movement on replicated shares: permutations, shuffles, segmented scans.

All functions take and return *components* ``(2, n, ...)`` of arithmetic
sharings mod 2**64 (party i holds ``[x_i, x_{i+1}]``); they move rows and
never look inside values, so integer and fixed-point columns travel
together. Permutations map ``out[t] = in[p[t]]``.

* :func:`permute_by_pair` — a permutation known to two parties ``a`` and
  ``b``: they hold the whole value between them as a 2-out-of-2 sharing
  (party ``k+1``: ``x_{k+1} + x_{k+2}``, party ``k+2``: ``x_k`` for the outsider
  ``k``), permute their halves locally, and re-share into replicated form
  with the outsider's two new components drawn from its PRGs with each of
  them; ``a`` and ``b`` exchange their halves minus those components. One
  round, ``n`` words each way between ``a`` and ``b``; the outsider sends and
  receives nothing, and its new components are fresh randomness.
* :func:`shuffle` — three pair permutations drawn from the pairs' PRGs
  ((0,1), (1,2), (2,0)): every party misses one of them, so the composed
  permutation is uniformly random to each single party. Three rounds.
* :func:`permute_known_to` — a permutation ``pi`` only one party ``m``
  knows: ``m`` splits it as ``pi = p1[p2]`` with ``p1`` drawn from its PRG
  with party ``m+1`` and ``p2 = inverse(p1)[pi]`` sent to ``m+2``; each of
  those sees a uniformly random permutation. Three rounds.
* :func:`segmented_scan` — inclusive prefix sums restarting at secret
  segment heads (Hillis–Steele): at distance ``d = 1, 2, 4, …``
  ``v[t] += (1 - f[t]) * v[t-d]`` and ``f[t] += (1 - f[t]) * f[t-d]``, ``f``
  starting as the heads. ``steps`` rounds (one multiplication each) cover
  segments up to ``2**steps`` long. With values zero off the heads it copies
  each head's value over its segment.
"""

from __future__ import annotations

import numpy as np

from offchain.errors import InputError, MpcError
from offchain.mpc.ring import RING_DTYPE
from offchain.mpc.runtime import Runtime, check_received, expect_arrays
from offchain.mpc.shares import ArithmeticShare

PARTIES = 3


def random_permutation_with(runtime: Runtime, peer: int, size: int) -> np.ndarray:
    """Return a permutation of ``range(size)`` drawn from the PRG shared with ``peer``.

    Both parties of the pair must call this at the same point of the protocol.
    """
    words = runtime.prg_with(peer).random((size,))
    return np.argsort(words, kind="stable").astype(np.int64)


def inverse_permutation(permutation: np.ndarray) -> np.ndarray:
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(len(permutation), dtype=permutation.dtype)
    return inverse


def _check_permutation(permutation: np.ndarray, size: int) -> None:
    if permutation.shape != (size,):
        raise InputError(f"permutation has shape {permutation.shape}, expected ({size},)")


def permute_by_pair(runtime: Runtime, components: np.ndarray, permutation: np.ndarray | None,
                    pair: tuple[int, int]) -> np.ndarray:
    """Return components of ``x[permutation]``; the two parties of ``pair`` pass ``permutation``."""
    if len(set(pair)) != 2 or any(p not in range(PARTIES) for p in pair):
        raise InputError(f"pair must be two distinct parties, got {pair}")
    outsider = ({0, 1, 2} - set(pair)).pop()
    first, second = (outsider + 1) % PARTIES, (outsider + 2) % PARTIES
    me = runtime.party
    shape = components.shape[1:]
    if me == outsider:
        if permutation is not None:
            raise InputError("the party outside the pair must not pass the permutation")
        out = np.empty((2, *shape), dtype=RING_DTYPE)
        runtime.prg_previous.fill(out[0, ...])  # new x_k, shared with k+2
        runtime.prg_next.fill(out[1, ...])  # new x_{k+1}, shared with k+1
        runtime.exchange()
        return out
    if permutation is None:
        raise InputError(f"party {me} is in the pair {pair} and must pass the permutation")
    _check_permutation(permutation, shape[0] if shape else 0)
    if me == first:
        # Holds x_{k+1}, x_{k+2}: its half is their sum.
        half = np.add(components[0], components[1])[permutation]
        new_mask = runtime.prg_previous.random(shape)  # new x_{k+1}, shared with the outsider
        np.subtract(half, new_mask, out=half)
        received = runtime.exchange({second: [half]}, [second])
        (other,) = expect_arrays(received[second], 1, second, "permute")
        check_received(other, half, second, "permute")
        out = np.empty((2, *shape), dtype=RING_DTYPE)
        out[0] = new_mask
        np.add(half, other, out=out[1])  # new x_{k+2}
        return out
    # second = k+2 holds x_{k+2}, x_k: its half is x_k.
    half = np.ascontiguousarray(components[1][permutation])
    new_mask = runtime.prg_next.random(shape)  # new x_k, shared with the outsider
    np.subtract(half, new_mask, out=half)
    received = runtime.exchange({first: [half]}, [first])
    (other,) = expect_arrays(received[first], 1, first, "permute")
    check_received(other, half, first, "permute")
    out = np.empty((2, *shape), dtype=RING_DTYPE)
    np.add(half, other, out=out[0])  # new x_{k+2}
    out[1] = new_mask
    return out


def shuffle(runtime: Runtime, components: np.ndarray) -> np.ndarray:
    """Return components of the rows in an order no single party knows (three rounds)."""
    size = components.shape[1] if components.ndim > 1 else 0
    for pair in ((0, 1), (1, 2), (2, 0)):
        me = runtime.party
        permutation = None
        if me in pair:
            peer = pair[1] if me == pair[0] else pair[0]
            permutation = random_permutation_with(runtime, peer, size)
        components = permute_by_pair(runtime, components, permutation, pair)
    return components


def permute_known_to(runtime: Runtime, components: np.ndarray, permutation: np.ndarray | None,
                     knower: int) -> np.ndarray:
    """Return components of ``x[permutation]`` where only party ``knower`` passes ``permutation``."""
    size = components.shape[1]
    helper_first, helper_second = (knower + 1) % PARTIES, (knower + 2) % PARTIES
    me = runtime.party
    if me == knower:
        if permutation is None:
            raise InputError(f"party {knower} knows the permutation and must pass it")
        _check_permutation(permutation, size)
        first = random_permutation_with(runtime, helper_first, size)
        second = inverse_permutation(first)[permutation]
        runtime.exchange({helper_second: [second]})
    elif me == helper_first:
        if permutation is not None:
            raise InputError("only the knowing party passes the permutation")
        first = random_permutation_with(runtime, knower, size)
        runtime.exchange()
        second = None
    else:
        if permutation is not None:
            raise InputError("only the knowing party passes the permutation")
        received = runtime.exchange(receive_from=[knower])
        (second,) = expect_arrays(received[knower], 1, knower, "permute_known_to")
        if second.dtype != np.int64 or second.shape != (size,) or not _is_permutation(second):
            raise MpcError(f"party {knower} sent an invalid permutation of size {size}")
        first = None
    components = permute_by_pair(runtime, components, first if me != helper_second else None,
                                 (knower, helper_first))
    return permute_by_pair(runtime, components, second if me != helper_first else None,
                           (knower, helper_second))


def _is_permutation(values: np.ndarray) -> bool:
    seen = np.zeros(len(values), dtype=bool)
    if len(values) and (values.min() < 0 or values.max() >= len(values)):
        return False
    seen[values] = True
    return bool(seen.all())


def segmented_scan(runtime: Runtime, values: ArithmeticShare, heads: ArithmeticShare,
                   steps: int) -> ArithmeticShare:
    """Return inclusive segmented prefix sums of ``values`` (rows) restarting where ``heads`` is 1.

    ``values`` has shape (n, k) (integer or raw components of any encoding,
    as an ``ArithmeticShare``); ``heads`` (n,) holds 0/1 with a 1 at every
    segment's first row. Exact for segments up to ``2**steps`` rows.
    """
    if values.ndim != 2 or heads.shape != (values.shape[0],):
        raise InputError(f"segmented_scan needs values (n, k) and heads (n,), got {values.shape} "
                         f"and {heads.shape}")
    size, width = values.shape
    reached = heads.components.astype(RING_DTYPE, copy=True).reshape(2, size, 1)
    current = values.components.copy()
    distance = 1
    for _ in range(steps):
        if distance >= size:
            break  # every party knows the size, so all stop here
        gate = 1 - ArithmeticShare(runtime, reached[:, distance:, :].copy())
        earlier = ArithmeticShare(runtime, np.concatenate(
            [current[:, :-distance, :], reached[:, :-distance, :]], axis=2))
        product = ArithmeticShare(runtime, np.ascontiguousarray(np.broadcast_to(
            gate.components, (2, size - distance, width + 1)))) * earlier
        current[:, distance:, :] += product.components[:, :, :width]
        reached[:, distance:, :] += product.components[:, :, width:]
        distance *= 2
    return ArithmeticShare(runtime, current)
