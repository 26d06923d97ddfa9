"""The public parameters of a ``script`` program text, checked against the catalog.

Program text parameters (canonical JSON, see :mod:`offchain.programs.base`);
all of them are covered by the program hash every owner approves:

``source``     the script (:mod:`offchain.script.compiler`)
``inputs``     ``{name: {"dataset": "member.table", "column": c, "min": a, "max": b,
               "fill": v}}``: the columns the script reads, by the names it uses.
               ``min``/``max`` bound the values (the owner clips to them; default:
               the engine's range for the type); ``fill`` replaces NULLs (without
               it, a NULL stops the job at the owner). ``int64``, ``date`` and
               ``timestamp`` columns are integers (days, microseconds), ``float64``
               and ``decimal`` columns fixed point, ``bool`` columns true/false.
``private``    optional ``{name: {"type": "integer" | "fixed" | "bool", "length": n,
               "min": a, "max": b}}``: secret inputs of the requester (weights,
               thresholds), a single value unless ``length`` is given
``outputs``    ``[{"name": n, "type": "integer" | "fixed" | "bool"}]``: what the
               requester receives
``align_by``   optional ``{"member.table": key column}``: datasets whose rows are
               ordered by a key and may be combined row by row; the compute nodes
               check in MPC that the keys agree (``rows_aligned`` output)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from offchain.data.schema import check_identifier
from offchain.errors import InputError
from offchain.programs.base import Catalog, DatasetInfo
from offchain.script.compiler import FUNCTIONS, ROWS_ALIGNED, InputDeclaration
from offchain.script.ranges import Interval, Limits

PARAMETERS = frozenset({"source", "inputs", "private", "outputs", "align_by"})
OUTPUT_TYPES = ("integer", "fixed", "bool")
MAX_INPUTS = 64
MAX_OUTPUTS = 32
MAX_PRIVATE_LENGTH = 1_000_000
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_COLUMN_KINDS = {"int64": "int", "date": "int", "timestamp": "int", "float64": "fixed",
                 "bool": "bool"}


@dataclass(frozen=True)
class Binding:
    """A column the script reads, under the name it uses."""

    name: str
    input_index: int
    column: str
    column_type: str
    kind: str
    interval: Interval
    fill: float | int | None


@dataclass(frozen=True)
class PrivateInput:
    """A secret input of the requester."""

    name: str
    kind: str
    length: int | None
    interval: Interval


@dataclass(frozen=True)
class ScriptSpec:
    """A checked ``script`` program text."""

    source: str
    datasets: tuple[DatasetInfo, ...]
    bindings: tuple[Binding, ...]
    private: tuple[PrivateInput, ...]
    outputs: tuple[tuple[str, str], ...]  # (name, type)
    align_by: Mapping[int, str]  # input index -> key column

    def declarations(self) -> list[InputDeclaration]:
        """What the compiler needs to know about every secret input."""
        declared = [
            InputDeclaration(b.name, f"input{b.input_index}", b.kind,
                             self.datasets[b.input_index].row_count, b.interval,
                             (b.input_index, b.column))
            for b in self.bindings
        ]
        declared += [InputDeclaration(p.name, "requester", p.kind, p.length, p.interval)
                     for p in self.private]
        return declared


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InputError(f"{what} {value!r} must be lower-case letters, digits and underscores, "
                         "starting with a letter")
    if value in FUNCTIONS:
        raise InputError(f"{what} {value!r} is the name of a function of the language")
    if value == ROWS_ALIGNED:
        raise InputError(f"{what} {value!r} is reserved for the alignment check")
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _interval(raw: Mapping[str, Any], kind: str, limits: Limits, what: str) -> Interval:
    if kind == "bool":
        if "min" in raw or "max" in raw:
            raise InputError(f"{what}: true/false values take no min or max")
        return Interval(0.0, 1.0)
    ceiling = limits.value(kind) / 2
    low = _number(raw["min"], f"{what} min") if "min" in raw else -ceiling
    high = _number(raw["max"], f"{what} max") if "max" in raw else ceiling
    if not low <= high:
        raise InputError(f"{what}: min {low} is above max {high}")
    if max(abs(low), abs(high)) > ceiling:
        raise InputError(f"{what}: bounds must lie within ±{ceiling:.6g} for {kind} values")
    return Interval(low, high)


def parse_spec(parameters: Mapping[str, Any], catalog: Catalog, fractional_bits: int) -> ScriptSpec:
    """Check the parameters of a ``script`` program text against the catalog."""
    unknown = sorted(set(parameters) - PARAMETERS)
    if unknown:
        raise InputError(f"unknown script parameters {unknown}; known: {', '.join(sorted(PARAMETERS))}")
    for required in ("source", "inputs", "outputs"):
        if required not in parameters:
            raise InputError(f"script parameter {required!r} is required")
    source = parameters["source"]
    if not isinstance(source, str):
        raise InputError("source must be the script's text")
    limits = Limits(fractional_bits)
    raw_inputs = parameters["inputs"]
    if not isinstance(raw_inputs, dict) or not 1 <= len(raw_inputs) <= MAX_INPUTS:
        raise InputError(f"inputs must map 1 to {MAX_INPUTS} names to columns")
    datasets: list[DatasetInfo] = []
    bindings = []
    for name in sorted(raw_inputs):
        raw = raw_inputs[name]
        what = f"input {name!r}"
        _name(name, "input name")
        if not isinstance(raw, dict) or not {"dataset", "column"} <= set(raw) \
                or set(raw) - {"dataset", "column", "min", "max", "fill"}:
            raise InputError(f'{what} must be {{"dataset": "member.table", "column": c}} with '
                             "optional min, max and fill")
        if not isinstance(raw["dataset"], str) or not isinstance(raw["column"], str):
            raise InputError(f"{what}: dataset and column are text")
        dataset = catalog.dataset(raw["dataset"])
        if not dataset.active:
            raise InputError(f"dataset {dataset.reference} is not active")
        if dataset.dataset_id not in [d.dataset_id for d in datasets]:
            datasets.append(dataset)
        index = [d.dataset_id for d in datasets].index(dataset.dataset_id)
        column = check_identifier(raw["column"])
        column_type = dataset.schema.type_of(column)
        kind = "fixed" if column_type.startswith("decimal") else _COLUMN_KINDS.get(column_type)
        if kind is None:
            raise InputError(f"{what}: {dataset.reference}.{column} is {column_type}; scripts "
                             "compute on numbers, dates and booleans")
        interval = _interval(raw, kind, limits, what)
        fill = raw.get("fill")
        if fill is not None:
            fill_value = _number(fill, f"{what} fill")
            if not interval.low <= fill_value <= interval.high:
                raise InputError(f"{what}: fill {fill} lies outside [min, max]")
            if kind != "fixed" and fill_value != int(fill_value):
                raise InputError(f"{what}: fill must be an integer for {column_type} columns")
        bindings.append(Binding(name, index, column, column_type, kind, interval, fill))
    private = []
    raw_private = parameters.get("private", {})
    if not isinstance(raw_private, dict):
        raise InputError("private must map names to {type, length, min, max}")
    for name in sorted(raw_private):
        raw = raw_private[name]
        what = f"private input {name!r}"
        _name(name, "private input name")
        if name in raw_inputs:
            raise InputError(f"{what} has the name of an input")
        if not isinstance(raw, dict) or raw.get("type") not in OUTPUT_TYPES \
                or set(raw) - {"type", "length", "min", "max"}:
            raise InputError(f'{what} must be {{"type": integer | fixed | bool}} with optional '
                             "length, min and max")
        kind = {"integer": "int", "fixed": "fixed", "bool": "bool"}[raw["type"]]
        length = raw.get("length")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int)
                                   or not 1 <= length <= MAX_PRIVATE_LENGTH):
            raise InputError(f"{what}: length must be an integer in 1..{MAX_PRIVATE_LENGTH}")
        private.append(PrivateInput(name, kind, length, _interval(raw, kind, limits, what)))
    raw_outputs = parameters["outputs"]
    if not isinstance(raw_outputs, list) or not 1 <= len(raw_outputs) <= MAX_OUTPUTS:
        raise InputError(f"outputs must be a list of 1 to {MAX_OUTPUTS} outputs")
    outputs = []
    for raw in raw_outputs:
        if not isinstance(raw, dict) or set(raw) != {"name", "type"} \
                or raw["type"] not in OUTPUT_TYPES:
            raise InputError(f'each output is {{"name": n, "type": integer | fixed | bool}}, got {raw!r}')
        outputs.append((_name(raw["name"], "output name"), raw["type"]))
    names = [n for n, _ in outputs]
    if len(set(names)) != len(names):
        raise InputError(f"output names must be distinct: {names}")
    align_by: dict[int, str] = {}
    raw_align = parameters.get("align_by", {})
    if not isinstance(raw_align, dict):
        raise InputError('align_by maps "member.table" to its key column')
    for reference, key in sorted(raw_align.items()):
        dataset = catalog.dataset(reference)
        ids = [d.dataset_id for d in datasets]
        if dataset.dataset_id not in ids:
            raise InputError(f"align_by names {reference}, which no input reads")
        if not isinstance(key, str):
            raise InputError(f"align_by {reference}: the key is a column name")
        align_by[ids.index(dataset.dataset_id)] = dataset.schema.columns[
            dataset.schema.index(key)].name
    return ScriptSpec(source, tuple(datasets), tuple(bindings), tuple(private), tuple(outputs),
                      align_by)
