"""Applicant keys: the canonical 62-bit encoding of applicant ids every member computes the same way.

A lender's applicant ids (national ids, customer numbers...) never leave it
in the clear: each is mapped to a 62-bit *applicant key*, and only keys are
secret-shared. The requester maps the ids it asks about the same way. The
encoding is defined exactly, so a lender's DuckDB and the requester's Python
produce the same key::

    key = SHA-256(text)[0:8] as a big-endian integer, with the top two bits cleared
    text = "unseen/applicant-key/v1:" + id_key + ":" + tag + ":" + value

``id_key`` is the consortium's 64-hex-digit key (a public program
parameter: the keys never leave the members in the clear, so it serves as
domain separation between consortia, not as a secret); ``tag`` is ``s``
for string ids, whose ``value`` is the NFC normalisation of the id (UTF-8),
and ``i`` for int64 ids, whose ``value`` is the decimal text. A string id
containing the character U+0000 is not a valid applicant id: the requester
refuses it and lenders leave such rows out (DuckDB's normalisation stops at
that character, so its key would not be canonical).

**Collisions.** Keys are 62 bits. Two different applicants with the same
key make a lender holding one of them count for the other: for one query
against ``M`` distinct ids across lenders the chance of any false match is
at most ``M / 2**62`` (``2.2e-11`` for ``M = 10**8``), for a batch of ``m``
queries ``m * M / 2**62`` (``2.2e-7`` for ``m = 10**4``).

**Dummies.** Real keys lie below ``2**62``. Padding uses values with the top
bit set: the requester's empty slots hold ``2**63 + slot``; lenders' empty
places hold ``2**63 + 2**62 + r`` with ``r`` fresh random 62-bit values. A
dummy therefore never equals a real key nor a dummy of the other side, and
can never be counted. Lenders' dummies are random, not a constant, so that
a requester that deviates from the protocol cannot put a lender's dummy
value in a slot and learn, from the parity of the matches, how full that
lender's bins are.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable

import numpy as np

from offchain.errors import InputError

KEY_BITS = 62
KEY_MASK = np.uint64((1 << KEY_BITS) - 1)
REQUESTER_DUMMY = np.uint64(1 << 63)
LENDER_DUMMY = np.uint64((1 << 63) | (1 << 62))  # lowest lender dummy; see lender_dummies
PREFIX = "unseen/applicant-key/v1"
DEFAULT_ID_KEY = hashlib.sha256(b"unseen consortium applicant key, version 1").hexdigest()
ID_TYPES = ("string", "int64")
_HEX_KEY = re.compile(r"^[0-9a-f]{64}$")


def lender_dummies(count: int) -> np.ndarray:
    """Return ``count`` unpredictable lender padding values ``2**63 + 2**62 + r``, ``r`` from the OS CSPRNG."""
    random = np.frombuffer(os.urandom(8 * count), dtype=np.uint64)
    return np.bitwise_or(np.bitwise_and(random, KEY_MASK), LENDER_DUMMY)


def check_id_key(id_key: str) -> str:
    """Return ``id_key`` if it is 64 lowercase hex digits, else raise ``InputError``."""
    if not isinstance(id_key, str) or not _HEX_KEY.match(id_key):
        raise InputError(f"id_key must be 64 lowercase hex digits, got {id_key!r}")
    return id_key


def _tag(id_type: str) -> str:
    if id_type not in ID_TYPES:
        raise InputError(f"applicant ids must be string or int64 columns, not {id_type}")
    return "s" if id_type == "string" else "i"


def text_prefix(id_key: str, id_type: str) -> str:
    """Return the part of the hashed text that precedes the value."""
    return f"{PREFIX}:{check_id_key(id_key)}:{_tag(id_type)}:"


def key_sql(column: str, id_type: str) -> str:
    """Return the SQL yielding the key's 16 hex digits; bind :func:`text_prefix` to its ``?``."""
    quoted = f'"{column}"'
    value = f"nfc_normalize({quoted})" if id_type == "string" else f"CAST({quoted} AS VARCHAR)"
    return f"substr(sha256(concat(?, {value})), 1, 16)"


def valid_id_sql(column: str, id_type: str) -> str:
    """Return the SQL condition a lender's applicant id must meet to get a key."""
    quoted = f'"{column}"'
    if id_type == "string":
        return f"{quoted} IS NOT NULL AND NOT contains({quoted}, chr(0))"
    return f"{quoted} IS NOT NULL"


def keys_from_hex(digits: Iterable[str]) -> np.ndarray:
    """Turn 16-hex-digit strings (from :func:`key_sql`) into sorted, distinct 62-bit keys."""
    joined = "".join(digits)
    if len(joined) % 16:
        raise InputError("applicant key digests must be 16 hex digits each")
    words = np.frombuffer(bytes.fromhex(joined), dtype=">u8").astype(np.uint64)
    return np.unique(np.bitwise_and(words, KEY_MASK))


def applicant_key(value: object, id_key: str, id_type: str) -> int:
    """Return the key of one applicant id, as the requester computes it."""
    if id_type == "string":
        if not isinstance(value, str):
            raise InputError(f"applicant ids are strings here; got {value!r}")
        if "\x00" in value:
            raise InputError(
                f"applicant id {value!r} contains U+0000, which no applicant id may contain"
            )
        text = unicodedata.normalize("NFC", value)
    else:
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
            raise InputError(f"applicant ids are int64 here; got {value!r}")
        text = str(value)
    try:
        encoded = (text_prefix(id_key, id_type) + text).encode()
    except UnicodeEncodeError as exc:
        raise InputError(
            f"applicant id {value!r} is not valid Unicode text: {exc.reason}"
        ) from None
    digest = hashlib.sha256(encoded).digest()
    return int.from_bytes(digest[:8], "big") & int(KEY_MASK)
