"""Data subjects and purposes as the chain sees them: salted subject hashes, purpose hashes.

Consent records on chain are keyed by ``(dataset, subject, purpose)``, and
everything on chain is readable by every member and the regulator. A
subject therefore appears only as

    subject = keccak256("unseen/subject/v1" ‖ len(salt) ‖ salt ‖ NFC(subject id))

with a 32-byte **salt** that only the data owner and the subject know.
Patient numbers, national ids and policy numbers have little entropy; the
salt is what stops anyone from confirming a guessed identity against the
chain, and different salts make the same person unlinkable across
datasets and purposes.

**How the salt is managed.** The owner keeps one 32-byte secret (the
*subject key*, a file of mode 0600 next to its node's keys:
:class:`SubjectKey`) and derives every salt from it,

    salt = HMAC-SHA256(subject key, "unseen/subject-salt/v1" ‖ dataset id ‖ purpose ‖ subject id)

so it stores no salt and can always recompute one. When the subject
consents, the owner records the consent with the subject hash and hands
the subject a **consent reference** (:func:`consent_reference`) carrying
the salt, printed on the consent receipt. To have a request about them
evaluated (a claim), the subject gives the reference and their id to the
requester (the insurer), which computes the same subject hash for the job
request and sends id and salt *privately* to the owner's node with the run
parameters. The node recomputes the hash and refuses the run unless it is
the job's subject, whose consent the contract has checked.

Losing the subject key loses nothing recorded (hashes stay valid); the
owner can no longer re-issue references for existing consents and records
new ones under a new key. A leaked key lets its holder confirm guessed
identities against that owner's consents; rotate it and re-record.

A purpose is public vocabulary: ``purpose = keccak256("unseen/purpose/v1"
‖ text)``, for example ``purpose_hash("insurance-claim-settlement")``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import unicodedata
from pathlib import Path

from eth_utils import keccak

from offchain.errors import ConfigError, InputError

SALT_BYTES = 32
SUBJECT_KEY_BYTES = 32
MAX_SUBJECT_ID_CHARS = 128
MAX_PURPOSE_CHARS = 64
_SUBJECT_DOMAIN = b"unseen/subject/v1"
_SALT_DOMAIN = b"unseen/subject-salt/v1"
_PURPOSE_DOMAIN = b"unseen/purpose/v1"
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_REFERENCE_PREFIX = "UC1-"


def normalize_subject_id(subject_id: str) -> str:
    """Return the NFC form of a subject id after checking it (non-empty text, no NUL)."""
    if not isinstance(subject_id, str):
        raise InputError(f"a subject id is text, got {type(subject_id).__name__}")
    normalized = unicodedata.normalize("NFC", subject_id.strip())
    if not normalized or len(normalized) > MAX_SUBJECT_ID_CHARS or "\x00" in normalized:
        raise InputError(
            f"a subject id must be 1 to {MAX_SUBJECT_ID_CHARS} characters without NUL, "
            f"got {len(normalized)} characters"
        )
    return normalized


def subject_hash(subject_id: str, salt: bytes) -> bytes:
    """Return the 32-byte subject hash recorded in consents and job requests."""
    if not isinstance(salt, bytes | bytearray) or len(salt) != SALT_BYTES:
        raise InputError(f"a subject salt is {SALT_BYTES} bytes, got {len(salt) if salt else 0}")
    encoded = normalize_subject_id(subject_id).encode("utf-8")
    return keccak(_SUBJECT_DOMAIN + len(salt).to_bytes(1, "big") + bytes(salt) + encoded)


def check_purpose(purpose: str) -> str:
    """Return ``purpose`` if it is a valid purpose name (``insurance-claim-settlement``)."""
    if not isinstance(purpose, str) or not _PURPOSE.match(purpose):
        raise InputError(
            f"purpose {purpose!r} must be 1 to {MAX_PURPOSE_CHARS} lower-case letters, digits, "
            "dots, dashes or underscores"
        )
    return purpose


def purpose_hash(purpose: str) -> bytes:
    """Return the 32-byte purpose recorded in consents and job requests."""
    return keccak(_PURPOSE_DOMAIN + check_purpose(purpose).encode("ascii"))


class SubjectKey:
    """An owner's secret for deriving subject salts (see the module docstring)."""

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes) or len(secret) != SUBJECT_KEY_BYTES:
            raise InputError(f"a subject key is {SUBJECT_KEY_BYTES} bytes")
        self._secret = secret

    @classmethod
    def generate(cls) -> SubjectKey:
        return cls(os.urandom(SUBJECT_KEY_BYTES))

    @classmethod
    def load_or_create(cls, path: str | Path) -> SubjectKey:
        """Read the key file at ``path`` (hex), creating it with mode 0600 if it does not exist."""
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = cls.generate()
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(key._secret.hex() + "\n")
            return key
        if path.stat().st_mode & 0o077:
            raise ConfigError(
                f"subject key {path} is readable by other users (mode "
                f"{oct(path.stat().st_mode & 0o777)}); run: chmod 600 {path}"
            )
        try:
            return cls(bytes.fromhex(path.read_text().strip()))
        except ValueError:
            raise ConfigError(
                f"subject key {path} does not hold {SUBJECT_KEY_BYTES} bytes in hex"
            ) from None

    def salt(self, dataset_id: int, purpose: str, subject_id: str) -> bytes:
        """Return the salt of ``subject_id`` for consents on ``dataset_id`` for ``purpose``."""
        if isinstance(dataset_id, bool) or not isinstance(dataset_id, int) or dataset_id < 1:
            raise InputError(f"dataset id must be a positive integer, got {dataset_id!r}")
        message = (
            _SALT_DOMAIN
            + dataset_id.to_bytes(32, "big")
            + purpose_hash(purpose)
            + normalize_subject_id(subject_id).encode("utf-8")
        )
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def subject(self, dataset_id: int, purpose: str, subject_id: str) -> tuple[bytes, bytes]:
        """Return ``(subject hash, salt)`` of ``subject_id`` for a consent."""
        salt = self.salt(dataset_id, purpose, subject_id)
        return subject_hash(subject_id, salt), salt


def consent_reference(salt: bytes) -> str:
    """Return the salt as the reference printed on a consent receipt (``UC1-XXXX-...``)."""
    if len(salt) != SALT_BYTES:
        raise InputError(f"a subject salt is {SALT_BYTES} bytes")
    body = base64.b32encode(salt).decode("ascii").rstrip("=")
    groups = [body[i: i + 4] for i in range(0, len(body), 4)]
    checksum = base64.b32encode(hashlib.sha256(salt).digest()[:5]).decode("ascii")[:4]
    return _REFERENCE_PREFIX + "-".join(groups) + "-" + checksum


def parse_consent_reference(reference: str) -> bytes:
    """Return the salt of a consent reference; refuse a mistyped one (checksum)."""
    if not isinstance(reference, str):
        raise InputError("a consent reference is text like UC1-ABCD-...")
    cleaned = reference.strip().upper().replace(" ", "")
    if not cleaned.startswith(_REFERENCE_PREFIX):
        raise InputError(f"a consent reference starts with {_REFERENCE_PREFIX}, got {reference!r:.20}")
    parts = cleaned[len(_REFERENCE_PREFIX):].split("-")
    body, checksum = "".join(parts[:-1]), parts[-1] if parts else ""
    try:
        salt = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError:
        raise InputError("the consent reference contains characters outside A-Z and 2-7") from None
    if len(salt) != SALT_BYTES or consent_reference(salt).rsplit("-", 1)[1] != checksum:
        raise InputError("the consent reference is mistyped (its checksum does not match)")
    return salt
