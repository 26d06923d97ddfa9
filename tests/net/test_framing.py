"""Frames: round trips of every supported dtype and shape, refusal of malformed frames."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from offchain.errors import InputError, TransportError
from offchain.net.framing import (
    PREFIX,
    FrameKind,
    control_frame,
    data_frame_segments,
    prepare_arrays,
    read_frame,
)


class BytesStream:
    """A stream over fixed bytes that hands out at most ``step`` bytes per read, like a socket."""

    def __init__(self, data: bytes, step: int = 7919) -> None:
        self._data = memoryview(data)
        self._position = 0
        self._step = step

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        count = min(nbytes or len(buffer), self._step, len(self._data) - self._position)
        buffer[:count] = self._data[self._position : self._position + count]
        self._position += count
        return count


def encode(arrays) -> bytes:
    segments, _ = data_frame_segments(prepare_arrays(arrays))
    return b"".join(bytes(segment) for segment in segments)


def round_trip(arrays, **options):
    frame = read_frame(BytesStream(encode(arrays), **options), max_message_bytes=1 << 32)
    assert frame.kind is FrameKind.DATA
    return frame.arrays


def assert_same(sent, received):
    assert len(sent) == len(received)
    for original, copy in zip(sent, received, strict=True):
        assert copy.dtype == original.dtype
        assert copy.shape == original.shape
        np.testing.assert_array_equal(copy, original)


DTYPES = ["?", "u1", "i1", "<u2", ">i2", "<u4", "<i4", "<u8", ">u8", "<i8", "<f2", "<f4", "<f8", ">f8", "<c8", "<c16"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_supported_dtype_round_trips(dtype):
    values = np.arange(-6, 6).astype(dtype).reshape(3, 4)
    assert_same([values], round_trip([values]))


@pytest.mark.parametrize(
    "array",
    [
        np.array(7, dtype=np.uint64),
        np.zeros(0, dtype=np.uint64),
        np.zeros((0, 3), dtype=np.int32),
        np.zeros((4, 0, 2), dtype=np.float64),
        np.arange(12, dtype=np.uint64).reshape(3, 4),
        np.arange(24, dtype=np.uint64).reshape(2, 3, 4).transpose(2, 0, 1),
        np.asfortranarray(np.arange(12, dtype=np.int64).reshape(3, 4)),
        np.arange(20, dtype=np.uint64)[::3],
    ],
    ids=["0-d", "empty", "empty-2d", "empty-3d", "2d", "transposed", "fortran", "strided"],
)
def test_shapes_and_memory_layouts_round_trip(array):
    assert_same([array], round_trip([array]))


def test_a_message_of_no_arrays_round_trips():
    assert round_trip([]) == []


def test_small_and_large_arrays_mixed_keep_their_order():
    arrays = [
        np.arange(3, dtype=np.uint8),
        np.arange(200_000, dtype=np.uint64),
        np.array(1.5),
        np.arange(70_000, dtype=np.uint64).reshape(700, 100),
        np.zeros((0, 5)),
    ]
    assert_same(arrays, round_trip(arrays, step=65536))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        hnp.arrays(
            dtype=st.sampled_from([np.dtype(d) for d in DTYPES]),
            shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
            elements=None,
        ),
        max_size=5,
    )
)
def test_any_message_round_trips_bit_for_bit(arrays):
    received = round_trip(arrays, step=13)
    assert len(received) == len(arrays)
    for original, copy in zip(arrays, received, strict=True):
        assert copy.dtype.str == original.dtype.str
        assert copy.shape == original.shape
        # Bit-for-bit (NaN payloads and signed zeros included).
        assert copy.tobytes() == np.ascontiguousarray(original).tobytes()


@pytest.mark.parametrize(
    "bad",
    [np.array(["text"]), np.array([object()], dtype=object), np.zeros(2, dtype=[("a", "<u8")])],
    ids=["unicode", "object", "structured"],
)
def test_non_numeric_arrays_are_refused_before_sending(bad):
    with pytest.raises(InputError, match="cannot be sent"):
        prepare_arrays([bad])


def test_a_bare_array_or_a_list_of_numbers_is_refused():
    with pytest.raises(InputError, match="wrap a single array in a list"):
        prepare_arrays(np.zeros(3))
    with pytest.raises(InputError, match="not a numpy array"):
        prepare_arrays([[1, 2, 3]])


def test_control_frames_carry_their_body():
    digest = bytes(range(32))
    frame = read_frame(BytesStream(control_frame(FrameKind.TRANSCRIPT, digest)), max_message_bytes=1)
    assert (frame.kind, frame.body) == (FrameKind.TRANSCRIPT, digest)


def header_frame(header: bytes, payload_length: int, payload: bytes = b"") -> bytes:
    return PREFIX.pack(FrameKind.DATA, len(header), payload_length) + header + payload


def array_header(dtype: bytes, shape: tuple[int, ...], count: int = 1) -> bytes:
    entry = struct.pack(f"<B{len(dtype)}sB{len(shape)}Q", len(dtype), dtype, len(shape), *shape)
    return struct.pack("<I", count) + entry


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (PREFIX.pack(9, 0, 0), "unknown frame kind 9"),
        (header_frame(array_header(b"|O8", (1,)), 8, b"\0" * 8), "unsupported dtype"),
        (header_frame(array_header(b"<V8", (1,)), 8, b"\0" * 8), "unsupported dtype"),
        (header_frame(array_header(b"<u8", (2,)), 8, b"\0" * 8), "more than the frame's 8 payload bytes"),
        (header_frame(array_header(b"<u8", (1,)), 16, b"\0" * 16), "take 8 bytes but the frame carries 16"),
        (header_frame(array_header(b"<u8", (1,)) + b"x", 8, b"\0" * 8), "trailing"),
        (header_frame(array_header(b"<u8", (1,), count=2), 8, b"\0" * 8), "truncated or garbled"),
        (header_frame(array_header(b"<u8", (1 << 62, 1 << 62)), 8), "more than the frame's 8"),
        (PREFIX.pack(FrameKind.DATA, 0, 1 << 40), "exceeds the limit"),
        (PREFIX.pack(FrameKind.CLOSE, 0, 5), "expected none"),
        (header_frame(array_header(b"<u8", (4,)), 32, b"\0" * 10), "ended after 10 of the 32 bytes"),
        (PREFIX.pack(FrameKind.DATA, 4, 0)[:9], "ended after 9 of the 16 bytes of a frame prefix"),
    ],
    ids=[
        "kind", "object-dtype", "void-dtype", "too-small-payload", "too-large-payload", "trailing",
        "truncated-header", "huge-shape", "over-limit", "control-payload", "cut-payload", "cut-prefix",
    ],
)
def test_malformed_frames_are_refused_with_the_reason(frame, message):
    with pytest.raises(TransportError, match=message):
        read_frame(BytesStream(frame), max_message_bytes=1 << 32)
