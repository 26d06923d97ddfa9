"""The ``sql`` job program through the seam: registry, plan contents, explain, owners' checks, TLS."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.errors import InputError, UnsupportedQuery
from offchain.mpc.opening import export, reconstruct
from offchain.mpc.program import PerParty
from offchain.mpc.sharing import receive_input
from offchain.programs import registry
from offchain.programs.base import DatasetInfo, parse_program_text
from offchain.programs.catalog import StaticCatalog
from offchain.programs.local import agree_owner_secrets, deal_arrays, run_program_locally
from offchain.sql.explain import explain_query
from offchain.sql.program import SqlProgram, query_program_text
from offchain.vocabulary import JobKind
from tests.sql.world import REQUESTER, assert_same_rows, build_world

JOIN = ("SELECT c.region, COUNT(*), SUM(l.amount) FROM bank_a.customers c "
        "JOIN bank_b.loans l ON c.id = l.customer_id WHERE l.status = 'late' GROUP BY c.region")


@pytest.fixture(scope="module")
def world():
    return build_world()


def test_registered_under_its_name() -> None:
    program = registry.get("sql")
    assert program.kind is JobKind.QUERY
    assert registry.for_text(query_program_text("SELECT 1", REQUESTER)) is program


def test_program_text_is_canonical_and_public(world) -> None:
    text = query_program_text(JOIN, REQUESTER)
    name, version, parameters = parse_program_text(text)
    assert (name, version) == ("sql", 1)
    assert parameters == {"sql": JOIN, "requester": REQUESTER, "min_group_size": 3}
    plan = SqlProgram().plan(text, world.catalog())
    assert plan.text == text and plan.kind is JobKind.QUERY
    with pytest.raises(InputError, match="requester"):
        SqlProgram().plan(query_program_text(JOIN, "bob"), world.catalog())


def test_plan_declares_inputs_arrays_outputs_and_owner_secrets(world) -> None:
    plan = SqlProgram().plan(query_program_text(JOIN, REQUESTER), world.catalog())
    customers, loans = plan.inputs
    assert customers.dataset.reference == "bank_a.customers"
    assert {a.name for a in customers.shared} == {
        "valid", "tags0", "group.onehot", "group.key.region", "group.null.region"}
    assert {a.name for a in loans.shared} == {"valid", "value.amount", "null.amount", "tags0"}
    assert all(a.length == loans.dataset.row_count for a in loans.shared)
    assert "?" in loans.local_step and "'late'" not in loans.local_step  # literals are bound
    assert [o.name for o in plan.outputs] == ["c0", "c0.null", "c1", "c1.null", "c2", "c2.null"]
    (secret,) = plan.owner_secrets
    assert secret.inputs == (0, 1)


def test_explain_names_steps_places_and_disclosures(world) -> None:
    text = explain_query(JOIN, world.catalog(), REQUESTER)
    assert "[owner bank_a, locally]" in text and "[owner bank_b, locally]" in text
    assert "[MPC on the 3 compute nodes] INNER JOIN bank_b.loans" in text
    assert "[requester, locally] reconstruct" in text
    assert "to compute nodes: join 1: the number of joined rows" in text
    assert "to compute node 0 (matcher)" in text
    assert "the number of distinct (region) in bank_a.customers" in text
    assert "bank_b.loans.status: PLAINTEXT_AFTER_COMPARE" in text
    with pytest.raises(UnsupportedQuery):
        explain_query("SELECT UPPER(region) FROM bank_a.customers", world.catalog(), REQUESTER)


def test_requester_has_no_private_inputs(world) -> None:
    plan = SqlProgram().plan(query_program_text(JOIN, REQUESTER), world.catalog())
    assert SqlProgram().requester_inputs(plan, {}) == {}
    with pytest.raises(InputError, match="no private requester inputs"):
        SqlProgram().requester_inputs(plan, {"x": 1})


def test_owner_refuses_a_table_that_changed_without_a_new_version(world) -> None:
    schema = Schema.of([("id", "int64"), ("v", "int64")])
    dataset = DatasetInfo(1, "0x" + "1" * 40, "m", "t", schema, 5, b"")
    store = LocalStore()
    store.create_table("t", schema, {"id": [1, 2, 3], "v": [1, 2, 3]})
    catalog = StaticCatalog([dataset])
    plan = SqlProgram().plan(query_program_text("SELECT COUNT(*) FROM m.t", dataset.owner),
                             catalog)
    with pytest.raises(InputError, match="has 3 rows but dataset m.t is registered with 5"):
        SqlProgram().owner_inputs(plan, 0, store)


def test_owner_refuses_too_many_groups() -> None:
    schema = Schema.of([("k", "int64")])
    rows = 10_001
    dataset = DatasetInfo(1, "0x" + "1" * 40, "m", "t", schema, rows, b"")
    store = LocalStore()
    store.create_table("t", schema, {"k": np.arange(rows)})
    plan = SqlProgram().plan(query_program_text("SELECT k, COUNT(*) FROM m.t GROUP BY k",
                                                dataset.owner), StaticCatalog([dataset]))
    with pytest.raises(InputError, match="10001 distinct keys; at most 10000"):
        SqlProgram().owner_inputs(plan, 0, store)


def test_owner_needs_the_agreed_tag_key(world) -> None:
    plan = SqlProgram().plan(query_program_text(JOIN, REQUESTER), world.catalog())
    with pytest.raises(InputError, match="was not agreed"):
        SqlProgram().owner_inputs(plan, 0, world.stores["bank_a"], secrets={})


def test_tags_differ_under_another_agreed_key(world) -> None:
    """What the matcher sees depends on the owners' key: the same rows give unrelated tags."""
    plan = SqlProgram().plan(query_program_text(JOIN, REQUESTER), world.catalog())
    first = SqlProgram().owner_inputs(plan, 1, world.stores["bank_b"], secrets={"join0": b"a" * 32})
    second = SqlProgram().owner_inputs(plan, 1, world.stores["bank_b"],
                                       secrets={"join0": b"b" * 32})
    assert not set(map(tuple, first["tags0"].tolist())) & set(map(tuple, second["tags0"].tolist()))


def test_run_through_the_local_runner_with_verified_outputs(world) -> None:
    from offchain.mpc.runtime import EngineConfig

    program = registry.get("sql")
    plan = program.plan(query_program_text(JOIN, REQUESTER), world.catalog())
    stores = [world.stores[i.dataset.owner_name] for i in plan.inputs]
    result, run = run_program_locally(program, plan, stores, config=EngineConfig(verified=True))
    assert_same_rows(result, world.expected(JOIN))
    for a, b in ((0, 1), (1, 2), (2, 0)):  # both ends of every link hashed the same bytes
        assert run.stats[a].transcripts[b] == run.stats[b].transcripts[a]


def _party(runtime, plan, payloads):
    inputs = {(source, name): receive_input(runtime, payload)
              for source, arrays in payloads.items() for name, payload in arrays.items()}
    outputs = SqlProgram().compute(runtime, plan, inputs)
    return {name: export(share) for name, share in outputs.items()}


@pytest.mark.slow
def test_three_processes_over_pinned_tls(world) -> None:
    from offchain.net.cluster import run_tls

    program = SqlProgram()
    plan = program.plan(query_program_text(JOIN, REQUESTER), world.catalog())
    secrets = agree_owner_secrets(plan)
    payloads: list[dict] = [{}, {}, {}]
    for index, work in enumerate(plan.inputs):
        arrays = program.owner_inputs(plan, index, world.stores[work.dataset.owner_name],
                                      secrets=secrets[index])
        dealt = deal_arrays(arrays, work.shared, 16)
        for party in range(3):
            payloads[party][f"input{index}"] = dealt[party]
    run = run_tls(_party, plan, PerParty(payloads), timeout=120)
    outputs = {name: reconstruct([run.results[p][name] for p in range(3)])
               for name in run.results[0]}
    assert_same_rows(program.decode(plan, outputs), world.expected(JOIN))
    assert run.stats[0].transcripts[1] == run.stats[1].transcripts[0]


def test_result_prints_as_a_table(world) -> None:
    result = world.run("SELECT id, region FROM bank_a.customers WHERE id <= 2 ORDER BY id")
    text = result.to_text().splitlines()
    assert text[0].split(" | ")[0].strip() == "id" and text[-1] == "(2 rows)"
