"""Scripts run by three compute parties on shares, against numpy on the same data in the clear."""

from __future__ import annotations

import numpy as np
import pytest

from offchain.errors import InputError, ResultWithheld
from offchain.programs import registry
from offchain.script.program import ScriptProgram
from offchain.vocabulary import JobKind
from tests.script.conftest import ALIGN, column, make_members

INCOME = column(0, "income", min=0, max=10_000)
DEBT = column(0, "debt", min=0, max=100_000)
LATE = column(0, "late", min=0, max=10)
UNIT = 2.0**-16  # one unit in the last place of the engine's fixed point


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_elementwise_arithmetic_and_nonlinear_functions(members) -> None:
    bank = members.banks[0]
    a, d, late = bank.stored("income"), bank.stored("debt").astype(float), bank.stored("late")
    source = (
        "mixed = where(l > 2, a * 0.5, d / 100) - 3\n"
        "squashed = sigmoid(a / 1000 - 4)\n"
        "grown = exp(a / 5000)\n"
        "root = sqrt(a)\n"
        "logged = log(a + 1)\n"
        "ratio = a / maximum(d, 1.0)\n"
        "bounded = clip(a, 1000, 2000) + abs(a - 5000) + relu(a - 8000)\n"
        "signed = sign(a - 4000)\n"
    )
    result, _, plan = members.run(
        source, {"a": INCOME, "d": DEBT, "l": LATE},
        [("mixed", "fixed"), ("squashed", "fixed"), ("grown", "fixed"), ("root", "fixed"),
         ("logged", "fixed"), ("ratio", "fixed"), ("bounded", "fixed"), ("signed", "integer")],
    )
    expected = {
        "mixed": np.where(late > 2, a * 0.5, d / 100) - 3,
        "squashed": sigmoid(a / 1000 - 4),
        "grown": np.exp(a / 5000),
        "root": np.sqrt(a),
        "logged": np.log(a + 1),
        "ratio": a / np.maximum(d, 1.0),
        "bounded": np.clip(a, 1000, 2000) + np.abs(a - 5000) + np.maximum(a - 8000, 0),
    }
    for name, values in expected.items():
        np.testing.assert_allclose(result[name], values, rtol=2e-4, atol=200 * UNIT, err_msg=name)
    assert result["signed"].tolist() == np.sign(a - 4000).astype(int).tolist()
    assert registry.get("script").kind is JobKind.SCRIPT and plan.kind is JobKind.SCRIPT


def test_reductions_and_exact_integers(members) -> None:
    bank = members.banks[0]
    a, late, active = bank.stored("income"), bank.stored("late"), bank.stored("active")
    result, _, _ = members.run(
        "total = sum(l * 3 + 1)\n"
        "actives = count(active)\n"
        "average = mean(a)\n"
        "spread = std(a / 100)\n"
        "variance = var(a / 100)\n"
        "lowest = min(a)\n"
        "highest = max(l)\n"
        "weighted = dot(a / 1000, l)\n"
        "some = any(l > 4)\n"
        "every = all(a > 0)\n",
        {"a": INCOME, "l": LATE, "active": column(0, "active")},
        [("total", "integer"), ("actives", "integer"), ("average", "fixed"), ("spread", "fixed"),
         ("variance", "fixed"), ("lowest", "fixed"), ("highest", "integer"),
         ("weighted", "fixed"), ("some", "bool"), ("every", "bool")],
    )
    assert result["total"] == int(np.sum(late * 3 + 1))
    assert result["actives"] == int(active.sum())
    assert result["highest"] == int(late.max())
    assert result["some"] is bool(np.any(late > 4)) and result["every"] is True
    assert result["average"] == pytest.approx(a.mean(), abs=4 * UNIT)
    assert result["lowest"] == pytest.approx(a.min(), abs=UNIT)
    assert result["spread"] == pytest.approx((a / 100).std(), rel=1e-3)
    assert result["variance"] == pytest.approx((a / 100).var(), rel=1e-3)
    assert result["weighted"] == pytest.approx(np.dot(a / 1000, late), abs=1e-3)


def test_a_joint_risk_score_across_three_members_with_aligned_rows(members) -> None:
    source = (
        '"""Joint risk: debt at two lenders against income at two others, late payments."""\n'
        "ratio = (debt_a + debt_b) / maximum(income_a + income_c, 100.0)\n"
        "score = sigmoid(2.0 * ratio + 0.5 * late_b - threshold)\n"
        "for i in range(3):\n"
        "    score = score * 0.9 + 0.05\n"
        "high_risk = count(score > 0.7)\n"
        "mean_score = mean(score)\n"
        "scores = score\n"
    )
    inputs = {
        "income_a": column(0, "income", min=0, max=10_000),
        "income_c": column(2, "income", min=0, max=10_000),
        "debt_a": column(0, "debt", min=0, max=100_000),
        "debt_b": column(1, "debt", min=0, max=100_000),
        "late_b": column(1, "late", min=0, max=10),
    }
    result, run, plan = members.run(
        source, inputs, [("high_risk", "integer"), ("mean_score", "fixed"), ("scores", "fixed")],
        values={"threshold": 3.0}, align_by=ALIGN,
        private={"threshold": {"type": "fixed", "min": 0, "max": 10}},
    )
    banks = members.banks  # reference in customer order: rows are aligned by customer_id
    ratio = (banks[0].columns["debt"] + banks[1].columns["debt"]) / np.maximum(
        banks[0].columns["income"] + banks[2].columns["income"], 100.0)
    score = sigmoid(2.0 * ratio + 0.5 * banks[1].columns["late"] - 3.0)
    for _ in range(3):
        score = score * 0.9 + 0.05
    assert result.raise_for_status().rows_aligned is True
    assert result["high_risk"] == int((score > 0.7).sum())
    assert result["mean_score"] == pytest.approx(score.mean(), abs=2e-4)
    np.testing.assert_allclose(result["scores"], score, atol=2e-4)
    measured = max(s.rounds for s in run.stats)
    estimated, _ = plan.parameters["compiled"].circuit.cost()
    assert abs(estimated - measured) <= 0.1 * measured + 2  # the cost model describes the run


def test_rows_that_do_not_align_withhold_every_output() -> None:
    members = make_members(np.random.default_rng(5), count=2, renamed=1)
    inputs = {"a": column(0, "income", min=0, max=10_000), "b": column(1, "income", min=0, max=10_000)}
    result, _, _ = members.run("gap = mean(a - b)", inputs, [("gap", "fixed")],
                               align_by={"bank0.customers": "customer_id",
                                         "bank1.customers": "customer_id"})
    assert result.rows_aligned is False and result.values == {}
    with pytest.raises(ResultWithheld, match="do not hold the same keys"):
        result.raise_for_status()


def test_nulls_need_a_fill_value_and_values_are_clipped_to_their_bounds() -> None:
    members = make_members(np.random.default_rng(6), count=1, nulls=True, shuffle=False)
    with pytest.raises(InputError, match="holds NULL values; the script declares no fill"):
        members.run("r = sum(a)", {"a": column(0, "income", min=0, max=10_000)}, [("r", "fixed")])
    income = members.banks[0].columns["income"].copy()
    income[3] = 1500.0
    result, _, _ = members.run("r = sum(a)\ns = a",
                               {"a": column(0, "income", min=1000, max=5000, fill=1500)},
                               [("r", "fixed"), ("s", "fixed")])
    clipped = np.clip(income, 1000, 5000)
    np.testing.assert_allclose(result["s"], clipped, atol=UNIT)
    assert result["r"] == pytest.approx(clipped.sum(), abs=60 * UNIT)


def test_private_inputs_of_the_requester(members) -> None:
    bank = members.banks[0]
    a, late = bank.stored("income"), bank.stored("late")
    weights = np.array([0.5, -1.25, 2.0])
    private = {"w": {"type": "fixed", "length": 3, "min": -5, "max": 5},
               "cut": {"type": "integer", "min": 0, "max": 10}}
    source = "r = w[0] * mean(a) / 1000 + w[1] * mean(l) + w[2]\nn = count(l >= cut)"
    inputs = {"a": INCOME, "l": LATE}
    outputs = [("r", "fixed"), ("n", "integer")]
    result, _, plan = members.run(source, inputs, outputs, values={"w": weights, "cut": 3},
                                  private=private)
    program = ScriptProgram()
    expected = weights[0] * a.mean() / 1000 + weights[1] * late.mean() + weights[2]
    assert result["r"] == pytest.approx(expected, abs=1e-3)
    assert result["n"] == int((late >= 3).sum())
    with pytest.raises(InputError, match="outside its declared"):
        program.requester_inputs(plan, {"w": np.array([9.0, 0, 0]), "cut": 3})
    with pytest.raises(InputError, match="must have shape"):
        program.requester_inputs(plan, {"w": np.array([1.0]), "cut": 3})


def test_loops_unroll_into_the_same_computation(members) -> None:
    a = members.banks[0].stored("income")
    result, _, plan = members.run(
        "x = a / 10000\nacc = 0\nfor i in range(6):\n    if i % 2 == 0:\n        acc = acc + x * i\n"
        "    else:\n        acc = acc - x / (i + 1)\n    if i == 4:\n        break\nr = acc",
        {"a": INCOME}, [("r", "fixed")])
    x, acc = a / 10000, 0.0
    for i in range(5):
        acc = acc + x * i if i % 2 == 0 else acc - x / (i + 1)
    np.testing.assert_allclose(result["r"], acc, atol=1e-4)
