"""The audit's checks: pure functions from the rebuilt :class:`Ledger` to findings.

Per-job checks (``check_x(job, ledger)``) judge one job by the facts the fold
recorded for it (its request context, steps, commitments, settlements);
global checks (``check_x(ledger)``) judge the ledger as a whole. Each finding
names its check (see :data:`offchain.audit.findings.CHECKS`), the job, block
and transaction. :func:`run_checks` runs them all; :func:`job_verdict` runs
the per-job checks for one job, for the job page's "verify" result.

The rules re-implemented here are the contracts' (docs/CONTRACTS.md), judged
from events only: a correct chain passes every check, so an ``error``
finding means a forged or incomplete event history, a contract defect, or a
node whose view of the chain cannot be trusted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from offchain.audit.findings import CHECKS, Finding, Severity
from offchain.audit.ledger import Ledger
from offchain.audit.records import (
    REQUIRES_ACTIVE_MEMBER,
    REQUIRES_ADMIN,
    REQUIRES_ADMIN_OR_REGULATOR,
    REQUIRES_ADMITTED,
    REQUIRES_REGULATOR,
    ZERO_ADDRESS,
    ZERO_HASH,
    JobRecord,
    Step,
)
from offchain.chain.models import JobKind, JobStatus, MemberStatus
from offchain.chain.render import render_kinds, render_time
from offchain.vocabulary import ConstraintLevel

MAX_INPUTS = 16
COMPUTE_NODES = 3
PROGRAM_KINDS = frozenset({int(JobKind.SCRIPT), int(JobKind.PUBLISH), int(JobKind.MODEL_PREDICT)})
ENDED = frozenset({JobStatus.FINALIZED, JobStatus.RESOLVED, JobStatus.EXPIRED, JobStatus.DECLINED})


def _finding(severity: Severity, check: str, message: str, step: Step | None = None, *,
             job_id: int | None = None, member: str | None = None, dataset_id: int | None = None) -> Finding:
    return Finding(severity, check, message, job_id,
                   step.block if step else None, step.transaction if step else None,
                   step.timestamp if step else None, member, dataset_id)


def _who(ledger: Ledger, account: str) -> str:
    name = ledger.member_name(account)
    return f"{name} ({account})" if name != account else account


def _level(value: int) -> str:
    try:
        return ConstraintLevel(value).name
    except ValueError:
        return f"{value} (not a level)"


def _permits(granted: int, required: int) -> bool:
    return granted == int(ConstraintLevel.PLAINTEXT) or required == int(ConstraintLevel.ENCRYPTED_ONLY) \
        or granted == required


# ---------------------------------------------------------------------------------------------
# per-job checks


def check_request_authorised(job: JobRecord, ledger: Ledger) -> list[Finding]:
    """Judge the request by every policy and shape rule as it stood at its block."""
    out: list[Finding] = []
    context, step, job_id = job.context, job.request_step, job.job_id

    def fail(message: str, **where: object) -> None:
        out.append(_finding(Severity.ERROR, "request-authorised", f"job {job_id}: {message}", step,
                            job_id=job_id, **where))  # type: ignore[arg-type]

    kind = int(job.kind)
    if kind not in range(len(JobKind)):
        fail(f"kind {kind} is not one of the six job kinds")
    if job.program_hash == ZERO_HASH:
        fail("the program hash is zero")
    if not 1 <= len(job.inputs) <= MAX_INPUTS:
        fail(f"{len(job.inputs)} inputs; a job takes 1 to {MAX_INPUTS}")
    repeated = [d for d, n in Counter(i.dataset_id for i in job.inputs).items() if n > 1]
    if repeated:
        fail(f"dataset(s) {repeated} listed more than once among the inputs")
    publish = kind == int(JobKind.PUBLISH)
    expected_nodes = 1 if publish else COMPUTE_NODES
    if len(job.nodes) != expected_nodes:
        fail(f"{len(job.nodes)} compute nodes; {job.kind_name} needs {expected_nodes}")
    if len({n.account for n in job.nodes}) != len(job.nodes):
        fail("a compute node is listed twice")
    if publish and job.nodes and job.inputs and job.nodes[0].account != job.inputs[0].owner:
        fail(f"the PUBLISH node {_who(ledger, job.nodes[0].account)} is not the input's owner "
             f"{_who(ledger, job.inputs[0].owner)}")
    if job.recipient == ZERO_ADDRESS:
        fail("the result recipient is the zero address")
    if job.deadline <= context.timestamp:
        fail(f"deadline {render_time(job.deadline)} is not after the request at {render_time(context.timestamp)}")
    elif job.deadline > context.timestamp + context.deadline_horizon:
        fail(f"deadline {render_time(job.deadline)} is beyond the {context.deadline_horizon} s horizon "
             f"(latest {render_time(context.timestamp + context.deadline_horizon)})")
    if context.requester_status is not MemberStatus.ACTIVE:
        fail(f"the requester {_who(ledger, job.requester)} was {context.requester_status.name}, not ACTIVE",
             member=job.requester)
    if job.recipient != job.requester and context.recipient_status is not MemberStatus.ACTIVE:
        fail(f"the recipient {_who(ledger, job.recipient)} was {context.recipient_status.name}, not ACTIVE",
             member=job.recipient)
    for node, status in zip(job.nodes, context.node_statuses, strict=True):
        if status is not MemberStatus.ACTIVE:
            fail(f"compute node {_who(ledger, node.account)} was {status.name}, not ACTIVE", member=node.account)
    for index, (item, seen) in enumerate(zip(job.inputs, context.inputs, strict=True)):
        where = f"input {index} (dataset {item.dataset_id})"
        dataset_id = item.dataset_id
        if not seen.known:
            fail(f"{where}: no such dataset was registered", dataset_id=dataset_id)
            continue
        if not seen.active:
            fail(f"{where}: the dataset was deactivated by its owner", dataset_id=dataset_id)
        if seen.frozen:
            fail(f"{where}: the dataset was frozen by a regulator", dataset_id=dataset_id)
        if seen.owner_status is not MemberStatus.ACTIVE:
            fail(f"{where}: its owner {_who(ledger, seen.owner)} was {seen.owner_status.name}",
                 dataset_id=dataset_id, member=seen.owner)
        if job.requester != seen.owner:
            grant = seen.grant
            if grant is None:
                fail(f"{where}: neither {_who(ledger, job.requester)} nor all members held an active grant",
                     dataset_id=dataset_id)
            else:
                holder = _who(ledger, grant.grantee)
                if context.timestamp > grant.expiry:
                    fail(f"{where}: the grant of {holder} expired at {render_time(grant.expiry)}, before the "
                         f"request at {render_time(context.timestamp)}", dataset_id=dataset_id)
                if grant.max_uses and grant.uses >= grant.max_uses:
                    fail(f"{where}: the grant of {holder} was exhausted ({grant.uses} of {grant.max_uses} uses)",
                         dataset_id=dataset_id)
                if kind in range(8) and not grant.allowed_kinds & (1 << kind):
                    fail(f"{where}: the grant of {holder} allows {render_kinds(grant.allowed_kinds)}, not "
                         f"{job.kind_name}", dataset_id=dataset_id)
        if len(item.columns) != len(item.levels):
            fail(f"{where}: {len(item.columns)} columns but {len(item.levels)} levels", dataset_id=dataset_id)
            continue
        for position, (column, required) in enumerate(zip(item.columns, item.levels, strict=True)):
            if column >= seen.column_count:
                fail(f"{where}: column {column} is beyond its {seen.column_count} columns", dataset_id=dataset_id)
                continue
            if required not in range(len(ConstraintLevel)):
                fail(f"{where}: level {required} is not a constraint level", dataset_id=dataset_id)
                continue
            for party, levels in ((job.requester, seen.requester_levels), (job.recipient, seen.recipient_levels)):
                if levels is not None and not _permits(levels[position], required):
                    fail(f"{where}: column {column} is granted {_level(levels[position])} to "
                         f"{_who(ledger, party)}; the job required {_level(required)}", dataset_id=dataset_id)
        if kind in PROGRAM_KINDS and job.requester != seen.owner and not seen.program_approved:
            fail(f"{where}: program 0x{job.program_hash.hex()} was not approved by the owner",
                 dataset_id=dataset_id)
        if publish:
            consent = seen.consent
            if consent is None or not consent.recorded:
                fail(f"{where}: no consent recorded for the subject and purpose", dataset_id=dataset_id)
            elif consent.revoked:
                fail(f"{where}: the subject's consent was revoked", dataset_id=dataset_id)
            elif context.timestamp > consent.expiry:
                fail(f"{where}: the subject's consent expired at {render_time(consent.expiry)}",
                     dataset_id=dataset_id)
    return out


def check_grant_quota(job: JobRecord, ledger: Ledger) -> list[Finding]:
    """Each request used exactly the applicable grants, one use each, within their quota."""
    out: list[Finding] = []
    expected = Counter((item.dataset_id, seen.grant.grantee)
                       for item, seen in zip(job.inputs, job.context.inputs, strict=True)
                       if seen.known and seen.grant is not None and seen.owner != job.requester)
    actual = Counter((use.dataset_id, use.grantee) for use in job.grant_uses)
    for (dataset_id, grantee), count in (actual - expected).items():
        out.append(_finding(Severity.ERROR, "grant-quota",
                            f"job {job.job_id}: counted {count} use(s) of the grant of "
                            f"{_who(ledger, grantee)} on dataset {dataset_id}, which did not apply",
                            job.request_step, job_id=job.job_id, dataset_id=dataset_id))
    for (dataset_id, grantee), count in (expected - actual).items():
        out.append(_finding(Severity.ERROR, "grant-quota",
                            f"job {job.job_id}: used the grant of {_who(ledger, grantee)} on dataset "
                            f"{dataset_id} without counting the use ({count} missing GrantUsed)",
                            job.request_step, job_id=job.job_id, dataset_id=dataset_id))
    for use in job.grant_uses:
        grant = ledger.grants.get((use.dataset_id, use.grantee))
        if use.uses_after != use.uses_before + 1:
            out.append(_finding(Severity.ERROR, "grant-quota",
                                f"job {job.job_id}: the grant of {_who(ledger, use.grantee)} on dataset "
                                f"{use.dataset_id} went from {use.uses_before} to {use.uses_after} uses in one request",
                                use.step, job_id=job.job_id, dataset_id=use.dataset_id))
        quota = next((seen.grant.max_uses for item, seen in zip(job.inputs, job.context.inputs, strict=True)
                      if item.dataset_id == use.dataset_id and seen.grant is not None), None)
        if quota is None and grant is not None:
            quota = grant.max_uses
        if quota and use.uses_after > quota:
            out.append(_finding(Severity.ERROR, "grant-quota",
                                f"job {job.job_id}: use {use.uses_after} of the grant of {_who(ledger, use.grantee)} "
                                f"on dataset {use.dataset_id} exceeds its quota of {quota}",
                                use.step, job_id=job.job_id, dataset_id=use.dataset_id))
    return out


def check_request_priced(job: JobRecord, ledger: Ledger) -> list[Finding]:
    """The fee cap covers the maximum fee at the request's prices; the escrow equals the fee cap."""
    out: list[Finding] = []
    if job.fee_cap < job.max_fee:
        out.append(_finding(Severity.ERROR, "request-priced",
                            f"job {job.job_id}: fee cap {job.fee_cap} is below the maximum fee {job.max_fee}",
                            job.request_step, job_id=job.job_id))
    if job.escrow is None:
        out.append(_finding(Severity.ERROR, "request-priced", f"job {job.job_id}: no escrow was opened",
                            job.request_step, job_id=job.job_id))
    elif job.escrow != job.fee_cap:
        out.append(_finding(Severity.ERROR, "request-priced",
                            f"job {job.job_id}: escrowed {job.escrow} credits, but the fee cap is {job.fee_cap}",
                            job.request_step, job_id=job.job_id))
    return out


_ALLOWED_BEFORE = {
    "JobAccepted": {JobStatus.REQUESTED},
    "JobStarted": {JobStatus.REQUESTED},
    "InputCommitted": {JobStatus.REQUESTED, JobStatus.RUNNING},
    "ResultCommitted": {JobStatus.RUNNING},
    "JobCommitted": {JobStatus.RUNNING},
    "JobFinalized": {JobStatus.COMMITTED},
    "JobDeclined": {JobStatus.REQUESTED},
    "JobDisputed": {JobStatus.RUNNING, JobStatus.COMMITTED},
    "JobDisputeResolved": {JobStatus.DISPUTED},
    "JobExpired": {JobStatus.REQUESTED, JobStatus.RUNNING},
}

_BEFORE_DEADLINE = frozenset({"JobAccepted", "InputCommitted", "ResultCommitted"})


def check_lifecycle(job: JobRecord, ledger: Ledger) -> list[Finding]:
    """Every step of the job is a legal move of the Jobs state machine at its time."""
    out: list[Finding] = []
    job_id = job.job_id

    def fail(message: str, step: Step) -> None:
        out.append(_finding(Severity.ERROR, "lifecycle", f"job {job_id}: {message}", step, job_id=job_id))

    results_started = False
    for position, job_step in enumerate(job.steps):
        step = job_step.step
        name = step.name
        allowed = _ALLOWED_BEFORE.get(name)
        if allowed is not None and job_step.status_before not in allowed:
            fail(f"{name} while {job_step.status_before.name}; allowed only from "
                 f"{' or '.join(sorted(s.name for s in allowed))}", step)
        if name in _BEFORE_DEADLINE and step.timestamp > job.deadline:
            fail(f"{name} at {render_time(step.timestamp)}, after the deadline {render_time(job.deadline)}", step)
        if name == "JobAccepted":
            after = (job.steps[position + 1].pending_acceptances_before if position + 1 < len(job.steps)
                     else job.pending_acceptances)
            if job_step.allowed_pending_acceptances is not None and after not in job_step.allowed_pending_acceptances:
                allowed_masks = ", ".join(f"{m:#x}" for m in sorted(job_step.allowed_pending_acceptances)) or "none"
                fail(f"acceptance by {_who(ledger, step.actor or '')} left pending mask {after:#x}; its roles "
                     f"allow {allowed_masks} (before: {job_step.pending_acceptances_before:#x})", step)
        elif name == "JobStarted" and job_step.pending_acceptances_before != 0:
            fail(f"started with acceptances still pending (mask {job_step.pending_acceptances_before:#x})", step)
        elif name == "InputCommitted" and results_started:
            fail("an input was committed after a result commitment", step)
        elif name == "ResultCommitted":
            results_started = True
        elif name == "JobExpired" and step.timestamp <= job.deadline:
            fail(f"expired at {render_time(step.timestamp)}, not after its deadline {render_time(job.deadline)}",
                 step)
        elif name == "JobFinalized" and step.actor != job.requester:
            if step.actor not in job.participants:
                fail(f"finalized by {_who(ledger, step.actor or '')}, neither the requester nor a participant", step)
            else:
                window = ledger.confirmation_window_at(step.block, step.log_index)
                if step.timestamp < job.committed_at + window:
                    fail(f"finalized by participant {_who(ledger, step.actor or '')} at "
                         f"{render_time(step.timestamp)}, inside the confirmation window that ends at "
                         f"{render_time(job.committed_at + window)}", step)
        elif name == "JobDeclined":
            roles = job.role_mask(step.actor or "")
            if not roles & job_step.pending_acceptances_before:
                fail(f"declined by {_who(ledger, step.actor or '')}, which had no pending acceptance", step)
        elif name == "JobDisputed":
            if step.actor not in job.involved:
                fail(f"disputed by {_who(ledger, step.actor or '')}, which is not involved", step)
            if job.dispute is not None and job.dispute.suspect not in job.involved | {ZERO_ADDRESS}:
                fail(f"the dispute names suspect {_who(ledger, job.dispute.suspect)}, which is not involved", step)
        elif name == "JobCommitted":
            if job.pending_results:
                fail(f"committed with result commitments pending (mask {job.pending_results:#x})", step)
            if job.committed_at != step.timestamp:
                fail(f"records committedAt {job.committed_at}, but its block is at {step.timestamp}", step)
    return out


def check_commitments_complete(job: JobRecord, ledger: Ledger) -> list[Finding]:
    """Committed and finalized jobs hold every commitment; rows used stay within the row limit."""
    out: list[Finding] = []
    for index, item in enumerate(job.inputs):
        if item.committed and item.rows_used > item.row_limit:
            out.append(_finding(Severity.ERROR, "commitments-complete",
                                f"job {job.job_id}: input {index} declares {item.rows_used} rows used, more than "
                                f"the {item.row_limit} the dataset had at the request", item.commit_step,
                                job_id=job.job_id, dataset_id=item.dataset_id))
        if item.committed and item.fingerprint == ZERO_HASH:
            out.append(_finding(Severity.ERROR, "commitments-complete",
                                f"job {job.job_id}: input {index} committed a zero fingerprint", item.commit_step,
                                job_id=job.job_id, dataset_id=item.dataset_id))
    for index, node in enumerate(job.nodes):
        if node.committed and ZERO_HASH in (node.result_commitment, node.transcript_hash):
            out.append(_finding(Severity.ERROR, "commitments-complete",
                                f"job {job.job_id}: node {index} committed a zero result or transcript hash",
                                node.commit_step, job_id=job.job_id, member=node.account))
    reached_commit = job.status in (JobStatus.COMMITTED, JobStatus.FINALIZED) or any(
        s.step.name == "JobCommitted" for s in job.steps)
    if reached_commit:
        missing_inputs = [i for i, item in enumerate(job.inputs) if not item.committed]
        missing_nodes = [k for k, node in enumerate(job.nodes) if not node.committed]
        if missing_inputs or missing_nodes:
            out.append(_finding(Severity.ERROR, "commitments-complete",
                                f"job {job.job_id} is {job.status.name} but inputs {missing_inputs} and nodes "
                                f"{missing_nodes} never committed", job.steps[-1].step, job_id=job.job_id))
    return out


def check_transcripts_agree(job: JobRecord, ledger: Ledger) -> list[Finding]:
    """The compute nodes committed one and the same session transcript hash."""
    committed = [(k, node) for k, node in enumerate(job.nodes) if node.committed]
    if len(job.nodes) < 2 or len(committed) < 2:
        return []
    counts = Counter(node.transcript_hash for _, node in committed)
    if len(counts) == 1:
        return []
    majority, majority_count = counts.most_common(1)[0]
    odd = [(k, node) for k, node in committed if node.transcript_hash != majority]
    if majority_count > 1 and len(odd) == 1:
        k, node = odd[0]
        message = (f"job {job.job_id}: compute node {k} {_who(ledger, node.account)} committed transcript "
                   f"0x{node.transcript_hash.hex()}, the other nodes 0x{majority.hex()}: the session "
                   "transcripts of the three parties must be identical; that node deviated or is faulty")
        return [_finding(Severity.ERROR, "transcripts-agree", message, node.commit_step, job_id=job.job_id,
                         member=node.account)]
    listing = ", ".join(f"node {k} 0x{node.transcript_hash.hex()[:16]}…" for k, node in committed)
    return [_finding(Severity.ERROR, "transcripts-agree",
                     f"job {job.job_id}: the compute nodes committed different transcripts ({listing}); "
                     "no majority names a single deviating node", committed[-1][1].commit_step,
                     job_id=job.job_id)]


def check_payout_matches_metering(job: JobRecord, ledger: Ledger) -> list[Finding]:
    """Each settlement pays the committed work at the quoted prices and refunds exactly the rest."""
    out: list[Finding] = []
    escrow = job.escrow or 0
    expected_payees = tuple([i.owner for i in job.inputs] + [n.account for n in job.nodes])
    expected_amounts = tuple([i.payout for i in job.inputs] + [n.payout for n in job.nodes])
    for settlement in job.settlements:
        if settlement.kind == "refunded":
            if settlement.refund != escrow:
                out.append(_finding(Severity.ERROR, "payout-matches-metering",
                                    f"job {job.job_id}: refunded {settlement.refund}, but {escrow} was escrowed",
                                    settlement.step, job_id=job.job_id))
            continue
        if settlement.payees != expected_payees:
            out.append(_finding(Severity.ERROR, "payout-matches-metering",
                                f"job {job.job_id}: paid {[_who(ledger, p) for p in settlement.payees]}, but its "
                                f"owners and nodes are {[_who(ledger, p) for p in expected_payees]}",
                                settlement.step, job_id=job.job_id))
        if settlement.amounts != expected_amounts:
            lines = ", ".join(f"{ledger.member_name(p)} {a} (metering says {e})" for p, a, e in
                              zip(settlement.payees, settlement.amounts, expected_amounts, strict=False) if a != e)
            out.append(_finding(Severity.ERROR, "payout-matches-metering",
                                f"job {job.job_id}: payouts differ from the metering: {lines or 'line count differs'}",
                                settlement.step, job_id=job.job_id))
        expected_refund = escrow - sum(expected_amounts)
        if settlement.refund != expected_refund:
            out.append(_finding(Severity.ERROR, "payout-matches-metering",
                                f"job {job.job_id}: refunded {settlement.refund} to the requester; escrow {escrow} "
                                f"minus payouts {sum(expected_amounts)} is {expected_refund}",
                                settlement.step, job_id=job.job_id))
    return out


def check_settlement(job: JobRecord, ledger: Ledger) -> list[Finding]:
    """Every ended job settled exactly once, in the transaction that ended it, the way its end requires."""
    kinds = [s.kind for s in job.settlements]
    if job.status in ENDED:
        if job.status is JobStatus.FINALIZED:
            expected = "metered"
        elif job.status is JobStatus.RESOLVED:
            expected = "refunded" if job.resolution and job.resolution[0] else "metered"
        else:
            expected = "refunded"
        if kinds != [expected]:
            return [_finding(Severity.ERROR, "settlement",
                             f"job {job.job_id} is {job.status.name} and should have been settled once as "
                             f"{expected}; its settlements: {kinds or 'none'}", job.steps[-1].step,
                             job_id=job.job_id)]
        ending = next((s.step for s in reversed(job.steps) if s.step.name in (
            "JobFinalized", "JobDisputeResolved", "JobExpired", "JobDeclined")), None)
        if ending is not None and job.settlements[0].step.transaction != ending.transaction:
            return [_finding(Severity.ERROR, "settlement",
                             f"job {job.job_id}: settled in transaction {job.settlements[0].step.transaction}, "
                             f"not in {ending.transaction} that ended it", job.settlements[0].step,
                             job_id=job.job_id)]
        return []
    if kinds:
        return [_finding(Severity.ERROR, "settlement",
                         f"job {job.job_id} is {job.status.name} (not ended) but its escrow was settled "
                         f"({', '.join(kinds)})", job.settlements[0].step, job_id=job.job_id)]
    return []


PER_JOB_CHECKS: dict[str, Callable[[JobRecord, Ledger], list[Finding]]] = {
    "request-authorised": check_request_authorised,
    "grant-quota": check_grant_quota,
    "request-priced": check_request_priced,
    "lifecycle": check_lifecycle,
    "commitments-complete": check_commitments_complete,
    "transcripts-agree": check_transcripts_agree,
    "payout-matches-metering": check_payout_matches_metering,
    "settlement": check_settlement,
}


# ---------------------------------------------------------------------------------------------
# global checks


def check_events_consistent(ledger: Ledger) -> list[Finding]:
    """Every event fitted the state rebuilt before it."""
    return [_finding(Severity.ERROR, "events-consistent", item.message, item.step, job_id=item.job_id,
                     member=item.member, dataset_id=item.dataset_id) for item in ledger.irregularities]


def _requirement_met(requirement: str, status: MemberStatus, roles: frozenset[str]) -> bool:
    if requirement == REQUIRES_ACTIVE_MEMBER:
        return status is MemberStatus.ACTIVE
    if requirement == REQUIRES_ADMITTED:
        return status is not MemberStatus.NONE
    if requirement == REQUIRES_ADMIN:
        return "DEFAULT_ADMIN_ROLE" in roles
    if requirement == REQUIRES_REGULATOR:
        return "REGULATOR_ROLE" in roles
    if requirement == REQUIRES_ADMIN_OR_REGULATOR:
        return bool({"DEFAULT_ADMIN_ROLE", "REGULATOR_ROLE"} & roles)
    return False


def check_acted_while_active(ledger: Ledger) -> list[Finding]:
    """Every restricted action was taken by an account holding the required status or role."""
    out = []
    for action in ledger.actions:
        if _requirement_met(action.requirement, action.actor_status, action.actor_roles):
            continue
        held = action.actor_status.name if action.requirement in (REQUIRES_ACTIVE_MEMBER, REQUIRES_ADMITTED) \
            else ("roles " + ", ".join(sorted(action.actor_roles)) if action.actor_roles else "no role")
        target = f" on job {action.job_id}" if action.job_id else (
            f" on dataset {action.dataset_id}" if action.dataset_id else "")
        out.append(_finding(Severity.ERROR, "acted-while-active",
                            f"{_who(ledger, action.actor)} could {action.what}{target} only as {action.requirement}, "
                            f"but was {held} at block {action.step.block}", action.step,
                            job_id=action.job_id, member=action.actor, dataset_id=action.dataset_id))
    return out


def check_balances(ledger: Ledger) -> list[Finding]:
    """No balance went negative; issued − redeemed = Σ balances + Σ open escrows."""
    out = [_finding(Severity.ERROR, "balances",
                    f"the balance of {_who(ledger, account)} went to {balance} credits", step, member=account)
           for account, balance, step in ledger.negative_balances]
    held = sum(ledger.balances.values())
    escrowed = sum(amount for _, amount in ledger.escrows.values())
    circulating = ledger.total_issued - ledger.total_redeemed
    if circulating != held + escrowed:
        out.append(Finding(Severity.ERROR, "balances",
                           f"credits issued {ledger.total_issued} − redeemed {ledger.total_redeemed} = {circulating}, "
                           f"but balances hold {held} and open escrows {escrowed} (sum {held + escrowed})",
                           block=ledger.last_block, timestamp=ledger.last_timestamp))
    return out


def _status_at(job: JobRecord, block: int, log_index: int) -> JobStatus:
    """The job's status just before position (block, log_index)."""
    status = JobStatus.NONE
    for position, job_step in enumerate(job.steps):
        if (job_step.step.block, job_step.step.log_index) >= (block, log_index):
            return job_step.status_before if position else JobStatus.NONE
        status = (job.steps[position + 1].status_before if position + 1 < len(job.steps) else job.status)
    return status


def check_anomalies(ledger: Ledger) -> list[Finding]:
    """Disputes, expiries, declines, overdue jobs, suspensions, removals, frozen datasets."""
    out: list[Finding] = []
    for job in ledger.jobs.values():
        job_id = job.job_id
        if job.dispute is not None:
            dispute = job.dispute
            suspect = _who(ledger, dispute.suspect) if dispute.suspect != ZERO_ADDRESS else "no named suspect"
            out.append(_finding(Severity.WARNING, "anomalies",
                                f"job {job_id} disputed by {_who(ledger, dispute.opened_by)}; suspect: {suspect}; "
                                f"evidence 0x{dispute.evidence_hash.hex()}", dispute.step, job_id=job_id,
                                member=dispute.suspect if dispute.suspect != ZERO_ADDRESS else None))
            if job.resolution is None:
                out.append(_finding(Severity.WARNING, "anomalies",
                                    f"job {job_id}: dispute still open; its escrow of {job.escrow} stays locked "
                                    "until an admin or regulator resolves it", dispute.step, job_id=job_id))
            else:
                refunded, step = job.resolution
                out.append(_finding(Severity.INFO, "anomalies",
                                    f"job {job_id}: dispute resolved by {_who(ledger, step.actor or '')}: " + (
                                        "escrow refunded to the requester" if refunded
                                        else "committed work paid, the rest refunded"), step, job_id=job_id))
        if job.status is JobStatus.EXPIRED:
            step = next(s.step for s in reversed(job.steps) if s.step.name == "JobExpired")
            pending = [k for k, node in enumerate(job.nodes) if not node.committed]
            out.append(_finding(Severity.WARNING, "anomalies",
                                f"job {job_id} expired unfinished (deadline {render_time(job.deadline)}; "
                                f"nodes {pending} had not committed); escrow refunded", step, job_id=job_id))
        elif job.status is JobStatus.DECLINED and job.declined is not None:
            step = next(s.step for s in reversed(job.steps) if s.step.name == "JobDeclined")
            out.append(_finding(Severity.INFO, "anomalies",
                                f"job {job_id} declined by {_who(ledger, job.declined[0])}: {job.declined[1]}",
                                step, job_id=job_id, member=job.declined[0]))
        elif job.status in (JobStatus.REQUESTED, JobStatus.RUNNING) and job.deadline < ledger.now:
            out.append(Finding(Severity.WARNING, "anomalies",
                               f"job {job_id} is still {job.status.name} past its deadline "
                               f"{render_time(job.deadline)}; anyone may expire it to refund the escrow",
                               job_id, max(ledger.head_block, ledger.last_block), None, ledger.now))
    for member in ledger.members.values():
        for step in member.history:
            if step.name == "MemberSuspended":
                in_flight = sorted(
                    job.job_id for job in ledger.jobs.values() if member.address in job.involved
                    and _status_at(job, step.block, step.log_index) in (
                        JobStatus.REQUESTED, JobStatus.RUNNING, JobStatus.COMMITTED, JobStatus.DISPUTED))
                extra = f"; jobs in flight involving it: {in_flight}" if in_flight else ""
                out.append(_finding(Severity.WARNING, "anomalies",
                                    f"{_who(ledger, member.address)} suspended by {_who(ledger, step.actor or '')}: "
                                    f"{step.detail.removeprefix('suspended: ')}{extra}", step,
                                    member=member.address))
            elif step.name == "MemberRemoved":
                out.append(_finding(Severity.WARNING, "anomalies",
                                    f"{_who(ledger, member.address)} removed: {step.detail.removeprefix('removed: ')}",
                                    step, member=member.address))
            elif step.name == "MemberReinstated":
                out.append(_finding(Severity.INFO, "anomalies", f"{_who(ledger, member.address)} reinstated",
                                    step, member=member.address))
    for dataset in ledger.datasets.values():
        for step in dataset.history:
            if step.name == "DatasetFrozen":
                out.append(_finding(Severity.WARNING, "anomalies",
                                    f"dataset {dataset.dataset_id} {dataset.name!r} of "
                                    f"{ledger.member_name(dataset.owner)} frozen by "
                                    f"{_who(ledger, step.actor or '')}: {step.detail.removeprefix('frozen: ')}",
                                    step, dataset_id=dataset.dataset_id, member=dataset.owner))
            elif step.name == "DatasetUnfrozen":
                out.append(_finding(Severity.INFO, "anomalies",
                                    f"dataset {dataset.dataset_id} {dataset.name!r} unfrozen", step,
                                    dataset_id=dataset.dataset_id, member=dataset.owner))
    return out


GLOBAL_CHECKS: dict[str, Callable[[Ledger], list[Finding]]] = {
    "events-consistent": check_events_consistent,
    "acted-while-active": check_acted_while_active,
    "balances": check_balances,
    "anomalies": check_anomalies,
}


def run_checks(ledger: Ledger, jobs: Iterable[JobRecord] | None = None) -> list[Finding]:
    """Run every check over ``ledger`` (per-job checks over ``jobs``, default all); findings sorted."""
    findings: list[Finding] = []
    for check in GLOBAL_CHECKS.values():
        findings += check(ledger)
    for job in ledger.jobs.values() if jobs is None else jobs:
        for check in PER_JOB_CHECKS.values():
            findings += check(job, ledger)
    findings.sort(key=lambda f: f.sort_key)
    return findings


def job_verdict(job: JobRecord, ledger: Ledger) -> dict[str, list[Finding]]:
    """The per-job checks for one job: check name -> its findings (empty: passed)."""
    return {name: check(job, ledger) for name, check in PER_JOB_CHECKS.items()}


_DECLARED = {check.name for check in CHECKS}
for _name in [*PER_JOB_CHECKS, *GLOBAL_CHECKS]:
    if _name not in _DECLARED:
        raise RuntimeError(f"check {_name!r} is not declared in offchain.audit.findings.CHECKS")
