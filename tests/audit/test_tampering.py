"""Forged, missing and reordered events: the audit names the job, block and check.

A regulator reads the chain through an RPC node it may not control, or from
an export. These tests take the real event history of the story, alter it as
a lying source would, and run the same pipeline (:func:`audit_events`) over
it with the contracts' views at the same block.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.audit.engine import audit_events
from offchain.audit.findings import Severity
from offchain.audit.history import ChainHistory, TimedEvent
from offchain.audit.ledger import fold_input, fold_result
from offchain.chain.client import fold_input_commitment, fold_result_commitment
from offchain.chain.events import EventDecoder
from offchain.chain.rpc import Rpc
from tests.audit.conftest import Story
from tests.audit.consortium import WESTLAND


def _history(story: Story) -> tuple[list[TimedEvent], int, int]:
    reader = ChainHistory(story.world.rpc, story.world.deployment)
    events = reader.poll()
    return events, reader.head[0], reader.head_timestamp


def _errors(state) -> list[tuple[str, int | None]]:
    return [(f.check, f.job_id) for f in state.findings if f.severity is Severity.ERROR]


def _replace_args(item: TimedEvent, **changes) -> TimedEvent:
    return TimedEvent(replace(item.event, args={**item.event.args, **changes}), item.timestamp)


def test_untouched_history_has_only_the_real_anomaly(history: Story) -> None:
    events, block, stamp = _history(history)
    state = audit_events(history.reader, events, block, stamp)
    assert _errors(state) == [("transcripts-agree", history.jobs.transcript_mismatch)]


def test_a_forged_result_commitment_breaks_the_commitment_digest(history: Story) -> None:
    events, block, stamp = _history(history)
    job_id = history.jobs.finalized
    position = next(i for i, e in enumerate(events) if e.event.name == "ResultCommitted"
                    and e.event.args["jobId"] == job_id and e.event.args["nodeIndex"] == 1)
    events[position] = _replace_args(events[position], resultCommitment=keccak(text="what the node wishes it sent"))
    state = audit_events(history.reader, events, block, stamp)
    digest = [f for f in state.findings if f.check == "commitment-digest"]
    assert [(f.job_id, f.severity) for f in digest] == [(job_id, Severity.ERROR)]
    assert f"job {job_id}: the commitment digest folded from its InputCommitted and ResultCommitted" in digest[0].message
    assert state.ledger.jobs[job_id].nodes[1].result_commitment == keccak(text="what the node wishes it sent")
    # From the events alone every per-job rule still holds: only the contract's digest exposes the forgery.
    assert audit_events(None, events, block, stamp).findings == audit_events(
        None, _history(history)[0], block, stamp).findings


def test_a_forged_transcript_hash_is_caught_by_the_digest_too(history: Story) -> None:
    events, block, stamp = _history(history)
    job_id = history.jobs.transcript_mismatch
    position = next(i for i, e in enumerate(events) if e.event.name == "ResultCommitted"
                    and e.event.args["jobId"] == job_id and e.event.args["nodeIndex"] == 2)
    honest = next(e for e in events if e.event.name == "ResultCommitted" and e.event.args["jobId"] == job_id)
    # A source that hides the odd transcript: the transcripts now agree, but the digest does not.
    events[position] = _replace_args(events[position], transcriptHash=honest.event.args["transcriptHash"])
    state = audit_events(history.reader, events, block, stamp)
    assert _errors(state) == [("commitment-digest", job_id)]


def test_a_member_acting_after_its_suspension_is_reported(history: Story) -> None:
    events, block, stamp = _history(history)
    world = history.world
    suspended = next(i for i, e in enumerate(events) if e.event.name == "MemberSuspended")
    job_id = history.jobs.suspended_in_flight
    template = next(e for e in events if e.event.name == "JobAccepted")
    after = events[suspended]
    forged = TimedEvent(replace(template.event, args={"jobId": job_id, "participant": world.address(WESTLAND),
                                                      "pendingAcceptances": 0x3 | 0x3 << 16},
                                block_number=after.event.block_number, log_index=after.event.log_index + 1,
                                transaction_hash="0x" + "ab" * 32), after.timestamp)
    events.insert(suspended + 1, forged)
    state = audit_events(history.reader, events, block, stamp)
    acted = [f for f in state.findings if f.check == "acted-while-active"]
    assert [(f.job_id, f.member, f.block) for f in acted] == [(job_id, world.address(WESTLAND),
                                                               after.event.block_number)]
    assert "could accept a job on job 7 only as active member, but was SUSPENDED" in acted[0].message
    assert ("views-agree", job_id) in _errors(state)  # the contract never recorded that acceptance


def test_missing_and_reordered_events_are_reported(history: Story) -> None:
    events, block, stamp = _history(history)
    job_id = history.jobs.finalized
    started = next(i for i, e in enumerate(events) if e.event.name == "JobStarted" and e.event.args["jobId"] == job_id)
    without_start = events[:started] + events[started + 1:]
    state = audit_events(history.reader, without_start, block, stamp)
    lifecycle = [f for f in state.findings if f.check == "lifecycle" and f.job_id == job_id]
    assert any("ResultCommitted while REQUESTED" in f.message for f in lifecycle)

    swapped = list(events)
    swapped[started], swapped[started + 1] = swapped[started + 1], swapped[started]
    state = audit_events(history.reader, swapped, block, stamp)
    assert any(f.check == "events-consistent" and "out of chain order" in f.message for f in state.findings)


def test_a_forged_payout_fails_the_metering_and_the_balances(history: Story) -> None:
    events, block, stamp = _history(history)
    job_id = history.jobs.finalized
    position = next(i for i, e in enumerate(events) if e.event.name == "Metered" and e.event.args["jobId"] == job_id)
    amounts = list(events[position].event.args["amounts"])
    amounts[4] += 500  # Westland's line
    events[position] = _replace_args(events[position], amounts=amounts,
                                     refund=events[position].event.args["refund"] - 500)
    state = audit_events(history.reader, events, block, stamp)
    errors = _errors(state)
    assert ("payout-matches-metering", job_id) in errors
    metering = next(f for f in state.findings if f.check == "payout-matches-metering")
    assert "Westland Credit Union 508 (metering says 8)" in metering.message
    assert any(f.check == "balances" and f.member == history.world.address(WESTLAND) for f in state.findings)


def test_a_hidden_grant_use_breaks_the_quota_check(history: Story) -> None:
    events, block, stamp = _history(history)
    job_id = history.jobs.declined
    position = next(i for i, e in enumerate(events) if e.event.name == "GrantUsed" and e.event.args["jobId"] == job_id
                    and e.event.args["datasetId"] == history.world.claims)
    hidden = events[:position] + events[position + 1:]
    state = audit_events(history.reader, hidden, block, stamp)
    quota = [f for f in state.findings if f.check == "grant-quota"]
    # The hiding job used the grant without counting; the next request's count then jumps by two.
    assert [f.job_id for f in quota] == [job_id, job_id + 1]
    assert "without counting the use" in quota[0].message
    assert f"went from {job_id - 1} to {job_id + 1} uses in one request" in quota[1].message


def test_the_fold_is_deterministic(history: Story) -> None:
    events, block, stamp = _history(history)
    first = audit_events(None, events, block, stamp)
    second = audit_events(None, list(events), block, stamp)
    assert first.findings == second.findings
    assert {j: (r.digest, r.status, r.charged) for j, r in first.ledger.jobs.items()} == {
        j: (r.digest, r.status, r.charged) for j, r in second.ledger.jobs.items()}


def test_the_fast_decoder_equals_the_generic_abi_decoder(history: Story) -> None:
    world = history.world
    rpc = world.rpc
    logs = rpc.request("eth_getLogs", {"address": list(world.deployment.contracts.values()),
                                       "fromBlock": hex(world.deployment.deploy_block), "toBlock": "latest"})
    decoder = EventDecoder(world.deployment.contracts)
    assert ChainHistory(rpc, world.deployment).decoder.decode(logs[0]) == decoder.decode(logs[0])
    assert len(logs) > 100
    for log in logs:
        assert decoder.decode(log) == decoder.decode_generic(log), log


class _NoTimestampRpc(Rpc):
    """A node that, like older clients, sends logs without ``blockTimestamp``."""

    def batch(self, calls):
        outcomes = super().batch(calls)
        for (method, _), outcome in zip(calls, outcomes, strict=True):
            if method == "eth_getLogs" and isinstance(outcome, list):
                for log in outcome:
                    log.pop("blockTimestamp", None)
        return outcomes


def test_timestamps_come_from_block_headers_when_logs_lack_them(history: Story) -> None:
    events, _, _ = _history(history)
    reader = ChainHistory(_NoTimestampRpc(history.world.rpc.url), history.world.deployment)
    without = reader.poll()
    assert [(e.event.block_number, e.timestamp) for e in without] == [
        (e.event.block_number, e.timestamp) for e in events]
    assert reader.rpc.round_trips < 10


def test_a_reorganisation_below_the_read_head_is_refused(chain: Story) -> None:
    from offchain.errors import ReorgDetected

    rpc = chain.world.rpc
    snapshot = rpc.request("evm_snapshot")
    reader = ChainHistory(rpc, chain.world.deployment)
    chain.world.advance(10)
    reader.poll()
    rpc.request("evm_revert", snapshot)
    chain.world.advance(20)  # same height, another block
    with pytest.raises(ReorgDetected, match="reorganisation"):
        reader.poll()


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.integers(0, 2**64), st.integers(0, 15),
       st.binary(min_size=32, max_size=32), st.integers(0, 2**64 - 1))
def test_digest_folds_equal_the_abi_encoded_ones(digest: bytes, job_id: int, index: int, value: bytes,
                                                 rows: int) -> None:
    assert fold_input(digest, job_id, index, value, rows) == fold_input_commitment(digest, job_id, index, value, rows)
    assert fold_result(digest, job_id, index, value, digest) == fold_result_commitment(
        digest, job_id, index, value, digest)
