"""Aligning the rows of owners whose columns are joined on a shared key, by private set intersection.

When a model's features are split by columns (a lender's repayment label
and income, an e-commerce member's order history), the owners first agree
which entities they have in common and in what order — without showing each
other anything else. Each owner calls :func:`align_rows` with its join-key
column, over its authenticated links to the other owners:

* two owners: one ECDH-PSI run (:func:`offchain.psi.ecdh_psi`) revealing the
  intersection to both;
* three owners: the first (the *leader*) runs ECDH-PSI with each of the
  other two, keeps the keys common to all three, and sends each peer the
  ranks (in that pair's PSI order) of the keys that survive.

Every owner then orders its surviving rows by the canonical encoding of
their key (:mod:`offchain.psi.encoding`), which is the same byte string at
every owner, so row ``r`` of every owner's shared matrix is the same
entity. Keys must be unique at each owner (one row per entity); duplicates
are refused before anything is sent.

Who learns what: each owner learns which of its keys are in the common
set (the training or scoring population) and the other owners' numbers of
distinct keys; with three owners, the two non-leaders also learn which of
their pairwise common keys the third owner lacks. Compute nodes learn
only the number of common rows (the length of the shared arrays). This
requires every join key to be at ``PLAINTEXT`` or ``PLAINTEXT_AFTER_JOIN``
for the other owners (checked when the job is planned).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from offchain.errors import InputError, PsiProtocolError
from offchain.mpc.transport import Transport
from offchain.psi.ecdh import ecdh_psi
from offchain.psi.encoding import EncodedKeys, encode_keys
from offchain.psi.result import Reveal


def check_unique(encoded: EncodedKeys, column: str) -> None:
    """Refuse a key column with repeated values (a model row is one entity)."""
    distinct, inverse = encoded.distinct()
    if len(distinct) != len(encoded):
        counts = np.bincount(inverse)
        repeated = int(np.count_nonzero(counts > 1))
        raise InputError(
            f"join key {column!r} repeats {repeated} value(s) ({len(encoded) - len(distinct)} extra rows); "
            f"a model needs one row per entity: aggregate or deduplicate the rows first"
        )


def key_order(encoded: EncodedKeys) -> np.ndarray:
    """Return the permutation that sorts the encodings bytewise (the common order of all owners)."""
    if encoded.matrix is not None:
        return np.lexsort(encoded.matrix.T[::-1]).astype(np.int64)
    items = encoded.items
    return np.array(sorted(range(len(items)), key=items.__getitem__), dtype=np.int64)


def align_rows(
    transport: Transport,
    owners: Sequence[int],
    keys: object,
    column: str = "key",
    workers: int | None = None,
) -> np.ndarray:
    """Return the local row indices of the keys common to all ``owners``, in the common order.

    ``owners`` are the transport's party numbers of the 2 or 3 owners, the
    first being the leader; this owner is ``transport.party``. ``keys`` is the
    key column in local row order.
    """
    owners = tuple(owners)
    me = transport.party
    if len(owners) not in (2, 3) or len(set(owners)) != len(owners) or me not in owners:
        raise InputError(f"align_rows needs 2 or 3 distinct owners including this party ({me}), got {owners}")
    encoded = encode_keys(keys)
    check_unique(encoded, column)
    leader = owners[0]
    if me != leader:
        result = ecdh_psi(transport, leader, encoded, reveal=Reveal.INTERSECTION, workers=workers)
        rows = result.first_rows
        if len(owners) == 3:
            message = transport.recv(leader)
            if len(message) != 1 or message[0].dtype != np.int64 or message[0].ndim != 1:
                raise PsiProtocolError(f"party {leader} sent malformed alignment ranks")
            ranks = message[0]
            if ranks.size and (ranks.min() < 0 or ranks.max() >= len(rows)):
                raise PsiProtocolError(f"party {leader} sent alignment ranks outside [0, {len(rows)})")
            rows = rows[ranks]
    else:
        pairwise = [
            ecdh_psi(transport, peer, encoded, reveal=Reveal.INTERSECTION, workers=workers)
            for peer in owners[1:]
        ]
        if len(owners) == 2:
            rows = pairwise[0].first_rows
        else:
            common = np.intersect1d(pairwise[0].first_rows, pairwise[1].first_rows)
            for peer, result in zip(owners[1:], pairwise, strict=True):
                keep = np.isin(result.first_rows, common)
                transport.send(peer, [np.flatnonzero(keep).astype(np.int64)])
            rows = common
    rows = np.asarray(rows, dtype=np.int64)
    return rows[key_order(encoded.take(rows))]
