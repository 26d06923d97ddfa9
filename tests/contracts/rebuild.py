"""Rebuild the whole state of the five contracts from their events alone.

``Ledger.fold(events)`` replays the events of Consortium, DataCatalog,
AccessPolicy, Billing and Jobs in chain order (as decoded by
``Deployment.all_events``) and keeps the state a regulator needs: members and
roles, datasets, column levels, grants, programs, consent, credits and escrow,
jobs with their commitment digests, and the job timings. Nothing here reads
contract storage or calls a view; block timestamps stand in for the
"...At" fields the events do not carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_abi import encode
from eth_utils import keccak

from tests.contracts.helpers import (
    JOB_COMMITTED,
    JOB_DECLINED,
    JOB_DISPUTED,
    JOB_EXPIRED,
    JOB_FINALIZED,
    JOB_REQUESTED,
    JOB_RESOLVED,
    JOB_RUNNING,
    MEMBER_ACTIVE,
    MEMBER_REMOVED,
    MEMBER_SUSPENDED,
    ZERO_ADDRESS,
    Event,
)

NODE_BITS_OFFSET = 16


def _key(address: str) -> str:
    return address.lower()


@dataclass
class MemberState:
    index: int
    name: str
    endpoint: str
    fingerprint: bytes
    compute_price: int
    status: int
    admitted_at: int


@dataclass
class DatasetState:
    owner: str
    name: str
    column_names: list[str]
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


@dataclass
class JobState:
    requester: str
    kind: int
    program_hash: bytes
    deadline: int
    created_at: int
    input_datasets: list[int]
    input_owners: list[str]
    prices_per_job: list[int]
    prices_per_row: list[int]
    nodes: list[str]
    node_prices: list[int]
    status: int = JOB_REQUESTED
    pending_acceptances: int = 0
    pending_inputs: int = 0
    pending_results: int = 0
    rows_used: list[int] = field(default_factory=list)
    committed_at: int = 0
    digest: bytes = b"\0" * 32
    dispute: tuple = (ZERO_ADDRESS, ZERO_ADDRESS, b"\0" * 32, 0)


@dataclass
class Ledger:
    """State rebuilt from events; addresses are kept lower-case."""

    members: dict[str, MemberState] = field(default_factory=dict)
    member_order: list[str] = field(default_factory=list)
    roles: dict[bytes, set[str]] = field(default_factory=dict)
    datasets: dict[int, DatasetState] = field(default_factory=dict)
    levels: dict[tuple[int, str, int], int] = field(default_factory=dict)
    grants: dict[tuple[int, str], list] = field(default_factory=dict)
    programs: dict[tuple[int, bytes], bool] = field(default_factory=dict)
    consents: dict[tuple[int, bytes, bytes], list] = field(default_factory=dict)
    nonces: dict[str, int] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)
    escrows: dict[int, tuple[str, int]] = field(default_factory=dict)
    total_issued: int = 0
    total_redeemed: int = 0
    jobs: dict[int, JobState] = field(default_factory=dict)
    timings: tuple[int, int] = (0, 0)

    def fold(self, events: list[Event]) -> Ledger:
        for event in events:
            handler = getattr(self, f"_on_{event.name}", None)
            if handler is None:
                raise ValueError(f"no rebuild rule for {event.contract}.{event.name}")
            handler(event)
        return self

    # -- Consortium ---------------------------------------------------------------------

    def _on_RoleGranted(self, e: Event) -> None:
        self.roles.setdefault(e["role"], set()).add(_key(e["account"]))

    def _on_RoleRevoked(self, e: Event) -> None:
        self.roles.setdefault(e["role"], set()).discard(_key(e["account"]))

    def _on_MemberAdmitted(self, e: Event) -> None:
        account = _key(e["account"])
        self.members[account] = MemberState(len(self.member_order), e["name"], e["endpoint"], e["tlsFingerprint"],
                                            e["computePrice"], MEMBER_ACTIVE, e["admittedAt"])
        self.member_order.append(account)

    def _on_MemberUpdated(self, e: Event) -> None:
        member = self.members[_key(e["account"])]
        member.name, member.endpoint = e["name"], e["endpoint"]
        member.fingerprint, member.compute_price = e["tlsFingerprint"], e["computePrice"]

    def _on_MemberSuspended(self, e: Event) -> None:
        self.members[_key(e["account"])].status = MEMBER_SUSPENDED

    def _on_MemberReinstated(self, e: Event) -> None:
        self.members[_key(e["account"])].status = MEMBER_ACTIVE

    def _on_MemberRemoved(self, e: Event) -> None:
        self.members[_key(e["account"])].status = MEMBER_REMOVED

    def fingerprint_holder(self, fingerprint: bytes) -> str:
        holders = [a for a, m in self.members.items() if m.fingerprint == fingerprint and m.status != MEMBER_REMOVED]
        return holders[0] if holders else ZERO_ADDRESS

    # -- DataCatalog --------------------------------------------------------------------

    def _on_DatasetRegistered(self, e: Event) -> None:
        self.datasets[e["datasetId"]] = DatasetState(
            _key(e["owner"]), e["name"], e["columnNames"], e["schemaHash"], 1, e["rowCount"], e["fingerprint"],
            e["pricePerJob"], e["pricePerRow"], True, False, e.timestamp, e.timestamp)

    def _on_DatasetVersionPublished(self, e: Event) -> None:
        dataset = self.datasets[e["datasetId"]]
        dataset.version, dataset.fingerprint, dataset.row_count = e["version"], e["fingerprint"], e["rowCount"]
        dataset.updated_at = e.timestamp

    def _on_DatasetPricesSet(self, e: Event) -> None:
        dataset = self.datasets[e["datasetId"]]
        dataset.price_per_job, dataset.price_per_row, dataset.updated_at = (
            e["pricePerJob"], e["pricePerRow"], e.timestamp)

    def _flag(self, e: Event, attribute: str, value: bool) -> None:
        dataset = self.datasets[e["datasetId"]]
        setattr(dataset, attribute, value)
        dataset.updated_at = e.timestamp

    def _on_DatasetDeactivated(self, e: Event) -> None:
        self._flag(e, "active", False)

    def _on_DatasetReactivated(self, e: Event) -> None:
        self._flag(e, "active", True)

    def _on_DatasetFrozen(self, e: Event) -> None:
        self._flag(e, "frozen", True)

    def _on_DatasetUnfrozen(self, e: Event) -> None:
        self._flag(e, "frozen", False)

    # -- AccessPolicy -------------------------------------------------------------------

    def _on_ColumnLevelsSet(self, e: Event) -> None:
        for column, level in zip(e["columns"], e["levels"], strict=True):
            self.levels[(e["datasetId"], _key(e["grantee"]), column)] = level

    def _on_ColumnLevelsCleared(self, e: Event) -> None:
        for column in e["columns"]:
            self.levels.pop((e["datasetId"], _key(e["grantee"]), column), None)

    def _on_GrantSet(self, e: Event) -> None:
        self.grants[(e["datasetId"], _key(e["grantee"]))] = [e["expiry"], e["maxUses"], 0, e["allowedKinds"], True]

    def _on_GrantRevoked(self, e: Event) -> None:
        self.grants[(e["datasetId"], _key(e["grantee"]))][4] = False

    def _on_GrantUsed(self, e: Event) -> None:
        self.grants[(e["datasetId"], _key(e["grantee"]))][2] = e["uses"]

    def _on_ProgramApproved(self, e: Event) -> None:
        self.programs[(e["datasetId"], e["programHash"])] = True

    def _on_ProgramRevoked(self, e: Event) -> None:
        self.programs[(e["datasetId"], e["programHash"])] = False

    def _on_ConsentRecorded(self, e: Event) -> None:
        self.consents[(e["datasetId"], e["subject"], e["purpose"])] = [
            e["expiry"], False, True, _key(e["subjectAccount"]), e["evidenceHash"]]

    def _on_ConsentRevoked(self, e: Event) -> None:
        self.consents[(e["datasetId"], e["subject"], e["purpose"])][1] = True
        if e["bySignature"]:
            self.nonces[_key(e["by"])] = self.nonces.get(_key(e["by"]), 0) + 1

    def effective_level(self, dataset_id: int, column: int, grantee: str) -> int:
        grantee = _key(grantee)
        if grantee == self.datasets[dataset_id].owner:
            return 0
        own = self.levels.get((dataset_id, grantee, column))
        return own if own is not None else self.levels.get((dataset_id, ZERO_ADDRESS, column), 5)

    # -- Billing ------------------------------------------------------------------------

    def _credit(self, account: str, amount: int) -> None:
        self.balances[_key(account)] = self.balances.get(_key(account), 0) + amount

    def _on_CreditsIssued(self, e: Event) -> None:
        self._credit(e["account"], e["amount"])
        self.total_issued += e["amount"]

    def _on_CreditsRedeemed(self, e: Event) -> None:
        self._credit(e["account"], -e["amount"])
        self.total_redeemed += e["amount"]

    def _on_Escrowed(self, e: Event) -> None:
        self._credit(e["payer"], -e["amount"])
        self.escrows[e["jobId"]] = (_key(e["payer"]), e["amount"])

    def _on_Metered(self, e: Event) -> None:
        for payee, amount in zip(e["payees"], e["amounts"], strict=True):
            self._credit(payee, amount)
        self._credit(e["payer"], e["refund"])
        del self.escrows[e["jobId"]]

    def _on_Refunded(self, e: Event) -> None:
        self._credit(e["payer"], e["amount"])
        del self.escrows[e["jobId"]]

    # -- Jobs ---------------------------------------------------------------------------

    def _on_TimingsSet(self, e: Event) -> None:
        self.timings = (e["maxDeadlineHorizon"], e["confirmationWindow"])

    def _on_JobRequested(self, e: Event) -> None:
        # The job is priced at the catalog and member state as of this event, which the fold
        # has reached exactly (events are replayed in log order).
        request = e["request"]
        datasets = [self.datasets[i["datasetId"]] for i in request["inputs"]]
        nodes = [_key(n) for n in request["computeNodes"]]
        inputs, node_count = len(datasets), len(nodes)
        self.jobs[e["jobId"]] = JobState(
            requester=_key(e["requester"]), kind=request["kind"], program_hash=request["programHash"],
            deadline=request["deadline"], created_at=e.timestamp,
            input_datasets=[i["datasetId"] for i in request["inputs"]],
            input_owners=[ds.owner for ds in datasets],
            prices_per_job=[ds.price_per_job for ds in datasets], prices_per_row=[ds.price_per_row for ds in datasets],
            nodes=nodes, node_prices=[self.members[n].compute_price for n in nodes],
            pending_acceptances=((1 << inputs) - 1) | (((1 << node_count) - 1) << NODE_BITS_OFFSET),
            pending_inputs=(1 << inputs) - 1, pending_results=(1 << node_count) - 1, rows_used=[0] * inputs)

    def _on_JobAccepted(self, e: Event) -> None:
        self.jobs[e["jobId"]].pending_acceptances = e["pendingAcceptances"]

    def _on_JobStarted(self, e: Event) -> None:
        self.jobs[e["jobId"]].status = JOB_RUNNING

    def _on_InputCommitted(self, e: Event) -> None:
        job, index = self.jobs[e["jobId"]], e["inputIndex"]
        job.pending_inputs &= ~(1 << index)
        job.rows_used[index] = e["rowsUsed"]
        job.digest = keccak(encode(["bytes32", "uint8", "uint256", "uint256", "bytes32", "uint64"],
                                   [job.digest, 1, e["jobId"], index, e["fingerprint"], e["rowsUsed"]]))

    def _on_ResultCommitted(self, e: Event) -> None:
        job, index = self.jobs[e["jobId"]], e["nodeIndex"]
        job.pending_results &= ~(1 << index)
        job.digest = keccak(encode(["bytes32", "uint8", "uint256", "uint256", "bytes32", "bytes32"],
                                   [job.digest, 2, e["jobId"], index, e["resultCommitment"], e["transcriptHash"]]))

    def _on_JobCommitted(self, e: Event) -> None:
        job = self.jobs[e["jobId"]]
        job.status, job.committed_at = JOB_COMMITTED, e["committedAt"]

    def _on_JobFinalized(self, e: Event) -> None:
        self.jobs[e["jobId"]].status = JOB_FINALIZED

    def _on_JobDeclined(self, e: Event) -> None:
        self.jobs[e["jobId"]].status = JOB_DECLINED

    def _on_JobExpired(self, e: Event) -> None:
        self.jobs[e["jobId"]].status = JOB_EXPIRED

    def _on_JobDisputed(self, e: Event) -> None:
        job = self.jobs[e["jobId"]]
        job.status = JOB_DISPUTED
        job.dispute = (_key(e["by"]), _key(e["suspect"]), e["evidenceHash"], e.timestamp)

    def _on_JobDisputeResolved(self, e: Event) -> None:
        self.jobs[e["jobId"]].status = JOB_RESOLVED
