"""The multi-lending check end to end, against DuckDB over the lenders' union in the clear."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from offchain.errors import InputError
from offchain.lending.encoding import LENDER_DUMMY, REQUESTER_DUMMY
from offchain.lending.local import lender_array, requester_arrays
from offchain.lending.program import MultiLendingProgram
from offchain.programs import registry
from offchain.programs.base import canonical_program_text
from offchain.vocabulary import ConstraintLevel, JobKind

from .conftest import AS_OF, WINDOW, Lenders, application_tables, make_lenders


def busiest(lenders: Lenders) -> str:
    (applicant,) = lenders.reference.execute(
        "SELECT applicant_id FROM u WHERE applicant_id IS NOT NULL AND CAST(applied_on AS DATE) BETWEEN ? AND ? "
        "GROUP BY applicant_id "
        "ORDER BY count(DISTINCT lender) DESC, applicant_id LIMIT 1",
        [AS_OF - dt.timedelta(days=WINDOW - 1), AS_OF],
    ).fetchone()
    return applicant


def test_one_applicant_at_several_lenders_and_one_absent_everywhere(lenders: Lenders) -> None:
    applicant = busiest(lenders)
    assert lenders.truth(applicant) >= 2
    counts, plan, _ = lenders.ask([applicant])
    assert plan.parameters["spec"].mode == "direct"
    assert counts == {applicant: lenders.truth(applicant)}
    counts, _, _ = lenders.ask(["NOBODY-ANYWHERE"])
    assert counts == {"NOBODY-ANYWHERE": 0}


def test_a_batch_of_1000_in_the_hashed_layout(lenders: Lenders) -> None:
    rng = np.random.default_rng(5)
    applicants = [
        f"A{int(v):05d}" for v in rng.choice(600, 999, replace=True)
    ]  # some twice, some nobody has
    applicants.append(busiest(lenders))
    counts, plan, run = lenders.ask(applicants, batch_size=1000)
    spec = plan.parameters["spec"]
    assert spec.mode == "hashed" and spec.slots == 1271
    assert counts == {a: lenders.truth(a) for a in applicants}
    assert {0, 1, 2}.issubset(set(counts.values()))
    assert spec.comparisons < 1000 * sum(d.row_count for d in lenders.datasets)


def test_direct_layout_for_a_few_applicants_with_duplicates_in_the_request(
    lenders: Lenders,
) -> None:
    applicant = busiest(lenders)
    counts, plan, _ = lenders.ask([applicant, "A00001", applicant], batch_size=2)
    assert plan.parameters["spec"].mode == "direct"
    assert counts == {applicant: lenders.truth(applicant), "A00001": lenders.truth("A00001")}


def test_the_window_includes_as_of_and_n_days_back_exactly() -> None:
    days = [
        AS_OF,
        AS_OF - dt.timedelta(days=WINDOW - 1),
        AS_OF - dt.timedelta(days=WINDOW),
        AS_OF + dt.timedelta(days=1),
    ]
    tables = [
        {"applicant_id": [f"P{i}"], "applied_on": [day.isoformat()], "amount": [1.0]}
        for i, day in enumerate(days)
    ]
    tables += [
        {"applicant_id": ["P0", "P1"], "applied_on": [AS_OF.isoformat()] * 2, "amount": [1.0, 1.0]}
    ]
    lenders = make_lenders(tables)
    counts, _, _ = lenders.ask(["P0", "P1", "P2", "P3"], batch_size=4)
    assert counts == {"P0": 2, "P1": 2, "P2": 0, "P3": 0}


def test_integer_ids_and_a_timestamp_date_column() -> None:
    rng = np.random.default_rng(8)
    tables = []
    for size in (80, 120, 60):
        ids = [int(v) for v in rng.integers(-5, 150, size)]
        stamps = [
            f"{(AS_OF - dt.timedelta(days=int(d))).isoformat()} 23:59:59"
            for d in rng.integers(0, 60, size)
        ]
        tables.append({"applicant_id": ids, "applied_on": stamps, "amount": [5.0] * size})
    lenders = make_lenders(tables, id_type="int64", date_types=["timestamp", "date", "timestamp"])
    lenders.reference.execute(
        "UPDATE u SET applied_on = date_trunc('day', applied_on) WHERE lender = 1"
    )
    applicants = [-5, 0, 7, 149, 10**12]
    counts, _, _ = lenders.ask(applicants, batch_size=8)
    assert counts == {a: lenders.truth(a) for a in applicants}


def test_ids_compare_after_unicode_normalisation() -> None:
    composed, decomposed = "Bj\u00f6rn-1", "Bjo\u0308rn-1"
    tables = [
        {"applicant_id": [decomposed], "applied_on": [AS_OF.isoformat()], "amount": [1.0]},
        {"applicant_id": [composed], "applied_on": [AS_OF.isoformat()], "amount": [1.0]},
    ]
    counts, _, _ = make_lenders(tables).ask([composed])
    assert counts == {composed: 2}


def test_sizes_seen_by_compute_nodes_do_not_depend_on_the_data(lenders: Lenders) -> None:
    program = MultiLendingProgram()
    text = lenders.text(["A00001", "A00002", "A00003"], batch_size=600)
    plan = program.plan(text, lenders.catalog)
    spec = plan.parameters["spec"]
    assert spec.mode == "hashed"
    for index, store in enumerate(lenders.stores):
        keys = lender_array(spec, index, store)
        assert keys.shape == (spec.padded_length(index),)
        # the lender with no application in the window shares only dummies
        assert (np.all(keys >= LENDER_DUMMY)) == (index == 3)
    arrays = requester_arrays(spec, ["A00001"])
    assert arrays["queries"].shape == (spec.slots,)
    assert np.count_nonzero(arrays["queries"] < REQUESTER_DUMMY) == 1
    # the same job over other data of the same registered sizes moves exactly as many bytes
    other = make_lenders(
        application_tables(np.random.default_rng(99), [d.row_count for d in lenders.datasets])
    )
    first = lenders.ask(["A00001"], batch_size=600)[2]
    second = other.ask(["A00002"], batch_size=600)[2]
    assert [s.bytes_sent for s in first.stats] == [s.bytes_sent for s in second.stats]
    assert [s.rounds for s in first.stats] == [s.rounds for s in second.stats]


def test_plans_are_deterministic_and_declare_compare_uses(lenders: Lenders) -> None:
    text = lenders.text(["A00001"], batch_size=50)
    program = registry.get("multi_lending")
    first, second = program.plan(text, lenders.catalog), program.plan(text, lenders.catalog)
    assert first == second and first.explain() == second.explain()
    assert first.kind is JobKind.QUERY
    assert {(u.column, u.required) for u in first.uses} == {
        ("applicant_id", ConstraintLevel.PLAINTEXT_AFTER_COMPARE),
        ("applied_on", ConstraintLevel.PLAINTEXT_AFTER_COMPARE),
    }
    assert len(first.uses) == 2 * len(lenders.datasets)
    assert "A00001" not in text and "A00001" not in first.explain()


def test_requester_inputs_are_checked(lenders: Lenders) -> None:
    program = MultiLendingProgram()
    plan = program.plan(lenders.text(["A1", "A2"], batch_size=2), lenders.catalog)
    with pytest.raises(InputError, match="exceed the job's batch_size of 2"):
        program.requester_inputs(plan, {"applicants": ["A1", "A2", "A3"]})
    with pytest.raises(InputError, match="empty"):
        program.requester_inputs(plan, {"applicants": []})
    with pytest.raises(InputError, match="one private parameter"):
        program.requester_inputs(plan, {"applicant": ["A1"]})
    with pytest.raises(InputError, match="strings here"):
        program.requester_inputs(plan, {"applicants": [17]})


def test_results_are_read_against_the_same_applicants(lenders: Lenders) -> None:
    program = MultiLendingProgram()
    plan = program.plan(lenders.text(["A00001", "A00002"], batch_size=40), lenders.catalog)
    from offchain.programs.local import run_program_locally

    result, _ = run_program_locally(
        program, plan, lenders.stores, private={"applicants": ["A00001", "A00002"]}
    )
    assert result.counts_for(["A00002", "A00001"])["A00001"] == lenders.truth("A00001")
    with pytest.raises(InputError, match="not the ones this job was asked about"):
        result.counts_for(["A00001"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"datasets": ["lender0.applications", "asker.applications"]}, "belong to the requester"),
        ({"datasets": ["lender0.applications"]}, "min_lenders is 2"),
        ({"datasets": ["lender0.applications", "lender0.applications"]}, "distinct"),
        ({"window_days": 0}, r"window_days must be an integer in \[1, 3660\]"),
        ({"batch_size": 100_001}, r"batch_size must be an integer in \[1, 100000\]"),
        ({"as_of": "30/06/2024"}, "YYYY-MM-DD"),
        ({"seed": "abc"}, "32 lowercase hex"),
        ({"id_column": "amount"}, "must be one of string, int64"),
        ({"date_column": "nowhere"}, "has no column 'nowhere'"),
        ({"id_key": "00"}, "64 lowercase hex"),
        ({"applicant": "A1"}, "unknown multi_lending parameters"),
    ],
)
def test_bad_parameters_are_refused(lenders: Lenders, change, message) -> None:
    asker = replace(lenders.datasets[0], dataset_id=99, owner_name="asker")
    catalog = type(lenders.catalog)([*lenders.datasets, asker])
    parameters = {
        "requester": "asker",
        "datasets": lenders.references,
        "as_of": "2024-06-30",
        "window_days": 30,
        "batch_size": 10,
        "seed": "0" * 32,
    }
    parameters.update(change)
    with pytest.raises(InputError, match=message):
        MultiLendingProgram().plan(canonical_program_text("multi_lending", 1, parameters), catalog)


def test_id_types_must_agree_across_lenders(lenders: Lenders) -> None:
    numeric = make_lenders(
        [{"applicant_id": [1], "applied_on": ["2024-06-01"], "amount": [1.0]}], id_type="int64"
    )
    mixed = [
        lenders.datasets[0],
        replace(numeric.datasets[0], dataset_id=50, owner_name="lender50"),
    ]
    text = canonical_program_text(
        "multi_lending",
        1,
        {
            "requester": "asker",
            "datasets": [d.reference for d in mixed],
            "as_of": "2024-06-30",
            "window_days": 30,
            "batch_size": 1,
            "seed": "0" * 32,
        },
    )
    with pytest.raises(InputError, match="encoded the same way"):
        MultiLendingProgram().plan(text, type(lenders.catalog)(mixed))


def test_local_tables_larger_than_registered_are_refused(lenders: Lenders) -> None:
    shrunk = [replace(d, row_count=d.row_count - 1) for d in lenders.datasets]
    tight = Lenders(lenders.stores, shrunk, lenders.reference)
    with pytest.raises(InputError, match="registered"):
        tight.ask(["A00001"])
