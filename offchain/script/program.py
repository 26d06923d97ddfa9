"""The ``script`` job program: an approved script over secret arrays, run by three compute nodes.

* **requester** — :func:`check_script` compiles the text against the
  catalog and checks every column use against the requester's levels, so
  a syntax, construct, type, shape, range or policy error is reported with
  its line and column before any job is requested;
  :meth:`ScriptProgram.requester_inputs` shares the requester's private
  inputs; :meth:`~ScriptProgram.decode` gives the typed outputs.
* **owners** — :meth:`~ScriptProgram.owner_inputs` reads the bound columns
  in DuckDB (ordered by the alignment key, or as stored), fills NULLs,
  clips to the declared bounds and shares them (with the hashed keys when
  rows are aligned).
* **compute nodes** — :meth:`~ScriptProgram.compute` runs the compiled
  circuit (:mod:`offchain.script.executor`) on the shares. The outputs go
  to the requester only (the node delivers result shares to the
  recipient).

The program hash covers the whole text — source, bindings, bounds,
outputs — and ``Jobs.request`` refuses a SCRIPT job unless the owner of
every input approved that hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from offchain.data.encoding import encode_rows
from offchain.data.schema import Schema, decimal_scale
from offchain.data.store import LocalStore, projection
from offchain.errors import InputError, ResultWithheld, ScriptError, ScriptPolicyViolation
from offchain.mpc.fixedpoint import DEFAULT_FRACTIONAL_BITS
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import Share
from offchain.programs.base import (
    Catalog,
    ColumnUse,
    Disclosure,
    InputPlan,
    Inputs,
    OutputSpec,
    Plan,
    SharedArray,
    Step,
    canonical_program_text,
    program_parameters,
)
from offchain.script.compiler import ROWS_ALIGNED, ROWS_KEY, CompiledScript, compile_script
from offchain.script.executor import run_circuit
from offchain.script.policy import Exposure
from offchain.script.spec import ScriptSpec, parse_spec
from offchain.vocabulary import ConstraintLevel, JobKind

PROGRAM_NAME = "script"
VERSION = 1
_KEY_DOMAIN = b"unseen/script-row-key/v1"


def script_text(
    source: str,
    inputs: Mapping[str, Mapping[str, Any]],
    outputs: Sequence[Mapping[str, str]],
    *,
    private: Mapping[str, Mapping[str, Any]] | None = None,
    align_by: Mapping[str, str] | None = None,
) -> str:
    """Return the canonical program text of a script job (what every owner approves)."""
    parameters: dict[str, Any] = {
        "source": source,
        "inputs": {name: dict(binding) for name, binding in inputs.items()},
        "outputs": [dict(output) for output in outputs],
    }
    if private:
        parameters["private"] = {name: dict(p) for name, p in private.items()}
    if align_by:
        parameters["align_by"] = dict(align_by)
    return canonical_program_text(PROGRAM_NAME, VERSION, parameters)


@dataclass(frozen=True)
class ScriptResult:
    """What the requester learns: the declared outputs (or, when aligned rows disagree, nothing)."""

    values: dict[str, Any]
    rows_aligned: bool | None = None  # None when the script combines no datasets row by row
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def raise_for_status(self) -> ScriptResult:
        """Return self, or raise ``ResultWithheld`` when the aligned datasets' keys disagree."""
        if self.rows_aligned is False:
            raise ResultWithheld(
                "the datasets combined row by row do not hold the same keys in the same order, "
                "so the outputs are withheld (zeroed); check align_by and the owners' data"
            )
        return self


@dataclass(frozen=True)
class _Origin:
    output: str
    line: int | None
    column: int | None


class ScriptProgram:
    """Secure scripts as a job program (see the module docstring)."""

    name: ClassVar[str] = PROGRAM_NAME
    kind: ClassVar[JobKind] = JobKind.SCRIPT

    def __init__(self, fractional_bits: int = DEFAULT_FRACTIONAL_BITS) -> None:
        self.fractional_bits = fractional_bits

    def plan(self, text: str, catalog: Catalog) -> Plan:
        parameters = program_parameters(text, PROGRAM_NAME, VERSION)
        spec = parse_spec(parameters, catalog, self.fractional_bits)
        compiled = compile_script(spec.source, spec.declarations(), spec.outputs,
                                  self.fractional_bits, frozenset(spec.align_by))
        loaded = {name for _, name in compiled.circuit.inputs}
        unused = [b.name for b in spec.bindings if b.name not in loaded]
        unused += [p.name for p in spec.private if p.name not in loaded]
        if unused:
            raise ScriptError(f"inputs {unused} are declared but the script never reads them; "
                              "remove them (every column shared must be needed)")
        keyed = {index for pair in compiled.aligned for index in pair}
        uses, origins = _column_uses(spec, compiled, keyed)
        inputs = tuple(
            InputPlan(
                dataset=dataset,
                columns=tuple(b.column for b in spec.bindings if b.input_index == index)
                + ((spec.align_by[index],) if index in keyed else ()),
                local_step=_local_step(spec, index, keyed),
                shared=tuple(SharedArray(b.name, "fixed" if b.kind == "fixed" else "integer",
                                         dataset.row_count)
                             for b in spec.bindings if b.input_index == index)
                + ((SharedArray(ROWS_KEY, "integer", dataset.row_count),) if index in keyed else ()),
            )
            for index, dataset in enumerate(spec.datasets)
        )
        rounds, sent = compiled.circuit.cost()
        return Plan(
            program=PROGRAM_NAME,
            kind=JobKind.SCRIPT,
            text=text,
            inputs=inputs,
            uses=uses,
            outputs=tuple(
                OutputSpec(o.name, "fixed" if o.kind == "fixed" else "integer",
                           f"{o.kind}{'' if not o.shape else f' vector of {o.shape[0]}'}")
                for o in compiled.circuit.outputs
            ),
            requester_shared=tuple(
                SharedArray(p.name, "fixed" if p.kind == "fixed" else "integer", p.length)
                for p in spec.private
            ),
            steps=(
                Step(f"each of the {len(spec.datasets)} owners, locally in DuckDB",
                     "read the bound columns, fill NULLs, clip to the declared bounds, share"),
                Step("MPC on 3 compute nodes",
                     f"run the compiled script: {len(compiled.circuit.ops)} operations, about "
                     f"{rounds} rounds and {sent / 1e6:.1f} MB sent by the busiest node"),
                Step("requester", "reconstruct the outputs"),
            ),
            disclosures=_disclosures(spec, compiled),
            parameters={"spec": spec, "compiled": compiled, "origins": origins},
        )

    def owner_inputs(self, plan: Plan, input_index: int, store: LocalStore) -> dict[str, np.ndarray]:
        spec = _spec(plan)
        keyed = ROWS_KEY in {s.name for s in plan.inputs[input_index].shared}
        return owner_arrays(spec, input_index, store, keyed)

    def requester_inputs(self, plan: Plan, private: Mapping[str, Any]) -> dict[str, np.ndarray]:
        spec = _spec(plan)
        expected = [p.name for p in spec.private]
        if sorted(private) != sorted(expected):
            raise InputError(f"the script takes private inputs {expected}, got {sorted(private)}")
        arrays = {}
        for declared in spec.private:
            values = np.asarray(private[declared.name])
            shape = () if declared.length is None else (declared.length,)
            if values.shape != shape:
                raise InputError(f"private input {declared.name!r} must have shape {shape}, got "
                                 f"{values.shape}")
            if declared.kind == "bool":
                if values.dtype.kind != "b":
                    raise InputError(f"private input {declared.name!r} must be true/false values")
                arrays[declared.name] = values.astype(np.int64)
                continue
            if values.dtype.kind not in "iuf" or not np.all(np.isfinite(values)):
                raise InputError(f"private input {declared.name!r} must be finite numbers")
            low, high = declared.interval.low, declared.interval.high
            outside = (values < low) | (values > high)
            if np.any(outside):
                raise InputError(f"private input {declared.name!r} has values outside its declared "
                                 f"[{low:g}, {high:g}]: {values[outside].reshape(-1)[:5].tolist()}")
            if declared.kind == "int" and not np.all(np.floor(values) == values):
                raise InputError(f"private input {declared.name!r} must hold integers")
            arrays[declared.name] = (values.astype(np.float64) if declared.kind == "fixed"
                                     else values.astype(np.int64))
        return arrays

    def compute(self, runtime: Runtime, plan: Plan, inputs: Inputs) -> dict[str, Share]:
        return run_circuit(runtime, _compiled(plan).circuit, inputs)

    def decode(self, plan: Plan, outputs: Mapping[str, np.ndarray]) -> ScriptResult:
        compiled = _compiled(plan)
        values: dict[str, Any] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        aligned = None
        for output in compiled.circuit.outputs:
            array = np.asarray(outputs[output.name])
            if output.name == ROWS_ALIGNED:
                aligned = bool(int(array) == 1)
                continue
            if output.kind == "bool":
                array = array.astype(np.int64) != 0
            values[output.name] = array.item() if output.shape == () else array
            shapes[output.name] = output.shape
        if aligned is False:
            values = {}
        return ScriptResult(values, aligned, shapes)


def check_script(text: str, catalog: Catalog, requester: str | None = None,
                 program: ScriptProgram | None = None, recipient: str | None = None) -> Plan:
    """Compile a script text and check its column uses for ``requester``; return the plan.

    Everything a requester can learn before submitting: errors carry the
    line and column (:class:`ScriptError`, :class:`ScriptPolicyViolation`).
    With ``recipient`` (another member receiving the outputs) its levels are
    checked too, as the contract does.
    """
    plan = (program or ScriptProgram()).plan(text, catalog)
    if requester is not None:
        check_policy(plan, catalog, requester)
    if recipient is not None and recipient.lower() != (requester or "").lower():
        check_policy(plan, catalog, recipient, who="grants the recipient")
    return plan


def check_policy(plan: Plan, catalog: Catalog, requester: str, who: str = "grants you") -> None:
    """Raise :class:`ScriptPolicyViolation` at the first column use ``requester`` may not make."""
    origins: Mapping[tuple[int, str, ConstraintLevel], _Origin] = plan.parameters["origins"]
    for use in plan.uses:
        dataset = plan.inputs[use.input_index].dataset
        granted = catalog.level(dataset.dataset_id, use.column, requester)
        if granted.permits(use.required):
            continue
        origin = origins.get((use.input_index, use.column, use.required))
        exposure = next(e for e in Exposure if e.level is use.required) \
            if use.required is not ConstraintLevel.ENCRYPTED_ONLY else None
        what = exposure.meaning if exposure else "uses the column"
        fix = {
            Exposure.RAW: "aggregate or compare it before it reaches an output",
            Exposure.COMPARED: "aggregate the comparison (count, any, all) or ask for a grant",
            Exposure.AGGREGATED: "ask the owner for an aggregate grant",
        }.get(exposure, "ask the owner for a grant")
        output = f"output {origin.output!r} " if origin else ""
        raise ScriptPolicyViolation(
            f"{output}{what}: {dataset.reference}.{use.column} needs {use.required.name}, but "
            f"{dataset.owner_name} {who} {granted.name} — {fix}",
            origin.line if origin else None, origin.column if origin else None,
        )


# ---------------------------------------------------------------------------------------------
# helpers


def _spec(plan: Plan) -> ScriptSpec:
    spec = plan.parameters.get("spec")
    if not isinstance(spec, ScriptSpec):
        raise InputError("this plan was not made by the script planner")
    return spec


def _compiled(plan: Plan) -> CompiledScript:
    compiled = plan.parameters.get("compiled")
    if not isinstance(compiled, CompiledScript):
        raise InputError("this plan was not made by the script planner")
    return compiled


def _column_uses(spec: ScriptSpec, compiled: CompiledScript, keyed: set[int]
                 ) -> tuple[tuple[ColumnUse, ...], dict]:
    found: dict[tuple[int, str, ConstraintLevel], list[str]] = {}
    origins: dict[tuple[int, str, ConstraintLevel], _Origin] = {}
    for output, taint in compiled.exposures.items():
        for (index, column), exposure, (line, col) in taint.entries:
            key = (index, column, exposure.level)
            found.setdefault(key, []).append(output)
            origins.setdefault(key, _Origin(output, line, col))
    exposed = {(index, column) for index, column, _ in found}
    for index, column in sorted(compiled.columns_read - exposed):
        found[(index, column, ConstraintLevel.ENCRYPTED_ONLY)] = []
    uses = []
    for (index, column, level), outputs in found.items():
        if level is ConstraintLevel.ENCRYPTED_ONLY:
            reason = "read in MPC; no output depends on it"
        else:
            exposure = next(e for e in Exposure if e.level is level)
            reason = f"{', '.join(sorted(set(outputs)))} {exposure.meaning}"
        uses.append(ColumnUse(index, column, level, reason))
    for index in sorted(keyed):
        uses.append(ColumnUse(index, spec.align_by[index], ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
                              "compared in MPC with the other aligned datasets' keys; only whether "
                              "all rows align is revealed"))
    schema_order = {(i, c): spec.datasets[i].schema.index(c)
                    for i in range(len(spec.datasets)) for c in spec.datasets[i].schema.names}
    uses.sort(key=lambda u: (u.input_index, schema_order[(u.input_index, u.column)], u.required))
    return tuple(uses), origins


def _order(spec: ScriptSpec, index: int, keyed: set[int]) -> str:
    return f'"{spec.align_by[index]}"' if index in keyed else "rowid"


def _local_step(spec: ScriptSpec, index: int, keyed: set[int]) -> str:
    dataset = spec.datasets[index]
    columns = ", ".join(b.column for b in spec.bindings if b.input_index == index)
    key = f", hash of {spec.align_by[index]}" if index in keyed else ""
    order = f"ORDER BY {spec.align_by[index]}" if index in keyed else "in stored order"
    return f"SELECT {columns}{key} FROM {dataset.name} {order}; fill NULLs, clip to bounds"


def owner_arrays(spec: ScriptSpec, index: int, store: LocalStore, keyed: bool
                 ) -> dict[str, np.ndarray]:
    """At the owner of input ``index``: the arrays it shares (see the module docstring)."""
    dataset = spec.datasets[index]
    bindings = [b for b in spec.bindings if b.input_index == index]
    columns = list(dict.fromkeys(b.column for b in bindings))
    key = spec.align_by.get(index) if keyed else None
    selected = list(dict.fromkeys(columns + ([key] if key else [])))
    types = {c: dataset.schema.type_of(c) for c in selected}
    select = ", ".join(projection(c, types[c]) for c in selected)
    order = f'"{key}"' if key else "rowid"
    read = store.query(f'SELECT {select} FROM "{dataset.name}" ORDER BY {order}')
    arrays: dict[str, np.ndarray] = {}
    for binding in bindings:
        arrays[binding.name] = _column_values(binding, read[binding.column], dataset.reference)
    if key:
        arrays[ROWS_KEY] = _row_keys(key, types[key], read[key], dataset.reference)
    return arrays


def _column_values(binding, values: np.ndarray, reference: str) -> np.ndarray:
    mask = np.ma.getmaskarray(values) if isinstance(values, np.ma.MaskedArray) else None
    data = np.ma.getdata(values) if mask is not None else np.asarray(values)
    if data.dtype == object:
        missing = np.fromiter((v is None for v in data), dtype=bool, count=len(data))
        mask = missing if mask is None else (mask | missing)
        data = np.where(missing, 0, data)
    scale = decimal_scale(binding.column_type)
    if scale is not None:
        numbers = data.astype(np.float64) / 10.0**scale
    elif binding.column_type == "bool":
        numbers = data.astype(bool).astype(np.int64)
    elif binding.kind == "fixed":
        numbers = data.astype(np.float64)
        nan = ~np.isfinite(numbers)
        mask = nan if mask is None else (mask | nan)
    else:
        numbers = data.astype(np.int64)
    if mask is not None and mask.any():
        if binding.fill is None:
            raise InputError(
                f"{reference}.{binding.column} holds NULL values; the script declares no fill "
                f"for input {binding.name!r}, so the owner refuses to share it"
            )
        numbers = np.where(mask, binding.fill, numbers)
    low, high = binding.interval.low, binding.interval.high
    if binding.kind == "fixed":
        return np.clip(numbers.astype(np.float64), low, high)
    return np.clip(numbers.astype(np.int64), int(np.ceil(low)), int(np.floor(high)))


def _row_keys(column: str, column_type: str, values: np.ndarray, reference: str) -> np.ndarray:
    """Hash each row's key to 64 bits (SHA-256 of its canonical encoding); refuse NULLs and repeats."""
    schema = Schema.of([(column, column_type)])
    keys = []
    for encoded in encode_rows(schema, {column: values}):
        if encoded[0] == 0:
            raise InputError(f"{reference}.{column} has NULL keys; rows cannot be aligned")
        keys.append(int.from_bytes(hashlib.sha256(_KEY_DOMAIN + encoded).digest()[:8], "big",
                                   signed=True))
    array = np.array(keys, dtype=np.int64)
    if len(np.unique(array)) != len(array):
        raise InputError(f"{reference}.{column} repeats keys; rows cannot be aligned by it")
    return array


def _disclosures(spec: ScriptSpec, compiled: CompiledScript) -> tuple[Disclosure, ...]:
    outputs = ", ".join(
        f"{o.name} ({o.kind}{'' if not o.shape else f' × {o.shape[0]}'})"
        for o in compiled.circuit.outputs
    )
    return (
        Disclosure("requester", f"the outputs {outputs}; nothing else"),
        Disclosure("compute nodes", "the script and the datasets' row counts (public); all "
                                    "values are shares"),
        Disclosure("each data owner", "nothing about the other owners' data; it receives no output"),
        Disclosure("chain", "the program text: source, bindings with their bounds, outputs"),
    )
