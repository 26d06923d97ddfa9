"""PSI between separate processes over pinned mutual TLS on loopback (offchain.net.cluster)."""

from __future__ import annotations

import numpy as np

from offchain.net.cluster import run_tls_parties
from offchain.psi.assisted import assisted_psi_matcher, assisted_psi_owner
from offchain.psi.ecdh import ecdh_psi
from offchain.psi.result import Reveal
from tests.psi.cases import check_revealed

FIRST = np.arange(0, 1500, dtype=np.int64)
SECOND = np.concatenate([np.arange(1000, 2000), np.arange(1000, 1100)]).astype(np.int64)
KEYS = (FIRST, SECOND)


def ecdh_party(transport, keys, reveal):
    return ecdh_psi(
        transport, 1 - transport.party, keys[transport.party], reveal=reveal, batch_size=256
    )


def assisted_party(transport, keys):
    if transport.party == 2:
        return assisted_psi_matcher(transport, owners=(0, 1))
    return assisted_psi_owner(
        transport,
        keys[transport.party],
        peer_owner=1 - transport.party,
        matcher=2,
        session_id=b"tls-job",
    )


def test_ecdh_psi_between_two_processes_over_tls():
    first, second = run_tls_parties(ecdh_party, KEYS, Reveal.INTERSECTION, parties=2, timeout=60)
    check_revealed(first, FIRST, SECOND, second)
    check_revealed(second, SECOND, FIRST, first)


def test_matcher_assisted_psi_between_three_processes_over_tls():
    first, second, view = run_tls_parties(assisted_party, KEYS, parties=3, timeout=60)
    check_revealed(first, FIRST, SECOND, second)
    assert view.cardinality == 500 and view.sizes == (1500, 1000)
