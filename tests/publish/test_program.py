"""The publish program end to end at the owner: decisions, bindings, refusals, receipts."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from offchain.errors import (
    InputError,
    OutputOutsideSchema,
    PolicyViolation,
    RuleFailed,
    SandboxTimeout,
    ScriptError,
)
from offchain.programs import registry
from offchain.programs.base import program_hash
from offchain.programs.local import run_program_locally
from offchain.publish.program import PublishProgram, publish_text, verify_receipt
from offchain.publish.samples import (
    ARGUMENTS,
    COLUMNS,
    OUTPUTS,
    PURPOSE,
    Claim,
    claim_program_text,
    claim_rules,
    claims,
    expected_settlement,
)
from offchain.publish.subjects import consent_reference
from offchain.vocabulary import ConstraintLevel, JobKind

PROGRAM = PublishProgram()


def private_for(hospital, claim: Claim) -> dict:
    _, salt = hospital.consent(claim.patient_id)
    return {"subject_id": claim.patient_id, "consent_reference": consent_reference(salt),
            "arguments": claim.arguments()}


@pytest.mark.parametrize("form", ["decision_table", "script"])
def test_decisions_match_the_plain_reference_for_many_claims(hospital, form) -> None:
    plan = PROGRAM.plan(claim_program_text("stmary.records", form), hospital.catalog)
    rng = np.random.default_rng(11)
    outcomes = []
    for claim in claims(rng, hospital.records, 40):
        result, evaluation = run_program_locally(PROGRAM, plan, [hospital.store],
                                                 private_for(hospital, claim))
        assert result.values == expected_settlement(hospital.records, claim), claim
        outcomes.append(result["approved"])
        assert evaluation.rows_used == hospital.records["patient_id"].count(claim.patient_id)
    assert any(outcomes) and not all(outcomes)  # both decisions occur in the sample


def test_the_plan_declares_one_input_at_the_owner_with_bounded_outputs(hospital) -> None:
    plan = PROGRAM.plan(claim_program_text("stmary.records"), hospital.catalog)
    assert registry.get("publish").kind is JobKind.PUBLISH
    assert plan.evaluated_at_owner and plan.kind is JobKind.PUBLISH
    assert len(plan.inputs) == 1 and plan.inputs[0].shared == ()
    levels = {use.column: use.required for use in plan.uses}
    assert levels == {"patient_id": ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
                      **{c: ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE for c in COLUMNS}}
    assert [o.name for o in plan.outputs] == ["approved", "amount"]
    assert "at most 19.9 bits per run" in plan.explain()


def test_a_modified_program_is_a_different_hash(hospital) -> None:
    original = claim_program_text("stmary.records")
    rules = claim_rules()
    rules["rules"][1]["then"]["amount"] = "min(claimed, 5000)"
    modified = publish_text("claim-settlement", "stmary.records", "patient_id", COLUMNS, PURPOSE,
                            OUTPUTS, rules, arguments=ARGUMENTS,
                            order_by=["event_date", "kind", "code", "amount"])
    looser = claim_program_text("stmary.records", limits={"steps": 10_000_000})
    hashes = {program_hash(text) for text in (original, modified, looser)}
    assert len(hashes) == 3
    assert program_hash(original) == program_hash(claim_program_text("stmary.records"))


def test_parameters_that_do_not_bind_to_the_job_are_refused(hospital) -> None:
    plan = PROGRAM.plan(claim_program_text("stmary.records"), hospital.catalog)
    claim = Claim("P-00003", dt.date(2025, 6, 1), Decimal("100.00"), "asthma")
    run = PROGRAM.run_request(plan, private_for(hospital, claim))
    other = PROGRAM.run_request(plan, private_for(hospital, replace(claim, patient_id="P-00004")))
    # another patient's hash on the job: the delivered id and salt do not give it
    with pytest.raises(PolicyViolation, match="subject hash"):
        PROGRAM.evaluate_at_owner(plan, hospital.store, replace(run, subject=other.subject))
    # parameters swapped after the request: they no longer hash to the job's params hash
    with pytest.raises(PolicyViolation, match="params hash"):
        PROGRAM.evaluate_at_owner(plan, hospital.store, replace(run, parameters=other.parameters))
    with pytest.raises(PolicyViolation, match="purpose"):
        PROGRAM.evaluate_at_owner(plan, hospital.store, replace(run, purpose=b"\1" * 32))
    # a salt that is not the patient's consent salt (a guess) cannot produce the hash
    guessed = PROGRAM.run_request(plan, {"subject_id": claim.patient_id, "salt": b"\7" * 32,
                                         "arguments": claim.arguments()})
    assert guessed.subject != run.subject


def test_non_canonical_parameters_are_refused(hospital) -> None:
    plan = PROGRAM.plan(claim_program_text("stmary.records"), hospital.catalog)
    claim = Claim("P-00003", dt.date(2025, 6, 1), Decimal("100.00"), "asthma")
    run = PROGRAM.run_request(plan, private_for(hospital, claim))
    document = json.loads(run.parameters)
    spaced = json.dumps(document, sort_keys=True).encode()
    from offchain.publish.program import parameters_hash

    with pytest.raises(PolicyViolation, match="canonical"):
        PROGRAM.evaluate_at_owner(plan, hospital.store,
                                  replace(run, parameters=spaced, params_hash=parameters_hash(spaced)))


def test_run_arguments_outside_their_declaration_are_refused_at_the_requester(hospital) -> None:
    plan = PROGRAM.plan(claim_program_text("stmary.records"), hospital.catalog)
    claim = Claim("P-00003", dt.date(2025, 6, 1), Decimal("100.00"), "gout")
    with pytest.raises(InputError, match="must be one of"):
        PROGRAM.run_request(plan, private_for(hospital, claim))
    with pytest.raises(InputError, match="missing"):
        PROGRAM.run_request(plan, {"subject_id": "P-00003", "salt": b"\0" * 32, "arguments": {}})


def _program(rules_source: str, outputs=None, limits=None) -> str:
    return publish_text("t", "stmary.records", "patient_id", COLUMNS, PURPOSE,
                        outputs or OUTPUTS, {"format": "script", "source": rules_source},
                        arguments=ARGUMENTS, limits=limits)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("approved = True\namount = 6000", "above its declared maximum 5000"),
        ("approved = True\namount = claimed / 3", "more than 2 decimal places"),
        ("approved = 1\namount = 0", "must be true or false"),
        ("approved = True\namount = treatment", "must be a number"),
    ],
)
def test_outputs_outside_the_declared_schema_never_leave(hospital, source, words) -> None:
    plan = PROGRAM.plan(_program(source), hospital.catalog)
    claim = Claim("P-00003", dt.date(2025, 6, 1), Decimal("100.00"), "asthma")
    with pytest.raises(OutputOutsideSchema, match=words):
        run_program_locally(PROGRAM, plan, [hospital.store], private_for(hospital, claim))


def test_a_looping_program_is_stopped_and_errors_are_located(hospital) -> None:
    claim = Claim("P-00003", dt.date(2025, 6, 1), Decimal("100.00"), "asthma")
    forever = "approved = False\namount = 0\nfor i in range(1000000):\n  for j in range(1000000):\n    amount = 0"
    plan = PROGRAM.plan(_program(forever, limits={"steps": 50_000}), hospital.catalog)
    with pytest.raises(SandboxTimeout, match="50000 steps"):
        run_program_locally(PROGRAM, plan, [hospital.store], private_for(hospital, claim))
    plan = PROGRAM.plan(_program("approved = True\namount = claimed / (len(rows) - len(rows))"),
                        hospital.catalog)
    with pytest.raises(RuleFailed, match="line 2, column 10: division by zero"):
        run_program_locally(PROGRAM, plan, [hospital.store], private_for(hospital, claim))


def test_decision_table_errors_name_the_entry(hospital) -> None:
    rules = claim_rules()
    rules["rules"][1]["then"]["amount"] = "payable +"
    with pytest.raises(ScriptError, match=r"rules\[1\]\.then\.amount"):
        publish_text_plan(hospital, rules)
    rules = claim_rules()
    rules["let"][2]["value"] = "sum(r.cost for r in rows)"
    with pytest.raises(ScriptError, match=r"let\[2\]\.value, line 1, column 5: rows have no field 'cost'"):
        publish_text_plan(hospital, rules)
    rules = claim_rules()
    rules["rules"][1]["then"]["amount"] = "payable / (visit_cost - visit_cost)"
    plan = publish_text_plan(hospital, rules)
    claim = next(c for c in claims(np.random.default_rng(3), hospital.records, 60)
                 if expected_settlement(hospital.records, c)["approved"])
    with pytest.raises(RuleFailed, match=r"rules\[1\]\.then\.amount, column 1: division by zero"):
        run_program_locally(PROGRAM, plan, [hospital.store], private_for(hospital, claim))


def publish_text_plan(hospital, rules):
    text = publish_text("claim-settlement", "stmary.records", "patient_id", COLUMNS, PURPOSE,
                        OUTPUTS, rules, arguments=ARGUMENTS)
    return PROGRAM.plan(text, hospital.catalog)


def test_too_many_rows_for_one_subject_are_refused(hospital) -> None:
    busiest = max(set(hospital.records["patient_id"]), key=hospital.records["patient_id"].count)
    plan = PROGRAM.plan(claim_program_text("stmary.records", limits={"max_rows": 1}),
                        hospital.catalog)
    claim = Claim(busiest, dt.date(2025, 6, 1), Decimal("100.00"), "asthma")
    with pytest.raises(InputError, match="more than 1 rows"):
        run_program_locally(PROGRAM, plan, [hospital.store], private_for(hospital, claim))


def test_the_receipt_binds_program_parameters_rows_and_outputs(hospital) -> None:
    plan = PROGRAM.plan(claim_program_text("stmary.records"), hospital.catalog)
    claim = Claim("P-00003", dt.date(2025, 6, 1), Decimal("100.00"), "asthma")
    run = PROGRAM.run_request(plan, private_for(hospital, claim))
    evaluation = PROGRAM.evaluate_at_owner(plan, hospital.store, run)
    outputs = dict(evaluation.outputs)
    assert verify_receipt(plan, run, outputs, evaluation.input_commitment, evaluation.receipt)
    altered = dict(outputs, amount=np.array([int(outputs["amount"][0]) + 1]))
    assert not verify_receipt(plan, run, altered, evaluation.input_commitment, evaluation.receipt)
    assert not verify_receipt(plan, run, outputs, b"\0" * 32, evaluation.receipt)
    # the same run evaluated again commits to the same rows; a new run (new nonce) hides them
    again = PROGRAM.evaluate_at_owner(plan, hospital.store, run)
    assert again.input_commitment == evaluation.input_commitment
    fresh = PROGRAM.evaluate_at_owner(plan, hospital.store,
                                      PROGRAM.run_request(plan, private_for(hospital, claim)))
    assert fresh.input_commitment != evaluation.input_commitment


def test_the_mpc_roles_refuse_a_publish_plan(hospital) -> None:
    plan = PROGRAM.plan(claim_program_text("stmary.records"), hospital.catalog)
    with pytest.raises(InputError, match="evaluate_at_owner"):
        PROGRAM.owner_inputs(plan, 0, hospital.store)


def test_a_subject_without_rows_gets_a_decision_from_no_rows(hospital) -> None:
    plan = PROGRAM.plan(claim_program_text("stmary.records"), hospital.catalog)
    claim = Claim("P-99999", dt.date(2025, 6, 1), Decimal("100.00"), "asthma")
    result, evaluation = run_program_locally(PROGRAM, plan, [hospital.store],
                                             private_for(hospital, claim))
    assert evaluation.rows_used == 0
    assert result.values == {"approved": False, "amount": Decimal("0.00")}
