"""Service exchanges: one request and one reply between a member and a node, over pinned TLS.

A data owner delivering its input shares for a job, a requester delivering
its private inputs or fetching its result: each is one *exchange* on one
TLS connection to the node's port (``router.NodeListener`` admits the
caller and routes the connection here by its service hello)::

    caller → node   DATA frame: [metadata JSON as uint8] + arrays
    node → caller   DATA frame: [reply JSON as uint8] + arrays
                    reply JSON: {"status": "ok", "metadata": {...}}
                             or {"status": "error", "type": "PolicyViolation", "message": "..."}
    node → caller   TRANSCRIPT frame: the exchange's link transcript at the node
    caller → node   TRANSCRIPT frame: the same at the caller, once it has checked the node's

Frames are those of the MPC links (``framing.py``), so arrays keep their
dtypes and shapes and travel without copies. The transcript is the link
transcript of ``transcript.py`` with the caller as party 0 and the node as
party 1, over everything exchanged (metadata included); the caller gets it
in :class:`ServiceReply`, the node logs it.

A handler refuses by raising. An Unseen error reaches the caller with its
type and message (:class:`~offchain.errors.ServiceRefused`, ``remote_type``
naming the type): those messages are written for the caller. Any other
exception reaches it by type name only, since its message may hold data; the
node logs the traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import socket
import ssl
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
    ReplyStatus,
    ServiceHello,
    check_job_id,
    check_service_name,
    client_context,
    describe_error,
    open_pinned_connection,
    read_reply_after_handshake,
    send_service_hello,
    with_retries,
)
from offchain.net.identity import NodeIdentity, parse_fingerprint
from offchain.net.tls import DEFAULT_MAX_MESSAGE_BYTES, check_seconds, parse_address
from offchain.net.transcript import link_digest, new_direction_hash, update_with_message

logger = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any], list[np.ndarray]], tuple[dict[str, Any], Sequence[np.ndarray]]]

DEFAULT_SERVICE_TIMEOUT_SECONDS = 60.0
MAX_METADATA_BYTES = 1 << 20
# Longer handler error messages are cut before they are sent.
_MAX_ERROR_MESSAGE_CHARS = 4000
# Messages at least this large are hashed alongside sending rather than after it.
_HASH_ALONGSIDE_BYTES = 1 << 20
_INTERNAL_ERROR = "the node failed while serving the request; its log has the details"
# In an exchange's link transcript the caller is party 0 and the node party 1.
_CALLER, _NODE = 0, 1


@dataclass
class ServiceReply:
    """A service's answer: its metadata and read-only arrays, and the exchange's 32-byte link transcript.

    Unpacks as ``metadata, arrays = call_service(...)``.
    """

    metadata: dict[str, Any]
    arrays: list[np.ndarray]
    transcript: bytes = field(repr=False)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.metadata, self.arrays))


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
    """Send one request to service ``name`` of the node at ``endpoint`` about ``job_id``; return its reply.

    The node's key must be ``pinned_fingerprint`` (as registered on chain);
    ours must be an active member's there. Connecting is retried until the
    deadline (the node may be restarting); the request is sent once. The
    whole call takes at most ``timeout`` seconds. Raises ``ServiceRefused``
    when the handler refuses or the node offers no such service,
    ``PeerAuthenticationFailed`` when a key is refused at either end,
    ``PeerTimeout`` past the deadline, ``TransportError`` when the connection
    breaks, ``TranscriptMismatch`` if the two ends saw different bytes.
    """
    deadline = time.monotonic() + check_seconds("timeout", timeout)
    check_service_name(name)
    check_job_id(job_id)
    address = parse_address(endpoint)
    pinned = parse_fingerprint(pinned_fingerprint)
    request_metadata = dict(metadata or {})
    if "job_id" in request_metadata and request_metadata["job_id"] != job_id:
        raise InputError(
            f"metadata job_id {request_metadata['job_id']!r} differs from job_id {job_id}; the node "
            "sets job_id in the metadata its handler sees, so leave it out"
        )
    request = [metadata_array(request_metadata), *prepare_arrays(arrays)]
    where = f"the node at {address[0]}:{address[1]}"
    context = client_context(identity)
    tls = with_retries(
        lambda step: _open_exchange(identity, context, address, pinned, name, job_id, step, where),
        deadline,
        lambda attempts, last_error, _: PeerTimeout(
            f"could not reach service {name!r} at {where} in {attempts} attempts within {timeout:g} s "
            f"(last error: {describe_error(last_error)}); check that the node runs and that its "
            "registered endpoint is right"
        ),
    )
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        with contextlib.suppress(OSError):
            socket.socket.shutdown(tls, socket.SHUT_RDWR)

    # One deadline for the whole exchange, however slowly the node answers or trickles bytes.
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    watchdog.daemon = True
    watchdog.start()
    sent, received = new_direction_hash(), new_direction_hash()
    try:
        tls.settimeout(None)
        _send_hashing(tls, request, sent)
        frame = read_frame(tls, max_message_bytes=max_reply_bytes, transcript=received)
        if frame.kind is not FrameKind.DATA:
            raise TransportError(f"{where} answered {name!r} with a {frame.kind.name} frame instead of a reply")
        envelope, reply_arrays = split_message(frame.arrays, "reply")
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
                f"service {name!r} at {where} did not complete job {job_id}'s exchange within {timeout:g} s"
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
        raise TransportError(f"{where} answered {name!r} with a malformed reply (status {status!r})")
    return ServiceReply(envelope["metadata"], reply_arrays, digest)


def _open_exchange(
    identity: NodeIdentity,
    context: ssl.SSLContext,
    address: tuple[str, int],
    pinned: bytes,
    name: str,
    job_id: int,
    step_timeout: float,
    where: str,
) -> ssl.SSLSocket:
    """One attempt: connect, authenticate both ways, and have the node accept the service hello."""
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


@dataclass(frozen=True)
class Exchange:
    """A served exchange as the node saw it.

    ``outcome`` is ``"ok"`` or the handler's error type; ``confirmed`` says
    whether the caller sent back the same transcript (``False`` if it sent
    another or none).
    """

    service: str
    job_id: int
    member: str
    outcome: str
    transcript: bytes = field(repr=False)
    confirmed: bool


def answer_request(
    tls: ssl.SSLSocket,
    hello: ServiceHello,
    member: str,
    handler: Handler,
    *,
    max_request_bytes: int,
    io_timeout: float,
) -> Exchange:
    """Serve one exchange on an accepted connection and describe it.

    Reads the request (each read bounded by ``io_timeout``), runs ``handler``
    in this thread, sends its reply and this end's transcript, and waits for
    the caller's. Raises ``TransportError`` (an ``OSError``) if the request is
    malformed or the connection breaks before the reply is sent.
    """
    tls.settimeout(io_timeout)
    received, sent = new_direction_hash(), new_direction_hash()
    started = time.perf_counter()
    frame = read_frame(tls, max_message_bytes=max_request_bytes, transcript=received)
    if frame.kind is not FrameKind.DATA:
        raise TransportError(f"expected a request, got a {frame.kind.name} frame")
    metadata, arrays = split_message(frame.arrays, "request")
    envelope, handler_arrays = _run_handler(handler, hello, member, metadata, arrays)
    reply = [metadata_array(envelope), *handler_arrays]
    _send_hashing(tls, reply, sent)
    digest = link_digest(_NODE, _CALLER, sent.digest(), received.digest())
    tls.sendall(control_frame(FrameKind.TRANSCRIPT, digest))
    outcome = envelope["status"] if envelope["status"] == "ok" else envelope["type"]
    exchange = Exchange(hello.name, hello.job_id, member, outcome, digest, confirmed=False)
    try:
        confirmation = read_frame(tls, max_message_bytes=0)
    except OSError as error:
        # The reply went out; the caller may have given up just now.
        logger.warning(
            "service %s, job %d, member %s: %s, but no transcript confirmation (%s)",
            hello.name, hello.job_id, member, outcome, error,
        )
        return exchange
    if confirmation.kind is not FrameKind.TRANSCRIPT or confirmation.body != digest:
        logger.error(
            "service %s, job %d, member %s: the caller saw a different exchange (transcript %s here, %s there)",
            hello.name, hello.job_id, member, digest.hex(), confirmation.body.hex() or confirmation.kind.name,
        )
        return exchange
    logger.info(
        "service %s, job %d, member %s: %s in %.3f s, transcript %s",
        hello.name, hello.job_id, member, outcome, time.perf_counter() - started, digest.hex(),
    )
    return dataclasses.replace(exchange, confirmed=True)


def _run_handler(
    handler: Handler, hello: ServiceHello, member: str, metadata: dict[str, Any], arrays: list[np.ndarray]
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
            raise TypeError(
                f"the handler of {hello.name!r} returned {type(answer).__name__}, not (dict, arrays)"
            )
        envelope = {"status": "ok", "metadata": answer[0]}
        reply_arrays = prepare_arrays(answer[1])
        metadata_array(envelope)  # JSON and small enough, or this becomes an error reply
        return envelope, reply_arrays
    except UnseenError as error:
        logger.info(
            "service %s, job %d, member %s refused: %s: %s",
            hello.name, hello.job_id, member, type(error).__name__, error,
        )
        error_type, message = type(error).__name__, str(error)[:_MAX_ERROR_MESSAGE_CHARS]
    except Exception as error:  # noqa: BLE001 - the caller gets the type, the log the rest
        logger.exception("service %s, job %d, member %s failed", hello.name, hello.job_id, member)
        error_type, message = type(error).__name__, _INTERNAL_ERROR
    return {"status": "error", "type": error_type, "message": message}, []


def _send_hashing(tls: ssl.SSLSocket, arrays: list[np.ndarray], state) -> None:
    """Send ``arrays`` as a DATA frame and feed them into the transcript ``state``.

    Large messages are hashed in another thread while TLS encrypts and sends
    them (SHA-256 and OpenSSL both release the GIL), so hashing adds no time
    on a machine with a core to spare.
    """
    if sum(array.nbytes for array in arrays) < _HASH_ALONGSIDE_BYTES:
        write_segments(tls, data_frame_segments(arrays)[0])
        update_with_message(state, arrays)
        return
    hasher = threading.Thread(target=update_with_message, args=(state, arrays), name="unseen-service-hash")
    hasher.start()
    try:
        write_segments(tls, data_frame_segments(arrays)[0])
    finally:
        hasher.join()


def metadata_array(metadata: Mapping[str, Any]) -> np.ndarray:
    """Encode a JSON object as the uint8 array that opens a service message."""
    if not isinstance(metadata, Mapping):
        raise InputError(f"service metadata is a JSON object (a dict), got {type(metadata).__name__}")
    try:
        text = json.dumps(dict(metadata), allow_nan=False, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as error:
        raise InputError(
            f"service metadata must be plain JSON (str, int, float, bool, None, lists, dicts): {error}; "
            "send bytes as hex strings and bulk data as arrays"
        ) from None
    raw = text.encode("utf-8")
    if len(raw) > MAX_METADATA_BYTES:
        raise InputError(
            f"service metadata is {len(raw)} bytes of JSON, above {MAX_METADATA_BYTES}; send bulk data as arrays"
        )
    return np.frombuffer(raw, dtype=np.uint8)


def split_message(arrays: list[np.ndarray] | None, what: str) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Split a service message into its JSON object and its (read-only) arrays; ``TransportError`` if malformed."""
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
