"""What a data owner does locally, in the clear, before sharing model inputs.

* :func:`read_input` — one query on the owner's DuckDB table: the key, the
  features as float64 and the label, in ``rowid`` order (the same order for
  the alignment and for the shares). NULLs are refused, naming the column
  and the count: impute or filter them in the dataset first.
* :func:`scaled_features` — applies the public per-column scales and checks
  ``|x * scale| <= feature_limit`` (the bound every range proof of
  :mod:`offchain.ml.ranges` starts from): ``FixedPointOverflow`` names the
  column, its largest magnitude and the scale that would fit.
* :func:`checked_labels` — labels must be 0/1 (booleans or integers).
* :func:`check_standard_deviations` — column-split owners hold whole
  columns, so they refuse, naming them, columns too narrow to standardise.
"""

from __future__ import annotations

import math

import numpy as np

from offchain.data.store import LocalStore
from offchain.errors import FixedPointOverflow, InputError
from offchain.ml.ranges import MIN_STANDARD_DEVIATION
from offchain.ml.spec import InputSpec

FEATURE_TYPES = ("int64", "float64", "bool")
LABEL_TYPES = ("int64", "bool")


def check_feature_type(column: str, column_type: str, dataset: str) -> None:
    """Refuse feature columns that are not numbers (int64, float64, decimal, bool)."""
    if column_type not in FEATURE_TYPES and not column_type.startswith("decimal("):
        raise InputError(
            f"{dataset}.{column} has type {column_type}; model features must be int64, float64, "
            f"decimal or bool"
        )


def check_label_type(column: str, column_type: str, dataset: str) -> None:
    """Refuse label columns that are not bool or int64."""
    if column_type not in LABEL_TYPES:
        raise InputError(f"{dataset}.{column} has type {column_type}; a label must be bool or int64 (0/1)")


def read_input(store: LocalStore, table: str, spec: InputSpec, with_label: bool = True) -> dict[str, np.ndarray]:
    """Return ``{"key": ..., "features": (n, d) float64, "label": (n,) float64}`` (present parts only)."""
    selects = []
    if spec.key:
        selects.append(f'"{spec.key}" AS key')
    selects += [f'CAST("{column}" AS DOUBLE) AS "f{index}"' for index, column in enumerate(spec.features)]
    if with_label and spec.label:
        selects.append(f'CAST("{spec.label}" AS DOUBLE) AS label')
    result = store.query(f'SELECT {", ".join(selects)} FROM "{table}" ORDER BY rowid')
    names = (["key"] if spec.key else []) + [f"f{i}" for i in range(len(spec.features))]
    names += ["label"] if with_label and spec.label else []
    columns = {"key": spec.key, "label": spec.label, **{f"f{i}": c for i, c in enumerate(spec.features)}}
    for name in names:
        values = result[name]
        if np.ma.isMaskedArray(values) and np.ma.is_masked(values):
            missing = int(np.ma.getmaskarray(values).sum())
            raise InputError(
                f"{table}.{columns[name]} has {missing} NULL value(s); impute or filter them in the "
                f"dataset before training or scoring"
            )
    out: dict[str, np.ndarray] = {}
    if spec.key:
        keys = np.ma.getdata(result["key"])
        out["key"] = keys if keys.dtype.kind != "O" else np.asarray(keys.tolist(), dtype=object)
    rows = len(next(iter(result.values()))) if result else 0
    out["features"] = (
        np.column_stack([np.ma.getdata(result[f"f{i}"]).astype(np.float64) for i in range(len(spec.features))])
        if spec.features
        else np.zeros((rows, 0))
    )
    if with_label and spec.label:
        out["label"] = np.ma.getdata(result["label"]).astype(np.float64)
    return out


def scaled_features(values: np.ndarray, spec: InputSpec, feature_limit: float, table: str) -> np.ndarray:
    """Return ``values * scales``; refuse any ``|x * scale| > feature_limit`` with advice."""
    scales = np.asarray(spec.scales, dtype=np.float64)
    scaled = values * scales
    if not np.all(np.isfinite(scaled)):
        column = spec.features[int(np.argmax(~np.isfinite(scaled).all(axis=0)))]
        raise InputError(f"{table}.{column} holds a non-finite value (NaN or infinity); clean it first")
    if scaled.size == 0:
        return scaled
    largest = np.abs(scaled).max(axis=0)
    over = np.flatnonzero(largest > feature_limit)
    if over.size:
        details = []
        for index in over[:5]:
            magnitude = float(largest[index] / scales[index])
            fit = 2.0 ** math.floor(math.log2(feature_limit / magnitude))
            details.append(
                f"{spec.features[index]} reaches {magnitude:.6g} (scale {scales[index]:g}; a scale of "
                f"{fit:g} or less fits)"
            )
        raise FixedPointOverflow(
            f"{table}: feature values exceed the fixed-point limit {feature_limit:g} after scaling: "
            f"{'; '.join(details)}. Declare smaller public scales for these columns (scales in the "
            f"job's inputs) or rescale them in the dataset; standardisation happens after scaling, "
            f"so the model is unaffected"
        )
    return scaled


def checked_labels(values: np.ndarray, table: str, column: str) -> np.ndarray:
    """Return the labels as float64 0/1; refuse any other value."""
    bad = ~np.isin(values, (0.0, 1.0))
    if np.any(bad):
        shown = sorted({float(v) for v in values[bad][:5]})
        raise InputError(f"{table}.{column} must hold only 0 and 1 (or booleans), found {shown}")
    return values


def check_standard_deviations(values: np.ndarray, spec: InputSpec, table: str) -> None:
    """Refuse columns whose (scaled) standard deviation is positive but below the standardisation floor."""
    if len(values) == 0:
        raise InputError(f"{table} contributes no rows; a model input needs at least one row")
    deviations = values.std(axis=0)
    small = np.flatnonzero((deviations > 0) & (deviations < MIN_STANDARD_DEVIATION))
    if small.size:
        details = []
        for index in small[:5]:
            needed = 2.0 ** math.ceil(math.log2(MIN_STANDARD_DEVIATION / deviations[index]))
            details.append(
                f"{spec.features[index]} (std {deviations[index]:.3g} after scale {spec.scales[index]:g}; "
                f"a scale of {spec.scales[index] * needed:g} or more fits)"
            )
        raise FixedPointOverflow(
            f"{table}: columns too narrow to standardise within the fixed-point bounds (std below "
            f"{MIN_STANDARD_DEVIATION:g}): {'; '.join(details)}. Declare larger public scales for them "
            f"(scales in the job's inputs)"
        )
