"""Governing approved programs on chain: approvals, consent, and PUBLISH jobs from both sides.

What ``unseen script check/register/run``, ``unseen publish
register/approve/run`` and ``unseen consent record/revoke`` do, as
functions a CLI or the node calls:

* **approval** (data owner) — :func:`approval_note` summarises a plan for
  the on-chain record, :func:`approve` approves its program hash on every
  input the caller owns, :func:`revoke_approval` withdraws it; the
  requester's :func:`check_approved` names every owner that has not
  approved yet. A changed program is a new hash: nothing carries over.
* **consent** (data owner, data subject) — :func:`record_consent` derives
  the subject's salted hash from the owner's subject key and records it
  (returning the reference for the subject's receipt); :func:`revoke_consent`
  (owner or subject account) and :func:`revoke_consent_by_signature` (anyone
  relaying the subject's EIP-712 signature, :func:`sign_consent_revocation`);
  :func:`check_consent` explains a missing, expired or revoked consent.
* **PUBLISH jobs** — the requester's :func:`request_publish` checks consent
  and approval and requests the job (fee escrowed) with the run's subject,
  purpose and parameter hash; the owner's :func:`serve_publish_job`
  re-checks on chain, evaluates, and commits the input commitment and the
  receipt; the requester's :func:`collect_publish_result` checks the
  delivered outputs against both commitments and finalizes.

A member node does the owner's and the requester's part of a PUBLISH job
itself (``offchain/node/driver.py``, ``Requester.run``), delivering
``RunRequest.parameters`` (requester → owner) and the result (owner →
requester) over its authenticated links. Here they are arguments, so the
same steps run in one process, against a chain, without nodes. Both sides
commit and check the one result commitment of
:mod:`offchain.programs.commitments` (over the plain outputs, one array
each) and plan with the node's :class:`~offchain.node.catalog.ChainCatalog`
and :func:`~offchain.node.jobspec.job_inputs`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from offchain.chain.client import (
    ZERO_ADDRESS,
    ChainClient,
    Consent,
    JobRequest,
    PreparedTransaction,
)
from offchain.chain.events import EventRecord
from offchain.chain.models import JobStatus
from offchain.chain.rpc import to_int
from offchain.chain.signer import Receipt
from offchain.data.store import LocalStore
from offchain.errors import CommitmentMismatch, InputError, PolicyViolation, SandboxError
from offchain.node.jobspec import expected_program_hash, job_inputs
from offchain.programs import registry
from offchain.programs.base import (
    OwnerEvaluatedProgram,
    OwnerEvaluation,
    Plan,
    RunRequest,
    program_hash,
)
from offchain.programs.commitments import (
    NONCE_BYTES,
    ResultEvidence,
    result_bytes,
    result_commitment,
)
from offchain.publish.subjects import SubjectKey, consent_reference, purpose_hash
from offchain.vocabulary import JobKind

MAX_NOTE_CHARS = 480


# ---------------------------------------------------------------------------------------------
# approvals


def approval_note(plan: Plan) -> str:
    """A one-line summary of what the owner approves: kind, inputs, columns, outputs, limits."""
    inputs = "; ".join(f"{i.dataset.reference}({', '.join(i.columns)})" for i in plan.inputs)
    outputs = ", ".join(o.name for o in plan.outputs)
    note = f"{plan.kind.name} {plan.program}: reads {inputs}; outputs {outputs}"
    spec = plan.parameters.get("spec")
    if plan.evaluated_at_owner and spec is not None:
        note += (f"; purpose {spec.purpose}; at most {spec.capacity_bits:.1f} bits per run; "
                 f"limits {spec.limits.steps} steps, {spec.limits.cpu_seconds} s CPU, "
                 f"{spec.limits.memory_bytes // 2**20} MiB")
    return note if len(note) <= MAX_NOTE_CHARS else note[: MAX_NOTE_CHARS - 1] + "…"


def approved_hash(plan: Plan) -> bytes:
    """The hash owners approve for ``plan``: its job's ``programHash`` (a predict job's is the model hash)."""
    return expected_program_hash(registry.get(plan.program), plan)


def approve(client: ChainClient, plan: Plan, note: str | None = None) -> list[Receipt]:
    """Approve the plan's program hash on every input the caller owns (one batch)."""
    owned = _owned(client, plan)
    digest = approved_hash(plan)
    pending = [d for d in owned if not client.access_policy.is_program_approved(d, digest)]
    note = approval_note(plan) if note is None else note
    return client.transact_all([client.access_policy.approve_program(d, digest, note)
                                for d in pending]) if pending else []


def revoke_approval(client: ChainClient, plan: Plan, note: str) -> list[Receipt]:
    """Withdraw the approval of the plan's program hash on every input the caller owns."""
    digest = approved_hash(plan)
    approved = [d for d in _owned(client, plan)
                if client.access_policy.is_program_approved(d, digest)]
    return client.transact_all([client.access_policy.revoke_program(d, digest, note)
                                for d in approved]) if approved else []


def _owned(client: ChainClient, plan: Plan) -> list[int]:
    me = client.address
    owned = [i.dataset.dataset_id for i in plan.inputs if i.dataset.owner.lower() == me.lower()]
    if not owned:
        raise PolicyViolation(
            f"{me} owns none of the program's inputs "
            f"({', '.join(i.dataset.reference for i in plan.inputs)}); only owners approve"
        )
    return owned


def missing_approvals(client: ChainClient, plan: Plan, requester: str) -> list[str]:
    """The inputs (``member.table``) whose owner has not approved the plan's program hash."""
    digest = approved_hash(plan)
    handle = client.access_policy.handle
    others = [i.dataset for i in plan.inputs if i.dataset.owner.lower() != requester.lower()]
    answers = client.call_many([(handle, "isProgramApproved", (d.dataset_id, digest))
                                for d in others]) if others else []
    return [d.reference for d, approved in zip(others, answers, strict=True) if not approved]


def check_approved(client: ChainClient, plan: Plan, requester: str) -> None:
    """Raise ``PolicyViolation`` naming every owner that has not approved the program yet."""
    missing = missing_approvals(client, plan, requester)
    if missing:
        raise PolicyViolation(
            f"program 0x{approved_hash(plan).hex()} is not approved on {', '.join(missing)}; "
            "send the program text to their owners for review (a changed text is a new program)"
        )


# ---------------------------------------------------------------------------------------------
# consent


@dataclass(frozen=True)
class ConsentRecord:
    """A recorded consent: the on-chain subject hash and, for the subject's receipt, the reference."""

    dataset_id: int
    subject: bytes
    purpose: bytes
    reference: str
    expiry: int
    receipt: Receipt


def record_consent(client: ChainClient, dataset_id: int, key: SubjectKey, subject_id: str,
                   purpose: str, expiry: int, evidence: bytes = b"",
                   subject_account: str = ZERO_ADDRESS) -> ConsentRecord:
    """Record a subject's consent (owner); return the reference to print on the subject's receipt.

    ``evidence`` (the signed form, a recording...) stays off chain; only its
    keccak256 is recorded.
    """
    subject, salt = key.subject(dataset_id, purpose, subject_id)
    receipt = client.access_policy.record_consent(
        dataset_id, subject, purpose_hash(purpose), expiry, keccak(evidence),
        subject_account).transact()
    return ConsentRecord(dataset_id, subject, purpose_hash(purpose), consent_reference(salt),
                         expiry, receipt)


def revoke_consent(client: ChainClient, dataset_id: int, subject: bytes, purpose: str) -> Receipt:
    """Revoke a consent (the dataset owner, or the subject's own account)."""
    return client.access_policy.revoke_consent(dataset_id, subject, purpose_hash(purpose)).transact()


def sign_consent_revocation(private_key: str, client: ChainClient, dataset_id: int,
                            subject: bytes, purpose: str, deadline: int) -> bytes:
    """The subject's EIP-712 signature revoking a consent, for anyone to relay."""
    account = Account.from_key(private_key)
    nonce = client.access_policy.handle.call("nonces", account.address)
    message = encode_typed_data(full_message={
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"},
                             {"name": "verifyingContract", "type": "address"}],
            "RevokeConsent": [{"name": "datasetId", "type": "uint256"},
                              {"name": "subject", "type": "bytes32"},
                              {"name": "purpose", "type": "bytes32"},
                              {"name": "nonce", "type": "uint256"},
                              {"name": "deadline", "type": "uint256"}],
        },
        "primaryType": "RevokeConsent",
        "domain": {"name": "Unseen AccessPolicy", "version": "1",
                   "chainId": to_int(client.rpc.request("eth_chainId")),
                   "verifyingContract": client.access_policy.address},
        "message": {"datasetId": dataset_id, "subject": subject, "purpose": purpose_hash(purpose),
                    "nonce": nonce, "deadline": deadline},
    })
    return bytes(account.sign_message(message).signature)


def revoke_consent_by_signature(client: ChainClient, dataset_id: int, subject: bytes,
                                purpose: str, deadline: int, signature: bytes) -> Receipt:
    """Relay a subject's signed revocation (any member may send it)."""
    request = client.access_policy.handle.request(
        "revokeConsentBySignature", dataset_id, subject, purpose_hash(purpose), deadline, signature)
    return PreparedTransaction(client, request).transact()


def chain_now(client: ChainClient) -> int:
    """The time the next block will carry, as near as can be told (wall clock if ahead)."""
    block = client.rpc.request("eth_getBlockByNumber", "latest", False)
    return max(to_int(block["timestamp"]), int(time.time()))


def check_consent(client: ChainClient, dataset_id: int, subject: bytes, purpose: bytes,
                  now: int | None = None) -> Consent:
    """Return the consent record, or raise ``PolicyViolation`` saying why it does not hold."""
    consent = client.access_policy.consent(dataset_id, subject, purpose)
    now = chain_now(client) if now is None else now
    label = f"dataset {dataset_id}, subject 0x{subject.hex()[:16]}…"
    if not consent.recorded:
        raise PolicyViolation(f"{label}: no consent is recorded for this purpose; the data owner "
                              "records it when the subject consents")
    if consent.revoked:
        raise PolicyViolation(f"{label}: the subject's consent was revoked")
    if now > consent.expiry:
        raise PolicyViolation(f"{label}: the subject's consent expired at {consent.expiry} "
                              f"(now {now}); it must be recorded again")
    return consent


# ---------------------------------------------------------------------------------------------
# PUBLISH jobs


@dataclass(frozen=True)
class PublishedJob:
    """A requested PUBLISH job, as the requester knows it."""

    job_id: int
    request: JobRequest
    max_fee: int
    event: EventRecord


def request_publish(client: ChainClient, plan: Plan, run: RunRequest,
                    deadline_seconds: int = 600) -> PublishedJob:
    """Check consent and approval, then request the PUBLISH job with the fee escrowed.

    Refusals come before any fee: ``PolicyViolation`` from the checks here,
    or the contract's own error (e.g. ``AccessPolicyConsentRevoked``) from
    its ``checkRequest``.
    """
    if not plan.evaluated_at_owner or plan.kind is not JobKind.PUBLISH:
        raise InputError(f"plan of {plan.program} is not a PUBLISH plan")
    requester = client.address
    dataset = plan.inputs[0].dataset
    check_consent(client, dataset.dataset_id, run.subject, run.purpose)
    check_approved(client, plan, requester)
    request = JobRequest(
        kind=JobKind.PUBLISH, program_hash=program_hash(plan.text), program=plan.text,
        inputs=job_inputs(plan), compute_nodes=(to_checksum_address(dataset.owner),),
        result_recipient=requester, deadline=chain_now(client) + deadline_seconds, fee_cap=0,
        subject=run.subject, purpose=run.purpose, params_hash=run.params_hash,
    )
    max_fee = client.jobs.quote(requester, request)
    request = JobRequest(**{**request.__dict__, "fee_cap": max_fee})
    receipt = client.jobs.request(request).transact()
    event = next(e for e in client.events(receipt) if e.name == "JobRequested")
    return PublishedJob(int(event.args["jobId"]), request, max_fee, event)


@dataclass(frozen=True)
class ServedJob:
    """What the owner's node keeps after serving a PUBLISH job: the result for the recipient."""

    job_id: int
    evaluation: OwnerEvaluation
    nonce: bytes
    result_commitment: bytes


def output_arrays(plan: Plan, outputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The plan's outputs as the arrays a PUBLISH result commits to: one per output, plan order."""
    missing = [output.name for output in plan.outputs if output.name not in outputs]
    if missing:
        raise InputError(f"outputs {missing} are missing; have {sorted(outputs)}")
    return [np.asarray(outputs[output.name]) for output in plan.outputs]


def publish_result_commitment(plan: Plan, outputs: Mapping[str, np.ndarray], nonce: bytes) -> bytes:
    """``keccak256(result_bytes(names, arrays) ‖ nonce)``: the node's result commitment
    (:mod:`offchain.programs.commitments`) over the plain outputs."""
    names = [output.name for output in plan.outputs]
    return result_commitment(result_bytes(names, output_arrays(plan, outputs)), nonce)


def serve_publish_job(client: ChainClient, program: OwnerEvaluatedProgram, plan: Plan,
                      store: LocalStore, event: EventRecord, parameters: bytes) -> ServedJob:
    """At the owner's node: re-check, evaluate, commit; decline the job on a refusal and raise.

    ``event`` is the job's ``JobRequested``; ``parameters`` are the bytes the
    requester delivered. The plan must be the one re-derived from the
    event's program text.
    """
    job_id, request = int(event.args["jobId"]), event.args["request"]
    try:
        _check_served_job(client, plan, job_id, request)
        run = RunRequest(parameters, bytes(request["subject"]), bytes(request["purpose"]),
                         bytes(request["paramsHash"]))
        evaluation = program.evaluate_at_owner(plan, store, run)
    except (PolicyViolation, InputError, SandboxError) as error:
        client.jobs.decline(job_id, f"{type(error).__name__}: {error}"[:300]).transact()
        raise
    nonce = _fresh_nonce()
    commitment = publish_result_commitment(plan, evaluation.outputs, nonce)
    # One after the other: the result can only be committed (and estimated) once the input is.
    client.jobs.commit_input(job_id, 0, evaluation.input_commitment, evaluation.rows_used).transact()
    client.jobs.commit_result(job_id, commitment, evaluation.receipt).transact()
    return ServedJob(job_id, evaluation, nonce, commitment)


def _fresh_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def _check_served_job(client: ChainClient, plan: Plan, job_id: int, request: Mapping[str, Any]
                      ) -> None:
    """What the owner re-checks on chain right before touching its data."""
    if request["program"] != plan.text or keccak(request["program"].encode()) != bytes(
            request["programHash"]):
        raise PolicyViolation(f"job {job_id}: its program text is not the plan's, or does not "
                              "hash to its program hash")
    if JobKind(int(request["kind"])) is not JobKind.PUBLISH:
        raise PolicyViolation(f"job {job_id} is not a PUBLISH job")
    dataset = plan.inputs[0].dataset
    if [to_checksum_address(n) for n in request["computeNodes"]] != [client.address] or \
            dataset.owner.lower() != client.address.lower():
        raise PolicyViolation(f"job {job_id}: this node is not the owner and only compute node")
    status = client.jobs.status(job_id)
    if status is not JobStatus.REQUESTED:
        raise PolicyViolation(f"job {job_id} is {status.name.lower()}, not waiting to be served")
    check_consent(client, dataset.dataset_id, bytes(request["subject"]), bytes(request["purpose"]))
    requester = client.jobs.job(job_id).requester
    if requester.lower() != client.address.lower() and not client.access_policy.is_program_approved(
            dataset.dataset_id, program_hash(plan.text)):
        raise PolicyViolation(f"job {job_id}: the program is no longer approved on "
                              f"{dataset.reference}")


def job_events(client: ChainClient, job_id: int) -> list[EventRecord]:
    """Every ``Jobs`` event of one job, in chain order (its audit trail)."""
    logs = client.rpc.request("eth_getLogs", {
        "fromBlock": "0x0", "toBlock": "latest", "address": client.jobs.address,
        "topics": [None, "0x" + job_id.to_bytes(32, "big").hex()],
    })
    return [client.event_decoder.decode(log) for log in logs]


@dataclass(frozen=True)
class PublishOutcome:
    """The requester's view of a finished PUBLISH job."""

    job_id: int
    result: Any
    outputs: dict[str, np.ndarray]
    refund: int  # credits returned to the requester at finalization (fee cap minus fee)
    events: tuple[str, ...]


def collect_publish_result(client: ChainClient, program: OwnerEvaluatedProgram, plan: Plan,
                           run: RunRequest, job_id: int, outputs: Mapping[str, np.ndarray],
                           nonce: bytes, finalize: bool = True,
                           evidence_dir: Path | None = None) -> PublishOutcome:
    """At the requester: check the delivered result against the chain, decode, finalize.

    The result must match the owner's result commitment, and the receipt
    must bind this program, these parameters, the committed input and
    these outputs; otherwise a dispute is opened naming the owner, citing
    the :class:`~offchain.programs.commitments.ResultEvidence` of what was
    delivered (kept in ``evidence_dir`` when given), and
    ``CommitmentMismatch`` is raised.
    """
    from offchain.publish.program import verify_receipt

    events = job_events(client, job_id)
    committed = next((e for e in events if e.name == "ResultCommitted"), None)
    inputs = next((e for e in events if e.name == "InputCommitted"), None)
    if committed is None or inputs is None:
        raise PolicyViolation(f"job {job_id} has no committed input and result yet")
    owner = to_checksum_address(committed.args["node"])
    arrays = {name: np.asarray(value) for name, value in outputs.items()}
    honest = (len(nonce) == NONCE_BYTES and set(arrays) == {o.name for o in plan.outputs}
              and publish_result_commitment(plan, arrays, nonce) == bytes(committed.args["resultCommitment"])
              and verify_receipt(plan, run, arrays, bytes(inputs.args["fingerprint"]),
                                 bytes(committed.args["transcriptHash"])))
    if not honest:
        names = [output.name for output in plan.outputs]
        delivered = [arrays.get(name, np.zeros(0, dtype=np.int64)) for name in names]
        evidence = ResultEvidence.from_arrays(client.deployment.chain_id, client.jobs.address, job_id, names,
                                              [(owner, delivered, nonce)])
        if evidence_dir is not None:
            evidence_dir.mkdir(parents=True, exist_ok=True)
            evidence.save(evidence_dir / f"job-{job_id}-0x{evidence.evidence_hash().hex()[:16]}.json")
        client.jobs.dispute(job_id, owner, evidence.evidence_hash()).transact()
        raise CommitmentMismatch(f"job {job_id}: the result delivered by {owner} does not match its "
                                 "commitments on chain; a dispute naming it was opened", job_id, owner)
    balance = client.billing.balance_of(client.address)
    if finalize:
        client.jobs.finalize(job_id).transact()
    refund = client.billing.balance_of(client.address) - balance
    names = tuple(e.name for e in job_events(client, job_id))
    return PublishOutcome(job_id, program.decode(plan, arrays), dict(arrays), refund, names)


__all__ = [
    "ConsentRecord", "PublishOutcome", "PublishedJob", "ServedJob", "approval_note", "approve",
    "check_approved", "check_consent", "collect_publish_result", "job_events", "missing_approvals",
    "output_arrays", "publish_result_commitment", "record_consent", "request_publish",
    "revoke_approval", "revoke_consent", "revoke_consent_by_signature", "serve_publish_job",
    "sign_consent_revocation",
]

