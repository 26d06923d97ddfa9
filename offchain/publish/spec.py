"""The public parameters of a ``publish`` program text, checked against the catalog.

Program text parameters (canonical JSON, see :mod:`offchain.programs.base`);
every one of them is covered by the program hash the owner approves, so a
change to any of them is a new program needing a new approval:

``name``            a label for people (``claim-settlement``)
``dataset``         ``"member.table"``: the one input, at whose owner the rules run
``subject_column``  the column identifying the data subject (string or int64); only
                    the rows of the job's subject are read
``columns``         the columns the rules read (fields of each row)
``order_by``        optional columns ordering the rows (default: ``columns``)
``purpose``         the consent purpose (``insurance-claim-settlement``)
``arguments``       declared run arguments (:mod:`offchain.publish.schema`)
``outputs``         declared outputs, every one bounded
``rules``           ``{"format": "script", "source": "..."}`` (the rules language,
                    :mod:`offchain.publish.rules`) or ``{"format": "decision_table",
                    ...}`` (:mod:`offchain.publish.decision_table`)
``limits``          optional ``{"steps", "cpu_seconds", "wall_seconds",
                    "memory_mb", "max_rows"}``; defaults in :data:`DEFAULT_LIMITS`,
                    maxima in :data:`MAX_LIMITS`
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from offchain.data.schema import check_identifier
from offchain.errors import InputError
from offchain.programs.base import Catalog, DatasetInfo
from offchain.publish.decision_table import compile_table
from offchain.publish.rules import FUNCTIONS, ROWS, check_rules
from offchain.publish.sandbox import Limits
from offchain.publish.schema import Field, parse_fields
from offchain.publish.subjects import check_purpose, purpose_hash

PARAMETERS = frozenset({"name", "dataset", "subject_column", "columns", "order_by", "purpose",
                        "arguments", "outputs", "rules", "limits"})
REQUIRED = ("name", "dataset", "subject_column", "columns", "purpose", "outputs", "rules")
DEFAULT_LIMITS = {"steps": 1_000_000, "cpu_seconds": 5, "wall_seconds": 10, "memory_mb": 256,
                  "max_rows": 10_000}
MIN_LIMITS = {"steps": 1, "cpu_seconds": 1, "wall_seconds": 1, "memory_mb": 64, "max_rows": 1}
MAX_LIMITS = {"steps": 100_000_000, "cpu_seconds": 120, "wall_seconds": 300, "memory_mb": 4_096,
              "max_rows": 1_000_000}
SUBJECT_TYPES = ("string", "int64")
MAX_COLUMNS = 64
_LABEL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class PublishSpec:
    """A checked ``publish`` program: where it runs, what it reads, takes and returns."""

    name: str
    dataset: DatasetInfo
    subject_column: str
    columns: tuple[str, ...]
    order_by: tuple[str, ...]
    purpose: str
    arguments: tuple[Field, ...]
    outputs: tuple[Field, ...]
    rules_format: str
    source: str  # the rule script evaluated (a decision table compiled to one)
    table: Any  # the CompiledTable of a decision table, for locating errors; else None
    limits: Limits
    max_rows: int

    @property
    def purpose_hash(self) -> bytes:
        return purpose_hash(self.purpose)

    @property
    def column_types(self) -> tuple[str, ...]:
        return tuple(self.dataset.schema.type_of(c) for c in self.columns)

    @property
    def capacity_bits(self) -> float:
        """At most how many bits one run reveals (sum of the outputs' capacities)."""
        return sum(field.capacity_bits() for field in self.outputs)


def _columns(value: Any, what: str, dataset: DatasetInfo, minimum: int) -> tuple[str, ...]:
    if not isinstance(value, list) or not minimum <= len(value) <= MAX_COLUMNS:
        raise InputError(f"{what} must be a list of {minimum} to {MAX_COLUMNS} column names")
    names = []
    for item in value:
        if not isinstance(item, str):
            raise InputError(f"{what}: column names are text, got {item!r}")
        name = check_identifier(item)
        if name not in dataset.schema.names:
            raise InputError(
                f"{what}: {dataset.reference} has no column {item!r} (its columns: "
                f"{', '.join(dataset.schema.names)})"
            )
        names.append(name)
    if len(set(names)) != len(names):
        raise InputError(f"{what} lists a column twice: {names}")
    return tuple(names)


def _limits(value: Any) -> dict[str, int | float]:
    if value is None:
        return dict(DEFAULT_LIMITS)
    if not isinstance(value, dict):
        raise InputError(f"limits must be an object with some of {sorted(DEFAULT_LIMITS)}")
    unknown = sorted(set(value) - set(DEFAULT_LIMITS))
    if unknown:
        raise InputError(f"unknown limits {unknown}; known: {', '.join(sorted(DEFAULT_LIMITS))}")
    limits = dict(DEFAULT_LIMITS)
    for key, given in value.items():
        if isinstance(given, bool) or not isinstance(given, int) or not (
            MIN_LIMITS[key] <= given <= MAX_LIMITS[key]
        ):
            raise InputError(
                f"limit {key} must be an integer in [{MIN_LIMITS[key]}, {MAX_LIMITS[key]}], got {given!r}"
            )
        limits[key] = given
    return limits


def parse_spec(parameters: Mapping[str, Any], catalog: Catalog) -> PublishSpec:
    """Check the parameters of a ``publish`` program text against the catalog."""
    unknown = sorted(set(parameters) - PARAMETERS)
    if unknown:
        raise InputError(f"unknown publish parameters {unknown}; known: {', '.join(sorted(PARAMETERS))}")
    missing = [key for key in REQUIRED if key not in parameters]
    if missing:
        raise InputError(f"publish parameters {missing} are required")
    name = parameters["name"]
    if not isinstance(name, str) or not _LABEL.match(name):
        raise InputError(
            f"name {name!r} must be 1 to 64 lower-case letters, digits, dots, dashes or underscores"
        )
    if not isinstance(parameters["dataset"], str):
        raise InputError(f"dataset must be 'member.table', got {parameters['dataset']!r}")
    dataset = catalog.dataset(parameters["dataset"])
    if not dataset.active:
        raise InputError(f"dataset {dataset.reference} is not active")
    (subject_column,) = _columns([parameters["subject_column"]], "subject_column", dataset, 1)
    subject_type = dataset.schema.type_of(subject_column)
    if subject_type not in SUBJECT_TYPES:
        raise InputError(
            f"subject_column {subject_column!r} is {subject_type}; it must be one of {SUBJECT_TYPES}"
        )
    columns = _columns(parameters["columns"], "columns", dataset, 1)
    order_by = (_columns(parameters["order_by"], "order_by", dataset, 1)
                if "order_by" in parameters else columns)
    purpose = check_purpose(parameters["purpose"])
    arguments = parse_fields(parameters.get("arguments", []), "argument")
    outputs = parse_fields(parameters["outputs"], "output", minimum=1)
    argument_names = [f.name for f in arguments]
    output_names = [f.name for f in outputs]
    clashes = sorted((set(argument_names) & set(output_names))
                     | ({ROWS} | set(FUNCTIONS)) & (set(argument_names) | set(output_names)))
    if clashes:
        raise InputError(
            f"names {clashes} are used twice (an argument and an output, or `rows`, or a function)"
        )
    rules = parameters["rules"]
    if not isinstance(rules, dict) or rules.get("format") not in ("script", "decision_table"):
        raise InputError('rules must be {"format": "script", "source": ...} or '
                         '{"format": "decision_table", ...}')
    table = None
    if rules["format"] == "script":
        if set(rules) != {"format", "source"}:
            raise InputError('a rule script is {"format": "script", "source": "..."}')
        source = rules["source"]
        check_rules(source, argument_names, output_names, columns)
    else:
        table = compile_table(rules, argument_names, output_names, columns)
        source = table.source
    limits = _limits(parameters.get("limits"))
    return PublishSpec(
        name=name,
        dataset=dataset,
        subject_column=subject_column,
        columns=columns,
        order_by=order_by,
        purpose=purpose,
        arguments=arguments,
        outputs=outputs,
        rules_format=rules["format"],
        source=source,
        table=table,
        limits=Limits(
            steps=int(limits["steps"]),
            cpu_seconds=int(limits["cpu_seconds"]),
            wall_seconds=float(limits["wall_seconds"]),
            memory_bytes=int(limits["memory_mb"]) * 2**20,
        ),
        max_rows=int(limits["max_rows"]),
    )
