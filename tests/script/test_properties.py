"""Property-based tests of the script checker: it answers any text with a checked circuit or a
located ScriptError; its ranges contain every value; its exposures name exactly the columns used;
and compiled circuits compute, on shares, what numpy computes in the clear."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offchain.errors import ScriptError
from tests.script.conftest import column, make_members

MEMBERS = make_members(np.random.default_rng(77), count=1, rows=24, shuffle=False)
BANK = MEMBERS.banks[0]
INPUTS = {"a": column(0, "income", min=0, max=10_000), "l": column(0, "late", min=0, max=10)}
DATA = {"a": BANK.columns["income"].astype(float), "l": BANK.columns["late"].astype(float)}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# -- any text -----------------------------------------------------------------------------

_TOKENS = st.sampled_from(
    ["r", "=", "a", "l", "+", "-", "*", "/", "**", "(", ")", "[", "]", ":", ",", ".", "\n",
     "    ", "for", "i", "in", "range", "(10)", "if", "else", "while", "import", "os", "lambda",
     "def", "sum", "mean", "where", ">", "==", "and", "not", "1", "2.5", "1e308", "'s'",
     "__class__", "open", "zeros", "(10**9)", "exp", "sqrt", "yield", "@", "break"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKENS, max_size=30))
def test_any_token_soup_gives_a_plan_or_a_located_script_error(tokens) -> None:
    source = " ".join(tokens)
    names = {name: binding for name, binding in INPUTS.items() if name in tokens}
    try:
        MEMBERS.plan(source, names or {"a": INPUTS["a"]}, [("r", "fixed")])
    except ScriptError as error:
        assert error.reason
        assert error.line is None or 1 <= error.line <= source.count("\n") + 1


# -- random expressions ---------------------------------------------------------------------

@st.composite
def expressions(draw, depth=0):
    """A pair (script expression, numpy function of the data) over vectors a and l."""
    if depth >= 3 or draw(st.integers(0, 3)) == 0:
        choice = draw(st.sampled_from(["a", "l", "constant"]))
        if choice == "constant":
            value = draw(st.sampled_from([-3, -1, 0, 1, 2, 7, 0.5, 1.25, -2.5]))
            return repr(value), (lambda data, v=value: np.full(24, float(v))), set()
        return choice, (lambda data, c=choice: data[c]), {choice}
    kind = draw(st.sampled_from(["+", "-", "scale", "minimum", "maximum", "abs", "relu",
                                 "where", "neg", "sigmoid"]))
    left_text, left, left_names = draw(expressions(depth + 1))
    if kind in ("abs", "relu", "neg", "sigmoid"):
        text = {"abs": f"abs({left_text})", "relu": f"relu({left_text})", "neg": f"(-{left_text})",
                "sigmoid": f"sigmoid({left_text} / 10000)"}[kind]
        function = {"abs": lambda d: np.abs(left(d)), "relu": lambda d: np.maximum(left(d), 0),
                    "neg": lambda d: -left(d), "sigmoid": lambda d: sigmoid(left(d) / 10000)}[kind]
        return text, function, left_names
    if kind == "scale":
        factor = draw(st.sampled_from([0.5, 3, -2, 0.001, 1.5]))
        return f"({left_text} * {factor!r})", (lambda d: left(d) * factor), left_names
    right_text, right, right_names = draw(expressions(depth + 1))
    names = left_names | right_names
    if kind in ("+", "-"):
        sign = 1 if kind == "+" else -1
        return f"({left_text} {kind} {right_text})", (lambda d: left(d) + sign * right(d)), names
    if kind in ("minimum", "maximum"):
        function = np.minimum if kind == "minimum" else np.maximum
        return f"{kind}({left_text}, {right_text})", (lambda d: function(left(d), right(d))), names
    third_text, third, third_names = draw(expressions(depth + 1))
    return (f"where({left_text} > {right_text}, {right_text}, {third_text})",
            lambda d: np.where(left(d) > right(d), right(d), third(d)), names | third_names)


def _plan(text: str, names: set[str], reduction: str):
    if not names:  # a constant: make it a vector over the rows
        text, names = f"({text} + 0 * a)", {"a"}
    body = f"r = {reduction}({text})" if reduction else f"r = {text}"
    return MEMBERS.plan(body, {n: INPUTS[n] for n in sorted(names)}, [("r", "fixed")]), names


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), st.sampled_from(["", "sum", "mean", "max"]),
       st.integers(min_value=0, max_value=2**32 - 1))
def test_ranges_contain_every_value_and_exposures_name_exactly_the_columns(expression, reduction,
                                                                          seed) -> None:
    text, function, names = expression
    plan, names = _plan(text, names, reduction)
    compiled = plan.parameters["compiled"]
    interval = compiled.intervals["r"]
    rng = np.random.default_rng(seed)
    for data in (DATA, {"a": rng.uniform(0, 10_000, 24), "l": rng.integers(0, 11, 24).astype(float)}):
        values = function(data)
        values = {"": values, "sum": values.sum(), "mean": values.mean(), "max": values.max()}[reduction]
        slack = 1e-9 * max(1.0, interval.magnitude)
        assert np.all(values >= interval.low - slack) and np.all(values <= interval.high + slack)
    used = {use.column for use in plan.uses}
    assert used == {{"a": "income", "l": "late"}[n] for n in names}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), st.sampled_from(["", "sum", "mean", "max"]))
def test_circuits_compute_on_shares_what_numpy_computes(expression, reduction) -> None:
    text, function, names = expression
    plan, names = _plan(text, names, reduction)
    from offchain.programs.local import run_program_locally
    from offchain.script.program import ScriptProgram

    result, _ = run_program_locally(ScriptProgram(), plan, [BANK.store])
    values = function(DATA)
    expected = {"": values, "sum": values.sum(), "mean": values.mean(), "max": values.max()}[reduction]
    scale = 1.0 + float(np.max(np.abs(expected)))
    np.testing.assert_allclose(result["r"], expected, rtol=1e-4, atol=1e-3 * scale)
