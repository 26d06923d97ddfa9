"""The audit over a real chain: jobs finalized, expired, disputed, declined; a suspended member.

Every test reads the story of :mod:`tests.audit.consortium` through the
public pipeline (``Auditor.refresh``: eth_getLogs, fold, checks, views).
"""

from __future__ import annotations

from eth_utils import keccak

from offchain.audit.engine import Auditor
from offchain.audit.findings import Severity
from offchain.audit.report import AuditFilter
from offchain.chain.models import JobStatus, MemberStatus
from tests.audit.conftest import Story
from tests.audit.consortium import (
    CLAIMS_ROWS,
    EASTERN,
    NORTHBANK,
    REGULATOR,
    ST_CLARE,
    VISITS_ROWS,
    WESTLAND,
)


def _audit(story: Story) -> Auditor:
    auditor = Auditor(story.reader)
    auditor.refresh()
    return auditor


def test_rebuilt_jobs_have_the_status_fees_and_commitments_the_contracts_hold(history: Story) -> None:
    auditor = _audit(history)
    ledger, jobs, world = auditor.state.ledger, history.jobs, history.world
    statuses = {job_id: job.status for job_id, job in ledger.jobs.items()}
    assert statuses == {
        jobs.finalized: JobStatus.FINALIZED, jobs.expired: JobStatus.EXPIRED,
        jobs.disputed_refunded: JobStatus.RESOLVED, jobs.disputed_paid: JobStatus.RESOLVED,
        jobs.declined: JobStatus.DECLINED, jobs.transcript_mismatch: JobStatus.FINALIZED,
        jobs.suspended_in_flight: JobStatus.REQUESTED,
    }
    finalized = ledger.jobs[jobs.finalized]
    # claims: 100 per job + 2 per row x 800 rows; visits: 50 + 1 x 300; nodes 10 + 12 + 8
    assert [i.payout for i in finalized.inputs] == [100 + 2 * 800, 50 + 300]
    assert [n.payout for n in finalized.nodes] == [10, 12, 8]
    assert finalized.charged == 1_700 + 350 + 30
    assert finalized.max_fee == (100 + 2 * CLAIMS_ROWS) + (50 + VISITS_ROWS) + 30 == finalized.fee_cap
    assert finalized.settlements[0].refund == finalized.fee_cap - finalized.charged
    assert finalized.digest == world.client(NORTHBANK).jobs.commitment_digest(jobs.finalized)
    assert [i.fingerprint for i in finalized.inputs] == [keccak(text=f"claims-{jobs.finalized}"),
                                                        keccak(text=f"visits-{jobs.finalized}")]
    # The grant context: Northbank's own grant on claims (use 1 of 10), the all-members grant on visits.
    assert [(c.grant.grantee, c.grant.uses, c.grant.max_uses) for c in finalized.context.inputs] == [
        (world.address(NORTHBANK), 0, 10), ("0x" + "00" * 20, 0, 0)]
    assert finalized.context.inputs[0].version == 2  # claims v2 was published before the job
    paid = ledger.jobs[jobs.disputed_paid]
    # Resolved by paying committed work: both inputs and node 0 only.
    assert paid.charged == (100 + 2 * 800) + (50 + 300) + 10
    refunded = ledger.jobs[jobs.disputed_refunded]
    assert refunded.charged == 0 and refunded.settlements[0].kind == "refunded"
    assert refunded.dispute.suspect == world.address(WESTLAND)


def test_the_chain_passes_every_check_but_the_transcript_one(history: Story) -> None:
    auditor = _audit(history)
    errors = [f for f in auditor.state.findings if f.severity is Severity.ERROR]
    assert [(f.check, f.job_id, f.member) for f in errors] == [
        ("transcripts-agree", history.jobs.transcript_mismatch, history.world.address(WESTLAND))]
    assert "compute node 2 Westland Credit Union" in errors[0].message
    report = auditor.report()
    assert not report.passed
    results = {c["name"]: c["passed"] for c in report.check_results}
    assert results.pop("transcripts-agree") is False
    assert all(results.values()), results
    assert auditor.state.views_checked


def test_anomalies_name_the_job_block_and_member(history: Story) -> None:
    auditor = _audit(history)
    jobs, world = history.jobs, history.world
    warnings = [f for f in auditor.state.findings if f.severity is Severity.WARNING]
    by_job = {f.job_id: f for f in warnings if f.job_id is not None and "disputed by" not in f.message}
    assert "expired unfinished" in by_job[jobs.expired].message
    expired_step = next(s.step for s in auditor.state.ledger.jobs[jobs.expired].steps if s.step.name == "JobExpired")
    assert by_job[jobs.expired].block == expired_step.block
    assert by_job[jobs.expired].transaction == expired_step.transaction
    disputes = [f for f in warnings if "disputed by" in f.message]
    assert [f.job_id for f in disputes] == [jobs.disputed_refunded, jobs.disputed_paid]
    assert "suspect: Westland Credit Union" in disputes[0].message
    suspension = next(f for f in warnings if "suspended by" in f.message)
    assert suspension.member == world.address(WESTLAND)
    assert f"jobs in flight involving it: [{jobs.suspended_in_flight}]" in suspension.message
    assert "node key compromised" in suspension.message
    frozen = next(f for f in warnings if "frozen by" in f.message)
    assert frozen.dataset_id == world.visits and "consent audit pending" in frozen.message
    assert auditor.state.ledger.members[world.address(WESTLAND)].status is MemberStatus.SUSPENDED
    assert auditor.state.ledger.datasets[world.visits].frozen


def test_member_and_dataset_usage_add_up_to_the_payouts(history: Story) -> None:
    report = _audit(history).report()
    world = history.world
    members = {m.name: m for m in report.members}
    paid_out = sum(job.charged for job in report.jobs)
    assert members["Northbank"].fees_paid == paid_out
    assert sum(m.revenue for m in members.values()) == paid_out
    assert sum(d.revenue for d in report.datasets) == sum(m.revenue_data for m in members.values())
    assert members["Westland Credit Union"].revenue_compute == 8 + 8  # jobs 1 and 6
    assert members["Westland Credit Union"].status == "SUSPENDED"
    # Balances: every credit issued is held or escrowed (job 7's escrow is still open).
    overview = report.overview()
    assert overview["credits_in_balances"] + overview["credits_in_escrow"] == overview["credits_issued"]
    assert overview["credits_in_escrow"] == report.ledger.jobs[history.jobs.suspended_in_flight].fee_cap
    assert {d.dataset_id: d.jobs for d in report.datasets} == {world.claims: 7, world.visits: 7}


def test_filters_select_jobs_by_member_dataset_and_time(chain: Story) -> None:
    world = chain.world
    auditor = _audit(chain)
    everything = auditor.report()
    westland = auditor.report(AuditFilter(member=world.address(WESTLAND)))
    assert [j.job_id for j in westland.jobs] == [j.job_id for j in everything.jobs]  # node of every job
    cut = everything.jobs[3].created_at
    later = auditor.report(AuditFilter(since=cut))
    assert [j.job_id for j in later.jobs] == [j.job_id for j in everything.jobs if j.created_at >= cut]
    early = auditor.report(AuditFilter(to_block=everything.jobs[1].request_step.block))
    assert [j.job_id for j in early.jobs] == [1, 2]
    # A job that uses claims only; the visits filter leaves it out.
    job_id = world.request(world.query_request(visits=False, nodes=(EASTERN, ST_CLARE, NORTHBANK)))
    auditor.refresh()
    assert job_id in [j.job_id for j in auditor.report(AuditFilter(dataset_id=world.claims)).jobs]
    assert job_id not in [j.job_id for j in auditor.report(AuditFilter(dataset_id=world.visits)).jobs]
    assert job_id not in [j.job_id for j in auditor.report(AuditFilter(member=world.address(WESTLAND))).jobs]


def test_refresh_folds_only_new_events_and_sees_a_new_job(chain: Story) -> None:
    world = chain.world
    auditor = _audit(chain)
    before = auditor.state.ledger.event_count
    assert auditor.refresh() == 0 and auditor.state.ledger.event_count == before
    world.client(REGULATOR).consortium.suspend(world.address(ST_CLARE), "late filings").transact()
    assert auditor.refresh() == 2  # RoleRevoked(MEMBER_ROLE), MemberSuspended
    assert auditor.state.ledger.members[world.address(ST_CLARE)].status is MemberStatus.SUSPENDED
    rebuilt = Auditor(chain.reader)
    rebuilt.refresh()
    assert rebuilt.state.findings == auditor.state.findings  # incremental = from scratch


def test_an_overdue_job_is_reported_once_its_deadline_passes(chain: Story) -> None:
    world = chain.world
    world.advance(2 * 3_600)
    auditor = _audit(chain)
    overdue = [f for f in auditor.state.findings if "past its deadline" in f.message]
    assert [f.job_id for f in overdue] == [chain.jobs.suspended_in_flight]
    world.client(REGULATOR).jobs.expire(chain.jobs.suspended_in_flight).transact()
    auditor.refresh()
    assert not [f for f in auditor.state.findings if "past its deadline" in f.message]
    assert auditor.state.ledger.jobs[chain.jobs.suspended_in_flight].status is JobStatus.EXPIRED
