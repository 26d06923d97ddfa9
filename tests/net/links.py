"""Helpers: connect TLS transports among parties running as threads of the test process."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cache

import numpy as np

from offchain.net.identity import NodeIdentity
from offchain.net.tls import Peer, TlsTransport, bind_listener


@cache
def _identity_pool() -> tuple[NodeIdentity, ...]:
    return tuple(NodeIdentity.generate(f"test-party-{party}") for party in range(4))


def identities(count: int = 3) -> tuple[NodeIdentity, ...]:
    """The first ``count`` identities of a pool that stays the same for the whole test session."""
    return _identity_pool()[:count]


def connect_parties(
    count: int = 3,
    *,
    pins: Mapping[tuple[int, int], bytes] | None = None,
    sessions: Mapping[int, str] | None = None,
    presented: Mapping[int, NodeIdentity] | None = None,
    **options,
) -> list[TlsTransport | BaseException]:
    """Connect ``count`` parties (the lower number dials); return each party's transport or error.

    ``pins[(party, peer)]`` overrides the fingerprint ``party`` pins for ``peer``;
    ``sessions[party]`` its session id; ``presented[party]`` the identity it
    presents instead of its own.
    """
    known = identities(count)
    listeners = [bind_listener() for _ in range(count)]
    ports = [listener.getsockname()[1] for listener in listeners]
    outcomes: list[TlsTransport | BaseException | None] = [None] * count
    options.setdefault("connect_timeout", 5.0)
    options.setdefault("timeout", 5.0)

    def run(party: int) -> None:
        peers = {
            peer: Peer(
                (pins or {}).get((party, peer), known[peer].fingerprint),
                ("127.0.0.1", ports[peer]) if party < peer else None,
            )
            for peer in range(count)
            if peer != party
        }
        try:
            outcomes[party] = TlsTransport.connect(
                party=party,
                identity=(presented or {}).get(party, known[party]),
                peers=peers,
                session_id=(sessions or {}).get(party, "test-session"),
                listener=listeners[party],
                **options,
            )
        except BaseException as error:  # noqa: BLE001 - returned to the test
            outcomes[party] = error

    threads = [threading.Thread(target=run, args=(party,)) for party in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes  # type: ignore[return-value]


def connected(count: int = 3, **options) -> list[TlsTransport]:
    """Connect ``count`` parties and fail the test if any could not connect."""
    outcomes = connect_parties(count, **options)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            for other in outcomes:
                if isinstance(other, TlsTransport):
                    other.close()
            raise outcome
    return outcomes  # type: ignore[return-value]


def in_threads(*functions):
    """Run the functions concurrently; return their results or raise the first error."""
    results: list = [None] * len(functions)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = functions[index]()
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(functions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def listen_as_party_1(listener, session_id: str, **options) -> TlsTransport:
    """Party 1 of a two-party link, waiting on ``listener`` for party 0 to dial."""
    own, other = identities(2)
    options.setdefault("connect_timeout", 10.0)
    return TlsTransport.connect(
        party=1, identity=other, peers={0: Peer(own.fingerprint)}, session_id=session_id,
        listener=listener, **options,
    )


def dial_as_party_0(port: int, session_id: str, *, identity: NodeIdentity | None = None,
                    host: str = "127.0.0.1", **options) -> TlsTransport:
    """Party 0 of a two-party link, dialing party 1 at ``host:port`` (presenting ``identity``)."""
    own, other = identities(2)
    options.setdefault("connect_timeout", 10.0)
    return TlsTransport.connect(
        party=0, identity=identity or own, peers={1: Peer(other.fingerprint, (host, port))},
        session_id=session_id, **options,
    )


def check_link_and_close(party_0: TlsTransport, party_1: TlsTransport) -> None:
    """Send a message each way, check it arrived, close both ends."""
    try:
        party_0.send(1, [np.arange(3)])
        party_1.send(0, [np.arange(4.0)])
        assert party_1.recv(0)[0].tolist() == [0, 1, 2]
        assert party_0.recv(1)[0].tolist() == [0.0, 1.0, 2.0, 3.0]
    finally:
        party_0.close()
        party_1.close()
