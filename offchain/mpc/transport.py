"""The seam between the MPC engine and the network: the ``Transport`` protocol.

The engine (``offchain/mpc``) only ever talks to peers through this interface;
``offchain/net`` implements it twice: an in-process transport (three parties
in one process, for tests and the fastest local mode) and TCP with mutual TLS.

Contract every implementation keeps:

* Parties are numbered 0, 1, 2; ``party`` is this end's number.
* ``send(peer, arrays)`` queues one *message* (a list of numpy arrays) for
  ``peer`` and returns without waiting for the peer to read it, so two parties
  may send to each other at the same time without deadlock. One message per
  peer per round: protocols batch everything a round needs into one call.
  The caller must not modify the arrays after sending them (the in-process
  transport hands the very same memory to the receiver and makes it
  read-only), and receivers must treat received arrays as read-only.
* ``recv(peer)`` returns the next message from ``peer`` in the order sent, with
  the same dtypes and shapes, or raises ``PeerTimeout`` after ``timeout``
  seconds (never hangs) and ``TransportError`` if the link is gone.
* Every link keeps a running SHA-256 transcript of each direction;
  ``transcript(peer)`` returns the same 32 bytes at both ends once both have
  consumed the same messages.
* ``bytes_sent`` and ``messages_sent`` count payload traffic from this end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Transport(Protocol):
    """Message passing between the three compute parties."""

    party: int
    timeout: float

    def send(self, peer: int, arrays: Sequence[np.ndarray]) -> None:
        """Queue one message of arrays for ``peer``; do not wait for delivery."""
        ...

    def recv(self, peer: int) -> list[np.ndarray]:
        """Return the next message from ``peer``; raise ``PeerTimeout`` after ``timeout``."""
        ...

    def transcript(self, peer: int) -> bytes:
        """Return the 32-byte transcript hash of the link with ``peer``."""
        ...

    @property
    def bytes_sent(self) -> int:
        """Payload bytes sent from this end so far."""
        ...

    @property
    def messages_sent(self) -> int:
        """Messages sent from this end so far."""
        ...

    def close(self) -> None:
        """Release the links; later calls raise ``TransportError``."""
        ...
