"""PSI over pinned mutual TLS on loopback, transcripts checked at the end."""

from __future__ import annotations

import numpy as np

from offchain.psi.assisted import assisted_psi_matcher, assisted_psi_owner
from offchain.psi.ecdh import ecdh_psi
from offchain.psi.result import Reveal
from tests.psi.cases import check_revealed
from tests.psi.tls_parties import run_parties_over_tls

FIRST = np.arange(0, 1500, dtype=np.int64)
SECOND = np.concatenate([np.arange(1000, 2000), np.arange(1000, 1100)]).astype(np.int64)


def test_ecdh_psi_over_tls():
    first, second = run_parties_over_tls(
        [
            lambda t: ecdh_psi(t, 1, FIRST, workers=0, batch_size=256),
            lambda t: ecdh_psi(t, 0, SECOND, workers=0, batch_size=300),
        ]
    )
    check_revealed(first, FIRST, SECOND, second)
    check_revealed(second, SECOND, FIRST, first)


def test_matcher_assisted_psi_over_tls():
    first, second, view = run_parties_over_tls(
        [
            lambda t: assisted_psi_owner(t, FIRST, peer_owner=1, matcher=2, session_id=b"tls-job"),
            lambda t: assisted_psi_owner(
                t,
                SECOND,
                peer_owner=0,
                matcher=2,
                session_id=b"tls-job",
                reveal=Reveal.INTERSECTION,
            ),
            lambda t: assisted_psi_matcher(t, owners=(0, 1)),
        ]
    )
    check_revealed(first, FIRST, SECOND, second)
    assert view.cardinality == 500 and view.sizes == (1500, 1000)
