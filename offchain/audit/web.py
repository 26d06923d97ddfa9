"""The read-only audit web page (Starlette), following the chain live.

``create_app(auditor)`` returns an ASGI app; ``unseen audit serve`` runs it
with uvicorn. A background thread calls :meth:`Auditor.refresh` every
``poll_seconds``; each page is rendered from the auditor's current state
under its lock, so a page never shows half a refresh. Pages carry a small
inline script that polls ``/api/head`` and reloads when the audited block
changes: a newly finalized job appears without restarting anything.

=========================  ====================================================
path                       shows
=========================  ====================================================
``/``                      consortium overview: verdict, checks, counts, charts
``/jobs``                  jobs timeline (chart) and table with status
``/jobs/{id}``             one job: every hash, fee and step, and its verdict
``/members`` ``/members/{address}``    usage and revenue per member, over time
``/datasets`` ``/datasets/{id}``       usage and revenue per dataset, policy
``/anomalies``             every finding
``/api/report.json``       the report as ``unseen audit --json`` writes it
``/api/head``              audited block and version (for live reload)
=========================  ====================================================

``/jobs``, ``/members``, ``/datasets``, ``/anomalies`` and the JSON report
accept the report's filters as query parameters: ``member``, ``dataset``,
``since``, ``until`` (ISO 8601 or Unix seconds), ``from_block``,
``to_block``. Nothing on the page changes chain state.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from html import escape
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from offchain import __version__
from offchain.audit import charts
from offchain.audit.engine import Auditor
from offchain.audit.findings import Finding, Severity
from offchain.audit.report import (
    AuditFilter,
    AuditReport,
    job_dict,
    parse_time,
    resolve_dataset,
    resolve_member,
)
from offchain.chain.render import render_time
from offchain.errors import InputError, UnseenError

JOBS_PER_PAGE = 200

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
header{background:#1d2733;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center;flex-wrap:wrap}
header a{color:#cfe0f5;text-decoration:none;font-weight:500}header a:hover{color:#fff}
header .brand{font-weight:700;color:#fff;font-size:1.1em}
.live{margin-left:auto;font-size:.85em;color:#b8c4d0}
main{padding:18px 24px;max-width:1280px}
h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.1em;margin:1.4em 0 .5em}
table{border-collapse:collapse;background:#fff;margin-bottom:12px;font-size:.9em}
th,td{border-bottom:1px solid #e3e6ea;padding:5px 9px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;word-break:break-all}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:.8em;color:#fff;background:#7f8c8d}
.ok{color:#1e7d45;font-weight:600}.bad{color:#b52a1c;font-weight:700}.muted{color:#7b8794;fill:#7b8794}
.verdict{padding:10px 14px;border-radius:6px;margin:6px 0 14px;font-weight:600}
.verdict.pass{background:#e3f4e8;color:#1e7d45}.verdict.fail{background:#fbe6e3;color:#b52a1c}
.error td:first-child{border-left:4px solid #c0392b}.warning td:first-child{border-left:4px solid #d9822b}
.info td:first-child{border-left:4px solid #9aa5b1}
.grid{display:flex;gap:24px;flex-wrap:wrap}.card{background:#fff;padding:10px 14px;border-radius:6px}
.card .big{font-size:1.6em;font-weight:700}
svg.chart{background:#fff;border-radius:6px;margin:4px 0 12px;font-size:11px}svg.chart text{fill:#33404d}
.stale{background:#fff3cd;color:#7a5b00;padding:6px 24px}
"""

_LIVE_SCRIPT = """
<script>
(function(){
  var version = %d;
  function poll(){
    fetch('/api/head', {cache: 'no-store'}).then(function(r){return r.json();}).then(function(h){
      if (h.version !== version) { location.reload(); }
    }).catch(function(){}).finally(function(){ setTimeout(poll, %d); });
  }
  setTimeout(poll, %d);
})();
</script>
"""


class _Follower:
    """Refreshes the auditor in a background thread until stopped."""

    def __init__(self, auditor: Auditor, poll_seconds: float) -> None:
        self.auditor = auditor
        self.poll_seconds = poll_seconds
        self.error: str | None = None
        self.last_poll = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.auditor.refresh()
                self.error = None
            except UnseenError as error:
                # Keep serving the last good state; the banner says why it is not moving.
                self.error = f"{type(error).__name__}: {error}"
            self.last_poll = time.time()


def create_app(auditor: Auditor, *, poll_seconds: float = 2.0, follow: bool = True) -> Starlette:
    """Return the ASGI app over ``auditor`` (refreshed in the background when ``follow``)."""
    follower = _Follower(auditor, poll_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        if follow:
            follower.start()
        try:
            yield
        finally:
            if follow:
                follower.stop()

    pages = _Pages(auditor, follower, poll_seconds)
    routes = [
        Route("/", pages.overview),
        Route("/jobs", pages.jobs),
        Route("/jobs/{job_id:int}", pages.job),
        Route("/members", pages.members),
        Route("/members/{address}", pages.member),
        Route("/datasets", pages.datasets),
        Route("/datasets/{dataset_id:int}", pages.dataset),
        Route("/anomalies", pages.anomalies),
        Route("/api/report.json", pages.report_json),
        Route("/api/head", pages.head),
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={InputError: pages.bad_request})


def _money(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _badge(status: str) -> str:
    colour = charts.STATUS_COLOURS.get(status) or charts.MEMBER_COLOURS.get(status, "#7f8c8d")
    return f'<span class="badge" style="background:{colour}" data-status="{escape(status)}">{escape(status.lower())}</span>'


def _mark(ok: bool) -> str:
    return '<span class="ok">✓ passed</span>' if ok else '<span class="bad">✗ failed</span>'


def _by_bucket(series: dict[Any, dict[int, int]], names: dict[Any, str]) -> dict[int, dict[str, int]]:
    """Turn {series key: {bucket: value}} into {bucket: {name: value}} for a stacked chart."""
    buckets: dict[int, dict[str, int]] = {}
    for key, values in series.items():
        if key not in names:
            continue
        for bucket, value in values.items():
            buckets.setdefault(bucket, {})[names[key]] = value
    return buckets


def _column_uses(item: dict[str, Any]) -> str:
    return ", ".join(f"{c['name'] or c['column']} ({c['level']})" for c in item["columns"])


def _short(value: str) -> str:
    return f'<code class="hash" title="{escape(value)}">{escape(value[:12])}…</code>'


def _hash(value: str | None) -> str:
    return f'<code class="hash">{escape(value)}</code>' if value else '<span class="muted">–</span>'


class _Pages:
    def __init__(self, auditor: Auditor, follower: _Follower, poll_seconds: float) -> None:
        self.auditor = auditor
        self.follower = follower
        self.poll_ms = max(250, int(poll_seconds * 1000))

    # -- plumbing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _report(self, request: Request | None = None) -> Iterator[AuditReport]:
        with self.auditor.lock:
            audit_filter = self._filter(request) if request is not None else AuditFilter()
            yield self.auditor.report(audit_filter)

    def _filter(self, request: Request) -> AuditFilter:
        query = request.query_params
        ledger = self.auditor.state.ledger

        def block(name: str) -> int | None:
            text = query.get(name)
            if not text:
                return None
            if not text.isdigit():
                raise InputError(f"{name} must be a block number, got {text!r}")
            return int(text)

        return AuditFilter(
            member=resolve_member(ledger, query["member"]) if query.get("member") else None,
            dataset_id=resolve_dataset(ledger, query["dataset"]) if query.get("dataset") else None,
            since=parse_time(query["since"], "since") if query.get("since") else None,
            until=parse_time(query["until"], "until") if query.get("until") else None,
            from_block=block("from_block"), to_block=block("to_block"))

    def _page(self, title: str, body: str, report: AuditReport) -> HTMLResponse:
        passed = report.passed
        stale = ""
        if self.follower.error:
            stale = f'<div class="stale">not following the chain right now: {escape(self.follower.error)}</div>'
        html = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · Unseen audit</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><style>{_STYLE}</style></head><body>'
            f'<header><span class="brand">Unseen audit</span><a href="/">Overview</a><a href="/jobs">Jobs</a>'
            f'<a href="/members">Members</a><a href="/datasets">Datasets</a><a href="/anomalies">Anomalies</a>'
            f'<span class="live" id="live" data-block="{report.block}" data-version="{self.auditor.version}">'
            f'chain {report.deployment.chain_id} · block {report.block} · {render_time(report.block_timestamp)} · '
            f'{"checks passed" if passed else "CHECKS FAILED"} · read-only, following live</span></header>{stale}'
            f'<main>{body}</main>{_LIVE_SCRIPT % (self.auditor.version, self.poll_ms, self.poll_ms)}'
            f'<footer class="muted" style="padding:12px 24px">unseen {__version__} · rebuilt from contract events '
            f'alone and compared with the contracts\' views</footer></body></html>')
        return HTMLResponse(html)

    async def bad_request(self, request: Request, error: Exception) -> Response:
        return HTMLResponse(f"<!doctype html><title>bad request</title><h1>Bad request</h1><p>{escape(str(error))}</p>",
                            status_code=400)

    def _filter_note(self, report: AuditReport) -> str:
        described = report.audit_filter.describe()
        if not described:
            return ""
        text = ", ".join(f"{k} = {v}" for k, v in described.items())
        return f'<p class="muted">filtered: {escape(text)} · <a href="?">clear</a></p>'

    # -- pages ----------------------------------------------------------------------------------

    def overview(self, request: Request) -> HTMLResponse:
        with self._report(request) as report:
            overview = report.overview()
            series = report.series()
            verdict = (f'<div class="verdict pass" id="verdict" data-passed="true">Every check passed over '
                       f'{report.events:,} events up to block {report.block}</div>' if report.passed else
                       f'<div class="verdict fail" id="verdict" data-passed="false">{overview["errors"]} check '
                       f'finding(s) failed — see <a href="/anomalies">anomalies</a></div>')
            cards = "".join(
                f'<div class="card"><div class="muted">{escape(label)}</div><div class="big" data-testid="{key}">'
                f'{value}</div></div>' for label, key, value in [
                    ("members", "members", overview["members"]), ("datasets", "datasets", overview["datasets"]),
                    ("jobs", "jobs", overview["jobs"]), ("fees paid", "fees-paid", _money(overview["fees_paid"])),
                    ("credits in escrow", "escrow", _money(overview["credits_in_escrow"])),
                    ("disputes", "disputes", overview["disputes"]), ("errors", "errors", overview["errors"]),
                    ("warnings", "warnings", overview["warnings"])])
            statuses = "".join(f'<tr><td>{_badge(k)}</td><td class="num" data-testid="status-{k.lower()}">{v}</td></tr>'
                               for k, v in overview["jobs_by_status"].items() if v)
            checks = "".join(
                f'<tr data-check="{escape(c["name"])}"><td>{escape(c["name"])}</td><td>'
                f'{_mark(c["passed"]) if c["ran"] else "<span class=muted>skipped</span>"}</td>'
                f'<td class="num">{c["errors"]}</td><td class="num">{c["warnings"]}</td>'
                f'<td class="muted">{escape(c["description"])}</td></tr>' for c in report.check_results)
            revenue = [(m.name, m.revenue) for m in report.members]
            timeline = charts.stacked_columns(series["jobs_by_status"], list(charts.STATUS_COLOURS),
                                              series["bucket_seconds"], "jobs requested over time, by status",
                                              colours=charts.STATUS_COLOURS, chart_id="chart-jobs")
            members_by_status = ", ".join(f"{k.lower()} {v}" for k, v in overview["members_by_status"].items() if v)
            body = (
                f'<h1>Consortium overview</h1>{verdict}<div class="grid">{cards}</div>'
                f'<p class="muted">members: {escape(members_by_status)} · credits issued {_money(overview["credits_issued"])}, '
                f'redeemed {_money(overview["credits_redeemed"])}, in balances {_money(overview["credits_in_balances"])}</p>'
                f'<h2>Jobs over time</h2>{timeline}'
                f'<div class="grid"><div><h2>Jobs by status</h2><table id="status-table">{statuses}</table></div>'
                f'<div><h2>Revenue by member</h2>{charts.horizontal_bars(revenue, "revenue by member (credits)", chart_id="chart-revenue")}'
                f'</div></div><h2>Checks</h2><table id="checks"><tr><th>check</th><th>result</th><th class="num">errors</th>'
                f'<th class="num">warnings</th><th>what it verifies</th></tr>{checks}</table>'
                f'<h2>Latest anomalies</h2>{self._findings_table([f for f in report.findings if f.severity is not Severity.INFO][-10:], report)}')
            return self._page("Overview", body, report)

    def jobs(self, request: Request) -> HTMLResponse:
        with self._report(request) as report:
            series = report.series()
            text = request.query_params.get("page", "1") or "1"
            if not text.isdigit() or int(text) < 1:
                raise InputError(f"page must be a number from 1, got {text!r}")
            page = int(text)
            ordered = list(reversed(report.jobs))
            shown = ordered[(page - 1) * JOBS_PER_PAGE: page * JOBS_PER_PAGE]
            rows = []
            for job in shown:
                errors = [f for f in report.job_findings(job.job_id) if f.severity is Severity.ERROR]
                rows.append(
                    f'<tr data-job-id="{job.job_id}"><td><a href="/jobs/{job.job_id}">{job.job_id}</a></td>'
                    f'<td>{escape(job.kind_name)}</td><td>{_badge(job.status.name)}</td>'
                    f'<td>{escape(report.ledger.member_name(job.requester))}</td><td>{render_time(job.created_at)}</td>'
                    f'<td>{job.request_step.block}</td>'
                    f'<td>{", ".join(escape(report.ledger.datasets[i.dataset_id].name) if i.dataset_id in report.ledger.datasets else str(i.dataset_id) for i in job.inputs)}</td>'
                    f'<td class="num">{_money(job.fee_cap)}</td><td class="num" data-testid="charged">{_money(job.charged)}</td>'
                    f'<td class="num">{_money(sum(s.refund for s in job.settlements))}</td>'
                    f'<td>{_mark(not errors)}</td></tr>')
            pages = (len(ordered) + JOBS_PER_PAGE - 1) // JOBS_PER_PAGE
            pager = "" if pages <= 1 else "<p>" + " ".join(
                f'<a href="?page={n}">{n}</a>' if n != page else f"<b>{n}</b>" for n in range(1, pages + 1)) + "</p>"
            timeline = charts.stacked_columns(series["jobs_by_status"], list(charts.STATUS_COLOURS),
                                              series["bucket_seconds"], "jobs requested over time, by status",
                                              colours=charts.STATUS_COLOURS, chart_id="chart-jobs")
            body = (f'<h1>Jobs</h1>{self._filter_note(report)}{timeline}<p><span data-testid="job-count">{len(report.jobs)}'
                    f'</span> jobs, newest first.</p>{pager}<table id="jobs"><tr><th>id</th><th>kind</th><th>status</th>'
                    f'<th>requester</th><th>requested</th><th>block</th><th>datasets</th><th class="num">fee cap</th>'
                    f'<th class="num">charged</th><th class="num">refund</th><th>checks</th></tr>{"".join(rows)}</table>{pager}')
            return self._page("Jobs", body, report)

    def job(self, request: Request) -> HTMLResponse:
        job_id = request.path_params["job_id"]
        with self._report() as report:
            job = report.ledger.jobs.get(job_id)
            if job is None:
                raise InputError(f"no job {job_id} on chain (yet); jobs run from 1 to {len(report.ledger.jobs)}")
            findings = report.job_findings(job_id)
            record = job_dict(report.ledger, job, findings)
            verdict_rows = "".join(f'<tr data-check="{escape(name)}"><td>{escape(name)}</td><td>{_mark(ok)}</td></tr>'
                                   for name, ok in record["verdict"].items())
            inputs = "".join(
                f'<tr><td>{i["index"]}</td><td><a href="/datasets/{i["dataset_id"]}">{escape(i["dataset_name"] or str(i["dataset_id"]))}</a> '
                f'v{i["dataset_version"]}</td><td>{escape(i["owner_name"])}</td>'
                f'<td>{escape(_column_uses(i))}</td>'
                f'<td>{escape(self._grant_text(i))}</td><td>{_hash(i["fingerprint"])}</td>'
                f'<td class="num">{i["rows_used"]:,} / {i["row_limit"]:,}</td>'
                f'<td class="num">{i["price_per_job"]:,} + {i["price_per_row"]:,}/row</td>'
                f'<td class="num" data-testid="input-payout">{i["payout"]:,}</td></tr>' for i in record["inputs"])
            nodes = "".join(
                f'<tr><td>{n["index"]}</td><td><a href="/members/{n["account"]}">{escape(n["name"])}</a></td>'
                f'<td>{"yes" if n["accepted"] else "no"}</td><td>{_hash(n["result_commitment"])}</td>'
                f'<td>{_hash(n["transcript_hash"])}</td><td class="num">{n["compute_price"]:,}</td>'
                f'<td class="num" data-testid="node-payout">{n["payout"]:,}</td></tr>' for n in record["nodes"])
            steps = "".join(
                f'<tr><td>{s["block"]}</td><td>{s["time"]}</td><td>{escape(s["event"])}</td>'
                f'<td>{escape(s["actor_name"] or "")}</td><td>{escape(s["detail"])}</td><td>{_short(s["tx"])}</td></tr>'
                for s in record["steps"])
            dispute = ""
            if record["dispute"]:
                d = record["dispute"]
                dispute = (f'<h2>Dispute</h2><p>opened by {escape(d["opened_by_name"])} at block {d["block"]} '
                           f'({d["time"]}); suspect: {escape(d["suspect_name"] or "none named")}; evidence '
                           f'{_hash(d["evidence_hash"])}</p>')
                if record["resolution"]:
                    r = record["resolution"]
                    dispute += (f'<p>resolved at block {r["block"]}: '
                                + ("escrow refunded to the requester" if r["refunded_requester"]
                                   else "committed work paid, rest refunded") + "</p>")
            verified = record["verified"]
            body = (
                f'<h1>Job {job_id} {_badge(record["status"])}</h1>'
                f'<div class="verdict {"pass" if verified else "fail"}" id="verify" data-verified="{str(verified).lower()}">'
                f'verify: {"every check of this job passed" if verified else "this job FAILED verification"}</div>'
                f'<table id="job-facts">'
                f'<tr><th>kind</th><td>{escape(record["kind"])}</td></tr>'
                f'<tr><th>requester</th><td>{escape(record["requester_name"])} <code>{record["requester"]}</code></td></tr>'
                f'<tr><th>result recipient</th><td>{escape(record["recipient_name"])}</td></tr>'
                f'<tr><th>requested</th><td>{record["created_at"]}, block {record["request_block"]}, tx {_hash(record["request_tx"])}</td></tr>'
                f'<tr><th>deadline</th><td>{record["deadline"]}</td></tr>'
                f'<tr><th>program hash</th><td>{_hash(record["program_hash"])}</td></tr>'
                f'<tr><th>program</th><td><code>{escape(record["program"][:2000])}</code></td></tr>'
                f'<tr><th>params hash</th><td>{_hash(record["params_hash"])}</td></tr>'
                f'<tr><th>fee cap / maximum fee</th><td class="num">{record["fee_cap"]:,} / {record["max_fee"]:,}</td></tr>'
                f'<tr><th>escrow</th><td class="num" data-testid="escrow">{_money(record["escrow"])}</td></tr>'
                f'<tr><th>charged</th><td class="num" data-testid="charged">{record["charged"]:,}</td></tr>'
                f'<tr><th>refund</th><td class="num" data-testid="refund">{record["refund"]:,}</td></tr>'
                f'<tr><th>commitment digest</th><td>{_hash(record["commitment_digest"])}</td></tr></table>'
                f'<h2>Verify</h2><table id="job-verdict">{verdict_rows}</table>'
                f'<h2>Inputs</h2><table><tr><th>#</th><th>dataset</th><th>owner</th><th>columns (level required)</th>'
                f'<th>grant used</th><th>input fingerprint</th><th class="num">rows used / limit</th>'
                f'<th class="num">price</th><th class="num">paid</th></tr>{inputs}</table>'
                f'<h2>Compute nodes</h2><table><tr><th>#</th><th>node</th><th>accepted</th><th>result commitment</th>'
                f'<th>transcript hash</th><th class="num">price</th><th class="num">paid</th></tr>{nodes}</table>'
                f'{dispute}<h2>Steps</h2><table id="steps"><tr><th>block</th><th>time</th><th>event</th><th>by</th>'
                f'<th>detail</th><th>tx</th></tr>{steps}</table>'
                f'<h2>Findings</h2>{self._findings_table(findings, report)}')
            return self._page(f"Job {job_id}", body, report)

    @staticmethod
    def _grant_text(item: dict[str, Any]) -> str:
        grant = item["grant"]
        if grant is None:
            return "owner (implicit)"
        quota = f"/{grant['max_uses']}" if grant["max_uses"] else ""
        return f"{grant['grantee_name']}: use {grant['uses_before'] + 1}{quota}, until {grant['expiry']}"

    def members(self, request: Request) -> HTMLResponse:
        with self._report(request) as report:
            rows = "".join(
                f'<tr data-member="{m.address}"><td><a href="/members/{m.address}">{escape(m.name)}</a></td>'
                f'<td>{_badge(m.status)}</td><td class="num">{m.jobs_requested}</td>'
                f'<td class="num" data-testid="fees-paid">{m.fees_paid:,}</td><td class="num">{m.jobs_as_owner}</td>'
                f'<td class="num">{m.jobs_as_node}</td><td class="num" data-testid="revenue-data">{m.revenue_data:,}</td>'
                f'<td class="num" data-testid="revenue-compute">{m.revenue_compute:,}</td>'
                f'<td class="num" data-testid="revenue">{m.revenue:,}</td><td class="num" data-testid="balance">{m.balance:,}</td></tr>'
                for m in report.members)
            chart = charts.horizontal_bars([(m.name, m.revenue) for m in report.members], "revenue by member (credits)",
                                           chart_id="chart-revenue")
            series = report.series()
            names = {m.address: m.name for m in report.members}
            over_time = charts.stacked_columns(
                _by_bucket(series["revenue_by_member"], names), list(names.values()), series["bucket_seconds"],
                "revenue by member over time (credits, by request time)", chart_id="chart-revenue-time")
            body = (f'<h1>Members</h1>{self._filter_note(report)}{chart}{over_time}<table id="members"><tr><th>member</th>'
                    f'<th>status</th><th class="num">jobs requested</th><th class="num">fees paid</th>'
                    f'<th class="num">jobs as owner</th><th class="num">jobs as node</th><th class="num">data revenue</th>'
                    f'<th class="num">compute revenue</th><th class="num">revenue</th><th class="num">balance</th></tr>'
                    f'{rows}</table>')
            return self._page("Members", body, report)

    def member(self, request: Request) -> HTMLResponse:
        with self.auditor.lock:
            address = resolve_member(self.auditor.state.ledger, request.path_params["address"])
            report = self.auditor.report(AuditFilter(member=address))
            usage = report.members[0]
            member = report.ledger.members[address]
            series = report.series()
            revenue = charts.columns(series["revenue_by_member"].get(address, {}), series["bucket_seconds"],
                                     f"revenue of {member.name} over time (credits)", key="revenue",
                                     chart_id="chart-member-revenue")
            history = "".join(f'<tr><td>{s.block}</td><td>{render_time(s.timestamp)}</td><td>{escape(s.name)}</td>'
                              f'<td>{escape(report.ledger.member_name(s.actor) if s.actor else "")}</td>'
                              f'<td>{escape(s.detail)}</td></tr>' for s in member.history)
            jobs = "".join(f'<tr><td><a href="/jobs/{j.job_id}">{j.job_id}</a></td><td>{_badge(j.status.name)}</td>'
                           f'<td>{escape(self._roles_in(j, address))}</td><td>{render_time(j.created_at)}</td>'
                           f'<td class="num">{_money(j.charged)}</td></tr>' for j in reversed(report.jobs[-200:]))
            body = (
                f'<h1>{escape(member.name)} {_badge(member.status.name)}</h1><table>'
                f'<tr><th>address</th><td><code>{address}</code></td></tr>'
                f'<tr><th>member index</th><td>{member.index}</td></tr>'
                f'<tr><th>node endpoint</th><td>{escape(member.endpoint)}</td></tr>'
                f'<tr><th>TLS key fingerprint</th><td>{_hash("0x" + member.tls_fingerprint.hex())}</td></tr>'
                f'<tr><th>compute price</th><td class="num">{member.compute_price:,}</td></tr>'
                f'<tr><th>admitted</th><td>{render_time(member.admitted_at)}</td></tr>'
                f'<tr><th>balance</th><td class="num" data-testid="balance">{usage.balance:,}</td></tr>'
                f'<tr><th>jobs requested / fees paid</th><td class="num">{usage.jobs_requested} / '
                f'<span data-testid="fees-paid">{usage.fees_paid:,}</span></td></tr>'
                f'<tr><th>revenue (data + compute)</th><td class="num"><span data-testid="revenue">{usage.revenue:,}</span> '
                f'({usage.revenue_data:,} + {usage.revenue_compute:,})</td></tr></table>'
                f'<h2>Revenue over time</h2>{revenue}<h2>History</h2><table><tr><th>block</th><th>time</th><th>event</th>'
                f'<th>by</th><th>detail</th></tr>{history}</table><h2>Jobs</h2><table><tr><th>job</th><th>status</th>'
                f'<th>role</th><th>requested</th><th class="num">charged</th></tr>{jobs}</table>'
                f'<h2>Findings</h2>{self._findings_table(report.findings, report)}')
            return self._page(member.name, body, report)

    @staticmethod
    def _roles_in(job: Any, address: str) -> str:
        roles = []
        if job.requester == address:
            roles.append("requester")
        if any(i.owner == address for i in job.inputs):
            roles.append("data owner")
        if any(n.account == address for n in job.nodes):
            roles.append("compute node")
        if job.recipient == address and job.recipient != job.requester:
            roles.append("recipient")
        return ", ".join(roles)

    def datasets(self, request: Request) -> HTMLResponse:
        with self._report(request) as report:
            rows = "".join(
                f'<tr data-dataset="{d.dataset_id}"><td>{d.dataset_id}</td><td><a href="/datasets/{d.dataset_id}">'
                f'{escape(d.name)}</a></td><td>{escape(d.owner_name)}</td><td>{d.version}</td>'
                f'<td class="num">{d.row_count:,}</td><td>{"frozen" if d.frozen else "active" if d.active else "inactive"}</td>'
                f'<td class="num" data-testid="jobs">{d.jobs}</td><td class="num">{d.rows_used:,}</td>'
                f'<td class="num" data-testid="revenue">{d.revenue:,}</td></tr>' for d in report.datasets)
            chart = charts.horizontal_bars([(d.name, d.revenue) for d in report.datasets],
                                           "revenue by dataset (credits)", chart_id="chart-dataset-revenue")
            series = report.series()
            names = {d.dataset_id: d.name for d in report.datasets}
            over_time = charts.stacked_columns(
                _by_bucket(series["jobs_by_dataset"], names), list(names.values()), series["bucket_seconds"],
                "jobs using each dataset over time", chart_id="chart-dataset-time")
            body = (f'<h1>Datasets</h1>{self._filter_note(report)}{chart}{over_time}<table id="datasets"><tr><th>id</th>'
                    f'<th>name</th><th>owner</th><th>version</th><th class="num">rows</th><th>state</th>'
                    f'<th class="num">jobs</th><th class="num">rows used</th><th class="num">revenue</th></tr>{rows}</table>')
            return self._page("Datasets", body, report)

    def dataset(self, request: Request) -> HTMLResponse:
        dataset_id = request.path_params["dataset_id"]
        with self.auditor.lock:
            ledger = self.auditor.state.ledger
            if dataset_id not in ledger.datasets:
                raise InputError(f"no dataset {dataset_id} on chain; ids run from 1 to {len(ledger.datasets)}")
            report = self.auditor.report(AuditFilter(dataset_id=dataset_id))
            usage = report.datasets[0]
            record = report.to_dict()["datasets"][0]
            series = report.series()
            chart = charts.columns(series["jobs_by_dataset"].get(dataset_id, {}), series["bucket_seconds"],
                                   f"jobs using {usage.name} over time", key="jobs", chart_id="chart-dataset-usage")
            columns = ", ".join(f"{escape(c['name'])} <span class=muted>{escape(c['type'])}</span>"
                                for c in record["columns"])
            versions = "".join(f'<tr><td>{v["version"]}</td><td class="num">{v["row_count"]:,}</td><td>{_hash(v["fingerprint"])}</td>'
                               f'<td>{v["block"]}</td><td>{v["time"]}</td></tr>' for v in record["versions"])
            grants = "".join(f'<tr><td>{escape(g["grantee_name"])}</td><td>{"active" if g["active"] else "revoked"}</td>'
                             f'<td>{g["expiry"]}</td><td class="num">{g["uses"]}{"/" + str(g["max_uses"]) if g["max_uses"] else ""}</td>'
                             f'<td>{g["allowed_kinds"]:#04x}</td></tr>' for g in record["grants"])
            levels = "".join(f'<tr><td>{escape(lv["grantee_name"])}</td><td>{escape(lv["column_name"] or str(lv["column"]))}</td>'
                             f'<td>{escape(lv["level"])}</td></tr>' for lv in record["levels"])
            history = "".join(f'<tr><td>{s["block"]}</td><td>{s["time"]}</td><td>{escape(s["event"])}</td>'
                              f'<td>{escape(s["detail"])}</td></tr>' for s in record["history"] + record["level_history"])
            body = (
                f'<h1>Dataset {dataset_id}: {escape(usage.name)}</h1><table>'
                f'<tr><th>owner</th><td><a href="/members/{usage.owner}">{escape(usage.owner_name)}</a></td></tr>'
                f'<tr><th>state</th><td data-testid="state">{"frozen" if usage.frozen else "active" if usage.active else "inactive"}</td></tr>'
                f'<tr><th>schema</th><td>{columns}<br>{_hash(record["schema_hash"])}</td></tr>'
                f'<tr><th>version / rows</th><td>{usage.version} / {usage.row_count:,}</td></tr>'
                f'<tr><th>prices</th><td>{usage.price_per_job:,} per job + {usage.price_per_row:,} per row</td></tr>'
                f'<tr><th>jobs / rows used / revenue</th><td class="num"><span data-testid="jobs">{usage.jobs}</span> / '
                f'{usage.rows_used:,} / <span data-testid="revenue">{usage.revenue:,}</span></td></tr></table>'
                f'<h2>Usage over time</h2>{chart}<h2>Versions</h2><table><tr><th>version</th><th class="num">rows</th>'
                f'<th>fingerprint</th><th>block</th><th>time</th></tr>{versions}</table>'
                f'<h2>Grants</h2><table><tr><th>grantee</th><th>state</th><th>expiry</th><th class="num">uses</th>'
                f'<th>kinds</th></tr>{grants}</table><h2>Column levels</h2><table><tr><th>grantee</th><th>column</th>'
                f'<th>level</th></tr>{levels}</table><h2>History</h2><table><tr><th>block</th><th>time</th><th>event</th>'
                f'<th>detail</th></tr>{history}</table>')
            return self._page(usage.name, body, report)

    def anomalies(self, request: Request) -> HTMLResponse:
        with self._report(request) as report:
            counts = {s: report.count(s) for s in Severity}
            body = (f'<h1>Anomalies and findings</h1>{self._filter_note(report)}<p>'
                    f'<span data-testid="count-error">{counts[Severity.ERROR]}</span> errors · '
                    f'<span data-testid="count-warning">{counts[Severity.WARNING]}</span> warnings · '
                    f'<span data-testid="count-info">{counts[Severity.INFO]}</span> info</p>'
                    f'{self._findings_table(report.findings, report)}')
            return self._page("Anomalies", body, report)

    def _findings_table(self, findings: list[Finding], report: AuditReport) -> str:
        if not findings:
            return '<p class="muted" id="findings">none</p>'
        rows = "".join(
            f'<tr class="{f.severity.value}" data-check="{escape(f.check)}" data-job-id="{f.job_id or ""}">'
            f'<td>{escape(f.severity.value)}</td><td>{escape(f.check)}</td>'
            f'<td>{f"<a href=/jobs/{f.job_id}>{f.job_id}</a>" if f.job_id else ""}</td>'
            f'<td>{"" if f.block is None else f.block}</td><td>{escape(f.message)}</td></tr>' for f in findings)
        return (f'<table id="findings"><tr><th>severity</th><th>check</th><th>job</th><th>block</th><th>finding</th>'
                f'</tr>{rows}</table>')

    # -- API ----------------------------------------------------------------------------------

    def report_json(self, request: Request) -> JSONResponse:
        with self._report(request) as report:
            return JSONResponse(report.to_dict())

    def head(self, request: Request) -> JSONResponse:
        state = self.auditor.state
        return JSONResponse({"version": self.auditor.version, "block": state.block,
                             "timestamp": state.block_timestamp,
                             "passed": not any(f.severity is Severity.ERROR for f in state.findings),
                             "error": self.follower.error})
