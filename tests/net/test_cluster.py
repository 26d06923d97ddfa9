"""run_tls: three party processes over pinned TLS give the same results and counts as run_local."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from offchain.errors import InputError, TransportError
from offchain.mpc import receive_input
from offchain.net.cluster import run_tls, run_tls_parties
from offchain.net.local import run_local
from tests.mpc.helpers import dealt
from tests.net.links import identities


def multiply_and_reveal(runtime, x_payload, y_payload):
    x, y = receive_input(runtime, x_payload), receive_input(runtime, y_payload)
    return (x * y).reveal()


def compare_and_multiply(runtime, x_payload, y_payload):
    x, y = receive_input(runtime, x_payload), receive_input(runtime, y_payload)
    return np.stack([(x < y).reveal(), x.equals(y).reveal(), (x * y).reveal()])


def fail_at_party_1(runtime):
    if runtime.party == 1:
        raise InputError("deliberate failure at party 1")
    return runtime.transport.recv(1)


def fail_at_party_0_while_party_2_computes(runtime):
    if runtime.party == 2:
        # Tell party 0 the computation has started (so party 0 fails only once party 2 is in it,
        # not while party 2 is still setting up and would hear of the failure), then compute.
        runtime.transport.send(0, [np.zeros(1, dtype=np.uint64)])
        time.sleep(600)  # a long local computation that never looks at the network
    if runtime.party == 0:
        runtime.transport.recv(2)
        raise InputError("deliberate failure at party 0")
    return runtime.transport.recv(0)


def exit_at_party_2(runtime):
    if runtime.party == 2:
        os._exit(3)
    return runtime.transport.recv(2)


@pytest.fixture(scope="module")
def operands():
    rng = np.random.default_rng(3)
    return rng.integers(-(2**63), 2**63 - 1, 1000, dtype=np.int64), rng.integers(-(2**63), 2**63 - 1, 1000, dtype=np.int64)


def test_run_tls_computes_what_run_local_computes_with_the_same_counts(operands):
    x, y = operands
    over_tls = run_tls(multiply_and_reveal, dealt(x), dealt(y), identities=identities(3), timeout=30)
    in_process = run_local(multiply_and_reveal, dealt(x), dealt(y), timeout=30)
    expected = (x.astype(object) * y.astype(object) + 2**63) % 2**64 - 2**63
    np.testing.assert_array_equal(over_tls.agreed(), expected.astype(np.int64))
    for tls_stats, local_stats in zip(over_tls.stats, in_process.stats, strict=True):
        assert (tls_stats.rounds, tls_stats.bytes_sent, tls_stats.messages_sent) == (
            local_stats.rounds, local_stats.bytes_sent, local_stats.messages_sent,
        )
        assert tls_stats.seconds > 0
    transcripts = {stats.party: stats.transcripts for stats in over_tls.stats}
    for party in range(3):
        for peer, digest in transcripts[party].items():
            assert transcripts[peer][party] == digest


def test_multi_round_protocols_run_over_tls_as_in_process():
    rng = np.random.default_rng(5)
    x = rng.integers(-1000, 1000, 300)
    y = np.where(rng.random(300) < 0.3, x, rng.integers(-1000, 1000, 300))
    over_tls = run_tls(compare_and_multiply, dealt(x), dealt(y), identities=identities(3), timeout=30)
    in_process = run_local(compare_and_multiply, dealt(x), dealt(y), timeout=30)
    less, equal, product = over_tls.agreed()
    np.testing.assert_array_equal(less, (x < y).astype(np.int64))
    np.testing.assert_array_equal(equal, (x == y).astype(np.int64))
    np.testing.assert_array_equal(product, x * y)
    assert [s.rounds for s in over_tls.stats] == [s.rounds for s in in_process.stats]
    assert [s.bytes_sent for s in over_tls.stats] == [s.bytes_sent for s in in_process.stats]


def test_a_failing_party_surfaces_its_own_exception_in_the_caller():
    with pytest.raises(InputError, match="deliberate failure at party 1") as caught:
        run_tls(fail_at_party_1, identities=identities(3), timeout=30)
    notes = "\n".join(caught.value.__notes__)
    assert "raised at party 1" in notes
    assert "traceback at party 1" in notes
    # The others learned of it from the abort, not from a timeout.
    assert "aborted the session: InputError" in notes


def test_a_party_process_that_dies_is_reported_not_waited_for():
    with pytest.raises(TransportError, match=r"party 2's process ended \(exit code 3\)"):
        run_tls(exit_at_party_2, identities=identities(3), timeout=60)


def test_a_party_that_does_not_finish_after_a_failure_is_terminated():
    with pytest.raises(InputError, match="deliberate failure at party 0") as caught:
        run_tls(fail_at_party_0_while_party_2_computes, identities=identities(3), timeout=0.5)
    assert "party 2 was terminated" in "\n".join(caught.value.__notes__)


def test_an_unpicklable_program_is_refused_with_the_fix():
    with pytest.raises(InputError, match="top-level function"):
        run_tls(lambda runtime: None)


def test_run_tls_refuses_a_wrong_number_of_identities():
    with pytest.raises(InputError, match="one NodeIdentity per party is needed"):
        run_tls(multiply_and_reveal, identities=identities(2))


def swap_with_peer(transport, values):
    peer = 1 - transport.party
    transport.send(peer, [values[transport.party]])
    return transport.recv(peer)[0]


def test_run_tls_parties_links_two_processes():
    values = [np.arange(5, dtype=np.uint64), np.arange(5, 10, dtype=np.uint64)]
    results = run_tls_parties(swap_with_peer, values, parties=2, identities=identities(2), timeout=30)
    assert [result.tolist() for result in results] == [values[1].tolist(), values[0].tolist()]


def test_run_tls_parties_needs_two_parties():
    with pytest.raises(InputError, match="at least 2"):
        run_tls_parties(swap_with_peer, [], parties=1)
