"""Ring conversion, fixed-point encoding and the XOR-linear bit permutations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from offchain.errors import FixedPointOverflow, InputError
from offchain.mpc.fixedpoint import FixedPoint, decode, encode
from offchain.mpc.ring import fill_with_bit, reverse_bits, to_ring, to_signed

FRACTIONAL_BITS = st.integers(min_value=1, max_value=28)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_to_ring_roundtrips_signed_integers(value):
    assert int(to_signed(to_ring(value))) == value


def test_to_ring_refuses_floats_and_too_large_python_ints():
    with pytest.raises(InputError, match="encode real numbers"):
        to_ring(np.array([1.5]))
    with pytest.raises(InputError, match="does not fit in 64 bits"):
        to_ring(np.array([2**64], dtype=object))


@given(
    FRACTIONAL_BITS,
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
)
def test_encode_decode_is_within_half_a_unit(bits, value):
    decoded = decode(encode(value, bits), bits)
    assert abs(float(decoded) - value) <= 2.0 ** -(bits + 1) * (1 + 1e-9) + abs(value) * 2.0**-52


@given(
    FRACTIONAL_BITS,
    hnp.arrays(
        np.int64, hnp.array_shapes(max_dims=2, max_side=5), elements=st.integers(-(2**20), 2**20)
    ),
)
def test_integers_encode_exactly(bits, values):
    assert np.array_equal(decode(encode(values, bits), bits), values.astype(np.float64))


@given(FRACTIONAL_BITS)
def test_range_limits_are_enforced(bits):
    fmt = FixedPoint(bits)
    inside = fmt.max_magnitude * (1 - 2.0**-40)
    fmt.encode(np.array([inside, -inside]))
    with pytest.raises(FixedPointOverflow, match=r"outside the fixed-point range"):
        fmt.encode(np.array([0.0, fmt.max_magnitude]))


def test_encode_refuses_nan_and_bad_formats():
    with pytest.raises(InputError, match="finite"):
        encode(np.array([1.0, np.nan]))
    with pytest.raises(InputError, match="fractional_bits=40"):
        FixedPoint(40)
    with pytest.raises(InputError, match="real numbers"):
        encode(np.array(["a"]))


def test_int64_extremes_overflow_with_offending_value_in_message():
    with pytest.raises(FixedPointOverflow, match=str(2**50)):
        encode(np.array([2**50], dtype=np.int64), 16)


@given(hnp.arrays(np.uint64, st.integers(0, 20)))
def test_reverse_bits_matches_string_reversal(words):
    expected = np.array([int(format(int(w), "064b")[::-1], 2) for w in words], dtype=np.uint64)
    assert np.array_equal(reverse_bits(words), expected)


@given(hnp.arrays(np.uint64, 8), hnp.arrays(np.uint64, 8), st.integers(0, 63))
def test_bit_operations_are_xor_linear(a, b, bit):
    assert np.array_equal(reverse_bits(a ^ b), reverse_bits(a) ^ reverse_bits(b))
    assert np.array_equal(fill_with_bit(a ^ b, bit), fill_with_bit(a, bit) ^ fill_with_bit(b, bit))
    expected = np.where((a >> np.uint64(bit)) & np.uint64(1), np.uint64(2**64 - 1), np.uint64(0))
    assert np.array_equal(fill_with_bit(a, bit), expected)
