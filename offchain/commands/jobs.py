"""``unseen stats``, ``unseen lending check``, ``unseen query`` and ``unseen jobs``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from offchain.cli import EXIT_OK, common_options
from offchain.commands.common import (
    add_job_options,
    member_options,
    node_config,
    requester,
    run_job,
    short,
    table,
)
from offchain.errors import InputError

_STAT_ALIASES = {"variance": "var_pop", "var": "var_pop", "stddev": "stddev_pop", "std": "stddev_pop",
                 "avg": "mean", "average": "mean"}
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|<=|>=|=|<|>|\bin\b|\bbetween\b|\bis_null\b)\s*(.*?)\s*$",
                        re.IGNORECASE)


def register_stats(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats", parents=[member_options()], help="secure statistics over members' datasets",
        description="Example: unseen stats --datasets Northbank.loans,Eastbank.loans --column amount "
        "--stat mean --stat stddev_pop --histogram 0,1000,10000,100000 --where \"region = 'north'\"",
    )
    parser.add_argument("--datasets", required=True, metavar="M.T,M.T", help="member.table list (same column)")
    parser.add_argument("--column", required=True)
    parser.add_argument("--stat", action="append", required=True, metavar="NAME",
                        help="count, sum, mean, var_pop, var_samp, stddev_pop, stddev_samp, min, max, "
                        "histogram, median, quantiles (repeatable or comma-separated)")
    parser.add_argument("--where", action="append", default=[], metavar="CONDITION",
                        help="column op literal; ops = != < <= > >= in between is_null (repeatable: AND)")
    parser.add_argument("--histogram", metavar="E0,E1,...", help="bin edges (with --stat histogram)")
    parser.add_argument("--quantiles", metavar="Q,Q", help="e.g. 0.1,0.9 (with --stat quantiles)")
    parser.add_argument("--bound", type=float, help="public bound on |value| (default from the column type)")
    parser.add_argument("--min-count", type=int, help="reveal nothing below this many values (default 5)")
    add_job_options(parser)
    parser.set_defaults(handler=_stats)


def register_lending(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lending", help="the multi-lending check")
    commands = parser.add_subparsers(dest="lending_command", metavar="SUBCOMMAND")
    commands.required = True
    check = commands.add_parser(
        "check", parents=[member_options()], help="on how many other lenders did applicants apply?",
        description="Counts, per applicant, the other lenders with an application in the last N days. "
        "Only you learn the counts; no one learns the applicants or which lenders hold them.",
    )
    check.add_argument("--applicant", action="append", default=[], metavar="ID", help="repeatable")
    check.add_argument("--applicants-file", metavar="PATH", help="one applicant id per line")
    check.add_argument("--lenders", metavar="M.T,M.T",
                       help="the other lenders' tables (default: every other member's --table)")
    check.add_argument("--table", default="applications", help="dataset name used by --lenders' default")
    check.add_argument("--window", type=int, default=30, metavar="DAYS")
    check.add_argument("--as-of", metavar="YYYY-MM-DD", help="last day of the window (default today)")
    check.add_argument("--batch-size", type=int, help="public bound on applicants (default: their number)")
    check.add_argument("--id-type", choices=("string", "int64"), default="string")
    add_job_options(check)
    check.set_defaults(handler=_lending)


def register_query(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("query", parents=[member_options()], help="secure SQL over members' tables")
    parser.add_argument("sql", help='e.g. "SELECT count(*) FROM Northbank.loans JOIN ..."')
    add_job_options(parser)
    parser.set_defaults(handler=_query)


def register_jobs(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("jobs", help="jobs on chain: status, fees, hashes, trail")
    commands = parser.add_subparsers(dest="jobs_command", metavar="SUBCOMMAND")
    commands.required = True
    listing = commands.add_parser("list", parents=[common_options()], help="the last jobs")
    listing.add_argument("--last", type=int, default=20)
    listing.set_defaults(handler=_jobs_list)
    show = commands.add_parser("show", parents=[common_options()], help="one job: terms, commitments, trail")
    show.add_argument("job_id", type=int)
    show.set_defaults(handler=_jobs_show)


# -- statistics ----------------------------------------------------------------------------------


def parse_condition(text: str) -> list[Any]:
    """``"amount > 100"`` → ``["amount", ">", 100]`` (literals as JSON when they parse, else text)."""
    match = _CONDITION.match(text)
    if not match:
        raise InputError(f"a condition is 'column op literal' (ops = != < <= > >= in between is_null), got {text!r}")
    column, op, literal = match.group(1), match.group(2).lower(), match.group(3)
    if op in ("in", "between"):
        return [column, op, [_literal(part) for part in literal.split(",") if part.strip()]]
    return [column, op, _literal(literal)]


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _numbers(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [json.loads(part) for part in text.split(",") if part.strip()]
    except json.JSONDecodeError:
        raise InputError(f"expected comma-separated numbers, got {text!r}") from None


def _stats(args: argparse.Namespace, console: Console) -> int:
    from offchain.stats.program import statistics_text

    statistics = [_STAT_ALIASES.get(s.strip().lower(), s.strip().lower())
                  for item in args.stat for s in item.split(",") if s.strip()]
    text = statistics_text(
        [d.strip() for d in args.datasets.split(",") if d.strip()], args.column.lower(), statistics,
        filter=[parse_condition(c) for c in args.where] or None, bound=args.bound,
        histogram_edges=_numbers(args.histogram), quantiles=_numbers(args.quantiles), min_count=args.min_count,
    )
    outcome = run_job(console, requester(args), text, None, args)
    if outcome is None:
        return EXIT_OK
    print_statistics(console, outcome.result)
    return EXIT_OK


def print_statistics(console: Console, result: Any) -> None:
    if not result.ok:
        console.print(f"[yellow]withheld: {result.status.replace('_', ' ')} (minimum count {result.min_count})[/]")
        return
    listing = table("result", ["statistic", "value", "error bound"])
    for name in ("count", "sum", "mean", "var_pop", "var_samp", "stddev_pop", "stddev_samp", "min", "max"):
        value = getattr(result, name)
        if value is not None:
            listing.add_row(name, f"{value:,.6g}" if isinstance(value, float) else f"{value:,}",
                            f"{result.error_bounds[name]:.2g}" if name in result.error_bounds else "exact")
    console.print(listing)
    if result.histogram is not None:
        edges = result.histogram_edges
        bins = table("histogram", ["bin", "count"])
        for index, count in enumerate(result.histogram):
            bins.add_row(f"[{edges[index]:g}, {edges[index + 1]:g}{']' if index == len(result.histogram) - 1 else ')'}",
                         f"{count:,}")
        console.print(bins)
    for q, cell in result.quantiles.items():
        where = (f"= {cell.value:g}" if cell.exact else
                 f"in [{cell.low}, {cell.high}) (≈ {cell.value:g} ± {cell.error_bound:g})")
        console.print(f"quantile {q:g} {where}")


# -- lending --------------------------------------------------------------------------------------


def _lending(args: argparse.Namespace, console: Console) -> int:
    from offchain.lending.program import multi_lending_text
    from offchain.node.catalog import ChainCatalog

    config = node_config(args)
    asker = requester(args)
    applicants: list[Any] = list(args.applicant)
    if args.applicants_file:
        applicants += [line.strip() for line in Path(args.applicants_file).read_text().splitlines() if line.strip()]
    if not applicants:
        raise InputError("name at least one applicant: --applicant ID or --applicants-file PATH")
    if args.id_type == "int64":
        try:
            applicants = [int(a) for a in applicants]
        except ValueError:
            raise InputError("--id-type int64 needs integer applicant ids") from None
    lenders = [t.strip() for t in args.lenders.split(",")] if args.lenders else default_lenders(
        ChainCatalog(asker.client), config.member_name, args.table)
    as_of = args.as_of or dt.date.today().isoformat()
    text = multi_lending_text(config.member_name, lenders, as_of=as_of, window_days=args.window,
                              batch_size=args.batch_size or len(set(applicants)), applicants=applicants,
                              id_type=args.id_type)
    outcome = run_job(console, asker, text, {"applicants": applicants}, args)
    if outcome is None:
        return EXIT_OK
    counts = outcome.result.counts_for(applicants)
    listing = table(f"applications in the {args.window} days to {as_of} at {len(lenders)} other lenders",
                    ["applicant", "lenders"])
    for applicant in applicants[:50]:
        listing.add_row(escape(str(applicant)), str(counts[applicant]))
    console.print(listing)
    if len(applicants) > 50:
        console.print(f"… and {len(applicants) - 50} more")
    return EXIT_OK


def default_lenders(catalog: Any, member_name: str, table_name: str) -> list[str]:
    """Every other member's dataset called ``table_name``, as ``member.table``."""
    client = catalog.client
    found = []
    for member in client.consortium.members():
        if member.name.lower() == member_name.lower() or not member.active:
            continue
        if client.catalog.dataset_id_by_name(member.address, table_name):
            found.append(f"{member.name}.{table_name}")
    if not found:
        raise InputError(f"no other member has a dataset named {table_name!r}; pass --lenders")
    return found


# -- query --------------------------------------------------------------------------------------


def _query(args: argparse.Namespace, console: Console) -> int:
    from offchain.programs import registry

    if "sql" not in registry.names():
        raise InputError(
            f"the sql program is not part of this build (programs: {', '.join(registry.names())}); "
            "use `unseen stats` or `unseen lending check`"
        )
    from offchain.sql.program import query_program_text

    asker = requester(args)
    outcome = run_job(console, asker, query_program_text(args.sql, asker.address), None, args)
    if outcome is None:
        return EXIT_OK
    result = outcome.result
    listing = table(f"{len(result.rows)} rows", list(result.columns))
    for row in result.rows[:100]:
        listing.add_row(*(escape(str(v)) for v in row))
    console.print(listing)
    return EXIT_OK


# -- jobs ----------------------------------------------------------------------------------------


def _jobs_list(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.render import render_time
    from offchain.cli import _client
    from offchain.client.trail import job_summary

    client = _client(args)
    count = client.jobs.job_count()
    listing = table(f"last {min(count, args.last)} of {count} jobs",
                    ["job", "kind", "status", "requester", "program", "fee", "created"])
    for job_id in range(count, max(0, count - args.last), -1):
        summary = job_summary(client, job_id)
        job = summary.job
        program = summary.program.split('"program":"', 1)[-1].split('"', 1)[0] if summary.program else ""
        fee = f"{summary.charged:,}/{summary.escrowed:,}" if summary.charged else f"-/{summary.escrowed:,}"
        listing.add_row(str(job_id), job.kind.name.lower(), job.status.name.lower(),
                        escape(client.label_address(job.requester) or job.requester), program, fee,
                        render_time(job.created_at))
    console.print(listing)
    return EXIT_OK


def _jobs_show(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.contract import describe_arguments
    from offchain.chain.render import render_time
    from offchain.cli import _client
    from offchain.client.trail import job_summary

    client = _client(args)
    summary = job_summary(client, args.job_id)
    job = summary.job

    def name(address: str) -> str:
        return client.label_address(address) or address

    console.print(f"[bold]job {job.job_id}[/] {job.kind.name.lower()} — {job.status.name.lower()}; requested by "
                  f"{escape(name(job.requester))} at {render_time(job.created_at)}, deadline {render_time(job.deadline)}")
    console.print(f"program hash {short(job.program_hash)}: {escape(summary.program[:200])}")
    console.print(f"fees: {summary.charged:,} paid of {summary.escrowed:,} escrowed, {summary.refund:,} refunded"
                  + (" — " + ", ".join(f"{escape(k)} {v:,}" for k, v in summary.payouts.items()) if summary.payouts else ""))
    inputs = table("inputs", ["#", "dataset", "owner", "rows used", "input commitment"])
    committed = summary.commitments
    for index, item in enumerate(summary.inputs):
        inputs.add_row(str(index), str(item.dataset_id), escape(name(item.owner)), f"{item.rows_used:,}",
                       short(committed.inputs[index][0]) if index in committed.inputs else "-")
    console.print(inputs)
    nodes = table("compute nodes", ["party", "node", "accepted", "result commitment", "transcript"])
    for party, node in enumerate(summary.nodes):
        transcript = summary.transcripts.get(name(node.account))
        nodes.add_row(str(party), escape(name(node.account)), "yes" if node.accepted else "no",
                      short(committed.results[party][0]) if party in committed.results else "-",
                      short(transcript) if transcript else "-")
    console.print(nodes)
    console.print(f"commitment digest {short(committed.digest)}: the events above reproduce it")
    agree = summary.transcripts_agree
    if agree is not None:
        console.print("session transcripts: " + ("[green]identical at the 3 nodes[/]" if agree else "[red]DIFFER[/]"))
    if summary.decline_reason:
        console.print(f"declined: {escape(summary.decline_reason)}")
    console.print("[bold]trail[/]")
    for event in summary.events:
        arguments = {k: v for k, v in event.args.items() if k not in ("request", "inputTerms")}
        console.print(f"  [dim]{event.block_number}:{event.log_index}[/] {event.contract}.{event.name} "
                      f"{escape(describe_arguments(arguments, client.label_address))}")
    return EXIT_OK
