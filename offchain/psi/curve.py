"""The group for ECDH-PSI: Curve25519 u-coordinates, blinded with X25519.

Hashing: RFC 9380 ``encode_to_curve`` with suite
``curve25519_XMD:SHA-512_ELL2_NU_`` (expand_message_xmd with SHA-512 to one
field element, then the Elligator 2 map), returning the u-coordinate of a
point Q on Curve25519 itself, never on its quadratic twist. Cofactor clearing
is not done here: every X25519 scalar is clamped to a multiple of 8, so
``x25519(a, u(Q)) = u([a/8]·P)`` with ``P = 8·Q`` in the prime-order subgroup
(order ℓ ≈ 2**252). The effective hash of a key is therefore
``H(key) = 8·Q(key)``, a point of the prime-order group up to sign (X25519 works
modulo ±, which is a group quotient compatible with scalar multiplication).

Blinding: ``blind(u, a) = X25519(a, u)``. Scalar multiplication commutes, so
``blind(blind(u, a), b) == blind(blind(u, b), a)``; this is the commutative
encryption of Meadows / Huberman–Franklin–Hogg DH-PSI. Security rests on DDH
in the prime-order subgroup of Curve25519 (for exponents of the clamped form,
the standard X25519 assumption) with the inner hash modelled as a random
oracle; docs/PSI.md gives the argument for the non-uniform Elligator 2 map and
why a plain "hash the key to 32 bytes and use it as u" is not used (it lands on
the twist half the time and so leaks one bit of H(key) per element).

Field arithmetic for the map uses gmpy2 (GMP): Python's built-in ``pow`` takes
~90 µs for a Legendre symbol mod 2**255 − 19, gmpy2 ~1.3 µs. The X25519 ladder
is OpenSSL's, through ``cryptography``.
"""

from __future__ import annotations

import hashlib
import os

import gmpy2
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from offchain.errors import InputError, PsiError

FIELD_PRIME = 2**255 - 19
MONTGOMERY_A = 486662
POINT_BYTES = 32
SCALAR_BYTES = 32
HASH_TO_CURVE_DST = b"unseen-psi/v1/curve25519_XMD:SHA-512_ELL2_NU_"

_P = gmpy2.mpz(FIELD_PRIME)
_A = gmpy2.mpz(MONTGOMERY_A)
_MINUS_A = gmpy2.mpz(FIELD_PRIME - MONTGOMERY_A)
_FIELD_ELEMENT_BYTES = 48  # L = ceil((ceil(log2 p) + k) / 8) with k = 128 (RFC 9380 §5)


class HashToCurve:
    """RFC 9380 ``encode_to_curve`` for curve25519_XMD:SHA-512_ELL2_NU_, u-coordinate only.

    ``u_coordinate(message)`` returns the little-endian 32-byte u of Q, the
    output of ``map_to_curve`` before cofactor clearing (see the module
    docstring for why clearing is folded into the X25519 scalar).
    """

    def __init__(self, domain_separation_tag: bytes = HASH_TO_CURVE_DST) -> None:
        if not 1 <= len(domain_separation_tag) <= 255:
            raise InputError(
                f"domain separation tag must be 1..255 bytes, got {len(domain_separation_tag)}"
            )
        dst_prime = domain_separation_tag + bytes((len(domain_separation_tag),))
        # expand_message_xmd(msg, DST, 48) with SHA-512, r_in_bytes = 128, ell = 1:
        #   b0 = H(Z_pad || msg || I2OSP(48, 2) || I2OSP(0, 1) || DST_prime)
        #   b1 = H(b0 || I2OSP(1, 1) || DST_prime), uniform_bytes = b1[:48]
        self._prefix = hashlib.sha512(bytes(128))
        self._b0_suffix = (_FIELD_ELEMENT_BYTES).to_bytes(2, "big") + b"\x00" + dst_prime
        self._b1_suffix = b"\x01" + dst_prime

    def field_element(self, message: bytes) -> gmpy2.mpz:
        """Return hash_to_field(message, count=1): an integer in [0, p)."""
        state = self._prefix.copy()
        state.update(message)
        state.update(self._b0_suffix)
        b1 = hashlib.sha512(state.digest() + self._b1_suffix).digest()
        return gmpy2.mpz(int.from_bytes(b1[:_FIELD_ELEMENT_BYTES], "big")) % _P

    def u_coordinate(self, message: bytes) -> bytes:
        """Return the 32-byte little-endian u-coordinate of map_to_curve(hash_to_field(message))."""
        return int(elligator2_u(self.field_element(message))).to_bytes(32, "little")


def elligator2_u(field_element: gmpy2.mpz) -> gmpy2.mpz:
    """Return the u-coordinate of the RFC 9380 §6.7.1 Elligator 2 map (Z = 2) of an element of F_p."""
    denominator = (2 * field_element * field_element + 1) % _P
    # RFC 9380: if 1 + Z·u² == 0 use x1 = -A (inv0(0) = 0 makes -A/0 read as -A).
    x1 = _MINUS_A * gmpy2.invert(denominator, _P) % _P if denominator else _MINUS_A
    gx1 = ((x1 + _A) * x1 + 1) * x1 % _P
    # is_square(0) is true in RFC 9380, and legendre(0) == 0.
    if gmpy2.legendre(gx1, _P) >= 0:
        return x1
    return (_MINUS_A - x1) % _P


def random_scalar() -> bytes:
    """Return a fresh secret X25519 scalar (32 bytes from the OS CSPRNG; clamped by X25519)."""
    return os.urandom(SCALAR_BYTES)


def _check_scalar(scalar: bytes) -> X25519PrivateKey:
    if len(scalar) != SCALAR_BYTES:
        raise InputError(f"an X25519 scalar is {SCALAR_BYTES} bytes, got {len(scalar)}")
    return X25519PrivateKey.from_private_bytes(scalar)


def hash_and_blind(messages: list[bytes], scalar: bytes, dst: bytes = HASH_TO_CURVE_DST) -> bytes:
    """Return the concatenation of X25519(scalar, u(H(m))) for each message, 32 bytes each."""
    private = _check_scalar(scalar)
    hasher = HashToCurve(dst)
    field_element = hasher.field_element
    from_public_bytes = X25519PublicKey.from_public_bytes
    exchange = private.exchange
    out = bytearray(POINT_BYTES * len(messages))
    offset = 0
    for message in messages:
        u = int(elligator2_u(field_element(message))).to_bytes(32, "little")
        # A low-order Q (probability ~2**-250 per key) makes OpenSSL refuse; surface it.
        try:
            out[offset : offset + POINT_BYTES] = exchange(from_public_bytes(u))
        except ValueError as error:
            raise PsiError(f"key hashed to a low-order point ({error}); report this key") from None
        offset += POINT_BYTES
    return bytes(out)


def blind(points: bytes, scalar: bytes) -> bytes:
    """Return X25519(scalar, u) for each 32-byte u in ``points``, concatenated.

    Raises ``PsiError`` if a peer sent a low-order point (all-zero output),
    which an honest peer never does.
    """
    if len(points) % POINT_BYTES:
        raise PsiError(
            f"blinded points must be a multiple of {POINT_BYTES} bytes, got {len(points)} bytes"
        )
    private = _check_scalar(scalar)
    from_public_bytes = X25519PublicKey.from_public_bytes
    exchange = private.exchange
    out = bytearray(len(points))
    view = memoryview(points)
    for offset in range(0, len(points), POINT_BYTES):
        try:
            out[offset : offset + POINT_BYTES] = exchange(
                from_public_bytes(bytes(view[offset : offset + POINT_BYTES]))
            )
        except ValueError:
            raise PsiError(
                f"peer sent a low-order point at byte offset {offset} "
                f"({bytes(view[offset : offset + POINT_BYTES]).hex()}); aborting"
            ) from None
    return bytes(out)
