"""The ``unseen audit`` command group.

=================================  ===================================================
command                            does
=================================  ===================================================
``unseen audit [filters]``         rebuild everything from events, run every check,
                                   print the report; ``--json FILE|-``, ``--csv DIR``
``unseen audit verify-job JOB``    one job's hashes, fees, steps and verdict;
                                   ``--evidence FILE`` checks published result payloads
``unseen audit suspend ADDRESS``   suspend a member (regulator or admin key)
``unseen audit freeze DATASET``    freeze a dataset (regulator key); ``unfreeze``
``unseen audit resolve JOB``       resolve a dispute: ``--refund`` or ``--pay``
``unseen audit serve``             the read-only web page, following the chain live
=================================  ===================================================

Exit status of ``unseen audit`` and ``verify-job``: 0 when every check passed
in the report's scope, :data:`EXIT_CHECK_FAILED` (3) when a check failed (an
``error`` finding), so a regulator's automation can tell "the audit found a
problem" from "the audit could not run" (1) and "bad usage" (2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from offchain.audit.findings import Finding, Severity
from offchain.audit.report import (
    AuditFilter,
    AuditReport,
    job_dict,
    parse_time,
    resolve_dataset,
    resolve_member,
)
from offchain.errors import InputError

EXIT_OK = 0
EXIT_CHECK_FAILED = 3
DEFAULT_PORT = 8650

_MARK = {Severity.ERROR: "[bold red]error[/]", Severity.WARNING: "[yellow]warning[/]", Severity.INFO: "[dim]info[/]"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``unseen audit`` and its subcommands."""
    from offchain.cli import common_options

    common = common_options()
    parser = subparsers.add_parser(
        "audit", parents=[common], help="rebuild and verify everything from the chain; regulator actions",
        description="Rebuild the consortium's whole history from contract events, check it, and report it. "
        "Without a subcommand: the report. Exit status 3 when a check fails.")
    _add_report_options(parser)
    parser.set_defaults(handler=_report)
    commands = parser.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")

    verify = commands.add_parser("verify-job", parents=[common], help="one job: every hash, fee, step, verdict")
    verify.add_argument("job_id", type=int, metavar="JOB")
    verify.add_argument("--evidence", metavar="FILE",
                        help="result evidence published by the requester (payloads + nonces, JSON)")
    verify.add_argument("--json", metavar="FILE", help="write the job and verdict as JSON ('-': stdout)")
    verify.add_argument("--no-views", action="store_true", help="skip the comparison with the contracts' views")
    verify.set_defaults(handler=_verify_job)

    suspend = commands.add_parser("suspend", parents=[common], help="suspend a member (regulator or admin key)")
    suspend.add_argument("member", metavar="MEMBER", help="address or name")
    suspend.add_argument("--reason", required=True, help="why, in words (or a URI / hash of the decision)")
    suspend.set_defaults(handler=_suspend)

    freeze = commands.add_parser("freeze", parents=[common], help="freeze a dataset (regulator key)")
    freeze.add_argument("dataset", metavar="DATASET", help="dataset id or name")
    freeze.add_argument("--reason", required=True, help="why, in words (or a URI / hash of the decision)")
    freeze.set_defaults(handler=_freeze)
    unfreeze = commands.add_parser("unfreeze", parents=[common], help="unfreeze a dataset (regulator key)")
    unfreeze.add_argument("dataset", metavar="DATASET", help="dataset id or name")
    unfreeze.set_defaults(handler=_unfreeze)

    resolve = commands.add_parser("resolve", parents=[common], help="resolve a disputed job (regulator or admin)")
    resolve.add_argument("job_id", type=int, metavar="JOB")
    outcome = resolve.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--refund", action="store_true", help="refund the whole escrow to the requester")
    outcome.add_argument("--pay", action="store_true", help="pay the committed work, refund the rest")
    resolve.set_defaults(handler=_resolve)

    serve = commands.add_parser("serve", parents=[common], help="read-only web page following the chain live")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument("--poll", type=float, default=2.0, metavar="SECONDS",
                       help="how often to read new blocks (default 2 s)")
    serve.add_argument("--no-views", action="store_true", help="skip the comparison with the contracts' views")
    serve.add_argument("--confirmations", type=int, default=0,
                       help="stay this many blocks below the head (0 for anvil and BFT chains)")
    serve.set_defaults(handler=_serve)


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--member", metavar="MEMBER", help="only jobs involving this member (address or name)")
    parser.add_argument("--dataset", metavar="DATASET", help="only jobs using this dataset (id or name)")
    parser.add_argument("--since", metavar="TIME", help="only jobs requested at or after TIME "
                        "(ISO 8601 UTC, e.g. 2026-11-01 or 2026-11-01T09:00:00Z, or Unix seconds)")
    parser.add_argument("--until", metavar="TIME", help="only jobs requested at or before TIME")
    parser.add_argument("--from-block", type=int, metavar="N", help="only jobs requested at or after block N")
    parser.add_argument("--to-block", type=int, metavar="N", help="only jobs requested at or before block N")
    parser.add_argument("--json", metavar="FILE", help="write the whole report as JSON ('-': stdout, no table)")
    parser.add_argument("--csv", metavar="DIR", help="write jobs, payouts, findings, members, datasets as CSV")
    parser.add_argument("--jobs", action="store_true", help="list every selected job")
    parser.add_argument("--info", action="store_true", help="also list info findings")
    parser.add_argument("--no-views", action="store_true", help="skip the comparison with the contracts' views")
    parser.add_argument("--confirmations", type=int, default=0,
                        help="stay this many blocks below the head (0 for anvil and BFT chains)")


def _auditor(args: argparse.Namespace, views: bool = True) -> Any:
    from offchain.audit.engine import Auditor
    from offchain.cli import _client

    confirmations = getattr(args, "confirmations", 0)
    if confirmations < 0:
        raise InputError(f"--confirmations must be >= 0, got {confirmations}")
    return Auditor(_client(args), confirmations=confirmations, views=views)


def _filter(args: argparse.Namespace, ledger: Any) -> AuditFilter:
    return AuditFilter(
        member=resolve_member(ledger, args.member) if args.member else None,
        dataset_id=resolve_dataset(ledger, args.dataset) if args.dataset else None,
        since=parse_time(args.since, "--since") if args.since else None,
        until=parse_time(args.until, "--until") if args.until else None,
        from_block=args.from_block, to_block=args.to_block,
    )


def _write_json(target: str, text: str, console: Console) -> None:
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    Path(target).write_text(text)
    console.print(f"JSON written to {target}")


def _report(args: argparse.Namespace, console: Console) -> int:
    auditor = _auditor(args, views=not args.no_views)
    auditor.refresh()
    report = auditor.report(_filter(args, auditor.state.ledger))
    if args.json:
        _write_json(args.json, report.to_json(), console)
    if args.csv:
        files = report.write_csv(args.csv)
        if args.json != "-":
            console.print(f"CSV written: {', '.join(str(f) for f in files)}")
    if args.json != "-":
        print_report(report, console, show_jobs=args.jobs, show_info=args.info)
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED


def _table(title: str, columns: list[str]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column)
    return table


def print_findings(findings: list[Finding], console: Console, show_info: bool) -> None:
    for finding in findings:
        if finding.severity is Severity.INFO and not show_info:
            continue
        where = []
        if finding.job_id is not None:
            where.append(f"job {finding.job_id}")
        if finding.block is not None:
            where.append(f"block {finding.block}")
        if finding.transaction:
            where.append(f"tx {finding.transaction}")
        console.print(f"{_MARK[finding.severity]} [bold]{finding.check}[/] [dim]{', '.join(where)}[/]: "
                      f"{escape(finding.message)}", soft_wrap=True)


def print_report(report: AuditReport, console: Console, *, show_jobs: bool = False,
                 show_info: bool = False) -> None:
    """Print the report as the command line shows it."""
    from offchain.chain.render import render_time

    overview = report.overview()
    scope = ", ".join(f"{k}={v}" for k, v in report.audit_filter.describe().items()) or "everything"
    console.print(f"[bold]Unseen audit[/] of chain {report.deployment.chain_id} up to block {report.block} "
                  f"({render_time(report.block_timestamp)}): {report.events:,} events; scope: {escape(scope)}")
    checks = _table("checks", ["check", "result", "errors", "warnings"])
    for check in report.check_results:
        result = ("[green]passed[/]" if check["passed"] else "[bold red]FAILED[/]") if check["ran"] else "[dim]skipped[/]"
        checks.add_row(check["name"], result, str(check["errors"]), str(check["warnings"]))
    console.print(checks)
    console.print(
        f"members {overview['members']} ({', '.join(f'{k.lower()} {v}' for k, v in overview['members_by_status'].items() if v)}); "
        f"datasets {overview['datasets']} ({overview['datasets_frozen']} frozen); jobs {overview['jobs']} ("
        + ", ".join(f"{k.lower()} {v}" for k, v in overview["jobs_by_status"].items() if v)
        + f"); fees paid {overview['fees_paid']:,}; credits issued {overview['credits_issued']:,}, "
        f"in balances {overview['credits_in_balances']:,}, in escrow {overview['credits_in_escrow']:,}")
    members = _table("members (over the selected jobs)", ["member", "status", "jobs requested", "fees paid",
                                                          "as owner", "as node", "data revenue", "compute revenue",
                                                          "balance"])
    for usage in report.members:
        members.add_row(f"{usage.name} {usage.address}", usage.status, str(usage.jobs_requested),
                        f"{usage.fees_paid:,}", str(usage.jobs_as_owner), str(usage.jobs_as_node),
                        f"{usage.revenue_data:,}", f"{usage.revenue_compute:,}", f"{usage.balance:,}")
    console.print(members)
    datasets = _table("datasets (over the selected jobs)", ["id", "name", "owner", "version", "rows", "state",
                                                            "jobs", "rows used", "revenue"])
    for usage in report.datasets:
        state = "frozen" if usage.frozen else ("active" if usage.active else "inactive")
        datasets.add_row(str(usage.dataset_id), usage.name, usage.owner_name, str(usage.version),
                         f"{usage.row_count:,}", state, str(usage.jobs), f"{usage.rows_used:,}", f"{usage.revenue:,}")
    console.print(datasets)
    if show_jobs:
        jobs = _table("jobs", ["id", "kind", "status", "requester", "created", "inputs", "fee cap", "charged",
                               "refund", "verified"])
        for job in report.jobs:
            record = job_dict(report.ledger, job, report.job_findings(job.job_id))
            jobs.add_row(str(job.job_id), record["kind"], record["status"], record["requester_name"],
                         record["created_at"], " ".join(str(i["dataset_id"]) for i in record["inputs"]),
                         f"{job.fee_cap:,}", f"{record['charged']:,}", f"{record['refund']:,}",
                         "yes" if record["verified"] else "[red]no[/]")
        console.print(jobs)
    print_findings(report.findings, console, show_info)
    errors, warnings = report.count(Severity.ERROR), report.count(Severity.WARNING)
    if errors:
        console.print(f"[bold red]AUDIT FAILED[/]: {errors} error(s), {warnings} warning(s)")
    else:
        console.print(f"[bold green]AUDIT PASSED[/]: every check passed; {warnings} warning(s)")


def _verify_job(args: argparse.Namespace, console: Console) -> int:
    import json

    from offchain.audit.evidence import ResultEvidence, verify_evidence

    auditor = _auditor(args, views=not args.no_views)
    auditor.refresh()
    ledger = auditor.state.ledger
    job = ledger.jobs.get(args.job_id)
    if job is None:
        raise InputError(f"no job {args.job_id} on chain; jobs run from 1 to {len(ledger.jobs)}")
    report = auditor.report(AuditFilter())
    findings = report.job_findings(job.job_id)
    record = job_dict(ledger, job, findings)
    verdict = None
    if args.evidence:
        evidence, file_hash = ResultEvidence.load(args.evidence)
        deployment = auditor.client.deployment
        verdict = verify_evidence(evidence, job, ledger, chain_id=deployment.chain_id,
                                  jobs_contract=deployment.address("Jobs"), evidence_hash=file_hash)
        findings = sorted(findings + list(verdict.findings), key=lambda f: f.sort_key)
        record["evidence"] = {
            "file": args.evidence, "keccak256": "0x" + file_hash.hex(),
            "commitments_match": list(verdict.commitments_match), "shares_agree": verdict.shares_agree,
            "suspects": list(verdict.suspects), "matches_dispute_evidence_hash": verdict.matches_dispute,
            "consistent": verdict.consistent,
        }
    failed = any(f.severity is Severity.ERROR for f in findings)
    if args.json:
        record["findings"] = [f.as_dict() for f in findings]
        record["passed"] = not failed
        _write_json(args.json, json.dumps(record, indent=2) + "\n", console)
        if args.json == "-":
            return EXIT_CHECK_FAILED if failed else EXIT_OK
    print_job(record, console)
    if verdict is not None:
        matches = ", ".join(f"node {k} {'matches' if ok else 'DOES NOT match'}"
                            for k, ok in enumerate(verdict.commitments_match))
        console.print(f"evidence {args.evidence} (keccak256 {record['evidence']['keccak256']}): {matches}; "
                      f"replicated shares {'agree' if verdict.shares_agree else 'n/a' if verdict.shares_agree is None else 'DISAGREE'}"
                      + ("" if verdict.matches_dispute is None else
                         f"; {'is' if verdict.matches_dispute else 'is NOT'} the evidence the dispute names"))
        if verdict.suspects:
            console.print("suspects: " + ", ".join(f"{ledger.member_name(s)} ({s})" for s in verdict.suspects))
    print_findings(findings, console, show_info=True)
    console.print("[bold red]JOB FAILED VERIFICATION[/]" if failed else "[bold green]JOB VERIFIED[/]")
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def print_job(record: dict[str, Any], console: Console) -> None:
    """Print one job as ``verify-job`` shows it."""
    console.print(f"[bold]job {record['job_id']}[/] {record['kind']} {record['status']}: requested by "
                  f"{escape(record['requester_name'])} ({record['requester']}) at {record['created_at']}, block "
                  f"{record['request_block']}, tx {record['request_tx']}; deadline {record['deadline']}")
    console.print(f"program hash {record['program_hash']}; params hash {record['params_hash']}; "
                  f"recipient {escape(record['recipient_name'])}")
    inputs = _table("inputs", ["#", "dataset", "owner", "columns (level)", "grant", "fingerprint", "rows", "paid"])
    for item in record["inputs"]:
        columns = ", ".join(f"{c['name'] or c['column']} ({c['level']})" for c in item["columns"])
        grant = (f"{item['grant']['grantee_name']} use {item['grant']['uses_before'] + 1}"
                 + (f"/{item['grant']['max_uses']}" if item["grant"]["max_uses"] else "")) if item["grant"] else "owner"
        inputs.add_row(str(item["index"]), f"{item['dataset_id']} {item['dataset_name']}", item["owner_name"],
                       escape(columns), escape(grant), item["fingerprint"] or "-", f"{item['rows_used']:,}",
                       f"{item['payout']:,}")
    console.print(inputs)
    nodes = _table("compute nodes", ["#", "node", "result commitment", "transcript", "paid"])
    for node in record["nodes"]:
        nodes.add_row(str(node["index"]), node["name"], node["result_commitment"] or "-",
                      node["transcript_hash"] or "-", f"{node['payout']:,}")
    console.print(nodes)
    console.print(f"fee cap {record['fee_cap']:,}; maximum fee {record['max_fee']:,}; escrow {record['escrow']}; "
                  f"charged {record['charged']:,}; refund {record['refund']:,}; commitment digest "
                  f"{record['commitment_digest']}")
    steps = _table("steps", ["block", "time", "event", "by", "detail"])
    for step in record["steps"]:
        steps.add_row(str(step["block"]), step["time"], step["event"], escape(step["actor_name"] or ""),
                      escape(step["detail"]))
    console.print(steps)
    console.print("verdict: " + ", ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in record["verdict"].items()))


# -- regulator actions -------------------------------------------------------------------------


def _signing_client(args: argparse.Namespace) -> Any:
    from offchain.cli import _client

    return _client(args, signing=True)


def _ledger_for_names(client: Any) -> Any:
    from offchain.audit.engine import Auditor

    auditor = Auditor(client, views=False)
    auditor.refresh()
    return auditor.state.ledger


def _suspend(args: argparse.Namespace, console: Console) -> int:
    client = _signing_client(args)
    address = resolve_member(_ledger_for_names(client), args.member)
    receipt = client.consortium.suspend(address, args.reason).transact()
    console.print(f"suspended {escape(client.label_address(address) or address)} ({address}) in block "
                  f"{receipt.block_number}, tx {receipt.transaction_hash}: from now on it can neither request, "
                  "accept nor commit, and nodes refuse to serve its jobs")
    return EXIT_OK


def _freeze(args: argparse.Namespace, console: Console) -> int:
    client = _signing_client(args)
    dataset_id = resolve_dataset(_ledger_for_names(client), args.dataset)
    receipt = client.catalog.freeze(dataset_id, args.reason).transact()
    console.print(f"froze dataset {dataset_id} in block {receipt.block_number}, tx {receipt.transaction_hash}: "
                  "no new job may use it until it is unfrozen")
    return EXIT_OK


def _unfreeze(args: argparse.Namespace, console: Console) -> int:
    client = _signing_client(args)
    dataset_id = resolve_dataset(_ledger_for_names(client), args.dataset)
    receipt = client.catalog.unfreeze(dataset_id).transact()
    console.print(f"unfroze dataset {dataset_id} in block {receipt.block_number}, tx {receipt.transaction_hash}")
    return EXIT_OK


def _resolve(args: argparse.Namespace, console: Console) -> int:
    client = _signing_client(args)
    receipt = client.jobs.resolve_dispute(args.job_id, bool(args.refund)).transact()
    outcome = "the escrow was refunded to the requester" if args.refund else \
        "the committed work was paid and the rest refunded"
    console.print(f"resolved the dispute of job {args.job_id} in block {receipt.block_number}: {outcome}")
    return EXIT_OK


def _serve(args: argparse.Namespace, console: Console) -> int:
    import uvicorn

    from offchain.audit.web import create_app

    if args.poll <= 0:
        raise InputError(f"--poll must be a positive number of seconds, got {args.poll}")
    auditor = _auditor(args, views=not args.no_views)
    auditor.refresh()
    app = create_app(auditor, poll_seconds=args.poll)
    console.print(f"audit page at http://{args.host}:{args.port}/ (read-only; following chain "
                  f"{auditor.client.deployment.chain_id} from block {auditor.state.block}; Ctrl-C stops)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return EXIT_OK
