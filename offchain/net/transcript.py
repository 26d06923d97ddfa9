"""Running SHA-256 transcripts of party-to-party links.

Each link keeps one hash per direction; ``digest()`` combines them in a fixed
order (lower party number's outgoing stream first), so both ends of a link
arrive at the same 32 bytes once they have sent and received the same
messages, however their sends and receives interleaved.

A message is hashed as: array count, then for each array its dtype string,
shape and raw bytes (C order). The framing is unambiguous, so two different
messages never hash the same way.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

import numpy as np

from offchain.errors import InputError

_DIRECTION_DOMAIN = b"unseen-link-transcript/v1"
_LINK_DOMAIN = b"unseen-link/v1"


def message_prefix(count: int) -> bytes:
    """Return the bytes that open a message of ``count`` arrays (also the frame header's start)."""
    return struct.pack("<I", count)


def array_prefix(dtype: np.dtype, shape: Sequence[int]) -> bytes:
    """Return the bytes that describe one array: dtype string and shape (also its frame header entry)."""
    dtype_text = dtype.str.encode()
    return struct.pack(f"<B{len(dtype_text)}sB{len(shape)}Q", len(dtype_text), dtype_text, len(shape), *shape)


def update_with_message(state: hashlib._Hash, arrays: Sequence[np.ndarray]) -> None:
    """Feed one message (a list of arrays) into a running hash ``state``."""
    state.update(message_prefix(len(arrays)))
    for array in arrays:
        state.update(array_prefix(array.dtype, array.shape))
        # A byte view, not memoryview.cast: cast refuses shapes with a zero dimension.
        state.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))


def new_direction_hash() -> hashlib._Hash:
    """Return the running hash of one direction of a link, before any message."""
    return hashlib.sha256(_DIRECTION_DOMAIN)


def link_digest(party: int, peer: int, sent: bytes, received: bytes) -> bytes:
    """Combine the digests of both directions into the link transcript seen from ``party``.

    ``sent`` and ``received`` are the direction digests at ``party``; the result
    is the same at ``peer`` when it passes its own (which are ours swapped).
    """
    low_to_high, high_to_low = (sent, received) if party < peer else (received, sent)
    combined = hashlib.sha256(_LINK_DOMAIN)
    combined.update(low_to_high)
    combined.update(high_to_low)
    return combined.digest()


class LinkTranscript:
    """Transcript of the link between ``party`` and ``peer``."""

    def __init__(self, party: int, peer: int) -> None:
        if party == peer:
            raise InputError(f"a link needs two different parties, got {party} and {peer}")
        self.party = party
        self.peer = peer
        self._sent = new_direction_hash()
        self._received = new_direction_hash()

    def record_sent(self, arrays: Sequence[np.ndarray]) -> None:
        """Account for a message sent to the peer."""
        update_with_message(self._sent, arrays)

    def record_received(self, arrays: Sequence[np.ndarray]) -> None:
        """Account for a message received from the peer."""
        update_with_message(self._received, arrays)

    def digest(self) -> bytes:
        """Return the 32-byte link transcript, identical at both ends."""
        return link_digest(self.party, self.peer, self._sent.digest(), self._received.digest())
