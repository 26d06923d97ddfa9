"""The audit trail of a job, read from the chain alone.

:func:`job_trail` returns every event about one job in chain order — the
request with its terms, the grant uses, acceptances or the decline with its
reason, input commitments, result commitments with transcript hashes,
escrow, metering, payouts, disputes, expiry — and :func:`job_summary` the
facts a person asks first: status, fees, commitments and whether the three
compute nodes' session transcripts agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from offchain.chain import abi as abi_codec
from offchain.chain.client import (
    ChainClient,
    Job,
    JobInputRecord,
    JobNode,
    fold_input_commitment,
    fold_result_commitment,
)
from offchain.chain.events import EventRecord
from offchain.errors import ChainError


def job_trail(client: ChainClient, job_id: int) -> list[EventRecord]:
    """Every event of ``job_id`` (Jobs, Billing, and AccessPolicy's ``GrantUsed``), in chain order."""
    topic = "0x" + job_id.to_bytes(32, "big").hex()
    start = hex(client.deployment.deploy_block)
    grant_used = next(e for e in client.artifacts["AccessPolicy"].elements("event") if e["name"] == "GrantUsed")
    logs = client.rpc.batch([
        ("eth_getLogs", [{"address": [client.jobs.address, client.billing.address], "fromBlock": start,
                          "toBlock": "latest", "topics": [None, topic]}]),
        ("eth_getLogs", [{"address": client.access_policy.address, "fromBlock": start, "toBlock": "latest",
                          "topics": ["0x" + abi_codec.event_topic(grant_used).hex(), None, None, topic]}]),
    ])
    events = [client.event_decoder.decode(entry) for batch in logs if isinstance(batch, list) for entry in batch]
    events.sort(key=lambda e: (e.block_number, e.log_index))
    return events


@dataclass(frozen=True)
class JobCommitments:
    """A job's commitments from its events, checked against the contract's commitment digest.

    ``inputs[i] = (input fingerprint, rows used)``; ``results[k] = (result
    commitment, transcript hash)`` of compute node ``k``.
    """

    inputs: dict[int, tuple[bytes, int]]
    results: dict[int, tuple[bytes, bytes]]
    digest: bytes


def job_commitments(client: ChainClient, job_id: int, events: list[EventRecord] | None = None) -> JobCommitments:
    """Fold the job's ``InputCommitted`` / ``ResultCommitted`` events; refuse if they miss the digest.

    The contract keeps one digest per job instead of each commitment; folding
    the events in chain order must reproduce it, which proves the RPC node
    returned every commitment and nothing else.
    """
    events = job_trail(client, job_id) if events is None else events
    digest = bytes(32)
    inputs: dict[int, tuple[bytes, int]] = {}
    results: dict[int, tuple[bytes, bytes]] = {}
    for event in events:
        if event.contract != "Jobs":
            continue
        if event.name == "InputCommitted":
            index, fingerprint, rows = int(event.args["inputIndex"]), bytes(event.args["fingerprint"]), int(event.args["rowsUsed"])
            digest = fold_input_commitment(digest, job_id, index, fingerprint, rows)
            inputs[index] = (fingerprint, rows)
        elif event.name == "ResultCommitted":
            index = int(event.args["nodeIndex"])
            commitment, transcript = bytes(event.args["resultCommitment"]), bytes(event.args["transcriptHash"])
            digest = fold_result_commitment(digest, job_id, index, commitment, transcript)
            results[index] = (commitment, transcript)
    on_chain = client.jobs.commitment_digest(job_id)
    if digest != on_chain:
        raise ChainError(
            f"job {job_id}: the commitments in its events fold to 0x{digest.hex()} but the contract holds "
            f"0x{on_chain.hex()}; the RPC node returned incomplete logs: ask another node"
        )
    return JobCommitments(inputs, results, digest)


@dataclass
class JobSummary:
    """A job's record and the facts its trail establishes."""

    job: Job
    inputs: list[JobInputRecord]
    nodes: list[JobNode]
    events: list[EventRecord]
    commitments: JobCommitments | None = None
    program: str = ""
    escrowed: int = 0
    charged: int = 0
    refund: int = 0
    payouts: dict[str, int] = field(default_factory=dict)
    transcripts: dict[str, bytes] = field(default_factory=dict)
    result_commitments: dict[str, bytes] = field(default_factory=dict)
    decline_reason: str | None = None

    @property
    def transcripts_agree(self) -> bool | None:
        """True if all three nodes committed the same transcript; None before they all did."""
        if len(self.transcripts) < len(self.nodes):
            return None
        return len(set(self.transcripts.values())) == 1


def job_summary(client: ChainClient, job_id: int) -> JobSummary:
    """Read ``job_id``'s record, inputs, nodes and trail, and derive its fees and transcripts."""
    events = job_trail(client, job_id)
    summary = JobSummary(client.jobs.job(job_id), client.jobs.inputs(job_id), client.jobs.nodes(job_id),
                         events, job_commitments(client, job_id, events))
    for event in summary.events:
        if event.name == "JobRequested":
            summary.program = event.args["request"]["program"]
        elif event.name == "Escrowed":
            summary.escrowed = int(event.args["amount"])
        elif event.name == "Metered":
            for payee, amount in zip(event.args["payees"], event.args["amounts"], strict=True):
                name = client.label_address(payee) or payee
                summary.payouts[name] = summary.payouts.get(name, 0) + int(amount)
            summary.charged = sum(summary.payouts.values())
            summary.refund = int(event.args["refund"])
        elif event.name == "Refunded":
            summary.refund = int(event.args["amount"])
        elif event.name == "ResultCommitted":
            node = client.label_address(event.args["node"]) or event.args["node"]
            summary.transcripts[node] = bytes(event.args["transcriptHash"])
            summary.result_commitments[node] = bytes(event.args["resultCommitment"])
        elif event.name == "JobDeclined":
            summary.decline_reason = event.args["reason"]
    return summary
