"""The node's transactions, each done at most once across crashes and restarts.

Every action follows the same rule: *ask the chain before acting*. A node
killed after sending a transaction but before recording it finds, on
restart, that the chain already shows the effect (the job accepted, the
input committed, ...) and records the step instead of sending it again. If
the effect is absent, the transaction is sent (under the node's one signing
lock: the signer counts nonces locally), and the step is recorded with its
transaction hash once the receipt is in. A transaction that reverts because
a concurrent copy got there first is recognised the same way: the chain is
asked again and the step recorded if done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from offchain.chain.client import ChainClient, Job, JobInputRecord, JobNode, PreparedTransaction
from offchain.chain.models import JobStatus
from offchain.errors import ContractError
from offchain.node.state import NodeState

log = logging.getLogger("unseen.node")

#: Statuses after which a job takes no more steps.
TERMINAL_STATUSES = (JobStatus.FINALIZED, JobStatus.RESOLVED, JobStatus.EXPIRED, JobStatus.DECLINED)


@dataclass(frozen=True)
class JobSnapshot:
    """A job's record, nodes and inputs as the chain holds them now."""

    job: Job
    nodes: tuple[JobNode, ...]
    inputs: tuple[JobInputRecord, ...]

    @property
    def status(self) -> JobStatus:
        return self.job.status

    def accepted(self, party: int | None, owned_inputs: tuple[int, ...]) -> bool:
        """Whether this member accepted in every role it has (pending bits cleared)."""
        bits = list(owned_inputs)
        if party is not None:
            bits.append(16 + party)
        return all(not self.job.pending_acceptances & (1 << bit) for bit in bits)


class ChainActions:
    """Sends the node's transactions; one instance per node."""

    def __init__(self, client: ChainClient, state: NodeState) -> None:
        self.client = client
        self.state = state
        self._lock = threading.Lock()

    def snapshot(self, job_id: int) -> JobSnapshot:
        jobs = self.client.jobs
        return JobSnapshot(jobs.job(job_id), tuple(jobs.nodes(job_id)), tuple(jobs.inputs(job_id)))

    def _once(self, job_id: int, step: str, done: Callable[[JobSnapshot], bool],
              transaction: Callable[[], PreparedTransaction]) -> JobSnapshot:
        """Send ``transaction`` unless ``done`` already holds on chain; record the step."""
        if self.state.step(job_id, step) is not None:
            return self.snapshot(job_id)
        snapshot = self.snapshot(job_id)
        if done(snapshot):
            self.state.record_step(job_id, step, detail="found done on chain")
            return snapshot
        with self._lock:
            try:
                receipt = transaction().transact()
            except ContractError:
                snapshot = self.snapshot(job_id)
                if done(snapshot):  # a copy sent before a crash got there first
                    self.state.record_step(job_id, step, detail="found done on chain after a revert")
                    return snapshot
                raise
        self.state.record_step(job_id, step, tx_hash=receipt.transaction_hash)
        log.info("job %d: %s in block %d (tx %s)", job_id, step, receipt.block_number,
                 receipt.transaction_hash)
        return self.snapshot(job_id)

    # -- the actions -------------------------------------------------------------------

    def accept(self, job_id: int, party: int | None, owned_inputs: tuple[int, ...]) -> JobSnapshot:
        return self._once(job_id, "accept", lambda s: s.accepted(party, owned_inputs),
                          lambda: self.client.jobs.accept(job_id))

    def decline(self, job_id: int, reason: str) -> JobSnapshot:
        # The contract keeps the reason in an event; keep it readable but bounded.
        reason = reason if len(reason) <= 480 else reason[:477] + "..."
        return self._once(job_id, "decline", lambda s: s.status is not JobStatus.REQUESTED,
                          lambda: self.client.jobs.decline(job_id, reason))

    def commit_input(self, job_id: int, input_index: int, fingerprint: bytes, rows_used: int) -> JobSnapshot:
        return self._once(job_id, f"commit-input-{input_index}",
                          lambda s: s.inputs[input_index].committed,
                          lambda: self.client.jobs.commit_input(job_id, input_index, fingerprint, rows_used))

    def commit_result(self, job_id: int, party: int, commitment: bytes, transcript: bytes) -> JobSnapshot:
        return self._once(job_id, "commit-result", lambda s: s.nodes[party].result_committed,
                          lambda: self.client.jobs.commit_result(job_id, commitment, transcript))

    def finalize(self, job_id: int) -> JobSnapshot:
        return self._once(job_id, "finalize", lambda s: s.status is not JobStatus.COMMITTED,
                          lambda: self.client.jobs.finalize(job_id))

    def expire(self, job_id: int) -> JobSnapshot:
        return self._once(job_id, "expire", lambda s: s.status in TERMINAL_STATUSES,
                          lambda: self.client.jobs.expire(job_id))
