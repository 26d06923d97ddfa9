"""Generated 100,000 x 50 data, rows split over two owners: the whole job against plaintext numpy."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.ml.local import run_ml_job
from offchain.ml.model import MemoryModelStore
from offchain.ml.programs import TRAIN
from offchain.ml.reference import auc_plain, standardize_plain, train_logistic_plain
from offchain.ml.schedule import validation_mask
from offchain.ml.sgd import TrainingOptions
from offchain.ml.spec import train_text
from offchain.programs.base import DatasetInfo
from offchain.programs.catalog import StaticCatalog
from tests.ml.helpers import logistic_data

ROWS, FEATURES = 100_000, 50
OPTIONS = {"batch_size": 1024, "epochs": 5, "learning_rate": 0.1, "l2_penalty": 0.001, "seed": 3}


@pytest.mark.slow
def test_generated_hundred_thousand_rows_match_plaintext() -> None:
    x, y = logistic_data(ROWS, FEATURES, seed=21, strength=0.4)
    # raw columns on different scales and offsets; standardisation happens in MPC
    x = x * np.linspace(0.05, 40.0, FEATURES) + np.linspace(-100.0, 100.0, FEATURES)
    names = [f"f{i}" for i in range(FEATURES)]
    blocks = [(0, 60_000), (60_000, ROWS)]
    stores, datasets = [], []
    for index, (start, stop) in enumerate(blocks):
        store = LocalStore()
        schema = Schema.of([(n, "float64") for n in names] + [("label", "bool")])
        columns = {n: x[start:stop, i] for i, n in enumerate(names)} | {"label": y[start:stop].astype(bool)}
        store.create_table("events", schema, columns)
        stores.append(store)
        datasets.append(DatasetInfo(index + 1, f"0x{index + 1:040x}", f"m{index}", "events", schema, stop - start, b"\0" * 32))
    inputs = [{"dataset": f"m{i}.events", "features": names, "label": "label"} for i in range(2)]
    plan = TRAIN.plan(train_text("rows", inputs, validation_fraction=0.1, reveal_model=True, **OPTIONS), StaticCatalog(datasets))
    job = run_ml_job(TRAIN, plan, stores, [MemoryModelStore() for _ in range(3)])

    standardized, _, _ = standardize_plain(x)
    masks = [validation_mask(OPTIONS["seed"], i, stop - start, 0.1) for i, (start, stop) in enumerate(blocks)]
    parts = [(standardized[a:b], y[a:b], m) for (a, b), m in zip(blocks, masks, strict=True)]
    train_x = np.vstack([p[~m] for p, _, m in parts])
    train_y = np.concatenate([t[~m] for _, t, m in parts])
    theta = train_logistic_plain(train_x, train_y, TrainingOptions(**OPTIONS), plan.parameters["feature_bound"])
    validation_x = np.vstack([p[m] for p, _, m in parts])
    validation_y = np.concatenate([t[m] for _, t, m in parts])
    z = validation_x @ theta[:-1] + theta[-1]
    assert np.abs(job.result.model.weights - theta[:-1]).max() <= 0.01
    assert abs(job.result.metrics["auc"] - auc_plain(z, validation_y)) <= 0.01
    assert job.result.metrics["auc"] > 0.85
