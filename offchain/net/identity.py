"""A node's TLS identity: an EC P-256 key, a self-signed certificate, a fingerprint.

The fingerprint is what a member registers on chain (``Consortium``, bytes32)
and what every peer pins: SHA-256 of the DER-encoded SubjectPublicKeyInfo of
the certificate's key. It names the *key*, not the certificate, so re-issuing
a certificate for the same key keeps the fingerprint; rotating the key means
registering the new fingerprint.

P-256 (ECDSA with SHA-256) is the signature scheme every TLS 1.3
implementation must support (RFC 8446 §9.1), and OpenSSL signs and verifies
it in constant time; Ed25519 certificates are less uniformly supported by the
TLS stacks members may run.

On disk an identity is two PEM files: the private key (PKCS#8, unencrypted,
file mode 0600, refused on load when group or others can read it) and the
certificate.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from offchain.errors import ConfigError, InputError

FINGERPRINT_BYTES = 32

# RFC 5280 §4.1.2.5: "no well-defined expiration date". Trust rests on the pinned
# key, so an expiry would only add a way for a session to fail years later.
_NO_EXPIRY = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
# Peers with a clock somewhat behind ours must still accept a fresh certificate.
_CLOCK_SKEW_ALLOWANCE = datetime.timedelta(days=1)


def public_key_fingerprint(public_key: CertificatePublicKeyTypes) -> bytes:
    """Return SHA-256 of the DER SubjectPublicKeyInfo of ``public_key`` (32 bytes)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()


def certificate_fingerprint(certificate_der: bytes) -> bytes:
    """Return the fingerprint of the key in a DER certificate (as presented in TLS).

    Raises ``InputError`` if the bytes are not a certificate.
    """
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
    except ValueError as error:
        raise InputError(
            f"not a DER X.509 certificate ({len(certificate_der)} bytes): {error}"
        ) from error
    return public_key_fingerprint(certificate.public_key())


def parse_fingerprint(text: str | bytes) -> bytes:
    """Return the 32-byte fingerprint written as 64 hex digits (``0x`` and ``:`` allowed).

    Accepts raw 32-byte values unchanged, so callers can pass what the chain
    returns (bytes32) or what a config file holds (hex).
    """
    if isinstance(text, bytes | bytearray):
        if len(text) != FINGERPRINT_BYTES:
            raise InputError(
                f"a fingerprint is {FINGERPRINT_BYTES} bytes (SHA-256), got {len(text)} bytes; "
                "pass the bytes32 value registered on chain or its 64-digit hex form"
            )
        return bytes(text)
    digits = text.strip().lower().removeprefix("0x").replace(":", "")
    try:
        value = bytes.fromhex(digits)
    except ValueError:
        value = b""
    if len(value) != FINGERPRINT_BYTES:
        raise InputError(
            f"a fingerprint is 64 hex digits (SHA-256 of the key), got {text!r}; "
            "print a node's fingerprint with NodeIdentity.fingerprint_hex"
        )
    return value


def format_fingerprint(fingerprint: bytes) -> str:
    """Return the 64-digit lowercase hex form used in config files and messages."""
    return fingerprint.hex()


@dataclass(frozen=True)
class NodeIdentity:
    """A node's private key and the self-signed certificate that carries its public key."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    certificate: x509.Certificate

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            self.private_key.curve, ec.SECP256R1
        ):
            raise InputError(
                f"a node key must be EC P-256, got {type(self.private_key).__name__}; "
                "create one with NodeIdentity.generate()"
            )
        if public_key_fingerprint(self.certificate.public_key()) != self.fingerprint:
            raise InputError(
                "the certificate does not carry this private key's public key "
                f"(certificate key {format_fingerprint(public_key_fingerprint(self.certificate.public_key()))}, "
                f"private key {self.fingerprint_hex}); load a matching key and certificate pair"
            )

    @classmethod
    def generate(cls, name: str) -> NodeIdentity:
        """Create a fresh P-256 key and a self-signed certificate with common name ``name``."""
        if not name or len(name) > 64:
            raise InputError(f"a node name is 1 to 64 characters, got {name!r}")
        private_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW_ALLOWANCE)
            .not_valid_after(_NO_EXPIRY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            # A node is a TLS server for the links it accepts and a client for those it dials.
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(private_key, hashes.SHA256())
        )
        return cls(private_key, certificate)

    @classmethod
    def from_pem(cls, private_key_pem: bytes, certificate_pem: bytes) -> NodeIdentity:
        """Build an identity from an unencrypted PEM private key and a PEM certificate."""
        try:
            private_key = serialization.load_pem_private_key(private_key_pem, password=None)
            certificate = x509.load_pem_x509_certificate(certificate_pem)
        except (ValueError, TypeError) as error:
            raise InputError(f"not an unencrypted PEM private key and a PEM certificate: {error}") from error
        return cls(private_key, certificate)

    def __reduce__(self):
        # Key objects do not pickle; PEM does, so identities reach spawned party processes.
        return (NodeIdentity.from_pem, (self.private_key_pem(), self.certificate_pem()))

    @property
    def name(self) -> str:
        """The certificate's common name."""
        attributes = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attributes[0].value) if attributes else ""

    @property
    def fingerprint(self) -> bytes:
        """SHA-256 of the DER SubjectPublicKeyInfo (32 bytes): the value pinned by peers."""
        return public_key_fingerprint(self.private_key.public_key())

    @property
    def fingerprint_hex(self) -> str:
        """The fingerprint as 64 lowercase hex digits."""
        return format_fingerprint(self.fingerprint)

    def certificate_pem(self) -> bytes:
        """Return the certificate in PEM form."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def certificate_der(self) -> bytes:
        """Return the certificate in DER form (as sent in the connection preamble)."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def private_key_pem(self) -> bytes:
        """Return the private key as unencrypted PKCS#8 PEM. Handle with care."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def save(self, key_path: str | os.PathLike, certificate_path: str | os.PathLike, *,
             overwrite: bool = False) -> None:
        """Write the key (mode 0600) and the certificate (mode 0644) atomically.

        Refuses to replace existing files unless ``overwrite``: a node's key is
        what the consortium registered, and losing it means re-registering.
        """
        key_path, certificate_path = Path(key_path), Path(certificate_path)
        if not overwrite:
            for path in (key_path, certificate_path):
                if path.exists():
                    raise ConfigError(
                        f"{path} already exists; refusing to replace a node identity "
                        "(its fingerprint may be registered on chain). Pass overwrite=True "
                        "or choose another path"
                    )
        _write_atomically(key_path, self.private_key_pem(), mode=0o600)
        _write_atomically(certificate_path, self.certificate_pem(), mode=0o644)

    @classmethod
    def load(cls, key_path: str | os.PathLike, certificate_path: str | os.PathLike) -> NodeIdentity:
        """Read an identity written by :meth:`save`.

        Raises ``ConfigError`` when a file is missing or malformed, when the key
        file is readable by group or others, or when key and certificate do not match.
        """
        key_path, certificate_path = Path(key_path), Path(certificate_path)
        key_pem = _read(key_path, "private key")
        if os.name == "posix":
            mode = stat.S_IMODE(key_path.stat().st_mode)
            if mode & 0o077:
                raise ConfigError(
                    f"private key {key_path} has mode {mode:04o}: group or others can read it; "
                    f"run `chmod 600 {key_path}`"
                )
        certificate_pem = _read(certificate_path, "certificate")
        try:
            return cls.from_pem(key_pem, certificate_pem)
        except InputError as error:
            raise ConfigError(f"{key_path} and {certificate_path}: {error}") from error


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as error:
        raise ConfigError(
            f"{what} file {path} does not exist; create an identity with NodeIdentity.generate(...).save(...)"
        ) from error


def _write_atomically(path: Path, content: bytes, *, mode: int) -> None:
    # Write beside the target and rename, so a crash never leaves half a key behind,
    # and create the file with its final mode so the key is never world-readable.
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
