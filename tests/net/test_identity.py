"""Node identities: fingerprints, PEM files, permissions, pickling."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from offchain.errors import ConfigError, InputError
from offchain.net.identity import (
    NodeIdentity,
    certificate_fingerprint,
    format_fingerprint,
    parse_fingerprint,
)


@pytest.fixture(scope="module")
def identity() -> NodeIdentity:
    return NodeIdentity.generate("bank-a")


def test_fingerprint_is_sha256_of_the_der_subject_public_key_info(identity):
    spki = identity.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert identity.fingerprint == hashlib.sha256(spki).digest()
    assert len(identity.fingerprint) == 32
    assert certificate_fingerprint(identity.certificate_der()) == identity.fingerprint


def test_generated_identities_differ_and_carry_their_name(identity):
    other = NodeIdentity.generate("bank-b")
    assert other.fingerprint != identity.fingerprint
    assert identity.name == "bank-a"


@pytest.mark.parametrize("form", ["plain", "0x", "colons", "upper", "raw"])
def test_parse_fingerprint_accepts_hex_forms_and_raw_bytes(identity, form):
    text = identity.fingerprint_hex
    written = {
        "plain": text,
        "0x": "0x" + text,
        "colons": ":".join(text[i : i + 2] for i in range(0, 64, 2)),
        "upper": text.upper(),
        "raw": identity.fingerprint,
    }[form]
    assert parse_fingerprint(written) == identity.fingerprint
    assert format_fingerprint(parse_fingerprint(written)) == text


@pytest.mark.parametrize("bad", ["abc", "zz" * 32, "00" * 31, "00" * 33, b"\x00" * 31])
def test_parse_fingerprint_refuses_wrong_lengths_and_non_hex(bad):
    with pytest.raises(InputError, match="fingerprint"):
        parse_fingerprint(bad)


def test_save_then_load_round_trips_with_a_private_key_file(identity, tmp_path):
    key_path, certificate_path = tmp_path / "node.key", tmp_path / "node.crt"
    identity.save(key_path, certificate_path)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    loaded = NodeIdentity.load(key_path, certificate_path)
    assert loaded.fingerprint == identity.fingerprint
    assert loaded.certificate == identity.certificate


def test_save_refuses_to_replace_an_identity_unless_asked(identity, tmp_path):
    key_path, certificate_path = tmp_path / "node.key", tmp_path / "node.crt"
    identity.save(key_path, certificate_path)
    other = NodeIdentity.generate("bank-b")
    with pytest.raises(ConfigError, match="already exists"):
        other.save(key_path, certificate_path)
    other.save(key_path, certificate_path, overwrite=True)
    assert NodeIdentity.load(key_path, certificate_path).fingerprint == other.fingerprint


def test_load_refuses_a_key_readable_by_others(identity, tmp_path):
    key_path, certificate_path = tmp_path / "node.key", tmp_path / "node.crt"
    identity.save(key_path, certificate_path)
    os.chmod(key_path, 0o644)
    with pytest.raises(ConfigError, match=r"mode 0644.*chmod 600"):
        NodeIdentity.load(key_path, certificate_path)


def test_load_refuses_a_key_and_certificate_that_do_not_match(identity, tmp_path):
    identity.save(tmp_path / "a.key", tmp_path / "a.crt")
    NodeIdentity.generate("bank-b").save(tmp_path / "b.key", tmp_path / "b.crt")
    with pytest.raises(ConfigError, match="does not carry this private key"):
        NodeIdentity.load(tmp_path / "a.key", tmp_path / "b.crt")


def test_load_names_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        NodeIdentity.load(tmp_path / "missing.key", tmp_path / "missing.crt")


def test_load_refuses_garbage(identity, tmp_path):
    identity.save(tmp_path / "a.key", tmp_path / "a.crt")
    (tmp_path / "a.crt").write_bytes(b"not a certificate")
    with pytest.raises(ConfigError, match="a.crt"):
        NodeIdentity.load(tmp_path / "a.key", tmp_path / "a.crt")


def test_identities_pickle_for_spawned_processes(identity):
    restored = pickle.loads(pickle.dumps(identity))
    assert restored.fingerprint == identity.fingerprint
    assert restored.certificate == identity.certificate


def test_generate_refuses_an_empty_name():
    with pytest.raises(InputError, match="node name"):
        NodeIdentity.generate("")


def test_certificate_fingerprint_refuses_non_certificates():
    with pytest.raises(InputError, match="not a DER X.509 certificate"):
        certificate_fingerprint(b"\x30\x03garbage")


def test_identities_refuse_keys_other_than_p256(identity):
    from cryptography.hazmat.primitives.asymmetric import ec

    other_curve = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(InputError, match="must be EC P-256"):
        NodeIdentity(other_curve, identity.certificate)
