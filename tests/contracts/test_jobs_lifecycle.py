"""Jobs after the request: accept, decline, commitments, finalize, dispute and resolution, expiry."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak

from tests.contracts.helpers import (
    JOB_COMMITTED,
    JOB_DECLINED,
    JOB_DISPUTED,
    JOB_EXPIRED,
    JOB_FINALIZED,
    JOB_REQUESTED,
    JOB_RESOLVED,
    JOB_RUNNING,
    MEMBER_NONE,
    ZERO_ADDRESS,
    ZERO_HASH,
    h,
)
from tests.contracts.scenario import (
    BANK_CREDITS,
    CLAIMS_PRICE_PER_JOB,
    CLAIMS_PRICE_PER_ROW,
    MEMBER_CREDITS,
    NODE_PRICES,
    VISITS_PRICE_PER_JOB,
    VISITS_PRICE_PER_ROW,
    WINDOW,
    World,
)


def input_link(digest: bytes, job_id: int, index: int, fingerprint: bytes, rows: int) -> bytes:
    return keccak(encode(["bytes32", "uint8", "uint256", "uint256", "bytes32", "uint64"],
                         [digest, 1, job_id, index, fingerprint, rows]))


def result_link(digest: bytes, job_id: int, index: int, commitment: bytes, transcript: bytes) -> bytes:
    return keccak(encode(["bytes32", "uint8", "uint256", "uint256", "bytes32", "bytes32"],
                         [digest, 2, job_id, index, commitment, transcript]))


def _accept_all_nodes(world: World, job_id: int) -> None:
    for node in world.nodes:
        world.d.send(world.d.jobs.functions.accept(job_id), node)


def _commit_inputs(world: World, job_id: int, rows=(800, 400)) -> None:
    jobs = world.d.jobs.functions
    world.d.send(jobs.commitInput(job_id, 0, h("claims-rows"), rows[0]), world.insurer)
    world.d.send(jobs.commitInput(job_id, 1, h("visits-rows"), rows[1]), world.hospital)


# -- accept ------------------------------------------------------------------------------------


def test_accept_byNode_clearsItsBitAndEmits(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    receipt = d.send(d.jobs.functions.accept(job_id), world.nodes[1])
    d.expect_events(receipt, [("JobAccepted", {"jobId": job_id, "participant": world.nodes[1],
                                               "pendingAcceptances": 0b101 << 16 | 0b11})])
    assert [n.accepted for n in d.jobs.functions.nodes(job_id).call()] == [False, True, False]


def test_accept_byNonNodeOwner_acceptsItsInputRole(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    d.send(d.jobs.functions.accept(job_id), world.hospital)
    assert d.jobs.functions.job(job_id).call().pendingAcceptances == 0b111 << 16 | 0b01


def test_job_startsRunningOnceNodesAcceptedAndOwnersCommitted(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    _accept_all_nodes(world, job_id)
    d.send(d.jobs.functions.commitInput(job_id, 0, h("a"), 10), world.insurer)
    assert d.jobs.functions.status(job_id).call() == JOB_REQUESTED
    receipt = d.send(d.jobs.functions.commitInput(job_id, 1, h("b"), 20), world.hospital)
    # Acceptance completes first (so the job starts), then the input is committed.
    d.expect_events(receipt, [
        ("JobAccepted", {"jobId": job_id, "participant": world.hospital}),
        ("JobStarted", {"jobId": job_id}),
        ("InputCommitted", {"jobId": job_id, "inputIndex": 1, "owner": world.hospital,
                            "fingerprint": h("b"), "rowsUsed": 20}),
    ])
    assert d.jobs.functions.status(job_id).call() == JOB_RUNNING


def test_accept_revertsWhen_jobUnknown(world: World) -> None:
    world.d.expect_revert(world.d.jobs.functions.accept(5), world.nodes[0], "JobsUnknownJob", 5)


def test_accept_revertsWhen_callerNotAMember(world: World) -> None:
    job_id, _ = world.request()
    world.d.expect_revert(world.d.jobs.functions.accept(job_id), world.outsider, "JobsNotActiveMember",
                          world.outsider)


def test_accept_revertsWhen_nodeSuspended(world: World) -> None:
    job_id, _ = world.request()
    world.d.send(world.d.consortium.functions.suspend(world.nodes[0], "key leak"), world.regulator)
    world.d.expect_revert(world.d.jobs.functions.accept(job_id), world.nodes[0], "JobsNotActiveMember",
                          world.nodes[0])


def test_accept_revertsWhen_callerNotParticipant(world: World) -> None:
    job_id, _ = world.request()
    world.d.expect_revert(world.d.jobs.functions.accept(job_id), world.agency, "JobsNotParticipant",
                          job_id, world.agency)


def test_accept_revertsWhen_alreadyAccepted(world: World) -> None:
    job_id, _ = world.request()
    world.d.send(world.d.jobs.functions.accept(job_id), world.nodes[0])
    world.d.expect_revert(world.d.jobs.functions.accept(job_id), world.nodes[0], "JobsAlreadyAccepted",
                          job_id, world.nodes[0])


def test_accept_revertsWhen_jobAlreadyRunning(world: World) -> None:
    job_id, _ = world.request()
    _accept_all_nodes(world, job_id)
    _commit_inputs(world, job_id)
    world.d.expect_revert(world.d.jobs.functions.accept(job_id), world.nodes[0], "JobsWrongStatus",
                          job_id, JOB_RUNNING)


def test_accept_revertsWhen_deadlinePassed(world: World) -> None:
    job_id, _ = world.request()
    deadline = world.d.jobs.functions.job(job_id).call().deadline
    world.anvil.advance_time(2 * 86_400)
    world.d.expect_revert(world.d.jobs.functions.accept(job_id), world.nodes[0], "JobsDeadlinePassed",
                          job_id, deadline, ...)


def test_ownerThatIsAComputeNode_commitInputAcceptsBothRoles(world: World) -> None:
    """The insurer owns `claims` and is compute node 0: one commitInput covers both roles."""
    d = world.d
    nodes = [world.insurer, world.nodes[1], world.nodes[2]]
    fee = world.max_fee() - NODE_PRICES[0]  # the insurer's compute price is 0
    job_id, _ = world.request(world.query_request(nodes=nodes, fee_cap=fee))
    receipt = d.send(d.jobs.functions.commitInput(job_id, 0, h("a"), 5), world.insurer)
    assert [e.name for e in d.events(receipt)] == ["JobAccepted", "InputCommitted"]
    assert d.jobs.functions.job(job_id).call().pendingAcceptances == 0b110 << 16 | 0b10
    d.expect_revert(d.jobs.functions.accept(job_id), world.insurer, "JobsAlreadyAccepted", job_id, world.insurer)


def test_accept_byNodeThatOwnsAnInput_acceptsBothRoles(world: World) -> None:
    d = world.d
    nodes = [world.nodes[0], world.hospital, world.nodes[2]]
    job_id, _ = world.request(world.query_request(nodes=nodes, fee_cap=world.max_fee()))
    d.send(d.jobs.functions.accept(job_id), world.hospital)
    assert d.jobs.functions.job(job_id).call().pendingAcceptances == 0b101 << 16 | 0b01


# -- decline -----------------------------------------------------------------------------------


def test_decline_refundsEscrowAndEndsJob(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    receipt = d.send(d.jobs.functions.decline(job_id, "maintenance window"), world.nodes[2])
    d.expect_events(receipt, [
        ("JobDeclined", {"jobId": job_id, "participant": world.nodes[2], "reason": "maintenance window"}),
        ("Refunded", {"jobId": job_id, "payer": world.bank, "amount": world.max_fee()}),
    ])
    assert d.jobs.functions.status(job_id).call() == JOB_DECLINED
    assert d.billing.functions.balanceOf(world.bank).call() == BANK_CREDITS
    assert tuple(d.billing.functions.escrowOf(job_id).call()) == (ZERO_ADDRESS, 0)


def test_decline_revertsWhen_callerNotParticipant(world: World) -> None:
    job_id, _ = world.request()
    world.d.expect_revert(world.d.jobs.functions.decline(job_id, "no"), world.outsider, "JobsNotParticipant",
                          job_id, world.outsider)


def test_decline_revertsWhen_alreadyAccepted(world: World) -> None:
    job_id, _ = world.request()
    world.d.send(world.d.jobs.functions.accept(job_id), world.nodes[0])
    world.d.expect_revert(world.d.jobs.functions.decline(job_id, "changed my mind"), world.nodes[0],
                          "JobsAlreadyAccepted", job_id, world.nodes[0])


def test_decline_revertsWhen_jobRunning(world: World) -> None:
    job_id, _ = world.request()
    _accept_all_nodes(world, job_id)
    _commit_inputs(world, job_id)
    world.d.expect_revert(world.d.jobs.functions.decline(job_id, "late"), world.nodes[0], "JobsWrongStatus",
                          job_id, JOB_RUNNING)


# -- commitInput -------------------------------------------------------------------------------


def test_commitInput_recordsRowsAndExtendsDigest(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    d.send(d.jobs.functions.commitInput(job_id, 1, h("visits-rows"), 321), world.hospital)
    digest = input_link(ZERO_HASH, job_id, 1, h("visits-rows"), 321)
    assert d.jobs.functions.commitmentDigest(job_id).call() == digest
    d.send(d.jobs.functions.commitInput(job_id, 0, h("claims-rows"), 1000), world.insurer)
    assert d.jobs.functions.commitmentDigest(job_id).call() == input_link(digest, job_id, 0, h("claims-rows"), 1000)
    inputs = d.jobs.functions.inputs(job_id).call()
    assert [(i.rowsUsed, i.committed) for i in inputs] == [(1000, True), (321, True)]


def test_commitInput_revertsWhen_callerNotOwner(world: World) -> None:
    job_id, _ = world.request()
    world.d.expect_revert(world.d.jobs.functions.commitInput(job_id, 0, h("x"), 1), world.hospital,
                          "JobsNotInputOwner", job_id, 0, world.hospital, world.insurer)


def test_commitInput_revertsWhen_callerNotAMember(world: World) -> None:
    job_id, _ = world.request()
    world.d.expect_revert(world.d.jobs.functions.commitInput(job_id, 0, h("x"), 1), world.outsider,
                          "JobsNotActiveMember", world.outsider)


def test_commitInput_revertsWhen_indexOutOfRange(world: World) -> None:
    job_id, _ = world.request()
    world.d.expect_revert(world.d.jobs.functions.commitInput(job_id, 2, h("x"), 1), world.insurer,
                          "JobsInputIndexOutOfRange", job_id, 2, 2)


def test_commitInput_revertsWhen_fingerprintZero(world: World) -> None:
    job_id, _ = world.request()
    world.d.expect_revert(world.d.jobs.functions.commitInput(job_id, 0, ZERO_HASH, 1), world.insurer,
                          "JobsZeroCommitment")


def test_commitInput_revertsWhen_committedTwice(world: World) -> None:
    job_id, _ = world.request()
    world.d.send(world.d.jobs.functions.commitInput(job_id, 0, h("x"), 1), world.insurer)
    world.d.expect_revert(world.d.jobs.functions.commitInput(job_id, 0, h("y"), 2), world.insurer,
                          "JobsInputAlreadyCommitted", job_id, 0)


def test_commitInput_revertsWhen_rowsExceedRowCountAtRequest(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    d.send(d.catalog.functions.publishVersion(world.claims, h("claims-v2"), 5_000), world.insurer)
    d.expect_revert(d.jobs.functions.commitInput(job_id, 0, h("x"), 1_001), world.insurer,
                    "JobsRowsUsedExceedLimit", job_id, 0, 1_001, 1_000)


def test_commitInput_revertsWhen_jobDeclined(world: World) -> None:
    job_id, _ = world.request()
    world.d.send(world.d.jobs.functions.decline(job_id, "no"), world.nodes[0])
    world.d.expect_revert(world.d.jobs.functions.commitInput(job_id, 0, h("x"), 1), world.insurer,
                          "JobsWrongStatus", job_id, JOB_DECLINED)


def test_commitInput_revertsWhen_deadlinePassed(world: World) -> None:
    job_id, _ = world.request()
    world.anvil.advance_time(2 * 86_400)
    world.d.expect_revert(world.d.jobs.functions.commitInput(job_id, 0, h("x"), 1), world.insurer,
                          "JobsDeadlinePassed", job_id, ..., ...)


# -- commitResult ------------------------------------------------------------------------------


def _running(world: World) -> int:
    job_id, _ = world.request()
    _accept_all_nodes(world, job_id)
    _commit_inputs(world, job_id)
    return job_id


def test_commitResult_extendsDigestAndCommitsJobAfterLastNode(world: World) -> None:
    d = world.d
    job_id = _running(world)
    digest = d.jobs.functions.commitmentDigest(job_id).call()
    for k in (2, 0):
        d.send(d.jobs.functions.commitResult(job_id, h(f"r{k}"), h(f"t{k}")), world.nodes[k])
        digest = result_link(digest, job_id, k, h(f"r{k}"), h(f"t{k}"))
    receipt = d.send(d.jobs.functions.commitResult(job_id, h("r1"), h("t1")), world.nodes[1])
    digest = result_link(digest, job_id, 1, h("r1"), h("t1"))
    events = d.expect_events(receipt, [
        ("ResultCommitted", {"jobId": job_id, "nodeIndex": 1, "node": world.nodes[1],
                             "resultCommitment": h("r1"), "transcriptHash": h("t1")}),
        ("JobCommitted", {"jobId": job_id}),
    ])
    job = d.jobs.functions.job(job_id).call()
    assert job.status == JOB_COMMITTED and job.committedAt == events[1]["committedAt"]
    assert d.jobs.functions.commitmentDigest(job_id).call() == digest
    assert all(n.resultCommitted for n in d.jobs.functions.nodes(job_id).call())


def test_commitResult_revertsWhen_callerNotComputeNode(world: World) -> None:
    job_id = _running(world)
    world.d.expect_revert(world.d.jobs.functions.commitResult(job_id, h("r"), h("t")), world.insurer,
                          "JobsNotComputeNode", job_id, world.insurer)


def test_commitResult_revertsWhen_callerNotAMember(world: World) -> None:
    job_id = _running(world)
    world.d.expect_revert(world.d.jobs.functions.commitResult(job_id, h("r"), h("t")), world.outsider,
                          "JobsNotActiveMember", world.outsider)


def test_commitResult_revertsWhen_nodeSuspendedMidJob(world: World) -> None:
    job_id = _running(world)
    world.d.send(world.d.consortium.functions.suspend(world.nodes[1], "tampering"), world.regulator)
    world.d.expect_revert(world.d.jobs.functions.commitResult(job_id, h("r"), h("t")), world.nodes[1],
                          "JobsNotActiveMember", world.nodes[1])


def test_commitResult_revertsWhen_committedTwice(world: World) -> None:
    job_id = _running(world)
    world.d.send(world.d.jobs.functions.commitResult(job_id, h("r"), h("t")), world.nodes[0])
    world.d.expect_revert(world.d.jobs.functions.commitResult(job_id, h("r2"), h("t2")), world.nodes[0],
                          "JobsResultAlreadyCommitted", job_id, world.nodes[0])


def test_commitResult_revertsWhen_commitmentOrTranscriptZero(world: World) -> None:
    job_id = _running(world)
    world.d.expect_revert(world.d.jobs.functions.commitResult(job_id, h("r"), ZERO_HASH), world.nodes[0],
                          "JobsZeroCommitment")


def test_commitResult_revertsWhen_jobNotRunning(world: World) -> None:
    job_id, _ = world.request()
    world.d.expect_revert(world.d.jobs.functions.commitResult(job_id, h("r"), h("t")), world.nodes[0],
                          "JobsWrongStatus", job_id, JOB_REQUESTED)


def test_commitResult_revertsWhen_inputsPending(world: World) -> None:
    """Owners may accept without committing; results still wait for every input."""
    d = world.d
    job_id, _ = world.request()
    _accept_all_nodes(world, job_id)
    d.send(d.jobs.functions.accept(job_id), world.insurer)
    d.send(d.jobs.functions.commitInput(job_id, 1, h("b"), 1), world.hospital)
    assert d.jobs.functions.status(job_id).call() == JOB_RUNNING
    d.expect_revert(d.jobs.functions.commitResult(job_id, h("r"), h("t")), world.nodes[0],
                    "JobsInputsPending", job_id, 0b01)


def test_commitResult_revertsWhen_deadlinePassed(world: World) -> None:
    job_id = _running(world)
    world.anvil.advance_time(2 * 86_400)
    world.d.expect_revert(world.d.jobs.functions.commitResult(job_id, h("r"), h("t")), world.nodes[0],
                          "JobsDeadlinePassed", job_id, ..., ...)


# -- finalize ----------------------------------------------------------------------------------


def _owed(rows=(800, 400)) -> list[int]:
    return [CLAIMS_PRICE_PER_JOB + CLAIMS_PRICE_PER_ROW * rows[0],
            VISITS_PRICE_PER_JOB + VISITS_PRICE_PER_ROW * rows[1], *NODE_PRICES]


def test_finalize_byRequester_paysOwnersAndNodesAndRefundsRest(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    world.run_to_committed(job_id)
    receipt = d.send(d.jobs.functions.finalize(job_id), world.bank)
    owed = _owed()
    refund = world.max_fee() - sum(owed)
    payees = [world.insurer, world.hospital, *world.nodes]
    d.expect_events(receipt, [
        ("JobFinalized", {"jobId": job_id, "by": world.bank}),
        ("Metered", {"jobId": job_id, "payer": world.bank, "payees": payees, "amounts": owed, "refund": refund}),
    ])
    assert d.jobs.functions.status(job_id).call() == JOB_FINALIZED
    assert d.billing.functions.balanceOf(world.bank).call() == BANK_CREDITS - sum(owed)
    for payee, amount in zip(payees, owed, strict=True):
        assert d.billing.functions.balanceOf(payee).call() == MEMBER_CREDITS + amount
    assert tuple(d.billing.functions.escrowOf(job_id).call()) == (ZERO_ADDRESS, 0)


def test_finalize_revertsWhen_calledTwice(world: World) -> None:
    job_id, _ = world.request()
    world.run_to_committed(job_id)
    world.d.send(world.d.jobs.functions.finalize(job_id), world.bank)
    world.d.expect_revert(world.d.jobs.functions.finalize(job_id), world.bank, "JobsWrongStatus",
                          job_id, JOB_FINALIZED)


def test_finalize_revertsWhen_participantCallsInsideConfirmationWindow(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    world.run_to_committed(job_id)
    window_ends = d.jobs.functions.job(job_id).call().committedAt + WINDOW
    d.expect_revert(d.jobs.functions.finalize(job_id), world.nodes[0], "JobsConfirmationWindowOpen",
                    job_id, world.nodes[0], window_ends)


def test_finalize_byParticipantAfterConfirmationWindow(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    world.run_to_committed(job_id)
    world.anvil.advance_time(WINDOW)
    receipt = d.send(d.jobs.functions.finalize(job_id), world.hospital)
    assert [e.name for e in d.events(receipt)] == ["JobFinalized", "Metered"]


def test_finalize_revertsWhen_callerUninvolved(world: World) -> None:
    job_id, _ = world.request()
    world.run_to_committed(job_id)
    world.anvil.advance_time(WINDOW)
    for stranger in (world.agency, world.outsider):
        world.d.expect_revert(world.d.jobs.functions.finalize(job_id), stranger, "JobsNotRequesterOrParticipant",
                              job_id, stranger)


def test_finalize_revertsWhen_notAllResultsCommitted(world: World) -> None:
    job_id = _running(world)
    world.d.expect_revert(world.d.jobs.functions.finalize(job_id), world.bank, "JobsWrongStatus",
                          job_id, JOB_RUNNING)


def test_finalize_paysNodeSuspendedAfterItsCommitment(world: World) -> None:
    """Payment follows work: commitments made while active are paid even if suspended later."""
    d = world.d
    job_id, _ = world.request()
    world.run_to_committed(job_id)
    d.send(d.consortium.functions.suspend(world.nodes[2], "audit"), world.regulator)
    d.send(d.jobs.functions.finalize(job_id), world.bank)
    assert d.billing.functions.balanceOf(world.nodes[2]).call() == MEMBER_CREDITS + NODE_PRICES[2]


def test_finalize_requesterMayFinalizeEvenIfRemovedSince(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    world.run_to_committed(job_id)
    d.send(d.consortium.functions.remove(world.bank, "merger"), world.admin)
    d.send(d.jobs.functions.finalize(job_id), world.bank)
    assert d.consortium.functions.memberStatus(world.bank).call() != MEMBER_NONE


# -- dispute and resolution --------------------------------------------------------------------


def test_dispute_locksEscrowUntilResolvedWithRefund(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    world.run_to_committed(job_id)
    receipt = d.send(d.jobs.functions.dispute(job_id, world.nodes[1], h("shares-mismatch")), world.bank)
    d.expect_events(receipt, [("JobDisputed", {"jobId": job_id, "by": world.bank, "suspect": world.nodes[1],
                                               "evidenceHash": h("shares-mismatch")})])
    dispute = d.jobs.functions.disputeOf(job_id).call()
    assert (dispute.openedBy, dispute.suspect, dispute.evidenceHash) == (world.bank, world.nodes[1],
                                                                         h("shares-mismatch"))
    d.expect_revert(d.jobs.functions.finalize(job_id), world.bank, "JobsWrongStatus", job_id, JOB_DISPUTED)
    receipt = d.send(d.jobs.functions.resolveDispute(job_id, True), world.regulator)
    d.expect_events(receipt, [
        ("JobDisputeResolved", {"jobId": job_id, "by": world.regulator, "refundedRequester": True}),
        ("Refunded", {"jobId": job_id, "payer": world.bank, "amount": world.max_fee()}),
    ])
    assert d.jobs.functions.status(job_id).call() == JOB_RESOLVED
    assert d.billing.functions.balanceOf(world.bank).call() == BANK_CREDITS


def test_resolveDispute_withPay_paysOnlyWhatWasCommitted(world: World) -> None:
    d = world.d
    job_id = _running(world)
    d.send(d.jobs.functions.commitResult(job_id, h("r0"), h("t0")), world.nodes[0])
    d.send(d.jobs.functions.dispute(job_id, ZERO_ADDRESS, h("node 2 silent")), world.nodes[0])
    receipt = d.send(d.jobs.functions.resolveDispute(job_id, False), world.admin)
    owed = _owed()
    amounts = [owed[0], owed[1], NODE_PRICES[0], 0, 0]
    d.expect_events(receipt, [
        ("JobDisputeResolved", {"jobId": job_id, "by": world.admin, "refundedRequester": False}),
        ("Metered", {"jobId": job_id, "amounts": amounts, "refund": world.max_fee() - sum(amounts)}),
    ])


def test_dispute_revertsWhen_callerUninvolved(world: World) -> None:
    job_id = _running(world)
    world.d.expect_revert(world.d.jobs.functions.dispute(job_id, ZERO_ADDRESS, h("e")), world.agency,
                          "JobsNotRequesterOrParticipant", job_id, world.agency)


def test_dispute_revertsWhen_suspectUninvolved(world: World) -> None:
    job_id = _running(world)
    world.d.expect_revert(world.d.jobs.functions.dispute(job_id, world.agency, h("e")), world.bank,
                          "JobsSuspectNotInvolved", job_id, world.agency)


def test_dispute_revertsWhen_jobNotStarted(world: World) -> None:
    job_id, _ = world.request()
    world.d.expect_revert(world.d.jobs.functions.dispute(job_id, ZERO_ADDRESS, h("e")), world.bank,
                          "JobsWrongStatus", job_id, JOB_REQUESTED)


def test_resolveDispute_revertsWhen_callerNeitherAdminNorRegulator(world: World) -> None:
    job_id = _running(world)
    world.d.send(world.d.jobs.functions.dispute(job_id, ZERO_ADDRESS, h("e")), world.bank)
    world.d.expect_revert(world.d.jobs.functions.resolveDispute(job_id, True), world.bank,
                          "JobsNotAdminOrRegulator", world.bank)


def test_resolveDispute_revertsWhen_jobNotDisputed(world: World) -> None:
    job_id = _running(world)
    world.d.expect_revert(world.d.jobs.functions.resolveDispute(job_id, True), world.regulator,
                          "JobsWrongStatus", job_id, JOB_RUNNING)


# -- expiry ------------------------------------------------------------------------------------


def test_expire_afterDeadline_refundsEscrow(world: World) -> None:
    d = world.d
    job_id = _running(world)
    world.anvil.advance_time(2 * 86_400)
    receipt = d.send(d.jobs.functions.expire(job_id), world.outsider)
    d.expect_events(receipt, [("JobExpired", {"jobId": job_id, "by": world.outsider}),
                              ("Refunded", {"jobId": job_id, "payer": world.bank, "amount": world.max_fee()})])
    assert d.jobs.functions.status(job_id).call() == JOB_EXPIRED


def test_expire_revertsWhen_tooEarly(world: World) -> None:
    job_id, _ = world.request()
    deadline = world.d.jobs.functions.job(job_id).call().deadline
    world.d.expect_revert(world.d.jobs.functions.expire(job_id), world.outsider, "JobsDeadlineNotReached",
                          job_id, deadline, ...)


def test_expire_revertsWhen_jobCommitted(world: World) -> None:
    """Once every result is in, the work is done: the job is finalized or disputed, never expired."""
    job_id, _ = world.request()
    world.run_to_committed(job_id)
    world.anvil.advance_time(2 * 86_400)
    world.d.expect_revert(world.d.jobs.functions.expire(job_id), world.bank, "JobsWrongStatus",
                          job_id, JOB_COMMITTED)
    world.d.send(world.d.jobs.functions.finalize(job_id), world.nodes[0])


def test_views_revertWhen_jobUnknown(world: World) -> None:
    jobs = world.d.jobs.functions
    for view in (jobs.job(3), jobs.inputs(3), jobs.nodes(3)):
        world.d.expect_call_revert(view, "JobsUnknownJob", 3)
    assert jobs.status(3).call() == 0
    assert tuple(jobs.disputeOf(3).call()) == (ZERO_ADDRESS, ZERO_ADDRESS, ZERO_HASH, 0)
