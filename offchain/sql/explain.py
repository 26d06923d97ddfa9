"""``unseen query --explain``: the plan's steps, where each runs, and who learns what.

:func:`explain_query` is what the CLI prints; the steps and disclosures are
also stored in the :class:`~offchain.programs.base.Plan` so that owners and
the audit trail see the same text.
"""

from __future__ import annotations

from offchain.programs.base import Catalog, Disclosure, Step
from offchain.sql import ir
from offchain.sql.compiled import CompiledQuery, LocalPredicate
from offchain.sql.ir import render

MPC = "MPC on the 3 compute nodes"


def _owner(compiled: CompiledQuery, table: int) -> str:
    dataset = compiled.tables[table].table.dataset
    return f"owner {dataset.owner_name}, locally"


def _text(expr: ir.Expr | None) -> str:
    if expr is None:
        return ""
    if isinstance(expr, LocalPredicate):
        return f"[{expr.text}]"
    if isinstance(expr, ir.Logical):
        return "(" + f" {expr.operator} ".join(_text(o) for o in expr.operands) + ")"
    if isinstance(expr, ir.Not):
        return f"NOT {_text(expr.operand)}"
    return render(expr)


def describe_steps(compiled: CompiledQuery) -> tuple[Step, ...]:
    steps = []
    for work in compiled.tables:
        dataset = work.table.dataset
        if work.aggregates:
            keys = ", ".join(work.group.columns) if work.group else ""
            labels = ", ".join(a.label() for a in work.aggregates)
            does = f"aggregate all {dataset.row_count} rows of {dataset.reference} in DuckDB"
            if keys:
                does += f" per ({keys}), every group of the table"
            does += f": {labels} and each group's row count"
            if work.filter is not None:
                does += (f", counting only rows where {render(work.filter)} (inside the "
                         "aggregates, literals bound as parameters)")
            does += ("; shuffle the groups and secret-share the per-group results to the 3 "
                     "compute nodes (the owner computes this query's answer on its own data)")
            steps.append(Step(_owner(compiled, work.table.index), does))
            continue
        parts = [f"read all {dataset.row_count} rows of {dataset.reference} in DuckDB"]
        if work.filter is not None:
            parts.append(f"evaluate WHERE {render(work.filter)} into a secret validity bit "
                         "(literals bound as parameters)")
        for predicate in work.predicates:
            parts.append(f"evaluate {render(predicate)} into secret TRUE/FALSE bits")
        if work.values:
            parts.append(f"share {', '.join(work.values)} with NULL flags")
        ranked = work.ranks + (work.group.ranked if work.group is not None else ())
        if ranked:
            parts.append(f"share the ranks of {', '.join(ranked)} among their distinct values "
                         "(text sort keys)")
        if work.texts:
            parts.append(f"share text {', '.join(work.texts)} as UTF-8 words")
        for tag in work.tags:
            parts.append(f"tag join keys ({', '.join(tag.columns)}) with the key agreed for join "
                         f"{tag.join + 1}")
        if work.group is not None:
            parts.append(f"share a one-hot row-to-group matrix over the distinct "
                         f"({', '.join(work.group.columns)}) in random order, and those keys")
        if work.distinct:
            parts.append(f"share equality codes of {', '.join(work.distinct)} for COUNT(DISTINCT)")
        parts.append("shuffle the rows and secret-share everything to the 3 compute nodes")
        steps.append(Step(_owner(compiled, work.table.index), "; ".join(parts)))
    for join in compiled.joins:
        spec = join.join
        right = compiled.tables[spec.table].table
        keys = " AND ".join(f"{a.text} = {b.text}" for a, b in
                            zip(spec.left_keys, spec.right_keys, strict=True))
        does = (f"{spec.kind.upper()} JOIN {right.dataset.reference} ON {keys}: compute node 0 "
                "opens the two tag columns, matches them, and routes the rows of both sides into "
                "joined order by permutations that only it knows (nodes 1 and 2 each see one "
                "random half); duplicate keys on either side are copied by a secret prefix scan")
        if join.index > 0:
            does = "shuffle the joined rows obliviously, then " + does
        if spec.kind == "left":
            does += ("; every left row also gets a NULL-extended row, valid only when no pair "
                     "passes the ON conditions" + (f" {_text(join.pair_condition)}"
                                                  if join.pair_condition is not None else ""))
        steps.append(Step(MPC, does))
    if compiled.where is not None:
        steps.append(Step(MPC, f"evaluate WHERE {_text(compiled.where)} on secret rows "
                               "(three-valued logic) into the validity bit"))
    if compiled.aggregate and not compiled.preaggregated:
        if compiled.group_by:
            keys = ", ".join(render(c) for c in compiled.group_by)
            does = (f"GROUP BY {keys}: group sums as one secret matrix product of the one-hot "
                    "matrices (and their row-wise products when keys come from several tables) "
                    "with the valid rows' values")
        else:
            does = "aggregate over the valid rows"
        labels = ", ".join(a.label() for a in compiled.aggregates)
        if labels:
            does += f"; compute {labels}"
        steps.append(Step(MPC, does))
    if compiled.aggregate:
        keep = []
        if compiled.group_by:
            keep.append("drop empty groups")
        if compiled.min_group_size > 1:
            keep.append(f"drop groups with fewer than {compiled.min_group_size} rows (minimum "
                        "group size for keys revealed after GROUP BY)")
        if compiled.having is not None:
            keep.append(f"HAVING {_text(compiled.having)}")
        if keep:
            steps.append(Step(MPC, "; ".join(keep) + ": a secret keep bit per group; shuffle the "
                                   "groups, open only the keep bits, and keep those groups"))
    else:
        steps.append(Step(MPC, "compute the returned columns per row; shuffle the rows, open "
                               "only the validity bits and keep the valid rows"))
    steps.append(Step(MPC, "each compute node sends its result shares to the requester only"))
    order = ", ".join(f"{compiled.outputs[o.output].name}{' DESC' if o.descending else ''}"
                      for o in compiled.order)
    if compiled.limit is not None:
        if compiled.order:
            does = (f"ORDER BY {order} LIMIT {compiled.limit}: sort the shuffled result rows by "
                    "comparisons opened to the 3 nodes (ties broken by position, so they reveal "
                    f"only a random permutation) and keep the first {compiled.limit}")
        else:
            does = f"LIMIT {compiled.limit}: keep {compiled.limit} of the shuffled result rows"
        steps.insert(len(steps) - 1, Step(MPC, does))
    final = "reconstruct (checking the two copies of every share) and decode"
    if compiled.order:
        final += f"; ORDER BY {order}"
    steps.append(Step("requester, locally", final))
    return tuple(steps)


def describe_disclosures(compiled: CompiledQuery) -> tuple[Disclosure, ...]:
    out = []
    names = ", ".join(c.name for c in compiled.outputs)
    if compiled.aggregate and compiled.group_by:
        what = f"the rows of the result ({names}): one per kept group, and so the number of groups kept"
    elif compiled.aggregate:
        what = f"the single result row ({names})"
    else:
        what = f"the rows of the result ({names}) and their number"
    if compiled.limit is not None:
        what = what.replace("and their number", "")
        what += f"; under LIMIT {compiled.limit} only the first {compiled.limit} rows"
    out.append(Disclosure("requester", what))
    sizes = ", ".join(f"{w.table.dataset.reference}: {w.table.dataset.row_count}"
                      for w in compiled.tables)
    out.append(Disclosure("compute nodes", f"the row counts of the tables (public on chain: {sizes})"))
    for join in compiled.joins:
        out.append(Disclosure(
            "compute nodes",
            f"join {join.index + 1}: the number of joined rows (pairs{' plus one per left row' if join.join.kind == 'left' else ''}) "
            "and the prefix-scan depths, i.e. ceil(log2) of the largest number of rows one key "
            "matches on each side"))
        out.append(Disclosure(
            "compute node 0 (matcher)",
            f"join {join.index + 1}: which shared rows match which (the equality pattern of the "
            "keys, hence how many rows share a key on each side) under the owners' secret "
            "shuffles; never the keys (tags are PRF outputs under a key it does not have). It "
            "must not be an owner of a joined table"))
    for work in compiled.tables:
        if work.group is not None:
            out.append(Disclosure(
                "compute nodes",
                f"the number of distinct ({', '.join(work.group.columns)}) in "
                f"{work.table.dataset.reference} ("
                + ("the number of groups shared)" if work.aggregates
                   else "the one-hot matrix's width)")))
        if work.texts:
            out.append(Disclosure("compute nodes", f"the longest returned text of "
                                                   f"{', '.join(work.texts)} in 8-byte words"))
    if compiled.aggregate and (compiled.group_by or compiled.having is not None):
        out.append(Disclosure("compute nodes", "the number of result groups kept (the keep bits "
                                               "are opened after an oblivious shuffle)"))
    if not compiled.aggregate:
        out.append(Disclosure("compute nodes", "the number of result rows (validity bits are "
                                               "opened after an oblivious shuffle)"))
    out.append(Disclosure("data owners", "nothing about the other tables"))
    return tuple(out)


def explain_query(sql: str, catalog: Catalog, requester: str, min_group_size: int | None = None) -> str:
    """Plan ``sql`` for ``requester`` and return the ``--explain`` text.

    Raises ``UnsupportedQuery``/``InputError``/``PolicyViolation`` exactly as
    submitting the query would.
    """
    from offchain.sql.program import SqlProgram, query_program_text

    program = SqlProgram()
    plan = program.plan(query_program_text(sql, requester, min_group_size), catalog)
    compiled = plan.parameters["compiled"]
    header = [f"query: {compiled.sql.strip()}", f"requester: {requester}"]
    if plan.owner_secrets:
        header.append("owner keys agreed before sharing:")
        header += [f"  {s.name}: owners of inputs {list(s.inputs)} — {s.purpose}"
                   for s in plan.owner_secrets]
    return "\n".join(header) + "\n" + plan.explain()
