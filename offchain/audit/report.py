"""The audit report: who computed what on whose data, for what fee — filtered, summed, exported.

:func:`build_report` turns an audit state into an :class:`AuditReport`: the
verdict of every check, the findings, the consortium overview, per-member and
per-dataset usage and revenue, every job with its hashes, fees and steps, and
time series for the charts. The command line (``unseen audit``), the JSON and
CSV exports and the web page all render this one object, so their numbers
are the same by construction.

Filters (:class:`AuditFilter`) select jobs — those involving a member (as
requester, recipient, input owner or compute node), using a dataset, or
requested within a time or block range — and the findings about them. Sums
and series are over the selected jobs; findings that concern no job, member
or dataset (the balance invariant, the views of the whole consortium) are
always included, since they concern every member. The checks themselves
always run over the whole history: a filter narrows what is shown, never
what is verified.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from offchain import __version__
from offchain.audit.checks import job_verdict
from offchain.audit.findings import CHECKS, Finding, Severity
from offchain.audit.ledger import Ledger
from offchain.audit.records import ZERO_ADDRESS, JobRecord
from offchain.chain.deployment import Deployment
from offchain.chain.models import JobStatus, MemberStatus
from offchain.chain.render import render_time
from offchain.errors import InputError
from offchain.vocabulary import ConstraintLevel

if TYPE_CHECKING:
    from offchain.audit.engine import AuditState

FORMAT = "unseen-audit-report/v1"


@dataclass(frozen=True)
class AuditFilter:
    """Which jobs and findings a report shows (every field optional)."""

    member: str | None = None
    dataset_id: int | None = None
    since: int | None = None
    until: int | None = None
    from_block: int | None = None
    to_block: int | None = None

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def job_matches(self, job: JobRecord) -> bool:
        if self.member is not None and self.member not in job.involved | {job.recipient}:
            return False
        if self.dataset_id is not None and all(i.dataset_id != self.dataset_id for i in job.inputs):
            return False
        if self.since is not None and job.created_at < self.since:
            return False
        if self.until is not None and job.created_at > self.until:
            return False
        if self.from_block is not None and job.request_step.block < self.from_block:
            return False
        return self.to_block is None or job.request_step.block <= self.to_block

    def finding_matches(self, finding: Finding, jobs: set[int]) -> bool:
        if finding.job_id is not None:
            return finding.job_id in jobs
        if self.member is not None and finding.member is not None and finding.member != self.member:
            return False
        if self.dataset_id is not None and finding.dataset_id is not None and finding.dataset_id != self.dataset_id:
            return False
        if finding.timestamp is not None and (finding.member is not None or finding.dataset_id is not None):
            if self.since is not None and finding.timestamp < self.since:
                return False
            if self.until is not None and finding.timestamp > self.until:
                return False
        if finding.block is not None and (finding.member is not None or finding.dataset_id is not None):
            if self.from_block is not None and finding.block < self.from_block:
                return False
            if self.to_block is not None and finding.block > self.to_block:
                return False
        return True


def parse_time(text: str, flag: str) -> int:
    """Return Unix seconds for ``text``: Unix seconds, a date, or an ISO 8601 time (UTC unless given)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{flag} {text!r} is not a time: give 2026-11-01, 2026-11-01T09:00:00Z or Unix "
                         "seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def resolve_member(ledger: Ledger, text: str) -> str:
    """Return the address of the member named ``text`` (address, or name, case-insensitive)."""
    lowered = text.strip().lower()
    for address, member in ledger.members.items():
        if address.lower() == lowered or member.name.lower() == lowered:
            return address
    known = ", ".join(f"{m.name} ({a})" for a, m in ledger.members.items())
    raise InputError(f"no member {text!r} on chain; members are: {known or 'none'}")


def resolve_dataset(ledger: Ledger, text: str) -> int:
    """Return the id of dataset ``text`` (an id, or a name if it is unique)."""
    text = text.strip()
    if text.isdigit():
        if int(text) in ledger.datasets:
            return int(text)
        raise InputError(f"no dataset {text} on chain; ids run from 1 to {len(ledger.datasets)}")
    matches = [d.dataset_id for d in ledger.datasets.values() if d.name.lower() == text.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InputError(f"{len(matches)} datasets are named {text!r} (ids {matches}); give the id")
    names = ", ".join(f"{d.dataset_id}:{d.name}" for d in ledger.datasets.values())
    raise InputError(f"no dataset named {text!r} on chain; datasets are: {names or 'none'}")


@dataclass
class MemberUsage:
    """One member's activity over the selected jobs."""

    address: str
    name: str
    index: int
    status: str
    compute_price: int
    endpoint: str
    balance: int
    jobs_requested: int = 0
    fees_paid: int = 0
    refunds: int = 0
    jobs_as_owner: int = 0
    jobs_as_node: int = 0
    revenue_data: int = 0
    revenue_compute: int = 0

    @property
    def revenue(self) -> int:
        return self.revenue_data + self.revenue_compute


@dataclass
class DatasetUsage:
    """One dataset's use over the selected jobs."""

    dataset_id: int
    name: str
    owner: str
    owner_name: str
    columns: list[tuple[str, str]]
    version: int
    row_count: int
    fingerprint: str
    price_per_job: int
    price_per_row: int
    active: bool
    frozen: bool
    jobs: int = 0
    rows_used: int = 0
    revenue: int = 0


@dataclass
class AuditReport:
    """Everything the audit shows, for one filter."""

    deployment: Deployment
    audit_filter: AuditFilter
    block: int
    block_timestamp: int
    events: int
    views_checked: bool
    ledger: Ledger
    jobs: list[JobRecord]
    findings: list[Finding]
    members: list[MemberUsage]
    datasets: list[DatasetUsage]
    check_results: list[dict[str, Any]] = field(default_factory=list)

    # -- verdict ------------------------------------------------------------------------------

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def passed(self) -> bool:
        """True when no check failed (no ``error`` finding) in the report's scope."""
        return self.count(Severity.ERROR) == 0

    def job_findings(self, job_id: int) -> list[Finding]:
        return [f for f in self.findings if f.job_id == job_id]

    def overview(self) -> dict[str, Any]:
        ledger = self.ledger
        statuses = {status.name: 0 for status in JobStatus if status is not JobStatus.NONE}
        for job in self.jobs:
            statuses[job.status.name] = statuses.get(job.status.name, 0) + 1
        member_statuses = {status.name: 0 for status in MemberStatus if status is not MemberStatus.NONE}
        for member in ledger.members.values():
            member_statuses[member.status.name] += 1
        return {
            "members": len(ledger.members),
            "members_by_status": member_statuses,
            "regulators": sorted(ledger.roles.get("REGULATOR_ROLE", set())),
            "datasets": len(ledger.datasets),
            "datasets_frozen": sum(1 for d in ledger.datasets.values() if d.frozen),
            "datasets_inactive": sum(1 for d in ledger.datasets.values() if not d.active),
            "jobs": len(self.jobs),
            "jobs_by_status": statuses,
            "fees_paid": sum(job.charged for job in self.jobs),
            "credits_issued": ledger.total_issued,
            "credits_redeemed": ledger.total_redeemed,
            "credits_in_balances": sum(ledger.balances.values()),
            "credits_in_escrow": sum(amount for _, amount in ledger.escrows.values()),
            "disputes": sum(1 for job in self.jobs if job.dispute is not None),
            "errors": self.count(Severity.ERROR),
            "warnings": self.count(Severity.WARNING),
        }

    # -- time series ----------------------------------------------------------------------------

    def bucket_seconds(self) -> int:
        """A bucket width that splits the selected jobs' time span into at most ~40 bars."""
        if not self.jobs:
            return 3600
        span = max(job.created_at for job in self.jobs) - min(job.created_at for job in self.jobs)
        for width in (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400):
            if span / width <= 40:
                return width
        return 365 * 86400

    def series(self) -> dict[str, Any]:
        """Jobs by status, revenue by member and usage by dataset, per time bucket (by request time)."""
        width = self.bucket_seconds()
        jobs_by_status: dict[int, dict[str, int]] = {}
        revenue: dict[str, dict[int, int]] = {}
        usage: dict[int, dict[int, int]] = {}
        for job in self.jobs:
            bucket = job.created_at - job.created_at % width
            jobs_by_status.setdefault(bucket, {})
            jobs_by_status[bucket][job.status.name] = jobs_by_status[bucket].get(job.status.name, 0) + 1
            for item in job.inputs:
                usage.setdefault(item.dataset_id, {})
                usage[item.dataset_id][bucket] = usage[item.dataset_id].get(bucket, 0) + 1
            for payee, amount in _payout_lines(job):
                revenue.setdefault(payee, {})
                revenue[payee][bucket] = revenue[payee].get(bucket, 0) + amount
        return {"bucket_seconds": width, "jobs_by_status": jobs_by_status, "revenue_by_member": revenue,
                "jobs_by_dataset": usage}

    # -- exports ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (format ``unseen-audit-report/v1``)."""
        ledger = self.ledger
        return {
            "format": FORMAT,
            "generated_by": f"unseen {__version__}",
            "chain": {
                "chain_id": self.deployment.chain_id,
                "contracts": dict(self.deployment.contracts),
                "deploy_block": self.deployment.deploy_block,
                "audited_block": self.block,
                "audited_time": render_time(self.block_timestamp) if self.block_timestamp else None,
                "events": self.events,
                "views_checked": self.views_checked,
            },
            "filters": self.audit_filter.describe(),
            "verdict": {"passed": self.passed, "errors": self.count(Severity.ERROR),
                        "warnings": self.count(Severity.WARNING), "info": self.count(Severity.INFO)},
            "checks": self.check_results,
            "overview": self.overview(),
            "members": [_member_dict(ledger, usage) for usage in self.members],
            "datasets": [_dataset_dict(ledger, usage) for usage in self.datasets],
            "jobs": [job_dict(ledger, job, self.job_findings(job.job_id)) for job in self.jobs],
            "findings": [_finding_dict(ledger, f) for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def csv_tables(self) -> dict[str, str]:
        """CSV text per file name: jobs, payouts, findings, members, datasets."""
        ledger = self.ledger
        tables: dict[str, tuple[list[str], list[list[Any]]]] = {
            "jobs.csv": (["job_id", "kind", "status", "requester", "requester_name", "recipient", "created_at",
                          "request_block", "request_tx", "deadline", "inputs", "datasets", "compute_nodes",
                          "program_hash", "fee_cap", "max_fee", "escrow", "charged", "refund",
                          "commitment_digest", "disputed", "errors", "warnings"], []),
            "payouts.csv": (["job_id", "payee", "payee_name", "role", "amount", "block", "tx", "time"], []),
            "findings.csv": (["severity", "check", "job_id", "block", "tx", "time", "member", "member_name",
                              "dataset_id", "message"], []),
            "members.csv": (["address", "name", "index", "status", "balance", "jobs_requested", "fees_paid",
                             "jobs_as_owner", "jobs_as_node", "revenue_data", "revenue_compute", "revenue"], []),
            "datasets.csv": (["dataset_id", "name", "owner", "owner_name", "version", "rows", "price_per_job",
                              "price_per_row", "active", "frozen", "jobs", "rows_used", "revenue"], []),
        }
        for job in self.jobs:
            findings = self.job_findings(job.job_id)
            refund = sum(s.refund for s in job.settlements)
            tables["jobs.csv"][1].append([
                job.job_id, job.kind_name, job.status.name, job.requester, ledger.member_name(job.requester),
                job.recipient, render_time(job.created_at), job.request_step.block, job.request_step.transaction,
                render_time(job.deadline), len(job.inputs), " ".join(str(i.dataset_id) for i in job.inputs),
                " ".join(n.account for n in job.nodes), "0x" + job.program_hash.hex(), job.fee_cap, job.max_fee,
                job.escrow if job.escrow is not None else "", job.charged, refund, "0x" + job.digest.hex(),
                "yes" if job.dispute else "no", sum(1 for f in findings if f.severity is Severity.ERROR),
                sum(1 for f in findings if f.severity is Severity.WARNING)])
            for settlement in job.settlements:
                if settlement.kind != "metered":
                    continue
                for position, (payee, amount) in enumerate(zip(settlement.payees, settlement.amounts, strict=True)):
                    role = "data owner" if position < len(job.inputs) else "compute node"
                    tables["payouts.csv"][1].append([
                        job.job_id, payee, ledger.member_name(payee), role, amount, settlement.step.block,
                        settlement.step.transaction, render_time(settlement.step.timestamp)])
        for finding in self.findings:
            tables["findings.csv"][1].append([
                finding.severity.value, finding.check, finding.job_id or "", finding.block if finding.block is not None
                else "", finding.transaction or "", render_time(finding.timestamp) if finding.timestamp else "",
                finding.member or "", ledger.member_name(finding.member) if finding.member else "",
                finding.dataset_id or "", finding.message])
        for usage in self.members:
            tables["members.csv"][1].append([
                usage.address, usage.name, usage.index, usage.status, usage.balance, usage.jobs_requested,
                usage.fees_paid, usage.jobs_as_owner, usage.jobs_as_node, usage.revenue_data,
                usage.revenue_compute, usage.revenue])
        for usage in self.datasets:
            tables["datasets.csv"][1].append([
                usage.dataset_id, usage.name, usage.owner, usage.owner_name, usage.version, usage.row_count,
                usage.price_per_job, usage.price_per_row, usage.active, usage.frozen, usage.jobs, usage.rows_used,
                usage.revenue])
        rendered = {}
        for name, (header, rows) in tables.items():
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
            rendered[name] = buffer.getvalue()
        return rendered

    def write_csv(self, directory: str | Path) -> list[Path]:
        """Write the CSV tables into ``directory`` (created if missing); return the files."""
        target = Path(directory)
        if target.exists() and not target.is_dir():
            raise InputError(f"--csv wants a directory, but {target} is a file; give a directory path")
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in self.csv_tables().items():
            path = target / name
            path.write_text(text)
            written.append(path)
        return written


def _payout_lines(job: JobRecord) -> Iterable[tuple[str, int]]:
    for settlement in job.settlements:
        if settlement.kind == "metered":
            yield from zip(settlement.payees, settlement.amounts, strict=True)


def build_report(state: AuditState, deployment: Deployment, audit_filter: AuditFilter) -> AuditReport:
    """Select, sum and order everything the report shows (see the module docstring)."""
    ledger = state.ledger
    jobs = [job for job in sorted(ledger.jobs.values(), key=lambda j: j.job_id) if audit_filter.job_matches(job)]
    selected = {job.job_id for job in jobs}
    findings = [f for f in state.findings if audit_filter.finding_matches(f, selected)]
    members = {
        address: MemberUsage(address, member.name, member.index, member.status.name, member.compute_price,
                             member.endpoint, ledger.balances.get(address, 0))
        for address, member in ledger.members.items()
    }
    datasets = {
        dataset_id: DatasetUsage(dataset_id, d.name, d.owner, ledger.member_name(d.owner),
                                 list(zip(d.column_names, d.column_types, strict=True)), d.version, d.row_count,
                                 "0x" + d.fingerprint.hex(), d.price_per_job, d.price_per_row, d.active, d.frozen)
        for dataset_id, d in ledger.datasets.items()
    }
    for job in jobs:
        if job.requester in members:
            usage = members[job.requester]
            usage.jobs_requested += 1
            usage.fees_paid += job.charged
            usage.refunds += sum(s.refund for s in job.settlements)
        for owner in {item.owner for item in job.inputs}:
            if owner in members:
                members[owner].jobs_as_owner += 1
        for node in {node.account for node in job.nodes}:
            if node in members:
                members[node].jobs_as_node += 1
        for item in job.inputs:
            if item.dataset_id in datasets:
                dataset = datasets[item.dataset_id]
                dataset.jobs += 1
                dataset.rows_used += item.rows_used if item.committed else 0
        for settlement in job.settlements:
            if settlement.kind != "metered":
                continue
            for position, (payee, amount) in enumerate(zip(settlement.payees, settlement.amounts, strict=True)):
                if position < len(job.inputs):
                    if payee in members:
                        members[payee].revenue_data += amount
                    if job.inputs[position].dataset_id in datasets:
                        datasets[job.inputs[position].dataset_id].revenue += amount
                elif payee in members:
                    members[payee].revenue_compute += amount
    member_list = sorted(members.values(), key=lambda m: m.index)
    if audit_filter.member is not None:
        member_list = [m for m in member_list if m.address == audit_filter.member]
    dataset_list = sorted(datasets.values(), key=lambda d: d.dataset_id)
    if audit_filter.dataset_id is not None:
        dataset_list = [d for d in dataset_list if d.dataset_id == audit_filter.dataset_id]
    elif audit_filter.member is not None:
        dataset_list = [d for d in dataset_list if d.owner == audit_filter.member or d.jobs]
    check_results = []
    for check in CHECKS:
        errors = sum(1 for f in findings if f.check == check.name and f.severity is Severity.ERROR)
        warnings = sum(1 for f in findings if f.check == check.name and f.severity is Severity.WARNING)
        if check.name == "result-evidence":
            continue  # runs only on published evidence (verify-job), never over the chain alone
        ran = check.name not in ("views-agree", "commitment-digest") or state.views_checked
        check_results.append({"name": check.name, "description": check.description, "ran": ran,
                              "passed": ran and errors == 0, "errors": errors, "warnings": warnings})
    return AuditReport(deployment, audit_filter, state.block, state.block_timestamp, ledger.event_count,
                       state.views_checked, ledger, jobs, findings, member_list, dataset_list, check_results)


# -- dict forms ----------------------------------------------------------------------------------


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def _step_dict(ledger: Ledger, step) -> dict[str, Any]:
    return {"event": step.name, "block": step.block, "tx": step.transaction, "log_index": step.log_index,
            "time": render_time(step.timestamp), "timestamp": step.timestamp, "actor": step.actor,
            "actor_name": ledger.member_name(step.actor) if step.actor else None, "detail": step.detail}


def _member_dict(ledger: Ledger, usage: MemberUsage) -> dict[str, Any]:
    member = ledger.members[usage.address]
    return {
        "address": usage.address, "name": usage.name, "index": usage.index, "status": usage.status,
        "endpoint": usage.endpoint, "tls_fingerprint": _hex(member.tls_fingerprint),
        "compute_price": usage.compute_price, "admitted_at": render_time(member.admitted_at),
        "roles": sorted(ledger.roles_of(usage.address)), "balance": usage.balance,
        "jobs_requested": usage.jobs_requested, "fees_paid": usage.fees_paid, "refunds": usage.refunds,
        "jobs_as_owner": usage.jobs_as_owner, "jobs_as_node": usage.jobs_as_node,
        "revenue_data": usage.revenue_data, "revenue_compute": usage.revenue_compute, "revenue": usage.revenue,
        "history": [_step_dict(ledger, step) for step in member.history],
    }


def _dataset_dict(ledger: Ledger, usage: DatasetUsage) -> dict[str, Any]:
    dataset = ledger.datasets[usage.dataset_id]
    grants = [
        {"grantee": grant.grantee, "grantee_name": ledger.member_name(grant.grantee), "expiry": render_time(grant.expiry),
         "max_uses": grant.max_uses, "uses": grant.uses, "allowed_kinds": grant.allowed_kinds, "active": grant.active,
         "history": [_step_dict(ledger, s) for s in grant.history]}
        for (dataset_id, _), grant in sorted(ledger.grants.items()) if dataset_id == usage.dataset_id
    ]
    levels = [
        {"grantee": grantee, "grantee_name": ledger.member_name(grantee), "column": column,
         "column_name": dataset.column_names[column] if column < len(dataset.column_names) else None,
         "level": _level_name(level)}
        for (dataset_id, grantee, column), level in sorted(ledger.levels.items()) if dataset_id == usage.dataset_id
    ]
    programs = [{"program_hash": _hex(p.program_hash), "approved": p.approved, "note": p.note}
                for (dataset_id, _), p in ledger.programs.items() if dataset_id == usage.dataset_id]
    consents = [{"subject": _hex(c.subject), "purpose": _hex(c.purpose), "expiry": render_time(c.expiry),
                 "revoked": c.revoked, "evidence_hash": _hex(c.evidence_hash), "subject_account": c.subject_account}
                for (dataset_id, _, _), c in ledger.consents.items() if dataset_id == usage.dataset_id]
    return {
        "dataset_id": usage.dataset_id, "name": usage.name, "owner": usage.owner, "owner_name": usage.owner_name,
        "columns": [{"name": n, "type": t} for n, t in usage.columns], "schema_hash": _hex(dataset.schema_hash),
        "version": usage.version, "row_count": usage.row_count, "fingerprint": usage.fingerprint,
        "price_per_job": usage.price_per_job, "price_per_row": usage.price_per_row, "active": usage.active,
        "frozen": usage.frozen, "jobs": usage.jobs, "rows_used": usage.rows_used, "revenue": usage.revenue,
        "versions": [{"version": v.version, "fingerprint": _hex(v.fingerprint), "row_count": v.row_count,
                      "block": v.step.block, "time": render_time(v.step.timestamp)} for v in dataset.versions],
        "grants": grants, "levels": levels, "programs": programs, "consents": consents,
        "level_history": [_step_dict(ledger, s) for s in ledger.level_history.get(usage.dataset_id, [])],
        "history": [_step_dict(ledger, s) for s in dataset.history],
    }


def _level_name(level: int) -> str:
    try:
        return ConstraintLevel(level).name
    except ValueError:
        return str(level)


def job_dict(ledger: Ledger, job: JobRecord, findings: list[Finding] | None = None) -> dict[str, Any]:
    """One job with every hash, fee and step, and its verdict per check."""
    findings = findings or []
    inputs = []
    for index, item in enumerate(job.inputs):
        dataset = ledger.datasets.get(item.dataset_id)
        seen = job.context.inputs[index]
        inputs.append({
            "index": index, "dataset_id": item.dataset_id, "dataset_name": dataset.name if dataset else None,
            "owner": item.owner, "owner_name": ledger.member_name(item.owner),
            "dataset_version": seen.version, "dataset_fingerprint": _hex(seen.fingerprint),
            "columns": [{"column": c, "name": dataset.column_names[c] if dataset and c < len(dataset.column_names)
                         else None, "level": _level_name(level)} for c, level in zip(item.columns, item.levels,
                                                                                    strict=False)],
            "grant": None if seen.grant is None else {
                "grantee": seen.grant.grantee, "grantee_name": ledger.member_name(seen.grant.grantee),
                "expiry": render_time(seen.grant.expiry), "max_uses": seen.grant.max_uses,
                "uses_before": seen.grant.uses, "allowed_kinds": seen.grant.allowed_kinds},
            "price_per_job": item.price_per_job, "price_per_row": item.price_per_row, "row_limit": item.row_limit,
            "committed": item.committed, "fingerprint": _hex(item.fingerprint), "rows_used": item.rows_used,
            "payout": item.payout,
        })
    nodes = [{"index": k, "account": node.account, "name": ledger.member_name(node.account),
              "compute_price": node.compute_price, "accepted": node.accepted,
              "result_commitment": _hex(node.result_commitment), "transcript_hash": _hex(node.transcript_hash),
              "payout": node.payout} for k, node in enumerate(job.nodes)]
    payouts = []
    for settlement in job.settlements:
        if settlement.kind == "metered":
            for position, (payee, amount) in enumerate(zip(settlement.payees, settlement.amounts, strict=True)):
                payouts.append({"payee": payee, "payee_name": ledger.member_name(payee), "amount": amount,
                                "role": "data owner" if position < len(job.inputs) else "compute node"})
    verdict = {name: not [f for f in found if f.severity is Severity.ERROR]
               for name, found in job_verdict(job, ledger).items()}
    verdict["commitment-digest"] = not [f for f in findings if f.check == "commitment-digest"]
    verdict["views-agree"] = not [f for f in findings if f.check == "views-agree"]
    return {
        "job_id": job.job_id, "kind": job.kind_name, "status": job.status.name,
        "requester": job.requester, "requester_name": ledger.member_name(job.requester),
        "recipient": job.recipient, "recipient_name": ledger.member_name(job.recipient),
        "created_at": render_time(job.created_at), "created_timestamp": job.created_at,
        "request_block": job.request_step.block, "request_tx": job.request_step.transaction,
        "deadline": render_time(job.deadline), "program_hash": _hex(job.program_hash), "program": job.program,
        "params_hash": _hex(job.params_hash), "subject": _hex(job.subject), "purpose": _hex(job.purpose),
        "inputs": inputs, "nodes": nodes, "fee_cap": job.fee_cap, "max_fee": job.max_fee, "escrow": job.escrow,
        "charged": job.charged, "refund": sum(s.refund for s in job.settlements), "payouts": payouts,
        "commitment_digest": _hex(job.digest), "committed_at": render_time(job.committed_at),
        "grant_uses": [{"dataset_id": u.dataset_id, "grantee": u.grantee, "uses": u.uses_after}
                       for u in job.grant_uses],
        "dispute": None if job.dispute is None else {
            "opened_by": job.dispute.opened_by, "opened_by_name": ledger.member_name(job.dispute.opened_by),
            "suspect": job.dispute.suspect,
            "suspect_name": ledger.member_name(job.dispute.suspect) if job.dispute.suspect != ZERO_ADDRESS else None,
            "evidence_hash": _hex(job.dispute.evidence_hash), "block": job.dispute.step.block,
            "time": render_time(job.dispute.step.timestamp)},
        "resolution": None if job.resolution is None else {
            "refunded_requester": job.resolution[0], "by": job.resolution[1].actor,
            "block": job.resolution[1].block},
        "steps": [_step_dict(ledger, s.step) for s in job.steps],
        "verdict": verdict,
        "verified": all(verdict.values()),
    }


def _finding_dict(ledger: Ledger, finding: Finding) -> dict[str, Any]:
    record = finding.as_dict()
    record["time"] = render_time(finding.timestamp) if finding.timestamp else None
    record["member_name"] = ledger.member_name(finding.member) if finding.member else None
    return record
