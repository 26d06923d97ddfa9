"""Exact 128-bit tag matching and the row index built from it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from offchain.errors import PsiError
from offchain.psi.matching import count_matches, match_tags, rows_by_group, tags_from_bytes


def _random_tags(rng, count):
    return rng.integers(0, 2**64, size=(count, 2), dtype=np.uint64)


@pytest.mark.parametrize(
    "left_size, right_size, common",
    [(0, 0, 0), (0, 5, 0), (1, 1, 1), (500, 300, 120), (1000, 1000, 0)],
)
def test_matches_equal_sets_of_python_tuples(left_size, right_size, common):
    rng = np.random.default_rng(left_size + 7 * right_size + common)
    left = _random_tags(rng, left_size)
    right = _random_tags(rng, right_size)
    right[:common] = left[left_size - common :]
    right = right[rng.permutation(right_size)]
    left_index, right_index = match_tags(left, right)
    assert np.array_equal(left[left_index], right[right_index])
    expected = {tuple(row) for row in left.tolist()} & {tuple(row) for row in right.tolist()}
    assert {tuple(row) for row in left[left_index].tolist()} == expected
    assert count_matches(left, right) == len(expected)


def test_ties_in_the_first_word_are_resolved_exactly():
    # Three tags share a first word: the fast path must fall back and still be exact.
    left = np.array([[7, 1], [7, 2], [9, 9]], dtype=np.uint64)
    right = np.array([[7, 2], [7, 3], [9, 9], [8, 1]], dtype=np.uint64)
    left_index, right_index = match_tags(left, right)
    assert sorted(zip(left_index.tolist(), right_index.tolist(), strict=False)) == [(1, 0), (2, 2)]


def test_order_depends_only_on_the_tags():
    rng = np.random.default_rng(3)
    shared = _random_tags(rng, 50)
    left = np.concatenate([shared, _random_tags(rng, 20)])[rng.permutation(70)]
    right = np.concatenate([shared, _random_tags(rng, 30)])[rng.permutation(80)]
    left_index, right_index = match_tags(left, right)
    again_right, again_left = match_tags(right, left)
    assert np.array_equal(left[left_index], right[again_right])
    assert np.array_equal(left_index, again_left)


def test_repeated_tags_on_one_side_are_refused():
    left = np.array([[1, 1], [1, 1]], dtype=np.uint64)
    right = np.array([[2, 2]], dtype=np.uint64)
    with pytest.raises(PsiError, match="left side repeats a tag"):
        match_tags(left, right)
    with pytest.raises(PsiError, match="tags must be an \\(n, 2\\) uint64"):
        match_tags(np.zeros((2, 3), np.uint64), right)


def test_tags_from_bytes_takes_the_leading_16_bytes():
    blob = bytes(range(64))
    tags = tags_from_bytes(blob, 32)
    assert tags.shape == (2, 2)
    assert tags[1].tobytes() == bytes(range(32, 48))
    with pytest.raises(PsiError, match="whole number"):
        tags_from_bytes(bytes(33), 32)


def test_rows_by_group_lists_rows_per_group_in_the_given_order():
    inverse = np.array([0, 1, 0, 2, 1, 3])
    rows, offsets = rows_by_group(inverse, np.array([1, 3, 0]))
    assert rows.tolist() == [1, 4, 5, 0, 2]
    assert offsets.tolist() == [0, 2, 3, 5]
    rows, offsets = rows_by_group(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert rows.size == 0 and offsets.tolist() == [0]


@given(
    st.sets(st.tuples(st.integers(0, 3), st.integers(0, 2**64 - 1)), max_size=40),
    st.sets(st.tuples(st.integers(0, 3), st.integers(0, 2**64 - 1)), max_size=40),
)
def test_matching_equals_set_intersection_even_with_many_first_word_ties(left_set, right_set):
    # First words drawn from {0..3}: ties everywhere, so the exact fallback is exercised.
    left = np.array(sorted(left_set), dtype=np.uint64).reshape(-1, 2)
    right = np.array(sorted(right_set, reverse=True), dtype=np.uint64).reshape(-1, 2)
    left_index, right_index = match_tags(left, right)
    assert np.array_equal(left[left_index], right[right_index])
    assert {tuple(row) for row in left[left_index].tolist()} == left_set & right_set
