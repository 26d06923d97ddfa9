"""ECDH-PSI between two members over a Transport (Meadows 1986; Huberman–Franklin–Hogg 1999).

Each side holds a set; X (here) and Y (the peer). With secret X25519 scalars
a (here) and b (peer) and H the hash to Curve25519 of ``curve.py``:

1. Both sides deduplicate their keys and shuffle the distinct keys with a
   fresh secret permutation, so the order of everything sent is random.
2. HELLO: both exchange protocol version, what is revealed to whom, their
   number of distinct keys and batch size; any disagreement aborts both.
3. BLINDED: each side streams ``H(x)^a`` for its keys, in batches.
4. Each side raises every peer batch to its own scalar, ``(H(y)^b)^a``.
   If the peer is a receiver, the first 16 bytes of each result go back
   (RETURNED): in the peer's order when the intersection is revealed, so the
   peer can map them to its keys, or after one shuffle of the whole set when
   only the cardinality is, so it cannot. A receiver keeps its own copy.
5. A receiver matches the returned ``H(x)^{ab}`` tags against the
   ``H(y)^{ba}`` tags it computed; 128-bit tags collide with probability
   below n·m/2**128.

The elliptic-curve work (steps 3 and 4) runs on a process pool in batches as
messages arrive, so both sides compute and transfer at the same time and
memory beyond the O(n) results stays bounded by the batches in flight.

Leakage (semi-honest, DDH in the prime-order subgroup, H a random oracle):
each side learns the other's number of distinct keys; a receiver learns the
intersection (or only its size) and nothing else; a non-receiver learns
nothing more. See docs/PSI.md.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Executor, Future

import numpy as np

from offchain.errors import InputError, PeerTimeout, PsiProtocolError, UnseenError
from offchain.mpc.transport import Transport
from offchain.psi import curve
from offchain.psi.encoding import ENCODING_VERSION, EncodedKeys, encode_keys
from offchain.psi.matching import TAG_BYTES, match_tags, rows_by_group, tags_from_bytes
from offchain.psi.pool import default_workers, make_executor
from offchain.psi.result import PsiResult, Reveal, select_values
from offchain.psi.shuffle import secure_permutation

PROTOCOL_VERSION = 1
DEFAULT_BATCH_SIZE = 4096
MAX_BATCH_SIZE = 1 << 20
MAX_SET_SIZE = 1 << 31  # distinct keys a peer may announce (16 bytes of tags each)
INLINE_BELOW = 8192  # distinct keys; below this the default runs the curve work inline

KIND_HELLO = 1
KIND_BLINDED = 2
KIND_RETURNED = 3
_OWN_BATCH = 0  # marks completed work on our own batch in the event queue
_KIND_NAMES = {KIND_HELLO: "HELLO", KIND_BLINDED: "BLINDED", KIND_RETURNED: "RETURNED"}


def ecdh_psi(
    transport: Transport,
    peer: int,
    keys: Iterable[object] | np.ndarray | EncodedKeys,
    *,
    reveal: Reveal = Reveal.INTERSECTION,
    receivers: Iterable[int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    executor: Executor | None = None,
) -> PsiResult:
    """Run ECDH-PSI with ``peer`` over ``transport`` and return this side's result.

    Both sides call this with the same ``reveal`` and ``receivers`` (party
    numbers; default both). ``keys`` is one key per row (see encoding.py);
    duplicates are allowed and removed before the protocol. ``workers``
    processes do the curve work (None: one per core, or inline below
    ``INLINE_BELOW`` distinct keys; 0: inline); pass an
    ``executor`` (with ``workers`` set to its size) to reuse a pool across runs.
    """
    me = transport.party
    receivers = frozenset((me, peer) if receivers is None else receivers)
    if peer == me:
        raise InputError(f"peer must differ from this party ({me})")
    if not receivers or not receivers <= {me, peer}:
        raise InputError(
            f"receivers must be a non-empty subset of the two parties {{{me}, {peer}}}, "
            f"got {sorted(receivers)}"
        )
    if not isinstance(reveal, Reveal):
        raise InputError(f"reveal must be a Reveal, got {reveal!r}")
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InputError(f"batch_size must be in [1, {MAX_BATCH_SIZE}], got {batch_size}")
    if not isinstance(keys, np.ndarray | EncodedKeys) and not hasattr(keys, "__getitem__"):
        keys = list(keys)

    started = time.perf_counter()
    encoded = encode_keys(keys)
    distinct, inverse = encoded.distinct()
    shuffle = secure_permutation(len(distinct))
    shuffled = distinct.take(shuffle).as_list()

    own_executor = executor is None
    if own_executor:
        if workers is None and len(distinct) < INLINE_BELOW:
            workers = 0  # starting worker processes would cost more than the curve work
        executor = make_executor(workers)
    parallelism = max(1, workers if workers is not None else default_workers())
    try:
        run = _EcdhRun(
            transport, peer, shuffled, reveal, receivers, batch_size, executor, parallelism
        )
        own_tags, peer_tags = run.execute()
    finally:
        if own_executor:
            executor.shutdown(wait=True, cancel_futures=True)

    stats = {
        "seconds": time.perf_counter() - started,
        "bytes_sent": run.bytes_sent,
        "messages_sent": run.messages_sent,
    }
    if me not in receivers:
        return PsiResult(own_size=len(distinct), peer_size=run.peer_size, stats=stats)
    own_positions, _ = match_tags(own_tags, peer_tags)
    if reveal is Reveal.CARDINALITY:
        return PsiResult(
            own_size=len(distinct),
            peer_size=run.peer_size,
            cardinality=len(own_positions),
            stats=stats,
        )
    common_keys = shuffle[own_positions]
    rows, offsets = rows_by_group(inverse, common_keys)
    first_rows = rows[offsets[:-1]]
    return PsiResult(
        own_size=len(distinct),
        peer_size=run.peer_size,
        cardinality=len(common_keys),
        intersection=select_values(keys, first_rows) if not isinstance(keys, EncodedKeys) else None,
        first_rows=first_rows,
        rows=rows,
        row_offsets=offsets,
        stats=stats,
    )


def _batch_bounds(count: int, batch_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


class _EcdhRun:
    """The message loop of one side: schedules curve work and streams batches."""

    def __init__(
        self, transport, peer, shuffled, reveal, receivers, batch_size, executor, parallelism
    ) -> None:
        self.transport = transport
        self.peer = peer
        self.me = transport.party
        self.own = shuffled
        self.reveal = reveal
        self.i_receive = self.me in receivers
        self.peer_receives = peer in receivers
        self.receivers_mask = sum(1 << party for party in receivers)
        self.batch_size = batch_size
        self.executor = executor
        self.parallelism = parallelism
        self.scalar = curve.random_scalar()
        self.events: queue.Queue = queue.Queue()
        self.bytes_sent = 0
        self.messages_sent = 0
        self.peer_size = 0

    def _send(self, arrays: list[np.ndarray]) -> None:
        self.transport.send(self.peer, arrays)
        self.bytes_sent += sum(array.nbytes for array in arrays)
        self.messages_sent += 1

    def _hello(self) -> None:
        mine = np.array(
            [
                PROTOCOL_VERSION,
                ENCODING_VERSION,
                self.reveal.value,
                self.receivers_mask,
                len(self.own),
                self.batch_size,
            ],
            dtype=np.int64,
        )
        self._send([np.array([KIND_HELLO, 0, 0], dtype=np.int64), mine])
        message = self.transport.recv(self.peer)
        if len(message) != 2 or message[0].shape != (3,) or int(message[0][0]) != KIND_HELLO:
            raise PsiProtocolError(f"party {self.peer} did not open with a PSI HELLO message")
        theirs = message[1]
        if theirs.shape != (6,) or theirs.dtype != np.int64:
            raise PsiProtocolError(f"malformed HELLO from party {self.peer}: {theirs!r}")
        names = ("protocol version", "key encoding version", "reveal", "receivers")
        for name, own_value, peer_value in zip(
            names, mine[:4].tolist(), theirs[:4].tolist(), strict=True
        ):
            if own_value != peer_value:
                raise PsiProtocolError(
                    f"party {self.peer} runs PSI with {name} {peer_value}, this party with "
                    f"{own_value}; both sides must pass the same reveal and receivers"
                )
        self.peer_size = int(theirs[4])
        self.peer_batch_size = int(theirs[5])
        if (
            not 0 <= self.peer_size <= MAX_SET_SIZE
            or not 1 <= self.peer_batch_size <= MAX_BATCH_SIZE
        ):
            raise PsiProtocolError(f"party {self.peer} announced invalid sizes {theirs.tolist()}")

    def _receive_loop(self, expected: int) -> None:
        try:
            for _ in range(expected):
                self.events.put(("message", self.transport.recv(self.peer)))
        except BaseException as error:  # noqa: BLE001 - re-raised in the main loop
            self.events.put(("error", error))

    def _check_batch(self, message, kind_expected_bounds) -> tuple[int, int, np.ndarray]:
        if len(message) != 2 or message[0].dtype != np.int64 or message[0].shape != (3,):
            raise PsiProtocolError(f"malformed PSI message from party {self.peer}")
        kind, sequence, count = (int(v) for v in message[0])
        bounds = kind_expected_bounds.get(kind)
        if bounds is None:
            raise PsiProtocolError(f"unexpected message kind {kind} from party {self.peer}")
        width = curve.POINT_BYTES if kind == KIND_BLINDED else TAG_BYTES
        if not 0 <= sequence < len(bounds) or count != bounds[sequence][1] - bounds[sequence][0]:
            raise PsiProtocolError(
                f"party {self.peer} sent {_KIND_NAMES[kind]} batch {sequence} of {count} elements; "
                f"expected one of {len(bounds)} batches"
            )
        payload = message[1]
        if payload.dtype != np.uint8 or payload.shape != (count, width):
            raise PsiProtocolError(
                f"party {self.peer} sent a {_KIND_NAMES[kind]} payload of {payload.dtype} "
                f"{payload.shape}, expected uint8 ({count}, {width})"
            )
        return kind, sequence, payload

    def execute(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        self._hello()
        own_bounds = _batch_bounds(len(self.own), self.batch_size)
        peer_bounds = _batch_bounds(self.peer_size, self.peer_batch_size)
        # RETURNED batches for our own set come in our batch layout.
        expected_kinds = {KIND_BLINDED: peer_bounds}
        if self.i_receive:
            expected_kinds[KIND_RETURNED] = own_bounds
        expected_messages = len(peer_bounds) + (len(own_bounds) if self.i_receive else 0)
        receiver = threading.Thread(
            target=self._receive_loop, args=(expected_messages,), name="psi-recv", daemon=True
        )
        receiver.start()

        own_tags = np.zeros((len(self.own), 2), np.uint64) if self.i_receive else None
        peer_tags = np.zeros((self.peer_size, 2), np.uint64) if self.i_receive else None
        shuffle_returns = self.peer_receives and self.reveal is Reveal.CARDINALITY
        pending_returns = (
            np.zeros((self.peer_size, TAG_BYTES), np.uint8) if shuffle_returns else None
        )
        # Two batches per worker keep every worker busy while results travel.
        limit = 2 * self.parallelism + 1
        peer_batches: deque = deque()
        in_flight = 0
        next_own = 0
        blinded_sent = 0
        reblinded = 0
        returned_received = 0
        prefer_peer = False

        def on_done(future: Future, kind: int, sequence: int) -> None:
            self.events.put(("done", (future, kind, sequence)))

        while True:
            while in_flight < limit:
                take_peer = peer_batches and (prefer_peer or next_own >= len(own_bounds))
                if take_peer:
                    sequence, payload = peer_batches.popleft()
                    future = self.executor.submit(curve.blind, payload.tobytes(), self.scalar)
                    kind = KIND_BLINDED
                elif next_own < len(own_bounds):
                    start, stop = own_bounds[next_own]
                    future = self.executor.submit(
                        curve.hash_and_blind, self.own[start:stop], self.scalar
                    )
                    sequence, kind = next_own, _OWN_BATCH
                    next_own += 1
                else:
                    break
                prefer_peer = not prefer_peer
                in_flight += 1
                future.add_done_callback(lambda f, k=kind, s=sequence: on_done(f, k, s))

            finished = (
                blinded_sent == len(own_bounds)
                and reblinded == len(peer_bounds)
                and (not self.i_receive or returned_received == len(own_bounds))
            )
            if finished:
                break
            try:
                event, value = self.events.get(timeout=max(self.transport.timeout, 1.0) * 4)
            except queue.Empty:
                raise PeerTimeout(
                    f"PSI with party {self.peer} made no progress for "
                    f"{max(self.transport.timeout, 1.0) * 4:.0f} s"
                ) from None
            if event == "error":
                raise value
            if event == "message":
                kind, sequence, payload = self._check_batch(value, expected_kinds)
                if kind == KIND_BLINDED:
                    peer_batches.append((sequence, payload))
                else:
                    start, stop = own_bounds[sequence]
                    own_tags[start:stop] = tags_from_bytes(payload, TAG_BYTES)
                    returned_received += 1
                continue
            future, kind, sequence = value
            in_flight -= 1
            try:
                result = future.result()
            except UnseenError:
                raise
            except Exception as error:
                raise PsiProtocolError(f"curve work failed: {error!r}") from error
            if kind == _OWN_BATCH:
                start, stop = own_bounds[sequence]
                points = np.frombuffer(result, np.uint8).reshape(stop - start, curve.POINT_BYTES)
                self._send([np.array([KIND_BLINDED, sequence, stop - start], np.int64), points])
                blinded_sent += 1
                continue
            start, stop = peer_bounds[sequence]
            doubled = np.frombuffer(result, np.uint8).reshape(stop - start, curve.POINT_BYTES)
            truncated = np.ascontiguousarray(doubled[:, :TAG_BYTES])
            if self.i_receive:
                peer_tags[start:stop] = truncated.view(np.uint64).reshape(-1, 2)
            if self.peer_receives:
                if shuffle_returns:
                    pending_returns[start:stop] = truncated
                else:
                    self._send(
                        [np.array([KIND_RETURNED, sequence, stop - start], np.int64), truncated]
                    )
            reblinded += 1
            if shuffle_returns and reblinded == len(peer_bounds):
                # Cardinality only: one shuffle over the whole set, so no position links back.
                shuffled_returns = pending_returns[secure_permutation(self.peer_size)]
                for index, (start, stop) in enumerate(peer_bounds):
                    self._send(
                        [
                            np.array([KIND_RETURNED, index, stop - start], np.int64),
                            shuffled_returns[start:stop],
                        ]
                    )
        receiver.join(timeout=max(self.transport.timeout, 1.0))
        return own_tags, peer_tags
