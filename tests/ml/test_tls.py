"""Model jobs with the compute parties as three processes over pinned mutual TLS (run_tls)."""

from __future__ import annotations

import numpy as np

from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.ml.local import run_ml_job
from offchain.ml.model import DirectoryModelStore
from offchain.ml.programs import PREDICT, TRAIN
from offchain.ml.spec import predict_text, train_text
from offchain.net.cluster import run_tls
from offchain.programs.base import DatasetInfo
from offchain.programs.catalog import StaticCatalog
from tests.ml.helpers import logistic_data


def test_train_then_predict_over_tls_with_models_kept_on_disk(tmp_path) -> None:
    x, y = logistic_data(400, 3, seed=31, strength=1.5)
    store = LocalStore()
    schema = Schema.of([("a", "float64"), ("b", "float64"), ("c", "float64"), ("label", "bool"), ("id", "int64")])
    store.create_table("t", schema, {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": y.astype(bool),
                                     "id": np.arange(400)})
    catalog = StaticCatalog([DatasetInfo(1, "0x" + "1" * 40, "bank", "t", schema, 400, b"\0" * 32)])
    inputs = [{"dataset": "bank.t", "features": ["a", "b", "c"], "label": "label"}]
    plan = TRAIN.plan(train_text("rows", inputs, batch_size=50, epochs=2, reveal_model=True), catalog)
    stores = [DirectoryModelStore(tmp_path / f"node{p}") for p in range(3)]
    trained = run_ml_job(TRAIN, plan, [store], stores, runner=run_tls)
    assert trained.result.metrics["auc"] > 0.8
    assert len(list((tmp_path / "node1").glob("*.party1.npz"))) == 1
    predict_plan = PREDICT.plan(predict_text(trained.result.card, [{"dataset": "bank.t", "key": "id"}]), catalog)
    scores = run_ml_job(PREDICT, predict_plan, [store], stores, runner=run_tls).result
    assert np.abs(scores.logits - trained.result.model.logits(x)).max() < 0.01
