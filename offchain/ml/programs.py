"""Model jobs: ``logreg_train`` (MODEL_TRAIN) and ``logreg_predict`` (MODEL_PREDICT).

Both implement the job-program seam of ``offchain.programs.base`` — plan,
owner inputs, compute, decode — with three additions a node must honour
for model jobs (``offchain.ml.local.run_ml_job`` does exactly this in one
process, and is the reference for the node):

1. **Row alignment** (column-split jobs): before sharing, the owners run
   :func:`offchain.ml.alignment.align_rows` over their pinned links with
   the keys from :meth:`LogisticTrain.owner_keys`, and pass the result as
   ``owner_inputs(..., alignment=rows)``.
2. **Keeping the model** (training): the compute parties call
   :meth:`LogisticTrain.compute_model`, which returns the requester's
   outputs *and* this party's :class:`~offchain.ml.model.ModelShares`; the
   node saves the latter in its :class:`~offchain.ml.model.ModelStore`.
   Plain ``compute`` refuses (a trained model must never be dropped
   silently).
3. **Loading the model** (prediction): each compute party loads its shares
   with ``store.load(model_hash, party)`` and adds
   ``shares.payloads()`` to its inputs under source ``"model"``.

Policies. Training declares every feature and the label at
``PLAINTEXT_AFTER_AGGREGATE`` when the requester learns anything computed
from them (metrics, or the model itself with ``reveal_model``), and at
``ENCRYPTED_ONLY`` when it only gets the model hash; join keys at
``PLAINTEXT_AFTER_JOIN`` — and each owner's key must allow that level for
the *other* owners, who learn the intersection (checked here, raising
``PolicyViolation``). Prediction needs the model approved by every input's
owner (the chain checks ``programHash`` = model hash for MODEL_PREDICT) and
declares features at ``ENCRYPTED_ONLY``: the owner's approval of the model
is the consent to reveal its scores.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from offchain.data.store import LocalStore
from offchain.errors import FixedPointOverflow, InputError, PolicyViolation
from offchain.ml.alignment import check_unique
from offchain.ml.kernels import matrix_vector_term, rescale, sign_bits, truncate_scaled
from offchain.ml.metrics import validation_metrics
from offchain.ml.model import ModelCard, ModelShares, seal_model
from offchain.ml.owner import (
    check_feature_type,
    check_label_type,
    check_standard_deviations,
    checked_labels,
    read_input,
    scaled_features,
)
from offchain.ml.ranges import (
    coarse_score_shift,
    inverse_std_bits,
    standardized_bound,
    weight_limit,
)
from offchain.ml.reference import sigmoid, standardize_plain
from offchain.ml.schedule import validation_mask
from offchain.ml.sgd import train_logistic
from offchain.ml.spec import (
    PREDICT_PROGRAM,
    TRAIN_PROGRAM,
    InputSpec,
    PredictSpec,
    TrainSpec,
    parse_predict_text,
    parse_train_text,
)
from offchain.ml.standardize import Standardizer, combine_moments, fit_standardizer, owner_moments
from offchain.mpc.arithmetic import raw_product_terms
from offchain.mpc.compare import sign_bit
from offchain.mpc.fixedpoint import DEFAULT_FRACTIONAL_BITS, FixedPoint
from offchain.mpc.opening import reveal
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import ArithmeticShare, FixedPointShare, Share
from offchain.mpc.sharing import share_public
from offchain.mpc.truncation import truncate_many
from offchain.programs.base import (
    Catalog,
    ColumnUse,
    DatasetInfo,
    Disclosure,
    InputPlan,
    Inputs,
    OutputSpec,
    Plan,
    SharedArray,
    Step,
)
from offchain.psi.encoding import encode_keys
from offchain.vocabulary import ConstraintLevel, JobKind

FRACTIONAL_BITS = DEFAULT_FRACTIONAL_BITS
METRIC_SHIFT = 30


# -- descriptors ------------------------------------------------------------------------------


def _rows_bound(spec_partition: str, datasets: list[DatasetInfo]) -> int:
    """A public upper bound on the rows a job uses: registered row counts (min for a join)."""
    counts = [dataset.row_count for dataset in datasets]
    return min(counts) if spec_partition == "columns" else sum(counts)


def training_descriptor(plan: Plan) -> dict[str, Any]:
    """Return the public descriptor of the model ``plan`` trains (identical at every party)."""
    spec: TrainSpec = plan.parameters["spec"]
    datasets = [inp.dataset for inp in plan.inputs]
    features = []
    for index, input_spec in enumerate(spec.inputs):
        if spec.partition == "rows" and index > 0:
            break
        for column, scale in zip(input_spec.features, input_spec.scales, strict=True):
            features.append({"input": index if spec.partition == "columns" else None, "column": column, "scale": scale})
    arrays = {"parameters": FRACTIONAL_BITS}
    if spec.standardize:
        arrays.update({"means": FRACTIONAL_BITS, "inverse_std": inverse_std_bits(FRACTIONAL_BITS)})
    options = spec.options
    return {
        "program": "logreg",
        "format": 1,
        "training_text_sha256": hashlib.sha256(plan.text.encode()).hexdigest(),
        "partition": spec.partition,
        "inputs": [
            {
                "dataset_id": d.dataset_id,
                "reference": d.reference,
                "fingerprint": d.fingerprint.hex(),
                "version": d.version,
                "key": s.key,
            }
            for d, s in zip(datasets, spec.inputs, strict=True)
        ],
        "features": features,
        "label": {"input": spec.label_input if spec.partition == "columns" else None, "column": spec.inputs[spec.label_input].label},
        "options": {
            "learning_rate": options.learning_rate,
            "epochs": options.epochs,
            "batch_size": options.batch_size,
            "l2_penalty": options.l2_penalty,
            "sigmoid": options.sigmoid,
            "shuffle": options.shuffle,
            "seed": options.seed,
        },
        "standardize": spec.standardize,
        "feature_limit": spec.feature_limit,
        "feature_bound": plan.parameters["feature_bound"],
        "weight_limit": plan.parameters["weight_limit"],
        "fractional_bits": FRACTIONAL_BITS,
        "arrays": arrays,
    }


def _check_session(runtime: Runtime) -> None:
    if runtime.fractional_bits != FRACTIONAL_BITS:
        raise InputError(
            f"model jobs run with {FRACTIONAL_BITS} fractional bits; this session has {runtime.fractional_bits}"
        )


def _digest_words(card_digests: Mapping[str, tuple[str, str, str]]) -> np.ndarray:
    blob = b"".join(bytes.fromhex(d) for name in sorted(card_digests) for d in card_digests[name])
    return np.frombuffer(blob, dtype=">u8").astype(np.uint64)


def _digests_from_words(words: np.ndarray, names: list[str]) -> dict[str, tuple[str, str, str]]:
    blob = np.asarray(words).astype(np.uint64).astype(">u8").tobytes()
    if len(blob) != 96 * len(names):
        raise InputError(f"model digests have {len(blob)} bytes, expected {96 * len(names)}")
    return {
        name: tuple(blob[(3 * i + c) * 32 : (3 * i + c + 1) * 32].hex() for c in range(3))
        for i, name in enumerate(sorted(names))
    }


def _stack(shares: list[FixedPointShare], axis: int, what: str) -> FixedPointShare:
    """Concatenate shares along ``axis`` of the value (local); refuse mismatched lengths."""
    if shares[0].ndim == 2:
        other = 1 - axis
        if len({s.shape[other] for s in shares}) != 1:
            raise InputError(
                f"the owners shared {what} with different {'row' if other == 0 else 'column'} counts "
                f"{[s.shape for s in shares]}: their alignment disagrees"
            )
    components = np.concatenate([s.components for s in shares], axis=axis + 1)
    return FixedPointShare(shares[0].runtime, components, shares[0].fractional_bits)


def _scores(features: FixedPointShare, parameters: FixedPointShare) -> FixedPointShare:
    """Return ``X w + b`` (2 rounds); the caller guarantees ``|z| < 2**(62 - 2f)``."""
    bits = features.fractional_bits
    weights = FixedPointShare(parameters.runtime, parameters.components[:, :-1], bits)
    term = matrix_vector_term(features, weights)
    term += np.left_shift(parameters.components[0, -1], np.uint64(bits))
    return truncate_scaled(features.runtime, term, [1], bits, bits)[0]


def _open_flag(count: ArithmeticShare) -> bool:
    """Open one bit: whether the integer sharing ``count`` is positive (9 rounds)."""
    return bool(int(reveal(sign_bit(-count))[()]))


# -- training ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevealedModel:
    """A model opened to the requester (``reveal_model``): ``z = w . x' + b`` on standardised ``x'``."""

    feature_names: tuple[str, ...]
    weights: np.ndarray
    bias: float
    scales: np.ndarray  # public per-column scales applied by the owners
    means: np.ndarray | None  # of the scaled columns
    inverse_std: np.ndarray | None

    def logits(self, raw_features: np.ndarray) -> np.ndarray:
        """Return ``z`` for raw feature rows (n, d) in the model's column order."""
        x = np.asarray(raw_features, dtype=np.float64) * self.scales
        if self.means is not None:
            x = (x - self.means) * self.inverse_std
        return x @ self.weights + self.bias

    def probabilities(self, raw_features: np.ndarray) -> np.ndarray:
        return sigmoid(self.logits(raw_features))


@dataclass(frozen=True)
class TrainingResult:
    """What the requester of a training job gets."""

    card: ModelCard
    metrics: dict[str, float]
    model: RevealedModel | None

    @property
    def model_hash(self) -> str:
        return self.card.model_hash


class LogisticTrain:
    """Logistic regression by mini-batch SGD on joint data; the model stays shared by default."""

    name: ClassVar[str] = TRAIN_PROGRAM
    kind: ClassVar[JobKind] = JobKind.MODEL_TRAIN

    def plan(self, text: str, catalog: Catalog) -> Plan:
        spec = parse_train_text(text)
        datasets = [catalog.dataset(inp.dataset) for inp in spec.inputs]
        for dataset in datasets:
            if not dataset.active:
                raise PolicyViolation(f"dataset {dataset.reference} is frozen or withdrawn")
        feature_level = (
            ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE if spec.reveals_aggregates else ConstraintLevel.ENCRYPTED_ONLY
        )
        uses: list[ColumnUse] = []
        inputs = []
        for index, (input_spec, dataset) in enumerate(zip(spec.inputs, datasets, strict=True)):
            schema = dataset.schema
            for column in input_spec.features:
                check_feature_type(column, schema.type_of(column), dataset.reference)
                uses.append(ColumnUse(index, column, feature_level, "model feature (secret-shared)"))
            if input_spec.label:
                check_label_type(input_spec.label, schema.type_of(input_spec.label), dataset.reference)
                uses.append(ColumnUse(index, input_spec.label, feature_level, "model label (secret-shared)"))
            if input_spec.key:
                schema.index(input_spec.key)
                uses.append(
                    ColumnUse(index, input_spec.key, ConstraintLevel.PLAINTEXT_AFTER_JOIN,
                              "join key: the owners learn the common keys")
                )
            shared = [SharedArray("train_features", "fixed")]
            if spec.validation_fraction > 0:
                shared.append(SharedArray("validation_features", "fixed"))
            if spec.standardize and spec.partition == "columns":
                # the owner holds whole columns: it standardises them itself and shares the statistics
                shared += [SharedArray("means", "fixed", len(input_spec.features)),
                           SharedArray("inverse_std", "integer", len(input_spec.features))]
            elif spec.standardize:
                shared.append(SharedArray("moments", "integer", 3))
            if input_spec.label:
                shared.append(SharedArray("train_labels", "fixed"))
                if spec.validation_fraction > 0:
                    shared.append(SharedArray("validation_labels", "fixed"))
            step = f'SELECT {", ".join(input_spec.columns())} FROM "{dataset.name}" ORDER BY rowid'
            inputs.append(InputPlan(dataset, input_spec.columns(), step, tuple(shared)))
        if spec.partition == "columns":
            _check_join_levels(catalog, spec, datasets)
        rows_bound = _rows_bound(spec.partition, datasets)
        feature_bound = standardized_bound(rows_bound) if spec.standardize else spec.feature_limit
        limit = weight_limit(spec.feature_count, feature_bound, FRACTIONAL_BITS)
        outputs = [OutputSpec("model_digests", "integer", "SHA-256 of each replicated component of the model")]
        if spec.validation_fraction > 0:
            outputs += [
                OutputSpec("auc", "fixed", "validation AUC"),
                OutputSpec("auc_defined", "integer", "1 if the validation rows hold both classes"),
                OutputSpec("accuracy", "fixed", "validation accuracy of z > 0"),
                OutputSpec("log_loss", "fixed", "validation log-loss"),
            ]
        if spec.reveal_model:
            outputs.append(OutputSpec("parameters", "fixed", "weights and bias"))
            if spec.standardize:
                outputs += [
                    OutputSpec("means", "fixed", "column means (scaled columns)"),
                    OutputSpec("inverse_std", "fixed", "1/std of the scaled columns"),
                ]
        steps = [Step(f"owner {d.owner_name}, locally", f"read {', '.join(i.columns())}; check ranges; split "
                      f"{spec.validation_fraction:.0%} for validation") for d, i in zip(datasets, spec.inputs, strict=True)]
        if spec.partition == "columns":
            steps.insert(0, Step("owners, pairwise", "ECDH-PSI on the join keys; rows ordered by key"))
        if spec.standardize and spec.partition == "columns":
            steps.append(Step("owners, locally", "standardise their own columns over the common rows; "
                                          "share the means and 1/std for the model"))
        elif spec.standardize:
            steps.append(Step("MPC on 3 nodes", "combine column moments, 1/std by Newton, standardise"))
        steps.append(Step("MPC on 3 nodes", f"{spec.options.epochs} epochs of mini-batch SGD "
                          f"(batch {spec.options.batch_size}, sigmoid {spec.options.sigmoid}), range-checked"))
        steps.append(Step("compute nodes", "keep the model shares; commit their digests (model hash)"))
        if spec.validation_fraction > 0:
            steps.append(Step("MPC on 3 nodes", "validation AUC (oblivious sort), accuracy, log-loss"))
        disclosures = [
            Disclosure("requester", "the model card and hash"
                       + (", the validation AUC, accuracy and log-loss" if spec.validation_fraction > 0 else "")
                       + (", the model parameters" if spec.reveal_model else "")),
            Disclosure("compute nodes", "the number of rows each owner shares; one bit per epoch (whether "
                       "training stayed within the fixed-point range)"
                       + ("; one bit (whether a column's std is too small)"
                          if spec.standardize and spec.partition == "rows" else "")),
            Disclosure("chain", "the model card (descriptor and component digests) when the requester registers it"),
        ]
        if spec.partition == "columns":
            disclosures.append(Disclosure("owners", "which of their keys all owners share (the training rows) "
                                          "and each other's number of distinct keys"))
        return Plan(
            program=self.name,
            kind=self.kind,
            text=text,
            inputs=tuple(inputs),
            uses=tuple(uses),
            outputs=tuple(outputs),
            steps=tuple(steps),
            disclosures=tuple(disclosures),
            parameters={"spec": spec, "feature_bound": feature_bound, "weight_limit": limit,
                        "rows_bound": rows_bound},
        )

    # -- owners ----------------------------------------------------------------------------

    def owner_keys(self, plan: Plan, input_index: int, store: LocalStore) -> np.ndarray:
        """At an owner of a column-split job: the key column, in the order ``owner_inputs`` reads rows."""
        spec: TrainSpec = plan.parameters["spec"]
        input_spec = spec.inputs[input_index]
        if not input_spec.key:
            raise InputError(f"input {input_index} has no join key")
        keys = read_input(store, plan.inputs[input_index].dataset.name, InputSpec(input_spec.dataset, key=input_spec.key))
        return keys["key"]

    def owner_inputs(
        self, plan: Plan, input_index: int, store: LocalStore, alignment: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        spec: TrainSpec = plan.parameters["spec"]
        input_spec = spec.inputs[input_index]
        dataset = plan.inputs[input_index].dataset
        data = read_input(store, dataset.name, input_spec)
        rows = len(data["features"])
        if rows > dataset.row_count:
            raise InputError(
                f"{dataset.reference} has {rows} rows but {dataset.row_count} are registered; "
                f"register the new version before using it"
            )
        if spec.partition == "rows" and rows != dataset.row_count:
            raise InputError(
                f"{dataset.reference} has {rows} rows but {dataset.row_count} are registered; row-split "
                f"training uses whole datasets: register the current version first"
            )
        if spec.partition == "columns":
            if alignment is None:
                raise InputError(
                    "column-split training needs the owners' row alignment: run "
                    "offchain.ml.alignment.align_rows with the other owners on owner_keys() first"
                )
            check_unique(encode_keys(data["key"]), input_spec.key)
            alignment = np.asarray(alignment, dtype=np.int64)
            data = {name: values[alignment] for name, values in data.items()}
            mask = validation_mask(spec.options.seed, 0, len(alignment), spec.validation_fraction)
        else:
            mask = validation_mask(spec.options.seed, input_index, rows, spec.validation_fraction)
        features = scaled_features(data["features"], input_spec, spec.feature_limit, dataset.reference)
        out: dict[str, np.ndarray] = {}
        if spec.standardize and spec.partition == "columns":
            check_standard_deviations(features, input_spec, dataset.reference)
            features, means, inverse = standardize_plain(features)
            out["means"] = means
            out["inverse_std"] = np.rint(np.ldexp(inverse, inverse_std_bits(FRACTIONAL_BITS))).astype(np.int64)
        elif spec.standardize:
            out["moments"] = owner_moments(features, rows / plan.parameters["rows_bound"], FRACTIONAL_BITS)
        out["train_features"] = features[~mask]
        if spec.validation_fraction > 0:
            out["validation_features"] = features[mask]
        if input_spec.label:
            labels = checked_labels(data["label"], dataset.reference, input_spec.label)
            out["train_labels"] = labels[~mask]
            if spec.validation_fraction > 0:
                out["validation_labels"] = labels[mask]
        return out

    def requester_inputs(self, plan: Plan, private: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if private:
            raise InputError(f"training takes no private parameters, got {sorted(private)}")
        return {}

    # -- compute parties ---------------------------------------------------------------------

    def compute(self, runtime: Runtime, plan: Plan, inputs: Inputs) -> dict[str, Share]:
        raise InputError(
            "a training job's model must be kept by the compute nodes: call compute_model() and "
            "save the returned ModelShares in the node's ModelStore (see offchain/ml/programs.py)"
        )

    def compute_model(
        self, runtime: Runtime, plan: Plan, inputs: Inputs, phases: dict[str, float] | None = None
    ) -> tuple[dict[str, Share], ModelShares]:
        """Train; return the requester's outputs and this party's model shares (to keep).

        ``phases``, if given, receives the seconds each phase took at this party.
        """
        _check_session(runtime)
        clock = _PhaseClock(phases)
        spec: TrainSpec = plan.parameters["spec"]
        count = len(spec.inputs)
        axis = 1 if spec.partition == "columns" else 0

        def gather(name: str) -> FixedPointShare:
            parts = [inputs[(f"input{i}", name)] for i in range(count) if (f"input{i}", name) in inputs]
            parts = [p if isinstance(p, FixedPointShare) else _as_fixed(p) for p in parts]
            return parts[0] if len(parts) == 1 else _stack(parts, axis if name.endswith("features") else 0, name)

        train_x = gather("train_features")
        train_y = gather("train_labels")
        validation = spec.validation_fraction > 0
        validation_x = gather("validation_features") if validation else None
        validation_y = gather("validation_labels") if validation else None
        arrays: dict[str, ArithmeticShare] = {}
        if spec.standardize and spec.partition == "columns":
            # standardised by each owner on its own columns; only the statistics enter the model
            standardizer = Standardizer(
                _stack([_as_fixed(inputs[(f"input{i}", "means")]) for i in range(count)], 0, "means"),
                FixedPointShare(
                    runtime,
                    np.concatenate([inputs[(f"input{i}", "inverse_std")].components for i in range(count)], axis=1),
                    inverse_std_bits(FRACTIONAL_BITS),
                ),
            )
            arrays["means"] = standardizer.means
            arrays["inverse_std"] = standardizer.inverse_std
            clock.lap("standardisation")
        elif spec.standardize:
            standardizer = _fit(spec, inputs, count, plan)
            train_x = standardizer.apply(train_x)
            if validation_x is not None:
                validation_x = standardizer.apply(validation_x)
            arrays["means"] = standardizer.means
            arrays["inverse_std"] = standardizer.inverse_std
            clock.lap("standardisation")
        theta, _record = train_logistic(train_x, train_y, spec.options, plan.parameters["feature_bound"])
        clock.lap("sgd")
        arrays["parameters"] = theta
        shares = seal_model(runtime, training_descriptor(plan), arrays)
        clock.lap("sealing")
        outputs: dict[str, Share] = {
            "model_digests": share_public(runtime, _digest_words(shares.card.digests))
        }
        if validation_x is not None:
            rows = validation_x.shape[0]
            if rows == 0:
                raise InputError("the validation split is empty; lower validation_fraction or add rows")
            metrics = validation_metrics(_scores(validation_x, theta), validation_y)
            multiplier = [round(2**METRIC_SHIFT / rows)]
            outputs["auc"] = metrics.auc
            outputs["auc_defined"] = metrics.auc_defined
            outputs["accuracy"] = rescale(metrics.correct.to_fixed(FRACTIONAL_BITS), multiplier, METRIC_SHIFT)[0]
            outputs["log_loss"] = rescale(metrics.log_loss_sum, multiplier, METRIC_SHIFT)[0]
            clock.lap("validation metrics")
        if spec.reveal_model:
            for name, share in arrays.items():
                outputs[name] = share
        return outputs, shares

    def decode(self, plan: Plan, outputs: Mapping[str, np.ndarray]) -> TrainingResult:
        spec: TrainSpec = plan.parameters["spec"]
        descriptor = training_descriptor(plan)
        names = sorted(descriptor["arrays"])
        card = ModelCard(descriptor, _digests_from_words(outputs["model_digests"], names))
        metrics: dict[str, float] = {}
        if "auc" in outputs:
            metrics["auc"] = float(outputs["auc"]) if int(outputs["auc_defined"]) else float("nan")
            metrics["accuracy"] = float(outputs["accuracy"])
            metrics["log_loss"] = float(outputs["log_loss"])
        model = None
        if spec.reveal_model:
            parameters = np.asarray(outputs["parameters"], dtype=np.float64)
            feature_names = tuple(f["column"] for f in descriptor["features"])
            model = RevealedModel(
                feature_names=feature_names,
                weights=parameters[:-1],
                bias=float(parameters[-1]),
                scales=np.array([f["scale"] for f in descriptor["features"]]),
                means=np.asarray(outputs["means"]) if spec.standardize else None,
                inverse_std=np.asarray(outputs["inverse_std"]) if spec.standardize else None,
            )
        return TrainingResult(card, metrics, model)


class _PhaseClock:
    """Records the seconds between laps into a dict (or nothing)."""

    def __init__(self, phases: dict[str, float] | None) -> None:
        self.phases = phases
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self.phases is not None:
            self.phases[name] = now - self.last
        self.last = now


def _as_fixed(share: Share) -> FixedPointShare:
    if isinstance(share, FixedPointShare):
        return share
    raise InputError(f"model inputs must be fixed-point shares, got {type(share).__name__}")


def _check_join_levels(catalog: Catalog, spec: TrainSpec | PredictSpec, datasets: list[DatasetInfo]) -> None:
    """Each owner's key must allow PLAINTEXT_AFTER_JOIN for every other owner (they learn the intersection)."""
    for index, (input_spec, dataset) in enumerate(zip(spec.inputs, datasets, strict=True)):
        for other_index, other in enumerate(datasets):
            if other_index == index or other.owner.lower() == dataset.owner.lower():
                continue
            level = catalog.level(dataset.dataset_id, input_spec.key, other.owner)
            if not level.permits(ConstraintLevel.PLAINTEXT_AFTER_JOIN):
                raise PolicyViolation(
                    f"{dataset.reference}.{input_spec.key} is {level.name} for {other.owner_name}, who would "
                    f"learn the common keys in the private join; it must be PLAINTEXT or "
                    f"PLAINTEXT_AFTER_JOIN for that member"
                )


def _fit(spec: TrainSpec, inputs: Inputs, count: int, plan: Plan) -> Standardizer:
    """Row split: combine the owners' moments and compute 1/std in MPC."""
    moments = [inputs[(f"input{i}", "moments")] for i in range(count)]
    total = plan.parameters["rows_bound"]
    weights = [plan.inputs[i].dataset.row_count / total for i in range(count)]
    mean, variance = combine_moments(moments, weights, FRACTIONAL_BITS)
    return fit_standardizer(mean, variance)


# -- prediction -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """What the requester of a predict job gets: one logit and probability per scored row."""

    logits: np.ndarray
    probabilities: np.ndarray
    model_hash: str


class LogisticPredict:
    """Apply a trained (shared) model to members' rows; scores go to the requester only."""

    name: ClassVar[str] = PREDICT_PROGRAM
    kind: ClassVar[JobKind] = JobKind.MODEL_PREDICT

    def program_hash(self, plan: Plan) -> bytes:
        """The ``programHash`` of a predict job: the model hash the owners approved."""
        return bytes.fromhex(plan.parameters["spec"].card.model_hash)

    def plan(self, text: str, catalog: Catalog) -> Plan:
        spec = parse_predict_text(text)
        descriptor = spec.card.descriptor
        if descriptor.get("program") != "logreg" or descriptor.get("format") != 1:
            raise InputError("the model card does not describe a logreg model of format 1")
        partition = descriptor["partition"]
        features = descriptor["features"]
        datasets = [catalog.dataset(inp.dataset) for inp in spec.inputs]
        groups: list[list[dict]] = []
        if partition == "columns":
            training_inputs = len(descriptor["inputs"])
            if len(spec.inputs) != training_inputs:
                raise InputError(
                    f"this model was trained on {training_inputs} column-split inputs; give one input "
                    f"per training input, in the same order, got {len(spec.inputs)}"
                )
            groups = [[f for f in features if f["input"] == i] for i in range(training_inputs)]
            if any(not inp.key for inp in spec.inputs):
                raise InputError("a column-split model scores rows aligned on a key: give every input a key")
        else:
            groups = [list(features) for _ in spec.inputs]
        resolved = []
        uses = []
        plans = []
        for index, (input_spec, dataset, group) in enumerate(zip(spec.inputs, datasets, groups, strict=True)):
            if not dataset.active:
                raise PolicyViolation(f"dataset {dataset.reference} is frozen or withdrawn")
            columns = tuple(f["column"] for f in group)
            for column in columns:
                check_feature_type(column, dataset.schema.type_of(column), dataset.reference)
                uses.append(ColumnUse(index, column, ConstraintLevel.ENCRYPTED_ONLY,
                                      f"input of approved model {spec.card.model_hash[:16]}…; its score is revealed"))
            if input_spec.key:
                dataset.schema.index(input_spec.key)
                level = ConstraintLevel.PLAINTEXT_AFTER_JOIN if partition == "columns" else ConstraintLevel.ENCRYPTED_ONLY
                uses.append(ColumnUse(index, input_spec.key, level, "row key" + (" (private join)" if partition == "columns" else " (orders the rows)")))
            full = InputSpec(input_spec.dataset, columns, tuple(f["scale"] for f in group), None, input_spec.key)
            resolved.append(full)
            step = f'SELECT {", ".join(full.columns())} FROM "{dataset.name}" ORDER BY ' + (f'"{input_spec.key}"' if input_spec.key and partition == "rows" else "rowid")
            plans.append(InputPlan(dataset, full.columns(), step, (SharedArray("features", "fixed"),)))
        resolved_spec = PredictSpec(spec.card, tuple(resolved))
        if partition == "columns":
            _check_join_levels(catalog, resolved_spec, datasets)
        steps = [Step(f"owner {d.owner_name}, locally", "read the model's columns, scale and range-check them") for d in datasets]
        if partition == "columns":
            steps.insert(0, Step("owners, pairwise", "ECDH-PSI on the keys; rows ordered by key"))
        steps.append(Step("compute nodes", f"load their shares of model {spec.card.model_hash[:16]}…"))
        steps.append(Step("MPC on 3 nodes", "standardise, score z = w.x' + b, check the scores' range"))
        disclosures = [
            Disclosure("requester", "one logit per scored row (probabilities follow), in the order of input 0's "
                       "rows (column split: ascending key)"),
            Disclosure("compute nodes", "the number of rows; for standardised models one bit (whether every "
                       "score is within the fixed-point range)"),
        ]
        if partition == "columns":
            disclosures.append(Disclosure("owners", "which of their keys all owners share"))
        return Plan(
            program=self.name,
            kind=self.kind,
            text=text,
            inputs=tuple(plans),
            uses=tuple(uses),
            outputs=(OutputSpec("scores", "fixed", "logit of each scored row"),),
            steps=tuple(steps),
            disclosures=tuple(disclosures),
            parameters={"spec": resolved_spec, "partition": partition},
        )

    def owner_keys(self, plan: Plan, input_index: int, store: LocalStore) -> np.ndarray:
        spec: PredictSpec = plan.parameters["spec"]
        input_spec = spec.inputs[input_index]
        data = read_input(store, plan.inputs[input_index].dataset.name, InputSpec(input_spec.dataset, key=input_spec.key))
        return data["key"]

    def owner_inputs(
        self, plan: Plan, input_index: int, store: LocalStore, alignment: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        spec: PredictSpec = plan.parameters["spec"]
        input_spec = spec.inputs[input_index]
        dataset = plan.inputs[input_index].dataset
        data = read_input(store, dataset.name, input_spec, with_label=False)
        if plan.parameters["partition"] == "columns":
            if alignment is None:
                raise InputError(
                    "scoring a column-split model needs the owners' row alignment: run "
                    "offchain.ml.alignment.align_rows with the other owners on owner_keys() first"
                )
            check_unique(encode_keys(data["key"]), input_spec.key)
            data = {name: values[np.asarray(alignment, dtype=np.int64)] for name, values in data.items()}
        elif input_spec.key:
            from offchain.ml.alignment import key_order

            order = key_order(encode_keys(data["key"]))
            data = {name: values[order] for name, values in data.items()}
        limit = float(spec.card.descriptor["feature_limit"])
        return {"features": scaled_features(data["features"], input_spec, limit, dataset.reference)}

    def requester_inputs(self, plan: Plan, private: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if private:
            raise InputError(f"prediction takes no private parameters, got {sorted(private)}")
        return {}

    def compute(self, runtime: Runtime, plan: Plan, inputs: Inputs) -> dict[str, Share]:
        _check_session(runtime)
        spec: PredictSpec = plan.parameters["spec"]
        descriptor = spec.card.descriptor
        formats = descriptor["arrays"]
        model = {}
        for name, bits in formats.items():
            share = inputs.get(("model", name))
            if share is None:
                raise InputError(
                    f"compute party {runtime.party} has no share of model array {name!r}: the node must "
                    f"load its ModelShares (store.load(model_hash, party)) and add shares.payloads() to "
                    f"the inputs under source 'model'"
                )
            model[name] = FixedPointShare(runtime, share.components, int(bits))
        parts = [_as_fixed(inputs[(f"input{i}", "features")]) for i in range(len(spec.inputs))]
        axis = 1 if plan.parameters["partition"] == "columns" else 0
        features = parts[0] if len(parts) == 1 else _stack(parts, axis, "features")
        if features.shape[1] != model["parameters"].shape[0] - 1:
            raise InputError(
                f"the inputs provide {features.shape[1]} features, the model has {model['parameters'].shape[0] - 1}"
            )
        if not descriptor["standardize"]:
            # raw features within the owners' checked limit: the weight limit bounds every score
            return {"scores": _scores(features, model["parameters"])}
        standardizer = Standardizer(model["means"], model["inverse_std"])
        scores = score_standardized(
            runtime, standardizer, features, model["parameters"], float(descriptor["weight_limit"])
        )
        return {"scores": scores}

    def decode(self, plan: Plan, outputs: Mapping[str, np.ndarray]) -> Scores:
        logits = np.asarray(outputs["scores"], dtype=np.float64)
        return Scores(logits, sigmoid(logits), plan.parameters["spec"].card.model_hash)


SCORE_CHECK_BITS = 23  # scores of new rows under a standardised model must stay within ±2**23


def score_standardized(
    runtime: Runtime, standardizer: Standardizer, features: FixedPointShare, parameters: FixedPointShare,
    weight_bound: float,
) -> FixedPointShare:
    """Return the scores of raw rows under a standardised model; refuse rows whose scores could wrap.

    The standardisation is folded into the weights: ``z = sum_j (x_j - mean_j) v_j + b`` with
    ``v = w * (1/std)`` (``K`` fractional bits), so no per-value truncation is needed. A new row
    may lie far from the training data, so the score could wrap; a coarse copy computed with
    ``v / 2**s`` cannot (:func:`offchain.ml.ranges.coarse_score_shift`), and checking it within
    ``±2**(23 - s)`` proves ``|z - b| < 2**24``, where the fine score is exact up to rounding:
    error ``<= sum_j |x_j - mean_j| 2**-(K+1) + 2**-f``. 23 rounds; opens one bit (some score out of
    range) and raises ``FixedPointOverflow`` at every party when it is set.
    """
    bits = features.fractional_bits
    inverse_bits = standardizer.inverse_std.fractional_bits
    shift = coarse_score_shift(features.shape[1], weight_bound, inverse_bits, bits)
    weights = FixedPointShare(runtime, parameters.components[:, :-1], bits)
    folded = raw_product_terms(weights, standardizer.inverse_std)  # scale 2**(f + K)
    fine_weights, coarse_weights = truncate_many(runtime, [(folded, bits), (folded, bits + shift)])
    centered = features - standardizer.means
    bias = parameters.components[0, -1]
    fine_term = matrix_vector_term(centered, ArithmeticShare(runtime, fine_weights))
    fine_term += np.left_shift(bias, np.uint64(inverse_bits))
    coarse_term = matrix_vector_term(centered, ArithmeticShare(runtime, coarse_weights))
    coarse_term += np.left_shift(bias, np.uint64(inverse_bits - shift))
    scores, coarse = truncate_many(runtime, [(fine_term, inverse_bits), (coarse_term, inverse_bits)])
    limit = FixedPoint(bits).encode(2.0 ** (SCORE_CHECK_BITS - shift))
    differences = np.concatenate([_shift(np.negative(coarse), limit, runtime), _shift(coarse, limit, runtime)], axis=1)
    if _open_flag(sign_bits(ArithmeticShare(runtime, differences)).sum()):
        raise FixedPointOverflow(
            f"some rows lie so far from the model's training data that their scores exceed "
            f"±2**{SCORE_CHECK_BITS}: check those rows (units, scales) before scoring them"
        )
    return FixedPointShare(runtime, scores, bits)


def _shift(components: np.ndarray, public: np.ndarray, runtime: Runtime) -> np.ndarray:
    """Components of ``x + public`` for a public ring scalar (added at the public slot)."""
    out = components.copy()
    slot = runtime.public_slot
    if slot is not None:
        out[slot] += public
    return out


TRAIN = LogisticTrain()
PREDICT = LogisticPredict()
