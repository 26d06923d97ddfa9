"""The node's one port, seen from the node: a thin adapter over ``offchain.net.router``.

Everything the node says to other nodes goes through :class:`NodeNetwork`:
the MPC session of a job with its two other compute nodes
(:meth:`NodeNetwork.session`, :meth:`NodeNetwork.session_transcript`) and
request/response service calls (:meth:`NodeNetwork.call`); incoming
connections are authenticated by the caller's TLS key, which must be the
fingerprint an active member registered (``authorize``). A service the
other node refuses raises ``ServiceRefused`` (its handler's error type and
message); a link that fails raises ``TransportError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from offchain.mpc.transport import Transport
from offchain.net.identity import NodeIdentity
from offchain.net.router import NodeListener, open_session, session_transcript
from offchain.net.service import call_service
from offchain.net.tls import TlsTransport

Handler = Callable[[str, dict[str, Any], list[np.ndarray]], tuple[dict[str, Any], list[np.ndarray]]]


class NodeNetwork:
    """The listener of one node, its services and its outgoing calls."""

    def __init__(self, identity: NodeIdentity, listen: str, authorize: Callable[[bytes], str | None],
                 one_way_delay: float = 0.0, max_request_bytes: int = 1 << 30) -> None:
        self.identity = identity
        self.listen = listen
        self.one_way_delay = one_way_delay
        self._listener = NodeListener(identity, listen, authorize, max_request_bytes=max_request_bytes)

    def serve(self, name: str, handler: Handler) -> None:
        self._listener.register_service(name, handler)

    def start(self) -> None:
        self._listener.start()

    def close(self) -> None:
        self._listener.close()

    @contextmanager
    def session(self, session_id: bytes, party: int, peers: dict[int, tuple[str, bytes]],
                timeout: float) -> Iterator[Transport]:
        transport = open_session(self._listener, session_id, party, peers, timeout,
                                 one_way_delay=self.one_way_delay)
        try:
            yield transport
        finally:
            transport.close()

    def session_transcript(self, transport: TlsTransport) -> bytes:
        """SHA-256 over the session's three link digests, after checking them with both peers."""
        return session_transcript(transport)

    def call(self, endpoint: str, fingerprint: bytes, name: str, job_id: int, metadata: dict[str, Any],
             arrays: list[np.ndarray], timeout: float) -> tuple[dict[str, Any], list[np.ndarray]]:
        metadata = {key: value for key, value in metadata.items() if key != "job_id"}  # the hello carries it
        reply = call_service(self.identity, endpoint, fingerprint, name, job_id, metadata, arrays, timeout)
        return reply.metadata, list(reply.arrays)
