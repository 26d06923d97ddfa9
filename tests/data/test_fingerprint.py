"""Canonical encoding, Merkle fingerprints and the DuckDB store."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.data.encoding import encode_rows
from offchain.data.merkle import (
    fingerprint_rows,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    verify_inclusion,
)
from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.errors import InputError

SCHEMA = Schema.of([("applicant_id", "string"), ("applied_on", "date"),
                    ("amount", "decimal(12,2)"), ("score", "float64"), ("flag", "bool")])


def _store_with_rows(rows: list[tuple], name: str = "applications") -> LocalStore:
    store = LocalStore()
    columns = {c: [r[i] for r in rows] for i, c in enumerate(SCHEMA.names)}
    columns = {k: np.array(v, dtype=object) for k, v in columns.items()}
    store._cursor().execute(
        f'CREATE TABLE {name} (applicant_id VARCHAR, applied_on DATE, amount DECIMAL(12,2), '
        "score DOUBLE, flag BOOLEAN)"
    )
    for row in rows:
        store._cursor().execute(f"INSERT INTO {name} VALUES (?, ?, ?, ?, ?)", list(row))
    return store


ROWS = [
    ("alice", dt.date(2026, 11, 1), "120.50", 0.5, True),
    ("bob", dt.date(2026, 11, 2), "99.99", -0.0, False),
    (None, None, None, None, None),
    ("alice", dt.date(2026, 11, 1), "120.50", 0.5, True),
]


def test_fingerprint_is_independent_of_row_order() -> None:
    forward = _store_with_rows(ROWS).fingerprint("applications")
    backward = _store_with_rows(ROWS[::-1]).fingerprint("applications")
    assert forward == backward
    assert forward.row_count == 4


def test_fingerprint_changes_when_one_value_changes() -> None:
    changed = list(ROWS)
    changed[1] = ("bob", dt.date(2026, 11, 2), "99.98", 0.0, False)
    assert (_store_with_rows(ROWS).fingerprint("applications").value
            != _store_with_rows(changed).fingerprint("applications").value)


def test_fingerprint_counts_duplicates() -> None:
    assert (_store_with_rows(ROWS).fingerprint("applications").value
            != _store_with_rows(ROWS[:3]).fingerprint("applications").value)


def test_negative_zero_and_nan_are_canonical() -> None:
    schema = Schema.of([("x", "float64")])
    plus = list(encode_rows(schema, {"x": np.array([0.0, np.nan])}))
    minus = list(encode_rows(schema, {"x": np.array([-0.0, -np.nan])}))
    assert plus == minus


def test_null_differs_from_zero_and_empty_string() -> None:
    schema = Schema.of([("x", "int64"), ("s", "string")])
    null = list(encode_rows(schema, {"x": np.ma.masked_array([0], mask=[True]),
                                     "s": np.array([None], dtype=object)}))
    zero = list(encode_rows(schema, {"x": np.array([0]), "s": np.array([""], dtype=object)}))
    assert null != zero


def test_row_encoding_matches_the_documented_layout() -> None:
    schema = Schema.of([("s", "string"), ("n", "int64"), ("d", "date"), ("b", "bool")])
    (row,) = encode_rows(schema, {"s": np.array(["é"], dtype=object), "n": np.array([-2]),
                                  "d": np.array([1]), "b": np.array([True])})
    expected = (b"\x01" + (-2).to_bytes(8, "big", signed=True) + b"\x01" + (1).to_bytes(4, "big")
                + b"\x01\x01" + b"\x01" + (2).to_bytes(4, "big") + "é".encode())
    assert row == expected


def test_schema_is_bound_into_the_fingerprint() -> None:
    rows = [b"\x01" + (5).to_bytes(8, "big")]
    a = fingerprint_rows(Schema.of([("x", "int64")]), rows)
    b = fingerprint_rows(Schema.of([("y", "int64")]), rows)
    assert a.root == b.root and a.value != b.value


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=40), st.data())
def test_every_leaf_has_a_valid_inclusion_proof(rows: list[bytes], data: st.DataObject) -> None:
    leaves = sorted(leaf_hash(r) for r in rows)
    root = merkle_root(leaves)
    index = data.draw(st.integers(0, len(rows) - 1))
    row = rows[index]
    position = leaves.index(leaf_hash(row))
    proof = inclusion_proof(leaves, position)
    assert verify_inclusion(row, proof, root)
    assert not verify_inclusion(row + b"x", proof, root)


def test_inner_node_cannot_pass_as_a_row() -> None:
    leaves = sorted(leaf_hash(bytes([i])) for i in range(4))
    root = merkle_root(leaves)
    forged_row = b"\x01" + leaves[0][1:]  # bytes that look like an inner node body
    assert not verify_inclusion(forged_row, [], root)
    assert hashlib.sha256(b"\x01" + leaves[0] + leaves[1]).digest() != leaf_hash(leaves[0] + leaves[1])


def test_import_csv_and_parquet_give_the_same_fingerprint(tmp_path) -> None:
    csv = tmp_path / "loans.csv"
    csv.write_text("loan_id,amount,opened\n1,100.5,2026-01-02\n2,,2026-02-03\n")
    store = LocalStore(tmp_path / "node.duckdb")
    schema = store.import_file("loans", csv)
    assert schema.names == ["loan_id", "amount", "opened"]
    assert schema.types == ["int64", "float64", "date"]
    parquet = tmp_path / "loans.parquet"
    store._cursor().execute(f"COPY loans TO '{parquet}' (FORMAT parquet)")
    store.import_file("loans_copy", parquet)
    assert store.fingerprint("loans").value == store.fingerprint("loans_copy").value
    assert store.row_count("loans") == 2


def test_import_refuses_overwrite_unknown_format_and_unsupported_types(tmp_path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("x\n1\n")
    store = LocalStore()
    store.import_file("a", csv)
    with pytest.raises(InputError, match="already exists"):
        store.import_file("a", csv)
    store.import_file("a", csv, replace=True)
    json_file = tmp_path / "a.json"
    json_file.write_text("{}")
    with pytest.raises(InputError, match="unknown file type"):
        store.import_file("b", json_file)
    store._cursor().execute("CREATE TABLE blobs AS SELECT 'x'::BLOB AS payload")
    with pytest.raises(InputError, match="payload"):
        store.schema("blobs")


def test_bad_identifiers_and_types_are_refused() -> None:
    with pytest.raises(InputError, match="not a valid identifier"):
        Schema.of([("1bad", "int64")])
    with pytest.raises(InputError, match="unknown column type"):
        Schema.of([("x", "uuid")])
    with pytest.raises(InputError, match="appears twice"):
        Schema.of([("x", "int64"), ("X", "float64")])


def test_checksum_tracks_changes() -> None:
    store = _store_with_rows(ROWS)
    before = store.checksum("applications")
    store._cursor().execute("UPDATE applications SET score = 0.75 WHERE applicant_id = 'bob'")
    assert store.checksum("applications") != before


def test_read_columns_projects_canonically() -> None:
    store = _store_with_rows(ROWS[:2])
    cols = store.read_columns("applications", ["amount", "applied_on"], where="flag")
    assert cols["amount"].tolist() == [12050]
    assert cols["applied_on"].tolist() == [(dt.date(2026, 11, 1) - dt.date(1970, 1, 1)).days]
