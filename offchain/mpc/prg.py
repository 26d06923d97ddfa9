"""Pseudo-random generators: AES-128 in counter mode, written straight into numpy arrays.

Two parties holding the same key draw identical streams as long as they make
the same sequence of draws; the protocols are written so that they do. The
keystream is the encryption of zeros, written with ``update_into`` into the
destination array's buffer (no intermediate copy).
"""

from __future__ import annotations

import os
import threading

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from offchain.errors import InputError

KEY_BYTES = 16
# Keystream drawn per piece when it is combined into an array: small enough to stay in cache.
PIECE_BYTES = 1 << 18

_zeros_lock = threading.Lock()
_zeros = np.zeros(0, dtype=np.uint8)


def _zero_bytes(count: int) -> memoryview:
    """Return a read-only view of ``count`` zero bytes (the plaintext the keystream encrypts)."""
    global _zeros
    if _zeros.size < count:
        with _zeros_lock:
            if _zeros.size < count:
                grown = np.zeros(max(count, 2 * _zeros.size), dtype=np.uint8)
                grown.flags.writeable = False
                _zeros = grown
    return memoryview(_zeros)[:count]


class Prg:
    """A keyed AES-128-CTR stream; ``random`` draws the next bytes as an array.

    Not thread-safe: one runtime (one party) owns each instance.
    """

    __slots__ = ("_encryptor", "bytes_drawn", "_piece")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
            raise InputError(f"a PRG key is {KEY_BYTES} bytes, got {key!r:.40}")
        # Each key is used for one stream only, so a zero nonce is safe.
        self._encryptor = Cipher(algorithms.AES(bytes(key)), modes.CTR(bytes(16))).encryptor()
        self.bytes_drawn = 0
        self._piece: np.ndarray | None = None

    @classmethod
    def fresh(cls) -> Prg:
        """Return a generator keyed from the operating system's CSPRNG."""
        return cls(os.urandom(KEY_BYTES))

    def fill(self, out: np.ndarray) -> np.ndarray:
        """Overwrite the C-contiguous array ``out`` with the next keystream bytes; return it."""
        if not out.flags.c_contiguous:
            raise InputError("Prg.fill needs a C-contiguous destination array")
        count = out.nbytes
        if count:
            self._encryptor.update_into(_zero_bytes(count), out.reshape(-1).view(np.uint8))
            self.bytes_drawn += count
        return out

    def random(
        self, shape: tuple[int, ...] | int, dtype: np.dtype | type = np.uint64
    ) -> np.ndarray:
        """Return a new array of uniformly random words of ``dtype``."""
        return self.fill(np.empty(shape, dtype=dtype))

    def xor_into(self, out: np.ndarray) -> np.ndarray:
        """XOR the next keystream bytes into the C-contiguous array ``out`` in place; return it.

        Draws exactly what :meth:`fill` on the same array would, so a peer
        holding the key may use either. CTR encryption in place (input and
        output the same buffer) is allowed by OpenSSL and saves reading a
        separate plaintext of zeros and a separate XOR pass.
        """
        if not out.flags.c_contiguous or not out.flags.writeable:
            raise InputError("Prg.xor_into needs a writeable C-contiguous array")
        count = out.nbytes
        if count:
            view = out.reshape(-1).view(np.uint8)
            self._encryptor.update_into(view, view)
            self.bytes_drawn += count
        return out

    def add_into(
        self, target: np.ndarray, subtract: bool = False, base: np.ndarray | None = None
    ) -> np.ndarray:
        """Set ``target`` to ``base`` (default: ``target`` itself) plus or minus the next keystream words.

        Draws exactly what :meth:`fill` on an array like ``target`` would
        (arithmetic mod ``2**bits`` of its dtype), but piece by piece through
        a small buffer that stays in cache, so the words are never written
        out as an array of their own. ``target`` must be writeable and
        C-contiguous; ``base`` must have its shape. Returns ``target``.
        """
        if not target.flags.c_contiguous or not target.flags.writeable:
            raise InputError("Prg.add_into needs a writeable C-contiguous array")
        flat = target.reshape(-1)
        source = flat if base is None else np.asarray(base).reshape(-1)
        if source.shape != flat.shape:
            raise InputError(f"Prg.add_into: base has {source.size} elements, target {flat.size}")
        if self._piece is None:
            self._piece = np.empty(PIECE_BYTES, dtype=np.uint8)
        per_piece = PIECE_BYTES // flat.itemsize
        combine = np.subtract if subtract else np.add
        for start in range(0, flat.size, per_piece):
            part = flat[start : start + per_piece]
            words = self._piece[: part.nbytes].view(flat.dtype)
            self.fill(words)
            combine(source[start : start + per_piece], words, out=part)
        return target
