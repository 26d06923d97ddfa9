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

File format (JSON, UTF-8), ``format = "unseen-result-evidence/v1"``::

    {
      "format": "unseen-result-evidence/v1",
      "chain_id": 31337,
      "jobs_contract": "0x…",
      "job_id": 6,
      "outputs": ["count", "sum"],            # output names, plan order
      "results": [                            # one per compute node, by node index
        {"node_index": 0, "node": "0x…",
         "nonce": "0x…64 hex…",
         "payload": "base64 of encode_arrays(payload_arrays(payloads, outputs))"},
        …
      ]
    }

:meth:`ResultEvidence.to_json` writes it canonically (sorted keys, no
spaces), and :meth:`ResultEvidence.evidence_hash` is ``keccak256`` of those
bytes: a requester that disputes a job with that hash as ``evidenceHash``
lets the audit confirm the file is the one the dispute refers to.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from eth_utils import is_address, keccak, to_checksum_address

from offchain.audit.findings import Finding, Severity
from offchain.audit.ledger import Ledger
from offchain.audit.records import JobRecord
from offchain.errors import InputError, MpcError, ShareMismatch
from offchain.mpc.opening import reconstruct
from offchain.mpc.sharing import SharePayload
from offchain.programs.commitments import (
    NONCE_BYTES,
    decode_arrays,
    encode_arrays,
    payload_arrays,
    payloads_from_arrays,
    result_bytes,
    result_commitment,
)

FORMAT = "unseen-result-evidence/v1"
CHECK = "result-evidence"


@dataclass(frozen=True)
class NodeResult:
    """One compute node's result as the requester received it."""

    node_index: int
    node: str
    nonce: bytes
    arrays: tuple[np.ndarray, ...]

    def commitment(self, outputs: Sequence[str]) -> bytes:
        """``keccak256(result_bytes(outputs, arrays) ‖ nonce)``: what the node should have posted."""
        return result_commitment(result_bytes(outputs, self.arrays), self.nonce)


@dataclass(frozen=True)
class ResultEvidence:
    """The three (or, for PUBLISH, one) result payloads of a job, with their nonces."""

    chain_id: int
    jobs_contract: str
    job_id: int
    outputs: tuple[str, ...]
    results: tuple[NodeResult, ...]

    @classmethod
    def build(cls, chain_id: int, jobs_contract: str, job_id: int, outputs: Sequence[str],
              results: Sequence[tuple[str, Mapping[str, SharePayload], bytes]]) -> ResultEvidence:
        """Evidence from ``(node address, payloads by output name, nonce)`` per node, in node order."""
        return cls(chain_id, to_checksum_address(jobs_contract), job_id, tuple(outputs), tuple(
            NodeResult(index, to_checksum_address(node), bytes(nonce), tuple(payload_arrays(payloads, outputs)))
            for index, (node, payloads, nonce) in enumerate(results)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "chain_id": self.chain_id, "jobs_contract": self.jobs_contract,
            "job_id": self.job_id, "outputs": list(self.outputs),
            "results": [{"node_index": r.node_index, "node": r.node, "nonce": "0x" + r.nonce.hex(),
                         "payload": base64.b64encode(encode_arrays(list(r.arrays))).decode("ascii")}
                        for r in self.results],
        }

    def to_json(self) -> bytes:
        """The canonical file bytes (sorted keys, compact separators, trailing newline)."""
        return (json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")) + "\n").encode()

    def evidence_hash(self) -> bytes:
        """``keccak256`` of :meth:`to_json`: the ``evidenceHash`` a dispute citing this file carries."""
        return keccak(self.to_json())

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_bytes(self.to_json())
        return target

    @classmethod
    def load(cls, path: str | Path) -> tuple[ResultEvidence, bytes]:
        """Read an evidence file; return it and the keccak256 of the file's bytes."""
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise InputError(f"evidence file {path} does not exist") from None
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"evidence file {path} is not JSON: {exc}") from exc
        return cls.from_dict(record, source=str(path)), keccak(raw)

    @classmethod
    def from_dict(cls, record: Any, source: str = "evidence") -> ResultEvidence:
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            found = record.get("format") if isinstance(record, dict) else type(record).__name__
            raise InputError(f"{source} is not result evidence: format is {found!r}, expected {FORMAT!r}")
        try:
            chain_id, job_id = int(record["chain_id"]), int(record["job_id"])
            jobs_contract, outputs, entries = record["jobs_contract"], record["outputs"], record["results"]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source} lacks or garbles the field {exc}; see offchain/audit/evidence.py "
                             "for the format") from None
        if not is_address(jobs_contract):
            raise InputError(f"{source}: jobs_contract {jobs_contract!r} is not an address")
        if not isinstance(outputs, list) or not all(isinstance(name, str) for name in outputs):
            raise InputError(f"{source}: outputs must be a list of output names, got {outputs!r}")
        if not isinstance(entries, list) or not entries:
            raise InputError(f"{source}: results must be a non-empty list, one entry per compute node")
        results = []
        for position, entry in enumerate(entries):
            where = f"{source}: results[{position}]"
            try:
                node_index, node = int(entry["node_index"]), entry["node"]
                nonce_text, payload_text = entry["nonce"], entry["payload"]
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"{where} lacks or garbles {exc}") from None
            if not is_address(node):
                raise InputError(f"{where}: node {node!r} is not an address")
            try:
                nonce = bytes.fromhex(str(nonce_text).removeprefix("0x"))
            except ValueError:
                raise InputError(f"{where}: nonce {nonce_text!r} is not hex") from None
            if len(nonce) != NONCE_BYTES:
                raise InputError(f"{where}: nonce is {len(nonce)} bytes; a result nonce is {NONCE_BYTES}")
            try:
                arrays = decode_arrays(base64.b64decode(payload_text, validate=True))
            except (binascii.Error, ValueError, TypeError) as exc:
                raise InputError(f"{where}: payload is not base64 of an array blob: {exc}") from exc
            results.append(NodeResult(node_index, to_checksum_address(node), nonce, tuple(arrays)))
        indexes = [r.node_index for r in results]
        if sorted(indexes) != list(range(len(results))):
            raise InputError(f"{source}: node indexes {indexes} must be 0..{len(results) - 1}, once each")
        return cls(chain_id, to_checksum_address(jobs_contract), job_id, tuple(outputs),
                   tuple(sorted(results, key=lambda r: r.node_index)))


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
        try:
            per_party = [payloads_from_arrays(evidence.outputs, r.arrays) for r in evidence.results]
        except InputError as error:
            raise InputError(f"the evidence payloads do not parse as share payloads: {error}") from error
        shares_agree = True
        for output in evidence.outputs:
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
