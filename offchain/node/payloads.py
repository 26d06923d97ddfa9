"""Byte forms of what nodes store, send and commit to: share payloads, inputs, results.

* :func:`encode_arrays` / :func:`decode_arrays` — a list of numpy arrays as
  one blob (state database, commitments). Canonical: the same arrays always
  give the same bytes (C order, dtype string, shape, length-prefixed).
* :func:`input_fingerprint` — what an owner commits with ``commitInput``:
  ``keccak256("unseen-input/v1" ‖ for each shared array in plan order: name ‖
  encode_arrays([ring elements]))``, i.e. a hash of the exact values it
  secret-shares (after encoding into Z_2^64), binding the job's input.
* :func:`result_bytes` and :func:`result_commitment` — what a compute node
  commits with ``commitResult``: ``keccak256(result bytes ‖ nonce)`` where the
  result bytes name each output and hold its exported share payload; the
  32-byte random nonce keeps the commitment from revealing anything about
  the shares, and is handed to the recipient with them.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

import numpy as np
from eth_utils import keccak

from offchain.errors import InputError
from offchain.mpc.sharing import SharePayload, encode_plain
from offchain.programs.base import SharedArray

_MAGIC = b"UNSA\x01"
_RESULT_DOMAIN = b"unseen-result/v1"
_INPUT_DOMAIN = b"unseen-input/v1"
NONCE_BYTES = 32
_MAX_NDIM = 16


def encode_arrays(arrays: Sequence[np.ndarray]) -> bytes:
    """Return ``arrays`` as one canonical blob."""
    parts = [_MAGIC, struct.pack(">I", len(arrays))]
    for array in arrays:
        array = np.asarray(array)
        if not array.flags.c_contiguous:  # (np.ascontiguousarray would turn 0-d into 1-d)
            array = array.copy(order="C")
        if array.dtype.hasobject:
            raise InputError(f"cannot encode an array of Python objects ({array.dtype})")
        dtype = array.dtype.str.encode("ascii")
        parts.append(struct.pack(">B", len(dtype)) + dtype)
        parts.append(struct.pack(">B", array.ndim) + b"".join(struct.pack(">Q", n) for n in array.shape))
        parts.append(struct.pack(">Q", array.nbytes))
        parts.append(array.tobytes())
    return b"".join(parts)


def decode_arrays(blob: bytes) -> list[np.ndarray]:
    """Parse a blob made by :func:`encode_arrays`; refuse anything malformed."""
    view = memoryview(blob)
    if bytes(view[: len(_MAGIC)]) != _MAGIC:
        raise InputError("not an array blob (bad magic); it was not written by this version of Unseen")
    offset = len(_MAGIC)

    def take(size: int) -> memoryview:
        nonlocal offset
        if offset + size > len(view):
            raise InputError(f"array blob truncated at byte {offset} (wanted {size} more)")
        chunk = view[offset: offset + size]
        offset += size
        return chunk

    (count,) = struct.unpack(">I", take(4))
    arrays = []
    for _ in range(count):
        (dtype_length,) = struct.unpack(">B", take(1))
        try:
            dtype = np.dtype(bytes(take(dtype_length)).decode("ascii"))
        except (TypeError, ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"array blob holds an unknown dtype: {exc}") from exc
        if dtype.hasobject:
            raise InputError("array blob holds Python objects; refused")
        (ndim,) = struct.unpack(">B", take(1))
        if ndim > _MAX_NDIM:
            raise InputError(f"array blob holds an array of {ndim} dimensions (at most {_MAX_NDIM})")
        shape = tuple(struct.unpack(">Q", take(8))[0] for _ in range(ndim))
        (nbytes,) = struct.unpack(">Q", take(8))
        expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes != expected:
            raise InputError(f"array blob: {nbytes} bytes for shape {shape} of {dtype} (expected {expected})")
        arrays.append(np.frombuffer(take(nbytes), dtype=dtype).reshape(shape).copy())
    if offset != len(view):
        raise InputError(f"array blob has {len(view) - offset} trailing bytes")
    return arrays


# -- share payloads ----------------------------------------------------------------


def flatten_payloads(payloads: Mapping[str, SharePayload], names: Sequence[str]) -> list[np.ndarray]:
    """Return the transport arrays of ``payloads`` in ``names`` order (three arrays each)."""
    missing = [name for name in names if name not in payloads]
    if missing:
        raise InputError(f"share payloads {missing} are missing; have {sorted(payloads)}")
    return [array for name in names for array in payloads[name].to_message()]


def unflatten_payloads(names: Sequence[str], arrays: Sequence[np.ndarray]) -> dict[str, SharePayload]:
    """Inverse of :func:`flatten_payloads`; refuses a count that does not fit the names."""
    if len(arrays) != 3 * len(names):
        raise InputError(
            f"{len(names)} share payloads need {3 * len(names)} arrays, got {len(arrays)}"
        )
    return {name: SharePayload.from_message(list(arrays[3 * i: 3 * i + 3]))
            for i, name in enumerate(names)}


def check_payloads(payloads: Mapping[str, SharePayload], expected: Sequence[SharedArray],
                   party: int, source: str) -> None:
    """Refuse payloads that do not fit the plan: names, party, kind and fixed lengths."""
    names = [spec.name for spec in expected]
    if sorted(payloads) != sorted(names):
        raise InputError(f"{source} sent arrays {sorted(payloads)}; the plan expects {sorted(names)}")
    for spec in expected:
        payload = payloads[spec.name]
        if payload.party != party:
            raise InputError(f"{source} sent {spec.name!r} dealt to party {payload.party}; this is party {party}")
        if payload.kind != spec.kind:
            raise InputError(f"{source} sent {spec.name!r} as {payload.kind}; the plan says {spec.kind}")
        if spec.length is not None and tuple(payload.shape[:1]) != (spec.length,):
            raise InputError(
                f"{source} sent {spec.name!r} with shape {payload.shape}; the plan fixes {spec.length} rows"
            )


# -- commitments ---------------------------------------------------------------------


def input_fingerprint(arrays: Mapping[str, np.ndarray], shared: Sequence[SharedArray],
                      fractional_bits: int) -> bytes:
    """Return the commitment to an owner's input: a hash of the ring elements it shares."""
    parts = [_INPUT_DOMAIN]
    for spec in shared:
        encoded = encode_plain(np.asarray(arrays[spec.name]), spec.kind, fractional_bits)
        name = spec.name.encode()
        parts.append(struct.pack(">H", len(name)) + name + encode_arrays([encoded]))
    return keccak(b"".join(parts))


def result_bytes(names: Sequence[str], arrays: Sequence[np.ndarray]) -> bytes:
    """The canonical bytes of a result payload: output names, then their share arrays."""
    encoded_names = b"".join(struct.pack(">H", len(n.encode())) + n.encode() for n in names)
    return _RESULT_DOMAIN + struct.pack(">H", len(names)) + encoded_names + encode_arrays(arrays)


def result_commitment(payload: bytes, nonce: bytes) -> bytes:
    """``keccak256(payload ‖ nonce)``: the value ``commitResult`` records."""
    if len(nonce) != NONCE_BYTES:
        raise InputError(f"a result nonce is {NONCE_BYTES} bytes, got {len(nonce)}")
    return keccak(payload + nonce)
