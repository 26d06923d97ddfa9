"""One listening port per node: MPC session links and service exchanges for every job.

A member node registers one endpoint (host:port) and one TLS key fingerprint
in ``Consortium``. :class:`NodeListener` accepts every connection on that
port, authenticates the dialer's key, and routes the connection by its hello:

* an **MPC hello** (session id, dialer and listener party numbers, direction;
  see ``handshake.py``) goes to the session that registered for it through
  :func:`open_session`, which pinned the fingerprint of each party expected
  to dial. A connection for a session not registered yet is held for
  ``session_hold`` seconds (the peer node may start the job a little
  earlier), then refused with ``UNKNOWN_SESSION``; the dialer retries until
  its own deadline and then raises ``SessionMismatch`` naming the session.
* a **service hello** (service name, job id) goes to the handler registered
  under that name, in the connection's worker thread:
  ``handler(peer_member, metadata, arrays) -> (metadata, arrays)``, where
  ``peer_member`` is what ``authorize`` answered for the dialer's key (the
  member whose registered fingerprint it is).

Admission (before TLS, from the certificate in the preamble): a key pinned by
a registered session is admitted; any other key is admitted only if
``authorize(fingerprint)`` names a member. So a node needs no peer list in
advance for services, and a refused dialer learns it at once
(``PeerAuthenticationFailed``) while the node logs and records the refusal
(:attr:`NodeListener.refusals`). A key admitted only because a session pins
it may open that session's links, not call services.

The exchange itself (request, reply, transcripts, what a refused caller
learns) is ``service.py``'s, which also holds the client side,
:func:`call_service`.

Concurrency is bounded: at most ``max_connections`` connections are being
set up or served at once (MPC links leave that count once handed to their
session); beyond that, dialers wait in the kernel's backlog. Every step of
set-up and every read of a request is bounded by a timeout.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from offchain.errors import (
    InputError,
    PeerAuthenticationFailed,
    PeerTimeout,
    TranscriptMismatch,
    TransportError,
)
from offchain.net.handshake import (
    HANDSHAKE_STEP_SECONDS,
    DialTarget,
    Direction,
    MpcHello,
    ReplyStatus,
    ServiceHello,
    accept_tls,
    check_service_name,
    client_context,
    deadline_error,
    describe_session,
    dial,
    read_hello,
    receive_preamble,
    refuse_certificate,
    send_reply,
    session_id_bytes,
    tune_socket,
)
from offchain.net.identity import NodeIdentity, format_fingerprint, parse_fingerprint
from offchain.net.service import Exchange, Handler, ServiceReply, answer_request, call_service
from offchain.net.tls import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_PARTY,
    TlsTransport,
    bind_listener,
    check_seconds,
    parse_address,
)

__all__ = [
    "Exchange", "NodeListener", "Refusal", "ServiceReply", "call_service", "open_session", "session_transcript",
]

logger = logging.getLogger(__name__)

Authorize = Callable[[bytes], "str | None"]

DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_MAX_REQUEST_BYTES = 1 << 30
DEFAULT_SESSION_HOLD_SECONDS = 5.0
DEFAULT_IO_TIMEOUT_SECONDS = 60.0
_ACCEPT_POLL_SECONDS = 0.2
_CLOSE_GRACE_SECONDS = 5.0
_RECORDS_KEPT = 200


@dataclass(frozen=True)
class Refusal:
    """A connection the listener refused: when (``time.monotonic()``), from where, and why."""

    at: float
    origin: str
    reason: str
    authentication: bool


class _SessionRegistration:
    """The connections one session expects from the parties that dial this node."""

    def __init__(
        self, listener: NodeListener, session_id: bytes, party: int, dialers: Mapping[int, bytes], deadline: float
    ) -> None:
        self.listener = listener
        self.session_id = session_id
        self.party = party
        self.dialers = dict(dialers)
        self.deadline = deadline
        self.started = time.monotonic()
        self._wanted = {(dialer, direction) for dialer in self.dialers for direction in Direction}
        # None marks a slot reserved while the dialer is told it is accepted.
        self._connections: dict[tuple[int, Direction], ssl.SSLSocket | None] = {}
        self._refusals: list[str] = []
        self._authentication_refused = False
        self._changed = threading.Condition()
        self._cancelled: str | None = None

    def offer(self, hello: MpcHello, presented: bytes, origin: str) -> ReplyStatus:
        """Check a dialer's hello against this session; reserve its slot if it fits."""
        dialer = hello.dialer
        pinned = self.dialers.get(dialer)
        with self._changed:
            if pinned != presented:
                self._note_refusal(
                    f"{origin} claims to be party {dialer} but presented key {format_fingerprint(presented)}; "
                    f"party {dialer} is "
                    + (f"pinned to {format_fingerprint(pinned)}" if pinned else "not expected to dial us"),
                    authentication=True,
                )
                return ReplyStatus.NOT_AUTHORIZED
            if hello.listener != self.party:
                self._note_refusal(f"party {dialer} from {origin} expected to reach party {hello.listener}")
                return ReplyStatus.WRONG_LISTENER
            key = (dialer, hello.direction)
            if self._cancelled is not None or key not in self._wanted or key in self._connections:
                self._note_refusal(f"party {dialer} from {origin}: unexpected {hello.direction.name} connection")
                return ReplyStatus.NOT_EXPECTED
            self._connections[key] = None  # reserved until the reply is sent
            return ReplyStatus.ACCEPTED

    def settle(self, hello: MpcHello, tls: ssl.SSLSocket | None) -> None:
        """Store the connection whose slot :meth:`offer` reserved, or free the slot (``tls=None``)."""
        key = (hello.dialer, hello.direction)
        with self._changed:
            if tls is None or self._cancelled is not None:
                self._connections.pop(key, None)
                if tls is not None:
                    with contextlib.suppress(OSError):
                        tls.close()
            else:
                self._connections[key] = tls
            self._changed.notify_all()

    def wait(self) -> dict[tuple[int, Direction], ssl.SSLSocket]:
        """Wait until every expected connection arrived; return them by (dialer, direction)."""
        with self._changed:
            while True:
                if self._cancelled is not None:
                    raise TransportError(
                        f"session {describe_session(self.session_id)} stopped waiting for its peers: {self._cancelled}"
                    )
                complete = {key for key, tls in self._connections.items() if tls is not None}
                if complete == self._wanted:
                    connections = dict(self._connections)
                    break
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    connections = None
                    missing = sorted(self._wanted - complete)
                    break
                # Bounded: Condition.wait refuses an infinite timeout.
                self._changed.wait(min(remaining, 3600.0))
        if connections is not None:
            self.listener._forget(self)
            return connections
        self.cancel("its deadline passed")
        listener_refusals = [
            f"{refusal.origin}: {refusal.reason}"
            for refusal in self.listener.refusals
            if refusal.at >= self.started and refusal.authentication
        ]
        raise deadline_error(
            self.party, self.session_id, self.dialers, missing, self._refusals + listener_refusals,
            self._authentication_refused or bool(listener_refusals),
        )

    def cancel(self, reason: str) -> None:
        """Stop waiting; close what arrived."""
        self.listener._forget(self)
        with self._changed:
            if self._cancelled is None:
                self._cancelled = reason
            connections = [tls for tls in self._connections.values() if tls is not None]
            self._connections.clear()
            self._changed.notify_all()
        for tls in connections:
            with contextlib.suppress(OSError):
                tls.close()

    def _note_refusal(self, reason: str, *, authentication: bool = False) -> None:
        self._refusals.append(reason)
        self._authentication_refused |= authentication


class NodeListener:
    """A node's one TLS port: MPC links for its sessions and service exchanges with members.

    ``bind`` is ``"host:port"`` or ``(host, port)`` (port 0 picks a free port;
    see :attr:`endpoint`). ``authorize(fingerprint)`` returns the member
    whose registered key has that 32-byte fingerprint, or ``None`` to refuse
    it; it is called from connection threads and may be slow (a chain read),
    never from the accepting thread. Use as a context manager, or call
    :meth:`start` and :meth:`close`.
    """

    def __init__(
        self,
        identity: NodeIdentity,
        bind: str | tuple[str, int],
        authorize: Authorize,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        session_hold: float = DEFAULT_SESSION_HOLD_SECONDS,
        io_timeout: float = DEFAULT_IO_TIMEOUT_SECONDS,
        backlog: int = 128,
    ) -> None:
        if not isinstance(identity, NodeIdentity):
            raise InputError(f"identity must be a NodeIdentity, got {type(identity).__name__}")
        if not callable(authorize):
            raise InputError(f"authorize must be a function fingerprint -> member or None, got {authorize!r}")
        if not isinstance(max_connections, int) or max_connections < 1:
            raise InputError(f"max_connections must be a positive integer, got {max_connections!r}")
        if not isinstance(max_request_bytes, int) or max_request_bytes < 1:
            raise InputError(f"max_request_bytes must be a positive integer, got {max_request_bytes!r}")
        if not isinstance(session_hold, int | float) or not 0 <= session_hold < HANDSHAKE_STEP_SECONDS:
            raise InputError(
                f"session_hold must be 0 to {HANDSHAKE_STEP_SECONDS:g} seconds (a dialer's step timeout), "
                f"got {session_hold!r}"
            )
        check_seconds("io_timeout", io_timeout)
        host, port = parse_address(bind, any_port=True)
        self.identity = identity
        self._authorize = authorize
        self._max_request_bytes = max_request_bytes
        self._session_hold = float(session_hold)
        self._io_timeout = float(io_timeout)
        try:
            self._socket = bind_listener(host, port, backlog)
        except OSError as error:
            raise TransportError(
                f"cannot listen on {host}:{port} ({type(error).__name__}: {error}); another process may use "
                "that port, or the address is not this machine's"
            ) from error
        self._address: tuple[str, int] = tuple(self._socket.getsockname()[:2])
        self._slots = threading.BoundedSemaphore(max_connections)
        # close() writes here to wake the accepting thread at once.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._lock = threading.Lock()
        self._sessions_changed = threading.Condition(self._lock)
        self._sessions: dict[bytes, _SessionRegistration] = {}
        self._services: dict[str, Handler] = {}
        self._in_flight: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._refusals: collections.deque[Refusal] = collections.deque(maxlen=_RECORDS_KEPT)
        self._exchanges: collections.deque[Exchange] = collections.deque(maxlen=_RECORDS_KEPT)
        self._exchanges_changed = threading.Condition(self._lock)
        self._client_context: ssl.SSLContext | None = None
        self._closed = False
        self._accepting: threading.Thread | None = None

    # -- configuration ---------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        return self._address

    @property
    def endpoint(self) -> str:
        """The bound address as ``host:port`` (``[host]:port`` for IPv6), as registered on chain."""
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def refusals(self) -> list[Refusal]:
        """The most recent refused connections (at most 200), oldest first."""
        with self._lock:
            return list(self._refusals)

    @property
    def exchanges(self) -> list[Exchange]:
        """The most recent service exchanges served (at most 200), oldest first, with their transcripts."""
        with self._lock:
            return list(self._exchanges)

    def wait_for_exchanges(self, count: int, timeout: float) -> list[Exchange]:
        """Wait until at least ``count`` exchanges were served (of the last 200); return them.

        The caller of an exchange may return before the node has recorded it.
        Raises ``PeerTimeout`` after ``timeout`` seconds.
        """
        with self._lock:
            if not self._exchanges_changed.wait_for(lambda: len(self._exchanges) >= count, timeout):
                raise PeerTimeout(
                    f"the listener on {self.endpoint} served {len(self._exchanges)} exchanges, not {count}, "
                    f"within {timeout:g} s"
                )
            return list(self._exchanges)

    @property
    def sessions_being_set_up(self) -> list[bytes]:
        """The ids of the sessions registered here that still wait for connections."""
        with self._lock:
            return sorted(self._sessions)

    @property
    def services(self) -> list[str]:
        """The names of the registered services."""
        with self._lock:
            return sorted(self._services)

    def register_service(self, name: str, handler: Handler) -> None:
        """Serve ``name`` with ``handler(peer_member, metadata, arrays) -> (metadata, arrays)``.

        ``metadata`` is the caller's JSON object with ``job_id`` set to the
        job named in the hello; ``arrays`` are read-only. The handler returns a
        JSON-serialisable dict and a sequence of numeric arrays, or raises to
        refuse (see the module docstring for what the caller learns).
        """
        check_service_name(name)
        if not callable(handler):
            raise InputError(f"the handler of service {name!r} must be callable, got {handler!r}")
        with self._lock:
            if name in self._services:
                raise InputError(f"service {name!r} is already registered on this listener")
            self._services[name] = handler

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> NodeListener:
        """Start accepting connections (in a background thread); return ``self``."""
        with self._lock:
            if self._closed:
                raise TransportError(f"the listener on {self.endpoint} is closed")
            if self._accepting is not None:
                raise InputError(f"the listener on {self.endpoint} is already started")
            self._accepting = threading.Thread(
                target=self._accept_loop, name=f"unseen-node-{self.address[1]}-accept", daemon=True
            )
        self._accepting.start()
        logger.info("listening on %s as key %s", self.endpoint, self.identity.fingerprint_hex)
        return self

    def close(self) -> None:
        """Stop accepting, refuse sessions still being set up, end service exchanges in progress.

        Transports already handed to their sessions are not touched: each
        session closes its own. Idempotent.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            registrations = list(self._sessions.values())
            self._sessions_changed.notify_all()
        for registration in registrations:
            registration.cancel("the node's listener closed")
        self._wake_writer.send(b"\0")
        if self._accepting is not None:
            self._accepting.join()
        self._socket.close()
        self._wake_reader.close()
        self._wake_writer.close()
        deadline = time.monotonic() + _CLOSE_GRACE_SECONDS
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            stuck = list(self._in_flight)
        # Cut connections whose exchange outlived the grace at the TCP level, so their
        # threads return; their TLS objects stay with those threads.
        for sock in stuck:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        for worker in workers:
            worker.join(_CLOSE_GRACE_SECONDS)

    def __enter__(self) -> NodeListener:
        if self._accepting is None:
            self.start()
        return self

    def __exit__(self, *exception_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NodeListener({self.endpoint}, services={self.services}{', closed' if self._closed else ''})"

    # -- sessions ------------------------------------------------------------------------------

    def expect_session(
        self, session_id: bytes, party: int, dialers: Mapping[int, bytes], deadline: float
    ) -> _SessionRegistration:
        """Register a session that expects ``dialers`` (party → pinned fingerprint) to dial this node.

        Used by :func:`open_session`; the registration's ``wait()`` returns the
        connections, ``cancel()`` gives up.
        """
        registration = _SessionRegistration(self, session_id, party, dialers, deadline)
        with self._lock:
            if self._closed:
                raise TransportError(f"the listener on {self.endpoint} is closed")
            if session_id in self._sessions:
                raise InputError(
                    f"session {describe_session(session_id)} is already being set up on this node; "
                    "each session id names one job's MPC session"
                )
            self._sessions[session_id] = registration
            self._sessions_changed.notify_all()
        return registration

    def client_context(self) -> ssl.SSLContext:
        """The TLS context this node dials with (built once)."""
        with self._lock:
            if self._client_context is None:
                self._client_context = client_context(self.identity)
            return self._client_context

    def _forget(self, registration: _SessionRegistration) -> None:
        with self._lock:
            if self._sessions.get(registration.session_id) is registration:
                del self._sessions[registration.session_id]

    def _pinned_by_a_session(self, fingerprint: bytes) -> bool:
        with self._lock:
            return any(fingerprint in registration.dialers.values() for registration in self._sessions.values())

    # -- accepting ------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        self._socket.setblocking(False)
        while True:
            # At capacity, dialers wait in the kernel's backlog until a slot frees.
            while not self._slots.acquire(timeout=_ACCEPT_POLL_SECONDS):
                if self._closed:
                    return
            readable, _, _ = select.select([self._socket, self._wake_reader], [], [])
            if self._wake_reader in readable or self._closed:
                self._slots.release()
                return
            try:
                sock, address = self._socket.accept()
            except BlockingIOError:
                self._slots.release()  # the dialer gave up between select and accept
                continue
            except OSError as error:
                # Out of file descriptors, say: wait instead of spinning.
                self._slots.release()
                logger.warning("accepting a connection on %s failed: %s", self.endpoint, error)
                time.sleep(_ACCEPT_POLL_SECONDS)
                continue
            worker = threading.Thread(
                target=self._serve_connection, args=(sock, address),
                name=f"unseen-node-{self.address[1]}-connection", daemon=True,
            )
            with self._lock:
                self._in_flight.add(sock)
                self._workers.add(worker)
            worker.start()

    def _serve_connection(self, sock: socket.socket, address) -> None:
        origin = f"{address[0]}:{address[1]}"
        connection: socket.socket = sock
        try:
            connection = self._admit(sock, origin)
        except Exception:  # noqa: BLE001 - a connection thread must not die silently
            logger.exception("connection from %s failed unexpectedly", origin)
            with contextlib.suppress(OSError):
                connection.close()
        finally:
            with self._lock:
                self._in_flight.discard(sock)
                self._workers.discard(threading.current_thread())
            self._slots.release()

    def _admit(self, sock: socket.socket, origin: str) -> socket.socket:
        """Authenticate and route one connection; return the socket it ended as (for cleanup)."""
        try:
            sock.settimeout(HANDSHAKE_STEP_SECONDS)
            tune_socket(sock)
            certificate, presented = receive_preamble(sock, origin)
        except (OSError, InputError, struct.error) as error:
            # Port scans, garbage, a dialer that gave up: nothing to answer.
            self._refuse(sock, origin, f"{type(error).__name__}: {error}")
            return sock
        member = None
        if not self._pinned_by_a_session(presented):
            try:
                member = self._authorize(presented)
            except Exception as error:  # noqa: BLE001 - the dialer retries; the node must say why
                # Not a verdict: the chain may be unreachable for a moment, and a dialer
                # told REFUSED would give up for good. Ending the connection lets it retry.
                logger.warning(
                    "could not check key %s from %s (%s: %s); connection ended without a verdict",
                    format_fingerprint(presented), origin, type(error).__name__, error,
                )
                with contextlib.suppress(OSError):
                    sock.close()
                return sock
            if member is None:
                self._refuse(
                    sock, origin,
                    f"key fingerprint {format_fingerprint(presented)} is neither a registered active member's "
                    "nor pinned by a session of this node",
                    authentication=True, answer=lambda: refuse_certificate(sock),
                )
                return sock
        try:
            tls = accept_tls(sock, self.identity, certificate, presented, origin)
        except PeerAuthenticationFailed as error:
            self._refuse(sock, origin, str(error), authentication=True)
            return sock
        except (OSError, InputError) as error:
            self._refuse(sock, origin, f"TLS handshake failed: {type(error).__name__}: {error}")
            return sock
        with self._lock:
            self._in_flight.add(tls)
        try:
            hello = read_hello(tls)
            if isinstance(hello, MpcHello):
                self._route_link(tls, hello, presented, origin)
            else:
                self._serve_exchange(tls, hello, presented, member, origin)
        except (OSError, struct.error) as error:
            self._refuse(tls, origin, f"{type(error).__name__} after the TLS handshake: {error}")
        finally:
            with self._lock:
                self._in_flight.discard(tls)
        return tls

    def _refuse(
        self, sock: socket.socket, origin: str, reason: str, *, authentication: bool = False,
        answer: Callable[[], None] | None = None,
    ) -> None:
        """Record and log the refusal, then ``answer`` the dialer (if given), then close."""
        # Recorded before the dialer hears of it, so whoever it tells finds the record.
        logger.warning("refused a connection from %s: %s", origin, reason)
        with self._lock:
            self._refusals.append(Refusal(time.monotonic(), origin, reason, authentication))
        with contextlib.suppress(OSError):
            if answer is not None:
                answer()
        with contextlib.suppress(OSError):
            sock.close()

    # -- MPC links ------------------------------------------------------------------------------

    def _route_link(self, tls: ssl.SSLSocket, hello: MpcHello, presented: bytes, origin: str) -> None:
        hold_until = time.monotonic() + self._session_hold
        with self._lock:
            while (registration := self._sessions.get(hello.session_id)) is None and not self._closed:
                remaining = hold_until - time.monotonic()
                if remaining <= 0:
                    break
                self._sessions_changed.wait(remaining)
        if registration is None:
            send_reply(tls, ReplyStatus.UNKNOWN_SESSION, hello.listener, hello.session_id)
            # Routine while the nodes of a job start at slightly different times: not a warning.
            logger.info(
                "no session %s open for party %d from %s (held %g s); it will retry",
                describe_session(hello.session_id), hello.dialer, origin, self._session_hold,
            )
            with contextlib.suppress(OSError):
                tls.close()
            return
        status = registration.offer(hello, presented, origin)
        if status is not ReplyStatus.ACCEPTED:
            self._refuse(
                tls, origin,
                f"party {hello.dialer}'s {hello.direction.name} connection for session "
                f"{describe_session(hello.session_id)}: {status.name}",
                authentication=status is ReplyStatus.NOT_AUTHORIZED,
                answer=lambda: send_reply(tls, status, registration.party, registration.session_id),
            )
            return
        try:
            send_reply(tls, ReplyStatus.ACCEPTED, registration.party, registration.session_id)
        except OSError:
            registration.settle(hello, None)
            raise
        tls.settimeout(None)
        registration.settle(hello, tls)

    # -- services ---------------------------------------------------------------------------------

    def _serve_exchange(
        self, tls: ssl.SSLSocket, hello: ServiceHello, presented: bytes, member: str | None, origin: str
    ) -> None:
        if member is None:
            # Admitted because a session pins the key: services need a member.
            try:
                member = self._authorize(presented)
            except Exception as error:  # noqa: BLE001 - reported to the caller as not authorized
                logger.warning("could not check key %s from %s: %s", format_fingerprint(presented), origin, error)
        if member is None:
            self._refuse(
                tls, origin,
                f"key {format_fingerprint(presented)} asked for service {hello.name!r} but is no active member's",
                authentication=True, answer=lambda: send_reply(tls, ReplyStatus.NOT_AUTHORIZED, 0, b""),
            )
            return
        with self._lock:
            handler = self._services.get(hello.name)
            offered = sorted(self._services)
        if handler is None:
            self._refuse(
                tls, origin, f"member {member} asked for unknown service {hello.name!r}",
                answer=lambda: send_reply(tls, ReplyStatus.UNKNOWN_SERVICE, 0, ",".join(offered).encode("ascii")),
            )
            return
        send_reply(tls, ReplyStatus.ACCEPTED, 0, b"")
        try:
            exchange = answer_request(
                tls, hello, member, handler, max_request_bytes=self._max_request_bytes, io_timeout=self._io_timeout
            )
        except OSError as error:
            self._refuse(tls, origin, f"member {member}'s {hello.name} exchange for job {hello.job_id} broke: {error}")
            return
        with self._lock:
            self._exchanges.append(exchange)
            self._exchanges_changed.notify_all()
        with contextlib.suppress(OSError):
            socket.socket.shutdown(tls, socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            tls.close()


# -- MPC sessions over a node listener -------------------------------------------------------


def open_session(
    listener: NodeListener,
    session_id: str | bytes,
    party: int,
    peers: Mapping[int, tuple[str | tuple[str, int], str | bytes]],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    *,
    connect_timeout: float | None = None,
    one_way_delay: float = 0.0,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> TlsTransport:
    """Open this node's links of an MPC session over its listener; return the session's transport.

    ``peers`` maps every other party of the session to ``(endpoint,
    fingerprint)`` (as registered on chain). The lower party number of each
    pair dials the other's listener; the higher one waits for it on
    ``listener``. ``timeout`` bounds every wait for a message (as
    ``TlsTransport``); set-up must complete within ``connect_timeout``
    (default: ``timeout``), since the nodes of a job may start it some
    seconds apart. Raises ``SessionMismatch`` if a peer never opens the
    session, ``PeerAuthenticationFailed`` for a wrong key, ``PeerTimeout``
    for an unreachable peer.
    """
    session = session_id_bytes(session_id)
    if isinstance(party, bool) or not isinstance(party, int) or not 0 <= party <= MAX_PARTY:
        raise InputError(f"party must be an integer in 0..{MAX_PARTY}, got {party!r}")
    if not isinstance(peers, Mapping) or not peers:
        raise InputError(f"party {party} needs peers {{party: (endpoint, fingerprint)}}, got {peers!r}")
    parsed: dict[int, tuple[tuple[str, int], bytes]] = {}
    for peer, entry in peers.items():
        if isinstance(peer, bool) or not isinstance(peer, int) or not 0 <= peer <= MAX_PARTY or peer == party:
            raise InputError(
                f"peer numbers must be integers in 0..{MAX_PARTY} other than this party ({party}); got {peer!r}"
            )
        if not isinstance(entry, tuple) or len(entry) != 2:
            raise InputError(f"peers[{peer}] must be (endpoint, fingerprint), got {entry!r}")
        endpoint, fingerprint = entry
        parsed[peer] = (parse_address(endpoint), parse_fingerprint(fingerprint))
    check_seconds("timeout", timeout)
    connect_timeout = timeout if connect_timeout is None else connect_timeout
    check_seconds("connect_timeout", connect_timeout)
    if not isinstance(one_way_delay, int | float) or not 0 <= one_way_delay <= 60:
        raise InputError(f"one_way_delay must be 0..60 seconds, got {one_way_delay!r}")
    if not isinstance(max_message_bytes, int) or max_message_bytes <= 0:
        raise InputError(f"max_message_bytes must be a positive integer, got {max_message_bytes!r}")

    deadline = time.monotonic() + connect_timeout
    dialers = {peer: fingerprint for peer, (_, fingerprint) in parsed.items() if peer < party}
    # Registered before dialing: our peers dial us while we dial them.
    registration = listener.expect_session(session, party, dialers, deadline) if dialers else None
    connections: dict[tuple[int, Direction], ssl.SSLSocket] = {}
    try:
        context = listener.client_context()
        for peer, (address, fingerprint) in sorted(parsed.items()):
            if peer < party:
                continue
            for direction in Direction:
                target = DialTarget(party, peer, fingerprint, address, session, direction)
                connections[(peer, direction)] = dial(listener.identity, context, target, deadline)
        if registration is not None:
            connections.update(registration.wait())
    except BaseException:
        if registration is not None:
            registration.cancel("set-up failed at this node")
        for connection in connections.values():
            with contextlib.suppress(OSError):
                connection.close()
        raise
    links = {}
    for peer in parsed:
        we_dial = peer > party
        ours = Direction.DIALER_SENDS if we_dial else Direction.LISTENER_SENDS
        theirs = Direction.LISTENER_SENDS if we_dial else Direction.DIALER_SENDS
        links[peer] = (connections[(peer, ours)], connections[(peer, theirs)])
    return TlsTransport(
        party=party, session_id=session, links=links, timeout=timeout,
        one_way_delay=one_way_delay, max_message_bytes=max_message_bytes,
    )


def session_transcript(transport: TlsTransport) -> bytes:
    """Agree on every link's transcript with the peers; return SHA-256(d01 ‖ d02 ‖ d12).

    Each party sends its link digests to both peers and checks that every
    link's digest is the same wherever it is reported (``TranscriptMismatch``
    otherwise), so the result is identical at the three parties: what each
    commits on chain. In general, the digests of all links ``(i, j)``, ``i <
    j``, in order; the session's parties must be linked pairwise. Call at the
    same point at every party, after the protocol.
    """
    if not isinstance(transport, TlsTransport):
        raise InputError(f"session_transcript needs the TlsTransport of a session, got {type(transport).__name__}")
    digests = transport.agree_on_link_digests()
    parties = sorted({party for pair in digests for party in pair})
    expected = {(low, high) for low in parties for high in parties if low < high}
    if set(digests) != expected:
        raise TranscriptMismatch(
            f"the session's links {sorted(digests)} do not link its parties {parties} pairwise; "
            "a session transcript needs every link"
        )
    return hashlib.sha256(b"".join(digests[pair] for pair in sorted(expected))).digest()
