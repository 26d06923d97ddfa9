"""The consortium's whole state and history, rebuilt by folding contract events.

:class:`Ledger` is a pure, deterministic fold: :meth:`Ledger.apply` takes one
decoded event and the timestamp of its block, in chain order, and nothing
else — no storage reads, no views, no clock. Folding the same events always
gives the same ledger, so the audit's conclusions can be reproduced by anyone
holding the chain.

What it keeps, beyond the current state the contracts hold:

* **history**: every member, dataset, grant, consent and program record has
  its list of :class:`Step` (event, block, transaction, time, actor);
  datasets keep every version; jobs keep every step of their life;
* **the request context** of each job (:class:`RequestContext`): what the
  policy rules read when the job was requested — the applicable grant as it
  stood just before the request, effective column levels, dataset terms,
  member statuses, consent, program approval — so that the checks can judge
  the request by the rules as they stood at its block;
* **actions** (:class:`Action`): every state change made by an account that
  the contracts restrict (an active member, the admin, a regulator), with the
  actor's status and roles at that moment;
* **irregularities**: events that do not fit the state rebuilt so far (a
  commitment for a job that does not exist, a settlement without escrow).
  A correct chain never produces one; forged or missing logs do.

Addresses are EIP-55 checksummed strings, as the decoder returns them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eth_utils import keccak

from offchain.audit.records import (
    ENCRYPTED_ONLY,
    NODE_BITS_OFFSET,
    REQUIRES_ACTIVE_MEMBER,
    REQUIRES_ADMIN,
    REQUIRES_ADMIN_OR_REGULATOR,
    REQUIRES_ADMITTED,
    REQUIRES_REGULATOR,
    ZERO_ADDRESS,
    ZERO_HASH,
    Action,
    ConsentRecord,
    ConsentSnapshot,
    CreditMovement,
    DatasetRecord,
    DatasetVersion,
    Dispute,
    GrantRecord,
    GrantSnapshot,
    GrantUse,
    InputContext,
    Irregularity,
    JobInputState,
    JobNodeState,
    JobRecord,
    JobStep,
    MemberRecord,
    ProgramRecord,
    RequestContext,
    Settlement,
    Step,
)
from offchain.chain.events import EventRecord
from offchain.chain.models import JobKind, JobStatus, MemberStatus
from offchain.vocabulary import ConstraintLevel

#: AccessControl role ids of Consortium (``keccak256("unseen.role.…")``; the admin role is zero).
ROLE_NAMES: dict[bytes, str] = {
    ZERO_HASH: "DEFAULT_ADMIN_ROLE",
    keccak(text="unseen.role.regulator"): "REGULATOR_ROLE",
    keccak(text="unseen.role.member"): "MEMBER_ROLE",
    keccak(text="unseen.role.jobs"): "JOBS_ROLE",
}


class Ledger:
    """The rebuilt state; fold events in chain order with :meth:`apply`."""

    def __init__(self, role_names: dict[bytes, str] | None = None) -> None:
        #: Role id -> name; the Consortium constants unless the caller read others from the chain.
        self.role_names = dict(role_names or ROLE_NAMES)
        self.members: dict[str, MemberRecord] = {}
        self.member_order: list[str] = []
        self.roles: dict[str, set[str]] = {}
        #: Every (role, account) pair ever granted, so revocations can be verified too.
        self.role_pairs: set[tuple[str, str]] = set()
        self.datasets: dict[int, DatasetRecord] = {}
        self.levels: dict[tuple[int, str, int], int] = {}
        #: Every (dataset, grantee, column) ever given a level, so cleared entries can be verified too.
        self.level_keys: set[tuple[int, str, int]] = set()
        self.level_history: dict[int, list[Step]] = {}
        self.grants: dict[tuple[int, str], GrantRecord] = {}
        self.programs: dict[tuple[int, bytes], ProgramRecord] = {}
        self.consents: dict[tuple[int, bytes, bytes], ConsentRecord] = {}
        self.nonces: dict[str, int] = {}
        self.balances: dict[str, int] = {}
        self.escrows: dict[int, tuple[str, int]] = {}
        self.total_issued = 0
        self.total_redeemed = 0
        self.credit_movements: list[CreditMovement] = []
        self.negative_balances: list[tuple[str, int, Step]] = []
        self.jobs: dict[int, JobRecord] = {}
        self.deadline_horizon = 0
        self.confirmation_window = 0
        self.timing_history: list[Step] = []
        #: (block, log index, deadline horizon, confirmation window) of every TimingsSet, in order.
        self.timings: list[tuple[int, int, int, int]] = []
        self.actions: list[Action] = []
        self.irregularities: list[Irregularity] = []
        self.event_count = 0
        self.last_block = -1
        self.last_timestamp = 0
        #: The block (and its time) the events were read up to; set by the reader, not by events.
        self.head_block = -1
        self.head_timestamp = 0
        self._pending_grant_uses: dict[int, list[GrantUse]] = {}
        self._last_position: tuple[int, int] = (-1, -1)

    # -- folding ------------------------------------------------------------------------------

    def fold(self, events: Iterable[tuple[EventRecord, int]]) -> Ledger:
        """Apply ``(event, block timestamp)`` pairs in order; return self."""
        for event, timestamp in events:
            self.apply(event, timestamp)
        return self

    def apply(self, event: EventRecord, timestamp: int) -> None:
        """Apply one event. Events must come in chain order (block, log index)."""
        position = (event.block_number, event.log_index)
        step = Step(event.name, event.block_number, event.transaction_hash, event.log_index, timestamp)
        if position <= self._last_position:
            self.irregularities.append(Irregularity(
                f"{event.name} at block {event.block_number} log {event.log_index} comes after block "
                f"{self._last_position[0]} log {self._last_position[1]}: events out of chain order or repeated",
                step))
            return
        self._last_position = position
        self.event_count += 1
        self.last_block = event.block_number
        self.last_timestamp = timestamp
        handler = _HANDLERS.get(event.name)
        if handler is None:
            if event.name not in _IGNORED:
                self.irregularities.append(Irregularity(
                    f"{event.contract}.{event.name} has no rebuild rule; the audit does not know this "
                    "event", step))
            return
        handler(self, event.args, step)

    def observe_head(self, block: int, timestamp: int) -> None:
        """Record that the events were read up to ``block`` (time ``timestamp``), events or not."""
        self.head_block, self.head_timestamp = max(block, self.head_block), max(timestamp, self.head_timestamp)

    @property
    def now(self) -> int:
        """The latest time the audit knows the chain reached: the head read, or the last event."""
        return max(self.head_timestamp, self.last_timestamp)

    # -- lookups ------------------------------------------------------------------------------

    def member_status(self, account: str) -> MemberStatus:
        member = self.members.get(account)
        return member.status if member else MemberStatus.NONE

    def roles_of(self, account: str) -> frozenset[str]:
        return frozenset(role for role, holders in self.roles.items() if account in holders)

    def member_name(self, account: str) -> str:
        member = self.members.get(account)
        if member is not None:
            return member.name
        if account == ZERO_ADDRESS:
            return "all members"
        if account in self.roles.get("REGULATOR_ROLE", ()):
            return "Regulator"
        if account in self.roles.get("DEFAULT_ADMIN_ROLE", ()):
            return "Admin"
        return account

    def confirmation_window_at(self, block: int, log_index: int) -> int:
        """The confirmation window in force at a position (0 before the first ``TimingsSet``)."""
        window = 0
        for timing_block, timing_log, _, timing_window in self.timings:
            if (timing_block, timing_log) >= (block, log_index):
                break
            window = timing_window
        return window

    def effective_level(self, dataset_id: int, grantee: str, column: int) -> int:
        """The granted level of ``column`` for ``grantee`` (own entry, all-members entry, ENCRYPTED_ONLY)."""
        own = self.levels.get((dataset_id, grantee, column))
        if own is not None:
            return own
        return self.levels.get((dataset_id, ZERO_ADDRESS, column), ENCRYPTED_ONLY)

    def applicable_grant(self, dataset_id: int, requester: str) -> GrantRecord | None:
        """The grant the lookup rule selects: the requester's if active, else all members' if active."""
        own = self.grants.get((dataset_id, requester))
        if own is not None and own.active:
            return own
        shared = self.grants.get((dataset_id, ZERO_ADDRESS))
        if shared is not None and shared.active:
            return shared
        return None

    # -- helpers ------------------------------------------------------------------------------

    def _act(self, actor: str, requirement: str, what: str, step: Step, *, job_id: int | None = None,
             dataset_id: int | None = None) -> None:
        self.actions.append(Action(actor, requirement, what, self.member_status(actor),
                                   self.roles_of(actor), step, job_id, dataset_id))

    def _irregular(self, message: str, step: Step, **where: Any) -> None:
        self.irregularities.append(Irregularity(message, step, **where))

    def _member(self, account: str, step: Step) -> MemberRecord | None:
        member = self.members.get(account)
        if member is None:
            self._irregular(f"{step.name} names {account}, which was never admitted", step, member=account)
        return member

    def _dataset(self, dataset_id: int, step: Step) -> DatasetRecord | None:
        dataset = self.datasets.get(dataset_id)
        if dataset is None:
            self._irregular(f"{step.name} names dataset {dataset_id}, which was never registered", step,
                            dataset_id=dataset_id)
        return dataset

    def _job(self, job_id: int, step: Step) -> JobRecord | None:
        job = self.jobs.get(job_id)
        if job is None:
            self._irregular(f"{step.name} names job {job_id}, which was never requested", step, job_id=job_id)
        return job

    def _credit(self, account: str, amount: int, step: Step) -> None:
        balance = self.balances.get(account, 0) + amount
        self.balances[account] = balance
        if balance < 0:
            self.negative_balances.append((account, balance, step))

    def _job_step(self, job: JobRecord, step: Step, allowed_pending: frozenset[int] | None = None) -> None:
        job.steps.append(JobStep(step, job.status, job.pending_acceptances, allowed_pending))

    # -- Consortium ---------------------------------------------------------------------------

    def _role_name(self, role: bytes) -> str:
        return self.role_names.get(bytes(role), "0x" + bytes(role).hex())

    def _on_role_granted(self, args: dict[str, Any], step: Step) -> None:
        role = self._role_name(args["role"])
        self.roles.setdefault(role, set()).add(args["account"])
        self.role_pairs.add((role, args["account"]))
        if role not in ("MEMBER_ROLE",) and args["account"] in self.members:
            self.members[args["account"]].history.append(
                _with(step, args["sender"], f"granted {role}"))

    def _on_role_revoked(self, args: dict[str, Any], step: Step) -> None:
        role = self._role_name(args["role"])
        self.roles.setdefault(role, set()).discard(args["account"])
        if role not in ("MEMBER_ROLE",) and args["account"] in self.members:
            self.members[args["account"]].history.append(
                _with(step, args["sender"], f"revoked {role}"))

    def _on_member_admitted(self, args: dict[str, Any], step: Step) -> None:
        account = args["account"]
        self._act(args["admin"], REQUIRES_ADMIN, "admit a member", step)
        if account in self.members:
            self._irregular(f"{account} admitted twice", step, member=account)
            return
        self.members[account] = MemberRecord(
            account, len(self.member_order), args["name"], args["endpoint"], args["tlsFingerprint"],
            args["computePrice"], MemberStatus.ACTIVE, args["admittedAt"],
            [_with(step, args["admin"], f"admitted as {args['name']!r}, compute price {args['computePrice']}")])
        self.member_order.append(account)

    def _on_member_updated(self, args: dict[str, Any], step: Step) -> None:
        member = self._member(args["account"], step)
        if member is None:
            return
        by = args["by"]
        if by != member.address:
            self._act(by, REQUIRES_ADMIN, "update a member", step)
        member.name, member.endpoint = args["name"], args["endpoint"]
        member.tls_fingerprint, member.compute_price = args["tlsFingerprint"], args["computePrice"]
        member.history.append(_with(step, by, f"record updated: endpoint {args['endpoint']}, "
                                              f"compute price {args['computePrice']}"))

    def _on_member_suspended(self, args: dict[str, Any], step: Step) -> None:
        self._act(args["by"], REQUIRES_ADMIN_OR_REGULATOR, "suspend a member", step)
        member = self._member(args["account"], step)
        if member is not None:
            member.status = MemberStatus.SUSPENDED
            member.history.append(_with(step, args["by"], f"suspended: {args['reason']}"))

    def _on_member_reinstated(self, args: dict[str, Any], step: Step) -> None:
        self._act(args["admin"], REQUIRES_ADMIN, "reinstate a member", step)
        member = self._member(args["account"], step)
        if member is not None:
            member.status = MemberStatus.ACTIVE
            member.history.append(_with(step, args["admin"], "reinstated"))

    def _on_member_removed(self, args: dict[str, Any], step: Step) -> None:
        self._act(args["admin"], REQUIRES_ADMIN, "remove a member", step)
        member = self._member(args["account"], step)
        if member is not None:
            member.status = MemberStatus.REMOVED
            member.history.append(_with(step, args["admin"], f"removed: {args['reason']}"))

    # -- DataCatalog --------------------------------------------------------------------------

    def _on_dataset_registered(self, args: dict[str, Any], step: Step) -> None:
        dataset_id, owner = args["datasetId"], args["owner"]
        self._act(owner, REQUIRES_ACTIVE_MEMBER, "register a dataset", step, dataset_id=dataset_id)
        first = DatasetVersion(1, args["fingerprint"], args["rowCount"], step)
        self.datasets[dataset_id] = DatasetRecord(
            dataset_id, owner, args["name"], list(args["columnNames"]), list(args["columnTypes"]),
            args["schemaHash"], 1, args["rowCount"], args["fingerprint"], args["pricePerJob"],
            args["pricePerRow"], True, False, step.timestamp, step.timestamp, [first],
            [_with(step, owner, f"registered {args['name']!r} with {len(args['columnNames'])} columns, "
                                f"{args['rowCount']} rows")])

    def _owner_change(self, args: dict[str, Any], step: Step, what: str) -> DatasetRecord | None:
        dataset = self._dataset(args["datasetId"], step)
        if dataset is not None:
            self._act(dataset.owner, REQUIRES_ACTIVE_MEMBER, what, step, dataset_id=dataset.dataset_id)
            dataset.updated_at = step.timestamp
        return dataset

    def _on_dataset_version_published(self, args: dict[str, Any], step: Step) -> None:
        dataset = self._owner_change(args, step, "publish a dataset version")
        if dataset is None:
            return
        dataset.version, dataset.fingerprint, dataset.row_count = (
            args["version"], args["fingerprint"], args["rowCount"])
        dataset.versions.append(DatasetVersion(args["version"], args["fingerprint"], args["rowCount"], step))
        dataset.history.append(_with(step, dataset.owner,
                                     f"version {args['version']}: {args['rowCount']} rows"))

    def _on_dataset_prices_set(self, args: dict[str, Any], step: Step) -> None:
        dataset = self._owner_change(args, step, "set dataset prices")
        if dataset is None:
            return
        dataset.price_per_job, dataset.price_per_row = args["pricePerJob"], args["pricePerRow"]
        dataset.history.append(_with(step, dataset.owner, f"prices {args['pricePerJob']} per job, "
                                                          f"{args['pricePerRow']} per row"))

    def _on_dataset_deactivated(self, args: dict[str, Any], step: Step) -> None:
        dataset = self._owner_change(args, step, "deactivate a dataset")
        if dataset is not None:
            dataset.active = False
            dataset.history.append(_with(step, dataset.owner, "deactivated"))

    def _on_dataset_reactivated(self, args: dict[str, Any], step: Step) -> None:
        dataset = self._owner_change(args, step, "reactivate a dataset")
        if dataset is not None:
            dataset.active = True
            dataset.history.append(_with(step, dataset.owner, "reactivated"))

    def _on_dataset_frozen(self, args: dict[str, Any], step: Step) -> None:
        self._act(args["regulator"], REQUIRES_REGULATOR, "freeze a dataset", step, dataset_id=args["datasetId"])
        dataset = self._dataset(args["datasetId"], step)
        if dataset is not None:
            dataset.frozen, dataset.updated_at = True, step.timestamp
            dataset.history.append(_with(step, args["regulator"], f"frozen: {args['reason']}"))

    def _on_dataset_unfrozen(self, args: dict[str, Any], step: Step) -> None:
        self._act(args["regulator"], REQUIRES_REGULATOR, "unfreeze a dataset", step,
                  dataset_id=args["datasetId"])
        dataset = self._dataset(args["datasetId"], step)
        if dataset is not None:
            dataset.frozen, dataset.updated_at = False, step.timestamp
            dataset.history.append(_with(step, args["regulator"], "unfrozen"))

    # -- AccessPolicy -------------------------------------------------------------------------

    def _policy_change(self, args: dict[str, Any], step: Step, what: str) -> DatasetRecord | None:
        dataset = self._dataset(args["datasetId"], step)
        if dataset is not None:
            self._act(dataset.owner, REQUIRES_ACTIVE_MEMBER, what, step, dataset_id=dataset.dataset_id)
        return dataset

    def _on_column_levels_set(self, args: dict[str, Any], step: Step) -> None:
        dataset = self._policy_change(args, step, "set column levels")
        dataset_id, grantee = args["datasetId"], args["grantee"]
        for column, level in zip(args["columns"], args["levels"], strict=True):
            self.levels[(dataset_id, grantee, column)] = level
            self.level_keys.add((dataset_id, grantee, column))
        if dataset is not None:
            names = [_column_name(dataset, c) + "=" + _level_name(level)
                     for c, level in zip(args["columns"], args["levels"], strict=True)]
            self.level_history.setdefault(dataset_id, []).append(
                _with(step, dataset.owner, f"levels for {self.member_name(grantee)}: {', '.join(names)}"))

    def _on_column_levels_cleared(self, args: dict[str, Any], step: Step) -> None:
        dataset = self._policy_change(args, step, "clear column levels")
        dataset_id, grantee = args["datasetId"], args["grantee"]
        for column in args["columns"]:
            self.levels.pop((dataset_id, grantee, column), None)
        if dataset is not None:
            names = [_column_name(dataset, c) for c in args["columns"]]
            self.level_history.setdefault(dataset_id, []).append(
                _with(step, dataset.owner, f"levels cleared for {self.member_name(grantee)}: {', '.join(names)}"))

    def _on_grant_set(self, args: dict[str, Any], step: Step) -> None:
        dataset = self._policy_change(args, step, "set a grant")
        key = (args["datasetId"], args["grantee"])
        record = self.grants.get(key)
        if record is None:
            record = self.grants[key] = GrantRecord(args["datasetId"], args["grantee"], 0, 0, 0, 0, False)
        record.expiry, record.max_uses, record.uses = args["expiry"], args["maxUses"], 0
        record.allowed_kinds, record.active = args["allowedKinds"], True
        record.history.append(_with(step, dataset.owner if dataset else None,
                                    f"set: expiry {args['expiry']}, max uses {args['maxUses'] or 'unlimited'}, "
                                    f"kinds mask {args['allowedKinds']:#04x}"))

    def _on_grant_revoked(self, args: dict[str, Any], step: Step) -> None:
        dataset = self._policy_change(args, step, "revoke a grant")
        record = self.grants.get((args["datasetId"], args["grantee"]))
        if record is None:
            self._irregular(f"grant of {args['grantee']} on dataset {args['datasetId']} revoked but never set",
                            step, dataset_id=args["datasetId"])
            return
        record.active = False
        record.history.append(_with(step, dataset.owner if dataset else None, "revoked"))

    def _on_grant_used(self, args: dict[str, Any], step: Step) -> None:
        dataset_id, grantee, job_id = args["datasetId"], args["grantee"], args["jobId"]
        record = self.grants.get((dataset_id, grantee))
        if record is None:
            self._irregular(f"job {job_id} used a grant of {grantee} on dataset {dataset_id} that was never set",
                            step, job_id=job_id, dataset_id=dataset_id)
            return
        use = GrantUse(dataset_id, grantee, record.uses, args["uses"], step)
        record.uses = args["uses"]
        record.history.append(_with(step, None, f"used by job {job_id} ({args['uses']} uses so far)"))
        self._pending_grant_uses.setdefault(job_id, []).append(use)

    def _on_program_approved(self, args: dict[str, Any], step: Step) -> None:
        dataset = self._policy_change(args, step, "approve a program")
        key = (args["datasetId"], args["programHash"])
        record = self.programs.get(key)
        if record is None:
            record = self.programs[key] = ProgramRecord(args["datasetId"], args["programHash"], True, args["note"])
        record.approved, record.note = True, args["note"]
        record.history.append(_with(step, dataset.owner if dataset else None, f"approved: {args['note']}"))

    def _on_program_revoked(self, args: dict[str, Any], step: Step) -> None:
        dataset = self._policy_change(args, step, "revoke a program")
        key = (args["datasetId"], args["programHash"])
        record = self.programs.get(key)
        if record is None:
            self._irregular(f"program 0x{args['programHash'].hex()} revoked on dataset {args['datasetId']} "
                            "but never approved", step, dataset_id=args["datasetId"])
            return
        record.approved = False
        record.history.append(_with(step, dataset.owner if dataset else None, f"revoked: {args['note']}"))

    def _on_consent_recorded(self, args: dict[str, Any], step: Step) -> None:
        dataset = self._policy_change(args, step, "record consent")
        key = (args["datasetId"], args["subject"], args["purpose"])
        record = self.consents.get(key)
        if record is None:
            record = self.consents[key] = ConsentRecord(args["datasetId"], args["subject"], args["purpose"], 0,
                                                        False, ZERO_HASH, ZERO_ADDRESS)
        record.expiry, record.revoked = args["expiry"], False
        record.evidence_hash, record.subject_account = args["evidenceHash"], args["subjectAccount"]
        record.history.append(_with(step, dataset.owner if dataset else None,
                                    f"recorded until {args['expiry']}"))

    def _on_consent_revoked(self, args: dict[str, Any], step: Step) -> None:
        key = (args["datasetId"], args["subject"], args["purpose"])
        record = self.consents.get(key)
        if record is None:
            self._irregular(f"consent revoked on dataset {args['datasetId']} but never recorded", step,
                            dataset_id=args["datasetId"])
            return
        record.revoked = True
        by = args["by"]
        if args["bySignature"]:
            self.nonces[by] = self.nonces.get(by, 0) + 1
        record.history.append(_with(step, by, "revoked" + (" by signature" if args["bySignature"] else "")))

    # -- Billing ------------------------------------------------------------------------------

    def _on_credits_issued(self, args: dict[str, Any], step: Step) -> None:
        self._act(args["admin"], REQUIRES_ADMIN, "issue credits", step)
        self._act(args["account"], REQUIRES_ACTIVE_MEMBER, "receive issued credits", step)
        self._credit(args["account"], args["amount"], step)
        self.total_issued += args["amount"]
        self.credit_movements.append(CreditMovement(args["account"], args["amount"], step))

    def _on_credits_redeemed(self, args: dict[str, Any], step: Step) -> None:
        self._act(args["admin"], REQUIRES_ADMIN, "redeem credits", step)
        self._credit(args["account"], -args["amount"], step)
        self.total_redeemed += args["amount"]
        self.credit_movements.append(CreditMovement(args["account"], -args["amount"], step))

    def _on_escrowed(self, args: dict[str, Any], step: Step) -> None:
        job_id = args["jobId"]
        if job_id in self.escrows:
            self._irregular(f"a second escrow opened for job {job_id}", step, job_id=job_id)
        self._credit(args["payer"], -args["amount"], step)
        self.escrows[job_id] = (args["payer"], args["amount"])
        job = self._job(job_id, step)
        if job is not None:
            job.escrow = args["amount"]
            self._job_step(job, _with(step, args["payer"], f"{args['amount']} credits escrowed"))

    def _close_escrow(self, job_id: int, payer: str, step: Step) -> int | None:
        escrow = self.escrows.pop(job_id, None)
        if escrow is None:
            self._irregular(f"{step.name} for job {job_id}, which has no open escrow", step, job_id=job_id)
            return None
        if escrow[0] != payer:
            self._irregular(f"{step.name} for job {job_id} names payer {payer}; the escrow was paid by "
                            f"{escrow[0]}", step, job_id=job_id)
        return escrow[1]

    def _on_metered(self, args: dict[str, Any], step: Step) -> None:
        job_id, payer = args["jobId"], args["payer"]
        escrowed = self._close_escrow(job_id, payer, step)
        payees, amounts = tuple(args["payees"]), tuple(args["amounts"])
        for payee, amount in zip(payees, amounts, strict=True):
            self._credit(payee, amount, step)
        self._credit(payer, args["refund"], step)
        if escrowed is not None and sum(amounts) + args["refund"] != escrowed:
            self._irregular(f"job {job_id} metered {sum(amounts)} paid + {args['refund']} refunded = "
                            f"{sum(amounts) + args['refund']}, but {escrowed} was escrowed", step, job_id=job_id)
        job = self._job(job_id, step)
        if job is not None:
            settlement = Settlement("metered", payer, payees, amounts, args["refund"], step)
            job.settlements.append(settlement)
            self._job_step(job, _with(step, None, f"metered: {sum(amounts)} paid, {args['refund']} refunded"))

    def _on_refunded(self, args: dict[str, Any], step: Step) -> None:
        job_id, payer = args["jobId"], args["payer"]
        escrowed = self._close_escrow(job_id, payer, step)
        self._credit(payer, args["amount"], step)
        if escrowed is not None and args["amount"] != escrowed:
            self._irregular(f"job {job_id} refunded {args['amount']}, but {escrowed} was escrowed", step,
                            job_id=job_id)
        job = self._job(job_id, step)
        if job is not None:
            job.settlements.append(Settlement("refunded", payer, (), (), args["amount"], step))
            self._job_step(job, _with(step, None, f"refunded {args['amount']} credits"))

    # -- Jobs ---------------------------------------------------------------------------------

    def _on_timings_set(self, args: dict[str, Any], step: Step) -> None:
        self._act(args["admin"], REQUIRES_ADMIN, "set job timings", step)
        self.deadline_horizon, self.confirmation_window = args["maxDeadlineHorizon"], args["confirmationWindow"]
        self.timings.append((step.block, step.log_index, self.deadline_horizon, self.confirmation_window))
        self.timing_history.append(_with(step, args["admin"], f"horizon {self.deadline_horizon} s, "
                                                              f"confirmation window {self.confirmation_window} s"))

    def _on_job_requested(self, args: dict[str, Any], step: Step) -> None:
        job_id, requester, request = args["jobId"], args["requester"], args["request"]
        self._act(requester, REQUIRES_ACTIVE_MEMBER, "request a job", step, job_id=job_id)
        if job_id in self.jobs:
            self._irregular(f"job {job_id} requested twice", step, job_id=job_id)
            return
        kind = request["kind"]
        try:
            kind = JobKind(kind)
        except ValueError:
            pass
        recipient = request["resultRecipient"]
        grant_uses = self._pending_grant_uses.pop(job_id, [])
        inputs = []
        contexts = []
        for item in request["inputs"]:
            context = self._input_context(item, requester, recipient, kind, request, grant_uses)
            contexts.append(context)
            inputs.append(JobInputState(item["datasetId"], tuple(item["columns"]), tuple(item["levels"]),
                                        context.owner, context.price_per_job, context.price_per_row,
                                        context.row_count))
        nodes = [JobNodeState(account, self.members[account].compute_price if account in self.members else 0)
                 for account in request["computeNodes"]]
        context = RequestContext(
            step.timestamp, self.member_status(requester),
            self.member_status(recipient) if recipient != requester else self.member_status(requester),
            tuple(self.member_status(n.account) for n in nodes), tuple(n.compute_price for n in nodes),
            self.deadline_horizon, tuple(contexts))
        job = JobRecord(
            job_id=job_id, requester=requester, kind=kind, program_hash=request["programHash"],
            program=request["program"], params_hash=request["paramsHash"], subject=request["subject"],
            purpose=request["purpose"], recipient=recipient, deadline=request["deadline"],
            fee_cap=request["feeCap"], created_at=step.timestamp, request_step=_with(step, requester, ""),
            context=context, inputs=inputs, nodes=nodes, grant_uses=grant_uses)
        input_count, node_count = len(inputs), len(nodes)
        job.pending_acceptances = ((1 << input_count) - 1) | (((1 << node_count) - 1) << NODE_BITS_OFFSET)
        job.pending_inputs = (1 << input_count) - 1
        job.pending_results = (1 << node_count) - 1
        job.steps.append(JobStep(_with(step, requester, f"requested {job.kind_name} with fee cap {job.fee_cap}"),
                                 JobStatus.NONE, 0))
        self.jobs[job_id] = job

    def _input_context(self, item: dict[str, Any], requester: str, recipient: str, kind: JobKind | int,
                       request: dict[str, Any], grant_uses: list[GrantUse]) -> InputContext:
        dataset_id = item["datasetId"]
        dataset = self.datasets.get(dataset_id)
        if dataset is None:
            return InputContext(False, ZERO_ADDRESS, MemberStatus.NONE, False, False, 0, 0, 0, 0, 0,
                                ZERO_HASH, None, None, None, False, None)
        owner = dataset.owner
        grant = None
        if requester != owner:
            record = self.applicable_grant(dataset_id, requester)
            if record is not None:
                # The GrantUsed of this request came before JobRequested; take the count before it.
                used = next((u for u in grant_uses if u.dataset_id == dataset_id and u.grantee == record.grantee),
                            None)
                uses_before = used.uses_before if used is not None else record.uses
                grant = GrantSnapshot(record.grantee, record.expiry, record.max_uses, uses_before,
                                      record.allowed_kinds)
        columns = tuple(item["columns"])
        requester_levels = None
        if requester != owner:
            requester_levels = tuple(self.effective_level(dataset_id, requester, c) for c in columns)
        recipient_levels = None
        if recipient not in (requester, ZERO_ADDRESS) and recipient != owner:
            recipient_levels = tuple(self.effective_level(dataset_id, recipient, c) for c in columns)
        program = self.programs.get((dataset_id, request["programHash"]))
        consent = None
        if int(kind) == int(JobKind.PUBLISH):
            record = self.consents.get((dataset_id, request["subject"], request["purpose"]))
            consent = (ConsentSnapshot(True, record.revoked, record.expiry) if record is not None
                       else ConsentSnapshot(False, False, 0))
        return InputContext(
            True, owner, self.member_status(owner), dataset.active, dataset.frozen, len(dataset.column_names),
            dataset.version, dataset.row_count, dataset.price_per_job, dataset.price_per_row, dataset.fingerprint,
            grant, requester_levels, recipient_levels, bool(program and program.approved), consent)

    def _on_job_accepted(self, args: dict[str, Any], step: Step) -> None:
        job = self._job(args["jobId"], step)
        if job is None:
            return
        participant = args["participant"]
        self._act(participant, REQUIRES_ACTIVE_MEMBER, "accept a job", step, job_id=job.job_id)
        self._job_step(job, _with(step, participant, f"accepted; pending mask {args['pendingAcceptances']:#x}"),
                       _acceptance_outcomes(job, participant))
        job.pending_acceptances = args["pendingAcceptances"]
        for k, node in enumerate(job.nodes):
            if not job.pending_acceptances & (1 << (NODE_BITS_OFFSET + k)):
                node.accepted = True

    def _on_job_started(self, args: dict[str, Any], step: Step) -> None:
        job = self._job(args["jobId"], step)
        if job is not None:
            self._job_step(job, _with(step, None, "every participant accepted; running"))
            job.status = JobStatus.RUNNING

    def _on_input_committed(self, args: dict[str, Any], step: Step) -> None:
        job = self._job(args["jobId"], step)
        if job is None:
            return
        index, owner = args["inputIndex"], args["owner"]
        self._act(owner, REQUIRES_ACTIVE_MEMBER, "commit an input", step, job_id=job.job_id)
        self._job_step(job, _with(step, owner, f"input {index}: fingerprint 0x{args['fingerprint'].hex()}, "
                                               f"{args['rowsUsed']} rows"))
        if index >= len(job.inputs):
            self._irregular(f"job {job.job_id} has {len(job.inputs)} inputs, but input {index} was committed",
                            step, job_id=job.job_id)
            return
        item = job.inputs[index]
        if item.committed:
            self._irregular(f"input {index} of job {job.job_id} committed twice", step, job_id=job.job_id)
        item.committed, item.fingerprint, item.rows_used = True, args["fingerprint"], args["rowsUsed"]
        item.commit_step = _with(step, owner, "")
        job.pending_inputs &= ~(1 << index)
        job.digest = fold_input(job.digest, job.job_id, index, args["fingerprint"], args["rowsUsed"])

    def _on_result_committed(self, args: dict[str, Any], step: Step) -> None:
        job = self._job(args["jobId"], step)
        if job is None:
            return
        index, node_account = args["nodeIndex"], args["node"]
        self._act(node_account, REQUIRES_ACTIVE_MEMBER, "commit a result", step, job_id=job.job_id)
        self._job_step(job, _with(step, node_account,
                                  f"node {index}: result 0x{args['resultCommitment'].hex()}, "
                                  f"transcript 0x{args['transcriptHash'].hex()}"))
        if index >= len(job.nodes):
            self._irregular(f"job {job.job_id} has {len(job.nodes)} nodes, but node {index} committed a result",
                            step, job_id=job.job_id)
            return
        node = job.nodes[index]
        if node.account != node_account:
            self._irregular(f"node {index} of job {job.job_id} is {node.account}, but {node_account} committed "
                            "its result", step, job_id=job.job_id)
        if node.committed:
            self._irregular(f"node {index} of job {job.job_id} committed its result twice", step,
                            job_id=job.job_id)
        node.result_commitment, node.transcript_hash = args["resultCommitment"], args["transcriptHash"]
        node.commit_step = _with(step, node_account, "")
        job.pending_results &= ~(1 << index)
        job.digest = fold_result(job.digest, job.job_id, index, args["resultCommitment"], args["transcriptHash"])

    def _on_job_committed(self, args: dict[str, Any], step: Step) -> None:
        job = self._job(args["jobId"], step)
        if job is None:
            return
        self._job_step(job, _with(step, None, "every result committed; confirmation window opens"))
        job.status, job.committed_at = JobStatus.COMMITTED, args["committedAt"]

    def _on_job_finalized(self, args: dict[str, Any], step: Step) -> None:
        job = self._job(args["jobId"], step)
        if job is None:
            return
        by = args["by"]
        if by != job.requester:
            self._act(by, REQUIRES_ADMITTED, "finalize a job", step, job_id=job.job_id)
        self._job_step(job, _with(step, by, "finalized"))
        job.status, job.finalized_by = JobStatus.FINALIZED, by

    def _on_job_declined(self, args: dict[str, Any], step: Step) -> None:
        job = self._job(args["jobId"], step)
        if job is None:
            return
        participant = args["participant"]
        self._act(participant, REQUIRES_ADMITTED, "decline a job", step, job_id=job.job_id)
        self._job_step(job, _with(step, participant, f"declined: {args['reason']}"))
        job.status, job.declined = JobStatus.DECLINED, (participant, args["reason"])

    def _on_job_disputed(self, args: dict[str, Any], step: Step) -> None:
        job = self._job(args["jobId"], step)
        if job is None:
            return
        by, suspect = args["by"], args["suspect"]
        self._act(by, REQUIRES_ADMITTED, "dispute a job", step, job_id=job.job_id)
        self._job_step(job, _with(step, by, f"disputed; suspect {suspect}, evidence 0x{args['evidenceHash'].hex()}"))
        job.status = JobStatus.DISPUTED
        job.dispute = Dispute(by, suspect, args["evidenceHash"], _with(step, by, ""))

    def _on_job_dispute_resolved(self, args: dict[str, Any], step: Step) -> None:
        job = self._job(args["jobId"], step)
        if job is None:
            return
        by = args["by"]
        self._act(by, REQUIRES_ADMIN_OR_REGULATOR, "resolve a dispute", step, job_id=job.job_id)
        refunded = bool(args["refundedRequester"])
        self._job_step(job, _with(step, by, "dispute resolved: " + ("escrow refunded to the requester" if refunded
                                                                   else "committed work paid, rest refunded")))
        job.status, job.resolution = JobStatus.RESOLVED, (refunded, _with(step, by, ""))

    def _on_job_expired(self, args: dict[str, Any], step: Step) -> None:
        job = self._job(args["jobId"], step)
        if job is None:
            return
        self._job_step(job, _with(step, args["by"], "expired after its deadline"))
        job.status, job.expired_by = JobStatus.EXPIRED, args["by"]


def _acceptance_outcomes(job: JobRecord, participant: str) -> frozenset[int]:
    """The pending masks a ``JobAccepted`` by ``participant`` may leave, as ``Jobs`` computes them.

    ``accept`` clears every role of the participant (``role_mask``); the
    acceptance implied by ``commitInput(i)`` clears the node roles when the
    owner is a compute node, else bit ``i`` alone. Only roles still pending
    may be cleared: an acceptance that clears nothing is not emitted.
    """
    pending = job.pending_acceptances
    masks = [job.role_mask(participant)]
    node_accounts = [n.account for n in job.nodes]
    if participant not in node_accounts:
        masks += [1 << i for i, item in enumerate(job.inputs) if item.owner == participant]
    return frozenset(pending & ~mask for mask in masks if mask & pending)


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


_INPUT_TAG = _word(1)
_RESULT_TAG = _word(2)


def fold_input(digest: bytes, job_id: int, input_index: int, fingerprint: bytes, rows_used: int) -> bytes:
    """``keccak256(abi.encode(d, uint8(1), jobId, inputIndex, fingerprint, uint64(rowsUsed)))``.

    Every argument is a static 32-byte word, so ``abi.encode`` is their
    concatenation; equal to :func:`offchain.chain.client.fold_input_commitment`.
    """
    return keccak(digest + _INPUT_TAG + _word(job_id) + _word(input_index) + fingerprint + _word(rows_used))


def fold_result(digest: bytes, job_id: int, node_index: int, commitment: bytes, transcript: bytes) -> bytes:
    """``keccak256(abi.encode(d, uint8(2), jobId, nodeIndex, resultCommitment, transcriptHash))``."""
    return keccak(digest + _RESULT_TAG + _word(job_id) + _word(node_index) + commitment + transcript)


def _with(step: Step, actor: str | None, detail: str) -> Step:
    return Step(step.name, step.block, step.transaction, step.log_index, step.timestamp, actor, detail)




def _level_name(level: int) -> str:
    try:
        return ConstraintLevel(level).name
    except ValueError:
        return str(level)


def _column_name(dataset: DatasetRecord, column: int) -> str:
    return dataset.column_names[column] if column < len(dataset.column_names) else f"#{column}"


_HANDLERS = {
    "RoleGranted": Ledger._on_role_granted,
    "RoleRevoked": Ledger._on_role_revoked,
    "MemberAdmitted": Ledger._on_member_admitted,
    "MemberUpdated": Ledger._on_member_updated,
    "MemberSuspended": Ledger._on_member_suspended,
    "MemberReinstated": Ledger._on_member_reinstated,
    "MemberRemoved": Ledger._on_member_removed,
    "DatasetRegistered": Ledger._on_dataset_registered,
    "DatasetVersionPublished": Ledger._on_dataset_version_published,
    "DatasetPricesSet": Ledger._on_dataset_prices_set,
    "DatasetDeactivated": Ledger._on_dataset_deactivated,
    "DatasetReactivated": Ledger._on_dataset_reactivated,
    "DatasetFrozen": Ledger._on_dataset_frozen,
    "DatasetUnfrozen": Ledger._on_dataset_unfrozen,
    "ColumnLevelsSet": Ledger._on_column_levels_set,
    "ColumnLevelsCleared": Ledger._on_column_levels_cleared,
    "GrantSet": Ledger._on_grant_set,
    "GrantRevoked": Ledger._on_grant_revoked,
    "GrantUsed": Ledger._on_grant_used,
    "ProgramApproved": Ledger._on_program_approved,
    "ProgramRevoked": Ledger._on_program_revoked,
    "ConsentRecorded": Ledger._on_consent_recorded,
    "ConsentRevoked": Ledger._on_consent_revoked,
    "CreditsIssued": Ledger._on_credits_issued,
    "CreditsRedeemed": Ledger._on_credits_redeemed,
    "Escrowed": Ledger._on_escrowed,
    "Metered": Ledger._on_metered,
    "Refunded": Ledger._on_refunded,
    "TimingsSet": Ledger._on_timings_set,
    "JobRequested": Ledger._on_job_requested,
    "JobAccepted": Ledger._on_job_accepted,
    "JobStarted": Ledger._on_job_started,
    "InputCommitted": Ledger._on_input_committed,
    "ResultCommitted": Ledger._on_result_committed,
    "JobCommitted": Ledger._on_job_committed,
    "JobFinalized": Ledger._on_job_finalized,
    "JobDeclined": Ledger._on_job_declined,
    "JobDisputed": Ledger._on_job_disputed,
    "JobDisputeResolved": Ledger._on_job_dispute_resolved,
    "JobExpired": Ledger._on_job_expired,
}

#: Events that change nothing the audit keeps (role admin wiring, EIP-712 domain notice).
_IGNORED = frozenset({"RoleAdminChanged", "EIP712DomainChanged"})
