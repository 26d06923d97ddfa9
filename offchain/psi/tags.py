"""Keyed tags for matcher-assisted PSI: a PRF the two owners share and the matcher never sees.

The owners agree on a tag key with an ephemeral X25519 exchange over their
authenticated link (the Transport's pinned mutual TLS), then HKDF-SHA256 with
the session id and both public keys. The PRF on a canonical encoding m is

* ``AES-128(k_aes, m ‖ 0x80 ‖ 0…0)`` when ``len(m) <= 15`` (one block, ISO/IEC
  7816-4 padding, injective), computed for a whole column in one call; AES is
  a PRP, so a PRF on this fixed-length domain up to q²/2**129 (2**-74 at
  q = 2·10**8 tags);
* ``BLAKE2b-128(key=k_blake, m)`` otherwise.

Two independent PRFs on a partition of the inputs form a PRF on the union.
Tags are 128 bits, held as (n, 2) uint64: a collision among 10**8 + 10**8
keys has probability below 2**-73.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from offchain.errors import InputError, PsiProtocolError
from offchain.mpc.transport import Transport
from offchain.psi.encoding import EncodedKeys

AES_BLOCK = 16
MAX_AES_MESSAGE = AES_BLOCK - 1
TAG_KEY_INFO = b"unseen-psi/v1/tag-key"


@dataclass(frozen=True, repr=False)
class TagKey:
    """The owners' shared PRF key (never sent to a compute node)."""

    aes_key: bytes
    blake_key: bytes

    def __post_init__(self) -> None:
        if len(self.aes_key) != 16 or len(self.blake_key) != 32:
            raise InputError(
                f"a tag key is 16 AES bytes and 32 BLAKE2b bytes, got {len(self.aes_key)} "
                f"and {len(self.blake_key)}"
            )

    def __repr__(self) -> str:  # keep the key out of logs
        return "TagKey(<secret>)"

    @classmethod
    def from_secret(cls, secret: bytes, session_id: bytes, context: bytes = b"") -> TagKey:
        """Derive a tag key from a shared secret with HKDF-SHA256."""
        material = HKDF(
            algorithm=hashes.SHA256(), length=48, salt=session_id, info=TAG_KEY_INFO + context
        ).derive(secret)
        return cls(aes_key=material[:16], blake_key=material[16:])

    def tags(self, keys: EncodedKeys) -> np.ndarray:
        """Return the (n, 2) uint64 tags PRF(m) of each encoding m, in order."""
        encryptor = Cipher(algorithms.AES(self.aes_key), modes.ECB()).encryptor()
        if keys.matrix is not None and keys.width <= MAX_AES_MESSAGE:
            count, width = keys.matrix.shape
            blocks = np.zeros((count, AES_BLOCK), dtype=np.uint8)
            blocks[:, :width] = keys.matrix
            blocks[:, width] = 0x80
            return _as_tags(encryptor.update(blocks.tobytes()))
        items = keys.as_list()
        tags = np.empty((len(items), 2), dtype=np.uint64)
        short = [index for index, item in enumerate(items) if len(item) <= MAX_AES_MESSAGE]
        if short:
            padded = b"".join(
                items[index] + b"\x80" + bytes(MAX_AES_MESSAGE - len(items[index]))
                for index in short
            )
            tags[short] = _as_tags(encryptor.update(padded))
        if len(short) < len(items):
            blake_key = self.blake_key
            long_items = [index for index, item in enumerate(items) if len(item) > MAX_AES_MESSAGE]
            digests = b"".join(
                hashlib.blake2b(items[index], digest_size=16, key=blake_key).digest()
                for index in long_items
            )
            tags[long_items] = _as_tags(digests)
        return tags


def _as_tags(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.uint64).reshape(-1, 2)


def agree_tag_key(transport: Transport, peer: int, session_id: bytes) -> TagKey:
    """Agree on a fresh TagKey with the other owner ``peer``: one X25519 exchange over ``transport``.

    The link must authenticate the peer (pinned mutual TLS), otherwise a
    man in the middle could learn the key. Both ends derive the same key
    because the HKDF context orders the two public keys by party number.
    """
    if not session_id:
        raise InputError("session_id must be non-empty: it binds the tag key to one PSI run")
    private = X25519PrivateKey.generate()
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    transport.send(peer, [np.frombuffer(public, dtype=np.uint8)])
    message = transport.recv(peer)
    if len(message) != 1 or message[0].dtype != np.uint8 or message[0].shape != (32,):
        raise PsiProtocolError(f"party {peer} did not send a 32-byte X25519 public key")
    peer_public = message[0].tobytes()
    try:
        secret = private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError:
        raise PsiProtocolError(
            f"party {peer} sent a low-order X25519 key {peer_public.hex()}"
        ) from None
    ordered = (public, peer_public) if transport.party < peer else (peer_public, public)
    return TagKey.from_secret(secret, session_id, context=ordered[0] + ordered[1])
