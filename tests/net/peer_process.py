"""A peer that runs in its own process, so a test can kill it mid-protocol."""

from __future__ import annotations

import numpy as np

from offchain.net.identity import NodeIdentity
from offchain.net.tls import Peer, TlsTransport, bind_listener


def echo_forever(identity: NodeIdentity, dialer_fingerprint: bytes, session_id: str, ports) -> None:
    """Listen as party 1, then echo every message from party 0 back to it until killed."""
    listener = bind_listener()
    ports.put(listener.getsockname()[1])
    transport = TlsTransport.connect(
        party=1, identity=identity, peers={0: Peer(dialer_fingerprint)}, session_id=session_id,
        listener=listener, timeout=60.0,
    )
    while True:
        message = transport.recv(0)
        transport.send(0, [np.asarray(array) for array in message])
