"""Canonical key encoding: injective, representation-independent, strict about bad keys."""

from __future__ import annotations

import datetime as dt
import unicodedata

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain.errors import InputError
from offchain.psi.encoding import (
    INT64_MAX,
    INT64_MIN,
    EncodedKeys,
    encode_key,
    encode_keys,
)

int64s = st.integers(min_value=INT64_MIN, max_value=INT64_MAX)
scalars = st.one_of(
    int64s,
    st.text(max_size=12),
    st.binary(max_size=12),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.booleans(),
)
keys = st.one_of(
    scalars,
    st.tuples(scalars),
    st.tuples(scalars, scalars),
    st.tuples(scalars, st.tuples(scalars, scalars)),
)


def _canonical_identity(value):
    """What the encoding promises to identify: NFC-equal text, equal instants of aware datetimes."""
    if isinstance(value, tuple):
        return ("tuple", tuple(_canonical_identity(part) for part in value))
    if isinstance(value, str):
        return ("text", unicodedata.normalize("NFC", value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, dt.datetime):
        return ("aware" if value.tzinfo else "naive", value)
    return (type(value).__name__, value)


@given(keys, keys)
def test_encoding_is_injective(first, second):
    same_key = _canonical_identity(first) == _canonical_identity(second)
    assert (encode_key(first) == encode_key(second)) == same_key


@given(st.lists(int64s, max_size=40))
def test_integer_column_encodes_like_scalars(values):
    vectorised = encode_keys(np.array(values, dtype=np.int64))
    assert vectorised.as_list() == [encode_key(value) for value in values]


@given(st.lists(st.integers(min_value=0, max_value=2**32 - 1), max_size=20))
def test_integer_width_and_signedness_do_not_change_the_encoding(values):
    reference = [encode_key(value) for value in values]
    for dtype in (np.uint32, np.int64, np.uint64):
        assert encode_keys(np.array(values, dtype=dtype)).as_list() == reference
    assert [encode_key(np.int64(value)) for value in values] == reference


@given(st.lists(st.dates(), max_size=20))
def test_date_column_encodes_like_python_dates(values):
    column = np.array(values, dtype="datetime64[D]")
    assert encode_keys(column).as_list() == [encode_key(value) for value in values]


@given(st.lists(st.datetimes(), max_size=20))
def test_naive_timestamp_column_encodes_like_python_datetimes(values):
    column = np.array(values, dtype="datetime64[us]")
    assert encode_keys(column).as_list() == [encode_key(value) for value in values]


@given(st.text())
def test_text_is_nfc_normalised(text):
    assert encode_key(unicodedata.normalize("NFD", text)) == encode_key(
        unicodedata.normalize("NFC", text)
    )


def test_aware_datetimes_encode_the_instant():
    utc = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    paris = utc.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert encode_key(utc) == encode_key(paris)
    assert encode_key(utc) != encode_key(utc.replace(tzinfo=None))


def test_types_stay_apart():
    encodings = {encode_key(value) for value in (1, "1", b"1", True, (1,), dt.date(1970, 1, 2))}
    assert len(encodings) == 6


def test_known_bytes_of_version_1():
    assert encode_key(5).hex() == "010000000000000005"
    assert encode_key(-1).hex() == "01ffffffffffffffff"
    assert encode_key("é").hex() == "02c3a9"
    assert encode_key(dt.date(1970, 1, 2)).hex() == "0400000001"
    assert (
        encode_key((7, "a")).hex()
        == "1002" + "00000009" + "010000000000000007" + "00000002" + "0261"
    )


@pytest.mark.parametrize(
    "bad, fragment",
    [
        (1.5, "float key"),
        (None, "NULL"),
        (2**63, "signed 64-bit"),
        (-(2**63) - 1, "signed 64-bit"),
        (object(), "unsupported key type"),
        ((), "1 to 255 elements"),
        ([1, 2], "unsupported key type list"),
    ],
)
def test_bad_keys_are_refused_with_the_value(bad, fragment):
    with pytest.raises(InputError, match=fragment):
        encode_key(bad)


def test_bad_columns_name_the_row():
    with pytest.raises(InputError, match="row 2"):
        encode_keys(["a", "b", None])
    with pytest.raises(InputError, match="float key column"):
        encode_keys(np.array([1.0, 2.0]))
    with pytest.raises(InputError, match="row 1: integer key 18446744073709551615"):
        encode_keys(np.array([1, 2**64 - 1], dtype=np.uint64))
    with pytest.raises(InputError, match="row 1: key is NaT"):
        encode_keys(np.array(["2020-01-01", "NaT"], dtype="datetime64[D]"))
    with pytest.raises(InputError, match="sub-microsecond"):
        encode_keys(np.array(["2020-01-01T00:00:00.000000001"], dtype="datetime64[ns]"))
    with pytest.raises(InputError, match="1-D"):
        encode_keys(np.zeros((2, 2), dtype=np.int64))


@given(st.lists(st.integers(min_value=-5, max_value=5), max_size=30))
def test_distinct_keeps_first_appearance_order_and_inverts(values):
    for column in (np.array(values, dtype=np.int64), list(values)):
        encoded = encode_keys(column)
        distinct, inverse = encoded.distinct()
        expected = list(dict.fromkeys(encode_key(value) for value in values))
        assert distinct.as_list() == expected
        assert [distinct.row(index) for index in inverse.tolist()] == encoded.as_list()


def test_encoded_keys_needs_exactly_one_representation():
    with pytest.raises(InputError):
        EncodedKeys()
    with pytest.raises(InputError):
        EncodedKeys(matrix=np.zeros((1, 2), np.uint8), items=[b"ab"])


@given(st.lists(st.text(max_size=6), max_size=30))
def test_text_column_fast_path_matches_scalars(values):
    assert encode_keys(values).as_list() == [encode_key(value) for value in values]


def test_distinct_on_wide_fixed_rows_matches_python():
    rng = np.random.default_rng(11)
    rows = rng.integers(0, 3, size=(200, 12), dtype=np.uint8)  # 12 varying bytes: no packing
    distinct, inverse = EncodedKeys(matrix=rows).distinct()
    expected = list(dict.fromkeys(row.tobytes() for row in rows))
    assert distinct.as_list() == expected
    assert [distinct.row(i) for i in inverse.tolist()] == [row.tobytes() for row in rows]
