"""The audit engine: read the chain, fold the events, run the checks, compare with the views.

::

    auditor = Auditor(ChainClient.connect(deployment))
    auditor.refresh()                       # reads every event up to the head, checks everything
    report = auditor.report(AuditFilter(member="0x…"))
    report.passed, report.findings

:meth:`Auditor.refresh` is incremental: it folds only the events since the
last call, then re-runs the checks (cheap: a pass over the rebuilt jobs) and
the comparison with the contracts' views at the new head. The web page
calls it in a background thread to follow the chain live; a lock keeps
readers from seeing a half-applied refresh.

:func:`audit_events` is the same pipeline over a list of events given by the
caller (the events of an export, or deliberately altered ones in tests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from offchain.audit.checks import run_checks
from offchain.audit.crosscheck import crosscheck
from offchain.audit.findings import Finding
from offchain.audit.history import ChainHistory, TimedEvent
from offchain.audit.ledger import Ledger
from offchain.audit.report import AuditFilter, AuditReport, build_report
from offchain.chain.client import ChainClient


@dataclass
class Timings:
    """Seconds spent in each stage of the last refresh (and the events it read)."""

    fetch: float = 0.0
    fold: float = 0.0
    checks: float = 0.0
    views: float = 0.0
    events: int = 0

    @property
    def total(self) -> float:
        return self.fetch + self.fold + self.checks + self.views


@dataclass
class AuditState:
    """The outcome of one audit: the rebuilt ledger, the findings, and where the chain stood."""

    ledger: Ledger
    findings: list[Finding] = field(default_factory=list)
    block: int = -1
    block_timestamp: int = 0
    views_checked: bool = False


ROLE_VIEWS = ("REGULATOR_ROLE", "MEMBER_ROLE", "JOBS_ROLE")


def chain_role_names(client: ChainClient) -> dict[bytes, str]:
    """Role id -> name as the deployed Consortium defines them (the admin role is zero)."""
    ids = client.call_many([(client.handles["Consortium"], name, ()) for name in ROLE_VIEWS])
    return {bytes(32): "DEFAULT_ADMIN_ROLE", **{bytes(i): name for i, name in zip(ids, ROLE_VIEWS, strict=True)}}


def audit_events(client: ChainClient | None, events: Sequence[TimedEvent], block: int,
                 block_timestamp: int = 0, *, views: bool = True) -> AuditState:
    """Fold ``events``, run every check and (with a client and ``views``) compare with the views at ``block``."""
    ledger = Ledger(chain_role_names(client) if client is not None else None)
    ledger.fold((item.event, item.timestamp) for item in events)
    ledger.observe_head(block, block_timestamp or ledger.last_timestamp)
    findings = run_checks(ledger)
    checked = False
    if views and client is not None:
        findings = sorted(findings + crosscheck(client, ledger, block), key=lambda f: f.sort_key)
        checked = True
    return AuditState(ledger, findings, block, block_timestamp or ledger.last_timestamp, checked)


class Auditor:
    """Follows one deployment: folds new events on each :meth:`refresh` and re-checks."""

    def __init__(self, client: ChainClient, *, confirmations: int = 0, views: bool = True,
                 block_range: int = 5_000) -> None:
        self.client = client
        self.views = views
        self.history = ChainHistory(client.rpc, client.deployment, confirmations=confirmations,
                                    block_range=block_range, artifacts=client.artifacts)
        self.state = AuditState(Ledger(chain_role_names(client)))
        self.timings = Timings()
        #: Increases on every refresh that read new blocks, so pages can tell when to reload.
        self.version = 0
        self.lock = threading.RLock()
        self._refreshing = threading.Lock()
        self._view_findings: list[Finding] = []

    def refresh(self) -> int:
        """Read and fold the events since the last refresh, re-run the checks; return the event count."""
        with self._refreshing:
            previous = self.history.head
            started = time.perf_counter()
            events = self.history.poll()
            fetched = time.perf_counter()
            if self.history.head == previous:
                return 0
            with self.lock:
                ledger = self.state.ledger
                for item in events:
                    ledger.apply(item.event, item.timestamp)
                if self.history.head is not None:
                    ledger.observe_head(self.history.head[0], self.history.head_timestamp)
                folded = time.perf_counter()
                findings = run_checks(ledger)
                checked = time.perf_counter()
                block = self.history.head[0] if self.history.head else -1
                if self.views:
                    # The first refresh compares every job with its views; later ones the jobs their new
                    # events touched (the others' views are those already compared, unless a contract
                    # changed state without an event — `unseen audit` re-reads them all on every run).
                    touched = None if previous is None else {
                        item.event.args["jobId"] for item in events if "jobId" in item.event.args}
                    view_findings = crosscheck(self.client, ledger, block, touched)
                    if touched is not None:
                        view_findings += [f for f in self._view_findings
                                          if f.job_id is not None and f.job_id not in touched]
                    self._view_findings = view_findings
                    findings = sorted(findings + view_findings, key=lambda f: f.sort_key)
                viewed = time.perf_counter()
                self.state = AuditState(ledger, findings, block, self.history.head_timestamp, self.views)
                self.timings = Timings(fetched - started, folded - fetched, checked - folded, viewed - checked,
                                       len(events))
                self.version += 1
            return len(events)

    def report(self, audit_filter: AuditFilter | None = None) -> AuditReport:
        """Build the report of the current state (see :mod:`offchain.audit.report`)."""
        with self.lock:
            return build_report(self.state, self.client.deployment, audit_filter or AuditFilter())
