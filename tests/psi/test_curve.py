"""The PSI group: RFC 9380 encode-to-curve on Curve25519 and commutative X25519 blinding."""

from __future__ import annotations

import gmpy2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.errors import InputError, PsiError
from offchain.psi import curve

P = curve.FIELD_PRIME
A = curve.MONTGOMERY_A
RFC_DST = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_"

# RFC 9380 Appendix J.7.2, suite curve25519_XMD:SHA-512_ELL2_NU_: msg, u[0], Q.x, P.x (= 8·Q).
RFC_9380_VECTORS = [
    (
        b"",
        0x608D892B641F0328523802A6603427C26E55E6F27E71A91A478148D45B5093CD,
        0x51125222DA5E763D97F3C10FCC92EA6860B9CCBBD2EB1285728F566721C1E65B,
        0x1BB913F0C9DAEFA0B3375378FFA534BDA5526C97391952A7789EB976EDFE4D08,
    ),
    (
        b"abc",
        0x46F5B22494BFEAA7F232CC8D054BE68561AF50230234D7D1D63D1D9ABECA8DA5,
        0x7D56D1E08CB0CCB92BAF069C18C49BB5A0DCD927EFF8DCF75CA921EF7F3E6EEB,
        0x7C22950B7D900FA866334262FCAEA47A441A578DF43B894B4625C9B450F9A026,
    ),
    (
        b"abcdef0123456789",
        0x235FE40C443766CE7E18111C33862D66C3B33267EFA50D50F9E8E5D252A40AAA,
        0x3FBE66B9C9883D79E8407150E7C2A1C8680BEE496C62FABE4619A72B3CABE90F,
        0x31AD08A8B0DEEB2A4D8B0206CA25F567AB4E042746F792F4B7973F3AE2096C52,
    ),
]


def _x_double(x: int) -> int:
    """x([2]Q) on the Montgomery curve v² = u³ + A u² + u (x-only doubling)."""
    numerator = (x * x - 1) ** 2 % P
    denominator = 4 * x * (x * x + A * x + 1) % P
    return numerator * pow(denominator, P - 2, P) % P


@pytest.mark.parametrize("message, field_element, q_x, p_x", RFC_9380_VECTORS)
def test_matches_rfc_9380_vectors(message, field_element, q_x, p_x):
    hasher = curve.HashToCurve(RFC_DST)
    assert int(hasher.field_element(message)) == field_element
    u = int.from_bytes(hasher.u_coordinate(message), "little")
    assert u == q_x
    # Cofactor clearing (x 8) reaches the RFC's P, the point X25519 clamping works with.
    assert _x_double(_x_double(_x_double(u))) == p_x


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=P - 1))
def test_elligator_lands_on_the_curve_never_the_twist(field_element):
    u = int(curve.elligator2_u(gmpy2.mpz(field_element)))
    right_hand_side = (u * u * u + A * u * u + u) % P
    assert gmpy2.legendre(right_hand_side, P) >= 0


def test_blinding_commutes():
    first, second = curve.random_scalar(), curve.random_scalar()
    messages = [b"alice", b"bob", b"", bytes(range(40))]
    via_first = curve.blind(curve.hash_and_blind(messages, first), second)
    via_second = curve.blind(curve.hash_and_blind(messages, second), first)
    assert via_first == via_second
    assert len(set(via_first[i : i + 32] for i in range(0, len(via_first), 32))) == len(messages)


def test_blinding_with_a_different_scalar_gives_unrelated_points():
    messages = [b"k%d" % i for i in range(20)]
    one = curve.hash_and_blind(messages, curve.random_scalar())
    other = curve.hash_and_blind(messages, curve.random_scalar())
    chunks = lambda blob: {blob[i : i + 32] for i in range(0, len(blob), 32)}  # noqa: E731
    assert not chunks(one) & chunks(other)


def test_low_order_points_from_a_peer_are_refused():
    honest = curve.hash_and_blind([b"x"], curve.random_scalar())
    with pytest.raises(PsiError, match="low-order point at byte offset 32"):
        curve.blind(honest + bytes(32), curve.random_scalar())


def test_malformed_inputs_are_refused():
    with pytest.raises(PsiError, match="multiple of 32"):
        curve.blind(bytes(33), curve.random_scalar())
    with pytest.raises(InputError, match="32 bytes, got 31"):
        curve.blind(bytes(32), bytes(31))
    with pytest.raises(InputError, match="1..255 bytes"):
        curve.HashToCurve(b"")
