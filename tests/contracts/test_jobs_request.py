"""Jobs.request: what a valid request records and every reason a request is refused.

Each refusal is asserted twice: as the revert of ``request`` (selector and arguments) and as
the reason ``Jobs.checkRequest`` returns for the same request, which must be the same error.
"""

from __future__ import annotations

from tests.contracts.helpers import (
    AFTER_AGGREGATE,
    AFTER_COMPARE,
    AFTER_JOIN,
    ALL_KINDS,
    ENCRYPTED_ONLY,
    JOB_REQUESTED,
    MODEL_PREDICT,
    PLAINTEXT,
    PUBLISH,
    QUERY,
    SCRIPT,
    STATISTICS,
    ZERO_ADDRESS,
    ZERO_HASH,
    decode_error,
    h,
    job_input,
)
from tests.contracts.scenario import (
    BANK_CREDITS,
    CLAIMS_PRICE_PER_JOB,
    CLAIMS_PRICE_PER_ROW,
    CLAIMS_ROWS,
    HORIZON,
    NODE_PRICES,
    VISITS_PRICE_PER_JOB,
    VISITS_PRICE_PER_ROW,
    VISITS_ROWS,
    World,
)

DAY = 86_400
SUBJECT, PURPOSE = h("salted-subject-1"), h("claim-decision")


def refused(world: World, request: dict, sender: str, error: str, *args) -> tuple:
    """Assert ``request`` reverts with ``error(*args)`` and ``checkRequest`` returns that error."""
    decoded = world.d.expect_revert(world.d.jobs.functions.request(request), sender, error, *args)
    allowed, reason, _ = world.d.jobs.functions.checkRequest(sender, request).call()
    assert not allowed
    assert decode_error(reason) == (error, decoded), f"checkRequest gave {decode_error(reason)}"
    return decoded


# -- a valid request -------------------------------------------------------------------------


def test_request_recordsJobEscrowsFeeCapAndUsesGrants(world: World) -> None:
    d = world.d
    request = world.query_request()
    allowed, reason, max_fee = d.jobs.functions.checkRequest(world.bank, request).call()
    assert allowed and reason == b"" and max_fee == world.max_fee() == (
        CLAIMS_PRICE_PER_JOB + CLAIMS_PRICE_PER_ROW * CLAIMS_ROWS + VISITS_PRICE_PER_JOB
        + VISITS_PRICE_PER_ROW * VISITS_ROWS + sum(NODE_PRICES))
    job_id, receipt = world.request(request)
    assert job_id == 1
    events = d.expect_events(receipt, [
        ("GrantUsed", {"datasetId": world.claims, "grantee": world.bank, "jobId": 1, "uses": 1}),
        ("GrantUsed", {"datasetId": world.visits, "grantee": ZERO_ADDRESS, "jobId": 1, "uses": 1}),
        ("JobRequested", {"jobId": 1, "requester": world.bank}),
        ("Escrowed", {"jobId": 1, "payer": world.bank, "amount": request["feeCap"]}),
    ])
    emitted = events[2]["request"]
    assert emitted["program"] == request["program"] and emitted["deadline"] == request["deadline"]
    assert [i["datasetId"] for i in emitted["inputs"]] == [world.claims, world.visits]
    assert emitted["inputs"][0]["columns"] == [0, 1, 2] and emitted["inputs"][0]["levels"] == [1, 3, 2]
    assert emitted == {**request, "computeNodes": list(world.nodes), "inputs": emitted["inputs"]}
    assert [(i["datasetId"], i["columns"], i["levels"]) for i in emitted["inputs"]] == [
        (i["datasetId"], i["columns"], i["levels"]) for i in request["inputs"]]

    job = d.jobs.functions.job(1).call()
    assert (job.requester, job.kind, job.status, job.inputCount, job.nodeCount, job.deadline, job.programHash) == (
        world.bank, QUERY, JOB_REQUESTED, 2, 3, request["deadline"], request["programHash"])
    assert (job.pendingAcceptances, job.pendingInputs, job.pendingResults) == (0b111 << 16 | 0b11, 0b11, 0b111)
    assert job.createdAt == d.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    inputs = d.jobs.functions.inputs(1).call()
    assert [(i.datasetId, i.owner, i.pricePerJob, i.pricePerRow, i.rowsUsed, i.committed) for i in inputs] == [
        (world.claims, world.insurer, CLAIMS_PRICE_PER_JOB, CLAIMS_PRICE_PER_ROW, 0, False),
        (world.visits, world.hospital, VISITS_PRICE_PER_JOB, VISITS_PRICE_PER_ROW, 0, False)]
    nodes = d.jobs.functions.nodes(1).call()
    assert [(n.account, n.computePrice, n.accepted, n.resultCommitted) for n in nodes] == [
        (world.nodes[k], NODE_PRICES[k], False, False) for k in range(3)]
    assert d.jobs.functions.commitmentDigest(1).call() == ZERO_HASH
    assert d.jobs.functions.status(1).call() == JOB_REQUESTED
    assert d.billing.functions.balanceOf(world.bank).call() == BANK_CREDITS - request["feeCap"]
    assert tuple(d.billing.functions.escrowOf(1).call()) == (world.bank, request["feeCap"])
    assert d.policy.functions.grant(world.claims, world.bank).call().uses == 1
    assert d.policy.functions.grant(world.visits, ZERO_ADDRESS).call().uses == 1


def test_request_pricesQuotedAtRequestSurviveLaterPriceChanges(world: World) -> None:
    d = world.d
    job_id, _ = world.request()
    d.send(d.catalog.functions.setPrices(world.claims, 1, 1), world.insurer)
    d.send(d.consortium.functions.updateNode("n:1", h("tls-Node One"), 1), world.nodes[0])
    assert d.jobs.functions.inputs(job_id).call()[0].pricePerJob == CLAIMS_PRICE_PER_JOB
    assert d.jobs.functions.nodes(job_id).call()[0].computePrice == NODE_PRICES[0]


def test_request_feeCapAboveMaxFeeIsEscrowedWhole(world: World) -> None:
    job_id, _ = world.request(world.query_request(fee_cap=world.max_fee() + 500))
    assert tuple(world.d.billing.functions.escrowOf(job_id).call()) == (world.bank, world.max_fee() + 500)


def test_request_ownerUsesItsOwnDatasetWithoutGrant(world: World) -> None:
    world.d.send(world.d.billing.functions.issue(world.insurer, 10_000), world.admin)
    request = world.query_request(inputs=[job_input(world.claims, [(0, PLAINTEXT), (3, PLAINTEXT)])],
                                  recipient=world.insurer, fee_cap=10_000)
    job_id, receipt = world.request(request, world.insurer)
    assert [e.name for e in world.d.events(receipt)] == ["JobRequested", "Escrowed"]


def test_request_publishRunsAtTheOwnersNodeWithConsentAndApprovedProgram(world: World) -> None:
    job_id, receipt = _publish(world)
    job = world.d.jobs.functions.job(job_id).call()
    assert (job.kind, job.nodeCount, job.pendingAcceptances) == (PUBLISH, 1, 1 << 16 | 1)
    nodes = world.d.jobs.functions.nodes(job_id).call()
    assert [n.account for n in nodes] == [world.insurer]


def _publish_setup(world: World, consent: bool = True, approve: bool = True) -> dict:
    d = world.d
    program = h("claim-rules-v2")
    if approve:
        d.send(d.policy.functions.approveProgram(world.claims, program, "rules review"), world.insurer)
    if consent:
        d.send(d.policy.functions.recordConsent(world.claims, SUBJECT, PURPOSE, world.now() + 30 * DAY,
                                                h("form"), ZERO_ADDRESS), world.insurer)
    return world.query_request(kind=PUBLISH, inputs=[job_input(world.claims, [(1, ENCRYPTED_ONLY)])],
                               nodes=[world.insurer], program_hash=program, subject=SUBJECT, purpose=PURPOSE,
                               fee_cap=CLAIMS_PRICE_PER_JOB + CLAIMS_PRICE_PER_ROW * CLAIMS_ROWS)


def _publish(world: World):
    return world.request(_publish_setup(world))


# -- refused: the request's own shape --------------------------------------------------------


def test_request_revertsWhen_kindUnknown(world: World) -> None:
    refused(world, world.query_request(kind=6), world.bank, "JobsInvalidKind", 6)


def test_request_revertsWhen_programHashZero(world: World) -> None:
    refused(world, world.query_request(program_hash=ZERO_HASH), world.bank, "JobsZeroProgramHash")


def test_request_revertsWhen_noInputs(world: World) -> None:
    refused(world, world.query_request(inputs=[]), world.bank, "JobsNoInputs")


def test_request_revertsWhen_tooManyInputs(world: World) -> None:
    inputs = [job_input(i + 1) for i in range(17)]
    refused(world, world.query_request(inputs=inputs), world.bank, "JobsTooManyInputs", 17, 16)


def test_request_revertsWhen_datasetListedTwice(world: World) -> None:
    inputs = [job_input(world.claims), job_input(world.visits), job_input(world.claims)]
    refused(world, world.query_request(inputs=inputs), world.bank, "JobsDuplicateInput", world.claims)


def test_request_revertsWhen_publishHasTwoInputs(world: World) -> None:
    request = world.query_request(kind=PUBLISH, nodes=[world.insurer])
    refused(world, request, world.bank, "JobsPublishNeedsOneInput", 2)


def test_request_revertsWhen_tooFewComputeNodes(world: World) -> None:
    refused(world, world.query_request(nodes=list(world.nodes[:2])), world.bank, "JobsWrongNodeCount", QUERY, 2, 3)


def test_request_revertsWhen_publishHasThreeNodes(world: World) -> None:
    request = world.query_request(kind=PUBLISH, inputs=[job_input(world.claims)])
    refused(world, request, world.bank, "JobsWrongNodeCount", PUBLISH, 3, 1)


def test_request_revertsWhen_computeNodeRepeated(world: World) -> None:
    nodes = [world.nodes[0], world.nodes[1], world.nodes[0]]
    refused(world, world.query_request(nodes=nodes), world.bank, "JobsDuplicateNode", world.nodes[0])


def test_request_revertsWhen_recipientZero(world: World) -> None:
    refused(world, world.query_request(recipient=ZERO_ADDRESS), world.bank, "JobsZeroRecipient")


def test_request_revertsWhen_deadlineNotInFuture(world: World) -> None:
    past = world.now() - 10
    refused(world, world.query_request(deadline=past), world.bank, "JobsDeadlineNotInFuture", past, ...)


def test_request_revertsWhen_deadlineBeyondHorizon(world: World) -> None:
    late = world.now() + HORIZON + 100
    _, latest = refused(world, world.query_request(deadline=late), world.bank, "JobsDeadlineBeyondHorizon", late, ...)
    assert latest < late


# -- refused: the policy ---------------------------------------------------------------------


def test_request_revertsWhen_requesterNotAMember(world: World) -> None:
    refused(world, world.query_request(), world.outsider, "AccessPolicyRequesterNotActive", world.outsider)


def test_request_revertsWhen_requesterSuspended(world: World) -> None:
    world.d.send(world.d.consortium.functions.suspend(world.bank, "unpaid fees"), world.regulator)
    refused(world, world.query_request(), world.bank, "AccessPolicyRequesterNotActive", world.bank)


def test_request_revertsWhen_recipientNotAMember(world: World) -> None:
    refused(world, world.query_request(recipient=world.outsider), world.bank,
            "AccessPolicyRecipientNotActive", world.outsider)


def test_request_revertsWhen_recipientLacksLevel(world: World) -> None:
    refused(world, world.query_request(recipient=world.agency), world.bank, "AccessPolicyLevelNotPermitted",
            world.claims, 0, world.agency, ENCRYPTED_ONLY, AFTER_JOIN)


def test_request_revertsWhen_datasetUnknown(world: World) -> None:
    refused(world, world.query_request(inputs=[job_input(99)]), world.bank, "AccessPolicyUnknownDataset", 99)


def test_request_revertsWhen_datasetInactive(world: World) -> None:
    world.d.send(world.d.catalog.functions.deactivate(world.visits), world.hospital)
    refused(world, world.query_request(), world.bank, "AccessPolicyDatasetInactive", world.visits)


def test_request_revertsWhen_datasetFrozen(world: World) -> None:
    world.d.send(world.d.catalog.functions.freeze(world.claims, "investigation"), world.regulator)
    refused(world, world.query_request(), world.bank, "AccessPolicyDatasetFrozen", world.claims)


def test_request_revertsWhen_datasetOwnerSuspended(world: World) -> None:
    world.d.send(world.d.consortium.functions.suspend(world.hospital, "breach"), world.regulator)
    refused(world, world.query_request(), world.bank, "AccessPolicyDatasetOwnerNotActive", world.visits,
            world.hospital)


def test_request_revertsWhen_columnIndexOutOfRange(world: World) -> None:
    inputs = [job_input(world.claims, [(1, AFTER_AGGREGATE), (4, ENCRYPTED_ONLY)])]
    refused(world, world.query_request(inputs=inputs), world.bank, "AccessPolicyColumnOutOfRange", world.claims, 4, 4)


def test_request_revertsWhen_columnAndLevelListsDiffer(world: World) -> None:
    bad = {"datasetId": world.claims, "columns": [0, 1], "levels": [AFTER_JOIN]}
    refused(world, world.query_request(inputs=[bad]), world.bank, "AccessPolicyColumnLevelsLengthMismatch",
            world.claims, 2, 1)


def test_request_revertsWhen_requiredLevelInvalid(world: World) -> None:
    refused(world, world.query_request(inputs=[job_input(world.claims, [(1, 7)])]), world.bank,
            "AccessPolicyInvalidLevel", 7)


def test_request_revertsWhen_levelDoesNotPermitUse(world: World) -> None:
    inputs = [job_input(world.claims, [(1, AFTER_AGGREGATE), (0, PLAINTEXT)])]
    refused(world, world.query_request(inputs=inputs), world.bank, "AccessPolicyLevelNotPermitted",
            world.claims, 0, world.bank, AFTER_JOIN, PLAINTEXT)


def test_request_revertsWhen_columnNeverGrantedIsRevealed(world: World) -> None:
    inputs = [job_input(world.claims, [(3, AFTER_COMPARE)])]
    refused(world, world.query_request(inputs=inputs), world.bank, "AccessPolicyLevelNotPermitted",
            world.claims, 3, world.bank, ENCRYPTED_ONLY, AFTER_COMPARE)


def test_request_allowsEncryptedOnlyUseOfAnyColumn(world: World) -> None:
    inputs = [job_input(world.claims, [(3, ENCRYPTED_ONLY)]), job_input(world.visits, [(2, ENCRYPTED_ONLY)])]
    world.request(world.query_request(inputs=inputs))


def test_request_revertsWhen_noGrant(world: World) -> None:
    refused(world, world.query_request(inputs=[job_input(world.claims)]), world.agency,
            "AccessPolicyNoGrant", world.claims, world.agency)


def test_request_revertsWhen_grantRevoked(world: World) -> None:
    world.d.send(world.d.policy.functions.revokeGrant(world.claims, world.bank), world.insurer)
    refused(world, world.query_request(), world.bank, "AccessPolicyNoGrant", world.claims, world.bank)


def test_request_revertsWhen_grantExpired(world: World) -> None:
    d = world.d
    expiry = world.now() + 100
    d.send(d.policy.functions.setGrant(world.claims, world.bank, expiry, 0, ALL_KINDS), world.insurer)
    world.anvil.advance_time(200)
    _, _, _, now = refused(world, world.query_request(), world.bank, "AccessPolicyGrantExpired",
                           world.claims, world.bank, expiry, ...)
    assert now > expiry


def test_request_revertsWhen_grantExhausted(world: World) -> None:
    d = world.d
    d.send(d.policy.functions.setGrant(world.claims, world.bank, world.now() + DAY, 2, ALL_KINDS), world.insurer)
    world.request()
    world.request()
    refused(world, world.query_request(), world.bank, "AccessPolicyGrantExhausted", world.claims, world.bank, 2)


def test_request_revertsWhen_allMembersGrantExhaustedByOthers(world: World) -> None:
    d = world.d
    d.send(d.policy.functions.setGrant(world.visits, ZERO_ADDRESS, world.now() + DAY, 1, ALL_KINDS), world.hospital)
    world.request()
    d.send(d.billing.functions.issue(world.agency, 10_000), world.admin)
    request = world.query_request(inputs=[job_input(world.visits)], recipient=world.agency)
    refused(world, request, world.agency, "AccessPolicyGrantExhausted", world.visits, ZERO_ADDRESS, 1)


def test_request_revertsWhen_kindNotAllowedByGrant(world: World) -> None:
    request = world.query_request(kind=MODEL_PREDICT - 1)  # MODEL_TRAIN: visits grant allows STATISTICS|QUERY
    refused(world, request, world.bank, "AccessPolicyKindNotAllowed", world.visits, ZERO_ADDRESS, 2,
            (1 << STATISTICS) | (1 << QUERY))


def test_request_revertsWhen_scriptProgramNotApproved(world: World) -> None:
    request = world.query_request(kind=SCRIPT, inputs=[job_input(world.claims, [(1, AFTER_AGGREGATE)])])
    refused(world, request, world.bank, "AccessPolicyProgramNotApproved", world.claims, request["programHash"])


def test_request_revertsWhen_publishConsentMissing(world: World) -> None:
    refused(world, _publish_setup(world, consent=False), world.bank, "AccessPolicyConsentMissing",
            world.claims, SUBJECT, PURPOSE)


def test_request_revertsWhen_publishConsentRevoked(world: World) -> None:
    request = _publish_setup(world)
    world.d.send(world.d.policy.functions.revokeConsent(world.claims, SUBJECT, PURPOSE), world.insurer)
    refused(world, request, world.bank, "AccessPolicyConsentRevoked", world.claims, SUBJECT, PURPOSE)


def test_request_revertsWhen_publishConsentExpired(world: World) -> None:
    d = world.d
    request = _publish_setup(world, consent=False)
    expiry = world.now() + 50
    d.send(d.policy.functions.recordConsent(world.claims, SUBJECT, PURPOSE, expiry, h("form"), ZERO_ADDRESS),
           world.insurer)
    world.anvil.advance_time(100)
    refused(world, request, world.bank, "AccessPolicyConsentExpired", world.claims, SUBJECT, PURPOSE, expiry)


def test_request_revertsWhen_publishProgramNotApproved(world: World) -> None:
    request = _publish_setup(world, approve=False)
    refused(world, request, world.bank, "AccessPolicyProgramNotApproved", world.claims, request["programHash"])


# -- refused: terms ------------------------------------------------------------------------


def test_request_revertsWhen_computeNodeSuspended(world: World) -> None:
    world.d.send(world.d.consortium.functions.suspend(world.nodes[2], "slow"), world.regulator)
    refused(world, world.query_request(), world.bank, "JobsNodeNotActive", world.nodes[2])


def test_request_revertsWhen_computeNodeNotAMember(world: World) -> None:
    nodes = [world.nodes[0], world.nodes[1], world.outsider]
    refused(world, world.query_request(nodes=nodes), world.bank, "JobsNodeNotActive", world.outsider)


def test_request_revertsWhen_publishNodeIsNotTheOwner(world: World) -> None:
    request = _publish_setup(world)
    request["computeNodes"] = [world.nodes[0]]
    refused(world, request, world.bank, "JobsPublishNodeNotOwner", world.nodes[0], world.insurer)


def test_request_revertsWhen_feeCapBelowMaxFee(world: World) -> None:
    refused(world, world.query_request(fee_cap=world.max_fee() - 1), world.bank, "JobsFeeCapBelowMaxFee",
            world.max_fee() - 1, world.max_fee())


def test_request_revertsWhen_creditsInsufficient(world: World) -> None:
    fee_cap = BANK_CREDITS + 1
    refused(world, world.query_request(fee_cap=fee_cap), world.bank, "BillingInsufficientCredits",
            world.bank, BANK_CREDITS, fee_cap)


def test_request_revertsWhen_feeCapBeyondEscrowRange(world: World) -> None:
    fee_cap = 2**96
    refused(world, world.query_request(fee_cap=fee_cap), world.bank, "BillingEscrowTooLarge", fee_cap, 2**96 - 1)


def test_request_refusalLeavesGrantUsesUntouched(world: World) -> None:
    world.d.expect_revert(world.d.jobs.functions.request(world.query_request(fee_cap=1)), world.bank,
                          "JobsFeeCapBelowMaxFee", 1, world.max_fee())
    assert world.d.policy.functions.grant(world.claims, world.bank).call().uses == 0
    assert world.d.jobs.functions.jobCount().call() == 0


# -- timings -------------------------------------------------------------------------------


def test_setTimings_byAdmin(world: World) -> None:
    d = world.d
    receipt = d.send(d.jobs.functions.setTimings(7 * DAY, 600), world.admin)
    d.expect_events(receipt, [("TimingsSet", {"maxDeadlineHorizon": 7 * DAY, "confirmationWindow": 600,
                                              "admin": world.admin})])
    assert (d.jobs.functions.maxDeadlineHorizon().call(), d.jobs.functions.confirmationWindow().call()) == (
        7 * DAY, 600)


def test_setTimings_revertsWhen_callerNotAdmin(world: World) -> None:
    world.d.expect_revert(world.d.jobs.functions.setTimings(DAY, 60), world.regulator, "JobsNotAdmin",
                          world.regulator)


def test_setTimings_revertsWhen_zero(world: World) -> None:
    world.d.expect_revert(world.d.jobs.functions.setTimings(0, 60), world.admin, "JobsInvalidTimings", 0, 60)
