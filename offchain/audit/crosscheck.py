"""Compare the state rebuilt from events with the contracts' own views.

The ledger is built from events alone; the contracts hold the state itself.
At the block the fold reached, every view a regulator can ask (members and
roles, datasets, column levels, grants, programs, consent, balances, escrows,
jobs with their inputs, nodes, disputes and commitment digests, timings) must
equal the rebuilt state. A divergence is a finding: either the event history
the audit read is forged or incomplete, or a contract changed state without
the event that should record it.

All views are read with ``eth_call`` at that one block, in JSON-RPC batches,
so the comparison is exact even while the chain moves on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from offchain.audit.findings import Finding, Severity
from offchain.audit.ledger import Ledger
from offchain.audit.records import ZERO_ADDRESS, ZERO_HASH, JobRecord
from offchain.chain.client import ChainClient
from offchain.chain.errors import decode_revert
from offchain.chain.models import JobStatus, MemberStatus
from offchain.chain.rpc import RpcFailure


@dataclass(frozen=True)
class _Query:
    contract: str
    function: str
    args: tuple[Any, ...]
    compare: Callable[[Any], list[str]]
    job_id: int | None = None
    member: str | None = None
    dataset_id: int | None = None
    check: str = "views-agree"


def _differences(label: str, pairs: Sequence[tuple[str, Any, Any]]) -> list[str]:
    return [f"{label}: {name} is {_show(view)} on chain but {_show(rebuilt)} from events"
            for name, view, rebuilt in pairs if view != rebuilt]


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (MemberStatus, JobStatus)):
        return value.name
    return repr(value)


def crosscheck(client: ChainClient, ledger: Ledger, block: int,
               jobs: Iterable[int] | None = None) -> list[Finding]:
    """Return a finding for every view at ``block`` that differs from ``ledger``.

    ``jobs`` limits the per-job views to those jobs (default: every job); the
    views of members, datasets, policies, balances and counters are always read.
    """
    queries = list(_queries(ledger, None if jobs is None else set(jobs)))
    tag = hex(block)
    findings: list[Finding] = []
    batch = 2_000
    for start in range(0, len(queries), batch):
        chunk = queries[start: start + batch]
        handles = [client.handles[q.contract] for q in chunk]
        outcomes = client.rpc.batch([("eth_call", [handle.call_object(q.function, *q.args), tag])
                                     for handle, q in zip(handles, chunk, strict=True)])
        for handle, query, outcome in zip(handles, chunk, outcomes, strict=True):
            if isinstance(outcome, RpcFailure):
                if outcome.revert_data is None:
                    raise outcome.as_error()
                error = decode_revert(outcome.revert_data, handle.label(query.function), client.label_address)
                messages = [f"{query.contract}.{query.function}{_arguments(query.args)} reverted with "
                            f"{type(error).__name__} ({error}), but the events describe it"]
            else:
                messages = query.compare(handle.decode_output(query.function, outcome))
            for message in messages:
                findings.append(Finding(Severity.ERROR, query.check, message, query.job_id, block, None,
                                        ledger.last_timestamp, query.member, query.dataset_id))
    return findings


def _arguments(args: tuple[Any, ...]) -> str:
    return "(" + ", ".join(_show(a) if isinstance(a, (bytes, bytearray)) else str(a) for a in args) + ")"


def _queries(ledger: Ledger, jobs: set[int] | None):
    yield from _consortium_queries(ledger)
    yield from _catalog_queries(ledger)
    yield from _policy_queries(ledger)
    yield from _billing_queries(ledger)
    yield from _jobs_queries(ledger, jobs)


def _consortium_queries(ledger: Ledger):
    order = list(ledger.member_order)
    yield _Query("Consortium", "members", (), lambda view: [] if list(view) == order else [
        f"Consortium.members() lists {len(view)} accounts {list(view)[:5]}…; the events admitted {len(order)} "
        f"{order[:5]}…"])
    for member in ledger.members.values():
        def compare(view: dict[str, Any], member=member) -> list[str]:
            return _differences(f"member {member.name} ({member.address})", [
                ("name", view["name"], member.name), ("endpoint", view["endpoint"], member.endpoint),
                ("TLS fingerprint", view["tlsFingerprint"], member.tls_fingerprint),
                ("compute price", view["computePrice"], member.compute_price),
                ("status", MemberStatus(view["status"]), member.status),
                ("admitted at", view["admittedAt"], member.admitted_at)])
        yield _Query("Consortium", "member", (member.address,), compare, member=member.address)
    role_ids = {name: role_id for role_id, name in ledger.role_names.items()}
    for role, account in sorted(ledger.role_pairs):
        if role not in role_ids:
            continue
        held = account in ledger.roles.get(role, set())
        yield _Query("Consortium", "hasRole", (role_ids[role], account),
                     lambda view, role=role, account=account, held=held: [] if bool(view) == held else [
                         f"{ledger.member_name(account)} ({account}) {'holds' if view else 'lacks'} {role} on "
                         f"chain, but the events {'granted' if held else 'revoked'} it"], member=account)


def _catalog_queries(ledger: Ledger):
    count = len(ledger.datasets)
    yield _Query("DataCatalog", "datasetCount", (), lambda view: [] if view == count else [
        f"DataCatalog.datasetCount() is {view}; the events registered {count} datasets"])
    for dataset in ledger.datasets.values():
        def compare(view: dict[str, Any], dataset=dataset) -> list[str]:
            return _differences(f"dataset {dataset.dataset_id} {dataset.name!r}", [
                ("owner", view["owner"], dataset.owner), ("name", view["name"], dataset.name),
                ("schema hash", view["schemaHash"], dataset.schema_hash),
                ("column count", view["columnCount"], len(dataset.column_names)),
                ("version", view["version"], dataset.version), ("row count", view["rowCount"], dataset.row_count),
                ("fingerprint", view["fingerprint"], dataset.fingerprint),
                ("price per job", view["pricePerJob"], dataset.price_per_job),
                ("price per row", view["pricePerRow"], dataset.price_per_row),
                ("active", view["active"], dataset.active), ("frozen", view["frozen"], dataset.frozen),
                ("registered at", view["registeredAt"], dataset.registered_at),
                ("updated at", view["updatedAt"], dataset.updated_at)])
        yield _Query("DataCatalog", "dataset", (dataset.dataset_id,), compare, dataset_id=dataset.dataset_id)


def _policy_queries(ledger: Ledger):
    for dataset_id, grantee, column in sorted(ledger.level_keys):
        level = ledger.levels.get((dataset_id, grantee, column))

        def compare(view: dict[str, Any], key=(dataset_id, grantee, column), level=level) -> list[str]:
            on_chain = view["level"] if view["isSet"] else None
            if on_chain == level:
                return []
            return [f"column {key[2]} of dataset {key[0]} for {ledger.member_name(key[1])}: level "
                    f"{on_chain if on_chain is not None else 'unset'} on chain, "
                    f"{level if level is not None else 'unset'} from events"]
        yield _Query("AccessPolicy", "columnLevel", (dataset_id, column, grantee), compare, dataset_id=dataset_id)
    for (dataset_id, grantee), grant in ledger.grants.items():
        def compare(view: dict[str, Any], grant=grant) -> list[str]:
            return _differences(f"grant of {ledger.member_name(grant.grantee)} on dataset {grant.dataset_id}", [
                ("expiry", view["expiry"], grant.expiry), ("max uses", view["maxUses"], grant.max_uses),
                ("uses", view["uses"], grant.uses), ("allowed kinds", view["allowedKinds"], grant.allowed_kinds),
                ("active", view["active"], grant.active)])
        yield _Query("AccessPolicy", "grant", (dataset_id, grantee), compare, dataset_id=dataset_id,
                     member=grantee if grantee != ZERO_ADDRESS else None)
    for (dataset_id, program_hash), program in ledger.programs.items():
        yield _Query("AccessPolicy", "isProgramApproved", (dataset_id, program_hash),
                     lambda view, program=program: [] if bool(view) == program.approved else [
                         f"program 0x{program.program_hash.hex()} on dataset {program.dataset_id}: "
                         f"{'approved' if view else 'not approved'} on chain, "
                         f"{'approved' if program.approved else 'revoked'} from events"], dataset_id=dataset_id)
    for (dataset_id, subject, purpose), consent in ledger.consents.items():
        def compare(view: dict[str, Any], consent=consent) -> list[str]:
            return _differences(f"consent on dataset {consent.dataset_id} for subject 0x{consent.subject.hex()[:16]}…", [
                ("expiry", view["expiry"], consent.expiry), ("revoked", view["revoked"], consent.revoked),
                ("recorded", view["recorded"], True), ("evidence hash", view["evidenceHash"], consent.evidence_hash),
                ("subject account", view["subjectAccount"], consent.subject_account)])
        yield _Query("AccessPolicy", "consent", (dataset_id, subject, purpose), compare, dataset_id=dataset_id)
    for account, nonce in ledger.nonces.items():
        yield _Query("AccessPolicy", "nonces", (account,), lambda view, account=account, nonce=nonce: [] if view == nonce
                     else [f"revocation nonce of {account}: {view} on chain, {nonce} from events"])


def _billing_queries(ledger: Ledger):
    yield _Query("Billing", "totalIssued", (), lambda view: [] if view == ledger.total_issued else [
        f"Billing.totalIssued() is {view}; the events issued {ledger.total_issued}"], check="balances")
    yield _Query("Billing", "totalRedeemed", (), lambda view: [] if view == ledger.total_redeemed else [
        f"Billing.totalRedeemed() is {view}; the events redeemed {ledger.total_redeemed}"], check="balances")
    for account, balance in ledger.balances.items():
        yield _Query("Billing", "balanceOf", (account,), lambda view, account=account, balance=balance: []
                     if view == balance else [
                         f"balance of {ledger.member_name(account)} ({account}): {view} on chain, {balance} "
                         "from events"], member=account, check="balances")


def _jobs_queries(ledger: Ledger, jobs: set[int] | None):
    count = len(ledger.jobs)
    yield _Query("Jobs", "jobCount", (), lambda view: [] if view == count else [
        f"Jobs.jobCount() is {view}; the events requested {count} jobs"])
    yield _Query("Jobs", "maxDeadlineHorizon", (), lambda view: [] if view == ledger.deadline_horizon else [
        f"Jobs.maxDeadlineHorizon() is {view}; the events set {ledger.deadline_horizon}"])
    yield _Query("Jobs", "confirmationWindow", (), lambda view: [] if view == ledger.confirmation_window else [
        f"Jobs.confirmationWindow() is {view}; the events set {ledger.confirmation_window}"])
    for job in ledger.jobs.values():
        if jobs is None or job.job_id in jobs:
            yield from _job_queries(ledger, job)


def _job_queries(ledger: Ledger, job: JobRecord):
    job_id = job.job_id

    def record(view: dict[str, Any]) -> list[str]:
        return _differences(f"job {job_id}", [
            ("requester", view["requester"], job.requester), ("kind", int(view["kind"]), int(job.kind)),
            ("status", JobStatus(view["status"]), job.status), ("input count", view["inputCount"], len(job.inputs)),
            ("node count", view["nodeCount"], len(job.nodes)), ("created at", view["createdAt"], job.created_at),
            ("deadline", view["deadline"], job.deadline), ("committed at", view["committedAt"], job.committed_at),
            ("program hash", view["programHash"], job.program_hash),
            ("pending acceptances", view["pendingAcceptances"], job.pending_acceptances),
            ("pending inputs", view["pendingInputs"], job.pending_inputs),
            ("pending results", view["pendingResults"], job.pending_results)])

    def digest(view: bytes) -> list[str]:
        if bytes(view) == job.digest:
            return []
        return [f"job {job_id}: the commitment digest folded from its InputCommitted and ResultCommitted events "
                f"is 0x{job.digest.hex()}, but Jobs.commitmentDigest is 0x{bytes(view).hex()}: the commitments "
                "in the event history differ from those the contract bound (forged or missing logs)"]

    def inputs(view: list[dict[str, Any]]) -> list[str]:
        if len(view) != len(job.inputs):
            return [f"job {job_id}: {len(view)} inputs on chain, {len(job.inputs)} from events"]
        problems = []
        for index, (on_chain, rebuilt) in enumerate(zip(view, job.inputs, strict=True)):
            problems += _differences(f"job {job_id} input {index}", [
                ("dataset", on_chain["datasetId"], rebuilt.dataset_id), ("owner", on_chain["owner"], rebuilt.owner),
                ("price per job", on_chain["pricePerJob"], rebuilt.price_per_job),
                ("price per row", on_chain["pricePerRow"], rebuilt.price_per_row),
                ("rows used", on_chain["rowsUsed"], rebuilt.rows_used if rebuilt.committed else 0),
                ("committed", on_chain["committed"], rebuilt.committed)])
        return problems

    def nodes(view: list[dict[str, Any]]) -> list[str]:
        if len(view) != len(job.nodes):
            return [f"job {job_id}: {len(view)} nodes on chain, {len(job.nodes)} from events"]
        problems = []
        for index, (on_chain, rebuilt) in enumerate(zip(view, job.nodes, strict=True)):
            problems += _differences(f"job {job_id} node {index}", [
                ("account", on_chain["account"], rebuilt.account),
                ("compute price", on_chain["computePrice"], rebuilt.compute_price),
                ("accepted", on_chain["accepted"], rebuilt.accepted),
                ("result committed", on_chain["resultCommitted"], rebuilt.committed)])
        return problems

    def dispute(view: dict[str, Any]) -> list[str]:
        rebuilt = job.dispute
        expected = ((rebuilt.opened_by, rebuilt.suspect, rebuilt.evidence_hash, rebuilt.step.timestamp)
                    if rebuilt else (ZERO_ADDRESS, ZERO_ADDRESS, ZERO_HASH, 0))
        return _differences(f"job {job_id} dispute", [
            ("opened by", view["openedBy"], expected[0]), ("suspect", view["suspect"], expected[1]),
            ("evidence hash", view["evidenceHash"], expected[2]), ("opened at", view["openedAt"], expected[3])])

    def escrow(view: dict[str, Any]) -> list[str]:
        payer, amount = ledger.escrows.get(job_id, (ZERO_ADDRESS, 0))
        return _differences(f"job {job_id} escrow", [("payer", view["payer"], payer),
                                                     ("amount", view["amount"], amount)])

    yield _Query("Jobs", "job", (job_id,), record, job_id=job_id)
    yield _Query("Jobs", "commitmentDigest", (job_id,), digest, job_id=job_id, check="commitment-digest")
    yield _Query("Jobs", "inputs", (job_id,), inputs, job_id=job_id)
    yield _Query("Jobs", "nodes", (job_id,), nodes, job_id=job_id)
    yield _Query("Jobs", "disputeOf", (job_id,), dispute, job_id=job_id)
    yield _Query("Billing", "escrowOf", (job_id,), escrow, job_id=job_id, check="balances")
