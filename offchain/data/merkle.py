"""Dataset fingerprints: a Merkle root over the canonical encodings of the rows.

Leaves are ``SHA-256(0x00 ‖ row)`` and inner nodes ``SHA-256(0x01 ‖ left ‖
right)`` — the domain separation of RFC 6962, so an inner node can never be
passed off as a row. Leaves are sorted before the tree is built, which makes
the fingerprint a function of the multiset of rows: the order in which a
database returns them does not matter, duplicates count. A level with an odd
number of nodes promotes its last node unchanged.

The fingerprint registered on chain binds the tree to the schema and the row
count::

    fingerprint = SHA-256(0x02 ‖ schema digest ‖ row count (8 bytes, big-endian) ‖ root)

WARNING: a proof of inclusion must hash the row with the 0x00 prefix and the
inner nodes with 0x01; verifying with a different leaf encoding accepts
forgeries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from offchain.data.schema import Schema

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(row: bytes) -> bytes:
    """Hash one canonical row encoding into a leaf."""
    return hashlib.sha256(b"\x00" + row).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _sorted(leaves: list[bytes]) -> list[bytes]:
    if len(leaves) < 2:
        return leaves
    # Sorting 32-byte digests as four big-endian uint64 keys is exact and fast.
    keys = np.frombuffer(b"".join(leaves), dtype=">u8").reshape(-1, 4)
    order = np.lexsort(keys.T[::-1])
    return [leaves[i] for i in order.tolist()]


def merkle_root(leaves: list[bytes]) -> bytes:
    """Return the root over ``leaves`` (already hashed and sorted)."""
    if not leaves:
        return EMPTY_ROOT
    level = leaves
    while len(level) > 1:
        paired = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(sorted_leaves: list[bytes], index: int) -> list[tuple[bool, bytes]]:
    """Return the sibling path of leaf ``index`` as ``(sibling_is_left, hash)`` pairs."""
    proof: list[tuple[bool, bytes]] = []
    level = sorted_leaves
    position = index
    while len(level) > 1:
        sibling = position ^ 1
        if sibling < len(level):
            proof.append((sibling < position, level[sibling]))
        paired = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level, position = paired, position // 2
    return proof


def verify_inclusion(row: bytes, proof: list[tuple[bool, bytes]], root: bytes) -> bool:
    """Check that ``row`` is a leaf of the tree with ``root``."""
    node = leaf_hash(row)
    for sibling_is_left, sibling in proof:
        node = _node(sibling, node) if sibling_is_left else _node(node, sibling)
    return node == root


@dataclass(frozen=True)
class Fingerprint:
    """The tree root, row count and the schema-bound fingerprint registered on chain."""

    root: bytes
    row_count: int
    value: bytes

    @property
    def hex(self) -> str:
        return "0x" + self.value.hex()


def fingerprint_rows(schema: Schema, rows: Iterable[bytes]) -> Fingerprint:
    """Fingerprint canonical row encodings (see :mod:`offchain.data.encoding`)."""
    leaves = _sorted([leaf_hash(row) for row in rows])
    root = merkle_root(leaves)
    count = len(leaves)
    value = hashlib.sha256(
        b"\x02" + schema.digest() + count.to_bytes(8, "big") + root
    ).digest()
    return Fingerprint(root=root, row_count=count, value=value)
