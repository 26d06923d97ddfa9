"""The node's view of the chain: every event, exactly once, from a persisted cursor.

:class:`ChainWatcher` reads the events of all Unseen contracts from where
it stopped (``event_cursors`` in the node's SQLite state) and, for each one,
records what it means for this member *in the same transaction as the cursor
position*, so a crash never loses or repeats an event:

===========================================  ==============================================
event                                        effect
===========================================  ==============================================
``JobRequested`` involving this member       the job is recorded (phase ``new``) and woken
other ``Job*`` events of a known job         the job is woken (its driver reads the chain)
``MemberSuspended`` / ``MemberRemoved``      of this member: the node stops serving and its
                                             unfinished jobs halt at once; of another:
                                             every active job re-checks
``MemberReinstated`` of this member          the node serves again
``DatasetFrozen``, ``GrantRevoked``, ...     every active job re-checks its policy
===========================================  ==============================================

Waking happens after the transaction commits, so a driver always sees what
the event recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from offchain.chain import abi as abi_codec
from offchain.chain.client import ChainClient
from offchain.chain.events import EventCursor, EventRecord
from offchain.errors import InputError
from offchain.node.jobspec import JobDescription
from offchain.node.state import ACTIVE_PHASES

if TYPE_CHECKING:
    from offchain.node.daemon import Node

log = logging.getLogger("unseen.node")

_JOB_EVENTS = frozenset({
    "JobAccepted", "JobStarted", "InputCommitted", "ResultCommitted", "JobCommitted", "JobFinalized",
    "JobDeclined", "JobDisputed", "JobDisputeResolved", "JobExpired",
})
_POLICY_EVENTS = frozenset({
    "DatasetFrozen", "DatasetDeactivated", "DatasetVersionPublished", "GrantRevoked", "GrantSet",
    "ColumnLevelsSet", "ColumnLevelsCleared", "ConsentRevoked", "ProgramRevoked",
})
#: Blocks read per poll, so a node far behind catches up in steps it can commit.
BLOCKS_PER_POLL = 5_000


class ChainWatcher:
    """Reads events and turns them into job records and wake-ups."""

    def __init__(self, node: Node, wake: Callable[[int], None]) -> None:
        self.node = node
        self.wake = wake
        deployment = node.deployment
        self.cursor = EventCursor(
            node.reader().rpc, deployment.contracts, node.state.cursor_store, name="node",
            start_block=deployment.deploy_block, confirmations=node.config.confirmations,
            artifacts=node.reader().artifacts,
        )

    def poll(self) -> int:
        """Handle every new event; return how many there were."""
        events, end = self.cursor.poll(max_blocks=BLOCKS_PER_POLL)
        for event in events:
            with self.node.state.transaction():
                woken = self.handle(event)
                self.cursor.advance(event.position)
            for job_id in woken:
                self.wake(job_id)
        if end != self.cursor.position:
            with self.node.state.transaction():
                self.cursor.advance(end)
        return len(events)

    def handle(self, event: EventRecord) -> set[int]:
        """Record what ``event`` means for this member; return the jobs to wake."""
        me = self.node.address
        state = self.node.state
        if event.name == "JobRequested":
            request = event.args["request"]
            if me not in request["computeNodes"] and not self._owns_any(request, event.block_number):
                return set()
            job = JobDescription.from_event(event, self.node.reader())
            if state.add_job(job, job.party_of(me), job.owned_inputs(me)):
                log.info("job %d: requested by %s (%s), deadline %d", job.job_id,
                         self.node.name_of(job.requester), job.kind.name, job.deadline)
            return {job.job_id}
        if event.name in _JOB_EVENTS:
            job_id = int(event.args["jobId"])
            return {job_id} if state.job(job_id) is not None else set()
        if event.name in ("MemberSuspended", "MemberRemoved"):
            if to_checksum_address(event.args["account"]) == me:
                reason = event.args.get("reason") or event.name
                flag = f"{event.name.removeprefix('Member').lower()}: {reason}"
                state.set_flag("suspended", flag)
                log.warning("this member was %s: %s; the node stops serving",
                            event.name.removeprefix("Member").lower(), reason)
                # Every job stops here, with the flag, not when a worker next reaches it: workers take
                # the oldest due job first and may be busy with others for a while.
                for row in state.jobs(("new", "accepted", "failed")):
                    state.set_phase(row.job_id, "halted", f"this member is suspended: {flag}")
                    log.warning("job %d: halted: this member is suspended: %s (it will expire and refund "
                                "after its deadline)", row.job_id, flag)
            self.node.forget_peers()
            return self._active_jobs()
        if event.name == "MemberReinstated":
            if to_checksum_address(event.args["account"]) == me:
                state.set_flag("suspended", None)
                log.info("this member was reinstated; the node serves again")
            self.node.forget_peers()
            return self._active_jobs()
        if event.name in ("MemberUpdated", "MemberAdmitted"):
            self.node.forget_peers()
            return set()
        if event.name in _POLICY_EVENTS:
            return self._active_jobs()
        return set()

    def _owns_any(self, request: dict, block: int) -> bool:
        """Whether this member owns a dataset among the request's inputs (at the request's block)."""
        client = self.node.reader()
        owners = client.call_many([(client.catalog.handle, "ownerOf", (int(item["datasetId"]),))
                                   for item in request["inputs"]], block=hex(block))
        return self.node.address in {to_checksum_address(owner) for owner in owners}

    def _active_jobs(self) -> set[int]:
        return {row.job_id for row in self.node.state.jobs(ACTIVE_PHASES)}


def read_job_description(client: ChainClient, job_id: int) -> JobDescription:
    """Read job ``job_id``'s ``JobRequested`` event straight from the chain."""
    event = next(e for e in client.artifacts["Jobs"].elements("event") if e["name"] == "JobRequested")
    logs = client.rpc.request("eth_getLogs", {
        "address": client.jobs.address,
        "fromBlock": hex(client.deployment.deploy_block),
        "toBlock": "latest",
        "topics": ["0x" + abi_codec.event_topic(event).hex(), "0x" + job_id.to_bytes(32, "big").hex()],
    })
    if not logs:
        raise InputError(f"no job {job_id} on this chain (no JobRequested event)")
    return JobDescription.from_event(client.event_decoder.decode(logs[0]), client)
