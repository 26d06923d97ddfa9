"""Solidity custom errors as Python exceptions, decoded from revert data by selector.

Every custom error declared by an Unseen contract (and every OpenZeppelin
error they can raise) has a class here, named exactly like the Solidity error,
deriving from :class:`offchain.errors.ContractError` and from the builtin that
matches its meaning (``PermissionError`` for authorization, ``LookupError`` for
unknown ids, ``ValueError`` for bad arguments, ...). Policy refusals by
``AccessPolicy`` also derive from :class:`offchain.errors.PolicyViolation`, so
one ``except PolicyViolation`` catches on-chain and off-chain refusals alike.

Each class carries a ``template`` that turns the decoded arguments into one
sentence (see :mod:`offchain.chain.render` for the ``{name:format}`` fields).
Decoding (as ape does): the first four bytes of the revert data select the
error among all contract ABIs; the rest is ABI-decoded into named arguments,
kept on the exception as ``args_``.

Besides the custom errors: ``Error(string)`` becomes
:class:`ContractRevertedWithReason`, ``Panic(uint256)``
:class:`ContractPanicked`, empty revert data :class:`ContractReverted`, and an
unknown selector :class:`UnknownContractError`.

The table test (``tests/chain/test_errors.py``) checks that every error in the
ABIs has a class here with a template naming only real arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import eth_abi

from offchain.chain import abi as abi_codec
from offchain.chain.artifacts import CONTRACT_NAMES, Artifact, load_artifact
from offchain.chain.models import SOLIDITY_ENUMS
from offchain.chain.render import AddressLabeler, render_template, render_value
from offchain.errors import ArtifactNotFound, ContractError, PolicyViolation

_CLASSES: dict[str, type[ContractError]] = {}


def _register(cls: type[ContractError]) -> type[ContractError]:
    """Add a class to the explicit registry of error classes, by its name."""
    _CLASSES[cls.__name__] = cls
    return cls


def error_classes() -> dict[str, type[ContractError]]:
    """Return every contract error class, by Solidity error name."""
    return dict(_CLASSES)


# ----------------------------------------------------------------------------
# reverts that are not custom errors


class ContractReverted(ContractError):
    """A call reverted without revert data (``revert()`` or out of gas)."""

    template = "reverted without a reason (a bare revert, or out of gas)"


class ContractRevertedWithReason(ContractError):
    """A call reverted with ``Error(string)`` (``require(cond, "text")``)."""

    template = "reverted: {reason}"


class ContractPanicked(ContractError, ArithmeticError):
    """A call hit a Solidity panic (``Panic(uint256)``): a bug in the contract."""

    template = "panicked with code {code} ({meaning})"

    #: Solidity panic codes, from the language documentation.
    MEANINGS = {
        0x00: "generic compiler panic",
        0x01: "assert failed",
        0x11: "arithmetic overflow or underflow",
        0x12: "division or modulo by zero",
        0x21: "invalid enum value",
        0x22: "corrupt storage byte array",
        0x31: "pop on an empty array",
        0x32: "array index out of bounds",
        0x41: "out of memory",
        0x51: "call to an uninitialised internal function",
    }


class UnknownContractError(ContractError):
    """A call reverted with a selector none of the known ABIs declares."""

    template = (
        "reverted with unknown error selector {selector} (data {data}); the contracts on "
        "chain differ from build/contracts: run `make setup` or check the deployment"
    )


# ----------------------------------------------------------------------------
# the registry: selector -> (ABI entry, class)


@dataclass(frozen=True)
class ErrorEntry:
    """One custom error: its ABI entry, selector and Python class."""

    name: str
    abi: dict[str, Any]
    selector: bytes
    cls: type[ContractError]
    contracts: tuple[str, ...]


class ErrorRegistry:
    """Decode revert data against the errors of a set of contract artifacts."""

    def __init__(self, artifacts: Mapping[str, Artifact]) -> None:
        entries: dict[bytes, ErrorEntry] = {}
        for contract_name, artifact in artifacts.items():
            for element in artifact.elements("error"):
                error_selector = abi_codec.selector(element)
                previous = entries.get(error_selector)
                if previous is not None:
                    entries[error_selector] = ErrorEntry(
                        previous.name, previous.abi, error_selector, previous.cls,
                        (*previous.contracts, contract_name),
                    )
                    continue
                cls = _CLASSES.get(element["name"]) or _fallback_class(element["name"])
                entries[error_selector] = ErrorEntry(
                    element["name"], element, error_selector, cls, (contract_name,)
                )
        self.by_selector = entries

    def names(self) -> set[str]:
        """Return the names of every custom error in the ABIs."""
        return {entry.name for entry in self.by_selector.values()}

    def decode(
        self, data: bytes, context: str | None = None, labeler: AddressLabeler | None = None
    ) -> ContractError:
        """Return the exception that ``data`` (revert data) stands for.

        ``context`` (e.g. ``"Jobs.request"``) is appended to the message;
        ``labeler`` names known addresses (e.g. member names).
        """
        data = bytes(data)
        suffix = f" (calling {context})" if context else ""
        if not data:
            return ContractReverted(ContractReverted.template + suffix, {}, data)
        head, body = data[:4], data[4:]
        if head == _ERROR_STRING:
            try:
                (reason,) = eth_abi.decode(["string"], body)
            except Exception:  # noqa: BLE001 - malformed reason: fall through to unknown
                reason = "0x" + body.hex()
            args = {"reason": reason}
            return ContractRevertedWithReason(
                render_template(ContractRevertedWithReason.template, args) + suffix, args, data
            )
        if head == _PANIC:
            try:
                (code,) = eth_abi.decode(["uint256"], body)
            except Exception:  # noqa: BLE001
                code = -1
            args = {"code": hex(code), "meaning": ContractPanicked.MEANINGS.get(code, "unknown")}
            return ContractPanicked(
                f"panicked with code {hex(code)} ({args['meaning']}){suffix}", args, data
            )
        entry = self.by_selector.get(head)
        if entry is None:
            args = {"selector": "0x" + head.hex(), "data": "0x" + data.hex()}
            message = UnknownContractError.template.format(**args)
            return UnknownContractError(message + suffix, args, data)
        try:
            args = abi_codec.decode_values(entry.abi.get("inputs", ()), body, SOLIDITY_ENUMS)
        except Exception as exc:  # noqa: BLE001 - undecodable arguments still name the error
            return entry.cls(f"(arguments could not be decoded: {exc}){suffix}", {}, data)
        return entry.cls(_message(entry.cls, args, labeler) + suffix, args, data)


def _message(cls: type[ContractError], args: Mapping[str, Any], labeler: AddressLabeler | None) -> str:
    template = getattr(cls, "template", None)
    if template:
        try:
            return render_template(template, args, labeler)
        except (KeyError, IndexError, ValueError):
            pass  # template and ABI disagree: the table test catches it; still say something
    return ", ".join(f"{name}={render_value(value, '', labeler)}" for name, value in args.items())


def _fallback_class(name: str) -> type[ContractError]:
    """Make a class for an ABI error this module has no class for.

    Keeps decoding working against newer contracts; the table test fails
    until a real class with a template is written.
    """
    return type(name, (ContractError,), {"__doc__": f"Solidity error {name} (no template yet)."})


_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")


@cache
def _registry_for(stamp: tuple[Any, ...]) -> ErrorRegistry:
    artifacts = {}
    for name in CONTRACT_NAMES:
        try:
            artifacts[name] = load_artifact(name)
        except ArtifactNotFound:
            continue
    return ErrorRegistry(artifacts)


def default_registry() -> ErrorRegistry:
    """Return the registry over the compiled Unseen contracts (rebuilt after a rebuild)."""
    from offchain.chain.artifacts import artifacts_directory

    directory = artifacts_directory()
    stamp = tuple(
        (name, (directory / f"{name}.json").stat().st_mtime_ns)
        if (directory / f"{name}.json").exists() else (name, None)
        for name in CONTRACT_NAMES
    )
    return _registry_for(stamp)


def decode_revert(
    data: bytes, context: str | None = None, labeler: AddressLabeler | None = None
) -> ContractError:
    """Return the exception for revert ``data`` of any Unseen contract."""
    return default_registry().decode(data, context, labeler)


def raise_for_check(allowed: bool, reason: bytes, context: str | None = None,
                    labeler: AddressLabeler | None = None) -> None:
    """Raise the decoded error of a ``(bool allowed, bytes reason)`` answer if not allowed.

    This is the shape of ``AccessPolicy.checkRequest``: ``reason`` is the
    ABI-encoded custom error the request would revert with.
    """
    if not allowed:
        raise decode_revert(reason, context, labeler)


# The custom error classes, one per Solidity error, follow. Bases: the
# builtin that matches (PermissionError: the caller may not do this;
# LookupError: an id or record does not exist; ValueError: an argument is
# wrong; RuntimeError: the record is in a state that forbids the operation).




# -- Consortium ----------------------------------------------------------------


@_register
class ConsortiumNotAdmin(ContractError, PermissionError):
    """The caller lacks the admin role."""

    template = "{caller} is not the consortium admin"


@_register
class ConsortiumNotAdminOrRegulator(ContractError, PermissionError):
    """The caller holds neither the admin nor the regulator role."""

    template = "{caller} is neither the consortium admin nor a regulator"


@_register
class ConsortiumZeroAddress(ContractError, ValueError):
    """A member address is the zero address."""

    template = "a member cannot have the zero address"


@_register
class ConsortiumAlreadyMember(ContractError, ValueError):
    """The account already has a member record."""

    template = "{account} already has a member record (status {status})"


@_register
class ConsortiumNotMember(ContractError, LookupError):
    """The account was never admitted, or was removed."""

    template = "{account} is not a member (status {status})"


@_register
class ConsortiumEmptyName(ContractError, ValueError):
    """The member name is empty."""

    template = "the name of member {account} is empty"


@_register
class ConsortiumEmptyEndpoint(ContractError, ValueError):
    """The node endpoint is empty."""

    template = "the node endpoint of member {account} is empty; give host:port"


@_register
class ConsortiumZeroFingerprint(ContractError, ValueError):
    """The node TLS key fingerprint is zero."""

    template = (
        "the TLS fingerprint of member {account} is zero; give the SHA-256 of the node's DER "
        "SubjectPublicKeyInfo"
    )


@_register
class ConsortiumFingerprintInUse(ContractError, ValueError):
    """Another member already registered this TLS key fingerprint."""

    template = "TLS fingerprint {tlsFingerprint:hash} is already registered by member {holder}"


@_register
class ConsortiumMemberNotActive(ContractError, RuntimeError):
    """Only an active member can be suspended."""

    template = "{account} is not an active member (status {status})"


@_register
class ConsortiumMemberNotSuspended(ContractError, RuntimeError):
    """Only a suspended member can be reinstated."""

    template = "{account} is not suspended (status {status})"


@_register
class ConsortiumMemberRoleManagedByAdmission(ContractError, PermissionError):
    """MEMBER_ROLE follows the member status and cannot be granted or revoked directly."""

    template = (
        "the member role follows admission: use admit, suspend, reinstate or remove instead of "
        "granting or revoking it"
    )


@_register
class ConsortiumFull(ContractError, RuntimeError):
    """The consortium admitted as many members as a member index can number."""

    template = "the consortium is full: at most {maxMembers} admissions (removed members included)"


@_register
class ConsortiumUnknownMemberIndex(ContractError, LookupError):
    """No member was admitted with this index."""

    template = "no member has index {index}; {memberCount} members were ever admitted"


# -- DataCatalog -----------------------------------------------------------------


@_register
class DataCatalogNotActiveMember(ContractError, PermissionError):
    """The caller is not an active member."""

    template = "{caller} is not an active member"


@_register
class DataCatalogNotRegulator(ContractError, PermissionError):
    """The caller is not a regulator."""

    template = "{caller} is not a regulator"


@_register
class DataCatalogUnknownDataset(ContractError, LookupError):
    """No dataset has this id."""

    template = "no dataset has id {datasetId}"


@_register
class DataCatalogNotOwner(ContractError, PermissionError):
    """The caller does not own the dataset."""

    template = "{caller} does not own dataset {datasetId} (owner {owner})"


@_register
class DataCatalogEmptyName(ContractError, ValueError):
    """The dataset name is empty."""

    template = "the dataset name is empty"


@_register
class DataCatalogNameTaken(ContractError, ValueError):
    """The owner already registered a dataset with this name."""

    template = "{owner} already has a dataset named {name} (id {existingId})"


@_register
class DataCatalogEmptySchema(ContractError, ValueError):
    """The schema has no columns."""

    template = "the schema has no columns"


@_register
class DataCatalogSchemaLengthMismatch(ContractError, ValueError):
    """Column names and column types differ in number."""

    template = "{nameCount} column names but {typeCount} column types"


@_register
class DataCatalogTooManyColumns(ContractError, ValueError):
    """The schema has more columns than allowed."""

    template = "the schema has {columnCount} columns; at most {maxColumns} are allowed"


@_register
class DataCatalogEmptyColumnName(ContractError, ValueError):
    """A column name is empty."""

    template = "column {columnIndex} has an empty name"


@_register
class DataCatalogDuplicateColumnName(ContractError, ValueError):
    """Two columns have the same name."""

    template = "column {columnIndex} repeats the name {name}"


@_register
class DataCatalogUnknownColumnType(ContractError, ValueError):
    """A column type is not one of the supported types."""

    template = (
        "column {columnIndex} has unknown type {columnType}; use bool, int32, int64, float32, "
        "float64, string, date, timestamp or decimal(p,s) with 1 <= p <= 18 and s <= p"
    )


@_register
class DataCatalogSchemaHashMismatch(ContractError, ValueError):
    """The schema hash given differs from the one computed on chain."""

    template = "schema hash {given:hash} differs from the computed {computed:hash}"


@_register
class DataCatalogZeroFingerprint(ContractError, ValueError):
    """The dataset fingerprint is zero."""

    template = "the dataset fingerprint (Merkle root of its rows) is zero"


@_register
class DataCatalogZeroRowCount(ContractError, ValueError):
    """The dataset has no rows."""

    template = "the dataset has zero rows"


@_register
class DataCatalogAlreadyActive(ContractError, RuntimeError):
    """The dataset is already active."""

    template = "dataset {datasetId} is already active"


@_register
class DataCatalogAlreadyInactive(ContractError, RuntimeError):
    """The dataset is already inactive."""

    template = "dataset {datasetId} is already inactive"


@_register
class DataCatalogAlreadyFrozen(ContractError, RuntimeError):
    """The dataset is already frozen."""

    template = "dataset {datasetId} is already frozen"


@_register
class DataCatalogNotFrozen(ContractError, RuntimeError):
    """The dataset is not frozen."""

    template = "dataset {datasetId} is not frozen"


@_register
class DataCatalogUnknownColumn(ContractError, LookupError):
    """The dataset has no column with this name."""

    template = "dataset {datasetId} has no column named {name}"


# -- AccessPolicy: administration ----------------------------------------------------


@_register
class AccessPolicyNotActiveMember(ContractError, PermissionError):
    """The caller is not an active member."""

    template = "{caller} is not an active member"


@_register
class AccessPolicyNotDatasetOwner(ContractError, PermissionError):
    """The caller does not own the dataset."""

    template = "{caller} does not own dataset {datasetId} (owner {owner})"


@_register
class AccessPolicyNotJobsContract(ContractError, PermissionError):
    """Only the Jobs contract may consume grants."""

    template = "{caller} is not the Jobs contract"


@_register
class AccessPolicyColumnLevelsLengthMismatch(ContractError, ValueError):
    """Columns and levels differ in number."""

    template = "dataset {datasetId}: {columnCount} columns but {levelCount} levels given"


@_register
class AccessPolicyInvalidLevel(ContractError, ValueError):
    """A constraint level is out of range."""

    template = "constraint level {level} does not exist (0 PLAINTEXT ... 5 ENCRYPTED_ONLY)"


@_register
class AccessPolicyInvalidKindMask(ContractError, ValueError):
    """The allowed job kinds mask is zero or has unknown bits."""

    template = "allowed job kinds mask {allowedKinds} ({allowedKinds:kinds}) is empty or has unknown bits"


@_register
class AccessPolicyExpiryNotInFuture(ContractError, ValueError):
    """An expiry is not after the current block time."""

    template = "expiry {expiry:time} is not in the future (block time {currentTime:time})"


@_register
class AccessPolicyGranteeIsOwner(ContractError, ValueError):
    """The owner cannot grant itself: it always has full access to its dataset."""

    template = "{owner} owns dataset {datasetId} and needs no grant on it"


@_register
class AccessPolicyGrantNotActive(ContractError, LookupError):
    """There is no active grant to revoke."""

    template = "no active grant on dataset {datasetId} for {grantee}"


@_register
class AccessPolicyZeroProgramHash(ContractError, ValueError):
    """The program hash is zero."""

    template = "the program hash is zero"


@_register
class AccessPolicyProgramAlreadyApproved(ContractError, RuntimeError):
    """The program is already approved for the dataset."""

    template = "program {programHash:hash} is already approved on dataset {datasetId}"


@_register
class AccessPolicyZeroSubjectOrPurpose(ContractError, ValueError):
    """A consent subject or purpose is zero."""

    template = "consent subject {subject:hash} and purpose {purpose:hash} must both be non-zero"


@_register
class AccessPolicyConsentNotRecorded(ContractError, LookupError):
    """No consent record exists for this subject and purpose."""

    template = "no consent recorded on dataset {datasetId} for subject {subject:hash}, purpose {purpose:hash}"


@_register
class AccessPolicyConsentAlreadyRevoked(ContractError, RuntimeError):
    """The consent is already revoked."""

    template = "consent on dataset {datasetId} for subject {subject:hash}, purpose {purpose:hash} is already revoked"


@_register
class AccessPolicyNotConsentRevoker(ContractError, PermissionError):
    """Only the dataset owner or the subject may revoke a consent."""

    template = (
        "{caller} may not revoke the consent on dataset {datasetId} for subject {subject:hash}, "
        "purpose {purpose:hash}: only the dataset owner or the subject can"
    )


@_register
class AccessPolicyNoSubjectAccount(ContractError, LookupError):
    """The consent records no subject account that could sign a revocation."""

    template = (
        "consent on dataset {datasetId} for subject {subject:hash}, purpose {purpose:hash} records "
        "no subject account, so it cannot be revoked by signature"
    )


@_register
class AccessPolicySignatureExpired(ContractError, ValueError):
    """The revocation signature's deadline has passed."""

    template = "signature deadline {deadline:time} has passed (block time {currentTime:time})"


@_register
class AccessPolicyInvalidSignature(ContractError, PermissionError):
    """The revocation was not signed by the subject account."""

    template = "the signature is from {signer}, not from the subject account {subjectAccount}"


# -- AccessPolicy: request checks (policy refusals) ------------------------------------


@_register
class AccessPolicyRequesterNotActive(ContractError, PolicyViolation):
    """The requester is not an active member."""

    template = "requester {requester} is not an active member"


@_register
class AccessPolicyRecipientNotActive(ContractError, PolicyViolation):
    """The result recipient is not an active member."""

    template = "result recipient {recipient} is not an active member"


@_register
class AccessPolicyInvalidKind(ContractError, ValueError):
    """The job kind does not exist."""

    template = "job kind {kind} does not exist (0 STATISTICS ... 5 PUBLISH)"


@_register
class AccessPolicyUnknownDataset(ContractError, LookupError):
    """No dataset has this id."""

    template = "no dataset has id {datasetId}"


@_register
class AccessPolicyDatasetInactive(ContractError, PolicyViolation):
    """The dataset is deactivated by its owner."""

    template = "dataset {datasetId} is deactivated by its owner"


@_register
class AccessPolicyDatasetFrozen(ContractError, PolicyViolation):
    """The dataset is frozen by a regulator."""

    template = "dataset {datasetId} is frozen by a regulator"


@_register
class AccessPolicyDatasetOwnerNotActive(ContractError, PolicyViolation):
    """The dataset's owner is not an active member."""

    template = "the owner {owner} of dataset {datasetId} is not an active member"


@_register
class AccessPolicyColumnOutOfRange(ContractError, ValueError):
    """A column index is beyond the dataset's columns."""

    template = "dataset {datasetId} has {columnCount} columns; column index {column} is out of range"


@_register
class AccessPolicyNoGrant(ContractError, PolicyViolation):
    """The requester holds no grant on the dataset."""

    template = "{requester} holds no grant on dataset {datasetId}"


@_register
class AccessPolicyGrantExpired(ContractError, PolicyViolation):
    """The grant has expired."""

    template = "grant on dataset {datasetId} for {grantee} expired at {expiry:time} (block time {currentTime:time})"


@_register
class AccessPolicyGrantExhausted(ContractError, PolicyViolation):
    """The grant has no uses left."""

    template = "grant on dataset {datasetId} for {grantee} is used up ({maxUses} uses allowed)"


@_register
class AccessPolicyKindNotAllowed(ContractError, PolicyViolation):
    """The grant does not allow this job kind."""

    template = (
        "grant on dataset {datasetId} for {grantee} does not allow {kind:kind} jobs "
        "(allowed: {allowedKinds:kinds})"
    )


@_register
class AccessPolicyLevelNotPermitted(ContractError, PolicyViolation):
    """A column's granted constraint level does not permit the declared use."""

    template = (
        "column {column} of dataset {datasetId} is {granted:level} for {party}; the job needs "
        "{required:level}"
    )


@_register
class AccessPolicyProgramNotApproved(ContractError, PolicyViolation):
    """The program is not approved by the dataset owner."""

    template = "program {programHash:hash} is not approved by the owner of dataset {datasetId}"


@_register
class AccessPolicyConsentMissing(ContractError, PolicyViolation):
    """No consent exists for the subject and purpose."""

    template = "no consent on dataset {datasetId} for subject {subject:hash}, purpose {purpose:hash}"


@_register
class AccessPolicyConsentExpired(ContractError, PolicyViolation):
    """The consent has expired."""

    template = (
        "consent on dataset {datasetId} for subject {subject:hash}, purpose {purpose:hash} "
        "expired at {expiry:time}"
    )


@_register
class AccessPolicyConsentRevoked(ContractError, PolicyViolation):
    """The consent was revoked."""

    template = "consent on dataset {datasetId} for subject {subject:hash}, purpose {purpose:hash} was revoked"


# -- Billing -------------------------------------------------------------------------


@_register
class BillingNotAdmin(ContractError, PermissionError):
    """The caller is not the admin."""

    template = "{caller} is not the consortium admin"


@_register
class BillingNotJobsContract(ContractError, PermissionError):
    """Only the Jobs contract moves escrow."""

    template = "{caller} is not the Jobs contract"


@_register
class BillingNotActiveMember(ContractError, PermissionError):
    """Credits go to active members only."""

    template = "{account} is not an active member"


@_register
class BillingZeroAmount(ContractError, ValueError):
    """The amount is zero."""

    template = "the amount is zero"


@_register
class BillingInsufficientCredits(ContractError, ValueError):
    """The account has fewer credits than needed."""

    template = "{account} has {balance:credits}, needs {required:credits}"


@_register
class BillingEscrowExists(ContractError, RuntimeError):
    """The job already has an escrow."""

    template = "job {jobId} already has an escrow"


@_register
class BillingNoEscrow(ContractError, LookupError):
    """The job has no escrow."""

    template = "job {jobId} has no escrow"


@_register
class BillingEscrowTooLarge(ContractError, ValueError):
    """The escrow amount exceeds the maximum."""

    template = "escrow of {amount:credits} exceeds the maximum of {maxAmount:credits}"


@_register
class BillingLengthMismatch(ContractError, ValueError):
    """Payees and amounts differ in number."""

    template = "{payeeCount} payees but {amountCount} amounts"


@_register
class BillingPayoutExceedsEscrow(ContractError, ValueError):
    """Payouts exceed the escrow."""

    template = "job {jobId}: payouts of {total:credits} exceed the escrow of {escrowed:credits}"


# -- Jobs: configuration and roles -------------------------------------------------------


@_register
class JobsNotAdmin(ContractError, PermissionError):
    """The caller is not the admin."""

    template = "{caller} is not the consortium admin"


@_register
class JobsNotAdminOrRegulator(ContractError, PermissionError):
    """The caller is neither the admin nor a regulator."""

    template = "{caller} is neither the consortium admin nor a regulator"


@_register
class JobsNotActiveMember(ContractError, PermissionError):
    """The caller is not an active member."""

    template = "{caller} is not an active member"


@_register
class JobsInvalidTimings(ContractError, ValueError):
    """The job timings are out of range."""

    template = (
        "invalid job timings: maximum deadline horizon {maxDeadlineHorizon} s, confirmation "
        "window {confirmationWindow} s"
    )


# -- Jobs: request shape ---------------------------------------------------------------


@_register
class JobsInvalidKind(ContractError, ValueError):
    """The job kind does not exist."""

    template = "job kind {kind} does not exist (0 STATISTICS ... 5 PUBLISH)"


@_register
class JobsZeroProgramHash(ContractError, ValueError):
    """The program hash is zero."""

    template = "the program hash is zero"


@_register
class JobsNoInputs(ContractError, ValueError):
    """The job has no inputs."""

    template = "the job has no input datasets"


@_register
class JobsTooManyInputs(ContractError, ValueError):
    """The job has more inputs than allowed."""

    template = "the job has {inputCount} inputs; at most {maxInputs} are allowed"


@_register
class JobsDuplicateInput(ContractError, ValueError):
    """A dataset appears twice among the inputs."""

    template = "dataset {datasetId} appears twice among the inputs; list each dataset once"


@_register
class JobsPublishNeedsOneInput(ContractError, ValueError):
    """A PUBLISH job has exactly one input."""

    template = "a PUBLISH job takes exactly one input dataset, got {inputCount}"


@_register
class JobsWrongNodeCount(ContractError, ValueError):
    """The number of compute nodes is wrong for the kind."""

    template = "a {kind:kind} job needs {expected} compute nodes, got {nodeCount}"


@_register
class JobsDuplicateNode(ContractError, ValueError):
    """A compute node appears twice."""

    template = "compute node {node} appears twice; choose distinct members"


@_register
class JobsZeroRecipient(ContractError, ValueError):
    """The result recipient is the zero address."""

    template = "the result recipient is the zero address"


@_register
class JobsDeadlineNotInFuture(ContractError, ValueError):
    """The deadline is not after the current block time."""

    template = "deadline {deadline:time} is not in the future (block time {currentTime:time})"


@_register
class JobsDeadlineBeyondHorizon(ContractError, ValueError):
    """The deadline is further out than the maximum horizon."""

    template = "deadline {deadline:time} is beyond the latest allowed, {latest:time}"


# -- Jobs: request terms -----------------------------------------------------------------


@_register
class JobsNodeNotActive(ContractError, PolicyViolation):
    """A compute node is not an active member."""

    template = "compute node {node} is not an active member"


@_register
class JobsPublishNodeNotOwner(ContractError, PolicyViolation):
    """A PUBLISH job runs at the owner of its input only."""

    template = "a PUBLISH job runs at the dataset owner {owner}, not at {node}"


@_register
class JobsFeeCapBelowMaxFee(ContractError, ValueError):
    """The fee cap does not cover the maximum fee."""

    template = "fee cap {feeCap:credits} is below the job's maximum fee of {maxFee:credits}"


# -- Jobs: lifecycle ---------------------------------------------------------------------


@_register
class JobsUnknownJob(ContractError, LookupError):
    """No job has this id."""

    template = "no job has id {jobId}"


@_register
class JobsWrongStatus(ContractError, RuntimeError):
    """The job's status does not allow the operation."""

    template = "job {jobId} is {status}, which does not allow this"


@_register
class JobsDeadlinePassed(ContractError, RuntimeError):
    """The job's deadline has passed."""

    template = "job {jobId}'s deadline {deadline:time} has passed (block time {currentTime:time})"


@_register
class JobsDeadlineNotReached(ContractError, RuntimeError):
    """The job cannot expire before its deadline."""

    template = "job {jobId} cannot expire before its deadline {deadline:time} (block time {currentTime:time})"


@_register
class JobsNotParticipant(ContractError, PermissionError):
    """The caller is neither a compute node nor an input owner of the job."""

    template = "{caller} is neither a compute node nor an input owner of job {jobId}"


@_register
class JobsAlreadyAccepted(ContractError, RuntimeError):
    """The participant already accepted."""

    template = "{caller} already accepted job {jobId}"


@_register
class JobsNotComputeNode(ContractError, PermissionError):
    """The caller is not a compute node of the job."""

    template = "{caller} is not a compute node of job {jobId}"


@_register
class JobsInputIndexOutOfRange(ContractError, ValueError):
    """The input index is beyond the job's inputs."""

    template = "job {jobId} has {inputCount} inputs; input index {inputIndex} is out of range"


@_register
class JobsNotInputOwner(ContractError, PermissionError):
    """Only the owner of an input commits it."""

    template = "{caller} does not own input {inputIndex} of job {jobId} (owner {owner})"


@_register
class JobsInputAlreadyCommitted(ContractError, RuntimeError):
    """The input was already committed."""

    template = "input {inputIndex} of job {jobId} is already committed"


@_register
class JobsRowsUsedExceedLimit(ContractError, ValueError):
    """More rows used than the dataset holds."""

    template = "input {inputIndex} of job {jobId}: {rowsUsed} rows used, the dataset has {rowLimit}"


@_register
class JobsZeroCommitment(ContractError, ValueError):
    """A commitment is zero."""

    template = "the commitment is zero"


@_register
class JobsInputsPending(ContractError, RuntimeError):
    """Results cannot be committed before every input."""

    template = "job {jobId} still waits for {pendingInputs} input commitments"


@_register
class JobsResultAlreadyCommitted(ContractError, RuntimeError):
    """The node already committed its result."""

    template = "compute node {node} already committed its result for job {jobId}"


@_register
class JobsConfirmationWindowOpen(ContractError, PermissionError):
    """Only the requester may finalize until the confirmation window ends."""

    template = (
        "{caller} may finalize job {jobId} only after the requester's confirmation window ends "
        "at {windowEndsAt:time}"
    )


@_register
class JobsNotRequesterOrParticipant(ContractError, PermissionError):
    """The caller has no part in the job."""

    template = "{caller} is neither the requester nor a participant of job {jobId}"


@_register
class JobsSuspectNotInvolved(ContractError, ValueError):
    """The suspect named in a dispute has no part in the job."""

    template = "{suspect} is neither the requester nor a participant of job {jobId}"


# -- OpenZeppelin errors the contracts can raise ------------------------------------------


@_register
class AccessControlUnauthorizedAccount(ContractError, PermissionError):
    """The account lacks the role the function needs (OpenZeppelin AccessControl)."""

    template = "{account} lacks the role {neededRole:role}"


@_register
class AccessControlBadConfirmation(ContractError, ValueError):
    """``renounceRole`` was called for another account (OpenZeppelin AccessControl)."""

    template = "an account can only renounce its own roles"


@_register
class ReentrancyGuardReentrantCall(ContractError, RuntimeError):
    """A guarded function was re-entered (OpenZeppelin ReentrancyGuard)."""

    template = "reentrant call refused"


@_register
class InvalidAccountNonce(ContractError, ValueError):
    """A signed message used a stale nonce (OpenZeppelin Nonces)."""

    template = "signature nonce of {account} is stale; the current nonce is {currentNonce}"


@_register
class InvalidShortString(ContractError, ValueError):
    """A short string is malformed (OpenZeppelin ShortStrings)."""

    template = "malformed short string"


@_register
class StringTooLong(ContractError, ValueError):
    """A string is too long for a short string (OpenZeppelin ShortStrings)."""

    template = "string {str} is longer than 31 bytes"


@_register
class SafeCastOverflowedUintDowncast(ContractError, OverflowError):
    """A value does not fit the integer width it is stored in (OpenZeppelin SafeCast)."""

    template = "value {value} does not fit in {bits} bits"
