"""What a compute node commits to on chain, as bytes anyone can recompute.

A compute node posts ``commitResult(jobId, resultCommitment, transcriptHash)``
with::

    resultCommitment = keccak256(result_bytes(names, arrays) ‖ nonce)

where ``names`` are the job's output names in plan order, ``arrays`` the
transport arrays of the node's exported share payload of each output, in the
same order (three per output: the :meth:`SharePayload.to_message` header and
the two components, see :func:`payload_arrays`), and ``nonce`` 32 fresh random
bytes handed to the result recipient together with the payload. The nonce
keeps the commitment from revealing anything about the shares; without it a
party could test guesses of a share against the chain.

Byte layout (all integers big-endian)::

    result_bytes = b"unseen-result/v1"
                   ‖ u16 len(names) ‖ for each name: u16 len(utf8) ‖ utf8
                   ‖ encode_arrays(arrays)
    encode_arrays = b"UNSA\\x01" ‖ u32 count
                   ‖ for each array: u8 len(dtype.str) ‖ dtype.str (ASCII, e.g. "<u8")
                                     ‖ u8 ndim ‖ u64 shape[i]... ‖ u64 nbytes ‖ C-order bytes

The same arrays always give the same bytes, so the requester, a regulator
holding published evidence (``unseen audit verify-job --evidence``) and the
node itself compute the same commitment. This module is in layer 3 so that
the node (layer 5), the requester SDK and the audit (layer 6) share one
definition.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

import numpy as np
from eth_utils import keccak

from offchain.errors import InputError
from offchain.mpc.sharing import SharePayload

RESULT_DOMAIN = b"unseen-result/v1"
ARRAYS_MAGIC = b"UNSA\x01"
NONCE_BYTES = 32
MAX_DIMENSIONS = 16
ARRAYS_PER_PAYLOAD = 3


def encode_arrays(arrays: Sequence[np.ndarray]) -> bytes:
    """Return ``arrays`` as one canonical blob (layout in the module docstring)."""
    parts = [ARRAYS_MAGIC, struct.pack(">I", len(arrays))]
    for array in arrays:
        array = np.asarray(array)
        if not array.flags.c_contiguous:  # np.ascontiguousarray would turn 0-d into 1-d
            array = array.copy(order="C")
        if array.dtype.hasobject:
            raise InputError(f"cannot encode an array of Python objects ({array.dtype})")
        if array.ndim > MAX_DIMENSIONS:
            raise InputError(f"cannot encode an array of {array.ndim} dimensions (at most {MAX_DIMENSIONS})")
        dtype = array.dtype.str.encode("ascii")
        parts.append(struct.pack(">B", len(dtype)) + dtype)
        parts.append(struct.pack(">B", array.ndim) + b"".join(struct.pack(">Q", n) for n in array.shape))
        parts.append(struct.pack(">Q", array.nbytes))
        parts.append(array.tobytes())
    return b"".join(parts)


def decode_arrays(blob: bytes) -> list[np.ndarray]:
    """Parse a blob made by :func:`encode_arrays`; refuse anything malformed or trailing."""
    view = memoryview(blob)
    if bytes(view[: len(ARRAYS_MAGIC)]) != ARRAYS_MAGIC:
        raise InputError("not an array blob (bad magic); it was not written by this version of Unseen")
    offset = len(ARRAYS_MAGIC)

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
        if ndim > MAX_DIMENSIONS:
            raise InputError(f"array blob holds an array of {ndim} dimensions (at most {MAX_DIMENSIONS})")
        shape = tuple(struct.unpack(">Q", take(8))[0] for _ in range(ndim))
        (nbytes,) = struct.unpack(">Q", take(8))
        expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes != expected:
            raise InputError(f"array blob: {nbytes} bytes for shape {shape} of {dtype} (expected {expected})")
        arrays.append(np.frombuffer(take(nbytes), dtype=dtype).reshape(shape).copy())
    if offset != len(view):
        raise InputError(f"array blob has {len(view) - offset} trailing bytes")
    return arrays


def payload_arrays(payloads: Mapping[str, SharePayload], names: Sequence[str]) -> list[np.ndarray]:
    """Return the transport arrays of ``payloads`` in ``names`` order (three per output)."""
    missing = [name for name in names if name not in payloads]
    if missing:
        raise InputError(f"share payloads {missing} are missing; have {sorted(payloads)}")
    return [array for name in names for array in payloads[name].to_message()]


def payloads_from_arrays(names: Sequence[str], arrays: Sequence[np.ndarray]) -> dict[str, SharePayload]:
    """Inverse of :func:`payload_arrays`; refuses a count that does not fit the names."""
    if len(arrays) != ARRAYS_PER_PAYLOAD * len(names):
        raise InputError(
            f"{len(names)} share payloads need {ARRAYS_PER_PAYLOAD * len(names)} arrays, got {len(arrays)}"
        )
    return {name: SharePayload.from_message(list(arrays[3 * i: 3 * i + 3])) for i, name in enumerate(names)}


def result_bytes(names: Sequence[str], arrays: Sequence[np.ndarray]) -> bytes:
    """Return the canonical bytes of a node's result: output names, then its share arrays."""
    encoded_names = []
    for name in names:
        raw = name.encode()
        if len(raw) > 0xFFFF:
            raise InputError(f"output name of {len(raw)} bytes is too long (at most 65535)")
        encoded_names.append(struct.pack(">H", len(raw)) + raw)
    if len(names) > 0xFFFF:
        raise InputError(f"{len(names)} outputs are too many (at most 65535)")
    return RESULT_DOMAIN + struct.pack(">H", len(names)) + b"".join(encoded_names) + encode_arrays(arrays)


def result_commitment(payload: bytes, nonce: bytes) -> bytes:
    """Return ``keccak256(payload ‖ nonce)``: the value ``commitResult`` records."""
    if len(nonce) != NONCE_BYTES:
        raise InputError(f"a result nonce is {NONCE_BYTES} bytes, got {len(nonce)}")
    return keccak(bytes(payload) + bytes(nonce))
