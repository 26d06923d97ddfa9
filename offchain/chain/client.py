"""The chain client: typed wrappers over the five Unseen contracts.

::

    client = ChainClient.connect(key="env:UNSEEN_KEY")          # reads the deployment file
    client.consortium.admit(address, "Bank A", "10.0.0.5:7000", fingerprint, 10).transact()
    member = client.consortium.member(address)                    # -> Member
    client.transact_all([client.billing.issue(a, 1_000), client.billing.issue(b, 1_000)])

Views return dataclasses and enums. State-changing methods return a
:class:`PreparedTransaction`: ``.transact()`` simulates, sends and waits
(raising the decoded contract error, e.g. ``AccessPolicyGrantExpired``, if it
would revert), and :meth:`ChainClient.transact_all` sends many back to back
with local nonces (see :mod:`offchain.chain.signer`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from offchain.chain.artifacts import CONTRACT_NAMES, Artifact, load_artifact
from offchain.chain.contract import ContractHandle
from offchain.chain.deployment import Deployment, deployment_path
from offchain.chain.errors import decode_revert, raise_for_check
from offchain.chain.events import EventDecoder, EventRecord, decode_receipt_events
from offchain.chain.models import ConstraintLevel, JobKind, JobStatus, MemberStatus
from offchain.chain.rpc import Rpc, RpcFailure
from offchain.chain.signer import Receipt, Signer, TransactionRequest
from offchain.errors import ConfigError, InputError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = bytes(32)

T = TypeVar("T")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _record(cls: type[T], values: Mapping[str, Any], **extra: Any) -> T:
    """Build dataclass ``cls`` from ABI-decoded ``values`` (camelCase -> snake_case).

    Fields annotated with an enum (e.g. ``kind: JobKind``, stored as uint8 on
    chain) are converted to it.
    """
    converted = {_snake(key): value for key, value in values.items()}
    converted.update(extra)
    hints = get_type_hints(cls)
    record = {}
    for field in fields(cls):  # type: ignore[arg-type]
        if field.name not in converted:
            continue
        value = converted[field.name]
        hint = hints.get(field.name)
        if isinstance(hint, type) and issubclass(hint, IntEnum) and not isinstance(value, hint):
            value = hint(value)
        record[field.name] = value
    return cls(**record)


# ----------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class Member:
    """A consortium member as recorded on chain."""

    address: str
    name: str
    endpoint: str
    tls_fingerprint: bytes
    compute_price: int
    status: MemberStatus
    admitted_at: int

    @property
    def active(self) -> bool:
        return self.status is MemberStatus.ACTIVE


@dataclass(frozen=True)
class Dataset:
    """A registered dataset (schema itself is in the ``DatasetRegistered`` event)."""

    dataset_id: int
    owner: str
    name: str
    schema_hash: bytes
    column_count: int
    version: int
    row_count: int
    fingerprint: bytes
    price_per_job: int
    price_per_row: int
    active: bool
    frozen: bool
    registered_at: int
    updated_at: int


@dataclass(frozen=True)
class Grant:
    """A grant on a dataset for a grantee (``address(0)``: all members)."""

    dataset_id: int
    grantee: str
    expiry: int
    max_uses: int
    uses: int
    allowed_kinds: int
    active: bool

    @property
    def kinds(self) -> frozenset[JobKind]:
        """The job kinds this grant allows."""
        return frozenset(kind for kind in JobKind if self.allowed_kinds & (1 << kind))


@dataclass(frozen=True)
class Consent:
    """A data subject's consent record for a purpose on a dataset."""

    dataset_id: int
    subject: bytes
    purpose: bytes
    expiry: int
    revoked: bool
    recorded: bool
    subject_account: str
    evidence_hash: bytes


@dataclass(frozen=True)
class JobInput:
    """One input of a job: a dataset, the columns used and the level each use requires."""

    dataset_id: int
    columns: tuple[int, ...]
    levels: tuple[ConstraintLevel, ...]

    def __post_init__(self) -> None:
        if len(self.columns) != len(self.levels):
            raise InputError(
                f"input on dataset {self.dataset_id}: {len(self.columns)} columns but "
                f"{len(self.levels)} required levels"
            )

    def as_abi(self) -> dict[str, Any]:
        return {"datasetId": self.dataset_id, "columns": list(self.columns),
                "levels": [int(level) for level in self.levels]}


@dataclass(frozen=True)
class JobRequest:
    """What a requester asks for (the argument of ``Jobs.request``).

    ``compute_nodes``: exactly 3 distinct active members, or for PUBLISH the
    owner of the single input. ``deadline`` is a Unix time; ``fee_cap`` in
    credits must cover the maximum fee (owners' prices plus nodes' prices).
    """

    kind: JobKind
    program_hash: bytes
    program: str
    inputs: tuple[JobInput, ...]
    compute_nodes: tuple[str, ...]
    result_recipient: str
    deadline: int
    fee_cap: int
    subject: bytes = ZERO_HASH
    purpose: bytes = ZERO_HASH
    params_hash: bytes = ZERO_HASH

    def as_abi(self) -> dict[str, Any]:
        return {
            "kind": int(self.kind), "programHash": self.program_hash, "program": self.program,
            "inputs": [item.as_abi() for item in self.inputs],
            "computeNodes": list(self.compute_nodes), "resultRecipient": self.result_recipient,
            "deadline": self.deadline, "feeCap": self.fee_cap, "subject": self.subject,
            "purpose": self.purpose, "paramsHash": self.params_hash,
        }


@dataclass(frozen=True)
class Job:
    """A job's record: who asked, what, and how far it got."""

    job_id: int
    requester: str
    kind: JobKind
    status: JobStatus
    input_count: int
    node_count: int
    created_at: int
    deadline: int
    committed_at: int
    program_hash: bytes
    pending_acceptances: int
    pending_inputs: int
    pending_results: int


@dataclass(frozen=True)
class JobInputRecord:
    """One input of a job as recorded: terms fixed at request time, whether committed.

    The input fingerprint itself is in the ``InputCommitted`` event and bound
    by :meth:`JobsContract.commitment_digest`.
    """

    dataset_id: int
    owner: str
    price_per_job: int
    price_per_row: int
    rows_used: int
    committed: bool


@dataclass(frozen=True)
class JobNode:
    """One compute node of a job.

    Its result commitment and transcript hash are in the ``ResultCommitted``
    event and bound by :meth:`JobsContract.commitment_digest`.
    """

    account: str
    compute_price: int
    accepted: bool
    result_committed: bool


@dataclass(frozen=True)
class JobDispute:
    """An open or resolved dispute on a job."""

    opened_by: str
    suspect: str
    evidence_hash: bytes
    opened_at: int


INPUT_COMMITMENT = 1
RESULT_COMMITMENT = 2


def fold_input_commitment(digest: bytes, job_id: int, input_index: int,
                          input_fingerprint: bytes, rows_used: int) -> bytes:
    """Fold one ``InputCommitted`` into a job's commitment digest (as ``Jobs`` does)."""
    return keccak(abi_encode(["bytes32", "uint8", "uint256", "uint256", "bytes32", "uint64"],
                             [digest, INPUT_COMMITMENT, job_id, input_index,
                              input_fingerprint, rows_used]))


def fold_result_commitment(digest: bytes, job_id: int, node_index: int,
                           result_commitment: bytes, transcript_hash: bytes) -> bytes:
    """Fold one ``ResultCommitted`` into a job's commitment digest (as ``Jobs`` does)."""
    return keccak(abi_encode(["bytes32", "uint8", "uint256", "uint256", "bytes32", "bytes32"],
                             [digest, RESULT_COMMITMENT, job_id, node_index,
                              result_commitment, transcript_hash]))


# ----------------------------------------------------------------------------
# transactions


@dataclass(frozen=True)
class PreparedTransaction:
    """A contract call ready to send; ``transact()`` sends it and waits."""

    client: ChainClient
    request: TransactionRequest

    def transact(self) -> Receipt:
        """Simulate, send and wait; raise the decoded contract error if it reverts."""
        return self.client.transact_all([self])[0]


class _Wrapper:
    """Base of the typed contract wrappers."""

    contract_name = ""

    def __init__(self, client: ChainClient, handle: ContractHandle) -> None:
        self.client = client
        self.handle = handle
        self.address = handle.address

    def _call(self, function: str, *args: Any) -> Any:
        return self.handle.call(function, *args)

    def _prepare(self, function: str, *args: Any, gas: int | None = None) -> PreparedTransaction:
        return PreparedTransaction(self.client, self.handle.request(function, *args, gas=gas))


class ConsortiumContract(_Wrapper):
    """Members, roles, admission and suspension."""

    contract_name = "Consortium"

    def admit(self, account: str, name: str, endpoint: str, tls_fingerprint: bytes,
              compute_price: int) -> PreparedTransaction:
        return self._prepare("admit", account, name, endpoint, tls_fingerprint, compute_price)

    def update_member(self, account: str, name: str, endpoint: str, tls_fingerprint: bytes,
                      compute_price: int) -> PreparedTransaction:
        return self._prepare("updateMember", account, name, endpoint, tls_fingerprint, compute_price)

    def update_node(self, endpoint: str, tls_fingerprint: bytes, compute_price: int) -> PreparedTransaction:
        return self._prepare("updateNode", endpoint, tls_fingerprint, compute_price)

    def suspend(self, account: str, reason: str) -> PreparedTransaction:
        return self._prepare("suspend", account, reason)

    def reinstate(self, account: str) -> PreparedTransaction:
        return self._prepare("reinstate", account)

    def remove(self, account: str, reason: str) -> PreparedTransaction:
        return self._prepare("remove", account, reason)

    def grant_role(self, role: bytes, account: str) -> PreparedTransaction:
        return self._prepare("grantRole", role, account)

    def role(self, name: str) -> bytes:
        """Return a role id: ``REGULATOR_ROLE``, ``MEMBER_ROLE``, ``JOBS_ROLE`` or ``DEFAULT_ADMIN_ROLE``."""
        return self._call(name)

    def has_role(self, role: bytes, account: str) -> bool:
        return self._call("hasRole", role, account)

    def member(self, account: str) -> Member:
        return _record(Member, self._call("member", account), address=to_checksum_address(account))

    def members(self) -> list[Member]:
        """Every address ever admitted, with its record (two round trips in all)."""
        addresses = self._call("members")
        return [
            _record(Member, record, address=address)
            for address, record in zip(addresses, self.client.call_many(
                [(self.handle, "member", (address,)) for address in addresses]), strict=True)
        ]

    def member_status(self, account: str) -> MemberStatus:
        return MemberStatus(self._call("memberStatus", account))

    def is_active_member(self, account: str) -> bool:
        return self._call("isActiveMember", account)

    def is_admin(self, account: str) -> bool:
        return self._call("isAdmin", account)

    def is_regulator(self, account: str) -> bool:
        return self._call("isRegulator", account)

    def is_jobs_contract(self, account: str) -> bool:
        return self._call("isJobsContract", account)

    def member_count(self) -> int:
        return self._call("memberCount")


class DataCatalogContract(_Wrapper):
    """Datasets: schema, fingerprint, versions, prices, freezing."""

    contract_name = "DataCatalog"

    def register(self, name: str, column_names: Sequence[str], column_types: Sequence[str],
                 row_count: int, fingerprint: bytes, price_per_job: int, price_per_row: int,
                 schema_hash: bytes | None = None) -> PreparedTransaction:
        """Register a dataset; the schema hash is computed by the contract's own rule if omitted."""
        if schema_hash is None:
            schema_hash = self.schema_hash(column_names, column_types)
        return self._prepare("register", name, list(column_names), list(column_types), schema_hash,
                             row_count, fingerprint, price_per_job, price_per_row)

    def publish_version(self, dataset_id: int, fingerprint: bytes, row_count: int) -> PreparedTransaction:
        return self._prepare("publishVersion", dataset_id, fingerprint, row_count)

    def set_prices(self, dataset_id: int, price_per_job: int, price_per_row: int) -> PreparedTransaction:
        return self._prepare("setPrices", dataset_id, price_per_job, price_per_row)

    def deactivate(self, dataset_id: int) -> PreparedTransaction:
        return self._prepare("deactivate", dataset_id)

    def reactivate(self, dataset_id: int) -> PreparedTransaction:
        return self._prepare("reactivate", dataset_id)

    def freeze(self, dataset_id: int, reason: str) -> PreparedTransaction:
        return self._prepare("freeze", dataset_id, reason)

    def unfreeze(self, dataset_id: int) -> PreparedTransaction:
        return self._prepare("unfreeze", dataset_id)

    def dataset(self, dataset_id: int) -> Dataset:
        return _record(Dataset, self._call("dataset", dataset_id), dataset_id=dataset_id)

    def datasets(self) -> list[Dataset]:
        count = self.dataset_count()
        records = self.client.call_many(
            [(self.handle, "dataset", (dataset_id,)) for dataset_id in range(1, count + 1)]
        )
        return [_record(Dataset, record, dataset_id=index + 1) for index, record in enumerate(records)]

    def dataset_count(self) -> int:
        return self._call("datasetCount")

    def datasets_of(self, owner: str) -> list[int]:
        return list(self._call("datasetsOf", owner))

    def dataset_id_by_name(self, owner: str, name: str) -> int:
        return self._call("datasetIdByName", owner, name)

    def column_index(self, dataset_id: int, name: str) -> int:
        return self._call("columnIndex", dataset_id, name)

    def schema_hash(self, column_names: Sequence[str], column_types: Sequence[str]) -> bytes:
        return self._call("schemaHashOf", list(column_names), list(column_types))


class AccessPolicyContract(_Wrapper):
    """Column levels, grants, approved programs, consent and request checks."""

    contract_name = "AccessPolicy"

    def set_column_levels(self, dataset_id: int, grantee: str, columns: Sequence[int],
                          levels: Sequence[ConstraintLevel]) -> PreparedTransaction:
        """Set levels for ``grantee`` (``ZERO_ADDRESS``: every member) on ``columns``."""
        return self._prepare("setColumnLevels", dataset_id, grantee, list(columns),
                             [int(level) for level in levels])

    def clear_column_levels(self, dataset_id: int, grantee: str, columns: Sequence[int]) -> PreparedTransaction:
        return self._prepare("clearColumnLevels", dataset_id, grantee, list(columns))

    def set_grant(self, dataset_id: int, grantee: str, expiry: int, max_uses: int,
                  kinds: Iterable[JobKind]) -> PreparedTransaction:
        return self._prepare("setGrant", dataset_id, grantee, expiry, max_uses, JobKind.mask(*kinds))

    def revoke_grant(self, dataset_id: int, grantee: str) -> PreparedTransaction:
        return self._prepare("revokeGrant", dataset_id, grantee)

    def approve_program(self, dataset_id: int, program_hash: bytes, note: str) -> PreparedTransaction:
        return self._prepare("approveProgram", dataset_id, program_hash, note)

    def revoke_program(self, dataset_id: int, program_hash: bytes, note: str) -> PreparedTransaction:
        return self._prepare("revokeProgram", dataset_id, program_hash, note)

    def record_consent(self, dataset_id: int, subject: bytes, purpose: bytes, expiry: int,
                       evidence_hash: bytes, subject_account: str = ZERO_ADDRESS) -> PreparedTransaction:
        return self._prepare("recordConsent", dataset_id, subject, purpose, expiry, evidence_hash,
                             subject_account)

    def revoke_consent(self, dataset_id: int, subject: bytes, purpose: bytes) -> PreparedTransaction:
        return self._prepare("revokeConsent", dataset_id, subject, purpose)

    def check_request(self, requester: str, recipient: str, kind: JobKind, program_hash: bytes,
                      inputs: Sequence[JobInput], subject: bytes = ZERO_HASH,
                      purpose: bytes = ZERO_HASH) -> None:
        """Raise the error ``Jobs.request`` would raise for these inputs; return if allowed."""
        answer = self._call("checkRequest", requester, recipient, int(kind), program_hash,
                            [item.as_abi() for item in inputs], subject, purpose)
        raise_for_check(answer["allowed"], answer["reason"], "AccessPolicy.checkRequest",
                        self.client.label_address)

    def effective_level(self, dataset_id: int, column: int, grantee: str) -> ConstraintLevel:
        return ConstraintLevel(self._call("effectiveLevel", dataset_id, column, grantee))

    def grant(self, dataset_id: int, grantee: str) -> Grant:
        return _record(Grant, self._call("grant", dataset_id, grantee), dataset_id=dataset_id,
                       grantee=to_checksum_address(grantee))

    def is_program_approved(self, dataset_id: int, program_hash: bytes) -> bool:
        return self._call("isProgramApproved", dataset_id, program_hash)

    def consent(self, dataset_id: int, subject: bytes, purpose: bytes) -> Consent:
        return _record(Consent, self._call("consent", dataset_id, subject, purpose),
                       dataset_id=dataset_id, subject=subject, purpose=purpose)


class BillingContract(_Wrapper):
    """Prepaid credits, escrow per job and payouts."""

    contract_name = "Billing"

    def issue(self, account: str, amount: int) -> PreparedTransaction:
        return self._prepare("issue", account, amount)

    def redeem(self, account: str, amount: int) -> PreparedTransaction:
        return self._prepare("redeem", account, amount)

    def balance_of(self, account: str) -> int:
        return self._call("balanceOf", account)

    def balances(self, accounts: Sequence[str]) -> list[int]:
        return self.client.call_many([(self.handle, "balanceOf", (a,)) for a in accounts])

    def escrow_of(self, job_id: int) -> tuple[str, int]:
        answer = self._call("escrowOf", job_id)
        return answer["payer"], answer["amount"]

    def total_issued(self) -> int:
        return self._call("totalIssued")


class JobsContract(_Wrapper):
    """Jobs: request, accept, commit, finalize, dispute, expire."""

    contract_name = "Jobs"

    def request(self, job_request: JobRequest) -> PreparedTransaction:
        return self._prepare("request", job_request.as_abi())

    def check_request(self, requester: str, job_request: JobRequest) -> int:
        """Raise the error ``request`` would raise; return the job's maximum fee if allowed."""
        answer = self._call("checkRequest", requester, job_request.as_abi())
        raise_for_check(answer["allowed"], answer["reason"], "Jobs.checkRequest",
                        self.client.label_address)
        return answer["maxFee"]

    def quote(self, requester: str, job_request: JobRequest) -> int:
        """Return the job's maximum fee (what ``fee_cap`` must cover), whatever the fee cap.

        Raises the error the request would raise for any other reason.
        """
        from offchain.chain.errors import JobsFeeCapBelowMaxFee

        answer = self._call("checkRequest", requester, job_request.as_abi())
        if not answer["allowed"]:
            error = decode_revert(answer["reason"], "Jobs.checkRequest", self.client.label_address)
            if not isinstance(error, JobsFeeCapBelowMaxFee):
                raise error
        return answer["maxFee"]

    def accept(self, job_id: int) -> PreparedTransaction:
        return self._prepare("accept", job_id)

    def decline(self, job_id: int, reason: str) -> PreparedTransaction:
        return self._prepare("decline", job_id, reason)

    def commit_input(self, job_id: int, input_index: int, input_fingerprint: bytes,
                     rows_used: int) -> PreparedTransaction:
        return self._prepare("commitInput", job_id, input_index, input_fingerprint, rows_used)

    def commit_result(self, job_id: int, result_commitment: bytes, transcript_hash: bytes
                      ) -> PreparedTransaction:
        return self._prepare("commitResult", job_id, result_commitment, transcript_hash)

    def finalize(self, job_id: int) -> PreparedTransaction:
        return self._prepare("finalize", job_id)

    def dispute(self, job_id: int, suspect: str, evidence_hash: bytes) -> PreparedTransaction:
        return self._prepare("dispute", job_id, suspect, evidence_hash)

    def resolve_dispute(self, job_id: int, refund_requester: bool) -> PreparedTransaction:
        return self._prepare("resolveDispute", job_id, refund_requester)

    def expire(self, job_id: int) -> PreparedTransaction:
        return self._prepare("expire", job_id)

    def set_timings(self, max_deadline_horizon: int, confirmation_window: int) -> PreparedTransaction:
        return self._prepare("setTimings", max_deadline_horizon, confirmation_window)

    def job(self, job_id: int) -> Job:
        return _record(Job, self._call("job", job_id), job_id=job_id)

    def jobs(self, first: int = 1, last: int | None = None) -> list[Job]:
        """Jobs ``first..last`` (default: all) in one round trip."""
        last = self.job_count() if last is None else last
        ids = list(range(first, last + 1))
        records = self.client.call_many([(self.handle, "job", (job_id,)) for job_id in ids])
        return [_record(Job, record, job_id=job_id) for job_id, record in zip(ids, records, strict=True)]

    def status(self, job_id: int) -> JobStatus:
        return JobStatus(self._call("status", job_id))

    def inputs(self, job_id: int) -> list[JobInputRecord]:
        return [_record(JobInputRecord, item) for item in self._call("inputs", job_id)]

    def nodes(self, job_id: int) -> list[JobNode]:
        return [_record(JobNode, item) for item in self._call("nodes", job_id)]

    def commitment_digest(self, job_id: int) -> bytes:
        """Return the digest folding every input and result commitment of the job, in chain order.

        Folding the ``InputCommitted`` / ``ResultCommitted`` events with
        :func:`fold_commitment` must reproduce it.
        """
        return self._call("commitmentDigest", job_id)

    def dispute_of(self, job_id: int) -> JobDispute:
        return _record(JobDispute, self._call("disputeOf", job_id))

    def job_count(self) -> int:
        return self._call("jobCount")

    def timings(self) -> tuple[int, int]:
        """Return (maximum deadline horizon, confirmation window), in seconds."""
        horizon, window = self.client.call_many([(self.handle, "maxDeadlineHorizon", ()),
                                                 (self.handle, "confirmationWindow", ())])
        return horizon, window


# ----------------------------------------------------------------------------
# the client


class ChainClient:
    """One connection to a deployment of Unseen, optionally with a signing key."""

    def __init__(self, rpc: Rpc, deployment: Deployment, signer: Signer | None = None,
                 artifacts: Mapping[str, Artifact] | None = None) -> None:
        self.rpc = rpc
        self.deployment = deployment
        self.signer = signer
        if signer is not None:
            signer.revert_error = lambda data, label: decode_revert(data, label, self.label_address)
        self.artifacts = dict(artifacts) if artifacts else {n: load_artifact(n) for n in CONTRACT_NAMES}
        self._labels: dict[str, str] | None = None
        handles = {
            name: ContractHandle(rpc, self.artifacts[name], deployment.address(name), signer,
                                 self.label_address)
            for name in CONTRACT_NAMES
        }
        self.handles = handles
        self.consortium = ConsortiumContract(self, handles["Consortium"])
        self.catalog = DataCatalogContract(self, handles["DataCatalog"])
        self.access_policy = AccessPolicyContract(self, handles["AccessPolicy"])
        self.billing = BillingContract(self, handles["Billing"])
        self.jobs = JobsContract(self, handles["Jobs"])
        self.event_decoder = EventDecoder(deployment.contracts, self.artifacts)

    @classmethod
    def connect(cls, deployment: str | Path | Deployment | None = None, rpc_url: str | None = None,
                key: str | None = None, verify: bool = False) -> ChainClient:
        """Open a client from a deployment file (default location rules apply).

        ``rpc_url`` overrides the deployment's URL; ``key`` is a key source
        (:mod:`offchain.chain.keys`) for sending transactions.
        """
        if not isinstance(deployment, Deployment):
            deployment = Deployment.load(deployment_path(deployment))
        rpc = Rpc(rpc_url or deployment.rpc_url)
        signer = None
        if key:
            from offchain.chain.keys import load_account

            signer = Signer(rpc, load_account(key))
        if verify:
            deployment.verify(rpc)
        return cls(rpc, deployment, signer)

    @property
    def address(self) -> str:
        """The signing account's address."""
        if self.signer is None:
            raise ConfigError("this client has no signing key; pass --key")
        return self.signer.address

    # -- batching ----------------------------------------------------------

    def transact_all(self, transactions: Sequence[PreparedTransaction], timeout: float = 120.0
                     ) -> list[Receipt]:
        """Send ``transactions`` back to back with local nonces; wait for all; raise on revert."""
        if self.signer is None:
            raise ConfigError(
                "sending transactions needs a signing key: pass --key (e.g. --key env:UNSEEN_KEY)"
            )
        return self.signer.transact([t.request for t in transactions], timeout=timeout)

    def call_many(self, calls: Sequence[tuple[ContractHandle, str, tuple[Any, ...]]],
                  block: str = "latest") -> list[Any]:
        """Run many views in one round trip; raise the first decoded revert."""
        outcomes = self.rpc.batch(
            [("eth_call", [handle.call_object(name, *args), block]) for handle, name, args in calls]
        )
        results = []
        for (handle, name, _), outcome in zip(calls, outcomes, strict=True):
            if isinstance(outcome, RpcFailure):
                revert = outcome.revert_data
                if revert is None:
                    raise outcome.as_error()
                raise decode_revert(revert, handle.label(name), self.label_address)
            results.append(handle.decode_output(name, outcome))
        return results

    def events(self, receipt: Receipt) -> list[EventRecord]:
        """Decode the Unseen events emitted by one transaction."""
        return decode_receipt_events(receipt.logs, self.event_decoder)

    # -- names --------------------------------------------------------------

    def label_address(self, address: str) -> str | None:
        """Return a short name for a known address (member name, contract name), or None."""
        if self._labels is None:
            labels = {address: name for name, address in self.deployment.contracts.items()}
            try:
                for member in self.consortium.members():
                    labels[member.address] = member.name
            except Exception:  # noqa: BLE001 - names are a nicety; never mask the real error
                pass
            self._labels = labels
        return self._labels.get(to_checksum_address(address))

