"""Published result evidence against the commitments on chain: the cheating node is named."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.audit.engine import Auditor
from offchain.audit.evidence import ResultEvidence, verify_evidence
from offchain.errors import InputError
from offchain.mpc.sharing import SharePayload
from offchain.programs.commitments import (
    decode_arrays,
    encode_arrays,
    payload_arrays,
    result_bytes,
    result_commitment,
)
from tests.audit.conftest import Story
from tests.audit.consortium import EASTERN, NORTHBANK, ST_CLARE, WESTLAND, Consortium

OUTPUTS = ("count", "mean")
NODES = (EASTERN, ST_CLARE, WESTLAND)


def replicated(values: np.ndarray, kind: str, bits: int, rng: np.random.Generator) -> list[SharePayload]:
    """Party k holds (x_k, x_{k+1}) with x_0 + x_1 + x_2 = values mod 2**64."""
    plain = values.astype(np.uint64)
    x0 = rng.integers(0, 2**64, size=plain.shape, dtype=np.uint64)
    x1 = rng.integers(0, 2**64, size=plain.shape, dtype=np.uint64)
    x2 = plain - x0 - x1
    parts = (x0, x1, x2)
    return [SharePayload(k, kind, plain.shape, bits, parts[k].copy(), parts[(k + 1) % 3].copy()) for k in range(3)]


def node_payloads(seed: int = 5) -> list[dict[str, SharePayload]]:
    rng = np.random.default_rng(seed)
    counts = replicated(np.array([3, 1, 4, 1]), "integer", 0, rng)
    means = replicated(np.array([int(2.5 * 2**16), int(7.25 * 2**16)]), "fixed", 16, rng)
    return [{"count": counts[k], "mean": means[k]} for k in range(3)]


def commit_job(world: Consortium, payloads: list[dict[str, SharePayload]], nonces: list[bytes]) -> int:
    """A job whose nodes commit to ``payloads`` (what they would send the requester)."""
    job_id = world.request(world.query_request(visits=False))
    world.client(EASTERN).jobs.commit_input(job_id, 0, b"\x11" * 32, 500).transact()
    for node in (ST_CLARE, WESTLAND):
        world.client(node).jobs.accept(job_id).transact()
    for k, node in enumerate(NODES):
        commitment = result_commitment(result_bytes(OUTPUTS, payload_arrays(payloads[k], OUTPUTS)), nonces[k])
        world.client(node).jobs.commit_result(job_id, commitment, b"\x22" * 32).transact()
    return job_id


def evidence_for(world: Consortium, job_id: int, payloads: list[dict[str, SharePayload]],
                 nonces: list[bytes]) -> ResultEvidence:
    return ResultEvidence.build(world.deployment.chain_id, world.deployment.address("Jobs"), job_id, OUTPUTS,
                                [(world.address(node), payloads[k], nonces[k]) for k, node in enumerate(NODES)])


def verify(story: Story, evidence: ResultEvidence, evidence_hash: bytes | None = None):
    auditor = Auditor(story.reader, views=False)
    auditor.refresh()
    ledger = auditor.state.ledger
    return verify_evidence(evidence, ledger.jobs[evidence.job_id], ledger, chain_id=story.world.deployment.chain_id,
                           jobs_contract=story.world.deployment.address("Jobs"), evidence_hash=evidence_hash)


@pytest.fixture
def active_chain(chain: Story) -> Story:
    """The story with Westland reinstated and visits unfrozen (both frozen at the story's end)."""
    world = chain.world
    world.client(0).consortium.reinstate(world.address(WESTLAND)).transact()
    return chain


def test_honest_payloads_match_their_commitments_and_agree(active_chain: Story) -> None:
    world = active_chain.world
    payloads, nonces = node_payloads(), [os.urandom(32) for _ in NODES]
    job_id = commit_job(world, payloads, nonces)
    verdict = verify(active_chain, evidence_for(world, job_id, payloads, nonces))
    assert verdict.consistent and verdict.commitments_match == (True, True, True)
    assert verdict.shares_agree is True and verdict.suspects == () and verdict.findings == ()


def test_a_payload_other_than_the_committed_one_names_its_node(active_chain: Story) -> None:
    world = active_chain.world
    payloads, nonces = node_payloads(), [os.urandom(32) for _ in NODES]
    job_id = commit_job(world, payloads, nonces)
    delivered = [dict(p) for p in payloads]
    honest = payloads[1]["count"]
    altered = honest.own.copy()
    altered[0] += np.uint64(1)  # one share element changed after committing
    delivered[1]["count"] = SharePayload(1, "integer", honest.shape, 0, altered, honest.next)
    verdict = verify(active_chain, evidence_for(world, job_id, delivered, nonces))
    assert not verdict.consistent
    assert verdict.commitments_match == (True, False, True)
    assert verdict.suspects[0] == world.address(ST_CLARE)
    first = verdict.findings[0]
    assert first.check == "result-evidence" and first.member == world.address(ST_CLARE)
    assert "node 1 St. Clare Hospital" in first.message and "other than what it committed to" in first.message


def test_a_committed_payload_that_breaks_the_replication_names_the_node(active_chain: Story) -> None:
    world = active_chain.world
    payloads, nonces = node_payloads(), [os.urandom(32) for _ in NODES]
    cheat = payloads[2]["mean"]
    # Node 2 shifts both its components: its copies of x2 and x0 no longer match its peers'.
    payloads[2]["mean"] = SharePayload(2, "fixed", cheat.shape, 16, cheat.own + np.uint64(2**16),
                                       cheat.next + np.uint64(5))
    job_id = commit_job(world, payloads, nonces)
    verdict = verify(active_chain, evidence_for(world, job_id, payloads, nonces))
    assert verdict.commitments_match == (True, True, True)
    assert verdict.shares_agree is False and not verdict.consistent
    assert verdict.suspects == (world.address(WESTLAND),)
    assert "output 'mean'" in verdict.findings[0].message
    assert "node 2 Westland Credit Union" in verdict.findings[0].message


def test_the_evidence_file_is_the_one_the_dispute_names(active_chain: Story, tmp_path) -> None:
    world = active_chain.world
    payloads, nonces = node_payloads(), [os.urandom(32) for _ in NODES]
    job_id = commit_job(world, payloads, nonces)
    evidence = evidence_for(world, job_id, payloads, nonces)
    path = evidence.save(tmp_path / "evidence.json")
    world.client(NORTHBANK).jobs.dispute(job_id, world.address(WESTLAND), evidence.evidence_hash()).transact()
    loaded, file_hash = ResultEvidence.load(path)
    assert file_hash == evidence.evidence_hash()
    assert verify(active_chain, loaded, file_hash).matches_dispute is True
    other = evidence_for(world, job_id, node_payloads(seed=9), nonces)
    assert verify(active_chain, other, other.evidence_hash()).matches_dispute is False


def test_malformed_evidence_is_refused_with_the_reason(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(InputError, match="format is 'something-else'"):
        ResultEvidence.load(bad)
    record = ResultEvidence(31337, "0x" + "12" * 20, 1, OUTPUTS, ()).to_dict()
    record["results"] = [{"node_index": 0, "node": "0x" + "34" * 20, "nonce": "0x1234", "payload": ""}]
    bad.write_text(json.dumps(record))
    with pytest.raises(InputError, match="nonce is 2 bytes; a result nonce is 32"):
        ResultEvidence.load(bad)
    with pytest.raises(InputError, match="does not exist"):
        ResultEvidence.load(tmp_path / "missing.json")


def test_result_commitment_has_a_fixed_byte_definition() -> None:
    # One output "total" of party 2: components [1, 2] and [3, 2**64 - 1]; all-zero nonce. The node
    # engine commits with the same bytes (offchain/programs/commitments.py docstring).
    payload = SharePayload(2, "integer", (2,), 0, np.array([1, 2], dtype=np.uint64),
                           np.array([3, 2**64 - 1], dtype=np.uint64))
    blob = result_bytes(["total"], payload_arrays({"total": payload}, ["total"]))
    assert blob.startswith(b"unseen-result/v1\x00\x01\x00\x05totalUNSA\x01\x00\x00\x00\x03")
    assert len(blob) == 193
    assert result_commitment(blob, bytes(32)).hex() == (
        "1f1d652c01949d5fd5a9cc70e6f6ba7dc51a35dff453b02a5aa03fdec53efce2")
    with pytest.raises(InputError, match="a result nonce is 32 bytes, got 31"):
        result_commitment(blob, bytes(31))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["<u8", "<i8", "|u1", "<f8"]),
                          st.lists(st.integers(0, 5), min_size=0, max_size=3)), max_size=5))
def test_array_blobs_round_trip_and_refuse_tampering(specs) -> None:
    rng = np.random.default_rng(1)
    arrays = [rng.integers(0, 100, size=tuple(shape)).astype(np.dtype(dtype)) for dtype, shape in specs]
    blob = encode_arrays(arrays)
    decoded = decode_arrays(blob)
    assert len(decoded) == len(arrays)
    for original, back in zip(arrays, decoded, strict=True):
        assert back.dtype == original.dtype and back.shape == original.shape and np.array_equal(back, original)
    with pytest.raises(InputError, match="trailing bytes"):
        decode_arrays(blob + b"\x00")
    if arrays and any(a.nbytes for a in arrays):
        with pytest.raises(InputError, match="truncated"):
            decode_arrays(blob[:-1])
