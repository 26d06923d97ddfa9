"""The local runner plays every role of a job exactly as the node does."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.errors import InputError, ShareMismatch
from offchain.programs.base import (
    DatasetInfo,
    InputPlan,
    OutputSpec,
    Plan,
    SharedArray,
    canonical_program_text,
    parse_program_text,
    program_parameters,
)
from offchain.programs.catalog import ALL_MEMBERS, StaticCatalog
from offchain.programs.local import run_program_locally
from offchain.vocabulary import ConstraintLevel, JobKind

SCHEMA = Schema.of([("amount", "int64")])


class WeightedTotal:
    """Total of every owner's column plus the requester's secret offset, times a public weight."""

    name: ClassVar[str] = "weighted_total_test"
    kind: ClassVar[JobKind] = JobKind.STATISTICS

    def plan(self, text: str, catalog: StaticCatalog) -> Plan:
        _, _, parameters = parse_program_text(text)
        inputs = tuple(
            InputPlan(catalog.dataset(ref), ("amount",), "SELECT sum(amount)",
                      (SharedArray("total", "integer", 1),))
            for ref in parameters["datasets"]
        )
        return Plan(program=self.name, kind=self.kind, text=text, inputs=inputs, uses=(),
                    outputs=(OutputSpec("result", "integer", "weighted total"),),
                    requester_shared=(SharedArray("offset", "integer", 1),),
                    parameters=parameters)

    def owner_inputs(self, plan, input_index, store: LocalStore):
        table = plan.inputs[input_index].dataset.name
        total = store.query(f"SELECT sum(amount)::BIGINT AS t FROM {table}")["t"]
        return {"total": np.asarray(total, dtype=np.int64)}

    def requester_inputs(self, plan, private):
        return {"offset": np.array([private["offset"]], dtype=np.int64)}

    def compute(self, runtime, plan, inputs):
        total = inputs[("requester", "offset")]
        for index in range(len(plan.inputs)):
            total = total + inputs[(f"input{index}", "total")]
        return {"result": total * plan.parameters["weight"]}

    def decode(self, plan, outputs):
        return int(outputs["result"][0])


def _store(values: list[int]) -> LocalStore:
    store = LocalStore()
    store.create_table("loans", SCHEMA, {"amount": values})
    return store


def _datasets() -> list[DatasetInfo]:
    return [DatasetInfo(i + 1, f"0x{i + 1:040x}", f"bank{i}", "loans", SCHEMA, 3, b"\0" * 32)
            for i in range(2)]


def test_every_role_runs_and_the_result_is_exact() -> None:
    catalog = StaticCatalog(_datasets())
    text = canonical_program_text(WeightedTotal.name, 1,
                                  {"datasets": ["bank0.loans", "bank1.loans"], "weight": -3})
    program = WeightedTotal()
    plan = program.plan(text, catalog)
    result, run = run_program_locally(program, plan, [_store([1, 2, 3]), _store([10, -20])],
                                      private={"offset": 7})
    assert result == -3 * (1 + 2 + 3 + 10 - 20 + 7)
    assert all(s.rounds == 0 for s in run.stats)  # additions and public products are local


def test_program_text_must_be_canonical() -> None:
    text = canonical_program_text("p", 1, {"b": 1, "a": [1, 2]})
    assert parse_program_text(text) == ("p", 1, {"b": 1, "a": [1, 2]})
    with pytest.raises(InputError, match="canonical"):
        parse_program_text('{"program": "p", "version": 1, "parameters": {}}')
    with pytest.raises(InputError, match="must be"):
        parse_program_text('{"program":"p"}')


def test_a_planner_reads_only_its_own_program_and_version() -> None:
    text = canonical_program_text("statistics", 1, {"a": 1})
    assert program_parameters(text, "statistics", 1) == {"a": 1}
    with pytest.raises(InputError, match="reads sql version 1, not statistics version 1: send the text to the statistics planner"):
        program_parameters(text, "sql", 1)
    with pytest.raises(InputError, match="reads statistics version 2, not statistics version 1"):
        program_parameters(text, "statistics", 2)


def test_catalog_levels_follow_the_chain_rules() -> None:
    owner = "0x" + "0" * 39 + "1"
    grantee, other = "0x" + "a" * 40, "0x" + "b" * 40
    catalog = StaticCatalog(_datasets(), {
        (1, "amount", ALL_MEMBERS): ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE,
        (1, "amount", grantee): ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
    })
    assert catalog.level(1, "amount", grantee) is ConstraintLevel.PLAINTEXT_AFTER_COMPARE
    assert catalog.level(1, "amount", other) is ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE
    assert catalog.level(2, "amount", other) is ConstraintLevel.ENCRYPTED_ONLY
    assert catalog.level(1, "amount", owner) is ConstraintLevel.PLAINTEXT
    with pytest.raises(InputError, match="unknown dataset"):
        catalog.dataset("bank9.loans")
    with pytest.raises(InputError, match="no column"):
        catalog.level(1, "missing", other)


def test_tampered_export_is_caught_when_reconstructing() -> None:
    from offchain.mpc.opening import reconstruct
    from offchain.mpc.sharing import deal

    payloads = list(deal(np.arange(4), kind="integer"))
    honest = reconstruct(payloads)
    assert honest.tolist() == [0, 1, 2, 3]
    # A payload dealt for a different value breaks agreement between holders.
    forged = deal(np.arange(4) + 1, kind="integer")[1]
    with pytest.raises(ShareMismatch):
        reconstruct([payloads[0], forged, payloads[2]])
