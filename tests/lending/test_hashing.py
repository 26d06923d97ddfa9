"""Applicant keys and the batch layout: same keys in DuckDB and Python, sound cuckoo and simple hashing."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.errors import InputError
from offchain.lending.encoding import (
    DEFAULT_ID_KEY,
    KEY_MASK,
    applicant_key,
    key_sql,
    keys_from_hex,
    lender_dummies,
    text_prefix,
)
from offchain.lending.hashing import (
    bin_count,
    candidate_bins,
    choose_seed,
    cuckoo_place,
    max_load,
    simple_hash_table,
)

DUCK = duckdb.connect()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=12),
        min_size=1,
        max_size=8,
    )
)
def test_duckdb_and_python_compute_the_same_string_keys(ids: list[str]) -> None:
    rows = DUCK.execute(
        f"SELECT {key_sql('v', 'string')} AS k FROM unnest(?::VARCHAR[]) AS t(v)",
        [text_prefix(DEFAULT_ID_KEY, "string"), ids],
    ).fetchnumpy()["k"]
    assert keys_from_hex(rows.tolist()).tolist() == sorted(
        {applicant_key(i, DEFAULT_ID_KEY, "string") for i in ids}
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=8))
def test_duckdb_and_python_compute_the_same_integer_keys(ids: list[int]) -> None:
    rows = DUCK.execute(
        f"SELECT {key_sql('v', 'int64')} AS k FROM unnest(?::BIGINT[]) AS t(v)",
        [text_prefix(DEFAULT_ID_KEY, "int64"), ids],
    ).fetchnumpy()["k"]
    assert keys_from_hex(rows.tolist()).tolist() == sorted(
        {applicant_key(i, DEFAULT_ID_KEY, "int64") for i in ids}
    )


def test_ids_with_a_nul_character_are_refused_and_skipped() -> None:
    with pytest.raises(InputError, match="U\\+0000"):
        applicant_key("\x00\x80", DEFAULT_ID_KEY, "string")
    with pytest.raises(InputError, match="not valid Unicode"):
        applicant_key("\ud800", DEFAULT_ID_KEY, "string")
    from offchain.lending.encoding import valid_id_sql

    (valid,) = DUCK.execute(
        f"SELECT {valid_id_sql('v', 'string')} FROM (SELECT ? AS v)", ["a\x00"]
    ).fetchone()
    assert valid is False


def test_lender_dummies_are_unpredictable_and_never_keys_or_requester_dummies() -> None:
    dummies = lender_dummies(100_000)
    assert np.all(dummies >= np.uint64(2**63 + 2**62))
    assert np.unique(dummies).size == dummies.size  # 62 random bits: no repeats in practice


def test_keys_are_62_bits_and_separated_by_type_and_consortium_key() -> None:
    assert applicant_key("7", DEFAULT_ID_KEY, "string") != applicant_key(7, DEFAULT_ID_KEY, "int64")
    assert applicant_key("x", DEFAULT_ID_KEY, "string") != applicant_key("x", "1" * 64, "string")
    keys = [applicant_key(f"id{i}", DEFAULT_ID_KEY, "string") for i in range(2000)]
    assert max(keys) <= int(KEY_MASK) and len(set(keys)) == 2000


def test_cuckoo_places_every_key_in_one_of_its_bins_once() -> None:
    rng = np.random.default_rng(1)
    keys = np.unique(rng.integers(0, 2**62, 5000, dtype=np.uint64))
    seed, placement = choose_seed(keys, bin_count(5000))
    candidates = candidate_bins(keys, seed, bin_count(5000))
    assert len(set(placement.tolist())) == keys.size
    assert all(placement[i] in candidates[:, i] for i in range(keys.size))
    assert np.array_equal(cuckoo_place(keys, seed, bin_count(5000)), placement)  # deterministic
    assert cuckoo_place(keys[:10], seed, 3) is None  # more keys than bins cannot insert


def test_simple_hashing_puts_each_key_in_each_candidate_bin_exactly_once() -> None:
    rng = np.random.default_rng(2)
    keys = np.unique(rng.integers(0, 2**62, 3000, dtype=np.uint64))
    bins = 7  # few bins: candidate bins of one key often coincide
    load = max_load(keys.size, bins)
    table = simple_hash_table(keys, "ab" * 16, bins, load, lender_dummies(bins * load))
    candidates = candidate_bins(keys, "ab" * 16, bins)
    for index in range(keys.size):
        for bin_index in range(bins):
            expected = int(bin_index in candidates[:, index])
            assert np.count_nonzero(table[bin_index] == keys[index]) == expected
    with pytest.raises(InputError, match="new seed"):
        simple_hash_table(keys, "ab" * 16, bins, 10, lender_dummies(bins * 10))


def test_the_load_bound_is_safe_and_not_wasteful() -> None:
    rng = np.random.default_rng(3)
    items, bins = 20_000, 127
    bound = max_load(items, bins)
    mean = 3 * items / bins
    assert mean < bound < mean + 12 * math.sqrt(mean)
    for _ in range(5):
        keys = np.unique(rng.integers(0, 2**62, items, dtype=np.uint64))
        loads = np.bincount(candidate_bins(keys, rng.bytes(16).hex(), bins).ravel(), minlength=bins)
        assert loads.max() <= bound
    assert max_load(0, 10) == 1 and max_load(5, 2) == 5
    assert max_load(10**6, 12701) < max_load(10**6, 1271)
