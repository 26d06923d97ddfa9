"""TlsTransport among parties in threads (and one in a killed process): the Transport contract over TLS."""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time

import numpy as np
import pytest

from offchain.errors import (
    InputError,
    PeerAuthenticationFailed,
    PeerTimeout,
    SessionMismatch,
    TranscriptMismatch,
    TransportError,
)
from offchain.mpc.transport import Transport
from offchain.net import framing
from offchain.net.identity import NodeIdentity
from offchain.net.tls import Peer, TlsTransport, bind_listener, parse_endpoint
from offchain.net.transcript import LinkTranscript
from tests.net.links import (
    check_link_and_close,
    connect_parties,
    connected,
    dial_as_party_0,
    identities,
    in_threads,
    listen_as_party_1,
)
from tests.net.peer_process import echo_forever


@pytest.fixture
def pair():
    transports = connected(2)
    yield transports
    for transport in transports:
        transport.close()


@pytest.fixture
def trio():
    transports = connected(3)
    yield transports
    for transport in transports:
        transport.close()


def test_tls_transport_keeps_the_transport_protocol(pair):
    assert isinstance(pair[0], Transport)
    assert [transport.party for transport in pair] == [0, 1]
    # TLS 1.3 only; OpenSSL's first choice for TLS 1.3 on hardware with AES instructions.
    assert pair[0].cipher_suite(1) == pair[1].cipher_suite(0) == "TLS_AES_256_GCM_SHA384"


def test_messages_round_trip_with_dtypes_and_shapes(pair):
    message = [
        np.array(42, dtype=np.uint64),
        np.zeros(0, dtype=np.int64),
        np.zeros((0, 4), dtype=np.uint64),
        np.arange(12, dtype=np.uint64).reshape(3, 4),
        np.array([True, False]),
        np.linspace(-1, 1, 5, dtype=np.float32),
        np.arange(6, dtype=">i4").reshape(2, 3).T,
    ]
    pair[0].send(1, message)
    received = pair[1].recv(0)
    assert [(array.dtype.str, array.shape) for array in received] == [
        (array.dtype.str, array.shape) for array in message
    ]
    for sent, got in zip(message, received, strict=True):
        np.testing.assert_array_equal(got, sent)
    pair[1].send(0, [])
    assert pair[0].recv(1) == []


def test_messages_arrive_in_order_and_are_counted(pair):
    for index in range(50):
        pair[0].send(1, [np.full(index, index, dtype=np.uint64)])
    for index in range(50):
        (array,) = pair[1].recv(0)
        assert array.shape == (index,) and (array == index).all()
    assert pair[0].messages_sent == 50
    assert pair[0].bytes_sent == 8 * sum(range(50))
    assert pair[1].messages_sent == 0


def test_a_100_megabyte_message_round_trips(pair):
    big = np.random.default_rng(1).integers(0, 2**63, size=100 * 2**20 // 8, dtype=np.uint64)
    pair[0].send(1, [big])
    (received,) = pair[1].recv(0)
    assert received.dtype == np.uint64 and np.array_equal(received, big)


def test_simultaneous_large_sends_both_ways_do_not_deadlock(trio):
    # Every party sends 32 MB to each peer before anyone receives: far beyond
    # the kernel's socket buffers, so this only completes if readers drain.
    size = 32 * 2**20 // 8
    payloads = [np.full(size, party, dtype=np.uint64) for party in range(3)]

    def party_main(party: int):
        transport = trio[party]
        for peer in range(3):
            if peer != party:
                transport.send(peer, [payloads[party]])
        return {peer: transport.recv(peer)[0] for peer in range(3) if peer != party}

    results = in_threads(*(lambda party=party: party_main(party) for party in range(3)))
    for received in results:
        for peer, array in received.items():
            assert array.shape == (size,) and array[0] == peer and array[-1] == peer


def test_transcripts_agree_at_both_ends_and_match_link_transcript(trio):
    rng = np.random.default_rng(7)
    expected = {(a, b): LinkTranscript(a, b) for a in range(3) for b in range(3) if a != b}
    for round_number in range(5):
        for sender in range(3):
            for receiver in range(3):
                if sender != receiver:
                    message = [rng.integers(0, 2**64, size=round_number * 10, dtype=np.uint64), np.array(round_number)]
                    trio[sender].send(receiver, message)
                    expected[(sender, receiver)].record_sent(message)
                    expected[(receiver, sender)].record_received(message)
        for receiver in range(3):
            for sender in range(3):
                if sender != receiver:
                    trio[receiver].recv(sender)
    for a, b in expected:
        assert trio[a].transcript(b) == trio[b].transcript(a) == expected[(a, b)].digest()
    digests = in_threads(*(transport.verify_transcripts for transport in trio))
    assert digests[0][1] == digests[1][0] and digests[1][2] == digests[2][1]


def test_transcript_covers_consumed_messages_only(pair):
    before = pair[1].transcript(0)
    pair[0].send(1, [np.arange(3)])
    time.sleep(0.05)  # let the reader take it in; it must not count until consumed
    assert pair[1].transcript(0) == before
    pair[1].recv(0)
    assert pair[1].transcript(0) == pair[0].transcript(1) != before


def test_verify_transcripts_fails_at_both_ends_when_a_received_byte_differs(pair, monkeypatch):
    original = framing.read_frame

    class FlipOneBit:
        """Hands the frame reader the stream with one payload bit flipped (as a faulty path would)."""

        def __init__(self, stream):
            self._stream, self._position = stream, 0

        def recv_into(self, buffer, nbytes=0):
            count = self._stream.recv_into(buffer, nbytes)
            flip_at = 40  # 16-byte prefix + 17-byte header, then the payload
            if self._position <= flip_at < self._position + count:
                buffer[flip_at - self._position] ^= 1
            self._position += count
            return count

    monkeypatch.setattr(
        "offchain.net.tls.read_frame", lambda stream, **options: original(FlipOneBit(stream), **options)
    )
    # The reader is already blocked in a read that started before the patch: that
    # read takes the first message intact, the patched one flips a bit of the second.
    pair[0].send(1, [np.arange(10, dtype=np.uint64)])
    pair[0].send(1, [np.arange(10, dtype=np.uint64)])
    first, second = pair[1].recv(0)[0], pair[1].recv(0)[0]
    assert first.tolist() == list(range(10))
    assert int(np.bitwise_xor(first, second).sum()) == 1 << 56  # one bit of element 0
    monkeypatch.setattr("offchain.net.tls.read_frame", original)

    def verify(transport):
        try:
            transport.verify_transcripts()
        except TranscriptMismatch as error:
            return error
        return None

    errors = in_threads(lambda: verify(pair[0]), lambda: verify(pair[1]))
    assert all(isinstance(error, TranscriptMismatch) for error in errors)
    assert "saw different messages" in str(errors[0])


def test_verify_transcripts_fails_when_a_message_was_never_consumed(pair):
    pair[0].send(1, [np.arange(3)])
    errors = in_threads(
        lambda: _raised(pair[0].verify_transcripts), lambda: _raised(pair[1].verify_transcripts)
    )
    assert isinstance(errors[0], TranscriptMismatch)
    assert isinstance(errors[1], TranscriptMismatch) and "consumed only 0" in str(errors[1])


def _raised(function):
    try:
        function()
    except BaseException as error:  # noqa: BLE001 - returned to the test
        return error
    return None


def test_a_silent_peer_gives_peer_timeout_naming_it():
    transports = connected(2, timeout=0.3)
    try:
        with pytest.raises(PeerTimeout, match=r"party 0 waited 0.3 s for message #1 from party 1"):
            transports[0].recv(1)
    finally:
        for transport in transports:
            transport.close()


def test_a_closed_peer_gives_transport_error_not_a_timeout(pair):
    pair[1].send(0, [np.arange(2)])
    pair[1].close()
    assert pair[0].recv(1)[0].tolist() == [0, 1]  # queued messages still arrive
    with pytest.raises(TransportError, match="closed the link after 1 messages") as caught:
        pair[0].recv(1)
    assert not isinstance(caught.value, PeerTimeout)
    with pytest.raises(TransportError, match="closed the link"):
        pair[0].recv(1)


def test_an_aborting_peer_reports_its_reason(pair):
    pair[1].abort("ShareMismatch")
    with pytest.raises(TransportError, match="aborted the session: ShareMismatch"):
        pair[0].recv(1)


def test_a_killed_peer_process_gives_transport_error_not_a_hang():
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    own, other = identities(2)
    process = context.Process(target=echo_forever, args=(other, own.fingerprint, "kill-test", ports), daemon=True)
    process.start()
    try:
        port = ports.get(timeout=60)
        transport = TlsTransport.connect(
            party=0, identity=own, peers={1: Peer(other.fingerprint, ("127.0.0.1", port))},
            session_id="kill-test", timeout=60.0, connect_timeout=60.0,
        )
        transport.send(1, [np.arange(5)])
        assert transport.recv(1)[0].tolist() == [0, 1, 2, 3, 4]
        process.kill()
        process.join()
        with pytest.raises(TransportError, match="without a close frame") as caught:
            transport.recv(1)
        assert not isinstance(caught.value, PeerTimeout)
        transport.close()
    finally:
        process.kill()
        process.join()


def test_the_dialer_refuses_a_listener_with_another_key():
    impostor = NodeIdentity.generate("impostor")
    outcomes = connect_parties(2, pins={(0, 1): impostor.fingerprint}, connect_timeout=1.5)
    dialer, listener = outcomes
    assert isinstance(dialer, PeerAuthenticationFailed)
    message = str(dialer)
    assert identities()[1].fingerprint_hex in message and impostor.fingerprint_hex in message
    assert "pinned to" in message
    # The listener never got a hello from a party it pins: it waits, then says what it refused.
    assert isinstance(listener, PeerTimeout) and "refused meanwhile" in str(listener)


def test_the_listener_refuses_a_dialer_with_another_key():
    impostor = NodeIdentity.generate("impostor")
    outcomes = connect_parties(2, pins={(1, 0): impostor.fingerprint}, connect_timeout=1.5)
    dialer, listener = outcomes
    assert isinstance(dialer, PeerAuthenticationFailed) and "refused party 0's certificate" in str(dialer)
    # The listener refuses and keeps waiting (a stranger must not be able to abort a
    # session by connecting), then says which key it refused and which it pins.
    assert isinstance(listener, PeerAuthenticationFailed)
    assert identities()[0].fingerprint_hex in str(listener) and impostor.fingerprint_hex in str(listener)


def test_a_stranger_connecting_does_not_abort_the_session():
    listener = bind_listener()
    port = listener.getsockname()[1]

    def stranger_then_party_0():
        with pytest.raises(PeerAuthenticationFailed, match="refused party 0's certificate"):
            dial_as_party_0(port, "s", identity=NodeIdentity.generate("stranger"))
        return dial_as_party_0(port, "s")

    listening, dialing = in_threads(lambda: listen_as_party_1(listener, "s"), stranger_then_party_0)
    check_link_and_close(dialing, listening)


def test_a_key_pinned_for_one_party_cannot_claim_to_be_another():
    # Party 1 presents party 0's identity; party 2 pins that key for party 0 only,
    # so party 1's hello ("I am party 1") is refused at party 2 despite a pinned key.
    outcomes = connect_parties(3, presented={1: identities()[0]}, connect_timeout=1.5)
    assert all(isinstance(outcome, PeerAuthenticationFailed) for outcome in outcomes)
    assert "claims to be party 1" in str(outcomes[2])


def test_a_peer_of_another_session_is_refused():
    outcomes = connect_parties(2, sessions={0: "job-41", 1: "job-42"}, connect_timeout=1.5)
    dialer, listener = outcomes
    assert isinstance(dialer, SessionMismatch)
    assert "'job-42'" in str(dialer) and "'job-41'" in str(dialer)
    assert isinstance(listener, PeerTimeout) and "of session 'job-41'" in str(listener)


def test_dialers_retry_until_the_listener_comes_up():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]

    def listen_late():
        time.sleep(0.3)
        return listen_as_party_1(bind_listener(port=port), "late")

    dialing, listening = in_threads(lambda: dial_as_party_0(port, "late"), listen_late)
    check_link_and_close(dialing, listening)


def test_stray_connections_do_not_disturb_set_up():
    listener = bind_listener()
    port = listener.getsockname()[1]

    def scan_then_dial():
        for junk in (b"", b"GET / HTTP/1.1\r\n\r\n", b"UNSEEN/1\xff\xff"):
            with socket.create_connection(("127.0.0.1", port)) as probe:
                probe.sendall(junk)
        return dial_as_party_0(port, "stray")

    listening, dialing = in_threads(lambda: listen_as_party_1(listener, "stray"), scan_then_dial)
    check_link_and_close(dialing, listening)


def test_one_way_delay_delays_each_round_trip_but_pipelines_bursts():
    delay, round_trips = 0.05, 4
    transports = connected(2, one_way_delay=delay)
    try:
        start = time.monotonic()
        for _ in range(round_trips):
            transports[0].send(1, [np.arange(4)])
            transports[1].send(0, transports[1].recv(0))
            transports[0].recv(1)
        ping_pong = time.monotonic() - start
        start = time.monotonic()
        for _ in range(2 * round_trips):
            transports[0].send(1, [np.arange(4)])
        for _ in range(2 * round_trips):
            transports[1].recv(0)
        burst = time.monotonic() - start
    finally:
        for transport in transports:
            transport.close()
    # Each one-way trip waits at least the delay: a lower bound, so noise cannot break it.
    assert ping_pong >= 2 * round_trips * delay
    # The same number of messages sent back to back costs about one delay, not 8:
    # compared as a ratio within this run.
    assert ping_pong / burst > 3


def test_closed_transports_refuse_use_and_unknown_peers_are_named(pair):
    with pytest.raises(InputError, match="has no link to party 5"):
        pair[0].send(5, [np.zeros(1)])
    with pytest.raises(InputError, match="wrap a single array"):
        pair[0].send(1, np.zeros(1))
    pair[0].close()
    pair[0].close()  # idempotent
    with pytest.raises(TransportError, match="transport of party 0 is closed"):
        pair[0].send(1, [np.zeros(1)])
    with pytest.raises(TransportError, match="is closed"):
        pair[0].recv(1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"party": -1}, "party must be an integer"),
        ({"peers": {}}, "at least one peer"),
        ({"peers": {0: "x"}}, "other than this party"),
        ({"timeout": 0}, "timeout must be a positive"),
        ({"one_way_delay": -1}, "one_way_delay"),
        ({"session_id": ""}, "session id is 1 to 255 bytes"),
        ({"listener": None}, "needs a listening socket"),
    ],
)
def test_connect_refuses_bad_arguments_with_the_fix(options, message):
    own, other = identities(2)
    arguments = {
        "party": 0, "identity": own, "peers": {1: Peer(other.fingerprint)}, "session_id": "s",
        "listener": bind_listener(),
    }
    arguments.update(options)
    with pytest.raises(InputError, match=message):
        TlsTransport.connect(**arguments)


def test_peer_refuses_a_bad_port():
    with pytest.raises(InputError, match="port must be 1..65535"):
        Peer(identities()[0].fingerprint, ("127.0.0.1", 70000))


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [("bank-a.example:7443", ("bank-a.example", 7443)), ("10.0.0.5:1", ("10.0.0.5", 1)), ("[::1]:9000", ("::1", 9000))],
)
def test_parse_endpoint_reads_registered_endpoints(endpoint, expected):
    assert parse_endpoint(endpoint) == expected


@pytest.mark.parametrize("endpoint", ["bank-a.example", "host:0", "host:70000", "host:http", ":7443", "::1:9000"])
def test_parse_endpoint_refuses_malformed_endpoints(endpoint):
    with pytest.raises(InputError, match="host:port"):
        parse_endpoint(endpoint)


def test_links_work_over_ipv6_loopback():
    try:
        listener = bind_listener("::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    port = listener.getsockname()[1]
    host, _ = parse_endpoint(f"[::1]:{port}")
    listening, dialing = in_threads(
        lambda: listen_as_party_1(listener, "v6"), lambda: dial_as_party_0(port, "v6", host=host)
    )
    check_link_and_close(dialing, listening)


def test_sent_and_received_arrays_are_read_only_as_in_process(pair):
    values = np.arange(4, dtype=np.uint64)
    pair[0].send(1, [values])
    with pytest.raises(ValueError, match="read-only"):
        values[0] = 7
    (received,) = pair[1].recv(0)
    assert received.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="read-only"):
        received[0] = 7


def test_an_unreachable_peer_gives_peer_timeout_with_the_last_error():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    with pytest.raises(PeerTimeout, match=rf"could not connect to party 1 at 127.0.0.1:{port}.*ConnectionRefused"):
        dial_as_party_0(port, "nobody", connect_timeout=0.5)


def test_a_server_that_is_not_an_unseen_node_is_named():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def answer_like_a_web_server():
            connection, _ = server.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=answer_like_a_web_server)
        thread.start()
        with pytest.raises(TransportError, match="not an Unseen node"):
            dial_as_party_0(port, "web")
        thread.join()


def test_a_node_reached_under_another_party_number_is_named():
    # Party 0's address book lists party 1's endpoint and key as party 2's.
    own, other = identities(2)
    listener = bind_listener()
    port = listener.getsockname()[1]

    def misdial():
        return TlsTransport.connect(
            party=0, identity=own, peers={2: Peer(other.fingerprint, ("127.0.0.1", port))},
            session_id="s", connect_timeout=1.5,
        )

    outcomes = [None, None]

    def listen():
        try:
            listen_as_party_1(listener, "s", connect_timeout=1.5)
        except TransportError as error:
            outcomes[1] = error

    thread = threading.Thread(target=listen)
    thread.start()
    with pytest.raises(TransportError, match="holds party 2's key but is party 1"):
        misdial()
    thread.join()
    assert isinstance(outcomes[1], PeerTimeout) and "expected to reach party 2" in str(outcomes[1])


def test_receiving_while_the_peer_compares_transcripts_is_a_mismatch(pair):
    def receive_then_close():
        error = _raised(lambda: pair[0].recv(1))
        pair[0].close()
        return error

    errors = in_threads(receive_then_close, lambda: _raised(pair[1].verify_transcripts))
    assert isinstance(errors[0], TranscriptMismatch) and "already comparing transcripts" in str(errors[0])
    assert isinstance(errors[1], TransportError) and "closed the link" in str(errors[1])
