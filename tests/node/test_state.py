"""The node's SQLite state: jobs once, steps once, deliveries once, cursor with effects."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from offchain.chain.client import JobInput
from offchain.chain.events import CursorPosition
from offchain.errors import InputError
from offchain.node.jobspec import InputTerms, JobDescription
from offchain.node.state import FingerprintRecord, NodeState, StoredResult
from offchain.vocabulary import ConstraintLevel, JobKind

A, B, C, D = (to_checksum_address(f"0x{i:040x}") for i in (0xA, 0xB, 0xC, 0xD))


def description(job_id: int = 7) -> JobDescription:
    return JobDescription(
        job_id=job_id, block_number=12, transaction_hash="0x" + "ab" * 32, requester=A, kind=JobKind.STATISTICS,
        program_hash=b"\1" * 32, program='{"program":"p"}',
        inputs=(JobInput(3, (0, 2), (ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE, ConstraintLevel.ENCRYPTED_ONLY)),),
        compute_nodes=(B, C, D), recipient=A, deadline=1_900_000_000, fee_cap=99, subject=bytes(32),
        purpose=bytes(32), params_hash=bytes(32), input_terms=(InputTerms(B, 2, 100, 5, 1),),
        node_prices=(1, 2, 3),
    )


def test_job_descriptions_survive_storage(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "node.sqlite")
    job = description()
    assert state.add_job(job, party=0, owned_inputs=(0,))
    assert not state.add_job(job, party=0, owned_inputs=(0,))  # once
    state.close()
    again = NodeState(tmp_path / "node.sqlite")
    row = again.job(7)
    assert row.description == job and row.party == 0 and row.owned_inputs == (0,) and row.phase == "new"
    assert job.owned_inputs(B) == (0,) and job.party_of(C) == 1 and not job.involves("0x" + "e" * 40)


def test_phases_steps_and_results(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "node.sqlite")
    state.add_job(description(), 1, ())
    state.set_phase(7, "declined", "no grant")
    assert (state.job(7).phase, state.job(7).reason) == ("declined", "no grant")
    assert state.jobs(("new",)) == [] and len(state.jobs(("declined",))) == 1
    with pytest.raises(InputError, match="unknown job phase"):
        state.set_phase(7, "sleeping")
    assert state.step(7, "accept") is None
    state.record_step(7, "accept", tx_hash="0x01")
    state.record_step(7, "accept", detail="again")
    assert state.step(7, "accept") == ("0x01", "again")
    result = StoredResult(("count",), b"blob", b"n" * 32, b"c" * 32, b"t" * 32)
    state.save_result(7, result)
    assert state.result(7) == result
    with pytest.raises(sqlite3.IntegrityError):
        state.save_result(7, result)  # a result is stored once


def test_a_source_delivers_once(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "node.sqlite")
    assert state.save_received(7, "input0", ["x"], b"shares", A)
    assert not state.save_received(7, "input0", ["x"], b"shares", A)  # the same again: fine
    with pytest.raises(InputError, match="different shares"):
        state.save_received(7, "input0", ["x"], b"other", A)
    assert state.received(7) == {"input0": (["x"], b"shares")}
    state.save_dealt(7, 0, ["x"], [b"p0", b"p1", b"p2"], b"f" * 32, 10)
    assert state.dealt(7, 0, 2) == (["x"], b"p2") and state.commitment(7, 0) == (b"f" * 32, 10)
    state.discard_payloads(7)
    assert state.received(7) == {} and state.dealt(7, 0, 0) is None


def test_cursor_moves_with_the_effects_of_its_transaction(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "node.sqlite")
    with pytest.raises(RuntimeError):
        with state.transaction():
            state.add_job(description(8), None, (0,))
            state.cursor_store.save("node", CursorPosition(5, 2, "0xaa"))
            raise RuntimeError("crash while handling the event")
    assert state.job(8) is None and state.cursor_store.load("node") is None
    with state.transaction():
        state.add_job(description(8), None, (0,))
        state.cursor_store.save("node", CursorPosition(5, 2, "0xaa"))
    state.close()
    again = NodeState(tmp_path / "node.sqlite")
    assert again.job(8) is not None and again.cursor_store.load("node") == CursorPosition(5, 2, "0xaa")


def test_fingerprints_and_flags(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "node.sqlite")
    record = FingerprintRecord("loans", "10:123", b"\2" * 32, 10, 1.5)
    state.save_fingerprint(record)
    assert state.fingerprint("loans") == record and state.fingerprint("other") is None
    state.set_flag("suspended", "suspended: audit")
    assert state.flag("suspended") == "suspended: audit"
    state.set_flag("suspended", None)
    assert state.flag("suspended") is None
