"""Secure publishing through the contracts: approvals, consent, PUBLISH jobs, receipts, refusals."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from offchain.chain.anvil import development_key
from offchain.chain.client import JobRequest
from offchain.chain.errors import (
    AccessPolicyConsentExpired,
    AccessPolicyConsentMissing,
    AccessPolicyConsentRevoked,
    AccessPolicyProgramNotApproved,
)
from offchain.chain.models import JobStatus
from offchain.client.claims import (
    TABLE,
    claim_settlement_scenario,
    offer_records,
    settle_claim,
)
from offchain.client.publishing import (
    approve,
    chain_now,
    check_approved,
    job_events,
    missing_approvals,
    record_consent,
    request_publish,
    revoke_approval,
    revoke_consent,
    revoke_consent_by_signature,
    serve_publish_job,
    sign_consent_revocation,
)
from offchain.client.trail import job_commitments
from offchain.data.store import LocalStore
from offchain.errors import CommitmentMismatch, PolicyViolation
from offchain.node.catalog import ChainCatalog
from offchain.node.jobspec import job_inputs
from offchain.programs.base import program_hash
from offchain.programs.commitments import ResultEvidence
from offchain.publish.program import PublishProgram
from offchain.publish.samples import (
    PURPOSE,
    RECORDS_SCHEMA,
    Claim,
    claim_program_text,
    expected_settlement,
    hospital_records,
)
from offchain.publish.subjects import SubjectKey
from offchain.vocabulary import JobKind
from tests.publish.conftest import HOSPITAL_ACCOUNT, INSURER_ACCOUNT

PROGRAM = PublishProgram()
CLAIM = Claim("P-00002", dt.date(2025, 9, 1), Decimal("250.00"), "asthma")


@pytest.fixture
def setting(client_for):
    """Hospital with records offered to the insurer, the insurer's plan, a subject key."""
    hospital, insurer = client_for(HOSPITAL_ACCOUNT), client_for(INSURER_ACCOUNT)
    records = hospital_records(np.random.default_rng(3), patients=20)
    store = LocalStore()
    store.create_table(TABLE, RECORDS_SCHEMA, records)
    dataset_id = offer_records(hospital, store, insurer.address)
    name = hospital.consortium.member(hospital.address).name
    catalog = ChainCatalog(insurer)
    plan = PROGRAM.plan(claim_program_text(f"{name}.{TABLE}"), catalog)
    return hospital, insurer, store, records, dataset_id, plan, SubjectKey.generate()


def consent(hospital, dataset_id, key, patient=CLAIM.patient_id, days=30, account=None):
    extra = {"subject_account": account} if account else {}
    return record_consent(hospital, dataset_id, key, patient, PURPOSE,
                          chain_now(hospital) + days * 86_400, b"signed form", **extra)


def run_for(plan, reference, claim=CLAIM):
    return PROGRAM.run_request(plan, {"subject_id": claim.patient_id,
                                      "consent_reference": reference,
                                      "arguments": claim.arguments()})


def raw_request(insurer, plan, run) -> JobRequest:
    """The PUBLISH request without the SDK's checks (to see what the contract itself refuses)."""
    dataset = plan.inputs[0].dataset
    return JobRequest(JobKind.PUBLISH, program_hash(plan.text), plan.text, job_inputs(plan),
                      (dataset.owner,), insurer.address, chain_now(insurer) + 600, 10**6,
                      run.subject, run.purpose, run.params_hash)


def test_an_approved_program_settles_a_consenting_patients_claim(setting) -> None:
    hospital, insurer, store, records, dataset_id, plan, key = setting
    approve(hospital, plan)
    reference = consent(hospital, dataset_id, key).reference
    balance = insurer.billing.balance_of(insurer.address)
    outcome = settle_claim(insurer, hospital, plan, store, CLAIM, reference)
    assert outcome.result.values == expected_settlement(records, CLAIM)
    assert set(outcome.outputs) == {"approved", "amount"}
    assert insurer.jobs.status(outcome.job_id) is JobStatus.FINALIZED
    assert outcome.events == ("JobRequested", "JobAccepted", "JobStarted", "InputCommitted",
                              "ResultCommitted", "JobCommitted", "JobFinalized")
    fee = balance - insurer.billing.balance_of(insurer.address)
    assert fee == 5 + 12  # the hospital's price per job and its compute price
    # besides the (public) program text, the chain holds hashes only: no patient id, no claim
    events = job_events(insurer, outcome.job_id)
    request = dict(events[0].args["request"])
    assert request.pop("program") == plan.text
    trail = repr([request] + [e.args for e in events[1:]])
    assert CLAIM.patient_id not in trail and "250.00" not in trail
    assert request["subject"] == hospital.access_policy.consent(
        dataset_id, request["subject"], request["purpose"]).subject


def test_an_unapproved_or_modified_program_is_refused(setting) -> None:
    hospital, insurer, store, records, dataset_id, plan, key = setting
    reference = consent(hospital, dataset_id, key).reference
    run = run_for(plan, reference)
    assert missing_approvals(insurer, plan, insurer.address) == [plan.inputs[0].dataset.reference]
    with pytest.raises(PolicyViolation, match="is not approved on"):
        request_publish(insurer, plan, run)
    with pytest.raises(AccessPolicyProgramNotApproved):
        insurer.jobs.request(raw_request(insurer, plan, run)).transact()
    approve(hospital, plan)
    check_approved(insurer, plan, insurer.address)
    # the insurer changes its rules: a new hash, which the hospital never approved
    name = plan.inputs[0].dataset.owner_name
    modified = PROGRAM.plan(claim_program_text(f"{name}.{TABLE}", limits={"steps": 2_000_000}),
                            ChainCatalog(insurer))
    assert program_hash(modified.text) != program_hash(plan.text)
    with pytest.raises(PolicyViolation, match="is not approved on"):
        request_publish(insurer, modified, run_for(modified, reference))
    with pytest.raises(AccessPolicyProgramNotApproved):
        insurer.jobs.request(raw_request(insurer, modified, run_for(modified, reference))).transact()
    # withdrawn approval: refused again
    revoke_approval(hospital, plan, "rules under review")
    with pytest.raises(AccessPolicyProgramNotApproved):
        insurer.jobs.request(raw_request(insurer, plan, run_for(plan, reference))).transact()


def test_missing_expired_and_revoked_consent_are_refused(setting, anvil) -> None:
    hospital, insurer, store, records, dataset_id, plan, key = setting
    approve(hospital, plan)
    _, salt = key.subject(dataset_id, PURPOSE, CLAIM.patient_id)
    unrecorded = PROGRAM.run_request(plan, {"subject_id": CLAIM.patient_id, "salt": salt,
                                            "arguments": CLAIM.arguments()})
    with pytest.raises(PolicyViolation, match="no consent is recorded"):
        request_publish(insurer, plan, unrecorded)
    with pytest.raises(AccessPolicyConsentMissing):
        insurer.jobs.request(raw_request(insurer, plan, unrecorded)).transact()

    record = consent(hospital, dataset_id, key, days=1)
    run = run_for(plan, record.reference)
    anvil.advance_time(2 * 86_400)
    with pytest.raises(PolicyViolation, match="expired"):
        request_publish(insurer, plan, run)
    with pytest.raises(AccessPolicyConsentExpired):
        insurer.jobs.request(raw_request(insurer, plan, run)).transact()

    record = consent(hospital, dataset_id, key, days=30)
    revoke_consent(hospital, dataset_id, record.subject, PURPOSE)
    with pytest.raises(PolicyViolation, match="revoked"):
        request_publish(insurer, plan, run)
    with pytest.raises(AccessPolicyConsentRevoked):
        insurer.jobs.request(raw_request(insurer, plan, run)).transact()


def test_the_subject_can_revoke_by_signature_relayed_by_anyone(setting) -> None:
    hospital, insurer, store, records, dataset_id, plan, key = setting
    approve(hospital, plan)
    patient_key = development_key(15)
    from eth_account import Account

    record = consent(hospital, dataset_id, key, account=Account.from_key(patient_key).address)
    deadline = chain_now(insurer) + 3_600
    signature = sign_consent_revocation(patient_key, insurer, dataset_id, record.subject, PURPOSE,
                                        deadline)
    revoke_consent_by_signature(insurer, dataset_id, record.subject, PURPOSE, deadline, signature)
    assert insurer.access_policy.consent(dataset_id, record.subject,
                                         record.purpose).revoked is True
    with pytest.raises(PolicyViolation, match="revoked"):
        request_publish(insurer, plan, run_for(plan, record.reference))


def test_consent_revoked_after_the_request_stops_the_owner_and_declines(setting) -> None:
    hospital, insurer, store, records, dataset_id, plan, key = setting
    approve(hospital, plan)
    record = consent(hospital, dataset_id, key)
    run = run_for(plan, record.reference)
    job = request_publish(insurer, plan, run)
    revoke_consent(hospital, dataset_id, record.subject, PURPOSE)
    with pytest.raises(PolicyViolation, match="revoked"):
        serve_publish_job(hospital, PROGRAM, plan, store, job.event, run.parameters)
    assert insurer.jobs.status(job.job_id) is JobStatus.DECLINED


def test_parameters_for_another_patient_are_refused_by_the_owner(setting) -> None:
    hospital, insurer, store, records, dataset_id, plan, key = setting
    approve(hospital, plan)
    run = run_for(plan, consent(hospital, dataset_id, key).reference)
    other = Claim("P-00005", CLAIM.claim_date, CLAIM.claimed, CLAIM.treatment)
    other_run = run_for(plan, consent(hospital, dataset_id, key, patient=other.patient_id).reference,
                        other)
    job = request_publish(insurer, plan, run)
    # the insurer delivers another consenting patient's parameters for this job
    with pytest.raises(PolicyViolation, match="params hash"):
        serve_publish_job(hospital, PROGRAM, plan, store, job.event, other_run.parameters)
    assert insurer.jobs.status(job.job_id) is JobStatus.DECLINED


def test_the_whole_scenario_for_the_demo(client_for) -> None:
    lines: list[str] = []
    settled = claim_settlement_scenario(client_for(HOSPITAL_ACCOUNT), client_for(INSURER_ACCOUNT),
                                        count=4, report=lines.append)
    assert len(settled) == 4
    for item in settled:
        assert item.decision == item.expected
        assert item.fee == 5 + 12 and "JobFinalized" in item.events
    assert any("approved the insurer's rules" in line for line in lines)


def test_a_result_that_differs_from_its_commitments_opens_a_dispute(setting, tmp_path) -> None:
    from offchain.client.publishing import collect_publish_result

    hospital, insurer, store, records, dataset_id, plan, key = setting
    approve(hospital, plan)
    run = run_for(plan, consent(hospital, dataset_id, key).reference)
    job = request_publish(insurer, plan, run)
    served = serve_publish_job(hospital, PROGRAM, plan, store, job.event, run.parameters)
    altered = dict(served.evaluation.outputs)
    altered["amount"] = np.array([int(altered["amount"][0]) + 100], dtype=np.int64)
    with pytest.raises(CommitmentMismatch, match="does not match its commitments"):
        collect_publish_result(insurer, PROGRAM, plan, run, job.job_id, altered, served.nonce,
                               evidence_dir=tmp_path)
    assert insurer.jobs.status(job.job_id) is JobStatus.DISPUTED
    dispute = insurer.jobs.dispute_of(job.job_id)
    assert dispute.suspect == hospital.address
    # The evidence the dispute cites is the file kept, in the audit's format, naming the owner.
    (path,) = tmp_path.glob(f"job-{job.job_id}-*.json")
    evidence, file_hash = ResultEvidence.load(path)
    assert file_hash == dispute.evidence_hash
    (delivered,) = evidence.results
    assert delivered.node == hospital.address
    committed = job_commitments(insurer, job.job_id).results[0][0]
    assert delivered.commitment(evidence.outputs) != committed
    honest = [served.evaluation.outputs[name] for name in evidence.outputs]
    assert replace(delivered, arrays=tuple(honest)).commitment(evidence.outputs) == committed
