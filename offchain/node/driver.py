"""What a node does for one job, one step at a time: :class:`JobDriver`.

``advance(job_id)`` reads the job's state (local and on chain), does the
next step that is possible, and returns how long to wait before looking
again (``None``: until an event or a delivery wakes the job). It is safe to
call at any time, any number of times, after any crash: every step is
either recorded locally, visible on chain, or redone from scratch.

Phases at this node (``state.PHASES``)::

    new ──check──> accepted ──work──> done ──(chain: finalized/expired/...)──> closed
     │                │
     └─> declined     └─> failed | halted   (then the job expires and refunds)

*Admission* (phase ``new``): re-derive and authorize the plan
(:mod:`offchain.node.authorization`); as an owner, check the local table
against the registered fingerprint, run ``owner_inputs`` in DuckDB, deal the
shares and store them with the input commitment, then ``commitInput``
(which also accepts); as a compute node only, ``accept``. Any refusal
before accepting is a ``decline`` with the reason.

*Work* (phase ``accepted``): once the job is ``Running``, an owner delivers
each compute party its shares (re-checking the policy first, so a freeze or
a revoked grant stops it at once); a compute node waits for every input
(committed on chain and delivered to it), opens the MPC session with the
two other nodes, runs the program, stores its result payload, nonce and the
session transcript, and commits ``keccak(payload ‖ nonce)`` and the
transcript.

Past the deadline, any unfinished job is expired (refunding the escrow).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from offchain.chain.models import JobStatus
from offchain.errors import (
    DatasetChanged,
    InputError,
    ModelNotFound,
    MpcError,
    PolicyViolation,
    ResultWithheld,
    SandboxError,
    ServiceRefused,
    TransportError,
)
from offchain.ml.alignment import align_rows
from offchain.ml.model import ModelStore
from offchain.ml.programs import LogisticPredict, LogisticTrain
from offchain.mpc.opening import export
from offchain.mpc.program import run_party
from offchain.mpc.runtime import Runtime
from offchain.mpc.sharing import SharePayload, deal, receive_input
from offchain.node.actions import TERMINAL_STATUSES, JobSnapshot
from offchain.node.authorization import (
    Authorized,
    authorize,
    chain_time,
    check_policy_now,
    derive_plan,
)
from offchain.node.fingerprints import check_unchanged
from offchain.node.jobspec import JOB_ENGINE, JobDescription, alignment_session_id, session_id
from offchain.node.payloads import check_payloads
from offchain.node.state import JobRow, StoredResult
from offchain.programs.base import JobProgram, OwnerEvaluatedProgram, OwnerSecret, Plan, RunRequest
from offchain.programs.commitments import (
    decode_arrays,
    encode_arrays,
    input_fingerprint,
    payload_arrays,
    payloads_from_arrays,
    result_bytes,
    result_commitment,
)

if TYPE_CHECKING:
    from offchain.node.daemon import Node

log = logging.getLogger("unseen.node")

#: Seconds between attempts of a step that failed for a passing reason (peer down, RPC hiccup).
RETRY_SECONDS = 2.0

#: Refusals that are the job's fault (declined or halted), as opposed to passing failures.
REFUSALS = (PolicyViolation, InputError, DatasetChanged, ResultWithheld, SandboxError, ModelNotFound)


def compute_at_party(runtime: Runtime, program: JobProgram, plan: Plan,
                     payloads: dict[str, dict[str, SharePayload]],
                     models: ModelStore | None = None) -> dict[str, SharePayload]:
    """The MPC program of a job at one party: take the inputs, compute, export the outputs.

    Model jobs add one step each (``offchain/ml/programs.py``): training keeps
    this party's shares of the model in ``models``; prediction loads them
    and adds them to the inputs under source ``"model"``.
    """
    inputs = {(source, name): receive_input(runtime, payload)
              for source, arrays in payloads.items() for name, payload in arrays.items()}
    if isinstance(program, LogisticTrain):
        if models is None:
            raise InputError("a training job needs the node's model store")
        outputs, shares = program.compute_model(runtime, plan, inputs)
        models.save(shares)
    else:
        if isinstance(program, LogisticPredict):
            if models is None:
                raise InputError("a predict job needs the node's model store")
            shares = models.load(plan.parameters["spec"].card.model_hash, runtime.party)
            for name, payload in shares.payloads().items():
                inputs[("model", name)] = receive_input(runtime, payload)
        outputs = program.compute(runtime, plan, inputs)
    expected = [output.name for output in plan.outputs]
    if sorted(outputs) != sorted(expected):
        raise InputError(f"program {plan.program} produced outputs {sorted(outputs)}, its plan declares {expected}")
    return {name: export(outputs[name]) for name in expected}


def _column_split(plan: Plan) -> bool:
    """Whether a model job's owners hold columns of the same rows (their rows are aligned first)."""
    spec = plan.parameters.get("spec")
    return plan.parameters.get("partition", getattr(spec, "partition", None)) == "columns"


class JobDriver:
    """Advances the jobs of one node (see the module docstring)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.state = node.state
        self.actions = node.actions

    # -- entry point ------------------------------------------------------------------

    def advance(self, job_id: int) -> float | None:
        """Do the next possible step of ``job_id``; return seconds until the next look (None: on an event)."""
        wait = self._advance(job_id)
        row = self.state.job(job_id)
        if row is None or row.phase in ("declined", "closed") or row.chain_status != JobStatus.COMMITTED.name:
            return wait
        finalize_in = self._finalize_after_window(job_id)
        if finalize_in is None:
            return 0.0  # finalized now: look again to close the job
        return finalize_in if wait is None else min(wait, finalize_in)

    def _finalize_after_window(self, job_id: int) -> float | None:
        """Finalize a committed job the requester left unconfirmed past its window; else the seconds left.

        Participants may finalize once the requester's confirmation window has
        passed (the contract's rule), so a requester that vanishes cannot keep
        owners and compute nodes from being paid.
        """
        snapshot = self.actions.snapshot(job_id)
        if snapshot.status is not JobStatus.COMMITTED:
            return 1.0
        ends = snapshot.job.committed_at + self.node.confirmation_window()
        now = chain_time(self.node.reader())
        if now <= ends:
            return float(ends - now + 1)
        self.actions.finalize(job_id)
        log.info("job %d: finalized by this node, the requester's confirmation window having passed", job_id)
        return None

    def _advance(self, job_id: int) -> float | None:
        row = self.state.job(job_id)
        if row is None or row.phase in ("declined", "closed"):
            return None
        job = row.description
        snapshot = self.actions.snapshot(job_id)
        if snapshot.status.name != row.chain_status:
            self.state.set_chain_status(job_id, snapshot.status.name)
        if snapshot.status in TERMINAL_STATUSES:
            self._close(row, snapshot.status)
            return None
        if snapshot.status is JobStatus.DISPUTED:
            return None  # an admin or regulator resolves; JobDisputeResolved wakes the job
        if snapshot.status in (JobStatus.REQUESTED, JobStatus.RUNNING) and chain_time(self.node.reader()) > job.deadline:
            self.actions.expire(job_id)
            log.info("job %d: expired after its deadline; the escrow was refunded", job_id)
            return 0.0
        if self.node.suspended and row.phase not in ("halted", "done"):
            self._halt(row, snapshot, f"this member is suspended: {self.node.suspended}")
            return self._until_deadline(job)
        if row.phase == "new":
            return self._admit(row, snapshot)
        if row.phase == "accepted":
            return self._work(row, snapshot)
        if row.phase == "done" and snapshot.status is JobStatus.COMMITTED:
            return None
        return self._until_deadline(job)

    # -- admission ------------------------------------------------------------------

    def _admit(self, row: JobRow, snapshot: JobSnapshot) -> float | None:
        job = row.description
        try:
            authorized = authorize(self.node.reader(), job)
            if isinstance(authorized.program, LogisticPredict) and row.party is not None:
                # Only the training job's nodes, at the same party positions, hold the model.
                self.node.models.load(authorized.plan.parameters["spec"].card.model_hash, row.party)
            if authorized.plan.evaluated_at_owner:
                if not self._evaluate_at_owner(authorized):
                    self.node.remember(authorized)
                    return self._until_deadline(job)  # the requester's run parameters wake the job
            else:
                for input_index in row.owned_inputs:
                    if self.state.commitment(job.job_id, input_index) is None:
                        self._prepare_input(authorized, input_index)
        except REFUSALS as error:
            reason = f"{type(error).__name__}: {error}"
            if snapshot.accepted(row.party, row.owned_inputs):
                self._halt(row, snapshot, reason)
                return self._until_deadline(job)
            log.warning("job %d: declined: %s", job.job_id, reason)
            self.actions.decline(job.job_id, reason)
            self.state.set_phase(job.job_id, "declined", reason)
            self.state.discard_payloads(job.job_id)
            return None
        self.node.remember(authorized)
        for input_index in row.owned_inputs:
            fingerprint, rows_used = self.state.commitment(job.job_id, input_index)
            self.actions.commit_input(job.job_id, input_index, fingerprint, rows_used)
        if row.party is not None and not row.owned_inputs:
            self.actions.accept(job.job_id, row.party, row.owned_inputs)
        self.state.set_phase(job.job_id, "accepted")
        roles = ([f"owner of input {', '.join(map(str, row.owned_inputs))}"] if row.owned_inputs else []) + (
            [f"compute party {row.party}"] if row.party is not None else [])
        log.info("job %d: accepted (%s) — %s", job.job_id, "; ".join(roles), authorized.plan.program)
        return 0.0

    def _prepare_input(self, authorized: Authorized, input_index: int) -> None:
        """Check the local table, compute the input in DuckDB, deal it and store it with its commitment."""
        job, plan, program = authorized.job, authorized.plan, authorized.program
        dataset = plan.inputs[input_index].dataset
        registered = self.node.reader().catalog.dataset(dataset.dataset_id)
        if registered.version != job.input_terms[input_index].version:
            raise DatasetChanged(
                f"dataset {dataset.reference} is at version {registered.version}, the job was "
                f"requested against version {job.input_terms[input_index].version}"
            )
        secrets = {secret.name: self._owner_secret(job, secret)
                   for secret in plan.owner_secrets if input_index in secret.inputs}
        store = self.node.open_store()
        try:
            record = check_unchanged(store, self.state, dataset, registered.fingerprint)
            if isinstance(program, LogisticTrain | LogisticPredict):
                alignment = self._align(job, plan, program, input_index, store) if _column_split(plan) else None
                arrays = program.owner_inputs(plan, input_index, store, alignment=alignment)
            elif plan.owner_secrets:
                arrays = program.owner_inputs(plan, input_index, store, secrets=secrets)
            else:
                arrays = program.owner_inputs(plan, input_index, store)
        finally:
            store.close()
        shared = plan.inputs[input_index].shared
        names = [spec.name for spec in shared]
        if sorted(arrays) != sorted(names):
            raise InputError(f"owner_inputs of {plan.program} returned {sorted(arrays)}, the plan shares {names}")
        per_party: list[dict[str, SharePayload]] = [{}, {}, {}]
        for spec in shared:
            values = np.asarray(arrays[spec.name])
            if spec.length is not None and values.shape[:1] != (spec.length,):
                raise InputError(
                    f"input {input_index}: array {spec.name!r} has shape {values.shape}, the plan fixes {spec.length} rows"
                )
            for party, payload in enumerate(deal(values, kind=spec.kind, fractional_bits=JOB_ENGINE.fractional_bits)):
                per_party[party][spec.name] = payload
        blobs = [encode_arrays(payload_arrays(payloads, names)) for payloads in per_party]
        fingerprint = input_fingerprint(arrays, shared, JOB_ENGINE.fractional_bits)
        rows_used = min(record.row_count, job.input_terms[input_index].row_limit)
        self.state.save_dealt(job.job_id, input_index, names, blobs, fingerprint, rows_used)
        log.info("job %d: input %d prepared from %s (%d rows read, %d bytes per party)", job.job_id,
                 input_index, dataset.reference, rows_used, max(len(b) for b in blobs))

    def _owner_secret(self, job: JobDescription, secret: OwnerSecret) -> bytes:
        """The 32-byte key the owners of ``secret.inputs`` share, agreed through its leader.

        The leader is the owner of the secret's first input: it draws the key
        and keeps it; every other owner fetches it from the leader's
        ``owner-secret`` service over pinned mutual TLS (TLS 1.3's ephemeral
        key exchange makes that transport forward secret). No compute node
        ever sees it.
        """
        stored = self.state.owner_secret(job.job_id, secret.name)
        if stored is not None:
            return stored
        leader = job.input_terms[min(secret.inputs)].owner
        if leader == self.node.address:
            return self.state.keep_owner_secret(job.job_id, secret.name, os.urandom(32))
        _, arrays = self.node.call(leader, "owner-secret", job.job_id, {"name": secret.name}, [])
        if len(arrays) != 1 or arrays[0].dtype != np.uint8 or arrays[0].shape != (32,):
            raise InputError(f"job {job.job_id}: {self.node.name_of(leader)} sent no 32-byte owner secret")
        return self.state.keep_owner_secret(job.job_id, secret.name, arrays[0].tobytes())

    def _align(self, job: JobDescription, plan: Plan, program: LogisticTrain | LogisticPredict,
               input_index: int, store) -> np.ndarray:
        """Align this owner's rows with the other owners' by PSI over the owners' own session.

        The owners are parties ``0..n-1`` (their input indexes) of a session
        of their nodes; input 0's owner leads. Every owner learns the
        intersection's size and order (the plan declares it); no compute node
        takes part.
        """
        owners = [terms.owner for terms in job.input_terms]
        if len(set(owners)) != len(owners):
            raise PolicyViolation(
                f"job {job.job_id}: one member owns two inputs of a column-split model job; its rows "
                "are aligned between different owners only"
            )
        keys = program.owner_keys(plan, input_index, store)
        session = alignment_session_id(self.node.deployment.chain_id, self.node.deployment.address("Jobs"), job.job_id)
        peers = {index: self.node.peer(owner) for index, owner in enumerate(owners) if index != input_index}
        started = time.perf_counter()
        with self.node.network.session(session, input_index, peers, self.node.config.session_timeout) as transport:
            rows = align_rows(transport, tuple(range(len(owners))), keys, column=plan.inputs[input_index].columns[0])
        log.info("job %d: input %d aligned with %d other owners: %d common rows (%.2f s)", job.job_id,
                 input_index, len(owners) - 1, len(rows), time.perf_counter() - started)
        return rows

    def _evaluate_at_owner(self, authorized: Authorized) -> bool:
        """Evaluate a plan at this owner (PUBLISH): no MPC, this node is the only compute node.

        Needs the requester's run parameters (``deliver-run``); returns False
        until they arrived. Checks the table against its fingerprint, runs
        ``evaluate_at_owner`` (which checks the parameters against the job's
        subject, purpose and parameter hash, and the outputs against their
        schema), and stores the outputs as this node's result with the input
        commitment and the receipt it will commit.
        """
        job, plan, program = authorized.job, authorized.plan, authorized.program
        if self.state.result(job.job_id) is not None:
            return True
        if not isinstance(program, OwnerEvaluatedProgram) or job.compute_nodes != (self.node.address,):
            raise PolicyViolation(f"job {job.job_id}: {plan.program} is evaluated at the owner, which must be "
                                  "the job's only compute node")
        delivered = self.state.received(job.job_id).get("run")
        if delivered is None:
            log.info("job %d: waiting for the requester's run parameters", job.job_id)
            return False
        parameters = decode_arrays(delivered[1])[0].tobytes()
        dataset = plan.inputs[0].dataset
        registered = self.node.reader().catalog.dataset(dataset.dataset_id)
        store = self.node.open_store()
        try:
            check_unchanged(store, self.state, dataset, registered.fingerprint)
            evaluation = program.evaluate_at_owner(
                plan, store, RunRequest(parameters, job.subject, job.purpose, job.params_hash))
        finally:
            store.close()
        names = [output.name for output in plan.outputs]
        arrays = [np.asarray(evaluation.outputs[name]) for name in names]
        nonce = os.urandom(32)
        self.state.save_dealt(job.job_id, 0, names, [], evaluation.input_commitment, evaluation.rows_used)
        self.state.save_result(job.job_id, StoredResult(
            tuple(names), encode_arrays(arrays), nonce, result_commitment(result_bytes(names, arrays), nonce),
            evaluation.receipt))
        log.info("job %d: evaluated %s at the owner over %d rows", job.job_id, plan.program, evaluation.rows_used)
        return True

    # -- work ------------------------------------------------------------------------

    def _authorized(self, job: JobDescription) -> Authorized:
        found = self.node.recall(job.job_id)
        if found is None:
            program, plan = derive_plan(self.node.reader(), job)
            found = Authorized(job, program, plan)
            self.node.remember(found)
        return found

    def _work(self, row: JobRow, snapshot: JobSnapshot) -> float | None:
        job = row.description
        if snapshot.status is JobStatus.REQUESTED:
            return self._until_deadline(job)  # JobStarted wakes the job
        authorized = self._authorized(job)
        waits: list[float | None] = []
        try:
            if snapshot.status is JobStatus.RUNNING:
                check_policy_now(self.node.reader(), job)
            if row.owned_inputs and not authorized.plan.evaluated_at_owner:
                waits.append(self._deliver_inputs(row, snapshot))
            if row.party is not None:
                waits.append(self._compute(row, snapshot, authorized))
        except PolicyViolation as error:
            self._halt(row, snapshot, f"{type(error).__name__}: {error}")
            return self._until_deadline(job)
        pending = [w for w in waits if w != "done"]
        if not pending:
            self.state.set_phase(job.job_id, "done")
            log.info("job %d: this node's part is done", job.job_id)
            return None
        numeric = [w for w in pending if isinstance(w, float)]
        return min(numeric) if numeric else self._until_deadline(job)

    def _deliver_inputs(self, row: JobRow, snapshot: JobSnapshot) -> Any:
        job = row.description
        if snapshot.status is not JobStatus.RUNNING:
            return "done" if snapshot.status is JobStatus.COMMITTED else None
        pending = [(input_index, party, node) for input_index in row.owned_inputs
                   for party, node in enumerate(job.compute_nodes)
                   if self.state.step(job.job_id, f"deliver-{input_index}-{party}") is None]

        def deliver(input_index: int, party: int, node_address: str) -> bool:
            names, blob = self.state.dealt(job.job_id, input_index, party)
            try:
                self.node.call(node_address, "deliver-input", job.job_id,
                               {"input_index": input_index, "names": names}, decode_arrays(blob))
            except (TransportError, ServiceRefused, OSError) as error:
                log.warning("job %d: delivering input %d to party %d (%s) failed, will retry: %s",
                            job.job_id, input_index, party, self.node.name_of(node_address), error)
                return False
            self.state.record_step(job.job_id, f"deliver-{input_index}-{party}", detail=f"to {node_address}")
            return True

        # The three parties' deliveries go out together: each waits on its own node.
        with ThreadPoolExecutor(max_workers=max(1, len(pending)), thread_name_prefix="deliver") as pool:
            delivered = list(pool.map(lambda item: deliver(*item), pending))
        return "done" if all(delivered) else RETRY_SECONDS

    def _compute(self, row: JobRow, snapshot: JobSnapshot, authorized: Authorized) -> Any:
        job, party = row.description, row.party
        if snapshot.nodes[party].result_committed:
            if self.state.step(job.job_id, "commit-result") is None:  # sent, then crashed before recording
                self.state.record_step(job.job_id, "commit-result", detail="found done on chain")
            return "done"
        if snapshot.status is not JobStatus.RUNNING or snapshot.job.pending_inputs:
            return None  # InputCommitted / JobStarted wake the job
        stored = self.state.result(job.job_id)
        if stored is None:
            payloads = self._received_inputs(job, authorized.plan, party)
            if payloads is None:
                return None  # a delivery wakes the job
            try:
                stored = self._run_session(job, party, authorized, payloads)
            except (TransportError, OSError) as error:
                log.warning("job %d: MPC session failed, will retry: %s", job.job_id, error)
                return RETRY_SECONDS
            except (MpcError, InputError) as error:
                reason = f"{type(error).__name__}: {error}"
                log.error("job %d: the computation failed: %s", job.job_id, reason)
                self.state.set_phase(job.job_id, "failed", reason)
                return self._until_deadline(job)
        self.actions.commit_result(job.job_id, party, stored.commitment, stored.transcript)
        return "done"

    def _received_inputs(self, job: JobDescription, plan: Plan, party: int) -> dict | None:
        received = self.state.received(job.job_id)
        sources = {f"input{i}": spec.shared for i, spec in enumerate(plan.inputs)}
        if plan.requester_shared:
            sources["requester"] = plan.requester_shared
        missing = sorted(set(sources) - set(received))
        if missing:
            log.info("job %d: waiting for %s", job.job_id, ", ".join(missing))
            return None
        payloads = {}
        for source, expected in sources.items():
            names, blob = received[source]
            payloads[source] = payloads_from_arrays(names, decode_arrays(blob))
            check_payloads(payloads[source], expected, party, source)
        return payloads

    def _run_session(self, job: JobDescription, party: int, authorized: Authorized,
                     payloads: dict) -> StoredResult:
        session = session_id(self.node.deployment.chain_id, self.node.deployment.address("Jobs"), job.job_id)
        peers = {index: self.node.peer(address) for index, address in enumerate(job.compute_nodes)
                 if index != party}
        started = time.perf_counter()
        with self.node.network.session(session, party, peers, self.node.config.session_timeout) as transport:
            outputs, stats = run_party(compute_at_party, transport, session, JOB_ENGINE,
                                       (authorized.program, authorized.plan, payloads, self.node.models))
            transcript = self.node.network.session_transcript(transport)
        outputs = self.result_payloads(job, outputs)
        names = [output.name for output in authorized.plan.outputs]
        arrays = payload_arrays(outputs, names)
        nonce = os.urandom(32)
        stored = StoredResult(tuple(names), encode_arrays(arrays), nonce,
                              result_commitment(result_bytes(names, arrays), nonce), transcript)
        self.state.save_result(job.job_id, stored)
        log.info("job %d: MPC done as party %d in %.2f s (%d rounds, %d bytes sent); transcript %s",
                 job.job_id, party, time.perf_counter() - started, stats.rounds, stats.bytes_sent,
                 transcript.hex()[:16])
        return stored

    def result_payloads(self, job: JobDescription, outputs: dict[str, SharePayload]) -> dict[str, SharePayload]:
        """The output shares this node commits to and serves (the identity; a seam for fault tests)."""
        return outputs

    # -- endings ------------------------------------------------------------------------

    def _halt(self, row: JobRow, snapshot: JobSnapshot, reason: str) -> None:
        if row.phase != "halted":
            log.warning("job %d: halted: %s (it will expire and refund after its deadline)", row.job_id, reason)
            self.state.set_phase(row.job_id, "halted", reason)

    def _close(self, row: JobRow, status: JobStatus) -> None:
        self.state.set_phase(row.job_id, "closed")
        self.state.discard_payloads(row.job_id)
        self.node.forget(row.job_id)
        log.info("job %d: closed (%s)", row.job_id, status.name.lower())

    def _until_deadline(self, job: JobDescription) -> float:
        return max(1.0, job.deadline + 1 - time.time())

