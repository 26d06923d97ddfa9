"""Run PSI parties as threads over an in-process transport (one FIFO per direction)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence

import numpy as np

from offchain.errors import PeerTimeout, TransportError
from offchain.net.transcript import LinkTranscript


class QueueTransport:
    """In-process Transport endpoint: one FIFO per direction, copies nothing."""

    def __init__(self, party: int, inboxes: dict, timeout: float) -> None:
        self.party = party
        self.timeout = timeout
        self._inboxes = inboxes
        self._transcripts = {
            peer: LinkTranscript(party, peer)
            for (sender, receiver) in inboxes
            if receiver == party
            for peer in (sender,)
        }
        self._bytes = 0
        self._messages = 0
        self._closed = False

    def send(self, peer: int, arrays: Sequence[np.ndarray]) -> None:
        if self._closed:
            raise TransportError(f"party {self.party}: transport closed")
        arrays = list(arrays)
        self._transcripts[peer].record_sent(arrays)
        self._bytes += sum(array.nbytes for array in arrays)
        self._messages += 1
        self._inboxes[(self.party, peer)].put(arrays)

    def recv(self, peer: int) -> list[np.ndarray]:
        try:
            arrays = self._inboxes[(peer, self.party)].get(timeout=self.timeout)
        except queue.Empty:
            raise PeerTimeout(
                f"party {self.party}: nothing from party {peer} in {self.timeout} s"
            ) from None
        if arrays is None:
            raise TransportError(f"party {self.party}: party {peer} closed the link")
        self._transcripts[peer].record_received(arrays)
        return arrays

    def transcript(self, peer: int) -> bytes:
        return self._transcripts[peer].digest()

    @property
    def bytes_sent(self) -> int:
        return self._bytes

    @property
    def messages_sent(self) -> int:
        return self._messages

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for (sender, _receiver), inbox in self._inboxes.items():
                if sender == self.party:
                    inbox.put(None)


def make_transports(parties: int = 3, timeout: float = 20.0) -> list[QueueTransport]:
    inboxes = {(a, b): queue.Queue() for a in range(parties) for b in range(parties) if a != b}
    return [QueueTransport(party, inboxes, timeout) for party in range(parties)]


def run_parties(programs: Sequence[Callable], timeout: float = 20.0) -> list:
    """Run ``programs[i](transport_i)`` in one thread per party; re-raise the first failure."""
    transports = make_transports(max(len(programs), 2), timeout)
    results: list = [None] * len(programs)
    errors: list = [None] * len(programs)

    def body(index: int) -> None:
        try:
            results[index] = programs[index](transports[index])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors[index] = error
            transports[index].close()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(len(programs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout * 4)
    for error in errors:
        if error is not None:
            raise error
    return results
