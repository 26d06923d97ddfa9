"""Blobs, share payloads, input fingerprints and result commitments (offchain.programs.commitments), as nodes use them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from offchain.errors import InputError
from offchain.mpc.sharing import deal
from offchain.node.payloads import check_payloads
from offchain.programs.base import SharedArray
from offchain.programs.commitments import (
    decode_arrays,
    encode_arrays,
    input_fingerprint,
    payload_arrays,
    payloads_from_arrays,
    result_bytes,
    result_commitment,
)

_ARRAYS = st.lists(
    hnp.arrays(dtype=st.sampled_from([np.uint64, np.int64, np.uint8, np.float64, np.bool_]),
               shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
    max_size=5,
)


@given(_ARRAYS)
def test_blobs_round_trip_exactly(arrays: list[np.ndarray]) -> None:
    back = decode_arrays(encode_arrays(arrays))
    assert len(back) == len(arrays)
    for original, decoded in zip(arrays, back, strict=True):
        assert decoded.dtype == original.dtype and decoded.shape == original.shape
        assert np.array_equal(decoded, original, equal_nan=original.dtype.kind == "f")
    assert encode_arrays(back) == encode_arrays(arrays)  # canonical


@pytest.mark.parametrize("mangle", [
    lambda b: b"XXXXX" + b[5:],
    lambda b: b[:-1],
    lambda b: b + b"\0",
    lambda b: b[:9] + b"\x20" + b[10:],  # dtype length beyond the blob
])
def test_malformed_blobs_are_refused(mangle) -> None:
    blob = encode_arrays([np.arange(6, dtype=np.uint64).reshape(2, 3)])
    with pytest.raises(InputError):
        decode_arrays(mangle(blob))


def test_object_arrays_are_refused() -> None:
    with pytest.raises(InputError, match="objects"):
        encode_arrays([np.array([{}, []], dtype=object)])


def test_share_payloads_travel_and_are_checked_against_the_plan() -> None:
    payloads = [dict(zip(["keys", "n"], parts, strict=True)) for parts in zip(
        deal(np.arange(5, dtype=np.uint64), kind="boolean"), deal(np.array([3]), kind="integer"), strict=True)]
    expected = (SharedArray("keys", "boolean", 5), SharedArray("n", "integer", 1))
    for party in range(3):
        arrays = payload_arrays(payloads[party], ["keys", "n"])
        back = payloads_from_arrays(["keys", "n"], decode_arrays(encode_arrays(arrays)))
        check_payloads(back, expected, party, "input0")
        assert np.array_equal(back["keys"].components(), payloads[party]["keys"].components())
    with pytest.raises(InputError, match="party 0"):
        check_payloads(payloads[0], expected, 1, "input0")
    with pytest.raises(InputError, match="fixes 4 rows"):
        check_payloads(payloads[0], (SharedArray("keys", "boolean", 4), expected[1]), 0, "input0")
    with pytest.raises(InputError, match="as boolean"):
        check_payloads(payloads[0], (SharedArray("keys", "integer", 5), expected[1]), 0, "input0")
    with pytest.raises(InputError, match="arrays"):
        payloads_from_arrays(["keys"], payload_arrays(payloads[0], ["keys", "n"]))


def test_input_fingerprint_binds_the_shared_ring_values() -> None:
    shared = (SharedArray("x", "fixed", 3),)
    base = input_fingerprint({"x": np.array([1.0, 2.5, -3.0])}, shared, 16)
    assert base == input_fingerprint({"x": [1.0, 2.5, -3.0]}, shared, 16)
    assert base != input_fingerprint({"x": np.array([1.0, 2.5, -3.01])}, shared, 16)
    assert base != input_fingerprint({"x": np.array([1.0, 2.5, -3.0])}, shared, 20)


def test_result_commitment_binds_payload_names_and_nonce() -> None:
    arrays = [np.arange(3, dtype=np.uint64)]
    payload = result_bytes(["count"], arrays)
    nonce = bytes(range(32))
    commitment = result_commitment(payload, nonce)
    assert commitment != result_commitment(payload, bytes(32))
    assert commitment != result_commitment(result_bytes(["sum"], arrays), nonce)
    tampered = [arrays[0].copy()]
    tampered[0][1] += 1
    assert commitment != result_commitment(result_bytes(["count"], tampered), nonce)
    with pytest.raises(InputError, match="32 bytes"):
        result_commitment(payload, b"short")
