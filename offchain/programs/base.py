"""The contract between a capability and the job system.

A *job program* turns a program text (what goes on chain) into a
:class:`Plan`, and supplies the code each role runs:

============  ===========================================================
role          calls
============  ===========================================================
requester     ``plan`` (SDK: check and submit), ``requester_inputs``
              (private parameters, e.g. the applicant asked about),
              ``decode`` (after reconstructing the revealed outputs)
data owner    ``plan`` (re-derive and compare with the chain),
              ``owner_inputs`` (local DuckDB work, in the clear)
compute node  ``plan``, ``compute`` (at each of the three parties, on shares)
============  ===========================================================

Programs evaluated at the owner (``Plan.evaluated_at_owner``, the PUBLISH
kind: compute moved to the data, no MPC) replace ``owner_inputs`` /
``requester_inputs`` / ``compute`` with two calls of
:class:`OwnerEvaluatedProgram`:

============  ===========================================================
role          calls
============  ===========================================================
requester     ``plan``, ``run_request`` (private run parameters and the
              ``subject`` / ``purpose`` / ``params_hash`` of the job
              request), ``decode``
owner's node  ``plan``, ``evaluate_at_owner`` (the single compute node:
              checks the parameters against the job, evaluates on its
              plaintext, returns the validated outputs, the input
              commitment and the receipt it posts on chain)
============  ===========================================================

Everything a program needs to know about datasets comes through the
:class:`Catalog` seam (the chain layer implements it; tests use an
in-memory one), so programs live in layer 3 and never import the chain.

Determinism rule: ``plan(text, catalog)`` must return the same plan at the
requester, every owner and every compute node for the same text and the
same catalog state — nodes re-derive the plan and refuse a job whose
declared column uses (on chain) differ from the ones they derive.

Program text is canonical JSON (:func:`canonical_program_text`): the
program's name and version plus its public parameters. Never put private
parameters in it — the chain is readable by every member and the regulator.

Owner secrets: a plan may list :class:`OwnerSecret` s — keys that the owners
of some inputs agree among themselves before sharing, which no compute node
ever sees (the SQL program keys its join-key tags with them, so the compute
node that matches tags cannot test guesses of keys). The node agrees each one
with an ephemeral X25519 exchange between those owners over their pinned
mutual-TLS link (as :func:`offchain.psi.tags.agree_tag_key` does; an owner of
several listed inputs takes part once), and passes the 32-byte results to
``owner_inputs(plan, index, store, secrets={name: secret})``. Programs that
declare none are called without ``secrets``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from eth_utils import keccak

from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.errors import InputError
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import Share
from offchain.vocabulary import ConstraintLevel, JobKind

SHARE_KINDS = ("integer", "fixed", "boolean")


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset as registered on chain."""

    dataset_id: int
    owner: str  # member address, checksummed
    owner_name: str  # member name, as used in ``member.table`` references
    name: str  # table name
    schema: Schema
    row_count: int
    fingerprint: bytes
    version: int = 1
    active: bool = True

    @property
    def reference(self) -> str:
        return f"{self.owner_name}.{self.name}"


class Catalog(Protocol):
    """What planners may ask about datasets and policies (implemented by the chain layer)."""

    def dataset(self, reference: str | int) -> DatasetInfo:
        """Return the dataset ``member.table`` or with this id; raise ``InputError`` if unknown."""
        ...

    def level(self, dataset_id: int, column: str, grantee: str) -> ConstraintLevel:
        """Return the effective constraint level of ``column`` for ``grantee`` (an address)."""
        ...


@dataclass(frozen=True)
class ColumnUse:
    """One declared use of a column, as sent to ``Jobs.request``.

    ``required`` is the least permissive constraint level that allows the
    use; ``reason`` says, for people, what the job does with the column
    ("aggregated by SUM", "compared in WHERE amount > ?", ...).
    """

    input_index: int
    column: str
    required: ConstraintLevel
    reason: str


@dataclass(frozen=True)
class SharedArray:
    """An array a data owner (or the requester) secret-shares into the job.

    ``kind`` is ``integer`` (Z_2^64), ``fixed`` (fixed point) or ``boolean``
    (XOR shares). ``length`` is the public length if the plan fixes it, or
    ``None`` when it depends on the owner's data (its actual length is then
    revealed to the compute nodes — say so in ``Plan.disclosures``).
    """

    name: str
    kind: str
    length: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in SHARE_KINDS:
            raise InputError(f"shared array {self.name!r}: kind must be one of {SHARE_KINDS}")


@dataclass(frozen=True)
class InputPlan:
    """What one data owner computes locally and shares."""

    dataset: DatasetInfo
    columns: tuple[str, ...]
    local_step: str  # what runs in the owner's DuckDB, for people (the SQL, or a description)
    shared: tuple[SharedArray, ...]


@dataclass(frozen=True)
class OwnerSecret:
    """A 32-byte key the owners of ``inputs`` agree before sharing; compute nodes never see it."""

    name: str
    inputs: tuple[int, ...]
    purpose: str  # for people: what the key is for


@dataclass(frozen=True)
class OutputSpec:
    """A value revealed to the requester at the end of the job."""

    name: str
    kind: str  # as SharedArray.kind
    description: str


@dataclass(frozen=True)
class Disclosure:
    """Who learns what, stated for ``--explain`` and the audit trail."""

    who: str  # "requester", "compute nodes", "owner of X", "chain"
    learns: str


@dataclass(frozen=True)
class Step:
    """One step of the plan and where it runs ("owner bank_a, locally", "MPC on 3 nodes")."""

    where: str
    does: str


@dataclass(frozen=True)
class Plan:
    """A checked, deterministic plan of one job."""

    program: str  # registry name
    kind: JobKind
    text: str  # canonical program text (goes on chain)
    inputs: tuple[InputPlan, ...]
    uses: tuple[ColumnUse, ...]
    outputs: tuple[OutputSpec, ...]
    requester_shared: tuple[SharedArray, ...] = ()
    steps: tuple[Step, ...] = ()
    disclosures: tuple[Disclosure, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)  # parsed public parameters
    owner_secrets: tuple[OwnerSecret, ...] = ()
    # True: no MPC; the owner of the single input evaluates the program on its plaintext
    # (OwnerEvaluatedProgram.evaluate_at_owner) and is the job's only compute node.
    evaluated_at_owner: bool = False

    def explain(self) -> str:
        """Return the plan as text: steps, where each runs, and who learns what."""
        lines = [f"program {self.program} ({self.kind.name})", "steps:"]
        lines += [f"  {i + 1}. [{s.where}] {s.does}" for i, s in enumerate(self.steps)]
        lines.append("column uses (level each use requires):")
        for use in self.uses:
            dataset = self.inputs[use.input_index].dataset
            lines.append(f"  {dataset.reference}.{use.column}: {use.required.name} — {use.reason}")
        lines.append("revealed:")
        lines += [f"  to {d.who}: {d.learns}" for d in self.disclosures]
        return "\n".join(lines)


Inputs = Mapping[tuple[str, str], Share]
"""Shares received by a compute party, keyed by ``(source, array name)``; ``source`` is
``"input<i>"`` for the i-th data-owner input and ``"requester"`` for the requester's."""


class JobProgram(Protocol):
    """A capability as a job: plan, local inputs, MPC, decoding."""

    name: ClassVar[str]
    kind: ClassVar[JobKind]

    def plan(self, text: str, catalog: Catalog) -> Plan:
        """Parse and check ``text`` against the catalog; raise ``InputError`` / ``PolicyViolation``."""
        ...

    def owner_inputs(self, plan: Plan, input_index: int, store: LocalStore) -> dict[str, np.ndarray]:
        """At the owner of input ``input_index``: compute the arrays to share (in the clear).

        Programs whose plans declare ``owner_secrets`` also take a keyword
        argument ``secrets``: ``{name: 32 bytes}`` for the secrets this input's
        owner takes part in.
        """
        ...

    def requester_inputs(self, plan: Plan, private: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """At the requester: turn private parameters into the arrays it shares."""
        ...

    def compute(self, runtime: Runtime, plan: Plan, inputs: Inputs) -> dict[str, Share]:
        """At each compute party: compute the output shares named in ``plan.outputs``."""
        ...

    def decode(self, plan: Plan, outputs: Mapping[str, np.ndarray]) -> Any:
        """At the requester: turn the revealed outputs into the user's result."""
        ...


@dataclass(frozen=True)
class RunRequest:
    """One run of a plan evaluated at the owner, as the requester prepares it.

    ``parameters`` are private canonical bytes (for PUBLISH: the data
    subject's identity and salt, the run's arguments, a random nonce), sent
    by the requester to the owner's node only, over the authenticated link.
    ``subject``, ``purpose`` and ``params_hash`` are the ``JobRequest``
    fields of the same names: the chain records them, and the owner's node
    rebuilds this object from the delivered bytes and the job record, so
    ``evaluate_at_owner`` can check that the two agree.
    """

    parameters: bytes
    subject: bytes
    purpose: bytes
    params_hash: bytes


@dataclass(frozen=True)
class OwnerEvaluation:
    """What the owner's node gets from one evaluation, all of it checked.

    ``outputs``: the declared outputs, validated against their schema, as
    arrays in ``plan.outputs`` order (the result payload, served to the
    recipient only). ``input_commitment`` and ``rows_used`` are the
    arguments of ``Jobs.commitInput``; ``receipt`` is the transcript hash
    of ``Jobs.commitResult``. Both hashes hide what they bind (they include
    the run's secret nonce). ``usage`` reports steps, rows and seconds, for
    logs.
    """

    outputs: Mapping[str, np.ndarray]
    input_commitment: bytes
    rows_used: int
    receipt: bytes
    usage: Mapping[str, float] = field(default_factory=dict)


@runtime_checkable
class OwnerEvaluatedProgram(JobProgram, Protocol):
    """A job program whose plans are evaluated at the data owner (``Plan.evaluated_at_owner``)."""

    def run_request(self, plan: Plan, private: Mapping[str, Any]) -> RunRequest:
        """At the requester: turn private run parameters into the request of one run."""
        ...

    def evaluate_at_owner(self, plan: Plan, store: LocalStore, run: RunRequest) -> OwnerEvaluation:
        """At the owner's node: check ``run`` binds to the job, evaluate on plaintext, validate.

        Raises ``PolicyViolation`` when the parameters do not match the job's
        subject, purpose or parameter hash, and ``SandboxError`` when the
        program fails, exceeds a limit, or produces an output outside its
        declared schema (nothing is released then).
        """
        ...


def program_hash(text: str) -> bytes:
    """Return the program hash the chain records and owners approve: keccak256 of the UTF-8 text."""
    return keccak(text.encode("utf-8"))


def canonical_program_text(program: str, version: int, parameters: Mapping[str, Any]) -> str:
    """Return the canonical JSON text of a program: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        {"program": program, "version": version, "parameters": parameters},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def program_parameters(text: str, program: str, version: int) -> dict[str, Any]:
    """Return the parameters of a canonical program text for ``program`` at ``version``.

    Refuses a text for another program or version with both named, so a
    planner never reads parameters it was not written for.
    """
    found, found_version, parameters = parse_program_text(text)
    if found != program or found_version != version:
        raise InputError(
            f"this planner reads {program} version {version}, not {found} version {found_version}: "
            f"send the text to the {found} planner, or write it for {program} version {version}"
        )
    return parameters


def parse_program_text(text: str) -> tuple[str, int, dict[str, Any]]:
    """Split a canonical program text into ``(program, version, parameters)``.

    Refuses texts that are not canonical, so two texts never describe one job.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"program text is not JSON: {exc}") from exc
    if not isinstance(document, dict) or set(document) != {"program", "version", "parameters"}:
        raise InputError('program text must be {"program": ..., "version": ..., "parameters": {...}}')
    program, version, parameters = document["program"], document["version"], document["parameters"]
    if not isinstance(program, str) or not isinstance(version, int) or not isinstance(parameters, dict):
        raise InputError("program text: program must be a string, version an integer, parameters an object")
    if canonical_program_text(program, version, parameters) != text:
        raise InputError("program text is not in canonical form (sorted keys, no spaces)")
    return program, version, parameters
