"""Result evidence: what a requester publishes so that anyone can check the compute nodes.

The chain holds only each node's ``resultCommitment = keccak256(payload ‖
nonce)`` (:mod:`offchain.programs.commitments`). A requester that received
the three result payloads can publish them, with the nonces, as an evidence
file; ``unseen audit verify-job JOB --evidence FILE`` then checks, against
the commitments bound on chain, that

1. each node's payload and nonce hash to the commitment that node posted
   (a mismatch names that node: it sent the requester something other than
   what it committed to);
2. the replicated components agree: in 3-party replicated sharing every
   component is held by two parties, so the three payloads of each output
   must repeat each other (:func:`offchain.mpc.opening.reconstruct` with
   ``verify=True``; a disagreement names the deviating node when one node
   explains every mismatch).

Publishing the evidence reveals the result to whoever reads the file: share
it with the regulator, not the whole consortium.

The file format and :class:`ResultEvidence` are defined with the
commitment itself, in :mod:`offchain.programs.commitments`, so that the
requester SDK writes exactly what this module reads: a requester that
disputes a job with :meth:`ResultEvidence.evidence_hash` as ``evidenceHash``
lets the audit confirm the file is the one the dispute refers to.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import to_checksum_address

from offchain.audit.findings import Finding, Severity
from offchain.audit.ledger import Ledger
from offchain.audit.records import JobRecord
from offchain.errors import InputError, MpcError, ShareMismatch
from offchain.mpc.opening import reconstruct
from offchain.programs.commitments import (
    EVIDENCE_FORMAT,
    NodeResult,
    ResultEvidence,
    payloads_from_arrays,
)

FORMAT = EVIDENCE_FORMAT
CHECK = "result-evidence"


@dataclass(frozen=True)
class EvidenceVerdict:
    """What the evidence shows about a job's compute nodes."""

    job_id: int
    findings: tuple[Finding, ...]
    commitments_match: tuple[bool, ...]
    shares_agree: bool | None
    suspects: tuple[str, ...]
    matches_dispute: bool | None

    @property
    def consistent(self) -> bool:
        """True when every payload matches its commitment and the replicated components agree."""
        return all(self.commitments_match) and self.shares_agree is not False


def verify_evidence(evidence: ResultEvidence, job: JobRecord, ledger: Ledger, *, chain_id: int,
                    jobs_contract: str, evidence_hash: bytes | None = None) -> EvidenceVerdict:
    """Check ``evidence`` against the commitments of ``job`` (rebuilt from events; see the module docstring)."""
    where = f"job {job.job_id}"
    if evidence.job_id != job.job_id:
        raise InputError(f"the evidence is for job {evidence.job_id}, not {where}")
    if evidence.chain_id != chain_id or evidence.jobs_contract != to_checksum_address(jobs_contract):
        raise InputError(f"the evidence is for Jobs {evidence.jobs_contract} on chain {evidence.chain_id}, not "
                         f"{to_checksum_address(jobs_contract)} on chain {chain_id}")
    if len(evidence.results) != len(job.nodes):
        raise InputError(f"the evidence holds {len(evidence.results)} results; {where} has {len(job.nodes)} "
                         "compute nodes")
    findings: list[Finding] = []
    matches: list[bool] = []
    suspects: list[str] = []

    def name(account: str) -> str:
        return f"{ledger.member_name(account)} ({account})"

    for result, node in zip(evidence.results, job.nodes, strict=True):
        step = node.commit_step
        if result.node != node.account:
            raise InputError(f"evidence result {result.node_index} is from {result.node}, but node "
                             f"{result.node_index} of {where} is {node.account}")
        if node.result_commitment is None:
            findings.append(Finding(Severity.ERROR, CHECK, f"{where}: node {result.node_index} {name(node.account)} "
                                    "never committed a result, so its payload cannot be checked", job.job_id,
                                    member=node.account))
            matches.append(False)
            continue
        recomputed = result.commitment(evidence.outputs)
        ok = recomputed == node.result_commitment
        matches.append(ok)
        if not ok:
            suspects.append(node.account)
            findings.append(Finding(
                Severity.ERROR, CHECK,
                f"{where}: the payload of node {result.node_index} {name(node.account)} hashes to "
                f"0x{recomputed.hex()}, but the node committed 0x{node.result_commitment.hex()}: it delivered "
                "something other than what it committed to", job.job_id, step.block if step else None,
                step.transaction if step else None, step.timestamp if step else None, node.account))
    shares_agree: bool | None = None
    if len(evidence.results) == 3:
        per_party = []
        for result in evidence.results:
            try:
                per_party.append(payloads_from_arrays(evidence.outputs, result.arrays))
            except (InputError, MpcError) as error:
                account = job.nodes[result.node_index].account
                findings.append(Finding(Severity.ERROR, CHECK, f"{where}: node {result.node_index} "
                                        f"{name(account)} delivered arrays that are not share payloads of "
                                        f"the outputs {list(evidence.outputs)}: {error}", job.job_id,
                                        member=account))
                suspects.append(account)
        shares_agree = len(per_party) == 3
        for output in evidence.outputs if len(per_party) == 3 else ():
            parties = [per_party[k][output] for k in range(3)]
            misplaced = [k for k, payload in enumerate(parties) if payload.party != k]
            if misplaced:
                shares_agree = False
                findings.append(Finding(Severity.ERROR, CHECK, f"{where}: output {output!r}: node(s) {misplaced} "
                                        "sent a payload for another party's position", job.job_id))
                suspects += [job.nodes[k].account for k in misplaced]
                continue
            try:
                reconstruct(parties, verify=True)
            except ShareMismatch as error:
                shares_agree = False
                named = [job.nodes[c].account for c in error.candidates]
                who = (f"node {error.suspect} {name(job.nodes[error.suspect].account)} deviated"
                       if error.suspect is not None else
                       f"one of nodes {', '.join(name(a) for a in named)} deviated")
                findings.append(Finding(Severity.ERROR, CHECK, f"{where}: output {output!r}: the replicated "
                                        f"components disagree ({error}); {who}", job.job_id,
                                        member=job.nodes[error.suspect].account if error.suspect is not None
                                        else None))
                suspects += [job.nodes[error.suspect].account] if error.suspect is not None else named
            except MpcError as error:
                shares_agree = False
                findings.append(Finding(Severity.ERROR, CHECK, f"{where}: output {output!r}: {error}", job.job_id))
    matches_dispute = None
    if job.dispute is not None and evidence_hash is not None:
        matches_dispute = evidence_hash == job.dispute.evidence_hash
    unique_suspects = tuple(dict.fromkeys(suspects))
    return EvidenceVerdict(job.job_id, tuple(findings), tuple(matches), shares_agree, unique_suspects,
                           matches_dispute)


__all__ = ["FORMAT", "EvidenceVerdict", "NodeResult", "ResultEvidence", "verify_evidence"]
