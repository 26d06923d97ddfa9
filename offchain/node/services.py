"""What a node answers on its port besides MPC links: deliveries and result fetches.

Each handler receives the authenticated member address of the caller (the
listener maps the caller's pinned TLS key to its registered member), the
request's metadata and arrays, and returns metadata and arrays. A handler
refuses by raising; the caller receives the error's type and message.

==============================  ===============================================================
service                         who may call, and what happens
==============================  ===============================================================
``deliver-input``               the owner of input *i* of job *J*: stores the share payload
                                dealt to this node's party, after checking it fits the plan
``deliver-requester-input``     the requester of job *J*: the same for its private inputs
``deliver-run``                 the requester of a job evaluated at this owner (PUBLISH): its
                                private run parameters (subject, arguments, nonce), as bytes
``fetch-result``                the result recipient of job *J* only: returns this node's
                                result payload and nonce once committed on chain
``owner-secret``                an owner of another input listed in one of the job's owner
                                secrets, when this node owns the secret's first input: the
                                32-byte key (drawn once, kept), after authorizing the job
``ping``                        any active member: the node's name and chain view, to check
                                reachability (``unseen node check``)
==============================  ===============================================================

Every service refuses while this member is suspended or removed.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np
from eth_utils import to_checksum_address

from offchain.chain.models import JobStatus
from offchain.errors import InputError, PolicyViolation
from offchain.node.authorization import authorize
from offchain.node.jobspec import JobDescription
from offchain.node.payloads import check_payloads
from offchain.node.watcher import read_job_description
from offchain.programs.commitments import decode_arrays, encode_arrays, payloads_from_arrays

if TYPE_CHECKING:
    from offchain.node.daemon import Node

log = logging.getLogger("unseen.node")

Reply = tuple[dict[str, Any], list[np.ndarray]]


class NodeServices:
    """The service handlers of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def handlers(self) -> dict[str, Any]:
        return {
            "deliver-input": self.deliver_input,
            "deliver-requester-input": self.deliver_requester_input,
            "deliver-run": self.deliver_run,
            "fetch-result": self.fetch_result,
            "owner-secret": self.owner_secret,
            "ping": self.ping,
        }

    # -- helpers ---------------------------------------------------------------------

    def _serving(self) -> None:
        if self.node.suspended:
            raise PolicyViolation(f"{self.node.config.member_name} does not serve: {self.node.suspended}")

    def _job(self, metadata: dict[str, Any]) -> JobDescription:
        try:
            job_id = int(metadata["job_id"])
        except (KeyError, TypeError, ValueError):
            raise InputError("the request names no job (metadata job_id)") from None
        row = self.node.state.job(job_id)
        return row.description if row is not None else read_job_description(self.node.reader(), job_id)

    def _my_party(self, job: JobDescription) -> int:
        party = job.party_of(self.node.address)
        if party is None:
            raise PolicyViolation(f"job {job.job_id}: {self.node.config.member_name} is not one of its compute nodes")
        return party

    def _store(self, job: JobDescription, source: str, expected, sender: str,
               metadata: dict[str, Any], arrays: list[np.ndarray]) -> Reply:
        party = self._my_party(job)
        status = self.node.reader().jobs.status(job.job_id)
        if status not in (JobStatus.REQUESTED, JobStatus.RUNNING):
            raise PolicyViolation(f"job {job.job_id} is {status.name.lower()}; it takes no more inputs")
        size = sum(int(a.nbytes) for a in arrays)
        if size > self.node.config.max_payload_bytes:
            raise InputError(
                f"job {job.job_id}: {source} is {size} bytes, above this node's limit of "
                f"{self.node.config.max_payload_bytes} ([limits] max_payload_bytes)"
            )
        names = metadata.get("names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InputError("the request lists no array names (metadata names)")
        payloads = payloads_from_arrays(names, arrays)
        check_payloads(payloads, expected, party, source)
        stored = self.node.state.save_received(job.job_id, source, names, encode_arrays(arrays), sender)
        if stored:
            log.info("job %d: received %s from %s (%d bytes)", job.job_id, source,
                     self.node.name_of(sender), size)
            self.node.wake(job.job_id)
        return {"stored": stored, "party": party}, []

    # -- services ----------------------------------------------------------------------

    def deliver_input(self, peer: str, metadata: dict[str, Any], arrays: list[np.ndarray]) -> Reply:
        self._serving()
        job = self._job(metadata)
        index = metadata.get("input_index")
        if not isinstance(index, int) or not 0 <= index < len(job.input_terms):
            raise InputError(f"job {job.job_id}: input_index {index!r} is not one of its {len(job.input_terms)} inputs")
        owner = job.input_terms[index].owner
        if to_checksum_address(peer) != owner:
            raise PolicyViolation(
                f"job {job.job_id}: input {index} belongs to {self.node.name_of(owner)}, not to "
                f"{self.node.name_of(peer)}"
            )
        plan = self.node.plan_for(job)
        return self._store(job, f"input{index}", plan.inputs[index].shared, peer, metadata, arrays)

    def deliver_requester_input(self, peer: str, metadata: dict[str, Any], arrays: list[np.ndarray]) -> Reply:
        self._serving()
        job = self._job(metadata)
        if to_checksum_address(peer) != job.requester:
            raise PolicyViolation(
                f"job {job.job_id} was requested by {self.node.name_of(job.requester)}, not by "
                f"{self.node.name_of(peer)}"
            )
        plan = self.node.plan_for(job)
        if not plan.requester_shared:
            raise InputError(f"job {job.job_id} ({plan.program}) takes no private requester input")
        return self._store(job, "requester", plan.requester_shared, peer, metadata, arrays)

    def deliver_run(self, peer: str, metadata: dict[str, Any], arrays: list[np.ndarray]) -> Reply:
        self._serving()
        job = self._job(metadata)
        if to_checksum_address(peer) != job.requester:
            raise PolicyViolation(
                f"job {job.job_id} was requested by {self.node.name_of(job.requester)}, not by {self.node.name_of(peer)}"
            )
        plan = self.node.plan_for(job)
        if not plan.evaluated_at_owner or job.compute_nodes != (self.node.address,):
            raise InputError(f"job {job.job_id} ({plan.program}) is not evaluated at this node")
        if len(arrays) != 1 or arrays[0].dtype != np.uint8 or arrays[0].ndim != 1:
            raise InputError("run parameters travel as one array of bytes (uint8)")
        status = self.node.reader().jobs.status(job.job_id)
        if status is not JobStatus.REQUESTED:
            raise PolicyViolation(f"job {job.job_id} is {status.name.lower()}; it takes no run parameters")
        if self.node.state.save_received(job.job_id, "run", ["parameters"], encode_arrays(arrays), peer):
            log.info("job %d: run parameters received from %s", job.job_id, self.node.name_of(peer))
            self.node.wake(job.job_id)
        return {"stored": True}, []

    def fetch_result(self, peer: str, metadata: dict[str, Any], arrays: list[np.ndarray]) -> Reply:
        self._serving()
        job = self._job(metadata)
        if to_checksum_address(peer) != job.recipient:
            raise PolicyViolation(
                f"job {job.job_id}: its result goes to {self.node.name_of(job.recipient)} only, "
                f"not to {self.node.name_of(peer)}"
            )
        party = self._my_party(job)
        stored = self.node.state.result(job.job_id)
        committed = self.node.reader().jobs.nodes(job.job_id)[party].result_committed
        if stored is None or not committed:
            raise InputError(
                f"job {job.job_id}: {self.node.config.member_name} has not committed its result yet; "
                "fetch after the job is Committed"
            )
        log.info("job %d: result served to %s", job.job_id, self.node.name_of(peer))
        return ({"names": list(stored.names), "nonce": stored.nonce.hex(), "party": party,
                 "transcript": stored.transcript.hex()}, decode_arrays(stored.blob))

    def owner_secret(self, peer: str, metadata: dict[str, Any], arrays: list[np.ndarray]) -> Reply:
        self._serving()
        job = self._job(metadata)
        plan = self.node.plan_for(job)
        secret = next((s for s in plan.owner_secrets if s.name == metadata.get("name")), None)
        if secret is None:
            raise InputError(f"job {job.job_id} ({plan.program}) has no owner secret {metadata.get('name')!r}")
        owners = {job.input_terms[index].owner for index in secret.inputs}
        if job.input_terms[min(secret.inputs)].owner != self.node.address:
            raise PolicyViolation(f"job {job.job_id}: {self.node.config.member_name} does not lead secret {secret.name}")
        if to_checksum_address(peer) not in owners:
            raise PolicyViolation(
                f"job {job.job_id}: secret {secret.name} is shared by the owners of inputs "
                f"{list(secret.inputs)} only, not with {self.node.name_of(peer)}"
            )
        status = self.node.reader().jobs.status(job.job_id)
        if status not in (JobStatus.REQUESTED, JobStatus.RUNNING):
            raise PolicyViolation(f"job {job.job_id} is {status.name.lower()}; its secrets are gone")
        authorize(self.node.reader(), job)  # this owner must itself take part in the job
        value = self.node.state.keep_owner_secret(job.job_id, secret.name, os.urandom(32))
        log.info("job %d: owner secret %s given to %s", job.job_id, secret.name, self.node.name_of(peer))
        return {"name": secret.name}, [np.frombuffer(value, dtype=np.uint8).copy()]

    def ping(self, peer: str, metadata: dict[str, Any], arrays: list[np.ndarray]) -> Reply:
        self._serving()
        return {"member": self.node.config.member_name, "address": self.node.address,
                "caller": self.node.name_of(peer)}, []
