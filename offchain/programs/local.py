"""Run a job program end to end in one process, without a chain.

Plays every role the way the node does — owners prepare and deal their
inputs, three compute parties (threads, :func:`offchain.net.local.run_local`)
receive them and run ``compute``, each exports its output shares, and the
requester reconstructs them (verifying that the two holders of every
component agree) and decodes. Capability tests compare this with DuckDB or
numpy on the same data in the clear; the node runs the very same steps
across processes and machines.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from offchain.data.store import LocalStore
from offchain.errors import InputError
from offchain.mpc.opening import export, reconstruct
from offchain.mpc.program import PerParty, RunResult
from offchain.mpc.runtime import EngineConfig, Runtime
from offchain.mpc.sharing import SharePayload, deal, receive_input
from offchain.net.local import run_local
from offchain.programs.base import (
    JobProgram,
    OwnerEvaluatedProgram,
    OwnerEvaluation,
    Plan,
    SharedArray,
)


def deal_arrays(
    arrays: Mapping[str, np.ndarray], expected: Sequence[SharedArray], fractional_bits: int
) -> list[dict[str, SharePayload]]:
    """Deal each named array; return one ``{name: payload}`` dict per compute party."""
    names = [s.name for s in expected]
    if sorted(arrays) != sorted(names):
        raise InputError(f"expected arrays {names}, got {sorted(arrays)}")
    per_party: list[dict[str, SharePayload]] = [{}, {}, {}]
    for spec in expected:
        values = np.asarray(arrays[spec.name])
        if spec.length is not None and values.shape[:1] != (spec.length,):
            raise InputError(
                f"array {spec.name!r} must have {spec.length} rows, got shape {values.shape}"
            )
        payloads = deal(values, kind=spec.kind, fractional_bits=fractional_bits)
        for party in range(3):
            per_party[party][spec.name] = payloads[party]
    return per_party


def _compute_at_party(
    runtime: Runtime,
    program: JobProgram,
    plan: Plan,
    payloads: Mapping[str, Mapping[str, SharePayload]],
) -> dict[str, SharePayload]:
    inputs = {
        (source, name): receive_input(runtime, payload)
        for source, arrays in payloads.items()
        for name, payload in arrays.items()
    }
    outputs = program.compute(runtime, plan, inputs)
    expected = {o.name for o in plan.outputs}
    if set(outputs) != expected:
        raise InputError(
            f"program {plan.program} produced outputs {sorted(outputs)}, plan declares {sorted(expected)}"
        )
    return {name: export(share) for name, share in outputs.items()}


def agree_owner_secrets(plan: Plan) -> list[dict[str, bytes]]:
    """Return, per input, the owner secrets its owner holds (``{name: 32 bytes}``).

    In one process the agreement's outcome is a fresh random key handed to
    the owners of the listed inputs; the node agrees it by X25519 between
    those owners over their pinned link (see ``programs.base``).
    """
    held: list[dict[str, bytes]] = [{} for _ in plan.inputs]
    for secret in plan.owner_secrets:
        if not secret.inputs or any(i not in range(len(plan.inputs)) for i in secret.inputs):
            raise InputError(f"owner secret {secret.name!r} names inputs {secret.inputs}, "
                             f"the plan has {len(plan.inputs)}")
        key = os.urandom(32)
        for index in secret.inputs:
            held[index][secret.name] = key
    return held


def _evaluate_at_owner_locally(
    program: JobProgram, plan: Plan, store: LocalStore, private: Mapping[str, Any]
) -> tuple[Any, OwnerEvaluation]:
    """Requester prepares the run, the owner evaluates it, the requester decodes the outputs."""
    if not isinstance(program, OwnerEvaluatedProgram):
        raise InputError(
            f"plan of {plan.program} is evaluated at the owner, but the program has no "
            "run_request / evaluate_at_owner"
        )
    run = program.run_request(plan, private)
    evaluation = program.evaluate_at_owner(plan, store, run)
    return program.decode(plan, evaluation.outputs), evaluation


def run_program_locally(
    program: JobProgram,
    plan: Plan,
    stores: Sequence[LocalStore],
    private: Mapping[str, Any] | None = None,
    config: EngineConfig | None = None,
) -> tuple[Any, RunResult | OwnerEvaluation]:
    """Run ``plan`` with ``stores[i]`` as the database of the owner of input ``i``.

    Returns the decoded result and the compute parties' run record (rounds,
    bytes, transcripts) — or, for a plan evaluated at the owner, the
    owner's :class:`~offchain.programs.base.OwnerEvaluation` (no MPC runs).
    """
    config = config or EngineConfig()
    if len(stores) != len(plan.inputs):
        raise InputError(f"plan has {len(plan.inputs)} inputs but {len(stores)} stores were given")
    if plan.evaluated_at_owner:
        return _evaluate_at_owner_locally(program, plan, stores[0], private or {})
    per_party_payloads: list[dict[str, dict[str, SharePayload]]] = [{}, {}, {}]
    secrets = agree_owner_secrets(plan)
    for index, store in enumerate(stores):
        if plan.owner_secrets:
            arrays = program.owner_inputs(plan, index, store, secrets=secrets[index])
        else:
            arrays = program.owner_inputs(plan, index, store)
        dealt = deal_arrays(arrays, plan.inputs[index].shared, config.fractional_bits)
        for party in range(3):
            per_party_payloads[party][f"input{index}"] = dealt[party]
    if plan.requester_shared:
        arrays = program.requester_inputs(plan, private or {})
        dealt = deal_arrays(arrays, plan.requester_shared, config.fractional_bits)
        for party in range(3):
            per_party_payloads[party]["requester"] = dealt[party]
    run = run_local(_compute_at_party, program, plan, PerParty(per_party_payloads), config=config)
    outputs = {
        output.name: reconstruct([run.results[party][output.name] for party in range(3)])
        for output in plan.outputs
    }
    return program.decode(plan, outputs), run
