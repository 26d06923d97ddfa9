"""What a job is, as the chain records it, and how a plan maps onto a job request.

The requester and every node use the same two functions, so that what is
requested is exactly what the nodes re-derive:

* :func:`expected_program_hash` — what the job's ``programHash`` must be:
  ``keccak256`` of the UTF-8 program text, unless the program defines its
  own (a predict job's is the hash of the model its owners approved);
* :func:`job_inputs` — the ``JobInput`` list of a plan: one per plan input,
  in plan order, with the columns (schema positions) and required levels of
  that input's column uses in plan order.

:class:`JobDescription` is a job as its ``JobRequested`` event describes it;
:func:`check_plan_matches` compares a re-derived plan with it field by field.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address

from offchain.chain.client import ChainClient, JobInput
from offchain.chain.events import EventRecord
from offchain.errors import InputError, PolicyViolation
from offchain.mpc.runtime import EngineConfig
from offchain.programs.base import Plan
from offchain.vocabulary import ConstraintLevel, JobKind

#: Engine settings of every job: a protocol constant shared by requesters, owners and
#: compute nodes (all must deal and compute with the same fixed-point precision).
#: Verified mode makes any opening inside a program check both holders of each component.
JOB_ENGINE = EngineConfig(verified=True)


def program_hash(text: str) -> bytes:
    """Return the program hash recorded on chain: keccak256 of the UTF-8 text."""
    return keccak(text.encode("utf-8"))


def expected_program_hash(program: Any, plan: Plan) -> bytes:
    """The ``programHash`` a job of ``plan`` carries: the program's own rule, else the text's keccak."""
    custom = getattr(program, "program_hash", None)
    return bytes(custom(plan)) if callable(custom) else program_hash(plan.text)


def session_id(chain_id: int, jobs_address: str, job_id: int) -> bytes:
    """The MPC session id of a job: the same at its three compute nodes, unique per chain."""
    return keccak(b"unseen/job-session/v1" + chain_id.to_bytes(32, "big")
                  + bytes.fromhex(jobs_address[2:]) + job_id.to_bytes(32, "big"))


def alignment_session_id(chain_id: int, jobs_address: str, job_id: int) -> bytes:
    """The session id of a model job's row alignment between its owners (no compute node in it)."""
    return keccak(b"unseen/job-alignment/v1" + chain_id.to_bytes(32, "big")
                  + bytes.fromhex(jobs_address[2:]) + job_id.to_bytes(32, "big"))


def job_inputs(plan: Plan) -> tuple[JobInput, ...]:
    """Return the ``JobInput`` of each plan input: its column uses as (position, level) lists."""
    inputs = []
    for index, input_plan in enumerate(plan.inputs):
        uses = [use for use in plan.uses if use.input_index == index]
        inputs.append(JobInput(
            dataset_id=input_plan.dataset.dataset_id,
            columns=tuple(input_plan.dataset.schema.index(use.column) for use in uses),
            levels=tuple(ConstraintLevel(use.required) for use in uses),
        ))
    stray = [use for use in plan.uses if not 0 <= use.input_index < len(plan.inputs)]
    if stray:
        raise InputError(
            f"plan of {plan.program} declares a use of input {stray[0].input_index} but has "
            f"{len(plan.inputs)} inputs"
        )
    return tuple(inputs)


@dataclass(frozen=True)
class InputTerms:
    """The terms of one input fixed at request time."""

    owner: str
    version: int
    row_limit: int
    price_per_job: int
    price_per_row: int


@dataclass(frozen=True)
class JobDescription:
    """A job as its ``JobRequested`` event records it."""

    job_id: int
    block_number: int
    transaction_hash: str
    requester: str
    kind: JobKind
    program_hash: bytes
    program: str
    inputs: tuple[JobInput, ...]
    compute_nodes: tuple[str, ...]
    recipient: str
    deadline: int
    fee_cap: int
    subject: bytes
    purpose: bytes
    params_hash: bytes
    input_terms: tuple[InputTerms, ...]
    node_prices: tuple[int, ...]

    @classmethod
    def from_event(cls, event: EventRecord, client: ChainClient) -> JobDescription:
        """Read a decoded ``JobRequested`` event with the terms it was priced at.

        The event carries the request only; the terms of each input (owner,
        version, row count, prices) are the chain's state at the event's
        block, read here in one round trip.
        """
        if event.name != "JobRequested":
            raise InputError(f"expected a JobRequested event, got {event.name}")
        args = event.args
        request = args["request"]
        job_id = int(args["jobId"])
        inputs = tuple(
            JobInput(int(item["datasetId"]), tuple(int(c) for c in item["columns"]),
                     tuple(ConstraintLevel(int(level)) for level in item["levels"]))
            for item in request["inputs"]
        )
        answers = client.call_many(
            [(client.jobs.handle, "inputs", (job_id,)), (client.jobs.handle, "nodes", (job_id,))]
            + [(client.catalog.handle, "dataset", (item.dataset_id,)) for item in inputs],
            block=hex(event.block_number),
        )
        records, nodes, datasets = answers[0], answers[1], answers[2:]
        return cls(
            job_id=job_id,
            block_number=event.block_number,
            transaction_hash=event.transaction_hash,
            requester=to_checksum_address(args["requester"]),
            kind=JobKind(int(request["kind"])),
            program_hash=bytes(request["programHash"]),
            program=request["program"],
            inputs=inputs,
            compute_nodes=tuple(to_checksum_address(a) for a in request["computeNodes"]),
            recipient=to_checksum_address(request["resultRecipient"]),
            deadline=int(request["deadline"]),
            fee_cap=int(request["feeCap"]),
            subject=bytes(request["subject"]),
            purpose=bytes(request["purpose"]),
            params_hash=bytes(request["paramsHash"]),
            input_terms=tuple(
                InputTerms(to_checksum_address(record["owner"]), int(dataset["version"]), int(dataset["rowCount"]),
                           int(record["pricePerJob"]), int(record["pricePerRow"]))
                for record, dataset in zip(records, datasets, strict=True)
            ),
            node_prices=tuple(int(node["computePrice"]) for node in nodes),
        )

    # -- roles -------------------------------------------------------------------

    def owned_inputs(self, member: str) -> tuple[int, ...]:
        """Indexes of the inputs whose dataset ``member`` owns."""
        member = to_checksum_address(member)
        return tuple(i for i, terms in enumerate(self.input_terms) if terms.owner == member)

    def party_of(self, member: str) -> int | None:
        """The compute party number of ``member`` (its index among the nodes), or None."""
        member = to_checksum_address(member)
        return self.compute_nodes.index(member) if member in self.compute_nodes else None

    def involves(self, member: str) -> bool:
        return bool(self.owned_inputs(member)) or self.party_of(member) is not None

    # -- storage -----------------------------------------------------------------

    def to_json(self) -> str:
        record = asdict(self)
        record["kind"] = int(self.kind)
        for name in ("program_hash", "subject", "purpose", "params_hash"):
            record[name] = "0x" + getattr(self, name).hex()
        record["inputs"] = [
            {"dataset_id": i.dataset_id, "columns": list(i.columns), "levels": [int(v) for v in i.levels]}
            for i in self.inputs
        ]
        return json.dumps(record, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobDescription:
        record: dict[str, Any] = json.loads(text)
        for name in ("program_hash", "subject", "purpose", "params_hash"):
            record[name] = bytes.fromhex(record[name][2:])
        record["kind"] = JobKind(record["kind"])
        record["inputs"] = tuple(
            JobInput(i["dataset_id"], tuple(i["columns"]), tuple(ConstraintLevel(v) for v in i["levels"]))
            for i in record["inputs"]
        )
        record["compute_nodes"] = tuple(record["compute_nodes"])
        record["input_terms"] = tuple(InputTerms(**t) for t in record["input_terms"])
        record["node_prices"] = tuple(record["node_prices"])
        return cls(**record)


def check_plan_matches(plan: Plan, job: JobDescription, program: Any = None) -> None:
    """Raise ``PolicyViolation`` naming the first difference between ``plan`` and the job.

    The program hash must be the plan's (:func:`expected_program_hash`), the
    kind the plan's, and the inputs exactly the plan's: same datasets in the
    same order, same columns with the same required levels in the same order.
    """
    expected = expected_program_hash(program, plan)
    if expected != job.program_hash:
        raise PolicyViolation(
            f"job {job.job_id}: program hash 0x{job.program_hash.hex()} is not the hash of its "
            f"program (0x{expected.hex()})"
        )
    if plan.kind != job.kind:
        raise PolicyViolation(
            f"job {job.job_id}: requested as {job.kind.name}, but program {plan.program} is "
            f"{plan.kind.name}"
        )
    derived = job_inputs(plan)
    if len(derived) != len(job.inputs):
        raise PolicyViolation(
            f"job {job.job_id}: requested with {len(job.inputs)} inputs, the program derives "
            f"{len(derived)}"
        )
    for index, (expected, declared) in enumerate(zip(derived, job.inputs, strict=True)):
        if expected.dataset_id != declared.dataset_id:
            raise PolicyViolation(
                f"job {job.job_id}: input {index} is dataset {declared.dataset_id}, the program "
                f"derives dataset {expected.dataset_id}"
            )
        if (expected.columns, expected.levels) != (declared.columns, declared.levels):
            names = plan.inputs[index].dataset.schema.names
            rendered = [_render_uses(item, names) for item in (declared, expected)]
            raise PolicyViolation(
                f"job {job.job_id}: input {index} ({plan.inputs[index].dataset.reference}) declares "
                f"column uses [{rendered[0]}], the program derives [{rendered[1]}]"
            )


def _render_uses(item: JobInput, names: list[str]) -> str:
    return ", ".join(f"{names[c] if c < len(names) else c}:{level.name}"
                     for c, level in zip(item.columns, item.levels, strict=True)) or "none"
