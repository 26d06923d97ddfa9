"""Run a model job end to end without a chain, playing every role the way a node does.

Like ``offchain.programs.local.run_program_locally``, plus the three steps
model jobs add (see :mod:`offchain.ml.programs`):

1. column-split jobs: the owners align their rows by PSI
   (:func:`offchain.ml.alignment.align_rows`), one thread per owner over
   in-process links (a node uses its pinned TLS links to the other owners);
2. owners read, check and deal their inputs;
3. the three compute parties run the program — with ``run_local``
   (threads) or ``run_tls`` (three processes over pinned TLS on loopback) —
   training parties save their :class:`~offchain.ml.model.ModelShares` in
   their own :class:`~offchain.ml.model.ModelStore`, predicting parties load
   theirs from it;
4. the requester reconstructs the outputs (checking that the two holders
   of every component agree) and decodes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from offchain.data.store import LocalStore
from offchain.errors import InputError, TransportError
from offchain.ml.alignment import align_rows
from offchain.ml.model import ModelStore
from offchain.ml.programs import LogisticPredict, LogisticTrain
from offchain.mpc.opening import export, reconstruct
from offchain.mpc.program import PerParty, RunResult
from offchain.mpc.runtime import EngineConfig, Runtime
from offchain.mpc.sharing import SharePayload, receive_input
from offchain.net.local import connect_in_process, run_local
from offchain.programs.base import Plan
from offchain.programs.local import deal_arrays


@dataclass(frozen=True)
class JobRun:
    """What a local model job did: its decoded result, the compute run and phase timings (seconds)."""

    result: Any
    run: RunResult
    alignment_seconds: float
    owner_seconds: float
    compute_seconds: float
    compute_phases: dict[str, float]  # at compute party 0: seconds per phase of the MPC


def align_owners(
    program: LogisticTrain | LogisticPredict, plan: Plan, stores: Sequence[LocalStore], timeout: float = 600.0
) -> list[np.ndarray]:
    """Run the owners' PSI alignment as threads over in-process links; return each owner's rows."""
    count = len(stores)
    transports = connect_in_process(max(count, 2), timeout)
    results: list[np.ndarray | None] = [None] * count
    errors: list[BaseException] = []

    def owner(index: int) -> None:
        try:
            keys = program.owner_keys(plan, index, stores[index])
            column = plan.inputs[index].columns[0]
            results[index] = align_rows(transports[index], tuple(range(count)), keys, column=column)
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)
        finally:
            transports[index].close()

    threads = [threading.Thread(target=owner, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise next((e for e in errors if not isinstance(e, TransportError)), errors[0])
    return results  # type: ignore[return-value]


def compute_party(
    runtime: Runtime,
    program: LogisticTrain | LogisticPredict,
    plan: Plan,
    payloads: dict[str, dict[str, SharePayload]],
    model_store: ModelStore | None,
) -> tuple[dict[str, SharePayload], dict[str, float]]:
    """At one compute party: receive the inputs, run the job, keep or load the model, export outputs.

    Returns the exported outputs and the seconds of each phase at this party.
    """
    started = time.perf_counter()
    phases: dict[str, float] = {}
    inputs = {
        (source, name): receive_input(runtime, payload)
        for source, arrays in payloads.items()
        for name, payload in arrays.items()
    }
    if isinstance(program, LogisticPredict):
        if model_store is None:
            raise InputError("prediction needs each compute party's model store")
        shares = model_store.load(plan.parameters["spec"].card.model_hash, runtime.party)
        for name, payload in shares.payloads().items():
            inputs[("model", name)] = receive_input(runtime, payload)
        phases["inputs"] = time.perf_counter() - started
        outputs = program.compute(runtime, plan, inputs)
        phases["scoring"] = time.perf_counter() - started - phases["inputs"]
    else:
        if model_store is None:
            raise InputError("training needs each compute party's model store to keep the model")
        phases["inputs"] = time.perf_counter() - started
        outputs, shares = program.compute_model(runtime, plan, inputs, phases)
        model_store.save(shares)
    expected = {o.name for o in plan.outputs}
    if set(outputs) != expected:
        raise InputError(f"{plan.program} produced outputs {sorted(outputs)}, the plan declares {sorted(expected)}")
    return {name: export(share) for name, share in outputs.items()}, phases


def run_ml_job(
    program: LogisticTrain | LogisticPredict,
    plan: Plan,
    stores: Sequence[LocalStore],
    model_stores: Sequence[ModelStore],
    config: EngineConfig | None = None,
    runner: Callable[..., RunResult] = run_local,
    **runner_options: Any,
) -> JobRun:
    """Run ``plan`` with ``stores[i]`` as the database of the owner of input ``i``.

    ``model_stores[p]`` is compute party ``p``'s model store (for ``run_tls``
    it must be reachable from another process, e.g. a ``DirectoryModelStore``).
    """
    if len(stores) != len(plan.inputs):
        raise InputError(f"plan has {len(plan.inputs)} inputs but {len(stores)} stores were given")
    if len(model_stores) != 3:
        raise InputError(f"give one model store per compute party (3), got {len(model_stores)}")
    config = config or EngineConfig()
    started = time.perf_counter()
    alignments: list[np.ndarray | None] = [None] * len(stores)
    if plan.parameters.get("partition", getattr(plan.parameters.get("spec"), "partition", None)) == "columns":
        alignments = align_owners(program, plan, stores)
    aligned = time.perf_counter()
    per_party: list[dict[str, dict[str, SharePayload]]] = [{}, {}, {}]
    for index, store in enumerate(stores):
        arrays = program.owner_inputs(plan, index, store, alignment=alignments[index])
        dealt = deal_arrays(arrays, plan.inputs[index].shared, config.fractional_bits)
        for party in range(3):
            per_party[party][f"input{index}"] = dealt[party]
    dealt_at = time.perf_counter()
    run = runner(compute_party, program, plan, PerParty(per_party), PerParty(list(model_stores)),
                 config=config, **runner_options)
    computed = time.perf_counter()
    outputs = {
        output.name: reconstruct([run.results[party][0][output.name] for party in range(3)])
        for output in plan.outputs
    }
    return JobRun(
        result=program.decode(plan, outputs),
        run=run,
        alignment_seconds=aligned - started,
        owner_seconds=dealt_at - aligned,
        compute_seconds=computed - dealt_at,
        compute_phases=run.results[0][1],
    )
