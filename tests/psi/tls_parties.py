"""Run PSI parties as threads, each with its own pinned mutual-TLS transport over loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from offchain.errors import TransportError
from offchain.net.identity import NodeIdentity
from offchain.net.tls import Peer, TlsTransport, bind_listener


def run_parties_over_tls(programs: Sequence[Callable], timeout: float = 60.0) -> list:
    """Run ``programs[i](transport_i)`` with TLS links between every pair; lower numbers listen."""
    count = len(programs)
    identities = [NodeIdentity.generate(f"psi-test-{party}") for party in range(count)]
    listeners = [bind_listener() if party < count - 1 else None for party in range(count)]
    ports = [listener.getsockname()[1] if listener else None for listener in listeners]
    results: list = [None] * count
    errors: list = []

    def body(party: int) -> None:
        transport = None
        try:
            peers = {
                other: Peer(
                    identities[other].fingerprint,
                    ("127.0.0.1", ports[other]) if other < party else None,
                )
                for other in range(count)
                if other != party
            }
            transport = TlsTransport.connect(
                party=party,
                identity=identities[party],
                peers=peers,
                session_id=b"psi-tls-test",
                listener=listeners[party],
                timeout=timeout,
            )
            results[party] = programs[party](transport)
            transport.verify_transcripts()
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)
        finally:
            if transport is not None:
                transport.close()

    threads = [threading.Thread(target=body, args=(p,), daemon=True) for p in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise next((e for e in errors if not isinstance(e, TransportError)), errors[0])
    return results
