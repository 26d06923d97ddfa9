"""The requester side of a job: plan, check, request, deal, wait, verify, pay.

::

    requester = Requester.from_node_config(NodeConfig.load("node.toml"))
    outcome = requester.run(statistics_text([...], "amount", ["mean"]))
    outcome.result.mean, outcome.fees, outcome.job_id

Steps of :meth:`Requester.run`:

1. **plan** the program text with the chain catalog (``program.plan``) and
   **pre-check** every column use against the requester's levels, so a use
   above its level fails here with the column named, before any fee;
2. build the ``JobRequest`` (program hash, column uses, three compute nodes,
   deadline), **quote** it and **request** it with the fee escrowed;
3. re-plan at the request's block (the plan every node derives) and
   **deal** the private requester inputs to the three compute nodes;
4. **wait** for the job to be ``Committed`` (progress reported through a
   callback), or raise :class:`~offchain.errors.JobDeclined` /
   :class:`~offchain.errors.JobExpired`;
5. **fetch** the three result payloads and check each against its node's
   commitment ``keccak(payload ‖ nonce)`` — a mismatch names the node
   (:class:`~offchain.errors.CommitmentMismatch`);
6. **reconstruct** every output, checking that the two holders of every
   share component agree — a mismatch names the deviating node
   (:class:`~offchain.errors.ShareMismatch`);
7. **finalize** (pays owners and nodes, refunds the rest) — or, on any
   mismatch, **dispute** naming the suspect with the hash of the evidence
   (kept in a JSON file for the regulator), and raise.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from eth_utils import to_checksum_address

from offchain.chain import abi as abi_codec
from offchain.chain.client import ZERO_ADDRESS, ZERO_HASH, ChainClient, JobRequest
from offchain.chain.models import JobStatus, MemberStatus
from offchain.chain.rpc import Rpc, to_int
from offchain.chain.signer import Signer
from offchain.client.trail import job_commitments
from offchain.errors import (
    CommitmentMismatch,
    ConfigError,
    InputError,
    JobDeclined,
    JobExpired,
    PolicyViolation,
    ServiceRefused,
    ShareMismatch,
    TransportError,
)
from offchain.ml.programs import LogisticPredict
from offchain.mpc.opening import reconstruct
from offchain.mpc.sharing import SharePayload, deal
from offchain.net.identity import NodeIdentity
from offchain.net.service import call_service
from offchain.node.catalog import ChainCatalog
from offchain.node.jobspec import JOB_ENGINE, check_plan_matches, expected_program_hash, job_inputs
from offchain.node.watcher import read_job_description
from offchain.programs import registry
from offchain.programs.base import JobProgram, Plan, RunRequest
from offchain.programs.commitments import (
    NONCE_BYTES,
    ResultEvidence,
    payload_arrays,
    payloads_from_arrays,
    result_bytes,
    result_commitment,
)

log = logging.getLogger("unseen.client")

DEFAULT_DEADLINE_SECONDS = 600
POLL_SECONDS = 0.25

#: A service call: (identity, endpoint, fingerprint, service, job id, metadata, arrays, timeout).
ServiceCall = Callable[..., tuple[dict[str, Any], list[np.ndarray]]]


@dataclass(frozen=True)
class JobProgress:
    """How far a job got, for progress displays."""

    job_id: int
    status: JobStatus
    roles: int
    accepted: int
    inputs: int
    inputs_committed: int
    results_committed: int
    seconds: float


@dataclass
class JobOutcome:
    """A finished job at the requester."""

    job_id: int
    plan: Plan
    result: Any
    outputs: dict[str, np.ndarray]
    max_fee: int
    charged: int
    refund: int
    payouts: dict[str, int]
    transcripts: dict[str, bytes]
    timings: dict[str, float] = field(default_factory=dict)
    transactions: dict[str, str] = field(default_factory=dict)

    @property
    def transcripts_agree(self) -> bool:
        """Whether the compute nodes committed the same session transcript (one node: its receipt)."""
        return len(set(self.transcripts.values())) == 1


def default_service_call(identity: NodeIdentity, endpoint: str, fingerprint: bytes, service: str, job_id: int,
                         metadata: dict[str, Any], arrays: list[np.ndarray],
                         timeout: float) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Call a node's service over pinned mutual TLS (``offchain.net.service.call_service``)."""
    metadata = {key: value for key, value in metadata.items() if key != "job_id"}  # the hello carries it
    reply = call_service(identity, endpoint, fingerprint, service, job_id, metadata, arrays, timeout)
    return reply.metadata, list(reply.arrays)


class Requester:
    """One member asking for jobs, with its signing key and its node's TLS identity."""

    def __init__(self, client: ChainClient, identity: NodeIdentity, *, evidence_dir: Path | None = None,
                 service_call: ServiceCall = default_service_call, service_timeout: float = 60.0,
                 poll_seconds: float = POLL_SECONDS) -> None:
        if client.signer is None:
            raise ConfigError("a requester needs a signing key (the member's key source)")
        self.client = client
        self.identity = identity
        self.address = client.address
        self.evidence_dir = evidence_dir
        self.service_call = service_call
        self.service_timeout = service_timeout
        self.poll_seconds = poll_seconds

    @classmethod
    def from_node_config(cls, config: Any) -> Requester:
        """A requester acting for the member of a node file (its key, TLS identity and chain)."""
        from offchain.chain.deployment import Deployment
        from offchain.chain.keys import load_account

        deployment = Deployment.load(config.deployment) if config.deployment else Deployment.load()
        rpc = Rpc(config.rpc_url or deployment.rpc_url)
        client = ChainClient(rpc, deployment, Signer(rpc, load_account(config.key)))
        identity = NodeIdentity.load(config.tls_key, config.tls_certificate)
        return cls(client, identity, evidence_dir=config.state_dir / "evidence",
                   service_timeout=config.service_timeout)

    # -- planning -------------------------------------------------------------------------

    def plan(self, text: str, block: str | int = "latest") -> tuple[JobProgram, Plan]:
        """Plan ``text`` against the chain catalog; raise ``InputError`` for a bad program."""
        program = registry.for_text(text)
        return program, program.plan(text, ChainCatalog(self.client, block=block))

    def precheck(self, plan: Plan, recipient: str | None = None) -> None:
        """Raise ``PolicyViolation`` for the first rule the job breaks, in words.

        Mirrors ``AccessPolicy``'s order: a grant on every input dataset that
        is not the requester's own (active, unexpired, allowing the kind), then
        every column use against the level of the requester (and of a
        separate recipient). The chain checks all of it again at request time.
        """
        catalog = ChainCatalog(self.client)
        now = _chain_now(self.client)
        for input_plan in plan.inputs:
            dataset = input_plan.dataset
            if dataset.owner == self.address:
                continue
            own, everyone = self.client.call_many([
                (self.client.access_policy.handle, "grant", (dataset.dataset_id, self.address)),
                (self.client.access_policy.handle, "grant", (dataset.dataset_id, "0x" + "00" * 20)),
            ])
            grant, holder = (own, "your") if own["active"] else (everyone, "the all-members")
            if not grant["active"]:
                raise PolicyViolation(
                    f"you hold no grant on {dataset.reference}; ask {dataset.owner_name} for one "
                    f"(`unseen grant set {dataset.name} --to <you> --kinds {plan.kind.name.lower()} --expires 30d`)"
                )
            if now > grant["expiry"]:
                raise PolicyViolation(f"{holder} grant on {dataset.reference} expired; ask {dataset.owner_name} to renew it")
            if not grant["allowedKinds"] & (1 << int(plan.kind)):
                raise PolicyViolation(
                    f"{holder} grant on {dataset.reference} does not allow {plan.kind.name} jobs; ask {dataset.owner_name}"
                )
        for party in {self.address, to_checksum_address(recipient or self.address)}:
            for use in plan.uses:
                dataset = plan.inputs[use.input_index].dataset
                granted = catalog.level(dataset.dataset_id, use.column, party)
                if not granted.permits(use.required):
                    who = "you" if party == self.address else catalog.member_name(party)
                    raise PolicyViolation(
                        f"column {dataset.reference}.{use.column} is granted to {who} at level "
                        f"{granted.name}, but the job needs {use.required.name} ({use.reason}); ask "
                        f"{dataset.owner_name} for that level (`unseen grant set`)"
                    )

    def choose_compute_nodes(self, plan: Plan) -> tuple[str, ...]:
        """Three active members, cheapest first, the requester only if fewer than three others.

        Party 0 is a member holding no owner secret of the plan (it must not:
        see ``offchain.node.authorization.check_owner_secrets``).
        """
        members = [m for m in self.client.consortium.members() if m.status is MemberStatus.ACTIVE]
        members.sort(key=lambda m: (m.address == self.address, m.compute_price, m.address))
        if len(members) < 3:
            raise InputError(f"a job needs 3 active members as compute nodes; the consortium has {len(members)}")
        chosen = [m.address for m in members[:3]]
        secret_owners = {plan.inputs[index].dataset.owner for secret in plan.owner_secrets for index in secret.inputs}
        if chosen[0] in secret_owners:
            free = [m.address for m in members if m.address not in secret_owners]
            if not free:
                raise InputError("every active member owns an input of the join; no member can be compute party 0")
            if free[0] in chosen:
                chosen.remove(free[0])
            else:
                chosen.pop()
            chosen.insert(0, free[0])
        return tuple(chosen)

    def build_request(self, plan: Plan, *, compute_nodes: Sequence[str] | None = None,
                      recipient: str | None = None, deadline_seconds: int = DEFAULT_DEADLINE_SECONDS,
                      fee_cap: int | None = None, run: RunRequest | None = None) -> JobRequest:
        """The ``JobRequest`` of ``plan``, with the fee cap quoted unless given.

        Compute nodes by default: the owner alone for a plan evaluated at the
        owner; the training job's nodes, in order, for a predict job (only they
        hold the model); else :meth:`choose_compute_nodes`. ``run`` gives a
        PUBLISH job its subject, purpose and parameter hash.
        """
        program = registry.get(plan.program)
        if compute_nodes:
            chosen = compute_nodes
        elif plan.evaluated_at_owner:
            chosen = (plan.inputs[0].dataset.owner,)
        elif isinstance(program, LogisticPredict):
            chosen = training_nodes(self.client, plan.parameters["spec"].card)
        else:
            chosen = self.choose_compute_nodes(plan)
        nodes = tuple(to_checksum_address(n) for n in chosen)
        now = _chain_now(self.client)
        request = JobRequest(
            kind=plan.kind, program_hash=expected_program_hash(program, plan), program=plan.text,
            inputs=job_inputs(plan), compute_nodes=nodes,
            result_recipient=to_checksum_address(recipient or self.address),
            deadline=now + deadline_seconds, fee_cap=0,
            subject=run.subject if run else ZERO_HASH, purpose=run.purpose if run else ZERO_HASH,
            params_hash=run.params_hash if run else ZERO_HASH,
        )
        if fee_cap is None:
            fee_cap = self.client.jobs.quote(self.address, request)
        return replace(request, fee_cap=fee_cap)

    # -- the job ----------------------------------------------------------------------------

    def submit(self, request: JobRequest) -> tuple[int, int]:
        """Send ``Jobs.request`` (checked first by the chain); return (job id, block number)."""
        self.client.jobs.check_request(self.address, request)
        receipt = self.client.jobs.request(request).transact()
        event = next(e for e in self.client.events(receipt) if e.name == "JobRequested")
        return int(event.args["jobId"]), receipt.block_number

    def deal_private(self, job_id: int, request: JobRequest, program: JobProgram, plan: Plan,
                     private: Mapping[str, Any]) -> None:
        """Deal the requester's private inputs and deliver party *k*'s payloads to node *k*."""
        if not plan.requester_shared:
            if private:
                raise InputError(f"program {plan.program} takes no private inputs, got {sorted(private)}")
            return
        arrays = program.requester_inputs(plan, private)
        names = [spec.name for spec in plan.requester_shared]
        if sorted(arrays) != sorted(names):
            raise InputError(f"requester_inputs returned {sorted(arrays)}, the plan shares {names}")
        per_party: list[dict[str, SharePayload]] = [{}, {}, {}]
        for spec in plan.requester_shared:
            values = np.asarray(arrays[spec.name])
            for party, payload in enumerate(deal(values, kind=spec.kind, fractional_bits=JOB_ENGINE.fractional_bits)):
                per_party[party][spec.name] = payload
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="deliver") as pool:
            deliveries = [pool.submit(self._call, node, "deliver-requester-input", job_id,
                                      {"names": names}, payload_arrays(per_party[party], names))
                          for party, node in enumerate(request.compute_nodes)]
            for delivery in deliveries:
                delivery.result()  # the first failure, if any, with its node named

    def wait(self, job_id: int, timeout: float | None = None,
             progress: Callable[[JobProgress], None] | None = None) -> JobStatus:
        """Wait until the job is ``Committed``; raise if it is declined or expires."""
        started = time.monotonic()
        jobs = self.client.jobs
        while True:
            record = jobs.job(job_id)
            if progress is not None:
                roles = record.input_count + record.node_count
                progress(JobProgress(
                    job_id, record.status, roles, roles - bin(record.pending_acceptances).count("1"),
                    record.input_count, record.input_count - bin(record.pending_inputs).count("1"),
                    record.node_count - bin(record.pending_results).count("1"), time.monotonic() - started,
                ))
            if record.status in (JobStatus.COMMITTED, JobStatus.FINALIZED):
                return record.status
            if record.status is JobStatus.DECLINED:
                raise JobDeclined(f"job {job_id} was declined: {self._decline_reason(job_id)}", job_id)
            if record.status is JobStatus.EXPIRED:
                raise JobExpired(f"job {job_id} expired before every compute node committed its result; "
                                 "the escrow was refunded", job_id)
            if record.status in (JobStatus.DISPUTED, JobStatus.RESOLVED):
                raise JobDeclined(f"job {job_id} is {record.status.name.lower()}", job_id)
            if _chain_now(self.client) > record.deadline + 1:
                try:
                    jobs.expire(job_id).transact()
                except Exception as error:  # noqa: BLE001 - a node may have expired it first
                    log.debug("expire of job %d: %s", job_id, error)
                continue
            if timeout is not None and time.monotonic() - started > timeout:
                raise JobExpired(f"job {job_id} is still {record.status.name.lower()} after {timeout:.0f} s; "
                                 f"it expires at its deadline ({record.deadline})", job_id)
            time.sleep(self.poll_seconds)

    def fetch(self, job_id: int, request: JobRequest, plan: Plan) -> dict[str, np.ndarray]:
        """Fetch, check against the commitments, and reconstruct the outputs; dispute on mismatch.

        All three payloads are fetched before any is judged, so that a
        dispute carries the whole :class:`ResultEvidence` (what each node
        delivered, with its nonce) for ``unseen audit verify-job``.
        """
        committed = job_commitments(self.client, job_id).results
        expected = [output.name for output in plan.outputs]
        delivered: list[tuple[list[str], list[np.ndarray], bytes]] = []
        for node in request.compute_nodes:
            metadata, arrays = self._call(node, "fetch-result", job_id, {"job_id": job_id}, [])
            delivered.append((list(metadata.get("names", [])), arrays, _nonce(metadata)))
        for party, node in enumerate(request.compute_nodes):
            if party not in committed:
                raise CommitmentMismatch(f"job {job_id}: compute node {self._name(node)} committed no result",
                                         job_id, node)
        evidence = self._evidence(job_id, request, expected, [(arrays, nonce) for _, arrays, nonce in delivered])
        for party, (node, (names, arrays, nonce)) in enumerate(zip(request.compute_nodes, delivered, strict=True)):
            honest = (names == expected and len(nonce) == NONCE_BYTES
                      and result_commitment(result_bytes(names, arrays), nonce) == committed[party][0])
            if not honest:
                self._dispute(job_id, node, evidence)
                raise CommitmentMismatch(
                    f"job {job_id}: the result of compute node {self._name(node)} (party {party}) does not "
                    "match the commitment it posted; a dispute naming it was recorded", job_id, node)
        per_party = []
        for party, (node, (_, arrays, _)) in enumerate(zip(request.compute_nodes, delivered, strict=True)):
            try:
                per_party.append(payloads_from_arrays(expected, arrays))
            except InputError as error:  # committed to, but not share payloads of the plan's outputs
                self._dispute(job_id, node, evidence)
                raise ShareMismatch(f"job {job_id}: compute node {self._name(node)} (party {party}) delivered "
                                    f"no share payloads of the outputs {expected} ({error}); a dispute was "
                                    "recorded", suspect=party, candidates=(party,)) from error
        outputs = {}
        for name in expected:
            try:
                outputs[name] = reconstruct([per_party[p][name] for p in range(3)], verify=True)
            except ShareMismatch as error:
                suspect = request.compute_nodes[error.suspect] if error.suspect is not None else None
                self._dispute(job_id, suspect, evidence)
                who = (f"compute node {self._name(suspect)} (party {error.suspect})" if suspect
                       else f"one of parties {list(error.candidates)}")
                raise ShareMismatch(
                    f"job {job_id}: output {name!r}: {error}; {who} deviated; a dispute was recorded",
                    suspect=error.suspect, candidates=error.candidates,
                ) from error
        return outputs

    def fetch_evaluated(self, job_id: int, request: JobRequest, plan: Plan, run: RunRequest) -> dict[str, np.ndarray]:
        """Fetch the outputs of a job evaluated at its owner; check commitment and receipt; dispute on mismatch.

        The owner commits ``keccak(result_bytes(outputs) ‖ nonce)`` and a
        receipt binding the program, the run's parameters, its input
        commitment and the outputs (``offchain.publish.program.verify_receipt``).
        """
        from offchain.publish.program import verify_receipt

        owner = request.compute_nodes[0]
        commitments = job_commitments(self.client, job_id)
        metadata, arrays = self._call(owner, "fetch-result", job_id, {}, [])
        names = list(metadata.get("names", []))
        nonce = _nonce(metadata)
        expected = [output.name for output in plan.outputs]
        outputs = dict(zip(names, arrays, strict=False))
        commitment, receipt = commitments.results.get(0, (b"", b""))
        input_commitment = commitments.inputs.get(0, (b"", 0))[0]
        honest = (names == expected and len(arrays) == len(names) and len(nonce) == NONCE_BYTES
                  and result_commitment(result_bytes(names, arrays), nonce) == commitment
                  and verify_receipt(plan, run, outputs, input_commitment, receipt))
        if not honest:
            self._dispute(job_id, owner, self._evidence(job_id, request, expected, [(arrays, nonce)]))
            raise CommitmentMismatch(
                f"job {job_id}: the outputs {self._name(owner)} delivered do not match its commitments on "
                "chain; a dispute naming it was recorded", job_id, owner)
        return outputs

    def finalize(self, job_id: int) -> tuple[int, int, dict[str, int], str]:
        """Finalize (pay); return (charged, refund, payouts by member, tx hash)."""
        receipt = self.client.jobs.finalize(job_id).transact()
        metered = next((e for e in self.client.events(receipt) if e.name == "Metered"), None)
        payouts: dict[str, int] = {}
        refund = 0
        if metered is not None:
            for payee, amount in zip(metered.args["payees"], metered.args["amounts"], strict=True):
                payouts[self._name(payee)] = payouts.get(self._name(payee), 0) + int(amount)
            refund = int(metered.args["refund"])
        return sum(payouts.values()), refund, payouts, receipt.transaction_hash

    def transcripts(self, job_id: int, nodes: Sequence[str]) -> dict[str, bytes]:
        """The transcript hash each compute node committed, by node name."""
        results = job_commitments(self.client, job_id).results
        return {self._name(nodes[index]): transcript for index, (_, transcript) in results.items()}

    def run(self, text: str, private: Mapping[str, Any] | None = None, *,
            compute_nodes: Sequence[str] | None = None, deadline_seconds: int = DEFAULT_DEADLINE_SECONDS,
            progress: Callable[[JobProgress], None] | None = None, finalize: bool = True,
            timeout: float | None = None) -> JobOutcome:
        """Run a job end to end (the module docstring's seven steps)."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = now - clock
            clock = now

        program, plan = self.plan(text)
        self.precheck(plan)
        run = program.run_request(plan, private or {}) if plan.evaluated_at_owner else None
        request = self.build_request(plan, compute_nodes=compute_nodes, deadline_seconds=deadline_seconds, run=run)
        lap("plan")
        job_id, block = self.submit(request)
        lap("request")
        _, pinned = self.plan(text, block=block)
        check_plan_matches(pinned, read_job_description(self.client, job_id), program)
        try:
            if run is not None:
                self._call(request.compute_nodes[0], "deliver-run", job_id, {},
                           [np.frombuffer(run.parameters, dtype=np.uint8).copy()])
            else:
                self.deal_private(job_id, request, program, pinned, private or {})
        except ServiceRefused:
            if self.client.jobs.status(job_id) is JobStatus.DECLINED:  # refused because a participant declined
                raise JobDeclined(f"job {job_id} was declined: {self._decline_reason(job_id)}", job_id) from None
            raise
        lap("deal")
        self.wait(job_id, timeout=timeout, progress=progress)
        lap("compute")
        outputs = self.fetch_evaluated(job_id, request, pinned, run) if run else self.fetch(job_id, request, pinned)
        result = program.decode(pinned, outputs)
        lap("fetch")
        charged = refund = 0
        payouts: dict[str, int] = {}
        transactions = {}
        if finalize:
            charged, refund, payouts, transactions["finalize"] = self.finalize(job_id)
            lap("finalize")
        return JobOutcome(job_id, pinned, result, outputs, request.fee_cap, charged, refund, payouts,
                          self.transcripts(job_id, request.compute_nodes), timings, transactions)

    # -- helpers ------------------------------------------------------------------------------

    def _call(self, node: str, service: str, job_id: int, metadata: dict[str, Any],
              arrays: list[np.ndarray]) -> tuple[dict[str, Any], list[np.ndarray]]:
        member = self.client.consortium.member(node)
        try:
            return self.service_call(self.identity, member.endpoint, member.tls_fingerprint, service, job_id,
                                     metadata, arrays, self.service_timeout)
        except TransportError as error:
            raise type(error)(
                f"compute node {member.name} at {member.endpoint} ({service}, job {job_id}): {error}"
            ) from error

    def _evidence(self, job_id: int, request: JobRequest, outputs: Sequence[str],
                  delivered: Sequence[tuple[Sequence[np.ndarray], bytes]]) -> ResultEvidence:
        """What each compute node delivered, in node order, as the evidence a dispute cites."""
        deployment = self.client.deployment
        return ResultEvidence.from_arrays(
            deployment.chain_id, deployment.address("Jobs"), job_id, outputs,
            [(node, arrays, nonce) for node, (arrays, nonce) in zip(request.compute_nodes, delivered, strict=True)])

    def _dispute(self, job_id: int, suspect: str | None, evidence: ResultEvidence) -> Path | None:
        """Dispute ``job_id`` naming ``suspect``, citing ``evidence`` by its hash; keep the file.

        The file goes to ``evidence_dir/job-<id>-<hash prefix>.json``; hand it
        to the regulator (``unseen audit verify-job JOB --evidence FILE``
        checks it against the chain and names the deviating node).
        """
        evidence_hash = evidence.evidence_hash()
        path = None
        if self.evidence_dir is not None:
            self.evidence_dir.mkdir(parents=True, exist_ok=True)
            path = evidence.save(self.evidence_dir / f"job-{job_id}-0x{evidence_hash.hex()[:16]}.json")
        receipt = self.client.jobs.dispute(job_id, suspect or ZERO_ADDRESS, evidence_hash).transact()
        log.warning("job %d: disputed (suspect %s, evidence 0x%s%s) in tx %s", job_id, suspect,
                    evidence_hash.hex(), f" in {path}" if path else "", receipt.transaction_hash)
        return path

    def _decline_reason(self, job_id: int) -> str:
        event = next(e for e in self.client.artifacts["Jobs"].elements("event") if e["name"] == "JobDeclined")
        logs = self.client.rpc.request("eth_getLogs", {
            "address": self.client.jobs.address, "fromBlock": hex(self.client.deployment.deploy_block),
            "toBlock": "latest",
            "topics": ["0x" + abi_codec.event_topic(event).hex(), "0x" + job_id.to_bytes(32, "big").hex()],
        })
        if not logs:
            return "no reason recorded"
        record = self.client.event_decoder.decode(logs[-1])
        return f"{self._name(record.args['participant'])} said: {record.args['reason']}"

    def _name(self, address: str | None) -> str:
        if address is None:
            return "unknown"
        return self.client.label_address(address) or address


def training_nodes(client: ChainClient, card: Any) -> tuple[str, ...]:
    """The compute nodes, in party order, of the finalized training job of model ``card``.

    A model lives only at its training job's three nodes; a predict job must
    name the same ones in the same order. The training job is found by the
    SHA-256 of its program text, which the model card records.
    """
    wanted = card.descriptor.get("training_text_sha256")
    event = next(e for e in client.artifacts["Jobs"].elements("event") if e["name"] == "JobRequested")
    logs = client.rpc.request("eth_getLogs", {
        "address": client.jobs.address, "fromBlock": hex(client.deployment.deploy_block), "toBlock": "latest",
        "topics": ["0x" + abi_codec.event_topic(event).hex()],
    })
    for entry in reversed(logs):
        record = client.event_decoder.decode(entry)
        program = record.args["request"]["program"]
        if hashlib.sha256(program.encode()).hexdigest() != wanted:
            continue
        job_id = int(record.args["jobId"])
        if client.jobs.status(job_id) in (JobStatus.FINALIZED, JobStatus.COMMITTED):
            return tuple(to_checksum_address(a) for a in record.args["request"]["computeNodes"])
    raise InputError(
        f"no finished training job on this chain produced model {card.model_hash[:16]}…; pass the "
        "compute nodes that keep it"
    )


def _nonce(metadata: Mapping[str, Any]) -> bytes:
    """The result nonce a node sent (hex in its reply); empty when it sent none or garbled it."""
    try:
        return bytes.fromhex(str(metadata.get("nonce", "")))
    except ValueError:
        return b""


def _chain_now(client: ChainClient) -> int:
    block = client.rpc.request("eth_getBlockByNumber", "latest", False)
    return max(to_int(block["timestamp"]), int(time.time()))

