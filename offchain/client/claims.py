"""The claim-settlement scenario of secure publishing, step by step on a real chain.

An insurer settles claims from a hospital's records without seeing them
(:mod:`offchain.publish.samples` holds the records, claims and rules):

1. :func:`offer_records` — the hospital registers its ``records`` (schema,
   row count, fingerprint) and :func:`grant_records` grants the insurer
   PUBLISH jobs with the column levels the program needs;
2. the insurer writes the program text; the hospital reviews its plan and
   :func:`~offchain.client.publishing.approve`\\ s its hash;
3. a patient consents: the hospital records the consent and gives the
   patient the consent reference;
4. a claim is filed: the insurer requests the PUBLISH job for it; the
   hospital re-checks consent and approval, evaluates the rules in its
   sandbox and commits; the insurer checks the result against the
   commitments, receives only ``approved`` and ``amount``, finalizes.

:func:`claim_settlement_scenario` runs it all for a few claims and returns
what happened. Given :class:`ClaimNodes` (the hospital's node file and the
insurer's :class:`~offchain.client.requester.Requester`), the records live
in the hospital node's DuckDB and the hospital's **node process** serves
each job, the parameters and the outputs travelling over pinned TLS
(``make demo``); without, :func:`settle_claim` plays the hospital's node in
this process, on an in-memory table (tests of the contracts without nodes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from offchain.chain.client import ChainClient
from offchain.client.datasets import open_store_for_writing, register_dataset
from offchain.client.publishing import (
    PublishOutcome,
    approval_note,
    approve,
    chain_now,
    collect_publish_result,
    record_consent,
    request_publish,
    serve_publish_job,
)
from offchain.client.requester import Requester
from offchain.client.trail import job_summary
from offchain.data.store import LocalStore
from offchain.node.catalog import ChainCatalog
from offchain.node.config import NodeConfig
from offchain.programs.base import Plan, program_hash
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
PRICE_PER_JOB = 5


def offer_records(hospital: ChainClient, store: LocalStore, insurer: str, *,
                  price_per_job: int = PRICE_PER_JOB, uses: int = 1_000, days: int = 365) -> int:
    """Register the hospital's records held in ``store`` and grant ``insurer`` PUBLISH jobs; return the id."""
    fingerprint = store.fingerprint(TABLE)
    receipt = hospital.catalog.register(TABLE, RECORDS_SCHEMA.names, RECORDS_SCHEMA.types,
                                        fingerprint.row_count, fingerprint.value, price_per_job,
                                        0).transact()
    dataset_id = next(int(e.args["datasetId"]) for e in hospital.events(receipt)
                      if e.name == "DatasetRegistered")
    grant_records(hospital, dataset_id, insurer, uses=uses, days=days)
    return dataset_id


def grant_records(hospital: ChainClient, dataset_id: int, insurer: str, *, uses: int = 1_000,
                  days: int = 365) -> None:
    """Grant ``insurer`` PUBLISH jobs on the records: the patient id compared, the rest aggregated."""
    levels = [ConstraintLevel.PLAINTEXT_AFTER_COMPARE] + [
        ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE] * (len(RECORDS_SCHEMA.names) - 1)
    hospital.transact_all([
        hospital.access_policy.set_grant(dataset_id, insurer, chain_now(hospital) + days * 86_400,
                                         uses, [JobKind.PUBLISH]),
        hospital.access_policy.set_column_levels(dataset_id, insurer,
                                                 list(range(len(levels))), levels),
    ])


@dataclass(frozen=True)
class ClaimNodes:
    """Run the scenario through member nodes: the hospital's node file and the insurer's requester."""

    hospital: NodeConfig
    insurer: Requester


@dataclass(frozen=True)
class SettledClaim:
    """One claim, settled through the chain: what the insurer learned, the plain reference, the trail."""

    claim: Claim
    job_id: int
    decision: dict
    expected: dict
    fee: int
    events: tuple[str, ...]


def settle_claim(insurer: ChainClient, hospital: ChainClient, plan: Plan, store: LocalStore,
                 claim: Claim, consent_reference: str) -> PublishOutcome:
    """Request, serve and collect the PUBLISH job of one claim, the hospital's node's part in process."""
    program = PublishProgram()
    run = program.run_request(plan, _private(claim, consent_reference))
    job = request_publish(insurer, plan, run)
    # The hospital re-derives the plan from the job's program text with its own view of the chain.
    owner_plan = program.plan(job.event.args["request"]["program"], ChainCatalog(hospital))
    served = serve_publish_job(hospital, program, owner_plan, store, job.event, run.parameters)
    # The hospital delivers the outputs and the nonce to the insurer only.
    return collect_publish_result(insurer, program, plan, run, job.job_id,
                                  dict(served.evaluation.outputs), served.nonce)


def _private(claim: Claim, consent_reference: str) -> dict[str, Any]:
    """The insurer's private run parameters for a claim: who (with the consent reference) and what."""
    return {"subject_id": claim.patient_id, "consent_reference": consent_reference,
            "arguments": claim.arguments()}


def claim_settlement_scenario(hospital: ChainClient, insurer: ChainClient, *, seed: int = 7,
                              patients: int = 60, count: int = 3, nodes: ClaimNodes | None = None,
                              report: Callable[[str], None] = lambda line: None
                              ) -> list[SettledClaim]:
    """Run the whole scenario on a deployed consortium (see the module docstring)."""
    rng = np.random.default_rng(seed)
    records = hospital_records(rng, patients=patients)
    hospital_name = hospital.consortium.member(hospital.address).name
    store = None
    if nodes is None:
        store = LocalStore()
        store.create_table(TABLE, RECORDS_SCHEMA, records)
        dataset_id = offer_records(hospital, store, insurer.address)
    else:
        dataset_id = _offer_at_node(hospital, nodes.hospital, records, insurer.address)
    report(f"{hospital_name} registered {TABLE} ({len(records['patient_id'])} rows, dataset "
           f"{dataset_id}) and granted the insurer PUBLISH jobs: patient_id compared, the rest aggregated")
    text = claim_program_text(f"{hospital_name}.{TABLE}")
    plan = PublishProgram().plan(text, ChainCatalog(insurer))
    approve(hospital, plan)
    report(f"{hospital_name} reviewed and approved the insurer's rules "
           f"(program 0x{program_hash(plan.text).hex()[:12]}…): {approval_note(plan)}")
    key = SubjectKey.generate()
    settled = []
    for claim in mixed_claims(rng, records, count):
        consent = record_consent(hospital, dataset_id, key, claim.patient_id, PURPOSE,
                                 chain_now(hospital) + 30 * 86_400, evidence=b"signed form")
        report(f"patient {claim.patient_id} consented (subject 0x{consent.subject.hex()[:12]}…, "
               f"reference {consent.reference[:13]}…)")
        if nodes is None:
            outcome = settle_claim(insurer, hospital, plan, store, claim, consent.reference)
        else:
            outcome = nodes.insurer.run(text, _private(claim, consent.reference))
        summary = job_summary(insurer, outcome.job_id)
        events = tuple(e.name for e in summary.events)
        settled.append(SettledClaim(claim, outcome.job_id, outcome.result.values,
                                    expected_settlement(records, claim), summary.charged, events))
        job_id, decision, fee = outcome.job_id, outcome.result.values, summary.charged
        report(f"claim of {claim.patient_id} for {claim.claimed} ({claim.treatment}) on {claim.claim_date}: "
               f"job {job_id}, the insurer learned {_render(decision)} (the rules on the records in the clear: "
               f"{_render(settled[-1].expected)}); fee {fee}; trail: {' → '.join(events)}")
    return settled


def mixed_claims(rng: np.random.Generator, records: Mapping[str, Any], count: int) -> list[Claim]:
    """``count`` generated claims, alternately ones the rules approve and ones they refuse where possible.

    Chosen with the plaintext reference (:func:`expected_settlement`), so that a
    short scenario shows both outcomes; the secure evaluation never sees it.
    """
    candidates = claims(rng, records, max(8 * count, 24), start=dt.date(2025, 3, 1))
    approved = [c for c in candidates if expected_settlement(records, c)["approved"]]
    refused = [c for c in candidates if not expected_settlement(records, c)["approved"]]
    chosen: list[Claim] = []
    while len(chosen) < count and (approved or refused):
        preferred, other = (approved, refused) if len(chosen) % 2 == 0 else (refused, approved)
        chosen.append((preferred or other).pop(0))
    return chosen


def _offer_at_node(hospital: ChainClient, config: NodeConfig, records: Mapping[str, Any], insurer: str) -> int:
    """Put the records in the hospital node's DuckDB, register them (fingerprint kept for the node), grant."""
    store = open_store_for_writing(config.duckdb_path)
    try:
        store.create_table(TABLE, RECORDS_SCHEMA, records)
    finally:
        store.close()
    registration = register_dataset(hospital, config.duckdb_path, config.state_database, TABLE,
                                    price_per_job=PRICE_PER_JOB)
    grant_records(hospital, registration.dataset_id, insurer)
    return registration.dataset_id


def _render(decision: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in decision.items())
