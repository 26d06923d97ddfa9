"""The records the audit rebuilds: members, datasets, grants, consent, jobs, and their history.

Plain dataclasses, filled by the fold in :mod:`offchain.audit.ledger` and
read by the checks, the report and the web page. A :class:`Step` locates a
change on the chain (event, block, transaction, log index, time, actor);
every record keeps the steps that made it. :class:`RequestContext` is what
the request rules read when a job was requested, so the checks can judge
the request by the rules of its block.

Addresses are EIP-55 checksummed strings, as the decoder returns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from offchain.chain.models import JobKind, JobStatus, MemberStatus
from offchain.vocabulary import ConstraintLevel

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = bytes(32)
NODE_BITS_OFFSET = 16
ENCRYPTED_ONLY = int(ConstraintLevel.ENCRYPTED_ONLY)
PLAINTEXT = int(ConstraintLevel.PLAINTEXT)

# What an action requires of its actor.
REQUIRES_ACTIVE_MEMBER = "active member"
REQUIRES_ADMITTED = "admitted member"
REQUIRES_ADMIN = "admin"
REQUIRES_REGULATOR = "regulator"
REQUIRES_ADMIN_OR_REGULATOR = "admin or regulator"


@dataclass(frozen=True)
class Step:
    """One event in the life of a record: what happened, where, when, by whom."""

    name: str
    block: int
    transaction: str
    log_index: int
    timestamp: int
    actor: str | None = None
    detail: str = ""


@dataclass
class MemberRecord:
    """A member as rebuilt: its current record and everything that happened to it."""

    address: str
    index: int
    name: str
    endpoint: str
    tls_fingerprint: bytes
    compute_price: int
    status: MemberStatus
    admitted_at: int
    history: list[Step] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetVersion:
    """One published version of a dataset's data."""

    version: int
    fingerprint: bytes
    row_count: int
    step: Step


@dataclass
class DatasetRecord:
    """A dataset as rebuilt, with its schema, versions and history."""

    dataset_id: int
    owner: str
    name: str
    column_names: list[str]
    column_types: list[str]
    schema_hash: bytes
    version: int
    row_count: int
    fingerprint: bytes
    price_per_job: int
    price_per_row: int
    active: bool
    frozen: bool
    registered_at: int
    updated_at: int
    versions: list[DatasetVersion] = field(default_factory=list)
    history: list[Step] = field(default_factory=list)


@dataclass
class GrantRecord:
    """A grant on a dataset for a grantee (``ZERO_ADDRESS``: all members)."""

    dataset_id: int
    grantee: str
    expiry: int
    max_uses: int
    uses: int
    allowed_kinds: int
    active: bool
    history: list[Step] = field(default_factory=list)


@dataclass
class ProgramRecord:
    """A program's approval on a dataset."""

    dataset_id: int
    program_hash: bytes
    approved: bool
    note: str
    history: list[Step] = field(default_factory=list)


@dataclass
class ConsentRecord:
    """A data subject's consent for a purpose on a dataset."""

    dataset_id: int
    subject: bytes
    purpose: bytes
    expiry: int
    revoked: bool
    evidence_hash: bytes
    subject_account: str
    history: list[Step] = field(default_factory=list)


@dataclass(frozen=True)
class GrantSnapshot:
    """The grant the lookup rule selects, as it stood just before a request used it."""

    grantee: str
    expiry: int
    max_uses: int
    uses: int
    allowed_kinds: int


@dataclass(frozen=True)
class ConsentSnapshot:
    """A consent record as it stood at a request (None fields: never recorded)."""

    recorded: bool
    revoked: bool
    expiry: int


@dataclass(frozen=True)
class InputContext:
    """What the policy read for one input when its job was requested.

    ``requester_levels`` / ``recipient_levels`` are the effective granted
    level for each declared column use, in order (None when that party is
    not checked: it owns the dataset, or is no separate recipient).
    """

    known: bool
    owner: str
    owner_status: MemberStatus
    active: bool
    frozen: bool
    column_count: int
    version: int
    row_count: int
    price_per_job: int
    price_per_row: int
    fingerprint: bytes
    grant: GrantSnapshot | None
    requester_levels: tuple[int, ...] | None
    recipient_levels: tuple[int, ...] | None
    program_approved: bool
    consent: ConsentSnapshot | None


@dataclass(frozen=True)
class RequestContext:
    """The state the request rules read at a job's request, rebuilt from earlier events."""

    timestamp: int
    requester_status: MemberStatus
    recipient_status: MemberStatus
    node_statuses: tuple[MemberStatus, ...]
    node_prices: tuple[int, ...]
    deadline_horizon: int
    inputs: tuple[InputContext, ...]

    @property
    def max_fee(self) -> int:
        """Σ inputs (price per job + price per row × row count) + Σ node compute prices."""
        return (sum(i.price_per_job + i.price_per_row * i.row_count for i in self.inputs)
                + sum(self.node_prices))


@dataclass(frozen=True)
class GrantUse:
    """One use of a grant counted by a job request (``GrantUsed``)."""

    dataset_id: int
    grantee: str
    uses_before: int
    uses_after: int
    step: Step


@dataclass
class JobInputState:
    """One input of a job: declared use, terms quoted at request, and its commitment."""

    dataset_id: int
    columns: tuple[int, ...]
    levels: tuple[int, ...]
    owner: str
    price_per_job: int
    price_per_row: int
    row_limit: int
    committed: bool = False
    fingerprint: bytes | None = None
    rows_used: int = 0
    commit_step: Step | None = None

    @property
    def payout(self) -> int:
        """What the owner is owed: price per job + price per row × rows used, if committed."""
        return self.price_per_job + self.price_per_row * self.rows_used if self.committed else 0


@dataclass
class JobNodeState:
    """One compute node of a job and its result commitment."""

    account: str
    compute_price: int
    accepted: bool = False
    result_commitment: bytes | None = None
    transcript_hash: bytes | None = None
    commit_step: Step | None = None

    @property
    def committed(self) -> bool:
        return self.result_commitment is not None

    @property
    def payout(self) -> int:
        return self.compute_price if self.committed else 0


@dataclass(frozen=True)
class JobStep:
    """One step of a job, with the job's status and pending masks just before it."""

    step: Step
    status_before: JobStatus
    pending_acceptances_before: int
    allowed_pending_acceptances: frozenset[int] | None = None


@dataclass(frozen=True)
class Dispute:
    """A dispute opened on a job."""

    opened_by: str
    suspect: str
    evidence_hash: bytes
    step: Step


@dataclass(frozen=True)
class Settlement:
    """How a job's escrow ended: ``Metered`` (payout lines and refund) or ``Refunded``."""

    kind: str  # "metered" or "refunded"
    payer: str
    payees: tuple[str, ...]
    amounts: tuple[int, ...]
    refund: int
    step: Step

    @property
    def paid(self) -> int:
        return sum(self.amounts)


@dataclass
class JobRecord:
    """A job as rebuilt from its events."""

    job_id: int
    requester: str
    kind: JobKind | int
    program_hash: bytes
    program: str
    params_hash: bytes
    subject: bytes
    purpose: bytes
    recipient: str
    deadline: int
    fee_cap: int
    created_at: int
    request_step: Step
    context: RequestContext
    inputs: list[JobInputState]
    nodes: list[JobNodeState]
    status: JobStatus = JobStatus.REQUESTED
    pending_acceptances: int = 0
    pending_inputs: int = 0
    pending_results: int = 0
    committed_at: int = 0
    digest: bytes = ZERO_HASH
    escrow: int | None = None
    grant_uses: list[GrantUse] = field(default_factory=list)
    dispute: Dispute | None = None
    resolution: tuple[bool, Step] | None = None
    settlements: list[Settlement] = field(default_factory=list)
    steps: list[JobStep] = field(default_factory=list)
    finalized_by: str | None = None
    declined: tuple[str, str] | None = None
    expired_by: str | None = None

    @property
    def kind_name(self) -> str:
        return self.kind.name if isinstance(self.kind, JobKind) else str(self.kind)

    @property
    def max_fee(self) -> int:
        return self.context.max_fee

    @property
    def charged(self) -> int:
        """Credits paid out to owners and nodes (0 until settled, and for refunds)."""
        return sum(s.paid for s in self.settlements if s.kind == "metered")

    @property
    def participants(self) -> set[str]:
        return {i.owner for i in self.inputs} | {n.account for n in self.nodes}

    @property
    def involved(self) -> set[str]:
        return self.participants | {self.requester}

    @property
    def last_timestamp(self) -> int:
        return self.steps[-1].step.timestamp if self.steps else self.created_at

    def role_mask(self, account: str) -> int:
        """The acceptance bits ``account`` holds (as ``Jobs._roleMask``): node bit and inputs it feeds."""
        for k, node in enumerate(self.nodes):
            if node.account == account:
                return self.node_role_mask(k)
        node_accounts = {n.account for n in self.nodes}
        return sum(1 << i for i, item in enumerate(self.inputs)
                   if item.owner == account and item.owner not in node_accounts)

    def node_role_mask(self, k: int) -> int:
        """Node ``k``'s bit and the bits of the inputs its member owns."""
        mask = 1 << (NODE_BITS_OFFSET + k)
        for i, item in enumerate(self.inputs):
            if item.owner == self.nodes[k].account:
                mask |= 1 << i
        return mask


@dataclass(frozen=True)
class Action:
    """A restricted state change, with what its actor was at that moment."""

    actor: str
    requirement: str
    what: str
    actor_status: MemberStatus
    actor_roles: frozenset[str]
    step: Step
    job_id: int | None = None
    dataset_id: int | None = None


@dataclass(frozen=True)
class Irregularity:
    """An event that does not fit the state rebuilt from the events before it."""

    message: str
    step: Step
    job_id: int | None = None
    member: str | None = None
    dataset_id: int | None = None


@dataclass(frozen=True)
class CreditMovement:
    """A change of one account's credits outside escrow bookkeeping (issue, redeem)."""

    account: str
    amount: int  # positive: issued, negative: redeemed
    step: Step
