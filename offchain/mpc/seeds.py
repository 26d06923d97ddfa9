"""Pairwise PRG keys agreed between the compute parties, with no trusted dealer.

At session start each party draws an ephemeral X25519 key pair and sends its
public key to both peers over the (authenticated) transport. Each pair of
parties then derives its shared key::

    key(i, j) = HKDF-SHA256(ikm = X25519(sk_i, pk_j), salt = session_id,
                            info = "unseen/mpc/pairwise-prg/v1" || min(i,j) || max(i,j),
                            length = 16)

so both members of a pair get the same 16-byte AES key, the third party
cannot compute it (computational Diffie-Hellman), and keys never repeat
across sessions (fresh ephemeral keys, session id in the salt). Because the
key pairs are ephemeral and dropped after the exchange, recorded traffic of a
finished session cannot be decrypted later (forward secrecy).

The transport must authenticate the peers (mutual TLS in production; the
in-process transport is trivially authentic): X25519 alone does not stop a
man in the middle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from offchain.errors import InputError, MpcError
from offchain.mpc.prg import KEY_BYTES
from offchain.mpc.transport import Transport

PARTIES = 3
_INFO = b"unseen/mpc/pairwise-prg/v1"
_PUBLIC_KEY_BYTES = 32


@dataclass(frozen=True, repr=False)
class PairwiseKeys:
    """The two PRG keys one party holds: shared with the next and with the previous party."""

    party: int
    with_next: bytes
    with_previous: bytes

    def __repr__(self) -> str:
        # Never print key material.
        return f"PairwiseKeys(party={self.party}, with_next=<16 bytes>, with_previous=<16 bytes>)"


def derive_pair_key(shared_secret: bytes, session_id: bytes, party_a: int, party_b: int) -> bytes:
    """Return the 16-byte PRG key of the pair {party_a, party_b} from their X25519 secret."""
    low, high = sorted((party_a, party_b))
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=session_id,
        info=_INFO + bytes((low, high)),
    ).derive(shared_secret)


def agree_pairwise_keys(transport: Transport, session_id: bytes) -> PairwiseKeys:
    """Run the X25519 exchange with both peers over ``transport``; return this party's two keys.

    One round: every party sends its 32-byte public key to both others.
    ``session_id`` must be the same at all three parties (at least 16 bytes,
    unique per session).
    """
    if not isinstance(session_id, (bytes, bytearray)) or len(session_id) < 16:
        raise InputError(
            f"session_id must be at least 16 bytes (unique per session), got {session_id!r:.60}"
        )
    party = transport.party
    if party not in range(PARTIES):
        raise InputError(f"party must be 0, 1 or 2, got {party}")
    peers = [(party + 1) % PARTIES, (party + 2) % PARTIES]
    private_key = X25519PrivateKey.generate()
    public = np.frombuffer(private_key.public_key().public_bytes_raw(), dtype=np.uint8).copy()
    for peer in peers:
        transport.send(peer, [public])
    keys = {}
    for peer in peers:
        message = transport.recv(peer)
        if (
            len(message) != 1
            or message[0].dtype != np.uint8
            or message[0].shape != (_PUBLIC_KEY_BYTES,)
        ):
            raise MpcError(
                f"party {party} expected a {_PUBLIC_KEY_BYTES}-byte X25519 public key from party {peer}, "
                f"got {[(a.dtype.str, a.shape) for a in message]}; is the peer running the same engine version?"
            )
        peer_key = X25519PublicKey.from_public_bytes(message[0].tobytes())
        try:
            shared = private_key.exchange(peer_key)
        except ValueError as error:  # a low-order point yields an all-zero secret
            raise MpcError(f"party {peer} sent an invalid X25519 public key: {error}") from error
        keys[peer] = derive_pair_key(shared, bytes(session_id), party, peer)
    return PairwiseKeys(party=party, with_next=keys[peers[0]], with_previous=keys[peers[1]])
