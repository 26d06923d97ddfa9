"""ECDH-PSI between two parties over an in-process transport."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.errors import InputError, PsiProtocolError, TransportError
from offchain.psi import curve, ecdh
from offchain.psi.ecdh import ecdh_psi
from offchain.psi.result import Reveal
from tests.psi.cases import check_revealed, expected_intersection, set_pairs
from tests.psi.parties import run_parties

PAIRS = set_pairs()


def _run(first, second, **options):
    return run_parties(
        [
            lambda transport: ecdh_psi(transport, 1, first, workers=0, **options),
            lambda transport: ecdh_psi(transport, 0, second, workers=0, **options),
        ]
    )


@pytest.mark.parametrize("name", PAIRS)
def test_both_sides_learn_the_intersection_in_aligned_order(name):
    first, second = PAIRS[name]
    first_result, second_result = _run(first, second, batch_size=64)
    check_revealed(first_result, first, second, second_result)
    check_revealed(second_result, second, first, first_result)


@pytest.mark.parametrize("name", ["duplicates", "random int64 array", "one empty"])
def test_only_the_receiver_learns_the_intersection(name):
    first, second = PAIRS[name]
    first_result, second_result = _run(first, second, receivers=[0], batch_size=50)
    check_revealed(first_result, first, second)
    assert not second_result.received
    assert second_result.intersection is None and second_result.rows is None
    assert second_result.peer_size == len(set(np.asarray(first).tolist()))


@pytest.mark.parametrize("name", ["identical", "random int64 array", "both empty", "duplicates"])
@pytest.mark.parametrize("receivers", [[0], [0, 1]])
def test_cardinality_only(name, receivers):
    first, second = PAIRS[name]
    results = _run(first, second, reveal=Reveal.CARDINALITY, receivers=receivers, batch_size=40)
    for party, result in enumerate(results):
        if party in receivers:
            assert result.cardinality == len(expected_intersection(first, second))
            assert result.intersection is None and result.rows is None
        else:
            assert not result.received


def test_a_process_pool_gives_the_same_answer():
    first = np.arange(0, 3000, dtype=np.int64)
    second = np.arange(2000, 6000, dtype=np.int64)
    first_result, second_result = run_parties(
        [
            lambda transport: ecdh_psi(transport, 1, first, workers=2, batch_size=256),
            lambda transport: ecdh_psi(transport, 0, second, workers=1, batch_size=500),
        ],
        timeout=120,
    )
    check_revealed(first_result, first, second, second_result)


def test_blinded_values_are_sent_in_a_shuffled_order(monkeypatch):
    scalar = bytes(range(32))
    monkeypatch.setattr(curve, "random_scalar", lambda: scalar)
    keys = [f"customer-{i:05d}" for i in range(200)]
    sent = []

    def recording(transport):
        original_send = transport.send

        def send(peer, arrays):
            if arrays[0][0] == ecdh.KIND_BLINDED:
                sent.append(arrays[1].tobytes())
            original_send(peer, arrays)

        transport.send = send
        return ecdh_psi(transport, 1, keys, workers=0, receivers=[1], batch_size=1000)

    run_parties(
        [recording, lambda transport: ecdh_psi(transport, 0, ["x"], workers=0, receivers=[1])]
    )
    from offchain.psi.encoding import encode_key

    in_row_order = curve.hash_and_blind([encode_key(key) for key in keys], scalar)
    chunks = lambda blob: [blob[i : i + 32] for i in range(0, len(blob), 32)]  # noqa: E731
    assert sorted(chunks(sent[0])) == sorted(chunks(in_row_order))
    assert chunks(sent[0]) != chunks(in_row_order)


def test_disagreeing_modes_abort_both_sides():
    with pytest.raises(PsiProtocolError, match="reveal"):
        run_parties(
            [
                lambda transport: ecdh_psi(transport, 1, [1, 2], workers=0),
                lambda transport: ecdh_psi(
                    transport, 0, [2, 3], workers=0, reveal=Reveal.CARDINALITY
                ),
            ]
        )
    with pytest.raises(PsiProtocolError, match="receivers"):
        run_parties(
            [
                lambda transport: ecdh_psi(transport, 1, [1, 2], workers=0, receivers=[0]),
                lambda transport: ecdh_psi(transport, 0, [2, 3], workers=0, receivers=[1]),
            ]
        )


def test_wrong_key_types_are_refused_before_anything_is_sent():
    sent = []

    def program(transport):
        transport.send = lambda peer, arrays: sent.append(arrays)
        return ecdh_psi(transport, 1, ["a", 1.5], workers=0)

    with pytest.raises(InputError, match="row 1: float key 1.5"):
        run_parties([program])
    assert sent == []


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"receivers": [2]}, "receivers must be a non-empty subset"),
        ({"batch_size": 0}, "batch_size"),
        ({"reveal": "intersection"}, "reveal must be a Reveal"),
    ],
)
def test_invalid_options_are_refused(options, fragment):
    with pytest.raises(InputError, match=fragment):
        run_parties([lambda transport: ecdh_psi(transport, 1, [1], workers=0, **options)])


def test_a_peer_that_stops_mid_protocol_fails_the_run_instead_of_hanging():
    def vanishing_peer(transport):
        # A well-formed HELLO announcing 500 keys, then the peer is gone.
        hello = np.array([ecdh.PROTOCOL_VERSION, 1, Reveal.INTERSECTION.value, 0b11, 500, 100])
        transport.send(0, [np.array([ecdh.KIND_HELLO, 0, 0]), hello])
        transport.recv(0)
        transport.close()

    with pytest.raises(TransportError):
        run_parties(
            [lambda transport: ecdh_psi(transport, 1, list(range(300)), workers=0), vanishing_peer],
            timeout=10,
        )


def test_a_malformed_batch_is_a_protocol_error():
    def bad_peer(transport):
        hello = np.array([ecdh.PROTOCOL_VERSION, 1, Reveal.INTERSECTION.value, 0b11, 2, 100])
        transport.send(0, [np.array([ecdh.KIND_HELLO, 0, 0]), hello])
        transport.recv(0)
        transport.send(0, [np.array([ecdh.KIND_BLINDED, 0, 2]), np.zeros((2, 31), np.uint8)])
        # Stay connected until party 0 gives up, so it fails on the bad batch, not on a closed link.
        while True:
            transport.recv(0)

    with pytest.raises(PsiProtocolError, match=r"expected uint8 \(2, 32\)"):
        run_parties([lambda transport: ecdh_psi(transport, 1, [1, 2, 3], workers=0), bad_peer])


def test_a_daemonic_process_runs_the_curve_work_inline_or_says_why_not(monkeypatch):
    import multiprocessing

    from offchain.psi.pool import InlineExecutor, make_executor

    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True, raising=False)
    assert isinstance(make_executor(None), InlineExecutor)
    with pytest.raises(InputError, match="daemonic and cannot start 2 curve worker"):
        make_executor(2)


def test_an_absurd_announced_size_is_refused_before_allocating():
    def boasting_peer(transport):
        hello = np.array([ecdh.PROTOCOL_VERSION, 1, Reveal.INTERSECTION.value, 0b11, 1 << 40, 100])
        transport.send(0, [np.array([ecdh.KIND_HELLO, 0, 0]), hello])
        transport.recv(0)

    with pytest.raises(PsiProtocolError, match="announced invalid sizes"):
        run_parties([lambda transport: ecdh_psi(transport, 1, [1], workers=0), boasting_peer])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 30), max_size=25),
    st.lists(st.integers(0, 30), max_size=25),
    st.sampled_from([Reveal.INTERSECTION, Reveal.CARDINALITY]),
)
def test_random_small_sets_match_python_sets(first, second, reveal):
    first_result, second_result = _run(first, second, reveal=reveal, batch_size=7)
    assert first_result.cardinality == second_result.cardinality == len(set(first) & set(second))
    if reveal is Reveal.INTERSECTION:
        check_revealed(first_result, first, second, second_result)
