"""Uniform random permutations, from the OS CSPRNG or reproducibly from a seed.

A permutation is the argsort of n independent 64-bit random words; it is
uniform unless two words tie (probability < n²/2**65), and ties are broken by
position, so the same words always give the same permutation.
"""

from __future__ import annotations

import os

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from offchain.errors import InputError

SEED_BYTES = 32


def secure_permutation(count: int) -> np.ndarray:
    """Return a uniformly random permutation of range(count) as int64, from os.urandom."""
    words = np.frombuffer(os.urandom(8 * count), dtype=np.uint64)
    # No stability needed here: the words are fresh and ties have probability < n²/2**65.
    return np.argsort(words).astype(np.int64)


def permutation_from_seed(seed: bytes, count: int) -> np.ndarray:
    """Return the permutation of range(count) determined by a 32-byte seed.

    The random words are the AES-256-CTR keystream under ``seed`` (zero
    nonce), so every party holding the seed derives the same permutation,
    on any machine and numpy version.
    """
    if len(seed) != SEED_BYTES:
        raise InputError(f"a permutation seed is {SEED_BYTES} bytes, got {len(seed)}")
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
    words = np.frombuffer(encryptor.update(bytes(8 * count)), dtype="<u8")
    return np.argsort(words, kind="stable").astype(np.int64)


def inverse_permutation(permutation: np.ndarray) -> np.ndarray:
    """Return the inverse of a permutation array."""
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(len(permutation), dtype=permutation.dtype)
    return inverse
