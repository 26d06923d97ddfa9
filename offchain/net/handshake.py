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
    L → D   reply (in TLS)    "RPLY", status, L's party, L's session id

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
until the deadline, so parties may start in any order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Mapping
from enum import IntEnum
from pathlib import Path

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
_HELLO = struct.Struct("<4sBHHB")
_HELLO_MAGIC = b"HELO"
_REPLY = struct.Struct("<4sBHB")
_REPLY_MAGIC = b"RPLY"
MAX_CERTIFICATE_BYTES = 16 << 10
MAX_SESSION_ID_BYTES = 255
# One slow or silent connection must not hold set-up for the whole deadline.
HANDSHAKE_STEP_SECONDS = 10.0
_FIRST_RETRY_SECONDS = 0.02
_LAST_RETRY_SECONDS = 1.0
_ACCEPT_POLL_SECONDS = 0.1


class Direction(IntEnum):
    """Which end of a connection sends frames on it."""

    DIALER_SENDS = 0
    LISTENER_SENDS = 1


_DIRECTION_VALUES = frozenset(direction.value for direction in Direction)


class _Status(IntEnum):
    ACCEPTED = 0
    SESSION_MISMATCH = 1
    WRONG_LISTENER = 2
    NOT_EXPECTED = 3


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


def _receive_exactly(sock: socket.socket, size: int, what: str) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ConnectionResetError(f"the connection closed while awaiting {what}")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _presented_fingerprint(tls: ssl.SSLSocket) -> bytes:
    certificate = tls.getpeercert(binary_form=True)
    if certificate is None:
        raise PeerAuthenticationFailed("the peer presented no certificate")
    return certificate_fingerprint(certificate)


def dial(
    identity: NodeIdentity,
    context: ssl.SSLContext,
    *,
    party: int,
    peer: int,
    peer_fingerprint: bytes,
    address: tuple[str, int],
    session_id: bytes,
    direction: Direction,
    deadline: float,
) -> ssl.SSLSocket:
    """Open one authenticated connection to ``peer`` at ``address``; retry until ``deadline``.

    Raises ``PeerAuthenticationFailed`` for a wrong key at either end,
    ``SessionMismatch`` when the peer serves another session, ``PeerTimeout``
    when the peer could not be reached in time.
    """
    delay = _FIRST_RETRY_SECONDS
    attempts = 0
    last_error = "none"
    while True:
        attempts += 1
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PeerTimeout(
                f"party {party} could not connect to party {peer} at {address[0]}:{address[1]} "
                f"in {attempts - 1} attempts before its deadline (last error: {last_error}); "
                "check that the peer is running and that its registered endpoint is right"
            )
        try:
            return _dial_once(
                identity, context, party=party, peer=peer, peer_fingerprint=peer_fingerprint,
                address=address, session_id=session_id, direction=direction,
                step_timeout=min(HANDSHAKE_STEP_SECONDS, remaining),
            )
        except (OSError, ssl.SSLError) as error:
            if isinstance(error, TransportError):
                raise
            # Not listening yet, reset during start-up, or a handshake cut short:
            # all transient while the peer starts; the deadline bounds the wait.
            last_error = f"{type(error).__name__}: {error}"
        time.sleep(min(delay * (0.5 + random.random()), max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, _LAST_RETRY_SECONDS)


def _dial_once(
    identity: NodeIdentity,
    context: ssl.SSLContext,
    *,
    party: int,
    peer: int,
    peer_fingerprint: bytes,
    address: tuple[str, int],
    session_id: bytes,
    direction: Direction,
    step_timeout: float,
) -> ssl.SSLSocket:
    where = f"party {peer} at {address[0]}:{address[1]}"
    sock = socket.create_connection(address, timeout=step_timeout)
    try:
        tune_socket(sock)
        certificate = identity.certificate_der()
        sock.sendall(_PREAMBLE.pack(_PREAMBLE_MAGIC, len(certificate)) + certificate)
        verdict = _receive_exactly(sock, 1, f"the verdict of {where} on our certificate")
        if verdict == _VERDICT_REFUSED:
            raise PeerAuthenticationFailed(
                f"{where} refused party {party}'s certificate: it does not pin our key "
                f"{identity.fingerprint_hex} for party {party}; register or configure that "
                f"fingerprint for party {party} at the peer"
            )
        if verdict != _VERDICT_ACCEPT:
            raise TransportError(f"{where} answered the preamble with {verdict!r}: not an Unseen node")
        tls = context.wrap_socket(sock)
    except BaseException:
        sock.close()
        raise
    try:
        presented = _presented_fingerprint(tls)
        if presented != peer_fingerprint:
            raise PeerAuthenticationFailed(
                f"{where} presented key fingerprint {format_fingerprint(presented)}, but party "
                f"{peer} is pinned to {format_fingerprint(peer_fingerprint)}; the endpoint runs "
                "another node, or the fingerprint registered for it is out of date"
            )
        tls.sendall(_HELLO.pack(_HELLO_MAGIC, direction, party, peer, len(session_id)) + session_id)
        # With TLS 1.3 the listener checks our certificate after our side of the
        # handshake completes; an end of stream here is its refusal.
        try:
            magic, status, their_party, their_session_length = _REPLY.unpack(
                _receive_exactly(tls, _REPLY.size, f"the reply of {where}")
            )
            their_session = _receive_exactly(tls, their_session_length, f"the session id of {where}")
        except (ConnectionResetError, ssl.SSLError) as error:
            raise PeerAuthenticationFailed(
                f"{where} ended the connection after the TLS handshake, before replying: it "
                f"did not accept our certificate (key {identity.fingerprint_hex}) for party {party} ({error})"
            ) from None
        if magic != _REPLY_MAGIC:
            raise TransportError(f"{where} sent a malformed reply (magic {magic!r})")
        if status == _Status.SESSION_MISMATCH:
            raise SessionMismatch(
                f"{where} serves session {describe_session(their_session)}, not "
                f"{describe_session(session_id)}; start every party of a session with the same session id"
            )
        if status == _Status.WRONG_LISTENER:
            raise TransportError(
                f"the node at {address[0]}:{address[1]} holds party {peer}'s key but is party "
                f"{their_party} in this session; check which endpoint is configured for party {peer}"
            )
        if status == _Status.NOT_EXPECTED:
            raise TransportError(
                f"{where} does not expect party {party} to dial it for the {direction.name} "
                "connection (it dials us itself, or already has that connection); "
                "exactly one side of each link may have the other's address"
            )
        if status != _Status.ACCEPTED:
            raise TransportError(f"{where} replied with unknown status {status}")
        tls.settimeout(None)
        return tls
    except BaseException:
        tls.close()
        raise


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
            magic, certificate_length = _PREAMBLE.unpack(_receive_exactly(sock, _PREAMBLE.size, "a preamble"))
            if magic != _PREAMBLE_MAGIC or certificate_length > MAX_CERTIFICATE_BYTES:
                self._refuse(sock, f"{origin}: not an Unseen preamble")
                return
            certificate = _receive_exactly(sock, certificate_length, "a certificate")
            presented = certificate_fingerprint(certificate)
            if presented not in self._dialers.values():
                sock.sendall(_VERDICT_REFUSED)
                self._refuse(
                    sock, f"{origin} presented key fingerprint {format_fingerprint(presented)}, "
                    "pinned for none of the parties expected to dial us", authentication=True,
                )
                return
            sock.sendall(_VERDICT_ACCEPT)
            tls = server_context(self._identity, certificate).wrap_socket(sock, server_side=True)
        except (OSError, InputError, struct.error) as error:
            # A port scan, a peer that gave up, garbage, an impostor failing the
            # handshake: refused, but no reason to abandon the session.
            self._refuse(sock, f"{origin}: {type(error).__name__}: {error}")
            return
        try:
            self._admit_tls(tls, origin, presented, wanted)
        except (OSError, struct.error) as error:
            self._refuse(tls, f"{origin}: {type(error).__name__} during the session hello: {error}")

    def _admit_tls(self, tls: ssl.SSLSocket, origin: str, preamble_fingerprint: bytes, wanted) -> None:
        presented = _presented_fingerprint(tls)
        if presented != preamble_fingerprint:
            self._refuse(
                tls, f"{origin} sent a certificate for key {format_fingerprint(preamble_fingerprint)} "
                f"in its preamble but presented key {format_fingerprint(presented)} in TLS",
                authentication=True,
            )
            return
        magic, direction_value, dialer, listener, session_length = _HELLO.unpack(
            _receive_exactly(tls, _HELLO.size, "a hello")
        )
        session_id = _receive_exactly(tls, session_length, "a session id")
        if magic != _HELLO_MAGIC or direction_value not in _DIRECTION_VALUES:
            self._refuse(tls, f"{origin}: malformed hello")
            return
        direction = Direction(direction_value)
        pinned = self._dialers.get(dialer)
        if pinned != presented:
            self._refuse(
                tls, f"{origin} claims to be party {dialer} but presented key "
                f"{format_fingerprint(presented)}; party {dialer} is "
                + (f"pinned to {format_fingerprint(pinned)}" if pinned else "not expected to dial us"),
                authentication=True,
            )
            return
        if session_id != self._session_id:
            self._reply(tls, _Status.SESSION_MISMATCH)
            self._refuse(tls, f"party {dialer} from {origin} of session {describe_session(session_id)}")
            return
        if listener != self._party:
            self._reply(tls, _Status.WRONG_LISTENER)
            self._refuse(tls, f"party {dialer} from {origin} expected to reach party {listener}")
            return
        if (dialer, direction) not in wanted or (dialer, direction) in self._connections:
            self._reply(tls, _Status.NOT_EXPECTED)
            self._refuse(tls, f"party {dialer} from {origin}: unexpected {direction.name} connection")
            return
        self._reply(tls, _Status.ACCEPTED)
        tls.settimeout(None)
        self._connections[(dialer, direction)] = tls

    def _reply(self, tls: ssl.SSLSocket, status: _Status) -> None:
        tls.sendall(_REPLY.pack(_REPLY_MAGIC, status, self._party, len(self._session_id)) + self._session_id)

    def _refuse(self, sock: socket.socket, reason: str, *, authentication: bool = False) -> None:
        logger.warning("party %d refused a connection: %s", self._party, reason)
        self._refusals.append(reason)
        self._authentication_refused |= authentication
        with contextlib.suppress(OSError):
            sock.close()

    def _deadline_error(self, missing: list[tuple[int, Direction]]) -> TransportError:
        awaited = ", ".join(f"party {dialer}'s {direction.name} connection" for dialer, direction in missing)
        refused = "; ".join(self._refusals) or "none"
        if self._authentication_refused:
            expected = ", ".join(
                f"party {dialer} pinned to {format_fingerprint(pin)}" for dialer, pin in sorted(self._dialers.items())
            )
            return PeerAuthenticationFailed(
                f"party {self._party} refused connections whose key is not pinned ({expected}) and "
                f"never received {awaited}; refused: {refused}. Check the fingerprints registered "
                "for those parties"
            )
        return PeerTimeout(
            f"party {self._party} waited until its deadline for {awaited} in session "
            f"{describe_session(self._session_id)}; refused meanwhile: {refused}. Check that those "
            "parties are running, dial this endpoint and use this session id"
        )
