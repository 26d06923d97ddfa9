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
  member whose registered fingerprint it is). :func:`call_service` is the
  client side.

Admission (before TLS, from the certificate in the preamble): a key pinned by
a registered session is admitted; any other key is admitted only if
``authorize(fingerprint)`` names a member. So a node needs no peer list in
advance for services, and a refused dialer learns it at once
(``PeerAuthenticationFailed``) while the node logs and records the refusal
(:attr:`NodeListener.refusals`). A key admitted only because a session pins
it may open that session's links, not call services.

A service exchange is one request and one reply on one TLS connection::

    caller → node   DATA frame: [metadata JSON as uint8] + arrays
    node → caller   DATA frame: [reply JSON as uint8] + arrays
                    reply JSON: {"status": "ok", "metadata": {...}}
                             or {"status": "error", "type": "PolicyViolation", "message": "..."}
    node → caller   TRANSCRIPT frame: the exchange's link transcript at the node
    caller → node   TRANSCRIPT frame: the same at the caller (after checking the node's)

The transcript is the link transcript of ``transcript.py`` with the caller as
party 0 and the node as party 1; both ends compute it over everything they
exchanged (metadata included) and the caller gets it in the
:class:`ServiceReply`. A handler refuses by raising: Unseen errors reach the
caller with their type and message (:class:`~offchain.errors.ServiceRefused`),
any other exception only by type name (its message may hold data; the node
logs it).

Concurrency is bounded: at most ``max_connections`` connections are being
set up or served at once (MPC links leave that count once handed to their
session); beyond that, dialers wait in the kernel's backlog. Every step of
set-up and every read of a request is bounded by a timeout.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from offchain.errors import (
    InputError,
    PeerAuthenticationFailed,
    PeerTimeout,
    ServiceRefused,
    TranscriptMismatch,
    TransportError,
    UnseenError,
)
from offchain.net.framing import (
    FrameKind,
    control_frame,
    data_frame_segments,
    prepare_arrays,
    read_frame,
    write_segments,
)
from offchain.net.handshake import (
    HANDSHAKE_STEP_SECONDS,
    DialTarget,
    Direction,
    MpcHello,
    ReplyStatus,
    ServiceHello,
    accept_tls,
    check_job_id,
    check_service_name,
    client_context,
    deadline_error,
    describe_error,
    describe_session,
    dial,
    open_pinned_connection,
    read_hello,
    read_reply_after_handshake,
    receive_preamble,
    refuse_certificate,
    send_reply,
    send_service_hello,
    session_id_bytes,
    tune_socket,
    with_retries,
)
from offchain.net.identity import NodeIdentity, format_fingerprint, parse_fingerprint
from offchain.net.tls import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_PARTY,
    TlsTransport,
    bind_listener,
    parse_endpoint,
)
from offchain.net.transcript import link_digest, new_direction_hash, update_with_message

logger = logging.getLogger(__name__)

Authorize = Callable[[bytes], "str | None"]
Handler = Callable[[str, dict[str, Any], list[np.ndarray]], tuple[dict[str, Any], Sequence[np.ndarray]]]

DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_MAX_REQUEST_BYTES = 1 << 30
DEFAULT_SESSION_HOLD_SECONDS = 5.0
DEFAULT_IO_TIMEOUT_SECONDS = 60.0
DEFAULT_SERVICE_TIMEOUT_SECONDS = 60.0
MAX_METADATA_BYTES = 1 << 20
# A refused reason kept for a remote error message; longer ones are cut.
_MAX_ERROR_MESSAGE_CHARS = 4000
_ACCEPT_POLL_SECONDS = 0.2
_CLOSE_GRACE_SECONDS = 5.0
_REFUSALS_KEPT = 200
# In a service exchange's link transcript the caller is party 0 and the node party 1.
_CALLER, _NODE = 0, 1


@dataclass(frozen=True)
class Refusal:
    """A connection the listener refused: when (``time.monotonic()``), from where, and why."""

    at: float
    origin: str
    reason: str
    authentication: bool


@dataclass
class ServiceReply:
    """A service's answer: its metadata and arrays, and the exchange's 32-byte link transcript.

    Unpacks as ``metadata, arrays = call_service(...)``.
    """

    metadata: dict[str, Any]
    arrays: list[np.ndarray]
    transcript: bytes = field(repr=False)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.metadata, self.arrays))


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
        self._connections: dict[tuple[int, Direction], ssl.SSLSocket] = {}
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
                self._changed.wait(remaining)
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
        _check_positive("io_timeout", io_timeout)
        host, port = parse_endpoint(bind, any_port=True) if isinstance(bind, str) else _check_address(bind)
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
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._sessions_changed = threading.Condition(self._lock)
        self._sessions: dict[bytes, _SessionRegistration] = {}
        self._services: dict[str, Handler] = {}
        self._in_flight: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._refusals: collections.deque[Refusal] = collections.deque(maxlen=_REFUSALS_KEPT)
        self._client_context: ssl.SSLContext | None = None
        self._closed = False
        self._accepting: threading.Thread | None = None

    # -- configuration ---------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        host, port = self._socket.getsockname()[:2]
        return host, port

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
            self._accepting = threading.Thread(target=self._accept_loop, name="unseen-node-accept", daemon=True)
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
        if self._accepting is not None:
            self._accepting.join()
        self._socket.close()
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
        self._socket.settimeout(_ACCEPT_POLL_SECONDS)
        while not self._closed:
            if not self._slots.acquire(timeout=_ACCEPT_POLL_SECONDS):
                continue
            try:
                sock, address = self._socket.accept()
            except TimeoutError:
                self._slots.release()
                continue
            except OSError as error:
                # Out of file descriptors, say: wait instead of spinning.
                self._slots.release()
                logger.warning("accepting a connection on %s failed: %s", self.endpoint, error)
                time.sleep(_ACCEPT_POLL_SECONDS)
                continue
            worker = threading.Thread(
                target=self._serve_connection, args=(sock, address), name="unseen-node-connection", daemon=True
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
                with contextlib.suppress(OSError):
                    refuse_certificate(sock)
                self._refuse(
                    sock, origin,
                    f"key fingerprint {format_fingerprint(presented)} is neither a registered active member's "
                    "nor pinned by a session of this node",
                    authentication=True,
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

    def _refuse(self, sock: socket.socket, origin: str, reason: str, *, authentication: bool = False) -> None:
        logger.warning("refused a connection from %s: %s", origin, reason)
        with self._lock:
            self._refusals.append(Refusal(time.monotonic(), origin, reason, authentication))
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
            send_reply(tls, status, registration.party, registration.session_id)
            self._refuse(
                tls, origin,
                f"party {hello.dialer}'s {hello.direction.name} connection for session "
                f"{describe_session(hello.session_id)}: {status.name}",
                authentication=status is ReplyStatus.NOT_AUTHORIZED,
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
            try:
                member = self._authorize(presented)
            except Exception as error:  # noqa: BLE001 - reported to the caller as not authorized
                logger.warning("could not check key %s from %s: %s", format_fingerprint(presented), origin, error)
                member = None
        if member is None:
            send_reply(tls, ReplyStatus.NOT_AUTHORIZED, 0, b"")
            self._refuse(
                tls, origin,
                f"key {format_fingerprint(presented)} asked for service {hello.name!r} but is no active member's",
                authentication=True,
            )
            return
        with self._lock:
            handler = self._services.get(hello.name)
            offered = sorted(self._services)
        if handler is None:
            send_reply(tls, ReplyStatus.UNKNOWN_SERVICE, 0, ",".join(offered).encode("ascii"))
            self._refuse(tls, origin, f"member {member} asked for unknown service {hello.name!r}")
            return
        send_reply(tls, ReplyStatus.ACCEPTED, 0, b"")
        tls.settimeout(self._io_timeout)
        received, sent = new_direction_hash(), new_direction_hash()
        started = time.perf_counter()
        try:
            frame = read_frame(tls, max_message_bytes=self._max_request_bytes, transcript=received)
            if frame.kind is not FrameKind.DATA:
                raise TransportError(f"expected a request, got a {frame.kind.name} frame")
            metadata, arrays = _split_message(frame.arrays, "request")
        except (OSError, UnicodeDecodeError) as error:
            self._refuse(tls, origin, f"member {member}'s {hello.name} request was cut or malformed: {error}")
            return
        envelope, handler_arrays = self._run_handler(handler, hello, member, metadata, arrays)
        reply_arrays = [_metadata_array(envelope), *handler_arrays]
        write_segments(tls, data_frame_segments(reply_arrays)[0])
        update_with_message(sent, reply_arrays)
        digest = link_digest(_NODE, _CALLER, sent.digest(), received.digest())
        tls.sendall(control_frame(FrameKind.TRANSCRIPT, digest))
        try:
            confirmation = read_frame(tls, max_message_bytes=0)
        except OSError as error:
            logger.warning("service %s for member %s: no transcript confirmation (%s)", hello.name, member, error)
            confirmation = None
        if confirmation is not None and (
            confirmation.kind is not FrameKind.TRANSCRIPT or confirmation.body != digest
        ):
            logger.error(
                "service %s, job %d, member %s: the caller saw a different exchange (transcript %s here, %s there)",
                hello.name, hello.job_id, member, digest.hex(), confirmation.body.hex(),
            )
        logger.info(
            "service %s, job %d, member %s: %s in %.3f s, transcript %s",
            hello.name, hello.job_id, member, envelope["status"],
            time.perf_counter() - started, digest.hex(),
        )
        with contextlib.suppress(OSError):
            socket.socket.shutdown(tls, socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            tls.close()

    def _run_handler(
        self, handler: Handler, hello: ServiceHello, member: str, metadata: dict[str, Any], arrays: list[np.ndarray]
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Return the reply envelope and arrays: the handler's answer, or its error."""
        try:
            if "job_id" in metadata and metadata["job_id"] != hello.job_id:
                raise InputError(
                    f"the request is about job {hello.job_id} but its metadata says job_id "
                    f"{metadata['job_id']!r}; send one job id"
                )
            metadata["job_id"] = hello.job_id
            answer = handler(member, metadata, arrays)
            if not isinstance(answer, tuple) or len(answer) != 2 or not isinstance(answer[0], dict):
                raise TypeError(f"a handler returns (dict, arrays), {hello.name!r} returned {type(answer).__name__}")
            reply_metadata, reply_arrays = answer[0], prepare_arrays(answer[1])
            envelope = {"status": "ok", "metadata": reply_metadata}
            _metadata_array(envelope)  # JSON-serialisable and small enough, or an error reply
            return envelope, reply_arrays
        except UnseenError as error:
            logger.info("service %s, job %d, member %s refused: %s: %s",
                        hello.name, hello.job_id, member, type(error).__name__, error)
            error_type, message = type(error).__name__, str(error)[:_MAX_ERROR_MESSAGE_CHARS]
        except Exception as error:  # noqa: BLE001 - the caller gets the type, the log the rest
            logger.exception("service %s, job %d, member %s failed", hello.name, hello.job_id, member)
            error_type, message = type(error).__name__, "the node failed while serving the request; its log has the details"
        return {"status": "error", "type": error_type, "message": message}, []


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
        address = parse_endpoint(endpoint) if isinstance(endpoint, str) else _check_address(endpoint)
        parsed[peer] = (address, parse_fingerprint(fingerprint))
    _check_positive("timeout", timeout)
    connect_timeout = timeout if connect_timeout is None else connect_timeout
    _check_positive("connect_timeout", connect_timeout)
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


# -- the client side of a service --------------------------------------------------------------


def call_service(
    identity: NodeIdentity,
    endpoint: str | tuple[str, int],
    pinned_fingerprint: str | bytes,
    name: str,
    job_id: int,
    metadata: Mapping[str, Any] | None = None,
    arrays: Sequence[np.ndarray] = (),
    timeout: float = DEFAULT_SERVICE_TIMEOUT_SECONDS,
    *,
    max_reply_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> ServiceReply:
    """Send one request to service ``name`` of the node at ``endpoint``; return its reply.

    The node's key must be ``pinned_fingerprint`` (as registered on chain).
    Connecting is retried until the deadline (the node may be restarting);
    the request is sent once. The whole call takes at most ``timeout``
    seconds. Raises ``ServiceRefused`` when the node's handler refuses or
    the node offers no such service, ``PeerAuthenticationFailed`` when a key
    is refused at either end, ``PeerTimeout`` past the deadline,
    ``TransportError`` when the connection breaks, ``TranscriptMismatch`` if
    the two ends saw different bytes.
    """
    deadline = time.monotonic() + _check_positive("timeout", timeout)
    check_service_name(name)
    check_job_id(job_id)
    address = parse_endpoint(endpoint) if isinstance(endpoint, str) else _check_address(endpoint)
    pinned = parse_fingerprint(pinned_fingerprint)
    request_metadata = dict(metadata or {})
    if "job_id" in request_metadata and request_metadata["job_id"] != job_id:
        raise InputError(f"metadata job_id {request_metadata['job_id']!r} differs from job_id {job_id}")
    request = [_metadata_array(request_metadata), *prepare_arrays(arrays)]
    where = f"the node at {address[0]}:{address[1]}"
    context = client_context(identity)

    def attempt(step_timeout: float) -> ssl.SSLSocket:
        tls = open_pinned_connection(
            identity, context, address, pinned, step_timeout, where=where,
            refused=(
                f"{where} refused our certificate (key {identity.fingerprint_hex}): it is not the key "
                "registered by an active member; register this node's fingerprint in Consortium (or "
                "check that the member is active)"
            ),
        )
        try:
            send_service_hello(tls, name, job_id)
            status, _, body = read_reply_after_handshake(tls, where, identity)
            if status == ReplyStatus.ACCEPTED:
                return tls
            if status == ReplyStatus.UNKNOWN_SERVICE:
                offered = body.decode("ascii", errors="replace") or "none"
                raise ServiceRefused(f"{where} offers no service {name!r} (it offers: {offered})", "UnknownService")
            if status == ReplyStatus.NOT_AUTHORIZED:
                raise PeerAuthenticationFailed(
                    f"{where} does not admit our key {identity.fingerprint_hex} for services: it is no "
                    "active member's registered key"
                )
            raise TransportError(f"{where} replied to a service hello with status {status}")
        except BaseException:
            tls.close()
            raise

    def give_up(attempts: int, last_error: BaseException | None) -> TransportError:
        return PeerTimeout(
            f"could not reach service {name!r} at {where} in {attempts} attempts within {timeout:g} s "
            f"(last error: {describe_error(last_error)}); check that the node runs and that its "
            "registered endpoint is right"
        )

    tls = with_retries(attempt, deadline, give_up)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        with contextlib.suppress(OSError):
            socket.socket.shutdown(tls, socket.SHUT_RDWR)

    # One deadline for the whole exchange, however the node trickles its bytes.
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    watchdog.daemon = True
    watchdog.start()
    sent, received = new_direction_hash(), new_direction_hash()
    try:
        tls.settimeout(None)
        write_segments(tls, data_frame_segments(request)[0])
        update_with_message(sent, request)
        frame = read_frame(tls, max_message_bytes=max_reply_bytes, transcript=received)
        if frame.kind is not FrameKind.DATA:
            raise TransportError(f"{where} answered {name!r} with a {frame.kind.name} frame instead of a reply")
        envelope, reply_arrays = _split_message(frame.arrays, "reply")
        node_digest = read_frame(tls, max_message_bytes=0)
        digest = link_digest(_CALLER, _NODE, sent.digest(), received.digest())
        if node_digest.kind is not FrameKind.TRANSCRIPT or node_digest.body != digest:
            raise TranscriptMismatch(
                f"the exchange with {where} ({name}, job {job_id}) has transcript {digest.hex()} here but "
                f"{node_digest.body.hex() or node_digest.kind.name} at the node: the ends saw different bytes"
            )
        tls.sendall(control_frame(FrameKind.TRANSCRIPT, digest))
    except (OSError, ValueError) as error:
        if expired.is_set():
            raise PeerTimeout(
                f"service {name!r} at {where} did not answer job {job_id}'s request within {timeout:g} s"
            ) from None
        if isinstance(error, TransportError):
            raise
        raise TransportError(
            f"the exchange with {where} ({name}, job {job_id}) broke: {type(error).__name__}: {error}"
        ) from error
    finally:
        watchdog.cancel()
        with contextlib.suppress(OSError):
            tls.close()
    status = envelope.get("status")
    if status == "error":
        remote_type = str(envelope.get("type", "Error"))
        raise ServiceRefused(
            f"{where} refused {name} for job {job_id}: {remote_type}: {envelope.get('message', '')}", remote_type
        )
    if status != "ok" or not isinstance(envelope.get("metadata"), dict):
        raise TransportError(f"{where} sent a malformed reply envelope for {name!r}: status {status!r}")
    for array in reply_arrays:
        array.flags.writeable = False
    return ServiceReply(envelope["metadata"], reply_arrays, digest)


# -- helpers ---------------------------------------------------------------------------------------


def _metadata_array(metadata: Mapping[str, Any]) -> np.ndarray:
    """Encode a JSON object as the uint8 array that opens a service message."""
    if not isinstance(metadata, Mapping):
        raise InputError(f"service metadata is a JSON object (a dict), got {type(metadata).__name__}")
    try:
        text = json.dumps(dict(metadata), allow_nan=False, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as error:
        raise InputError(
            f"service metadata must be plain JSON (str, int, float, bool, None, lists, dicts): {error}; "
            "send bytes as hex strings and arrays as arrays"
        ) from None
    raw = text.encode("utf-8")
    if len(raw) > MAX_METADATA_BYTES:
        raise InputError(
            f"service metadata is {len(raw)} bytes of JSON, above {MAX_METADATA_BYTES}; send bulk data as arrays"
        )
    return np.frombuffer(raw, dtype=np.uint8)


def _split_message(arrays: list[np.ndarray] | None, what: str) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Split a service message into its JSON object and its arrays; ``TransportError`` if malformed."""
    if not arrays or arrays[0].dtype != np.uint8 or arrays[0].ndim != 1 or arrays[0].nbytes > MAX_METADATA_BYTES:
        raise TransportError(f"malformed service {what}: it does not open with its JSON metadata")
    try:
        decoded = json.loads(arrays[0].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TransportError(f"malformed service {what}: its metadata is not JSON ({error})") from None
    if not isinstance(decoded, dict):
        raise TransportError(f"malformed service {what}: its metadata is a {type(decoded).__name__}, not an object")
    for array in arrays[1:]:
        array.flags.writeable = False
    return decoded, arrays[1:]


def _check_address(address) -> tuple[str, int]:
    if (
        not isinstance(address, tuple) or len(address) != 2 or not isinstance(address[0], str)
        or isinstance(address[1], bool) or not isinstance(address[1], int) or not 0 <= address[1] < 65536
    ):
        raise InputError(f"an address is (host, port) with a port in 0..65535, or 'host:port'; got {address!r}")
    return address


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InputError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)
