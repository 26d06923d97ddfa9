"""The claim-settlement scenario of secure publishing, step by step on a real chain.

An insurer settles claims from a hospital's records without seeing them
(:mod:`offchain.publish.samples` holds the records, claims and rules):

1. :func:`offer_records` — the hospital registers its ``records`` (schema,
   row count, fingerprint) and grants the insurer PUBLISH jobs with the
   column levels the program needs;
2. the insurer writes the program text; the hospital reviews its plan and
   :func:`~offchain.client.publishing.approve`\\ s its hash;
3. a patient consents: the hospital records the consent and gives the
   patient the consent reference;
4. :func:`settle_claim` — the insurer requests the PUBLISH job for one
   claim; the hospital's node re-checks consent and approval, evaluates the
   rules in its sandbox and commits; the insurer checks the result against
   the commitments, receives only ``approved`` and ``amount``, finalizes.

:func:`claim_settlement_scenario` runs it all for a few claims and returns
what happened, for ``make demo`` (whose node processes deliver the
parameters and the result over TLS, where here they are handed over in
process) and for tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from offchain.chain.client import ChainClient
from offchain.client.publishing import (
    PublishOutcome,
    approval_note,
    approve,
    chain_catalog,
    chain_now,
    collect_publish_result,
    record_consent,
    request_publish,
    serve_publish_job,
)
from offchain.data.store import LocalStore
from offchain.programs.base import Plan
from offchain.publish.program import PublishProgram
from offchain.publish.samples import (
    PURPOSE,
    RECORDS_SCHEMA,
    Claim,
    claim_program_text,
    claims,
    expected_settlement,
    hospital_records,
)
from offchain.publish.subjects import SubjectKey
from offchain.vocabulary import ConstraintLevel, JobKind

TABLE = "records"


def offer_records(hospital: ChainClient, store: LocalStore, insurer: str, *,
                  price_per_job: int = 5, uses: int = 1_000, days: int = 365) -> int:
    """Register the hospital's records and grant ``insurer`` PUBLISH jobs; return the dataset id."""
    fingerprint = store.fingerprint(TABLE)
    receipt = hospital.catalog.register(TABLE, RECORDS_SCHEMA.names, RECORDS_SCHEMA.types,
                                        fingerprint.row_count, fingerprint.value, price_per_job,
                                        0).transact()
    dataset_id = next(int(e.args["datasetId"]) for e in hospital.events(receipt)
                      if e.name == "DatasetRegistered")
    levels = [ConstraintLevel.PLAINTEXT_AFTER_COMPARE] + [
        ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE] * (len(RECORDS_SCHEMA.names) - 1)
    hospital.transact_all([
        hospital.access_policy.set_grant(dataset_id, insurer, chain_now(hospital) + days * 86_400,
                                         uses, [JobKind.PUBLISH]),
        hospital.access_policy.set_column_levels(dataset_id, insurer,
                                                 list(range(len(levels))), levels),
    ])
    return dataset_id


@dataclass(frozen=True)
class SettledClaim:
    """One claim, settled through the chain: what the insurer learned and the plain reference."""

    claim: Claim
    outcome: PublishOutcome
    expected: dict

    @property
    def decision(self) -> dict:
        return self.outcome.result.values


def settle_claim(insurer: ChainClient, hospital: ChainClient, plan: Plan, store: LocalStore,
                 claim: Claim, consent_reference: str) -> PublishOutcome:
    """Request, serve and collect the PUBLISH job of one claim (see the module docstring)."""
    program = PublishProgram()
    run = program.run_request(plan, {"subject_id": claim.patient_id,
                                     "consent_reference": consent_reference,
                                     "arguments": claim.arguments()})
    job = request_publish(insurer, plan, run)
    # The insurer's node delivers run.parameters to the hospital's node, which re-derives the
    # plan from the job's program text with its own view of the chain and serves the job.
    dataset = plan.inputs[0].dataset
    owner_plan = program.plan(job.event.args["request"]["program"],
                              chain_catalog(hospital, {dataset.dataset_id: dataset.schema}))
    served = serve_publish_job(hospital, program, owner_plan, store, job.event, run.parameters)
    # The hospital's node delivers the outputs and the nonce to the insurer only.
    return collect_publish_result(insurer, program, plan, run, job.job_id,
                                  dict(served.evaluation.outputs), served.nonce)


def claim_settlement_scenario(hospital: ChainClient, insurer: ChainClient, *, seed: int = 7,
                              patients: int = 60, count: int = 3,
                              report: Callable[[str], None] = lambda line: None
                              ) -> list[SettledClaim]:
    """Run the whole scenario on a deployed consortium (see the module docstring)."""
    rng = np.random.default_rng(seed)
    records = hospital_records(rng, patients=patients)
    store = LocalStore()
    store.create_table(TABLE, RECORDS_SCHEMA, records)
    dataset_id = offer_records(hospital, store, insurer.address)
    hospital_name = hospital.consortium.member(hospital.address).name
    report(f"{hospital_name} registered {TABLE} ({len(records['patient_id'])} rows, dataset "
           f"{dataset_id}) and granted PUBLISH jobs to the insurer")
    catalog = chain_catalog(insurer, {dataset_id: RECORDS_SCHEMA})
    text = claim_program_text(f"{hospital_name}.{TABLE}")
    plan = PublishProgram().plan(text, catalog)
    approve(hospital, plan)
    report(f"{hospital_name} reviewed and approved the insurer's rules: {approval_note(plan)}")
    key = SubjectKey.generate()
    settled = []
    for claim in claims(rng, records, count, start=dt.date(2025, 3, 1)):
        consent = record_consent(hospital, dataset_id, key, claim.patient_id, PURPOSE,
                                 chain_now(hospital) + 30 * 86_400, evidence=b"signed form")
        report(f"patient {claim.patient_id} consented (subject 0x{consent.subject.hex()[:12]}…, "
               f"reference {consent.reference[:13]}…)")
        outcome = settle_claim(insurer, hospital, plan, store, claim, consent.reference)
        expected = expected_settlement(records, claim)
        settled.append(SettledClaim(claim, outcome, expected))
        report(f"claim of {claim.patient_id} for {claim.claimed} ({claim.treatment}): job "
               f"{outcome.job_id}, insurer learned {outcome.result.values}; "
               f"trail: {' → '.join(outcome.events)}")
    return settled
