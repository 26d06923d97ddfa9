"""NodeListener: MPC sessions and service exchanges of many jobs on one port per node."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import threading
import time

import numpy as np
import pytest

from offchain.errors import (
    InputError,
    PeerAuthenticationFailed,
    PeerTimeout,
    PolicyViolation,
    ServiceRefused,
    SessionMismatch,
    TranscriptMismatch,
    TransportError,
)
from offchain.mpc.program import run_party
from offchain.net import framing, service
from offchain.net.handshake import client_context
from offchain.net.identity import NodeIdentity
from offchain.net.router import NodeListener, call_service, open_session, session_transcript
from tests.mpc.helpers import dealt
from tests.net.links import identities, in_threads
from tests.net.test_cluster import multiply_and_reveal

MEMBERS = ("0xAlpha", "0xBravo", "0xCharlie")


def members_by_fingerprint() -> dict[bytes, str]:
    return {identity.fingerprint: member for identity, member in zip(identities(3), MEMBERS, strict=True)}


@contextlib.contextmanager
def started_nodes(**options):
    """Three started node listeners whose ``authorize`` knows the three members."""
    known = members_by_fingerprint()
    listeners = [NodeListener(identity, "127.0.0.1:0", known.get, **options).start() for identity in identities(3)]
    try:
        yield listeners
    finally:
        for listener in listeners:
            listener.close()


@pytest.fixture
def nodes():
    with started_nodes() as listeners:
        yield listeners


def peers_of(listeners, party: int) -> dict[int, tuple[str, bytes]]:
    return {
        peer: (listener.endpoint, listener.identity.fingerprint)
        for peer, listener in enumerate(listeners)
        if peer != party
    }


def echo(member, metadata, arrays):
    if any(array.flags.writeable for array in arrays):
        raise InputError("a handler must receive read-only arrays")
    return {"member": member, "metadata": metadata}, [np.asarray(array) for array in arrays]


def call(listener, name="echo", identity=None, job_id=7, metadata=None, arrays=(), timeout=10.0, **options):
    return call_service(
        identity or identities(1)[0], listener.endpoint, listener.identity.fingerprint, name, job_id,
        metadata or {}, arrays, timeout, **options,
    )


# -- services ----------------------------------------------------------------------------------


def test_a_service_exchange_round_trips_metadata_and_arrays_with_dtypes(nodes):
    nodes[1].register_service("echo", echo)
    arrays = [
        np.array(42, dtype=np.uint64),
        np.zeros(0, dtype=np.int64),
        np.zeros((0, 3), dtype=np.float32),
        np.arange(12, dtype=np.uint64).reshape(3, 4),
        np.array([True, False]),
    ]
    reply = call(nodes[1], metadata={"input_index": 2, "names": ["a", "b"]}, arrays=arrays)
    metadata, received = reply
    # The handler sees the caller as the member authorize names, and the hello's job id.
    assert metadata == {"member": "0xAlpha", "metadata": {"input_index": 2, "job_id": 7, "names": ["a", "b"]}}
    assert [(array.dtype.str, array.shape) for array in received] == [
        (array.dtype.str, array.shape) for array in arrays
    ]
    for sent, got in zip(arrays, received, strict=True):
        np.testing.assert_array_equal(got, sent)
        assert not got.flags.writeable
    assert len(reply.transcript) == 32


def test_both_ends_of_an_exchange_compute_the_same_transcript_and_it_covers_the_bytes(nodes):
    nodes[1].register_service("echo", echo)
    first = call(nodes[1], arrays=[np.arange(5)])
    second = call(nodes[1], arrays=[np.arange(5) + 1])
    served = nodes[1].wait_for_exchanges(2, timeout=10)
    assert [exchange.transcript for exchange in served] == [first.transcript, second.transcript]
    assert all(exchange.confirmed and exchange.outcome == "ok" for exchange in served)
    assert [(exchange.service, exchange.job_id, exchange.member) for exchange in served] == [("echo", 7, "0xAlpha")] * 2
    assert first.transcript != second.transcript


def test_a_handler_refusal_reaches_the_caller_with_its_type_and_message(nodes):
    def refuse(member, metadata, arrays):
        raise PolicyViolation(f"job {metadata['job_id']}: its result goes to 0xBravo only, not to {member}")

    nodes[2].register_service("fetch-result", refuse)
    with pytest.raises(ServiceRefused, match=r"refused fetch-result for job 9: PolicyViolation: job 9: its result "
                       r"goes to 0xBravo only, not to 0xAlpha") as caught:
        call(nodes[2], "fetch-result", job_id=9)
    assert caught.value.remote_type == "PolicyViolation"


def test_a_handler_crash_reaches_the_caller_by_type_only(nodes, caplog):
    def crash(member, metadata, arrays):
        raise KeyError("secret-column-value")

    nodes[1].register_service("deliver-input", crash)
    with caplog.at_level(logging.ERROR, logger="offchain.net.service"):
        with pytest.raises(ServiceRefused, match="KeyError: the node failed while serving") as caught:
            call(nodes[1], "deliver-input")
    assert caught.value.remote_type == "KeyError"
    assert "secret-column-value" not in str(caught.value)
    # The node's log keeps the details.
    assert any("secret-column-value" in record.exc_text for record in caplog.records if record.exc_text)


def test_a_handler_returning_something_else_than_metadata_and_arrays_is_an_error_reply(nodes):
    nodes[1].register_service("bad-reply", lambda member, metadata, arrays: {"no": "arrays"})
    nodes[1].register_service("not-json", lambda member, metadata, arrays: ({"nonce": b"\x00"}, []))
    with pytest.raises(ServiceRefused, match=r"TypeError") as caught:
        call(nodes[1], "bad-reply")
    assert caught.value.remote_type == "TypeError"
    with pytest.raises(ServiceRefused, match=r"InputError: service metadata must be plain JSON"):
        call(nodes[1], "not-json")


def test_a_handler_slower_than_the_callers_timeout_gives_peer_timeout_not_a_hang(nodes):
    release = threading.Event()

    def stall(member, metadata, arrays):
        release.wait(30)
        return {}, []

    nodes[1].register_service("stall", stall)
    try:
        with pytest.raises(PeerTimeout, match="'stall' at the node .* did not complete job 7's exchange within 0.5 s"):
            call(nodes[1], "stall", timeout=0.5)
    finally:
        release.set()


def test_an_unknown_service_is_refused_naming_the_offered_ones(nodes):
    nodes[1].register_service("echo", echo)
    nodes[1].register_service("ping", echo)
    with pytest.raises(ServiceRefused, match=r"offers no service 'fetch-results' \(it offers: echo,ping\)") as caught:
        call(nodes[1], "fetch-results")
    assert caught.value.remote_type == "UnknownService"
    assert "unknown service 'fetch-results'" in nodes[1].refusals[-1].reason


def test_an_unregistered_key_is_refused_at_both_ends(nodes, caplog):
    nodes[1].register_service("echo", echo)
    stranger = NodeIdentity.generate("stranger")
    with caplog.at_level(logging.WARNING, logger="offchain.net.router"):
        with pytest.raises(PeerAuthenticationFailed, match=rf"refused our certificate \(key {stranger.fingerprint_hex}\): "
                           "it is not the key registered by an active member"):
            call(nodes[1], identity=stranger)
    refusal = nodes[1].refusals[-1]
    assert refusal.authentication and stranger.fingerprint_hex in refusal.reason
    assert any(stranger.fingerprint_hex in record.getMessage() for record in caplog.records)


def test_a_node_presenting_another_key_than_its_registered_one_is_refused_by_the_caller(nodes):
    nodes[1].register_service("echo", echo)
    registered = NodeIdentity.generate("registered-elsewhere")
    with pytest.raises(PeerAuthenticationFailed, match=rf"presented key fingerprint {identities(2)[1].fingerprint_hex}, "
                       rf"but it is pinned to {registered.fingerprint_hex}"):
        call_service(identities(1)[0], nodes[1].endpoint, registered.fingerprint, "echo", 7, {}, [], 10)


def test_a_key_admitted_for_a_session_only_may_not_call_services():
    # The listener knows no member; it admits party 0's key only because a session pins it.
    dialer, node = identities(2)
    with NodeListener(node, "127.0.0.1:0", lambda fingerprint: None) as listener:
        listener.register_service("echo", echo)
        registration = listener.expect_session(b"job-1", 1, {0: dialer.fingerprint}, deadline=float("inf"))
        try:
            with pytest.raises(PeerAuthenticationFailed, match="does not admit our key .* for services"):
                call(listener, identity=dialer)
        finally:
            registration.cancel("test over")


def test_authorization_that_fails_for_a_moment_makes_the_caller_retry_not_give_up(nodes):
    dialer, node = identities(2)
    attempts = []

    def chain_down_twice(fingerprint):
        attempts.append(fingerprint)
        if len(attempts) <= 2:
            raise ConnectionError("RPC endpoint unreachable")
        return "0xAlpha"

    with NodeListener(node, "127.0.0.1:0", chain_down_twice) as listener:
        listener.register_service("echo", echo)
        metadata, _ = call(listener, identity=dialer)
    assert metadata["member"] == "0xAlpha" and len(attempts) == 3


def test_a_malformed_request_is_refused_and_the_node_keeps_serving(nodes):
    nodes[1].register_service("echo", echo)
    caller = identities(1)[0]
    tls = service._open_exchange(
        caller, client_context(caller), nodes[1].address, nodes[1].identity.fingerprint, "echo", 7, 5.0, "node 1"
    )
    with tls:
        # A message that does not open with its JSON metadata.
        framing.write_segments(tls, framing.data_frame_segments([np.arange(3)])[0])
        with pytest.raises(TransportError, match="connection ended"):
            framing.read_frame(tls, max_message_bytes=1 << 20)
    assert "does not open with its JSON metadata" in nodes[1].refusals[-1].reason
    assert call(nodes[1]).metadata["member"] == "0xAlpha"


def test_a_request_above_the_nodes_limit_ends_the_exchange_with_an_error():
    caller, node = identities(2)
    with NodeListener(node, "127.0.0.1:0", lambda fingerprint: "0xAlpha", max_request_bytes=1000) as listener:
        listener.register_service("echo", echo)
        with pytest.raises(TransportError, match="connection ended"):
            call(listener, identity=caller, arrays=[np.zeros(1000, dtype=np.uint64)])
        assert "exceeds the limit of 1000 bytes" in listener.refusals[-1].reason
        # The node still serves.
        assert call(listener, identity=caller, arrays=[np.zeros(10, dtype=np.uint64)]).arrays[0].shape == (10,)


def test_at_most_max_connections_exchanges_are_served_at_once():
    caller, node = identities(2)
    running, most = [0], [0]
    lock = threading.Lock()
    first_started, release = threading.Event(), threading.Event()

    def slow(member, metadata, arrays):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        first_started.set()
        release.wait(30)
        with lock:
            running[0] -= 1
        return {"index": metadata["index"]}, []

    with NodeListener(node, "127.0.0.1:0", lambda fingerprint: "0xAlpha", max_connections=1) as listener:
        listener.register_service("slow", slow)

        def release_when_first_runs():
            first_started.wait(30)
            release.set()

        outcomes = in_threads(
            *(lambda index=index: call(listener, "slow", identity=caller, metadata={"index": index}) for index in range(3)),
            release_when_first_runs,
        )
    assert sorted(outcome.metadata["index"] for outcome in outcomes[:3]) == [0, 1, 2]
    assert most[0] == 1


def test_job_id_and_service_name_are_checked_before_connecting(nodes):
    with pytest.raises(InputError, match="metadata job_id 8 differs from job_id 7"):
        call(nodes[1], metadata={"job_id": 8})
    with pytest.raises(InputError, match="a service name is"):
        call(nodes[1], "Deliver Input")
    with pytest.raises(InputError, match=r"a job id is an integer in 0..2\*\*256-1"):
        call(nodes[1], job_id=-1)
    with pytest.raises(InputError, match="plain JSON"):
        call(nodes[1], metadata={"raw": b"bytes"})


def test_an_unreachable_node_gives_peer_timeout_with_the_last_error():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    with pytest.raises(PeerTimeout, match=rf"could not reach service 'echo' at the node at 127.0.0.1:{port}.*ConnectionRefused"):
        call_service(identities(1)[0], f"127.0.0.1:{port}", identities(2)[1].fingerprint, "echo", 1, {}, [], 0.5)


# -- sessions ------------------------------------------------------------------------------------


def run_session(listeners, session_id, party, function, **options):
    transport = open_session(listeners[party], session_id, party, peers_of(listeners, party), 10.0, **options)
    try:
        result = function(transport)
        return result, session_transcript(transport), {peer: transport.transcript(peer) for peer in transport.peers}
    finally:
        transport.close()


def exchange_party_numbers(transport):
    for peer in transport.peers:
        transport.send(peer, [np.full(4, transport.party, dtype=np.uint64)])
    return {peer: transport.recv(peer)[0].tolist() for peer in transport.peers}


def test_the_session_transcript_is_the_same_at_the_three_parties_and_hashes_the_link_digests(nodes):
    outcomes = in_threads(*(lambda party=party: run_session(nodes, b"job-1", party, exchange_party_numbers)
                            for party in range(3)))
    for party, (received, _, _) in enumerate(outcomes):
        assert received == {peer: [peer] * 4 for peer in range(3) if peer != party}
    session_digests = {transcript for _, transcript, _ in outcomes}
    assert len(session_digests) == 1
    link_01, link_02, link_12 = outcomes[0][2][1], outcomes[0][2][2], outcomes[1][2][2]
    assert session_digests == {hashlib.sha256(link_01 + link_02 + link_12).digest()}


def test_two_sessions_and_services_share_each_nodes_port_concurrently(nodes):
    for listener in nodes:
        listener.register_service("echo", echo)
    rng = np.random.default_rng(11)
    inputs = {session: (rng.integers(-1000, 1000, 200), rng.integers(-1000, 1000, 200)) for session in (b"job-1-session-id-16", b"job-2-session-id-16")}

    # Dealt once per session, as the data owners would: each party gets its own payload.
    payloads = {session: (dealt(x), dealt(y)) for session, (x, y) in inputs.items()}

    def mpc(session, party):
        return run_session(
            nodes, session, party,
            lambda transport: run_party(multiply_and_reveal, transport, session, None, payloads[session])[0],
        )

    def services(node):
        return [call(nodes[node], metadata={"call": index}, arrays=[np.arange(index)]) for index in range(3)]

    outcomes = in_threads(
        *(lambda session=session, party=party: mpc(session, party) for session in inputs for party in range(3)),
        *(lambda node=node: services(node) for node in range(3)),
    )
    for position, session in enumerate(inputs):
        x, y = inputs[session]
        results = outcomes[3 * position : 3 * position + 3]
        for revealed, _, _ in results:
            np.testing.assert_array_equal(revealed, x * y)
        assert len({transcript for _, transcript, _ in results}) == 1
    assert outcomes[0][1] != outcomes[3][1]
    for replies in outcomes[6:]:
        assert [reply.metadata["metadata"]["call"] for reply in replies] == [0, 1, 2]
        assert [reply.arrays[0].tolist() for reply in replies] == [list(range(index)) for index in range(3)]


def test_a_session_registered_after_its_peer_dialed_is_held_not_refused(nodes, caplog):
    opened_by_party_0 = threading.Event()

    def party_0():
        opened_by_party_0.set()
        return run_session(nodes, b"late", 0, exchange_party_numbers)

    def party_1():
        # Party 0 dials party 1 before party 1 registers the session.
        opened_by_party_0.wait(10)
        time.sleep(0.3)
        return run_session(nodes, b"late", 1, exchange_party_numbers)

    with caplog.at_level(logging.INFO, logger="offchain.net.router"):
        outcomes = in_threads(party_0, party_1, lambda: run_session(nodes, b"late", 2, exchange_party_numbers))
    assert len({transcript for _, transcript, _ in outcomes}) == 1
    # Held, not refused and retried.
    assert not [record for record in caplog.records if "no session" in record.getMessage()]


def test_a_session_registered_after_the_hold_is_reached_by_the_dialers_retries(caplog):
    def party_1_late():
        time.sleep(0.5)
        return run_session(nodes, b"later", 1, exchange_party_numbers)

    with started_nodes(session_hold=0.05) as nodes, caplog.at_level(logging.INFO, logger="offchain.net.router"):
        outcomes = in_threads(
            lambda: run_session(nodes, b"later", 0, exchange_party_numbers),
            party_1_late,
            lambda: run_session(nodes, b"later", 2, exchange_party_numbers),
        )
    assert len({transcript for _, transcript, _ in outcomes}) == 1
    assert [record for record in caplog.records if "no session 'later' open" in record.getMessage()]


def test_a_session_never_opened_at_the_peer_is_refused_with_session_mismatch():
    dialer, node = identities(2)
    known = members_by_fingerprint()
    with (
        NodeListener(dialer, "127.0.0.1:0", known.get) as own,
        NodeListener(node, "127.0.0.1:0", known.get, session_hold=0.1) as other,
    ):
        with pytest.raises(SessionMismatch, match=rf"party 1 at {other.endpoint} has no session 'job-404' open"):
            open_session(own, "job-404", 0, {1: (other.endpoint, node.fingerprint)}, 10.0, connect_timeout=1.0)


def test_a_dialer_whose_key_is_not_pinned_for_its_party_is_refused_at_both_ends(nodes):
    impostor = NodeIdentity.generate("impostor")

    def party_0_as_impostor():
        # Once the others wait for it: a refusal before a session exists is not that session's.
        give_up = time.monotonic() + 30
        while not all(listener.sessions_being_set_up for listener in nodes[1:]) and time.monotonic() < give_up:
            time.sleep(0.01)
        own = NodeListener(impostor, "127.0.0.1:0", lambda fingerprint: None).start()
        try:
            return open_session(own, b"job-1", 0, peers_of(nodes, 0), 10.0, connect_timeout=1.5)
        finally:
            own.close()

    def party(number):
        return open_session(nodes[number], b"job-1", number, peers_of(nodes, number), 10.0, connect_timeout=1.5)

    outcomes = in_threads(*(lambda function=function: _raised(function)
                            for function in (party_0_as_impostor, lambda: party(1), lambda: party(2))))
    assert isinstance(outcomes[0], PeerAuthenticationFailed)
    assert "refused party 0's certificate" in str(outcomes[0])
    # The listeners refuse, keep waiting for the right key, then name what they refused.
    assert isinstance(outcomes[1], PeerAuthenticationFailed)
    assert impostor.fingerprint_hex in str(outcomes[1]) and identities()[0].fingerprint_hex in str(outcomes[1])


def test_the_same_session_cannot_be_opened_twice_on_one_node(nodes):
    registration = nodes[1].expect_session(b"job-1", 1, {0: identities()[0].fingerprint}, float("inf"))
    try:
        with pytest.raises(InputError, match="session 'job-1' is already being set up on this node"):
            open_session(nodes[1], b"job-1", 1, peers_of(nodes, 1), 10.0)
    finally:
        registration.cancel("test over")


def test_a_link_digest_reported_differently_is_a_transcript_mismatch(nodes):
    def tampered(party):
        transport = open_session(nodes[party], b"job-1", party, peers_of(nodes, party), 10.0)
        try:
            exchange_party_numbers(transport)
            if party == 2:
                honest = transport.transcript
                transport.transcript = lambda peer: bytes(32) if peer == 0 else honest(peer)
            return _raised(lambda: session_transcript(transport))
        finally:
            transport.close()

    outcomes = in_threads(*(lambda party=party: tampered(party) for party in range(3)))
    # Party 0 sees its own digest of link 0-2 contradicted; party 1 sees parties 0 and 2 disagree on it.
    for party in range(3):
        assert isinstance(outcomes[party], TranscriptMismatch), outcomes[party]
    assert "link between parties 0 and 2" in str(outcomes[1])


def test_closing_the_listener_stops_a_session_that_waits_for_its_peers(nodes):
    def wait_as_party_2():
        return open_session(nodes[2], b"job-1", 2, peers_of(nodes, 2), 30.0)

    def close_soon():
        time.sleep(0.3)
        nodes[2].close()

    port = nodes[2].address[1]
    outcomes = in_threads(lambda: _raised(wait_as_party_2), close_soon)
    assert isinstance(outcomes[0], TransportError) and "the node's listener closed" in str(outcomes[0])
    assert not [thread for thread in threading.enumerate() if thread.name == f"unseen-node-{port}-accept"]


def test_bad_session_arguments_are_refused_with_the_fix(nodes):
    with pytest.raises(InputError, match=r"peers\[1\] must be \(endpoint, fingerprint\)"):
        open_session(nodes[0], b"s", 0, {1: nodes[1].endpoint}, 5.0)
    with pytest.raises(InputError, match="other than this party"):
        open_session(nodes[0], b"s", 0, {0: (nodes[1].endpoint, identities()[1].fingerprint)}, 5.0)
    with pytest.raises(InputError, match="host:port"):
        open_session(nodes[0], b"s", 0, {1: ("no-port", identities()[1].fingerprint)}, 5.0)
    with pytest.raises(InputError, match="fingerprint"):
        open_session(nodes[0], b"s", 0, {1: (nodes[1].endpoint, "abc")}, 5.0)


def test_a_busy_port_is_named():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(TransportError, match=rf"cannot listen on 127.0.0.1:{port}"):
            NodeListener(identities(1)[0], f"127.0.0.1:{port}", lambda fingerprint: None)


def _raised(function):
    try:
        return function()
    except Exception as error:  # noqa: BLE001 - returned to the test
        return error
