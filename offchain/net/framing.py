"""Frames on a party-to-party stream: one message of numpy arrays per frame.

Every frame starts with a 16-byte prefix::

    kind u8 | 3 zero bytes | header length u32 | payload length u64   (little-endian)

and then ``header length`` header bytes and ``payload length`` payload bytes.

``DATA`` frames carry one message. The header lists the arrays::

    array count u32, then per array: dtype length u8, dtype string (numpy
    ``dtype.str``, e.g. ``<u8``), ndim u8, ndim × u64 dimensions

and the payload is the arrays' raw bytes in C order, one after the other, so
the receiver allocates each array once and reads straight into it.
``TRANSCRIPT`` frames carry a 32-byte link transcript in the header, ``CLOSE``
frames nothing, ``ABORT`` frames a short UTF-8 reason in the header.

The reader checks everything a peer controls before allocating: kind,
lengths against the configured bounds, dtype strings against plain numeric
types (bool, signed and unsigned integers, floats, complex) and that the
arrays' sizes add up to the payload length.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import numpy as np

from offchain.errors import InputError, TransportError
from offchain.net.transcript import array_prefix, message_prefix

PREFIX = struct.Struct("<B3xIQ")
_COUNT = struct.Struct("<I")
MAX_HEADER_BYTES = 16 << 20
MAX_NDIM = 64
# Arrays smaller than this are copied into one buffer with the header, so a small
# message leaves as one TLS record and one system call; larger ones are sent from
# their own memory without a copy.
COALESCE_BELOW_BYTES = 64 << 10
# Received payload is hashed in pieces of this size while the rest is still in
# flight; small enough to stay in the core's cache between decryption and hashing.
HASH_CHUNK_BYTES = 256 << 10
_DTYPE_PATTERN = re.compile(r"[<>|][biufc][0-9]{1,2}")
_SUPPORTED_KINDS = "biufc"


class FrameKind(IntEnum):
    """What a frame carries."""

    DATA = 1
    TRANSCRIPT = 2
    CLOSE = 3
    ABORT = 4


class Stream(Protocol):
    """The two socket methods framing needs (``socket.socket`` and ``ssl.SSLSocket`` have them)."""

    def sendall(self, data, /) -> None: ...

    def recv_into(self, buffer, nbytes: int = 0, /) -> int: ...


@dataclass(frozen=True)
class Frame:
    """A frame as read: ``arrays`` for DATA frames, ``body`` (the header bytes) for the others."""

    kind: FrameKind
    arrays: list[np.ndarray] | None = None
    body: bytes = b""


def prepare_arrays(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Return the message's arrays in C order, refusing anything but plain numeric arrays."""
    if isinstance(arrays, np.ndarray):
        raise InputError(
            "a message is a sequence of arrays; wrap a single array in a list: send(peer, [array])"
        )
    prepared = []
    for index, array in enumerate(arrays):
        if not isinstance(array, np.ndarray):
            raise InputError(
                f"message item {index} is a {type(array).__name__}, not a numpy array; "
                "convert it with numpy.asarray(...) before sending"
            )
        if array.dtype.kind not in _SUPPORTED_KINDS or array.dtype.hasobject:
            raise InputError(
                f"message item {index} has dtype {array.dtype}, which cannot be sent; "
                "only bool, integer, float and complex arrays travel between parties"
            )
        # Not np.ascontiguousarray: it turns 0-d arrays into shape (1,).
        prepared.append(array if array.flags.c_contiguous else array.copy(order="C"))
    return prepared


def data_frame_segments(arrays: list[np.ndarray]) -> tuple[list[bytes | memoryview], int]:
    """Return the DATA frame for prepared ``arrays`` as buffers to send in order, and its payload size.

    Small arrays are joined with the header; large ones are views of the arrays' memory.
    """
    header_bytes = message_prefix(len(arrays)) + b"".join(
        array_prefix(array.dtype, array.shape) for array in arrays
    )
    payload_bytes = sum(array.nbytes for array in arrays)
    segments: list[bytes | memoryview] = []
    pending = [PREFIX.pack(FrameKind.DATA, len(header_bytes), payload_bytes), header_bytes]
    for array in arrays:
        if array.nbytes == 0:
            continue
        raw = array.reshape(-1).view(np.uint8).data
        if array.nbytes < COALESCE_BELOW_BYTES:
            pending.append(raw)
        else:
            segments.append(b"".join(pending))
            pending = []
            segments.append(raw)
    if pending:
        segments.append(b"".join(pending))
    return segments, payload_bytes


def control_frame(kind: FrameKind, body: bytes = b"") -> bytes:
    """Return a TRANSCRIPT, CLOSE or ABORT frame carrying ``body``."""
    if kind is FrameKind.DATA:
        raise InputError("DATA frames are built by data_frame_segments, not control_frame")
    return PREFIX.pack(kind, len(body), 0) + body


def write_segments(stream: Stream, segments: Sequence[bytes | memoryview]) -> None:
    """Send ``segments`` in order."""
    for segment in segments:
        stream.sendall(segment)


def read_exactly(stream: Stream, buffer: memoryview, what: str) -> None:
    """Fill ``buffer`` from ``stream``; raise ``TransportError`` if the stream ends first."""
    filled, size = 0, len(buffer)
    while filled < size:
        received = stream.recv_into(buffer[filled:], size - filled)
        if received == 0:
            raise TransportError(
                f"the connection ended after {filled} of the {size} bytes of {what}, "
                "without a close frame (the peer process exited or its link was cut)"
            )
        filled += received


def read_frame(stream: Stream, *, max_message_bytes: int, transcript: hashlib._Hash | None = None) -> Frame:
    """Read one frame; raise ``TransportError`` naming what is malformed.

    A DATA frame's message is fed into ``transcript`` (see ``transcript.py``)
    piece by piece as it arrives, so hashing overlaps the transfer instead of
    following it.
    """
    prefix = bytearray(PREFIX.size)
    read_exactly(stream, memoryview(prefix), "a frame prefix")
    kind_value, header_length, payload_length = PREFIX.unpack(prefix)
    try:
        kind = FrameKind(kind_value)
    except ValueError:
        raise TransportError(f"unknown frame kind {kind_value}") from None
    if header_length > MAX_HEADER_BYTES:
        raise TransportError(f"frame header of {header_length} bytes exceeds {MAX_HEADER_BYTES}")
    if payload_length > max_message_bytes:
        raise TransportError(
            f"message of {payload_length} bytes exceeds the limit of {max_message_bytes} bytes "
            "(raise max_message_bytes at both ends if messages this large are intended)"
        )
    header = bytearray(header_length)
    read_exactly(stream, memoryview(header), f"a {kind.name} frame header")
    if kind is not FrameKind.DATA:
        if payload_length:
            raise TransportError(f"{kind.name} frame carries {payload_length} payload bytes; expected none")
        return Frame(kind, body=bytes(header))
    specs = parse_data_header(bytes(header), payload_length)
    arrays = [np.empty(shape, dtype) for dtype, shape in specs]
    if transcript is not None:
        transcript.update(message_prefix(len(arrays)))
    for array in arrays:
        if transcript is not None:
            transcript.update(array_prefix(array.dtype, array.shape))
        raw = array.reshape(-1).view(np.uint8).data
        for start in range(0, len(raw), HASH_CHUNK_BYTES):
            chunk = raw[start : start + HASH_CHUNK_BYTES]
            read_exactly(stream, chunk, "a message payload")
            if transcript is not None:
                transcript.update(chunk)
    return Frame(kind, arrays=arrays)


def parse_data_header(header: bytes, payload_length: int) -> list[tuple[np.dtype, tuple[int, ...]]]:
    """Return (dtype, shape) per array; check that their sizes add up to ``payload_length``."""
    try:
        (count,) = _COUNT.unpack_from(header, 0)
        offset = _COUNT.size
        specs = []
        total = 0
        for index in range(count):
            dtype_length = header[offset]
            dtype_text = header[offset + 1 : offset + 1 + dtype_length].decode("ascii")
            offset += 1 + dtype_length
            if not _DTYPE_PATTERN.fullmatch(dtype_text):
                raise TransportError(f"array {index} has unsupported dtype {dtype_text!r}")
            dtype = np.dtype(dtype_text)
            if dtype.str != dtype_text:
                raise TransportError(f"array {index} has non-canonical dtype {dtype_text!r}")
            ndim = header[offset]
            offset += 1
            if ndim > MAX_NDIM:
                raise TransportError(f"array {index} has {ndim} dimensions; at most {MAX_NDIM} allowed")
            shape = struct.unpack_from(f"<{ndim}Q", header, offset)
            offset += 8 * ndim
            size = dtype.itemsize
            for dimension in shape:
                size *= dimension
            total += size
            if total > payload_length:
                raise TransportError(
                    f"arrays need more than the frame's {payload_length} payload bytes (by array {index})"
                )
            specs.append((dtype, shape))
    except (IndexError, struct.error, UnicodeDecodeError) as error:
        raise TransportError(f"truncated or garbled message header ({len(header)} bytes): {error}") from None
    if offset != len(header):
        raise TransportError(f"message header has {len(header) - offset} trailing bytes")
    if total != payload_length:
        raise TransportError(f"arrays take {total} bytes but the frame carries {payload_length}")
    return specs
