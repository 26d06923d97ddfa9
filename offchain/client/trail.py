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
from offchain.chain.client import ChainClient, Job, JobInputRecord, JobNode
from offchain.chain.events import EventRecord


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


@dataclass
class JobSummary:
    """A job's record and the facts its trail establishes."""

    job: Job
    inputs: list[JobInputRecord]
    nodes: list[JobNode]
    events: list[EventRecord]
    program: str = ""
    max_fee: int = 0
    charged: int = 0
    refund: int = 0
    payouts: dict[str, int] = field(default_factory=dict)
    transcripts: dict[str, bytes] = field(default_factory=dict)
    decline_reason: str | None = None

    @property
    def transcripts_agree(self) -> bool | None:
        """True if all three nodes committed the same transcript; None before they all did."""
        if len(self.transcripts) < len(self.nodes):
            return None
        return len(set(self.transcripts.values())) == 1


def job_summary(client: ChainClient, job_id: int) -> JobSummary:
    """Read ``job_id``'s record, inputs, nodes and trail, and derive its fees and transcripts."""
    summary = JobSummary(client.jobs.job(job_id), client.jobs.inputs(job_id), client.jobs.nodes(job_id),
                         job_trail(client, job_id))
    for event in summary.events:
        if event.name == "JobRequested":
            summary.program = event.args["request"]["program"]
            summary.max_fee = int(event.args["maxFee"])
        elif event.name == "Metered":
            for payee, amount in zip(event.args["payees"], event.args["amounts"], strict=True):
                name = client.label_address(payee) or payee
                summary.payouts[name] = summary.payouts.get(name, 0) + int(amount)
            summary.charged = sum(summary.payouts.values())
            summary.refund = int(event.args["refund"])
        elif event.name == "Refunded":
            summary.refund = int(event.args["amount"])
        elif event.name == "ResultCommitted":
            summary.transcripts[client.label_address(event.args["node"]) or event.args["node"]] = bytes(
                event.args["transcriptHash"])
        elif event.name == "JobDeclined":
            summary.decline_reason = event.args["reason"]
    return summary
