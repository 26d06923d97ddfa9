"""Establishing authenticated party-to-party connections: pinned mutual TLS 1.3.

A *link* between two parties is two TCP connections, one per direction, both
opened by the same side (the *dialer*; the other side *listens*). Each
connection carries frames one way only, so each OpenSSL connection object is
written by one thread and read by one thread at the other end: OpenSSL
forbids calling ``SSL_read`` and ``SSL_write`` on the same connection from two
threads at once (openssl/openssl#20446), and one connection per direction
gives full duplex without that risk.

Set-up of one connection, dialer D to listener L::

    D → L   preamble (clear)  "UNSEEN/1", u16 length, D's certificate (DER)
    L → D   verdict (clear)   1 byte: ACCEPT, or REFUSED when the certificate's key
                              is pinned for none of the parties L expects to dial it
            TLS 1.3 handshake, D client and L server, both presenting certificates
    D → L   hello (in TLS)    "HELO", direction, D's party, L's party as D expects, session id
                              or, to a node's port (``router.py``), "SRVC", service name, job id
    L → D   reply (in TLS)    "RPLY", status (:class:`ReplyStatus`), L's party, L's session id

Pinning, both ways:

* D does not verify L's certificate against any authority; after the
  handshake it hashes the key L presented and refuses a key other than the
  pinned one (``PeerAuthenticationFailed`` naming both fingerprints).
  OpenSSL checks L's CertificateVerify signature whatever the verify mode,
  so L proved it holds that key.
* L needs D's certificate as a trust anchor for OpenSSL to request and check
  a client certificate, so D sends it in the preamble; L admits it only if its
  key matches a pinned fingerprint, makes it the *only* trust anchor of this
  connection, and after the handshake checks again that the certificate
  presented in TLS carries the same key and that D's hello names the party
  this key is pinned for.

The preamble shows a network observer the dialer's certificate (its node
name and public key, both public on chain anyway); everything after the
verdict is encrypted.

Refusals: a dialer facing a wrong key, or refused for its own key, stops at
once (``PeerAuthenticationFailed``); a dialer of another session is told so
(``SessionMismatch``). A listener refuses and keeps waiting for the right
peer, so that anyone able to reach its port cannot abort a session by
connecting; if its deadline passes it raises ``PeerAuthenticationFailed`` when
it refused a key, ``PeerTimeout`` otherwise, listing what it refused.
Dialers retry refused or failed TCP connections with exponential backoff
until the deadline, so parties may start in any order; they also retry a
node listener's ``UNKNOWN_SESSION`` (the peer node has not opened the
session yet) and raise ``SessionMismatch`` if it is still unknown at the
deadline.

The steps are functions shared by the two kinds of listener: the
single-session :class:`Acceptor` of ``TlsTransport.connect`` and the node
listener of ``router.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TypeVar

from offchain.errors import (
    InputError,
    PeerAuthenticationFailed,
    PeerTimeout,
    SessionMismatch,
    TransportError,
)
from offchain.net.identity import NodeIdentity, certificate_fingerprint, format_fingerprint

logger = logging.getLogger(__name__)

_PREAMBLE = struct.Struct("<8sH")
_PREAMBLE_MAGIC = b"UNSEEN/1"
_VERDICT_ACCEPT = b"\x01"
_VERDICT_REFUSED = b"\x02"
_HELLO_MAGIC = b"HELO"
_MPC_HELLO = struct.Struct("<BHHB")  # direction, dialer party, listener party, session id length
_SERVICE_MAGIC = b"SRVC"
_SERVICE_HELLO = struct.Struct("<B32s")  # service name length, job id (uint256, big-endian)
_SERVICE_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_REPLY = struct.Struct("<4sBHB")
_REPLY_MAGIC = b"RPLY"
MAX_CERTIFICATE_BYTES = 16 << 10
MAX_SESSION_ID_BYTES = 255
# One slow or silent connection must not hold set-up for the whole deadline.
HANDSHAKE_STEP_SECONDS = 10.0
_FIRST_RETRY_SECONDS = 0.02
_LAST_RETRY_SECONDS = 1.0
_ACCEPT_POLL_SECONDS = 0.1

T = TypeVar("T")


class Direction(IntEnum):
    """Which end of a connection sends frames on it."""

    DIALER_SENDS = 0
    LISTENER_SENDS = 1


_DIRECTION_VALUES = frozenset(direction.value for direction in Direction)


class ReplyStatus(IntEnum):
    """The listener's answer to a hello."""

    ACCEPTED = 0
    SESSION_MISMATCH = 1  # a single-session listener serves another session
    WRONG_LISTENER = 2  # the listener holds the pinned key but is another party of the session
    NOT_EXPECTED = 3  # the listener does not expect this dialer (or already has this connection)
    UNKNOWN_SESSION = 4  # a node listener has no such session open (yet): the dialer retries
    UNKNOWN_SERVICE = 5  # a node listener offers no service of that name
    NOT_AUTHORIZED = 6  # a node listener admits the key for MPC links only, not for services


def session_id_bytes(session_id: str | bytes) -> bytes:
    """Return the session id as bytes (UTF-8 for text), checking its length."""
    raw = session_id.encode() if isinstance(session_id, str) else bytes(session_id)
    if not 1 <= len(raw) <= MAX_SESSION_ID_BYTES:
        raise InputError(
            f"a session id is 1 to {MAX_SESSION_ID_BYTES} bytes, got {len(raw)} bytes; "
            "use the job id (or another value all parties of the session share)"
        )
    return raw


def describe_session(session_id: bytes) -> str:
    """Return a session id for messages: quoted text if printable, else hex."""
    text = session_id.decode("utf-8", errors="replace")
    return repr(text) if text.isprintable() and "\ufffd" not in text else "0x" + session_id.hex()


def tune_socket(sock: socket.socket) -> None:
    """Set options for latency (no Nagle delay on the last segment of a round)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _load_identity(context: ssl.SSLContext, identity: NodeIdentity) -> None:
    # ssl only loads keys from files. On Linux an anonymous memory file keeps the
    # key off every file system; elsewhere a private temporary directory does.
    material = identity.private_key_pem() + identity.certificate_pem()
    if hasattr(os, "memfd_create"):
        descriptor = os.memfd_create("unseen-node-identity", os.MFD_CLOEXEC)
        try:
            os.write(descriptor, material)
            context.load_cert_chain(f"/proc/self/fd/{descriptor}")
        finally:
            os.close(descriptor)
        return
    with tempfile.TemporaryDirectory(prefix="unseen-identity-") as directory:
        path = Path(directory) / "identity.pem"
        path.touch(mode=0o600)
        path.write_bytes(material)
        context.load_cert_chain(path)


def _base_context(purpose: int, identity: NodeIdentity) -> ssl.SSLContext:
    context = ssl.SSLContext(purpose)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    _load_identity(context, identity)
    return context


def client_context(identity: NodeIdentity) -> ssl.SSLContext:
    """Return the dialer's context: presents ``identity``; the listener's key is pinned after the handshake."""
    context = _base_context(ssl.PROTOCOL_TLS_CLIENT, identity)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def server_context(identity: NodeIdentity, dialer_certificate_der: bytes) -> ssl.SSLContext:
    """Return a listener's context for one connection: the dialer's certificate is the only trust anchor."""
    context = _base_context(ssl.PROTOCOL_TLS_SERVER, identity)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=dialer_certificate_der)
    # No session tickets: they would be the only thing a listener writes on a
    # connection that carries the dialer's frames.
    context.num_tickets = 0
    return context


def receive_exactly(sock: socket.socket, size: int, what: str) -> bytes:
    """Return exactly ``size`` bytes from ``sock``; ``ConnectionResetError`` if it ends first."""
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ConnectionResetError(f"the connection closed while awaiting {what}")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def presented_fingerprint(tls: ssl.SSLSocket) -> bytes:
    """Return the fingerprint of the key the peer presented in the TLS handshake."""
    certificate = tls.getpeercert(binary_form=True)
    if certificate is None:
        raise PeerAuthenticationFailed("the peer presented no certificate")
    return certificate_fingerprint(certificate)


# -- hellos and replies (inside TLS) ---------------------------------------------------


@dataclass(frozen=True)
class MpcHello:
    """A dialer opening one connection of an MPC link: which direction, who it is, whom it expects."""

    direction: Direction
    dialer: int
    listener: int
    session_id: bytes


@dataclass(frozen=True)
class ServiceHello:
    """A dialer asking for one request/response exchange with a named service about a job."""

    name: str
    job_id: int


def check_service_name(name: str) -> str:
    """Return ``name`` if it is a valid service name (lowercase letters, digits, dashes; 1..64)."""
    if not isinstance(name, str) or not _SERVICE_NAME_PATTERN.fullmatch(name):
        raise InputError(
            f"a service name is 1 to 64 lowercase letters, digits and dashes, starting with a "
            f"letter or digit (e.g. 'deliver-input'), got {name!r}"
        )
    return name


def check_job_id(job_id: int) -> int:
    """Return ``job_id`` if it is an integer in 0..2**256-1 (a uint256 on chain)."""
    if isinstance(job_id, bool) or not isinstance(job_id, int) or not 0 <= job_id < 1 << 256:
        raise InputError(f"a job id is an integer in 0..2**256-1 (uint256 on chain), got {job_id!r}")
    return job_id


def send_mpc_hello(tls: ssl.SSLSocket, target: DialTarget) -> None:
    tls.sendall(
        _HELLO_MAGIC
        + _MPC_HELLO.pack(target.direction, target.party, target.peer, len(target.session_id))
        + target.session_id
    )


def send_service_hello(tls: ssl.SSLSocket, name: str, job_id: int) -> None:
    raw_name = check_service_name(name).encode("ascii")
    tls.sendall(
        _SERVICE_MAGIC + _SERVICE_HELLO.pack(len(raw_name), check_job_id(job_id).to_bytes(32, "big")) + raw_name
    )


def read_hello(tls: ssl.SSLSocket) -> MpcHello | ServiceHello:
    """Read a dialer's hello; ``TransportError`` if it is malformed."""
    magic = receive_exactly(tls, 4, "a hello")
    if magic == _HELLO_MAGIC:
        direction_value, dialer, listener, session_length = _MPC_HELLO.unpack(
            receive_exactly(tls, _MPC_HELLO.size, "an MPC hello")
        )
        session_id = receive_exactly(tls, session_length, "a session id")
        if direction_value not in _DIRECTION_VALUES or not session_id:
            raise TransportError(f"malformed MPC hello (direction {direction_value}, session of {session_length} bytes)")
        return MpcHello(Direction(direction_value), dialer, listener, session_id)
    if magic == _SERVICE_MAGIC:
        name_length, job_id = _SERVICE_HELLO.unpack(receive_exactly(tls, _SERVICE_HELLO.size, "a service hello"))
        raw_name = receive_exactly(tls, name_length, "a service name")
        name = raw_name.decode("ascii", errors="replace")
        if not _SERVICE_NAME_PATTERN.fullmatch(name):
            raise TransportError(f"malformed service hello (name {raw_name[:64]!r})")
        return ServiceHello(name, int.from_bytes(job_id, "big"))
    raise TransportError(f"malformed hello (magic {magic!r})")


def send_reply(tls: ssl.SSLSocket, status: ReplyStatus, party: int, body: bytes) -> None:
    """Answer a hello: ``status``, the listener's party number, and up to 255 bytes of ``body``.

    ``body`` is the listener's session id for MPC hellos, the list of services
    for an unknown service.
    """
    body = body[:255]
    tls.sendall(_REPLY.pack(_REPLY_MAGIC, status, party, len(body)) + body)


def read_reply(tls: ssl.SSLSocket, where: str) -> tuple[int, int, bytes]:
    """Return ``(status, listener party, body)``; ``TransportError`` if the reply is malformed."""
    magic, status, party, body_length = _REPLY.unpack(receive_exactly(tls, _REPLY.size, f"the reply of {where}"))
    body = receive_exactly(tls, body_length, f"the reply of {where}")
    if magic != _REPLY_MAGIC:
        raise TransportError(f"{where} sent a malformed reply (magic {magic!r})")
    return status, party, body


# -- dialing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DialTarget:
    """One connection to open: from ``party`` to ``peer`` at ``address``, pinned to ``peer_fingerprint``."""

    party: int
    peer: int
    peer_fingerprint: bytes
    address: tuple[str, int]
    session_id: bytes
    direction: Direction

    @property
    def where(self) -> str:
        return f"party {self.peer} at {self.address[0]}:{self.address[1]}"


class NotReadyYet(Exception):
    """The listener answered but cannot serve the request yet (its session is not open): try again."""


def with_retries(
    attempt: Callable[[float], T],
    deadline: float,
    give_up: Callable[[int, BaseException | None, NotReadyYet | None], TransportError],
) -> T:
    """Return ``attempt(step_timeout)``, retrying transient failures with backoff until ``deadline``.

    Transient: ``OSError`` and ``ssl.SSLError`` that are not a ``TransportError``
    (not listening yet, reset during start-up, a handshake cut short) and
    :class:`NotReadyYet`. At the deadline, raises ``give_up(attempts,
    last_error, last_not_ready)``: the last failure, and the last "not ready"
    answer if any (the last attempts may have timed out waiting for one).
    """
    delay = _FIRST_RETRY_SECONDS
    attempts = 0
    last_error: BaseException | None = None
    last_not_ready: NotReadyYet | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise give_up(attempts, last_error, last_not_ready)
        attempts += 1
        try:
            return attempt(min(HANDSHAKE_STEP_SECONDS, remaining))
        except (OSError, ssl.SSLError, NotReadyYet) as error:
            if isinstance(error, TransportError):
                raise
            last_error = error
            if isinstance(error, NotReadyYet):
                last_not_ready = error
        time.sleep(min(delay * (0.5 + random.random()), max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, _LAST_RETRY_SECONDS)


def describe_error(error: BaseException | None) -> str:
    return "none" if error is None else f"{type(error).__name__}: {error}"


def open_pinned_connection(
    identity: NodeIdentity,
    context: ssl.SSLContext,
    address: tuple[str, int],
    pinned: bytes,
    step_timeout: float,
    *,
    where: str,
    refused: str,
) -> ssl.SSLSocket:
    """Connect to ``address``, present ``identity``, and return TLS whose peer key is ``pinned``.

    Raises ``PeerAuthenticationFailed`` when the listener refuses our
    certificate (with the message ``refused``: why that happens, what to do) or
    presents another key; ``TransportError`` when the listener is not an Unseen
    node. Other ``OSError`` are transient (see :func:`with_retries`).
    """
    sock = socket.create_connection(address, timeout=step_timeout)
    try:
        tune_socket(sock)
        certificate = identity.certificate_der()
        sock.sendall(_PREAMBLE.pack(_PREAMBLE_MAGIC, len(certificate)) + certificate)
        verdict = receive_exactly(sock, 1, f"the verdict of {where} on our certificate")
        if verdict == _VERDICT_REFUSED:
            raise PeerAuthenticationFailed(refused)
        if verdict != _VERDICT_ACCEPT:
            raise TransportError(f"{where} answered the preamble with {verdict!r}: not an Unseen node")
        tls = context.wrap_socket(sock)
    except BaseException:
        sock.close()
        raise
    try:
        presented = presented_fingerprint(tls)
        if presented != pinned:
            raise PeerAuthenticationFailed(
                f"{where} presented key fingerprint {format_fingerprint(presented)}, but it is pinned to "
                f"{format_fingerprint(pinned)}; the endpoint runs another node, or the fingerprint "
                "registered for it is out of date"
            )
        return tls
    except BaseException:
        tls.close()
        raise


def read_reply_after_handshake(tls: ssl.SSLSocket, where: str, identity: NodeIdentity) -> tuple[int, int, bytes]:
    """Read the listener's reply; an end of stream here is its refusal of our certificate.

    With TLS 1.3 the listener checks our certificate after our side of the
    handshake completes, so a refusal shows as the connection ending.
    """
    try:
        return read_reply(tls, where)
    except (ConnectionResetError, ssl.SSLError) as error:
        raise PeerAuthenticationFailed(
            f"{where} ended the connection after the TLS handshake, before replying: it did not "
            f"accept our certificate (key {identity.fingerprint_hex}) ({error})"
        ) from None


def dial(identity: NodeIdentity, context: ssl.SSLContext, target: DialTarget, deadline: float) -> ssl.SSLSocket:
    """Open one authenticated connection to ``target``; retry until ``deadline``.

    Raises ``PeerAuthenticationFailed`` for a wrong key at either end,
    ``SessionMismatch`` when the peer serves another session (or, a node
    listener, has not opened this one by the deadline), ``PeerTimeout`` when
    the peer could not be reached in time.
    """

    def give_up(attempts: int, last_error: BaseException | None, not_ready: NotReadyYet | None) -> TransportError:
        # The last attempts may have timed out while a node listener held them for the session.
        if not_ready is not None and (last_error is not_ready or isinstance(last_error, TimeoutError)):
            return SessionMismatch(
                f"{target.where} has no session {describe_session(target.session_id)} open: party "
                f"{target.party} asked {attempts} times until its deadline. The peer has not started this "
                "job (yet), runs behind, or was given another session id"
            )
        return PeerTimeout(
            f"party {target.party} could not connect to {target.where} in {attempts} attempts before its "
            f"deadline (last error: {describe_error(last_error)}); check that the peer is running and "
            "that its registered endpoint is right"
        )

    return with_retries(lambda step: _dial_once(identity, context, target, step), deadline, give_up)


def _dial_once(
    identity: NodeIdentity, context: ssl.SSLContext, target: DialTarget, step_timeout: float
) -> ssl.SSLSocket:
    party, peer, address, session_id = target.party, target.peer, target.address, target.session_id
    where = target.where
    tls = open_pinned_connection(
        identity, context, address, target.peer_fingerprint, step_timeout, where=where,
        refused=(
            f"{where} refused party {party}'s certificate: it admits our key {identity.fingerprint_hex} "
            f"neither as pinned for party {party} nor as a registered member's; register or configure "
            f"that fingerprint for party {party} at the peer"
        ),
    )
    try:
        send_mpc_hello(tls, target)
        status, their_party, their_session = read_reply_after_handshake(tls, where, identity)
        if status == ReplyStatus.SESSION_MISMATCH:
            raise SessionMismatch(
                f"{where} serves session {describe_session(their_session)}, not "
                f"{describe_session(session_id)}; start every party of a session with the same session id"
            )
        if status == ReplyStatus.UNKNOWN_SESSION:
            raise NotReadyYet(f"{where} has no session {describe_session(session_id)} open")
        if status == ReplyStatus.WRONG_LISTENER:
            raise TransportError(
                f"the node at {address[0]}:{address[1]} holds party {peer}'s key but is party "
                f"{their_party} in this session; check which endpoint is configured for party {peer}"
            )
        if status == ReplyStatus.NOT_EXPECTED:
            raise TransportError(
                f"{where} does not expect party {party} to dial it for the {target.direction.name} "
                "connection (it dials us itself, or already has that connection); "
                "exactly one side of each link may have the other's address"
            )
        if status == ReplyStatus.NOT_AUTHORIZED:
            raise PeerAuthenticationFailed(
                f"{where} does not admit party {party}'s key (fingerprint {identity.fingerprint_hex}) "
                f"for session {describe_session(session_id)}"
            )
        if status != ReplyStatus.ACCEPTED:
            raise TransportError(f"{where} replied with unknown status {status}")
        tls.settimeout(None)
        return tls
    except BaseException:
        tls.close()
        raise


# -- listening ---------------------------------------------------------------------------


def receive_preamble(sock: socket.socket, origin: str) -> tuple[bytes, bytes]:
    """Read a dialer's preamble; return its certificate (DER) and that certificate's key fingerprint.

    Raises ``TransportError`` for anything but an Unseen preamble and
    ``InputError`` for bytes that are not a certificate.
    """
    magic, certificate_length = _PREAMBLE.unpack(receive_exactly(sock, _PREAMBLE.size, "a preamble"))
    if magic != _PREAMBLE_MAGIC or certificate_length > MAX_CERTIFICATE_BYTES:
        raise TransportError(f"{origin}: not an Unseen preamble")
    certificate = receive_exactly(sock, certificate_length, "a certificate")
    return certificate, certificate_fingerprint(certificate)


def refuse_certificate(sock: socket.socket) -> None:
    """Tell a dialer its key is not admitted (before TLS, in the clear)."""
    sock.sendall(_VERDICT_REFUSED)


def accept_tls(
    sock: socket.socket, identity: NodeIdentity, certificate: bytes, preamble_fingerprint: bytes, origin: str
) -> ssl.SSLSocket:
    """Admit the dialer's certificate, run the server side of TLS, check the key it presents there.

    Raises ``PeerAuthenticationFailed`` if the key presented in TLS differs
    from the preamble's (the TLS connection is closed).
    """
    sock.sendall(_VERDICT_ACCEPT)
    tls = server_context(identity, certificate).wrap_socket(sock, server_side=True)
    presented = presented_fingerprint(tls)
    if presented != preamble_fingerprint:
        with contextlib.suppress(OSError):
            tls.close()
        raise PeerAuthenticationFailed(
            f"{origin} sent a certificate for key {format_fingerprint(preamble_fingerprint)} "
            f"in its preamble but presented key {format_fingerprint(presented)} in TLS"
        )
    return tls


class Acceptor:
    """Accepts the connections that expected dialers open to this party, in a background thread.

    ``dialers`` maps each party expected to dial us to its pinned fingerprint;
    two connections (one per :class:`Direction`) are awaited from each.
    """

    def __init__(
        self,
        listener: socket.socket,
        identity: NodeIdentity,
        *,
        party: int,
        dialers: Mapping[int, bytes],
        session_id: bytes,
        deadline: float,
    ) -> None:
        self._listener = listener
        self._identity = identity
        self._party = party
        self._dialers = dict(dialers)
        self._session_id = session_id
        self._deadline = deadline
        self._cancelled = threading.Event()
        self._connections: dict[tuple[int, Direction], ssl.SSLSocket] = {}
        self._refusals: list[str] = []
        self._authentication_refused = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"unseen-accept-p{party}", daemon=True)
        self._thread.start()

    def result(self) -> dict[tuple[int, Direction], ssl.SSLSocket]:
        """Wait for every expected connection and return them by (dialer, direction)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._connections

    def cancel(self) -> None:
        """Stop accepting and close what was accepted (set-up failed elsewhere)."""
        self._cancelled.set()
        self._thread.join()
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def _run(self) -> None:
        wanted = {(dialer, direction) for dialer in self._dialers for direction in Direction}
        try:
            self._listener.settimeout(_ACCEPT_POLL_SECONDS)
            while wanted - self._connections.keys() and not self._cancelled.is_set():
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise self._deadline_error(sorted(wanted - self._connections.keys()))
                try:
                    sock, address = self._listener.accept()
                except TimeoutError:
                    continue
                self._admit(sock, address, wanted, min(HANDSHAKE_STEP_SECONDS, remaining))
        except BaseException as error:
            self._error = error
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()

    def _admit(self, sock: socket.socket, address, wanted, step_timeout: float) -> None:
        origin = f"{address[0]}:{address[1]}"
        try:
            sock.settimeout(step_timeout)
            tune_socket(sock)
            certificate, presented = receive_preamble(sock, origin)
            if presented not in self._dialers.values():
                refuse_certificate(sock)
                self._refuse(
                    sock, f"{origin} presented key fingerprint {format_fingerprint(presented)}, "
                    "pinned for none of the parties expected to dial us", authentication=True,
                )
                return
            tls = accept_tls(sock, self._identity, certificate, presented, origin)
        except PeerAuthenticationFailed as error:
            self._refuse(sock, str(error), authentication=True)
            return
        except (OSError, InputError, struct.error) as error:
            # A port scan, a peer that gave up, garbage, an impostor failing the
            # handshake: refused, but no reason to abandon the session.
            self._refuse(sock, f"{origin}: {type(error).__name__}: {error}")
            return
        try:
            self._admit_tls(tls, origin, presented, wanted)
        except (OSError, struct.error) as error:
            self._refuse(tls, f"{origin}: {type(error).__name__} during the session hello: {error}")

    def _admit_tls(self, tls: ssl.SSLSocket, origin: str, presented: bytes, wanted) -> None:
        hello = read_hello(tls)
        if not isinstance(hello, MpcHello):
            self._reply(tls, ReplyStatus.UNKNOWN_SERVICE)
            self._refuse(tls, f"{origin} asked for service {hello.name!r}; a session listener serves none")
            return
        dialer, direction = hello.dialer, hello.direction
        pinned = self._dialers.get(dialer)
        if pinned != presented:
            self._refuse(
                tls, f"{origin} claims to be party {dialer} but presented key "
                f"{format_fingerprint(presented)}; party {dialer} is "
                + (f"pinned to {format_fingerprint(pinned)}" if pinned else "not expected to dial us"),
                authentication=True,
            )
            return
        if hello.session_id != self._session_id:
            self._reply(tls, ReplyStatus.SESSION_MISMATCH)
            self._refuse(tls, f"party {dialer} from {origin} of session {describe_session(hello.session_id)}")
            return
        if hello.listener != self._party:
            self._reply(tls, ReplyStatus.WRONG_LISTENER)
            self._refuse(tls, f"party {dialer} from {origin} expected to reach party {hello.listener}")
            return
        if (dialer, direction) not in wanted or (dialer, direction) in self._connections:
            self._reply(tls, ReplyStatus.NOT_EXPECTED)
            self._refuse(tls, f"party {dialer} from {origin}: unexpected {direction.name} connection")
            return
        self._reply(tls, ReplyStatus.ACCEPTED)
        tls.settimeout(None)
        self._connections[(dialer, direction)] = tls

    def _reply(self, tls: ssl.SSLSocket, status: ReplyStatus) -> None:
        send_reply(tls, status, self._party, self._session_id)

    def _refuse(self, sock: socket.socket, reason: str, *, authentication: bool = False) -> None:
        logger.warning("party %d refused a connection: %s", self._party, reason)
        self._refusals.append(reason)
        self._authentication_refused |= authentication
        with contextlib.suppress(OSError):
            sock.close()

    def _deadline_error(self, missing: list[tuple[int, Direction]]) -> TransportError:
        return deadline_error(
            self._party, self._session_id, self._dialers, missing, self._refusals, self._authentication_refused
        )


def deadline_error(
    party: int,
    session_id: bytes,
    dialers: Mapping[int, bytes],
    missing: list[tuple[int, Direction]],
    refusals: list[str],
    authentication_refused: bool,
) -> TransportError:
    """The error of a listening party whose expected connections did not all arrive in time."""
    awaited = ", ".join(f"party {dialer}'s {direction.name} connection" for dialer, direction in missing)
    refused = "; ".join(refusals) or "none"
    if authentication_refused:
        expected = ", ".join(
            f"party {dialer} pinned to {format_fingerprint(pin)}" for dialer, pin in sorted(dialers.items())
        )
        return PeerAuthenticationFailed(
            f"party {party} refused connections whose key is not pinned ({expected}) and "
            f"never received {awaited}; refused: {refused}. Check the fingerprints registered "
            "for those parties"
        )
    return PeerTimeout(
        f"party {party} waited until its deadline for {awaited} in session "
        f"{describe_session(session_id)}; refused meanwhile: {refused}. Check that those "
        "parties are running, dial this endpoint and use this session id"
    )
