"""The public parameters of model jobs: parsing, checking and writing their program texts.

A training job's text (canonical JSON, see ``offchain.programs.base``)::

    {"program": "logreg_train", "version": 1, "parameters": {
        "partition": "columns",                      # or "rows"
        "inputs": [
            {"dataset": "lender.loans", "key": "customer_id",
             "features": ["income", "debt"], "scales": {"income": 0.001}, "label": "defaulted"},
            {"dataset": "shop.behaviour", "key": "customer_id", "features": ["orders_90d"]}],
        "standardize": true, "feature_limit": 8192, "validation_fraction": 0.2,
        "reveal_model": false,
        "learning_rate": 0.1, "epochs": 10, "batch_size": 1024, "l2_penalty": 0.0,
        "sigmoid": "segments5", "shuffle": true, "seed": 1}}

* ``partition: "columns"`` — 2 or 3 inputs, each with a ``key`` (rows are
  aligned by a private join on it) and its own ``features``; exactly one
  input has the ``label``.
* ``partition: "rows"`` — 1 or more inputs with the same ``features`` and
  ``label`` (their rows are stacked); no key.
* ``scales`` (optional, per input): a public factor each raw value is
  multiplied by before sharing; ``|value * scale|`` must not exceed
  ``feature_limit`` (at most 2**13, checked by the owner).

A predict job's text names the model by its full public card (whose hash
the owners approved) and the inputs to score::

    {"program": "logreg_predict", "version": 1, "parameters": {
        "model": {"descriptor": {...}, "digests": {...}},
        "inputs": [{"dataset": "lender.applicants", "key": "customer_id"},
                   {"dataset": "shop.behaviour", "key": "customer_id"}]}}

For a column-split model the inputs correspond one to one to the training
inputs and provide the same columns; for a row-split model any number of
inputs each provides every feature (an optional ``key`` orders the rows).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from offchain.errors import InputError
from offchain.ml.approximations import DEFAULT_SIGMOID
from offchain.ml.model import ModelCard
from offchain.ml.ranges import FEATURE_LIMIT
from offchain.ml.sgd import TrainingOptions
from offchain.programs.base import canonical_program_text, program_parameters

TRAIN_PROGRAM = "logreg_train"
PREDICT_PROGRAM = "logreg_predict"
VERSION = 1
PARTITIONS = ("columns", "rows")
_TRAIN_KEYS = {
    "partition", "inputs", "standardize", "feature_limit", "validation_fraction", "reveal_model",
    "learning_rate", "epochs", "batch_size", "l2_penalty", "sigmoid", "shuffle", "seed",
}
_INPUT_KEYS = {"dataset", "key", "features", "scales", "label"}
_DEFAULTS: dict[str, Any] = {
    "standardize": True,
    "feature_limit": FEATURE_LIMIT,
    "validation_fraction": 0.2,
    "reveal_model": False,
    "learning_rate": 0.1,
    "epochs": 10,
    "batch_size": 1024,
    "l2_penalty": 0.0,
    "sigmoid": DEFAULT_SIGMOID,
    "shuffle": True,
    "seed": 0,
}


@dataclass(frozen=True)
class InputSpec:
    """One input of a model job: a dataset, its key and the columns it contributes."""

    dataset: str
    features: tuple[str, ...] = ()
    scales: tuple[float, ...] = ()
    label: str | None = None
    key: str | None = None

    def columns(self) -> tuple[str, ...]:
        """The columns read from the dataset, in order: key, features, label."""
        out = ([self.key] if self.key else []) + list(self.features) + ([self.label] if self.label else [])
        return tuple(out)


@dataclass(frozen=True)
class TrainSpec:
    """The parsed parameters of a training job."""

    partition: str
    inputs: tuple[InputSpec, ...]
    options: TrainingOptions
    standardize: bool
    feature_limit: float
    validation_fraction: float
    reveal_model: bool

    @property
    def label_input(self) -> int:
        """Index of the input holding the label (column split); 0 for row split (all hold it)."""
        return next(i for i, spec in enumerate(self.inputs) if spec.label)

    @property
    def feature_count(self) -> int:
        if self.partition == "rows":
            return len(self.inputs[0].features)
        return sum(len(spec.features) for spec in self.inputs)

    @property
    def reveals_aggregates(self) -> bool:
        """Whether the requester learns anything computed from the columns (metrics or the model)."""
        return self.reveal_model or self.validation_fraction > 0


@dataclass(frozen=True)
class PredictSpec:
    """The parsed parameters of a predict job."""

    card: ModelCard
    inputs: tuple[InputSpec, ...] = field(default_factory=tuple)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InputError(message)


def _name(value: object, what: str) -> str:
    _require(isinstance(value, str) and value != "", f"{what} must be a non-empty string, got {value!r}")
    return value.lower()


def _number(value: object, what: str) -> float:
    _require(
        not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value),
        f"{what} must be a finite number, got {value!r}",
    )
    return float(value)


def _parse_input(document: object, index: int, partition: str) -> InputSpec:
    _require(isinstance(document, Mapping), f"inputs[{index}] must be an object")
    unknown = set(document) - _INPUT_KEYS
    _require(not unknown, f"inputs[{index}] has unknown fields {sorted(unknown)}; allowed: {sorted(_INPUT_KEYS)}")
    dataset = _name(document.get("dataset"), f"inputs[{index}].dataset")
    features = document.get("features", [])
    _require(
        isinstance(features, list) and all(isinstance(f, str) and f for f in features),
        f"inputs[{index}].features must be a list of column names",
    )
    features = tuple(f.lower() for f in features)
    _require(len(set(features)) == len(features), f"inputs[{index}].features lists a column twice")
    scales_document = document.get("scales", {})
    _require(isinstance(scales_document, Mapping), f"inputs[{index}].scales must be an object")
    scales_document = {str(k).lower(): v for k, v in scales_document.items()}
    extra = set(scales_document) - set(features)
    _require(not extra, f"inputs[{index}].scales names columns that are not features: {sorted(extra)}")
    scales = []
    for feature in features:
        scale = _number(scales_document.get(feature, 1.0), f"inputs[{index}].scales.{feature}")
        _require(scale > 0, f"inputs[{index}].scales.{feature} must be positive, got {scale}")
        scales.append(scale)
    label = document.get("label")
    label = _name(label, f"inputs[{index}].label") if label is not None else None
    key = document.get("key")
    key = _name(key, f"inputs[{index}].key") if key is not None else None
    if partition == "columns":
        _require(key is not None, f"inputs[{index}] needs a key: column-split rows are aligned on it")
    if key is not None:
        _require(key not in features and key != label, f"inputs[{index}]: the key cannot also be a feature or the label")
    _require(label is None or label not in features, f"inputs[{index}]: the label cannot also be a feature")
    return InputSpec(dataset, features, tuple(scales), label, key)


def parse_train_text(text: str) -> TrainSpec:
    """Parse and check a training program text; raise ``InputError`` naming what is wrong."""
    parameters = program_parameters(text, TRAIN_PROGRAM, VERSION)
    unknown = set(parameters) - _TRAIN_KEYS
    _require(not unknown, f"unknown parameters {sorted(unknown)}; allowed: {sorted(_TRAIN_KEYS)}")
    values = {**_DEFAULTS, **parameters}
    partition = values.get("partition")
    _require(partition in PARTITIONS, f"partition must be one of {PARTITIONS}, got {partition!r}")
    inputs_document = values.get("inputs")
    _require(isinstance(inputs_document, list) and inputs_document, "inputs must be a non-empty list")
    inputs = tuple(_parse_input(doc, i, partition) for i, doc in enumerate(inputs_document))
    datasets = [spec.dataset for spec in inputs]
    _require(len(set(datasets)) == len(datasets), f"each dataset may appear once, got {datasets}")
    if partition == "columns":
        _require(len(inputs) in (2, 3), f"column-split training takes 2 or 3 inputs, got {len(inputs)}")
        labels = [i for i, spec in enumerate(inputs) if spec.label]
        _require(len(labels) == 1, f"exactly one input holds the label in column-split training, got {len(labels)}")
        _require(all(spec.features for spec in inputs if not spec.label), "every input without the label needs features")
    else:
        first = inputs[0]
        _require(first.features and first.label, "row-split inputs need features and a label")
        for index, spec in enumerate(inputs[1:], start=1):
            _require(
                spec.features == first.features and spec.label == first.label and spec.scales == first.scales,
                f"row-split inputs must list the same features, scales and label; inputs[{index}] differs from inputs[0]",
            )
    feature_limit = _number(values["feature_limit"], "feature_limit")
    _require(0 < feature_limit <= FEATURE_LIMIT, f"feature_limit must lie in (0, {FEATURE_LIMIT:g}], got {feature_limit:g}")
    fraction = _number(values["validation_fraction"], "validation_fraction")
    _require(0 <= fraction <= 0.5, f"validation_fraction must lie in [0, 0.5], got {fraction}")
    for flag in ("standardize", "reveal_model", "shuffle"):
        _require(isinstance(values[flag], bool), f"{flag} must be true or false, got {values[flag]!r}")
    options = TrainingOptions(
        learning_rate=_number(values["learning_rate"], "learning_rate"),
        epochs=values["epochs"],
        batch_size=values["batch_size"],
        l2_penalty=_number(values["l2_penalty"], "l2_penalty"),
        sigmoid=values["sigmoid"],
        shuffle=values["shuffle"],
        seed=values["seed"],
    )
    return TrainSpec(
        partition=partition,
        inputs=inputs,
        options=options,
        standardize=values["standardize"],
        feature_limit=feature_limit,
        validation_fraction=fraction,
        reveal_model=values["reveal_model"],
    )


def train_text(partition: str, inputs: Sequence[Mapping[str, Any]], **parameters: Any) -> str:
    """Write a canonical training program text (and check it parses)."""
    document = {"partition": partition, "inputs": [dict(spec) for spec in inputs], **parameters}
    text = canonical_program_text(TRAIN_PROGRAM, VERSION, document)
    parse_train_text(text)
    return text


def parse_predict_text(text: str) -> PredictSpec:
    """Parse and check a predict program text."""
    parameters = program_parameters(text, PREDICT_PROGRAM, VERSION)
    unknown = set(parameters) - {"model", "inputs"}
    _require(not unknown, f"unknown parameters {sorted(unknown)}; allowed: inputs, model")
    card = ModelCard.from_json(parameters.get("model"))
    inputs_document = parameters.get("inputs")
    _require(isinstance(inputs_document, list) and inputs_document, "inputs must be a non-empty list")
    inputs = []
    for index, document in enumerate(inputs_document):
        _require(isinstance(document, Mapping), f"inputs[{index}] must be an object")
        unknown = set(document) - {"dataset", "key"}
        _require(not unknown, f"inputs[{index}] has unknown fields {sorted(unknown)}; allowed: dataset, key")
        key = document.get("key")
        inputs.append(
            InputSpec(
                dataset=_name(document.get("dataset"), f"inputs[{index}].dataset"),
                key=_name(key, f"inputs[{index}].key") if key is not None else None,
            )
        )
    datasets = [spec.dataset for spec in inputs]
    _require(len(set(datasets)) == len(datasets), f"each dataset may appear once, got {datasets}")
    return PredictSpec(card, tuple(inputs))


def predict_text(card: ModelCard, inputs: Sequence[Mapping[str, Any]]) -> str:
    """Write a canonical predict program text (and check it parses)."""
    text = canonical_program_text(
        PREDICT_PROGRAM, VERSION, {"model": card.to_json(), "inputs": [dict(spec) for spec in inputs]}
    )
    parse_predict_text(text)
    return text
