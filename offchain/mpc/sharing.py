"""Getting secrets into the engine: dealing by an outside data owner, input by a compute party.

**Outside owner** (a member that is not one of the three compute parties)::

    payloads = deal(values, kind="fixed")          # at the owner, no runtime needed
    send payloads[i].to_message() to party i        # over any authenticated channel
    x = receive_input(runtime, SharePayload.from_message(message))   # at party i

The owner draws ``x1``, ``x2`` from two fresh 16-byte seeds and computes
``x0 = x - x1 - x2``. Party 0 gets ``(x0, seed1)``, party 1 gets
``(seed1, seed2)`` and party 2 gets ``(seed2, x0)``: one array to two
parties, 32 bytes to the third, instead of two arrays to each. Any single
party sees two components that are uniformly random and independent of
``x`` (seeds are expanded with AES-128-CTR).

**Compute party as input owner** (:func:`input_from_party`): party ``p``
knowing ``x`` draws ``r`` from the PRG it shares with ``p + 1`` and sets
the components ``x_{p-1} = 0``, ``x_p = x - r``, ``x_{p+1} = r``. Only
``x - r`` travels (to ``p - 1``), in one round: ``p - 1`` sees
``(0, x - r)`` and ``p + 1`` sees ``(r, 0)``, neither of which depends on ``x``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from offchain.errors import InputError, MpcError
from offchain.mpc.fixedpoint import DEFAULT_FRACTIONAL_BITS, FixedPoint
from offchain.mpc.prg import KEY_BYTES, Prg
from offchain.mpc.ring import RING_DTYPE, to_ring
from offchain.mpc.runtime import Runtime, check_received, expect_arrays
from offchain.mpc.seeds import PARTIES
from offchain.mpc.shares import ArithmeticShare, BooleanShare, FixedPointShare, Share

PAYLOAD_VERSION = 1
KINDS = ("integer", "fixed", "boolean")
_KIND_CODES = {kind: code for code, kind in enumerate(KINDS)}

Component = np.ndarray | bytes


def encode_plain(values: object, kind: str, fractional_bits: int) -> np.ndarray:
    """Return plaintext ``values`` as uint64 ring elements for a sharing of ``kind``."""
    if kind == "fixed":
        return FixedPoint(fractional_bits).encode(values)
    if kind == "integer":
        return np.asarray(to_ring(values), order="C")
    if kind == "boolean":
        array = np.asarray(values)
        if array.dtype.kind == "i" and np.any(array < 0):
            raise InputError(
                "boolean values are bit patterns and must be non-negative; pass uint64 words"
            )
        return np.asarray(to_ring(array), order="C")
    raise InputError(f"kind must be one of {KINDS}, got {kind!r}")


def _check_kind(kind: str) -> None:
    if kind not in _KIND_CODES:
        raise InputError(f"kind must be one of {KINDS}, got {kind!r}")


@dataclass(frozen=True, eq=False)
class SharePayload:
    """One party's two components of a sharing, as dealt to it or exported by it.

    ``own`` and ``next`` are uint64 arrays of ``shape``, or 16-byte PRG seeds
    that expand to one. ``fractional_bits`` is 0 unless ``kind == "fixed"``.
    """

    party: int
    kind: str
    shape: tuple[int, ...]
    fractional_bits: int
    own: Component
    next: Component

    def __post_init__(self) -> None:
        if self.party not in range(PARTIES):
            raise InputError(f"payload party must be 0, 1 or 2, got {self.party}")
        _check_kind(self.kind)
        for name in ("own", "next"):
            component = getattr(self, name)
            if isinstance(component, (bytes, bytearray)):
                if len(component) != KEY_BYTES:
                    raise InputError(
                        f"payload seed '{name}' must be {KEY_BYTES} bytes, got {len(component)}"
                    )
            elif not isinstance(component, np.ndarray) or component.dtype != RING_DTYPE:
                raise InputError(f"payload component '{name}' must be a uint64 array or a seed")
            elif component.shape != tuple(self.shape):
                raise InputError(
                    f"payload component '{name}' has shape {component.shape}, payload says {tuple(self.shape)}"
                )

    def components(self) -> np.ndarray:
        """Return ``[own, next]`` as one ``(2, *shape)`` uint64 array, expanding seeds."""
        out = np.empty((2, *self.shape), dtype=RING_DTYPE)
        for slot, component in enumerate((self.own, self.next)):
            if isinstance(component, np.ndarray):
                out[slot] = component
            else:
                Prg(bytes(component)).fill(out[slot, ...])
        return out

    def to_message(self) -> list[np.ndarray]:
        """Return the payload as a transport message (a header array, then the two components)."""
        header = [
            PAYLOAD_VERSION,
            self.party,
            _KIND_CODES[self.kind],
            self.fractional_bits,
            isinstance(self.own, bytes | bytearray),
            isinstance(self.next, bytes | bytearray),
            len(self.shape),
            *self.shape,
        ]
        return [
            np.array(header, dtype=np.uint64),
            *(
                np.frombuffer(bytes(c), dtype=np.uint8).copy()
                if isinstance(c, bytes | bytearray)
                else c
                for c in (self.own, self.next)
            ),
        ]

    @classmethod
    def from_message(cls, arrays: list[np.ndarray]) -> SharePayload:
        """Parse a message made by :meth:`to_message`; refuse anything malformed."""
        if (
            len(arrays) != 3
            or arrays[0].dtype != np.uint64
            or arrays[0].ndim != 1
            or arrays[0].size < 7
        ):
            raise InputError(
                "not a share payload message: expected a uint64 header and two components"
            )
        header = [int(v) for v in arrays[0]]
        version, party, kind_code, fractional_bits, own_is_seed, next_is_seed, ndim = header[:7]
        if version != PAYLOAD_VERSION:
            raise InputError(
                f"share payload version {version} is not supported (expected {PAYLOAD_VERSION})"
            )
        if kind_code >= len(KINDS) or len(header) != 7 + ndim:
            raise InputError(f"malformed share payload header {header}")
        shape = tuple(header[7:])
        components = []
        for is_seed, array in ((own_is_seed, arrays[1]), (next_is_seed, arrays[2])):
            if is_seed:
                if array.dtype != np.uint8 or array.shape != (KEY_BYTES,):
                    raise InputError("malformed share payload: a seed must be 16 uint8 values")
                components.append(array.tobytes())
            else:
                components.append(np.asarray(array))
        return cls(party, KINDS[kind_code], shape, fractional_bits, components[0], components[1])


def deal(
    values: object,
    kind: str = "integer",
    fractional_bits: int = DEFAULT_FRACTIONAL_BITS,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> tuple[SharePayload, SharePayload, SharePayload]:
    """Split ``values`` into three payloads, one per compute party (run at the data owner).

    ``kind``: "integer" (ints mod 2**64), "fixed" (reals, encoded with
    ``fractional_bits``) or "boolean" (uint64 bit words). ``random_bytes``
    must be a cryptographic source (the default is the OS CSPRNG).
    """
    _check_kind(kind)
    plain = encode_plain(values, kind, fractional_bits)
    bits = fractional_bits if kind == "fixed" else 0
    seed1, seed2 = bytes(random_bytes(KEY_BYTES)), bytes(random_bytes(KEY_BYTES))
    if len(seed1) != KEY_BYTES or len(seed2) != KEY_BYTES or seed1 == seed2:
        raise InputError(f"random_bytes must return {KEY_BYTES} fresh random bytes per call")
    x1 = Prg(seed1).random(plain.shape)
    x2 = Prg(seed2).random(plain.shape)
    if kind == "boolean":
        x0 = np.asarray(plain ^ x1 ^ x2)
    else:
        x0 = np.asarray(plain - x1 - x2)
    shape = plain.shape
    return (
        SharePayload(0, kind, shape, bits, x0, seed1),
        SharePayload(1, kind, shape, bits, seed1, seed2),
        SharePayload(2, kind, shape, bits, seed2, x0),
    )


def _make_share(runtime: Runtime, components: np.ndarray, kind: str, fractional_bits: int) -> Share:
    if kind == "fixed":
        return FixedPointShare(runtime, components, fractional_bits)
    if kind == "boolean":
        return BooleanShare(runtime, components)
    return ArithmeticShare(runtime, components)


def receive_input(runtime: Runtime, payload: SharePayload) -> Share:
    """Turn the payload a data owner dealt to this party into a share (local)."""
    if payload.party != runtime.party:
        raise InputError(
            f"payload was dealt to party {payload.party}, but this is party {runtime.party}"
        )
    if payload.kind == "fixed" and payload.fractional_bits != runtime.fractional_bits:
        raise InputError(
            f"payload is fixed point with {payload.fractional_bits} fractional bits, the session uses "
            f"{runtime.fractional_bits}; deal with fractional_bits={runtime.fractional_bits}"
        )
    return _make_share(runtime, payload.components(), payload.kind, payload.fractional_bits)


def input_from_party(
    runtime: Runtime, owner: int, values: object = None, kind: str = "integer"
) -> Share:
    """Secret-share ``values`` known to compute party ``owner`` (one round).

    Every party calls this; only ``owner`` passes ``values``. The owner sends
    ``x - r`` to the party before it and the shape to the party after it.
    """
    _check_kind(kind)
    if owner not in range(PARTIES):
        raise InputError(f"owner must be party 0, 1 or 2, got {owner}")
    bits = runtime.fractional_bits if kind == "fixed" else 0
    before, after = (owner + 2) % PARTIES, (owner + 1) % PARTIES
    if runtime.party == owner:
        if values is None:
            raise InputError(f"party {owner} owns this input and must pass its values")
        plain = encode_plain(values, kind, runtime.fractional_bits)
        mask = runtime.prg_next.random(plain.shape)
        masked = np.bitwise_xor(plain, mask) if kind == "boolean" else np.subtract(plain, mask)
        shape_header = np.array([plain.ndim, *plain.shape], dtype=np.uint64)
        runtime.exchange({before: [masked], after: [shape_header]})
        components = np.stack((masked, mask))
    elif runtime.party == before:
        if values is not None:
            raise InputError(f"only the owner (party {owner}) passes values to input_from_party")
        received = runtime.exchange(receive_from=[owner])
        (masked,) = expect_arrays(received[owner], 1, owner, "input_from_party")
        if masked.dtype != RING_DTYPE:
            raise MpcError(f"input_from_party: party {owner} sent {masked.dtype}, expected uint64")
        components = np.stack((np.zeros_like(masked), masked))
    else:
        if values is not None:
            raise InputError(f"only the owner (party {owner}) passes values to input_from_party")
        received = runtime.exchange(receive_from=[owner])
        (shape_header,) = expect_arrays(received[owner], 1, owner, "input_from_party")
        shape = tuple(int(v) for v in shape_header[1:])
        if len(shape) != int(shape_header[0]):
            raise MpcError(
                f"input_from_party: malformed shape header {shape_header.tolist()} from party {owner}"
            )
        mask = runtime.prg_previous.random(shape)
        components = np.stack((mask, np.zeros_like(mask)))
    return _make_share(runtime, components, kind, bits)


def share_public(runtime: Runtime, values: object, kind: str = "integer") -> Share:
    """Return a sharing of a value all parties know (component 0 = value; local).

    Only for values that are public anyway: the sharing hides nothing.
    """
    _check_kind(kind)
    plain = encode_plain(values, kind, runtime.fractional_bits)
    components = np.zeros((2, *plain.shape), dtype=RING_DTYPE)
    slot = runtime.public_slot
    if slot is not None:
        components[slot] = plain
    return _make_share(runtime, components, kind, runtime.fractional_bits if kind == "fixed" else 0)


def share_known_value(
    runtime: Runtime, owner: int, value: np.ndarray | None, like: np.ndarray, boolean: bool
):
    """Return components of a sharing of ``value``, known to ``owner`` only (one round).

    ``x_{owner+1}`` is drawn from the PRG of ``owner`` and ``owner + 1``,
    ``x_{owner}`` = value minus (or XOR) it is sent to ``owner - 1``, and
    ``x_{owner-1} = 0``. Non-owners pass None; ``like`` gives shape and dtype.
    """
    before = (owner + 2) % 3
    shape, dtype = like.shape, like.dtype
    if runtime.party == owner:
        if value is None:
            raise InputError(f"party {owner} owns the value and must pass it")
        mask = runtime.prg_next.random(shape, dtype)
        masked = np.bitwise_xor(value, mask) if boolean else np.subtract(value, mask)
        runtime.exchange({before: [masked]})
        out = np.empty((2, *shape), dtype=dtype)
        out[0, ...] = masked
        out[1, ...] = mask
        return out
    if runtime.party == before:
        received = runtime.exchange(receive_from=[owner])
        (masked,) = expect_arrays(received[owner], 1, owner, "share_known_value")
        check_received(masked, like, owner, "share_known_value")
        out = np.zeros((2, *shape), dtype=dtype)
        out[1, ...] = masked
        return out
    runtime.exchange()
    out = np.zeros((2, *shape), dtype=dtype)
    out[0, ...] = runtime.prg_previous.random(shape, dtype)
    return out


def share_split_value(
    runtime: Runtime,
    at_zero: np.ndarray | None,
    at_one_two: np.ndarray | None,
    like: np.ndarray,
    boolean: bool,
) -> np.ndarray:
    """Return components of ``a ^ b`` (or ``a + b``): ``a`` known to party 0, ``b`` to parties 1 and 2.

    One round, one array from party 0 to party 2: the sharing is
    ``(a ^ r, r, b)`` with ``r`` from the PRG of parties 0 and 1, built
    directly (no zero components, no extra pass).
    """
    shape, dtype = like.shape, like.dtype
    out = np.empty((2, *shape), dtype=dtype)
    party = runtime.party
    if party == 0:
        if at_zero is None:
            raise InputError("party 0 must pass its value")
        mask = runtime.prg_next.fill(out[1, ...])
        combine = np.bitwise_xor if boolean else np.subtract
        combine(at_zero, mask, out=out[0, ...])
        runtime.exchange({2: [out[0, ...]]})
    elif party == 1:
        runtime.prg_previous.fill(out[0, ...])
        out[1, ...] = at_one_two
        runtime.exchange()
    else:
        received = runtime.exchange(receive_from=[0])
        (masked,) = expect_arrays(received[0], 1, 0, "share_split_value")
        check_received(masked, like, 0, "share_split_value")
        out[0, ...] = at_one_two
        out[1, ...] = masked
    out.flags.writeable = False  # party 0's own component was sent
    return out


def share_split_words_rotated(
    runtime: Runtime, components: np.ndarray, transform: Callable[[np.ndarray, bool], np.ndarray]
) -> np.ndarray:
    """Return a boolean sharing of ``transform(u) ^ transform(v)`` per element, each party owning a third.

    ``components`` is an arithmetic sharing ``(2, n)``. For the elements of
    third ``p`` (``p`` = 0, 1, 2), party ``p`` knows ``u = x_p + x_{p+1}``
    and parties ``p + 1``, ``p + 2`` know ``v = x_{p+2}`` (so ``x = u + v``);
    ``transform(words, is_u)`` is applied by the owners in plaintext
    (e.g. ``~u`` and ``-v``). Party ``p`` masks its third with the stream it
    shares with ``p + 1`` and sends it to ``p - 1``: every party sends one
    third of the words in the one round, instead of party 0 sending them all.
    The result is an ordinary replicated XOR sharing ``(2, n)`` uint64.
    """
    n = components.shape[1]
    bounds = [0, n // 3, 2 * n // 3, n]
    party = runtime.party
    out = np.empty((2, n), dtype=RING_DTYPE)
    sent = None
    for owner in range(PARTIES):
        part = slice(bounds[owner], bounds[owner + 1])
        if party == owner:  # own = c_p = t(u) ^ r, next = c_{p+1} = r
            u = np.add(components[0, part], components[1, part])
            runtime.prg_next.fill(out[1, part])
            np.bitwise_xor(transform(u, True), out[1, part], out=out[0, part])
            sent = out[0, part]
        elif party == (owner + 1) % PARTIES:  # own = c_{p+1} = r, next = c_{p+2} = t(v)
            runtime.prg_previous.fill(out[0, part])
            out[1, part] = transform(components[1, part], False)
        else:  # own = c_{p+2} = t(v), next = c_p (received)
            out[0, part] = transform(components[0, part], False)
    following = runtime.next_party  # the owner of the third whose c_p this party receives
    received = runtime.exchange({runtime.previous_party: [sent]}, [following])
    (incoming,) = expect_arrays(received[following], 1, following, "share_split_words_rotated")
    part = slice(bounds[following], bounds[following + 1])
    check_received(incoming, out[0, part], following, "share_split_words_rotated")
    out[1, part] = incoming
    out.flags.writeable = False
    return out
