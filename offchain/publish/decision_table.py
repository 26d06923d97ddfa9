"""Decision tables: a declarative rule set (named values, then conditions → outputs).

A decision table is the first-class alternative to a rule script::

    {"format": "decision_table",
     "let": [
       {"name": "visits", "value": "count(r.kind == 'visit' and r.date >= claim_date - 90 for r in rows)"},
       {"name": "drug_cost", "value": "sum(r.amount for r in rows if r.kind == 'prescription')"}
     ],
     "rules": [
       {"when": "visits == 0", "then": {"approved": false, "amount": "0"}},
       {"when": "treatment in covered", "then": {"approved": true,
                                                  "amount": "round(min(claimed, drug_cost * 0.8), 2)"}}
     ],
     "otherwise": {"approved": false, "amount": "0"}}

``let`` entries are evaluated in order, each may use the arguments,
``rows`` and the earlier entries. Rules are tried in order and the *first*
whose ``when`` holds gives every output (hit policy FIRST, as in DMN);
``otherwise`` applies when none holds. Conditions and output values are
expressions of the rules language (:mod:`offchain.publish.rules`); a
``then`` value may also be a JSON boolean or integer.

The table is checked expression by expression — errors name the entry,
``rules[1].then.amount, column 12: ...`` — and compiled into an equivalent
rule script, which the sandbox evaluates like any other; errors during
evaluation are mapped back to the entry they come from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from offchain.errors import InputError, RuleFailed, ScriptError
from offchain.publish.rules import FUNCTIONS, ROWS, check_expression, check_rules

MAX_LET = 64
MAX_RULES = 256
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class CompiledTable:
    """A decision table as a rule script, with the origin of each generated line."""

    source: str
    origins: dict[int, tuple[str, int]]  # generated line -> (entry, column offset of the expression)

    def locate(self, error: RuleFailed) -> RuleFailed:
        """Return ``error`` re-located from the generated script to the table entry."""
        origin = self.origins.get(error.line) if error.line is not None else None
        if origin is None:
            return error
        where, offset = origin
        column = error.column - offset if error.column is not None else None
        return RuleFailed(error.reason, None, column if column and column > 0 else None, where)


def _expression(value: Any, where: str, allow_literals: bool) -> str:
    if isinstance(value, str):
        if "\n" in value or "\r" in value:
            raise ScriptError("an expression is one line", where=where)
        return value
    if allow_literals and isinstance(value, bool):
        return "True" if value else "False"
    if allow_literals and isinstance(value, int):
        return str(value)
    raise ScriptError(
        f"expected an expression as text{' (or a boolean or integer)' if allow_literals else ''}, "
        f"got {value!r:.40}; write decimals as text, e.g. \"0.8\"",
        where=where,
    )


def compile_table(table: Any, arguments: Sequence[str], outputs: Sequence[str],
                  fields: Sequence[str]) -> CompiledTable:
    """Check a decision table and compile it to a rule script (see the module docstring)."""
    if not isinstance(table, dict):
        raise InputError("a decision table is an object with let, rules and otherwise")
    unknown = sorted(set(table) - {"format", "let", "rules", "otherwise"})
    if unknown:
        raise InputError(f"unknown decision table keys {unknown}; use let, rules, otherwise")
    lets = table.get("let", [])
    rules = table.get("rules")
    otherwise = table.get("otherwise")
    if not isinstance(lets, list) or len(lets) > MAX_LET:
        raise InputError(f"let must be a list of at most {MAX_LET} entries")
    if not isinstance(rules, list) or not 1 <= len(rules) <= MAX_RULES:
        raise InputError(f"rules must be a list of 1 to {MAX_RULES} rules")
    if not isinstance(otherwise, dict):
        raise InputError("otherwise must give every output: {\"output\": expression, ...}")

    names = set(arguments) | {ROWS}
    lines: list[str] = []
    origins: dict[int, tuple[str, int]] = {}

    def emit(text: str, where: str | None = None, offset: int = 0) -> None:
        lines.append(text)
        if where is not None:
            origins[len(lines)] = (where, offset)

    for index, entry in enumerate(lets):
        where = f"let[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"name", "value"}:
            raise InputError(f"{where} must be {{\"name\": ..., \"value\": expression}}")
        name = entry["name"]
        if not isinstance(name, str) or not _NAME.match(name):
            raise ScriptError(f"name {name!r} must be lower-case letters, digits and underscores",
                              where=where)
        if name in names or name in FUNCTIONS or name in outputs:
            raise ScriptError(f"name {name!r} is already an argument, a let entry, an output, "
                              "rows or a function", where=where)
        value = _expression(entry["value"], f"{where}.value", allow_literals=False)
        check_expression(value, names, fields, where=f"{where}.value")
        names.add(name)
        prefix = f"{name} = "
        emit(prefix + value, f"{where}.value", len(prefix))

    def emit_outputs(then: Any, where: str, indent: str) -> None:
        if not isinstance(then, dict) or sorted(then) != sorted(outputs):
            got = sorted(then) if isinstance(then, dict) else then
            raise ScriptError(f"must give exactly the outputs {list(outputs)}, got {got!r:.80}",
                              where=where)
        for output in outputs:
            value = _expression(then[output], f"{where}.{output}", allow_literals=True)
            check_expression(value, names, fields, where=f"{where}.{output}")
            prefix = f"{indent}{output} = "
            emit(prefix + value, f"{where}.{output}", len(prefix))

    for index, rule in enumerate(rules):
        where = f"rules[{index}]"
        if not isinstance(rule, dict) or set(rule) != {"when", "then"}:
            raise InputError(f"{where} must be {{\"when\": condition, \"then\": {{outputs}}}}")
        condition = _expression(rule["when"], f"{where}.when", allow_literals=False)
        check_expression(condition, names, fields, where=f"{where}.when")
        prefix = "if " if index == 0 else "elif "
        emit(f"{prefix}{condition}:", f"{where}.when", len(prefix))
        emit_outputs(rule["then"], f"{where}.then", "    ")
    emit("else:")
    emit_outputs(otherwise, "otherwise", "    ")
    source = "\n".join(lines) + "\n"
    check_rules(source, list(arguments), list(outputs), list(fields), where="decision table")
    return CompiledTable(source, origins)
