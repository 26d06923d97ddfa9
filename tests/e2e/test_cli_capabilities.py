"""The `unseen` commands of every capability, as subprocesses against real node processes.

``unseen script check|run``, ``unseen program approve|status``, ``unseen
publish register|approve|run``, ``unseen consent record|revoke`` and ``unseen
model train|predict``: each on its happy path (results compared with the
plaintext answer) and on a refusal (one red ``Type: message`` line and the
exit code: 2 for usage errors, 1 for refusals).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from offchain.client.claims import TABLE, grant_records
from offchain.client.datasets import register_dataset
from offchain.client.grants import set_policy
from offchain.client.publishing import chain_now
from offchain.data.store import LocalStore
from offchain.demo.data import credit_population, plaintext, shared_customers, write_parquet
from offchain.publish.samples import (
    PURPOSE,
    RECORDS_SCHEMA,
    Claim,
    claim_program_text,
    expected_settlement,
)
from offchain.publish.samples import hospital_records as generate_records
from offchain.vocabulary import ConstraintLevel, JobKind
from tests.e2e.world import REQUESTER, World, build_world

pytestmark = pytest.mark.slow
CUSTOMERS = 400
SCRIPT = '''program = "script"
version = 1

[parameters]
source = """
ratio = (debt_a + debt_b) / maximum(income_c, 10.0)
mean_ratio = mean(ratio)
"""
outputs = [{{name = "mean_ratio", type = "fixed"}}]

[parameters.inputs.debt_a]
dataset = "Borealis Credit.accounts"
column = "debt"
min = 0
max = 1000

[parameters.inputs.debt_b]
dataset = "Cobalt Finance.accounts"
column = "debt"
min = 0
max = 1000

[parameters.inputs.income_c]
dataset = "Delta Lending.accounts"
column = "income"
min = 0
max = 1000

[parameters.align_by]
"Borealis Credit.accounts" = "customer_id"
"Cobalt Finance.accounts" = "customer_id"
"Delta Lending.accounts" = "customer_id"
{extra}'''


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = build_world(tmp_path_factory.mktemp("e2e-cli"), session_timeout=30.0)
    try:
        yield built
    finally:
        built.consortium.close()


def unseen(world: World, member: str, *arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "offchain.cli", *arguments, "--config", str(world.consortium.config_path(member))],
        capture_output=True, text=True, timeout=300, cwd=cwd, env={**os.environ, "COLUMNS": "250"})


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def refused(done: subprocess.CompletedProcess, exit_code: int, starts: str) -> str:
    assert done.returncode == exit_code, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(starts), done.stderr
    return done.stderr


def offer(world: World, owner: str, table: str, columns: dict) -> Path:
    path = write_parquet(columns, world.directory / owner.split()[0].lower() / f"{table}.parquet")
    config = world.consortium.node_config(owner)
    register_dataset(world.consortium.client(owner), config.duckdb_path, config.state_database, table, source=path)
    return path


def govern(world: World, owner: str, table: str, grantee: str, levels: dict, kinds: tuple[JobKind, ...]) -> None:
    client = world.consortium.client(owner)
    set_policy(client, f"{owner}.{table}", grantee, levels=levels, expiry=chain_now(client) + 86_400, kinds=kinds)


# -- scripts ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def accounts(world: World) -> dict:
    """Three members' accounts about the same customers, granted to the requester for scripts."""
    tables = shared_customers(np.random.default_rng(3), CUSTOMERS)
    aurora = world.consortium.client(REQUESTER).address
    for role, owner, columns in (("first", "Borealis Credit", ("debt",)), ("second", "Cobalt Finance", ("debt",)),
                                 ("third", "Delta Lending", ("income",))):
        offer(world, owner, "accounts", {k: v for k, v in tables[role].items() if k in ("customer_id", *columns)})
        govern(world, owner, "accounts", aurora, {"customer_id": ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
                                                  **{c: ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE for c in columns}},
               (JobKind.SCRIPT,))
    return tables


def test_script_check_approve_and_run(world: World, accounts: dict, tmp_path: Path) -> None:
    tables = accounts
    source = tmp_path / "ratio.toml"
    source.write_text(SCRIPT.format(extra=""))
    program = tmp_path / "ratio.json"

    checked = ok(unseen(world, REQUESTER, "script", "check", str(source), "--out", str(program)))
    assert "not yet approved on Borealis Credit.accounts, Cobalt Finance.accounts, Delta Lending.accounts" in checked
    assert json.loads(program.read_text())["program"] == "script"
    # Refused before any fee while an owner has not approved it.
    refused(unseen(world, REQUESTER, "script", "run", str(program)), 1, "PolicyViolation: program 0x")
    # Only owners approve.
    refused(unseen(world, REQUESTER, "program", "approve", str(program)), 1, "PolicyViolation: ")
    for owner in ("Borealis Credit", "Cobalt Finance", "Delta Lending"):
        approved = ok(unseen(world, owner, "program", "approve", str(program)))
        assert "approved on" in approved and "column uses" in approved
    assert "approved by the owner of every input" in ok(unseen(world, REQUESTER, "program", "status", str(program)))
    # A script file is not a rule program.
    refused(unseen(world, REQUESTER, "publish", "register", str(program)), 2,
            "InputError: " + str(program) + " holds a 'script' program, not a 'publish' one")

    done = ok(unseen(world, REQUESTER, "script", "run", str(program)))
    secure = float(re.search(r"mean_ratio\s*│\s*([0-9.,]+)", done).group(1).replace(",", ""))
    by_id = [dict(zip(tables[r]["customer_id"], range(CUSTOMERS), strict=True)) for r in ("first", "second", "third")]
    ids = sorted(by_id[0])
    ratio = ((tables["first"]["debt"][[by_id[0][i] for i in ids]] + tables["second"]["debt"][[by_id[1][i] for i in ids]])
             / np.maximum(tables["third"]["income"][[by_id[2][i] for i in ids]], 10.0))
    assert secure == pytest.approx(ratio.mean(), abs=2e-3)
    assert "keys agree row by row" in done
    # An owner withdraws its approval: the next run is refused before any fee.
    ok(unseen(world, "Cobalt Finance", "program", "revoke", str(program), "--note", "under review"))
    assert "not yet approved on Cobalt Finance.accounts" in ok(
        unseen(world, REQUESTER, "program", "status", str(program)))
    refused(unseen(world, REQUESTER, "script", "run", str(program)), 1, "PolicyViolation: program 0x")


def test_a_script_revealing_a_column_above_its_level_is_refused_with_its_line(world: World, accounts: dict,
                                                                              tmp_path: Path) -> None:
    source = tmp_path / "risky.toml"
    source.write_text(SCRIPT.format(extra="").replace(
        'mean_ratio = mean(ratio)\n', 'mean_ratio = mean(ratio)\nrisky = count(debt_a > 50)\n').replace(
        'outputs = [{name = "mean_ratio", type = "fixed"}]',
        'outputs = [{name = "mean_ratio", type = "fixed"}, {name = "risky", type = "integer"}]'))
    stderr = refused(unseen(world, REQUESTER, "script", "check", str(source)), 1,
                     "ScriptPolicyViolation: line 3, column")
    assert "Borealis Credit.accounts.debt needs PLAINTEXT_AFTER_COMPARE" in stderr
    broken = tmp_path / "broken.toml"
    broken.write_text('program = "script"\nversion = 1\n[parameters\n')
    refused(unseen(world, REQUESTER, "script", "check", str(broken)), 2, "InputError: program file")


# -- publishing and consent ------------------------------------------------------------------------


def test_publish_register_approve_consent_and_run(world: World, tmp_path: Path) -> None:
    hospital = "Delta Lending"  # plays the hospital
    config = world.consortium.node_config(hospital)
    records = generate_records(np.random.default_rng(9), patients=15)
    store = LocalStore(config.duckdb_path)
    store.create_table(TABLE, RECORDS_SCHEMA, records)
    store.close()
    client = world.consortium.client(hospital)
    registration = register_dataset(client, config.duckdb_path, config.state_database, TABLE)
    grant_records(client, registration.dataset_id, world.consortium.client(REQUESTER).address)
    program = tmp_path / "claims.json"
    program.write_text(claim_program_text(f"{hospital}.{TABLE}"))

    registered = ok(unseen(world, REQUESTER, "publish", "register", str(program), "--out", str(tmp_path / "c.json")))
    assert "at most 19.9 bits per run" in registered and "not yet approved on Delta Lending.records" in registered
    refused(unseen(world, REQUESTER, "publish", "approve", str(program)), 1, "PolicyViolation: ")  # not the owner
    ok(unseen(world, hospital, "publish", "approve", str(program)))

    patient, other = records["patient_id"][0], records["patient_id"][-1]
    recorded = ok(unseen(world, hospital, "consent", "record", TABLE, "--subject", patient, "--purpose", PURPOSE,
                         "--expires", "30d"))
    reference = re.search(r"(UC1-[A-Z0-9-]+)", recorded).group(1)
    subject = re.search(r"subject (0x[0-9a-f]{64})", recorded).group(1)
    claim = Claim(patient, dt.date(2025, 6, 1), Decimal("300.00"), "asthma")
    arguments = ["--arg", f"claim_date={claim.claim_date}", "--arg", f"claimed={claim.claimed}",
                 "--arg", f"treatment={claim.treatment}"]
    done = ok(unseen(world, REQUESTER, "publish", "run", str(program), "--subject", patient,
                     "--consent-reference", reference, *arguments))
    expected = expected_settlement(records, claim)
    assert re.search(rf"approved\s*│\s*{expected['approved']}", done), done
    assert re.search(rf"amount\s*│\s*{expected['amount']}", done), done

    # Another patient never consented: refused in words before any fee.
    refused(unseen(world, REQUESTER, "publish", "run", str(program), "--subject", other, "--consent-reference",
                   reference, *arguments), 1, "PolicyViolation: dataset ")
    # Only the owner (or the subject) revokes a consent; then the next run is refused.
    refused(unseen(world, REQUESTER, "consent", "revoke", f"{hospital}.{TABLE}", "--subject-hash", subject,
                   "--purpose", PURPOSE), 1, "AccessPolicy")
    ok(unseen(world, hospital, "consent", "revoke", TABLE, "--subject", patient, "--purpose", PURPOSE))
    stderr = refused(unseen(world, REQUESTER, "publish", "run", str(program), "--subject", patient,
                            "--consent-reference", reference, *arguments), 1, "PolicyViolation: ")
    assert "revoked" in stderr
    # Only the owner records consent on its dataset; an unknown argument is a usage error.
    refused(unseen(world, REQUESTER, "consent", "record", f"{hospital}.{TABLE}", "--subject", patient, "--purpose",
                   PURPOSE, "--expires", "30d"), 2, "InputError: Delta Lending.records is not yours")
    refused(unseen(world, REQUESTER, "publish", "run", str(program), "--subject", patient, "--consent-reference",
                   reference, "--arg", "colour=red"), 2, "InputError: the program takes arguments")


# -- models ----------------------------------------------------------------------------------------


def test_model_train_approve_and_predict(world: World, tmp_path: Path) -> None:
    lender, shop = "Borealis Credit", "Cobalt Finance"
    tables = credit_population(np.random.default_rng(4), CUSTOMERS, 120)
    files = {"customers": offer(world, lender, "customers", tables["customers"]),
             "applicants": offer(world, lender, "applicants", tables["applicants"]),
             "behaviour": offer(world, shop, "behaviour", tables["behaviour"])}
    join, aggregate = ConstraintLevel.PLAINTEXT_AFTER_JOIN, ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE
    govern(world, lender, "customers", "all", {"customer_id": join, "income": aggregate, "debt": aggregate,
                                               "defaulted": aggregate}, (JobKind.MODEL_TRAIN,))
    govern(world, lender, "applicants", "all", {"customer_id": join}, (JobKind.MODEL_PREDICT,))
    govern(world, shop, "behaviour", "all", {"customer_id": join, "orders": aggregate, "late_payments": aggregate},
           (JobKind.MODEL_TRAIN, JobKind.MODEL_PREDICT))

    refused(unseen(world, REQUESTER, "model", "train", "--input", f"{lender}.customers; colour=blue"), 2,
            "InputError: input 'Borealis Credit.customers': 'colour=blue' is not one of")
    card = tmp_path / "model.json"
    trained = ok(unseen(world, REQUESTER, "model", "train",
                        "--input", f"{lender}.customers; key=customer_id; features=income,debt; label=defaulted",
                        "--input", f"{shop}.behaviour; key=customer_id; features=orders,late_payments",
                        "--epochs", "3", "--batch-size", "32", "--validation-fraction", "0.2", "--reveal-model",
                        "--card", str(card)))
    model_hash = re.search(r"model 0x([0-9a-f]{64}) trained", trained).group(1)
    assert set(json.loads(card.read_text())) == {"descriptor", "digests"}
    assert re.search(r"auc\s*│\s*0\.\d{4}", trained) and "(bias)" in trained

    scores = tmp_path / "scores.csv"
    arguments = ["model", "predict", "--model", str(card), "--input", f"{lender}.applicants; key=customer_id",
                 "--input", f"{shop}.behaviour; key=customer_id", "--out", str(scores)]
    # The owners have not approved the model: the chain refuses the request.
    refused(unseen(world, REQUESTER, *arguments), 1, "AccessPolicyProgramNotApproved")
    ok(unseen(world, lender, "program", "approve", "--model", str(card), "--dataset", "applicants"))
    ok(unseen(world, shop, "program", "approve", "--model", str(card), "--dataset", "behaviour"))
    done = ok(unseen(world, REQUESTER, *arguments))
    common = plaintext("SELECT count(*) FROM a JOIN b ON a.customer_id = b.customer_id",
                       a=files["applicants"], b=files["behaviour"])[0][0]
    assert f"{common:,} rows scored with model 0x{model_hash[:16]}" in done
    with open(scores, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == common
    logits = np.array([float(r["logit"]) for r in rows])
    assert np.allclose([float(r["probability"]) for r in rows], 1 / (1 + np.exp(-logits)), atol=1e-6)
