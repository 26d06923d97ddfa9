"""Scripts and the contracts: every owner approves the hash; errors come before any job request."""

from __future__ import annotations

import pytest

from offchain.chain.client import ZERO_ADDRESS, JobRequest
from offchain.chain.errors import AccessPolicyProgramNotApproved
from offchain.client.publishing import (
    approve,
    chain_now,
    check_approved,
    missing_approvals,
)
from offchain.data.schema import Schema
from offchain.errors import PolicyViolation, ScriptPolicyViolation
from offchain.node.catalog import ChainCatalog
from offchain.node.jobspec import job_inputs
from offchain.programs.base import program_hash
from offchain.script.program import ScriptProgram, check_script, script_text
from offchain.vocabulary import ConstraintLevel, JobKind
from tests.publish.conftest import client_for, deployment, rpc  # noqa: F401 - fixtures
from tests.script.conftest import SCHEMA

OWNERS, REQUESTER = (1, 2, 3), 4
SOURCE = (
    "ratio = (debt_a + debt_b) / maximum(income_c, 100.0)\n"
    "risky = count(ratio > 2)\n"
    "average = mean(ratio)\n"
)


def register(owner, requester: str, level: ConstraintLevel) -> int:
    receipt = owner.catalog.register("customers", SCHEMA.names, ["string", "float64", "float64",
                                                                  "int64", "bool"],
                                     100, b"\1" * 32, 1, 0).transact()
    dataset_id = next(e.args["datasetId"] for e in owner.events(receipt)
                      if e.name == "DatasetRegistered")
    owner.transact_all([
        owner.access_policy.set_grant(dataset_id, requester, chain_now(owner) + 86_400, 10,
                                      [JobKind.SCRIPT]),
        owner.access_policy.set_column_levels(
            dataset_id, ZERO_ADDRESS, [0, 1, 2],
            [ConstraintLevel.PLAINTEXT_AFTER_COMPARE, level, level]),  # keys: compared when aligned
    ])
    return dataset_id


@pytest.fixture
def consortium(client_for):  # noqa: F811 - the imported fixture
    owners = [client_for(i) for i in OWNERS]
    requester = client_for(REQUESTER)
    chain_schema = Schema.of([(c.name, "float64" if c.type.startswith("decimal") else c.type)
                              for c in SCHEMA.columns])
    ids = [register(o, requester.address, ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE) for o in owners]
    names = [o.consortium.member(o.address).name for o in owners]
    catalog = ChainCatalog(requester)
    assert all(catalog.dataset_by_id(i).schema == chain_schema for i in ids)
    inputs = {
        "debt_a": {"dataset": f"{names[0]}.customers", "column": "debt", "min": 0, "max": 1e5},
        "debt_b": {"dataset": f"{names[1]}.customers", "column": "debt", "min": 0, "max": 1e5},
        "income_c": {"dataset": f"{names[2]}.customers", "column": "income", "min": 0, "max": 1e5},
    }
    align = {f"{n}.customers": "customer_id" for n in names}
    return owners, requester, ids, catalog, inputs, align


def text(inputs, align, outputs=(("average", "fixed"),), source=SOURCE) -> str:
    return script_text(source, inputs, [{"name": n, "type": t} for n, t in outputs], align_by=align)


def script_request(requester, plan, owners) -> JobRequest:
    return JobRequest(JobKind.SCRIPT, program_hash(plan.text), plan.text, job_inputs(plan),
                      tuple(o.address for o in owners), requester.address,
                      chain_now(requester) + 600, 10_000)


def test_every_owner_must_approve_the_script(consortium) -> None:
    owners, requester, ids, catalog, inputs, align = consortium
    source = "ratio = (debt_a + debt_b) / maximum(income_c, 100.0)\naverage = mean(ratio)\n"
    plan = check_script(text(inputs, align, source=source), catalog, requester.address)
    for approved, owner in enumerate(owners):
        missing = missing_approvals(requester, plan, requester.address)
        assert len(missing) == len(owners) - approved
        with pytest.raises(PolicyViolation, match="not approved on"):
            check_approved(requester, plan, requester.address)
        with pytest.raises(AccessPolicyProgramNotApproved):
            requester.jobs.request(script_request(requester, plan, owners)).transact()
        approve(owner, plan)
    check_approved(requester, plan, requester.address)
    receipt = requester.jobs.request(script_request(requester, plan, owners)).transact()
    assert any(e.name == "JobRequested" for e in requester.events(receipt))
    # a single character changed is another program, approved by nobody
    changed = ScriptProgram().plan(text(inputs, align, source=source.replace("100.0", "101.0")),
                                   catalog)
    assert len(missing_approvals(requester, changed, requester.address)) == len(owners)


def test_a_use_above_the_granted_level_is_refused_with_its_line_before_any_job(consortium) -> None:
    owners, requester, ids, catalog, inputs, align = consortium
    jobs_before = requester.jobs.job_count()
    with pytest.raises(ScriptPolicyViolation) as caught:
        check_script(text(inputs, align, outputs=(("risky", "integer"),)), catalog, requester.address)
    assert (caught.value.line, caught.value.column) == (2, 15)
    assert "PLAINTEXT_AFTER_COMPARE" in caught.value.reason
    assert requester.jobs.job_count() == jobs_before
