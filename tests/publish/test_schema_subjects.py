"""Declared schemas (validation, encoding, capacity) and salted subject hashes."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.errors import InputError, OutputOutsideSchema
from offchain.publish.schema import (
    check_arguments,
    check_outputs,
    decode_outputs,
    encode_outputs,
    parse_field,
    parse_fields,
)
from offchain.publish.subjects import (
    SubjectKey,
    consent_reference,
    parse_consent_reference,
    purpose_hash,
    subject_hash,
)

AMOUNT = {"name": "amount", "type": "decimal", "scale": 2, "min": "0", "max": "5000"}
OUTPUTS = [
    {"name": "approved", "type": "bool"},
    AMOUNT,
    {"name": "reason", "type": "enum", "values": ["covered", "no_visit", "excluded"]},
    {"name": "visits", "type": "integer", "min": 0, "max": 365},
    {"name": "decided_on", "type": "date", "min": "2025-01-01", "max": "2025-12-31"},
]


def test_outputs_must_be_bounded_and_never_free_text() -> None:
    with pytest.raises(InputError, match="must declare both min and max"):
        parse_field({"name": "amount", "type": "decimal", "scale": 2, "min": "0"}, "output")
    with pytest.raises(InputError, match="type must be one of"):
        parse_field({"name": "note", "type": "text", "max_length": 10}, "output")
    assert parse_field({"name": "note", "type": "text", "max_length": 10}, "argument").max_length == 10
    with pytest.raises(InputError, match="unknown keys"):
        parse_field({"name": "x", "type": "bool", "min": 0}, "output")
    with pytest.raises(InputError, match="more than 2 decimal places"):
        parse_field({**AMOUNT, "max": "5000.001"}, "output")
    with pytest.raises(InputError, match="distinct"):
        parse_fields([AMOUNT, AMOUNT], "output")


def test_capacity_counts_the_bits_one_run_can_reveal() -> None:
    fields = parse_fields(OUTPUTS, "output")
    bits = [f.capacity_bits() for f in fields]
    assert bits[0] == 1.0
    assert bits[1] == pytest.approx(math.log2(500_001))
    assert bits[2] == pytest.approx(math.log2(3))
    assert bits[3] == pytest.approx(math.log2(366))
    assert bits[4] == pytest.approx(math.log2(365))


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("approved", 1, "must be true or false"),
        ("amount", Decimal("5000.01"), "above its declared maximum 5000"),
        ("amount", Decimal("-0.01"), "below its declared minimum 0"),
        ("amount", Decimal("12.345"), "more than 2 decimal places"),
        ("amount", "12", "must be a number"),
        ("reason", "because", "must be one of"),
        ("visits", Decimal("2.5"), "must be an integer"),
        ("decided_on", dt.datetime(2025, 3, 1, 10), "must be a date"),
        ("decided_on", dt.date(2026, 1, 1), "above its declared maximum"),
    ],
)
def test_outputs_outside_the_schema_are_refused(name, value, words) -> None:
    fields = parse_fields(OUTPUTS, "output")
    values = {"approved": True, "amount": Decimal("10"), "reason": "covered", "visits": 2,
              "decided_on": dt.date(2025, 3, 1), name: value}
    with pytest.raises(OutputOutsideSchema, match=words):
        check_outputs(fields, values)


def test_missing_or_extra_outputs_are_refused() -> None:
    fields = parse_fields(OUTPUTS[:2], "output")
    with pytest.raises(OutputOutsideSchema, match="declares"):
        check_outputs(fields, {"approved": True})


_DECIMALS = st.decimals(min_value=0, max_value=5000, places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(st.booleans(), _DECIMALS, st.sampled_from(["covered", "no_visit", "excluded"]),
       st.integers(0, 365), st.dates(dt.date(2025, 1, 1), dt.date(2025, 12, 31)))
def test_checked_outputs_survive_encoding_exactly(approved, amount, reason, visits, day) -> None:
    fields = parse_fields(OUTPUTS, "output")
    checked = check_outputs(fields, {"approved": approved, "amount": amount, "reason": reason,
                                     "visits": visits, "decided_on": day})
    decoded = decode_outputs(fields, encode_outputs(fields, checked))
    assert decoded == checked


def test_arguments_are_checked_against_their_declarations() -> None:
    fields = parse_fields([{"name": "claimed", "type": "decimal", "scale": 2, "min": "0",
                            "max": "100"}, {"name": "code", "type": "text", "max_length": 5}],
                          "argument")
    assert check_arguments(fields, {"claimed": Decimal("5.5"), "code": "J45"})["claimed"] == Decimal("5.50")
    with pytest.raises(InputError, match="above its declared maximum"):
        check_arguments(fields, {"claimed": Decimal("500"), "code": "J45"})
    with pytest.raises(InputError, match="at most 5"):
        check_arguments(fields, {"claimed": Decimal("5"), "code": "J45.123"})
    with pytest.raises(InputError, match="takes arguments"):
        check_arguments(fields, {"claimed": Decimal("5")})


def test_subject_hashes_are_salted_and_unlinkable_across_datasets_and_purposes() -> None:
    key = SubjectKey.generate()
    first, salt = key.subject(1, "insurance-claim-settlement", "P-00001")
    assert subject_hash("P-00001", salt) == first
    assert subject_hash("P-00002", salt) != first
    assert key.subject(2, "insurance-claim-settlement", "P-00001")[0] != first
    assert key.subject(1, "research", "P-00001")[0] != first
    assert SubjectKey.generate().subject(1, "insurance-claim-settlement", "P-00001")[0] != first
    # the same person, re-derived later by the same owner: the same hash (nothing stored)
    assert key.subject(1, "insurance-claim-settlement", " P-00001 ")[0] == first
    assert len(purpose_hash("insurance-claim-settlement")) == 32
    with pytest.raises(InputError, match="purpose"):
        purpose_hash("Insurance Claims!")


def test_consent_references_round_trip_and_catch_typos() -> None:
    salt = bytes(range(32))
    reference = consent_reference(salt)
    assert reference.startswith("UC1-")
    assert parse_consent_reference(reference.lower()) == salt
    mistyped = reference[:6] + ("A" if reference[6] != "A" else "B") + reference[7:]
    with pytest.raises(InputError, match="mistyped"):
        parse_consent_reference(mistyped)


def test_the_subject_key_file_is_private(tmp_path) -> None:
    path = tmp_path / "keys" / "subject.key"
    created = SubjectKey.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert SubjectKey.load_or_create(path).salt(1, "p", "x") == created.salt(1, "p", "x")
    path.chmod(0o644)
    with pytest.raises(Exception, match="chmod 600"):
        SubjectKey.load_or_create(path)
