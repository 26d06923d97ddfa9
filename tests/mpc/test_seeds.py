"""Pairwise PRG key agreement over the transport (X25519 + HKDF), no dealer."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError
from offchain.mpc.prg import Prg
from offchain.mpc.seeds import agree_pairwise_keys
from offchain.net.local import run_local


def _keys(runtime, session_id):
    return agree_pairwise_keys(runtime.transport, session_id)


def test_each_pair_agrees_and_the_third_party_holds_a_different_key():
    session = b"session-0123456789"
    keys = run_local(_keys, session).results
    for party in range(3):
        following = (party + 1) % 3
        assert keys[party].with_next == keys[following].with_previous
    pair_keys = {keys[p].with_next for p in range(3)}
    assert len(pair_keys) == 3  # the three pairs hold three different keys
    for party in range(3):
        # the party outside pair (p+1, p+2) does not hold its key
        outsider_key = keys[(party + 1) % 3].with_next
        assert outsider_key not in (keys[party].with_next, keys[party].with_previous)


def test_keys_are_fresh_per_session_even_with_the_same_session_id():
    first = run_local(_keys, b"same-session-id-0001").results
    second = run_local(_keys, b"same-session-id-0001").results
    assert first[0].with_next != second[0].with_next


def test_agreed_keys_drive_identical_prg_streams():
    keys = run_local(_keys, b"prg-session-000000").results
    stream_at_zero = Prg(keys[0].with_next).random(1000)
    stream_at_one = Prg(keys[1].with_previous).random(1000)
    assert np.array_equal(stream_at_zero, stream_at_one)
    assert not np.array_equal(stream_at_zero, Prg(keys[2].with_next).random(1000))


def test_key_material_is_not_printed():
    keys = run_local(_keys, b"repr-session-00000").results[0]
    assert keys.with_next.hex() not in repr(keys)


def test_short_session_ids_are_refused():
    with pytest.raises(InputError, match="at least 16 bytes"):
        run_local(_keys, b"short")


def _random_and_pairs(runtime):
    from offchain.mpc import ArithmeticShare

    shared = ArithmeticShare(runtime, runtime.random_components((64,))).reveal()
    with_next = runtime.prg_with(runtime.next_party).random(4)
    with_previous = runtime.prg_with(runtime.previous_party).random(4)
    return shared, with_next, with_previous


def test_random_sharings_agree_and_pair_streams_match():
    results = run_local(_random_and_pairs).results
    assert all(np.array_equal(results[0][0], r[0]) for r in results)  # one consistent random value
    assert np.unique(results[0][0]).size > 60  # and it is random
    for party in range(3):
        assert np.array_equal(results[party][1], results[(party + 1) % 3][2])


def test_xor_into_draws_the_same_stream_as_fill_in_place():
    key = bytes(range(16))
    words = np.arange(1001, dtype=np.uint64)
    expected = words ^ Prg(key).random(1001)
    in_place = Prg(key)
    assert in_place.xor_into(words) is words
    assert np.array_equal(words, expected)
    # both draw the same number of bytes, so the streams stay in step
    follower, reference = Prg(key), Prg(key)
    follower.xor_into(np.zeros(7, dtype=np.uint8))
    reference.random(7, np.uint8)
    assert np.array_equal(follower.random(5), reference.random(5))


def test_xor_into_refuses_views_it_cannot_write_in_place():
    with pytest.raises(InputError, match="C-contiguous"):
        Prg(bytes(16)).xor_into(np.zeros((4, 4), dtype=np.uint64)[:, 1])


def test_allocator_tuning_is_idempotent():
    from offchain.mpc.allocator import keep_freed_memory

    first = keep_freed_memory()
    assert keep_freed_memory() is first
