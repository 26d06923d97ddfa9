"""Model jobs and secure publishing through real node processes.

* ``logreg_train`` over two owners holding columns of the same customers:
  the owners' nodes align their rows by PSI over their own TLS session,
  the three compute nodes train and keep the model shares; the requester
  gets the model (``reveal_model``) and its hash.
* ``logreg_predict`` with that model, approved by both owners: only the
  training job's nodes, in the same order, hold the model; scores match the
  revealed model applied in the clear.
* ``publish``: a claim rule evaluated at the hospital's node on one consenting
  patient's records; the insurer gets only the decision, checked against the
  owner's commitment and receipt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pytest

from offchain.chain.errors import AccessPolicyConsentMissing
from offchain.client.datasets import register_dataset
from offchain.client.grants import set_policy
from offchain.client.publishing import approve, record_consent
from offchain.client.requester import _chain_now
from offchain.data.store import LocalStore
from offchain.demo.data import plaintext, write_parquet
from offchain.errors import JobDeclined
from offchain.ml.spec import predict_text, train_text
from offchain.node.catalog import ChainCatalog
from offchain.publish.samples import (
    PURPOSE,
    RECORDS_SCHEMA,
    Claim,
    claim_program_text,
    expected_settlement,
)
from offchain.publish.samples import hospital_records as generate_records
from offchain.publish.subjects import SubjectKey
from offchain.vocabulary import ConstraintLevel, JobKind
from tests.e2e.world import REQUESTER, World, build_world

pytestmark = pytest.mark.slow
CUSTOMERS = 240


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = build_world(tmp_path_factory.mktemp("e2e-models"), session_timeout=30.0)
    try:
        _offer_model_data(built)
        yield built
    finally:
        built.consortium.close()


def _offer_model_data(world: World) -> None:
    rng = np.random.default_rng(21)
    ids = np.array([f"C{i:05d}" for i in range(CUSTOMERS)], dtype=object)
    income = rng.normal(50.0, 15.0, CUSTOMERS).round(2)
    debt = rng.normal(20.0, 8.0, CUSTOMERS).round(2)
    orders = rng.poisson(6, CUSTOMERS).astype(np.float64)
    logit = -1.0 + 0.09 * (debt - 20) - 0.05 * (income - 50) + 0.15 * (orders - 6)
    defaulted = (rng.random(CUSTOMERS) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    lender = rng.random(CUSTOMERS) < 0.85
    shop = rng.random(CUSTOMERS) < 0.85
    world.files["model"] = {
        "customers": write_parquet({"customer_id": ids[lender], "income": income[lender], "debt": debt[lender],
                                    "defaulted": defaulted[lender]}, world.directory / "customers.parquet"),
        "behaviour": write_parquet({"customer_id": ids[shop], "orders": orders[shop]},
                                   world.directory / "behaviour.parquet"),
    }
    for owner, table, columns in (("Borealis Credit", "customers", ("income", "debt", "defaulted")),
                                  ("Cobalt Finance", "behaviour", ("orders",))):
        client = world.consortium.client(owner)
        config = world.consortium.node_config(owner)
        register_dataset(client, config.duckdb_path, config.state_database, table,
                         source=world.files["model"][table])
        levels = {"customer_id": ConstraintLevel.PLAINTEXT_AFTER_JOIN,
                  **{c: ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE for c in columns}}
        set_policy(client, f"{owner}.{table}", "all", levels=levels, expiry=_chain_now(client) + 86_400,
                   kinds=(JobKind.MODEL_TRAIN, JobKind.MODEL_PREDICT))


INPUTS = [
    {"dataset": "Borealis Credit.customers", "key": "customer_id", "features": ["income", "debt"],
     "scales": {"income": 0.1, "debt": 0.1}, "label": "defaulted"},
    {"dataset": "Cobalt Finance.behaviour", "key": "customer_id", "features": ["orders"]},
]


def test_train_then_predict_with_the_model_kept_at_the_training_nodes(world: World) -> None:
    requester = world.consortium.requester(REQUESTER)
    text = train_text("columns", INPUTS, epochs=3, batch_size=32, learning_rate=0.1, seed=7,
                      validation_fraction=0.0, reveal_model=True)
    trained = requester.run(text, timeout=300)
    result = trained.result
    assert trained.transcripts_agree and result.model is not None
    training_nodes = [n.account for n in requester.client.jobs.nodes(trained.job_id)]
    kept = sorted(path.name for name in world.consortium.members
                  for path in (world.consortium.node_config(name).state_dir / "models").glob("*.npz"))
    assert kept == sorted(f"{result.model_hash}.party{i}.npz" for i in range(3))

    # The owners approve the model; then anyone with a grant may score with it.
    catalog = ChainCatalog(requester.client)
    for owner, table in (("Borealis Credit", "customers"), ("Cobalt Finance", "behaviour")):
        dataset = catalog.dataset(f"{owner}.{table}")
        world.consortium.client(owner).access_policy.approve_program(
            dataset.dataset_id, bytes.fromhex(result.model_hash), "default model v1").transact()
    predict = predict_text(result.card, [{"dataset": "Borealis Credit.customers", "key": "customer_id"},
                                         {"dataset": "Cobalt Finance.behaviour", "key": "customer_id"}])
    scored = requester.run(predict, timeout=300)
    assert [n.account for n in requester.client.jobs.nodes(scored.job_id)] == training_nodes

    rows = plaintext("SELECT c.income, c.debt, b.orders FROM c JOIN b ON c.customer_id = b.customer_id",
                     c=world.files["model"]["customers"], b=world.files["model"]["behaviour"])
    expected = np.sort(result.model.logits(np.array(rows, dtype=np.float64)))
    assert np.allclose(np.sort(scored.result.logits), expected, atol=2e-3)
    assert scored.result.model_hash == result.model_hash

    # Nodes that did not train the model do not hold it: they decline the job.
    _, plan = requester.plan(predict)
    others = [world.consortium.client(n).address for n in ("Aurora Bank", "Borealis Credit", "Cobalt Finance")]
    job_id, _ = requester.submit(requester.build_request(plan, compute_nodes=others))
    with pytest.raises(JobDeclined, match="ModelNotFound"):
        requester.wait(job_id, timeout=120)


def test_a_claim_rule_runs_at_the_hospital_and_only_the_decision_leaves(world: World) -> None:
    hospital, insurer = "Delta Lending", REQUESTER  # Delta plays the hospital here
    client = world.consortium.client(hospital)
    config = world.consortium.node_config(hospital)
    records = generate_records(np.random.default_rng(5), patients=25)
    store = LocalStore(config.duckdb_path)
    store.create_table("records", RECORDS_SCHEMA, records)
    store.close()
    dataset_id = register_dataset(client, config.duckdb_path, config.state_database, "records").dataset_id
    insurer_address = world.consortium.client(insurer).address
    set_policy(client, f"{hospital}.records", insurer_address,
               levels={"patient_id": ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
                       **{c: ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE for c in RECORDS_SCHEMA.names[1:]}},
               expiry=_chain_now(client) + 86_400, kinds=(JobKind.PUBLISH,))
    requester = world.consortium.requester(insurer)
    text = claim_program_text(f"{hospital}.records")
    _, plan = requester.plan(text)
    approve(client, plan)
    patient = records["patient_id"][0]
    claim = Claim(patient, dt.date.today(), Decimal("120.00"), "asthma")
    consent = record_consent(client, dataset_id, SubjectKey.generate(), patient, PURPOSE,
                             _chain_now(client) + 30 * 86_400, b"signed consent form")
    private = {"subject_id": patient, "consent_reference": consent.reference, "arguments": claim.arguments()}

    outcome = requester.run(text, private)

    assert [n.account for n in requester.client.jobs.nodes(outcome.job_id)] == [client.address]
    assert outcome.result.values == expected_settlement(records, claim)
    assert outcome.transcripts_agree
    # Another patient's consent was never recorded: the chain refuses the request.
    with pytest.raises(AccessPolicyConsentMissing):
        requester.run(text, {**private, "subject_id": records["patient_id"][-1]})
