"""``TlsTransport``: the Transport protocol over TCP with pinned mutual TLS 1.3.

Each link to a peer is two authenticated connections (see ``handshake.py``),
one per direction. A writer thread per outgoing connection and a reader
thread per incoming one move frames (see ``framing.py``), so:

* ``send`` queues the message and returns at once; two parties sending each
  other 100 MB at the same time both progress, because each side's reader
  drains the other's writer whatever the callers do.
* ``recv`` waits on the reader's queue for at most ``timeout`` seconds
  (``PeerTimeout`` naming the peer and the message awaited); a peer that
  closes, aborts or vanishes yields ``TransportError`` at once, never a hang.
* Arrays are sent from their own memory and received straight into freshly
  allocated arrays: no copy in Python beyond what TLS itself does.
* Writers hash what they send and readers what they receive, off the caller's
  thread (SHA-256 releases the GIL), into the running transcripts of
  ``transcript.py``; ``transcript(peer)`` covers every message sent and every
  message *consumed* by ``recv``. ``verify_transcripts()`` exchanges the
  digests with every peer and raises ``TranscriptMismatch`` if they differ.
* ``one_way_delay`` holds every frame back that long before it leaves, as a
  WAN would (pipelined: n back-to-back messages take one delay, not n).

One thread per party uses a transport (the engine's runtime); the transport
itself runs its reader and writer threads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import socket
import ssl
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from enum import Enum

import numpy as np

from offchain.errors import InputError, PeerTimeout, TranscriptMismatch, TransportError
from offchain.net.framing import (
    Frame,
    FrameKind,
    control_frame,
    data_frame_segments,
    prepare_arrays,
    read_frame,
    write_segments,
)
from offchain.net.handshake import (
    Acceptor,
    DialTarget,
    Direction,
    client_context,
    describe_session,
    dial,
    session_id_bytes,
)
from offchain.net.identity import NodeIdentity, parse_fingerprint
from offchain.net.transcript import link_digest, new_direction_hash, update_with_message

DEFAULT_TIMEOUT_SECONDS = 120.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_MESSAGE_BYTES = 8 << 30
MAX_PARTY = 0xFFFF
_ABORT_REASON_BYTES = 200
# How long close() lets writers deliver what is queued before cutting the links.
_CLOSE_GRACE_SECONDS = 5.0
_ABORT_GRACE_SECONDS = 1.0
DIGEST_BYTES = 32
# One entry of a link transcript report: the link's two party numbers, then its digest.
_LINK_ENTRY = struct.Struct("<HH")


@dataclasses.dataclass(frozen=True)
class Peer:
    """A peer of this party: its pinned key fingerprint and, if we dial it, its address.

    Exactly one end of each link has the other's address and dials; the other
    end listens (``address=None``).
    """

    fingerprint: bytes
    address: tuple[str, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", parse_fingerprint(self.fingerprint))
        if self.address is not None:
            host, port = self.address
            if not isinstance(port, int) or not 0 < port < 65536:
                raise InputError(f"peer port must be 1..65535, got {port!r} (address {self.address!r})")
            object.__setattr__(self, "address", (str(host), port))


def parse_endpoint(endpoint: str, *, any_port: bool = False) -> tuple[str, int]:
    """Return ``(host, port)`` from ``"host:port"`` or ``"[ipv6]:port"`` (a member's registered endpoint).

    ``any_port`` also admits port 0 (an address to bind: the system picks a free port).
    """
    if not isinstance(endpoint, str):
        raise InputError(f"an endpoint is a 'host:port' string, got {endpoint!r}")
    host, separator, port_text = endpoint.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    lowest = 0 if any_port else 1
    if not separator or not host or not port_text.isdigit() or not lowest <= int(port_text) < 65536 or (
        ":" in host and not endpoint.strip().startswith("[")
    ):
        raise InputError(
            f"an endpoint is host:port with a port in {lowest}..65535 (IPv6 as [address]:port), got {endpoint!r}"
        )
    return host, int(port_text)


def parse_address(address: str | tuple[str, int], *, any_port: bool = False) -> tuple[str, int]:
    """Return ``(host, port)`` from ``"host:port"`` (see :func:`parse_endpoint`) or a ``(host, port)`` tuple."""
    if isinstance(address, str):
        return parse_endpoint(address, any_port=any_port)
    lowest = 0 if any_port else 1
    if (
        not isinstance(address, tuple) or len(address) != 2 or not isinstance(address[0], str)
        or isinstance(address[1], bool) or not isinstance(address[1], int) or not lowest <= address[1] < 65536
    ):
        raise InputError(
            f"an address is 'host:port' or (host, port) with a port in {lowest}..65535, got {address!r}"
        )
    return address


def bind_listener(host: str = "127.0.0.1", port: int = 0, backlog: int = 16) -> socket.socket:
    """Return a listening TCP socket on ``host:port`` (port 0: a free port, see ``getsockname()``)."""
    return socket.create_server((host, port), backlog=backlog, family=_family_of(host))


def _family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class _Event(Enum):
    MESSAGE = "message"
    TRANSCRIPT = "transcript"
    CLOSED = "closed"
    ABORTED = "aborted"
    FAILED = "failed"


class _SendingLink:
    """One outgoing connection and the writer thread that owns it."""

    def __init__(self, party: int, peer: int, connection: ssl.SSLSocket, one_way_delay: float) -> None:
        self.peer = peer
        self.connection = connection
        self._one_way_delay = one_way_delay
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._hash = new_direction_hash()
        self._progress = threading.Condition()
        self._queued = 0
        self._written = 0
        self._discard_data = False
        self.failure: TransportError | None = None
        self._thread = threading.Thread(target=self._run, name=f"unseen-send-p{party}-to-p{peer}", daemon=True)
        self._thread.start()

    def put(self, kind: FrameKind, content) -> None:
        with self._progress:
            self._queued += 1
        self._items.put((time.monotonic() + self._one_way_delay, kind, content))

    def discard_queued_data(self) -> None:
        self._discard_data = True

    def _run(self) -> None:
        while True:
            release_at, kind, content = self._items.get()
            if kind is FrameKind.DATA and self._discard_data:
                self._count_written()
                continue
            wait = release_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                if kind is FrameKind.DATA:
                    segments, _ = data_frame_segments(content)
                    write_segments(self.connection, segments)
                    update_with_message(self._hash, content)
                else:
                    self.connection.sendall(control_frame(kind, content))
            except (OSError, ValueError) as error:
                # ValueError: the socket was closed under us by close()/abort().
                with self._progress:
                    self.failure = TransportError(
                        f"sending to party {self.peer} failed ({type(error).__name__}: {error}); "
                        "the peer closed the link or its process ended"
                    )
                    self._progress.notify_all()
                return
            self._count_written()
            if kind in (FrameKind.CLOSE, FrameKind.ABORT):
                return

    def _count_written(self) -> None:
        with self._progress:
            self._written += 1
            self._progress.notify_all()

    def wait_written(self, timeout: float) -> bool:
        """Wait until every queued frame is written; False on timeout or failure."""
        with self._progress:
            return self._progress.wait_for(
                lambda: self.failure is not None or self._written == self._queued, timeout
            ) and self.failure is None

    def sent_digest(self) -> bytes:
        return self._hash.digest()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()


class _ReceivingLink:
    """One incoming connection, the reader thread that owns it, and the messages it read."""

    def __init__(self, party: int, peer: int, connection: ssl.SSLSocket, max_message_bytes: int) -> None:
        self.peer = peer
        self.connection = connection
        self._max_message_bytes = max_message_bytes
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self._hash = new_direction_hash()
        # Transcript state after the last message handed to recv(): the reader
        # may be ahead, but a transcript covers what the protocol consumed.
        self.consumed_digest = self._hash.digest()
        self.consumed = 0
        self.terminal: tuple[_Event, object] | None = None
        self._thread = threading.Thread(target=self._run, name=f"unseen-recv-p{party}-from-p{peer}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                frame: Frame = read_frame(
                    self.connection, max_message_bytes=self._max_message_bytes, transcript=self._hash
                )
                if frame.kind is FrameKind.DATA:
                    self.events.put((_Event.MESSAGE, (frame.arrays, self._hash.digest())))
                elif frame.kind is FrameKind.TRANSCRIPT:
                    self.events.put((_Event.TRANSCRIPT, frame.body))
                elif frame.kind is FrameKind.CLOSE:
                    self.events.put((_Event.CLOSED, None))
                    return
                else:
                    self.events.put((_Event.ABORTED, frame.body.decode("utf-8", errors="replace")))
                    return
        except (OSError, ValueError) as error:
            self.events.put((_Event.FAILED, error))

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()


class TlsTransport:
    """Message passing between parties over pinned mutual TLS 1.3 (the ``Transport`` protocol).

    Build one with :meth:`connect`. Party numbers are 0..65535; the MPC
    engine uses 0, 1, 2, and data owners or requesters may join links with
    other numbers.
    """

    def __init__(
        self,
        *,
        party: int,
        session_id: bytes,
        links: Mapping[int, tuple[ssl.SSLSocket, ssl.SSLSocket]],
        timeout: float,
        one_way_delay: float,
        max_message_bytes: int,
    ) -> None:
        """Wrap established connections: ``links[peer] = (outgoing, incoming)``. Use :meth:`connect`."""
        self.party = party
        self.session_id = session_id
        self.timeout = timeout
        self._one_way_delay = one_way_delay
        self._sending = {
            peer: _SendingLink(party, peer, outgoing, one_way_delay) for peer, (outgoing, _) in links.items()
        }
        self._receiving = {
            peer: _ReceivingLink(party, peer, incoming, max_message_bytes)
            for peer, (_, incoming) in links.items()
        }
        self._bytes_sent = 0
        self._messages_sent = 0
        self._closed = False

    @classmethod
    def connect(
        cls,
        *,
        party: int,
        identity: NodeIdentity,
        peers: Mapping[int, Peer],
        session_id: str | bytes,
        listener: socket.socket | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        one_way_delay: float = 0.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> TlsTransport:
        """Open authenticated links to every peer and return the transport.

        Dials the peers that have an address and accepts, on ``listener``, the
        peers that have none (they dial us). ``listener`` is consumed: it is
        closed once set-up ends. Set-up fails as a whole within
        ``connect_timeout`` seconds: ``PeerAuthenticationFailed`` if a key does
        not match its pin, ``SessionMismatch`` if a peer serves another
        session, ``PeerTimeout`` if a peer does not show up.
        """
        try:
            _check_connect_arguments(party, peers, timeout, connect_timeout, one_way_delay, max_message_bytes)
            session = session_id_bytes(session_id)
            connections = _open_connections(
                identity, party, peers, session, listener, time.monotonic() + connect_timeout
            )
        finally:
            if listener is not None:
                listener.close()
        links = {}
        for peer, description in peers.items():
            we_dial = description.address is not None
            ours = Direction.DIALER_SENDS if we_dial else Direction.LISTENER_SENDS
            theirs = Direction.LISTENER_SENDS if we_dial else Direction.DIALER_SENDS
            links[peer] = (connections[(peer, ours)], connections[(peer, theirs)])
        return cls(
            party=party, session_id=session, links=links, timeout=timeout,
            one_way_delay=one_way_delay, max_message_bytes=max_message_bytes,
        )

    def __repr__(self) -> str:
        return (
            f"TlsTransport(party={self.party}, peers={sorted(self._sending)}, "
            f"session={describe_session(self.session_id)}{', closed' if self._closed else ''})"
        )

    @property
    def peers(self) -> list[int]:
        """The parties this transport has links to."""
        return sorted(self._sending)

    @property
    def bytes_sent(self) -> int:
        """Payload bytes (array contents) sent from this end so far."""
        return self._bytes_sent

    @property
    def messages_sent(self) -> int:
        """Messages sent from this end so far."""
        return self._messages_sent

    def cipher_suite(self, peer: int) -> str:
        """Return the TLS 1.3 cipher suite negotiated on the link with ``peer``."""
        suite, _, _ = self._sending_link(peer).connection.cipher()
        return suite

    def send(self, peer: int, arrays: Sequence[np.ndarray]) -> None:
        """Queue one message of arrays for ``peer``; the arrays become read-only.

        The writer thread sends and hashes them later, so a change after
        ``send`` would reach the peer or the transcript half-made: freezing
        them turns that mistake into an immediate error, as the in-process
        transport does.
        """
        link = self._sending_link(peer)
        if link.failure is not None:
            raise link.failure
        prepared = prepare_arrays(arrays)
        for array in prepared:
            array.flags.writeable = False
        link.put(FrameKind.DATA, prepared)
        self._bytes_sent += sum(array.nbytes for array in prepared)
        self._messages_sent += 1

    def recv(self, peer: int) -> list[np.ndarray]:
        """Return the next message from ``peer``, waiting at most ``timeout`` seconds.

        The arrays are read-only, as the in-process transport's are, so code
        that writes to a received array fails the same way over both.
        """
        link = self._receiving_link(peer)
        kind, content = self._next_event(link, f"message #{link.consumed + 1}")
        if kind is not _Event.MESSAGE:
            raise self._unexpected(link, kind, content, f"message #{link.consumed + 1}")
        arrays, link.consumed_digest = content
        link.consumed += 1
        for array in arrays:
            array.flags.writeable = False
        return arrays

    def transcript(self, peer: int) -> bytes:
        """Return the 32-byte transcript of the link with ``peer``: every message sent, every one consumed.

        Waits (at most ``timeout``) until the writer has sent everything queued.
        """
        sending = self._sending_link(peer)
        receiving = self._receiving_link(peer)
        if not sending.wait_written(self.timeout):
            raise sending.failure or PeerTimeout(
                f"party {self.party} could not finish sending to party {peer} within {self.timeout} s "
                "to compute the link transcript; the peer is not reading"
            )
        return link_digest(self.party, peer, sending.sent_digest(), receiving.consumed_digest)

    def verify_transcripts(self) -> dict[int, bytes]:
        """Exchange link transcripts with every peer; return them, or raise ``TranscriptMismatch``.

        Call at the same point of the protocol at every party (typically the
        end). Both ends of a link raise if they saw different bytes, including
        when one end did not consume every message the other sent.
        """
        digests = {peer: self.transcript(peer) for peer in self.peers}
        for peer, digest in digests.items():
            self._sending[peer].put(FrameKind.TRANSCRIPT, digest)
        for peer, digest in digests.items():
            link = self._receiving[peer]
            kind, content = self._next_event(link, "the peer's transcript")
            if kind is _Event.MESSAGE:
                raise TranscriptMismatch(
                    f"party {peer} sent party {self.party} at least {link.consumed + 1} messages on "
                    f"session {describe_session(self.session_id)}, but party {self.party} consumed only "
                    f"{link.consumed}: the two ends ran different protocols"
                )
            if kind is not _Event.TRANSCRIPT:
                raise self._unexpected(link, kind, content, "the peer's transcript")
            if content != digest:
                raise TranscriptMismatch(
                    f"the link between parties {self.party} and {peer} of session "
                    f"{describe_session(self.session_id)} has transcript {digest.hex()} at party "
                    f"{self.party} but {content.hex()} at party {peer}: the two ends saw different messages"
                )
        return digests

    def agree_on_link_digests(self) -> dict[tuple[int, int], bytes]:
        """Tell every peer the transcripts of all this end's links; return every link's, agreed by all.

        Keys are party pairs ``(low, high)``. Each party sends each peer the
        digests of all its links, so with three parties every link's digest
        reaches every party from both of the link's ends (directly or
        relayed): a link reported differently anywhere raises
        ``TranscriptMismatch`` naming the link and who reported what. Call at
        the same point at every party, as :meth:`verify_transcripts`.
        """
        own = {_link_key(self.party, peer): self.transcript(peer) for peer in self.peers}
        body = b"".join(_LINK_ENTRY.pack(*pair) + digest for pair, digest in sorted(own.items()))
        for peer in self.peers:
            self._sending[peer].put(FrameKind.TRANSCRIPT, body)
        agreed = dict(own)
        reporter = {pair: self.party for pair in own}
        for peer in self.peers:
            link = self._receiving[peer]
            kind, content = self._next_event(link, "the peer's link transcripts")
            if kind is _Event.MESSAGE:
                raise TranscriptMismatch(
                    f"party {peer} sent party {self.party} at least {link.consumed + 1} messages on "
                    f"session {describe_session(self.session_id)}, but party {self.party} consumed only "
                    f"{link.consumed}: the two ends ran different protocols"
                )
            if kind is not _Event.TRANSCRIPT:
                raise self._unexpected(link, kind, content, "the peer's link transcripts")
            reports = _parse_link_digests(content, peer)
            if _link_key(self.party, peer) not in reports:
                raise TranscriptMismatch(
                    f"party {peer} reported no transcript for its link with party {self.party} on session "
                    f"{describe_session(self.session_id)} (it reported links {sorted(reports)})"
                )
            for pair, digest in reports.items():
                known = agreed.setdefault(pair, digest)
                reporter.setdefault(pair, peer)
                if known != digest:
                    raise TranscriptMismatch(
                        f"the link between parties {pair[0]} and {pair[1]} of session "
                        f"{describe_session(self.session_id)} has transcript {known.hex()} according to "
                        f"party {reporter[pair]} but {digest.hex()} according to party {peer}: its ends saw "
                        "different messages"
                    )
        return agreed

    def close(self) -> None:
        """Deliver what is queued, tell every peer we are done, release the links.

        Later calls raise ``TransportError``. Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        for link in self._sending.values():
            link.put(FrameKind.CLOSE, b"")
        self._release(_CLOSE_GRACE_SECONDS + self._one_way_delay)

    def abort(self, reason: str) -> None:
        """Drop queued messages, tell every peer we abort (with ``reason``), release the links.

        ``reason`` reaches the peers, so it must not carry secrets; pass an
        exception's type name, not its message.
        """
        if self._closed:
            return
        self._closed = True
        body = reason.encode("utf-8")[:_ABORT_REASON_BYTES]
        for link in self._sending.values():
            link.discard_queued_data()
            link.put(FrameKind.ABORT, body)
        self._release(_ABORT_GRACE_SECONDS + self._one_way_delay)

    def __enter__(self) -> TlsTransport:
        return self

    def __exit__(self, exception_type, exception, traceback) -> None:
        if exception_type is None:
            self.close()
        else:
            self.abort(exception_type.__name__)

    def _release(self, grace_seconds: float) -> None:
        deadline = time.monotonic() + grace_seconds
        for link in self._sending.values():
            link.wait_written(max(0.0, deadline - time.monotonic()))
        # Shut the sockets down at the TCP level (not through the TLS object,
        # which the reader or a stuck writer may be using): blocked reads and
        # writes in those threads return, and the threads end.
        links = [*self._sending.values(), *self._receiving.values()]
        for link in links:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(link.connection, socket.SHUT_RDWR)
        for link in links:
            link.join(grace_seconds)
            # Closing a TLS object another thread still uses could crash OpenSSL;
            # a thread that outlived the shutdown keeps its connection.
            if not link.is_alive():
                link.connection.close()

    def _sending_link(self, peer: int) -> _SendingLink:
        self._check_open()
        try:
            return self._sending[peer]
        except KeyError:
            raise InputError(f"party {self.party} has no link to party {peer}; its peers are {self.peers}") from None

    def _receiving_link(self, peer: int) -> _ReceivingLink:
        self._check_open()
        try:
            return self._receiving[peer]
        except KeyError:
            raise InputError(f"party {self.party} has no link to party {peer}; its peers are {self.peers}") from None

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"the transport of party {self.party} is closed")

    def _next_event(self, link: _ReceivingLink, awaited: str) -> tuple[_Event, object]:
        if link.terminal is not None:
            return link.terminal
        try:
            kind, content = link.events.get(timeout=self.timeout)
        except queue.Empty:
            raise PeerTimeout(
                f"party {self.party} waited {self.timeout:g} s for {awaited} from party {link.peer} "
                f"(session {describe_session(self.session_id)}) and nothing arrived; the peer is "
                "stalled, or slower than the timeout (raise `timeout` if its local work is that long)"
            ) from None
        if kind in (_Event.CLOSED, _Event.ABORTED, _Event.FAILED):
            link.terminal = (kind, content)
        return kind, content

    def _unexpected(self, link: _ReceivingLink, kind: _Event, content, awaited: str) -> TransportError:
        where = f"party {self.party} awaited {awaited} from party {link.peer}"
        if kind is _Event.CLOSED:
            return TransportError(f"{where}, but the peer closed the link after {link.consumed} messages")
        if kind is _Event.ABORTED:
            return TransportError(f"{where}, but the peer aborted the session: {content}")
        if kind is _Event.FAILED:
            return TransportError(f"{where}, but the link failed: {type(content).__name__}: {content}")
        if kind is _Event.TRANSCRIPT:
            return TranscriptMismatch(
                f"{where}, but the peer is already comparing transcripts after "
                f"{link.consumed} messages: the two ends ran different protocols"
            )
        return TransportError(f"{where}, but received {kind.value}")


def _link_key(party: int, peer: int) -> tuple[int, int]:
    return (party, peer) if party < peer else (peer, party)


def _parse_link_digests(body: bytes, peer: int) -> dict[tuple[int, int], bytes]:
    entry = _LINK_ENTRY.size + DIGEST_BYTES
    if not body or len(body) % entry:
        raise TranscriptMismatch(
            f"party {peer} sent a link transcript report of {len(body)} bytes, not a list of "
            f"{entry}-byte entries: it compares transcripts another way (verify_transcripts?)"
        )
    reports = {}
    for offset in range(0, len(body), entry):
        low, high = _LINK_ENTRY.unpack_from(body, offset)
        if not low < high or (low, high) in reports:
            raise TranscriptMismatch(f"party {peer} sent a malformed link transcript report (link {low}-{high})")
        reports[(low, high)] = body[offset + _LINK_ENTRY.size : offset + entry]
    return reports


def _check_connect_arguments(
    party, peers, timeout, connect_timeout, one_way_delay, max_message_bytes
) -> None:
    if not isinstance(party, int) or not 0 <= party <= MAX_PARTY:
        raise InputError(f"party must be an integer in 0..{MAX_PARTY}, got {party!r}")
    if not peers:
        raise InputError(f"party {party} needs at least one peer to talk to")
    for peer, description in peers.items():
        if not isinstance(peer, int) or not 0 <= peer <= MAX_PARTY or peer == party:
            raise InputError(
                f"peer numbers must be integers in 0..{MAX_PARTY} other than this party ({party}); got {peer!r}"
            )
        if not isinstance(description, Peer):
            raise InputError(f"peers[{peer}] must be a Peer(fingerprint, address), got {description!r}")
    check_seconds("timeout", timeout)
    check_seconds("connect_timeout", connect_timeout)
    if not 0 <= one_way_delay <= 60:
        raise InputError(f"one_way_delay must be 0..60 seconds, got {one_way_delay!r}")
    if not isinstance(max_message_bytes, int) or max_message_bytes <= 0:
        raise InputError(f"max_message_bytes must be a positive integer, got {max_message_bytes!r}")


def _open_connections(
    identity: NodeIdentity,
    party: int,
    peers: Mapping[int, Peer],
    session: bytes,
    listener: socket.socket | None,
    deadline: float,
) -> dict[tuple[int, Direction], ssl.SSLSocket]:
    """Dial the peers with an address and accept the others, two connections each; all or nothing."""
    dialers = {peer: description.fingerprint for peer, description in peers.items() if description.address is None}
    if dialers and listener is None:
        raise InputError(
            f"parties {sorted(dialers)} have no address, so they dial party {party}, which then "
            "needs a listening socket: pass listener=bind_listener(host, port)"
        )
    # Accept in the background while dialing: peers dial us while we dial them.
    acceptor = (
        Acceptor(listener, identity, party=party, dialers=dialers, session_id=session, deadline=deadline)
        if dialers
        else None
    )
    connections: dict[tuple[int, Direction], ssl.SSLSocket] = {}
    try:
        context = client_context(identity)
        for peer, description in sorted(peers.items()):
            if description.address is None:
                continue
            for direction in Direction:
                target = DialTarget(party, peer, description.fingerprint, description.address, session, direction)
                connections[(peer, direction)] = dial(identity, context, target, deadline)
        if acceptor is not None:
            connections.update(acceptor.result())
    except BaseException:
        if acceptor is not None:
            acceptor.cancel()
        for connection in connections.values():
            connection.close()
        raise
    return connections


def check_seconds(name: str, value: float) -> float:
    """Return ``value`` as float if it is a positive number of seconds; ``InputError`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InputError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)

