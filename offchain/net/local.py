"""Three parties in one process: an in-process ``Transport`` and a thread runner.

:class:`InProcessTransport` implements :class:`offchain.mpc.transport.Transport`
with one FIFO queue per directed link. Arrays are handed over without
copying: a sent array is made read-only (the contract forbids the sender to
modify it, and the receiver reads the same memory), so a violation on either
side fails loudly instead of corrupting data. Link transcripts are those of
:mod:`offchain.net.transcript` (the digests a TLS link computes for the same
messages), with one saving only shared memory allows: each message is hashed
once, by the sender, and the receiver adopts a snapshot of the sender's
running hash taken right after it, since it receives the very same
read-only bytes. ``recv`` raises ``PeerTimeout`` after the
timeout and ``TransportError`` as soon as the peer closes its end, so a
party that fails never leaves the others waiting.

:func:`run_local` runs a program at three parties as threads and returns
their results (:class:`offchain.mpc.program.RunResult`). numpy, AES and
SHA-256 release the GIL on large arrays, so the parties really do run in
parallel on several cores.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from offchain.errors import InputError, PeerTimeout, TransportError
from offchain.mpc.allocator import keep_freed_memory
from offchain.mpc.program import PartyStats, Program, RunResult, run_party
from offchain.mpc.runtime import EngineConfig, new_session_id
from offchain.net.transcript import link_digest, new_direction_hash, update_with_message

DEFAULT_TIMEOUT = 60.0


class _LinkClosed:
    """Marker queued behind a party's last message when it closes its end."""


_CLOSED = _LinkClosed()


class _Switchboard:
    """The queues and running transcript hashes of all directed links among in-process endpoints."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        links = [(a, b) for a in range(parties) for b in range(parties) if a != b]
        self.queues = {link: queue.SimpleQueue() for link in links}
        # One running hash per direction, updated by the sender only.
        self.direction_hashes = {link: new_direction_hash() for link in links}
        self.closed = [False] * parties


class InProcessTransport:
    """One party's end of the in-process links (see module docstring)."""

    def __init__(
        self, party: int, switchboard: _Switchboard, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        if party not in range(switchboard.parties):
            raise InputError(f"party must be in [0, {switchboard.parties}), got {party}")
        if not timeout > 0:
            raise InputError(f"timeout must be positive seconds, got {timeout!r}")
        self.party = party
        self.timeout = float(timeout)
        self._switchboard = switchboard
        self._peers = [peer for peer in range(switchboard.parties) if peer != party]
        # What this end has received from each peer, as of its last recv.
        self._received_hashes = {peer: new_direction_hash() for peer in self._peers}
        self._bytes_sent = 0
        self._messages_sent = 0

    def _check_peer(self, peer: int) -> None:
        if peer not in self._peers:
            raise InputError(
                f"party {self.party} has no link to party {peer}; peers are {self._peers}"
            )
        if self._switchboard.closed[self.party]:
            raise TransportError(f"party {self.party}'s transport is closed")

    def send(self, peer: int, arrays: Sequence[np.ndarray]) -> None:
        """Queue ``arrays`` for ``peer`` without copying (they become read-only); never blocks."""
        self._check_peer(peer)
        if self._switchboard.closed[peer]:
            raise TransportError(
                f"party {self.party} cannot send to party {peer}: party {peer} has closed its links "
                f"(it finished or failed)"
            )
        message = []
        for array in arrays:
            if not isinstance(array, np.ndarray):
                raise InputError(f"messages are lists of numpy arrays, got {type(array).__name__}")
            # The sender must not modify a sent array (the receiver reads the same memory):
            # freezing it turns a violation into an immediate error instead of silent corruption.
            array.flags.writeable = False
            message.append(array.view())
        direction = self._switchboard.direction_hashes[(self.party, peer)]
        update_with_message(direction, message)
        self._bytes_sent += sum(view.nbytes for view in message)
        self._messages_sent += 1
        # The receiver adopts this snapshot of the running hash instead of hashing the
        # same read-only memory a second time.
        self._switchboard.queues[(self.party, peer)].put((message, direction.copy()))

    def recv(self, peer: int) -> list[np.ndarray]:
        """Return the next message from ``peer``; ``PeerTimeout`` after ``timeout`` seconds."""
        self._check_peer(peer)
        link = self._switchboard.queues[(peer, self.party)]
        try:
            item = link.get(timeout=self.timeout)
        except queue.Empty:
            raise PeerTimeout(
                f"party {self.party} waited {self.timeout:g} s for a message from party {peer} and got "
                f"none; party {peer} is stuck, crashed, or running a different protocol"
            ) from None
        if item is _CLOSED:
            link.put(_CLOSED)  # later calls fail the same way
            raise TransportError(
                f"party {peer} closed its link to party {self.party} before sending the message "
                f"party {self.party} is waiting for (party {peer} finished or failed)"
            )
        message, self._received_hashes[peer] = item
        return message

    def transcript(self, peer: int) -> bytes:
        """Return the 32-byte transcript of the link with ``peer`` (valid after close too)."""
        if peer not in self._peers:
            raise InputError(f"party {self.party} has no link to party {peer}")
        sent = self._switchboard.direction_hashes[(self.party, peer)].copy().digest()
        return link_digest(self.party, peer, sent, self._received_hashes[peer].digest())

    @property
    def bytes_sent(self) -> int:
        """Payload bytes sent from this end so far."""
        return self._bytes_sent

    @property
    def messages_sent(self) -> int:
        """Messages sent from this end so far."""
        return self._messages_sent

    def close(self) -> None:
        """Close this end: peers blocked on us wake with ``TransportError``; idempotent."""
        if self._switchboard.closed[self.party]:
            return
        self._switchboard.closed[self.party] = True
        for peer in self._peers:
            self._switchboard.queues[(self.party, peer)].put(_CLOSED)


def connect_in_process(
    parties: int = 3, timeout: float = DEFAULT_TIMEOUT
) -> list[InProcessTransport]:
    """Return ``parties`` connected in-process transports, one per party."""
    if parties < 2:
        raise InputError(f"a link needs at least 2 parties, got {parties}")
    switchboard = _Switchboard(parties)
    return [InProcessTransport(party, switchboard, timeout) for party in range(parties)]


def run_local(
    program: Program,
    *args: Any,
    timeout: float = DEFAULT_TIMEOUT,
    config: EngineConfig | None = None,
    session_id: bytes | None = None,
) -> RunResult:
    """Run ``program(runtime, *args)`` at three parties as threads; return their results.

    ``args`` wrapped in :class:`offchain.mpc.program.PerParty` give each
    party its own value. ``timeout`` bounds every wait for a peer's message.
    If any party raises, its links close, the others fail fast, and the
    first root-cause exception is re-raised here (other parties' errors are
    attached as notes).
    """
    session = session_id if session_id is not None else new_session_id()
    keep_freed_memory()  # before the party threads start, so that they share one arena
    transports = connect_in_process(3, timeout)
    results: list[Any] = [None] * 3
    stats: list[PartyStats | None] = [None] * 3
    failures: list[tuple[float, int, BaseException]] = []

    def party_main(party: int) -> None:
        try:
            results[party], stats[party] = run_party(
                program, transports[party], session, config, args
            )
        except BaseException as error:  # noqa: BLE001 - surfaced in the caller below
            failures.append((time.monotonic(), party, error))
        finally:
            transports[party].close()

    threads = [
        threading.Thread(
            target=party_main, args=(party,), name=f"unseen-party-{party}", daemon=True
        )
        for party in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise root_cause(failures)
    return RunResult(results=tuple(results), stats=tuple(stats))  # type: ignore[arg-type]


def root_cause(failures: list[tuple[float, int, BaseException]]) -> BaseException:
    """Pick the error that caused the others: the first that is not a consequence of a closed link."""
    ordered = sorted(failures, key=lambda failure: failure[0])
    primary = next((f for f in ordered if not isinstance(f[2], TransportError)), ordered[0])
    _, party, error = primary
    error.add_note(f"raised at party {party}")
    for _, other_party, other in ordered:
        if other is not error:
            error.add_note(f"party {other_party} then failed with {type(other).__name__}: {other}")
    return error
