"""The in-process transport and the thread runner: delivery, transcripts, timeouts, failures."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from offchain.errors import MpcError, PeerTimeout, TransportError
from offchain.mpc import PerParty
from offchain.mpc.transport import Transport
from offchain.net.local import InProcessTransport, connect_in_process, run_local


def test_transport_satisfies_the_protocol_and_delivers_in_order_without_copying():
    zero, one = connect_in_process(2, timeout=5)
    assert isinstance(zero, Transport)
    first, second = np.arange(6, dtype=np.uint64).reshape(2, 3), np.zeros((0, 4), dtype=np.uint8)
    zero.send(1, [first, second])
    zero.send(1, [np.array(7, dtype=np.int32)])
    received = one.recv(1 - 1)
    assert np.shares_memory(received[0], first)
    assert received[0].dtype == np.uint64 and received[0].shape == (2, 3)
    assert received[1].shape == (0, 4) and received[1].dtype == np.uint8
    scalar = one.recv(0)[0]
    assert scalar.shape == () and scalar.dtype == np.int32 and int(scalar) == 7
    assert zero.bytes_sent == first.nbytes + 4 and zero.messages_sent == 2
    assert one.bytes_sent == 0


def test_sent_arrays_become_read_only_so_contract_violations_fail_loudly():
    zero, one = connect_in_process(2, timeout=5)
    payload = np.ones(4, dtype=np.uint64)
    zero.send(1, [payload])
    with pytest.raises(ValueError, match="read-only"):
        payload += 1
    with pytest.raises(ValueError, match="read-only"):
        one.recv(0)[0][0] = 5


def test_transcripts_agree_at_both_ends_and_differ_when_a_byte_differs():
    def exchange(messages):
        a, b = connect_in_process(2, timeout=5)
        for message in messages:
            a.send(1, [message])
            b.send(0, [message + np.uint64(1)])
        for _ in messages:
            b.recv(0)
            a.recv(1)
        return a.transcript(1), b.transcript(0)

    base = [np.arange(10, dtype=np.uint64), np.arange(3, dtype=np.uint64)]
    at_zero, at_one = exchange(base)
    assert at_zero == at_one and len(at_zero) == 32
    changed = [base[0].copy(), base[1]]
    changed[0][4] ^= np.uint64(1)
    assert exchange(changed)[0] != at_zero


def test_recv_times_out_with_a_clear_message_instead_of_hanging():
    zero, _one = connect_in_process(2, timeout=0.05)
    with pytest.raises(PeerTimeout, match=r"party 0 waited 0.05 s for a message from party 1"):
        zero.recv(1)


def test_closing_wakes_a_waiting_peer_with_transport_error():
    zero, one = connect_in_process(2, timeout=30)
    errors = []

    def wait():
        try:
            zero.recv(1)
        except TransportError as error:
            errors.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    one.close()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert "party 1 closed its link to party 0" in str(errors[0])
    with pytest.raises(TransportError, match="party 1 has closed"):
        zero.send(1, [np.zeros(1)])
    with pytest.raises(TransportError, match="closed"):
        one.send(0, [np.zeros(1)])


def test_messages_sent_before_close_are_still_delivered():
    zero, one = connect_in_process(2, timeout=5)
    one.send(0, [np.array([3])])
    one.close()
    assert int(zero.recv(1)[0][0]) == 3
    with pytest.raises(TransportError):
        zero.recv(1)


def _echo_party(runtime, value):
    return value * 10 + runtime.party


def test_run_local_passes_shared_and_per_party_arguments():
    result = run_local(_echo_party, PerParty([1, 2, 3]))
    assert result.results == (10, 21, 32)
    assert [s.party for s in result.stats] == [0, 1, 2]
    shared = run_local(_echo_party, 5)
    assert shared.results == (50, 51, 52)


def _party_one_exits_early(runtime):
    if runtime.party == 1:
        return "gone"
    runtime.exchange(receive_from=[1])


def test_a_peer_that_stops_gives_an_error_not_a_hang():
    start = time.monotonic()
    with pytest.raises(TransportError, match="party 1 closed its link"):
        run_local(_party_one_exits_early, timeout=30)
    assert time.monotonic() - start < 20  # woken by the close, not by the 30 s timeout


def _party_one_is_silent(runtime):
    if runtime.party == 1:
        time.sleep(0.5)
        return None
    runtime.exchange(receive_from=[1])


def test_a_silent_peer_gives_peer_timeout():
    with pytest.raises(PeerTimeout, match="from party 1"):
        run_local(_party_one_is_silent, timeout=0.1)


def _party_two_fails(runtime):
    if runtime.party == 2:
        raise MpcError("party two cannot continue")
    runtime.exchange(receive_from=[2])


def test_the_root_cause_surfaces_in_the_caller_with_the_others_as_notes():
    with pytest.raises(MpcError, match="party two cannot continue") as caught:
        run_local(_party_two_fails, timeout=30)
    notes = "\n".join(caught.value.__notes__)
    assert "raised at party 2" in notes
    assert "TransportError" in notes


def _transcripts(runtime):
    for peer in (runtime.next_party, runtime.previous_party):
        runtime.transport.send(peer, [np.full(3, runtime.party, dtype=np.uint64)])
    for peer in (runtime.next_party, runtime.previous_party):
        runtime.transport.recv(peer)


def test_run_local_reports_matching_transcripts_per_link():
    stats = run_local(_transcripts).stats
    for a in range(3):
        for b in range(3):
            if a != b:
                assert stats[a].transcripts[b] == stats[b].transcripts[a]
    assert stats[0].transcripts[1] != stats[0].transcripts[2]


def test_transport_refuses_unknown_peers_and_non_arrays():
    zero, _ = connect_in_process(2, timeout=1)
    with pytest.raises(Exception, match="no link to party 5"):
        zero.send(5, [np.zeros(1)])
    with pytest.raises(Exception, match="numpy arrays"):
        zero.send(1, [[1, 2]])
    assert isinstance(zero, InProcessTransport)


def test_in_process_transcripts_equal_those_of_link_transcript_hashing_both_ends():
    from offchain.net.transcript import LinkTranscript

    zero, one = connect_in_process(2, timeout=5)
    reference_zero, reference_one = LinkTranscript(0, 1), LinkTranscript(1, 0)
    for size in (5, 0, 1000):
        message = [np.arange(size, dtype=np.uint64), np.ones((2, 3), dtype=np.uint8)]
        zero.send(1, message)
        reference_zero.record_sent(message)
        reference_one.record_received(one.recv(0))
        reply = [np.full(size, 9, dtype=np.int32)]
        one.send(0, reply)
        reference_one.record_sent(reply)
        reference_zero.record_received(zero.recv(1))
    assert (
        zero.transcript(1) == one.transcript(0) == reference_zero.digest() == reference_one.digest()
    )
