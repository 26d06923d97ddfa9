// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {JobInput} from "../libraries/UnseenTypes.sol";

/// @notice A grant: the terms on which a grantee (or every member) may use a dataset in jobs.
/// @param expiry Timestamp after which the grant no longer allows jobs.
/// @param maxUses Number of jobs allowed; 0 means unlimited.
/// @param uses Jobs requested under this grant so far.
/// @param allowedKinds Bitmask over job kinds (bit `k` allows kind `k`, see `JobKinds`).
/// @param active False before the grant is set and after it is revoked.
struct Grant {
    uint40 expiry;
    uint64 maxUses;
    uint64 uses;
    uint8 allowedKinds;
    bool active;
}

/// @notice A data subject's consent to the use of a dataset's records about them for a purpose.
/// @param expiry Timestamp after which the consent no longer holds.
/// @param revoked True once revoked by the owner or the subject.
/// @param recorded True once recorded (distinguishes "never recorded" from a zeroed record).
/// @param subjectAccount The subject's own address, if known; it may then revoke the consent
///        directly or by EIP-712 signature. Zero if the subject has no address.
/// @param evidenceHash Hash of the consent evidence kept off chain (signed form, recording, ...).
struct Consent {
    uint40 expiry;
    bool revoked;
    bool recorded;
    address subjectAccount;
    bytes32 evidenceHash;
}

/// @notice One input as the policy read it while checking a request.
/// @param owner The dataset owner.
/// @param ownerIndex The owner's Consortium member index.
/// @param version The dataset version.
/// @param rowCount The dataset row count.
/// @param pricePerJob Credits per job.
/// @param pricePerRow Credits per row used.
struct CheckedInput {
    address owner;
    uint16 ownerIndex;
    uint32 version;
    uint64 rowCount;
    uint64 pricePerJob;
    uint64 pricePerRow;
}

/// @notice What the policy read while checking a request, returned by `consume` so that Jobs
///         prices and records the request without reading DataCatalog and Consortium again.
/// @param requesterIndex The requester's Consortium member index.
/// @param inputs Each input's owner, size and prices.
struct CheckedRequest {
    uint16 requesterIndex;
    CheckedInput[] inputs;
}

/// @title IAccessPolicy
/// @notice Who may use which dataset, how, and what may be revealed of each column: column
///         constraint levels, grants with expiry / use quota / allowed kinds, approved programs,
///         and data-subject consent.
/// @dev Constraint levels (`ConstraintLevels`): PLAINTEXT=0, PLAINTEXT_AFTER_JOIN=1,
///      PLAINTEXT_AFTER_GROUP_BY=2, PLAINTEXT_AFTER_AGGREGATE=3, PLAINTEXT_AFTER_COMPARE=4,
///      ENCRYPTED_ONLY=5. Granted level G permits required level R iff G == PLAINTEXT or
///      R == ENCRYPTED_ONLY or G == R.
///      Lookup rules, for a grantee X on dataset D:
///      - level of column c: the entry (D, c, X) if set, else (D, c, address(0)) if set, else
///        ENCRYPTED_ONLY;
///      - grant: (D, X) if active, else (D, address(0)) if active, else none. The uses of the
///        all-members grant are one pool shared by every member. To exclude one member from an
///        all-members grant, give it a grant with `allowedKinds == 0`.
///      The owner of D always has an implicit unlimited grant and PLAINTEXT on every column of D,
///      and its own programs count as approved on D.
interface IAccessPolicy {
    // ----------------------------------------------------------------------------------------
    // Errors: administration
    // ----------------------------------------------------------------------------------------

    /// @notice The caller is not an active member.
    /// @param caller The address that called.
    error AccessPolicyNotActiveMember(address caller);

    /// @notice The caller does not own the dataset.
    /// @param datasetId The dataset.
    /// @param caller The address that called.
    /// @param owner The dataset's owner (zero if the dataset does not exist).
    error AccessPolicyNotDatasetOwner(uint256 datasetId, address caller, address owner);

    /// @notice The caller is not the Jobs contract.
    /// @param caller The address that called.
    error AccessPolicyNotJobsContract(address caller);

    /// @notice Column and level arrays differ in length.
    /// @param datasetId The dataset.
    /// @param columnCount Length of the column array.
    /// @param levelCount Length of the level array.
    error AccessPolicyColumnLevelsLengthMismatch(uint256 datasetId, uint256 columnCount, uint256 levelCount);

    /// @notice A constraint level is not one of the six defined levels (0..5).
    /// @param level The value given.
    error AccessPolicyInvalidLevel(uint8 level);

    /// @notice An allowed-kinds mask has bits beyond the six job kinds (valid masks are 0..0x3f).
    /// @param allowedKinds The mask given.
    error AccessPolicyInvalidKindMask(uint8 allowedKinds);

    /// @notice An expiry is not in the future.
    /// @param expiry The expiry given.
    /// @param currentTime The current block timestamp.
    error AccessPolicyExpiryNotInFuture(uint256 expiry, uint256 currentTime);

    /// @notice The dataset owner cannot be given an explicit grant or level: it has them
    ///         implicitly.
    /// @param datasetId The dataset.
    /// @param owner The owner named as grantee.
    error AccessPolicyGranteeIsOwner(uint256 datasetId, address owner);

    /// @notice No active grant exists for this dataset and grantee.
    /// @param datasetId The dataset.
    /// @param grantee The grantee (zero for all members).
    error AccessPolicyGrantNotActive(uint256 datasetId, address grantee);

    /// @notice The program hash is zero.
    error AccessPolicyZeroProgramHash();

    /// @notice The program is already approved on this dataset.
    /// @param datasetId The dataset.
    /// @param programHash The program.
    error AccessPolicyProgramAlreadyApproved(uint256 datasetId, bytes32 programHash);

    /// @notice A consent record needs a non-zero subject hash and purpose.
    /// @param subject The subject hash given.
    /// @param purpose The purpose given.
    error AccessPolicyZeroSubjectOrPurpose(bytes32 subject, bytes32 purpose);

    /// @notice No consent is recorded for this dataset, subject and purpose.
    /// @param datasetId The dataset.
    /// @param subject The subject hash.
    /// @param purpose The purpose.
    error AccessPolicyConsentNotRecorded(uint256 datasetId, bytes32 subject, bytes32 purpose);

    /// @notice The consent is already revoked.
    /// @param datasetId The dataset.
    /// @param subject The subject hash.
    /// @param purpose The purpose.
    error AccessPolicyConsentAlreadyRevoked(uint256 datasetId, bytes32 subject, bytes32 purpose);

    /// @notice The caller may not revoke this consent: only the dataset owner or the recorded
    ///         subject account may.
    /// @param datasetId The dataset.
    /// @param subject The subject hash.
    /// @param purpose The purpose.
    /// @param caller The address that called.
    error AccessPolicyNotConsentRevoker(uint256 datasetId, bytes32 subject, bytes32 purpose, address caller);

    /// @notice The consent has no subject account, so it cannot be revoked by signature.
    /// @param datasetId The dataset.
    /// @param subject The subject hash.
    /// @param purpose The purpose.
    error AccessPolicyNoSubjectAccount(uint256 datasetId, bytes32 subject, bytes32 purpose);

    /// @notice The signed revocation is past its deadline.
    /// @param deadline The deadline in the signed message.
    /// @param currentTime The current block timestamp.
    error AccessPolicySignatureExpired(uint256 deadline, uint256 currentTime);

    /// @notice The revocation signature was not made by the subject account.
    /// @param signer The address the signature recovers to.
    /// @param subjectAccount The subject account recorded with the consent.
    error AccessPolicyInvalidSignature(address signer, address subjectAccount);

    // ----------------------------------------------------------------------------------------
    // Errors: request checks (returned ABI-encoded by `checkRequest`, reverted by `consume`)
    // ----------------------------------------------------------------------------------------

    /// @notice The requester is not an active member.
    /// @param requester The requester.
    error AccessPolicyRequesterNotActive(address requester);

    /// @notice The result recipient is not an active member.
    /// @param recipient The recipient.
    error AccessPolicyRecipientNotActive(address recipient);

    /// @notice The job kind is not one of the six defined kinds (0..5).
    /// @param kind The value given.
    error AccessPolicyInvalidKind(uint8 kind);

    /// @notice No dataset has this id.
    /// @param datasetId The id given.
    error AccessPolicyUnknownDataset(uint256 datasetId);

    /// @notice The dataset was deactivated by its owner.
    /// @param datasetId The dataset.
    error AccessPolicyDatasetInactive(uint256 datasetId);

    /// @notice The dataset is frozen by a regulator.
    /// @param datasetId The dataset.
    error AccessPolicyDatasetFrozen(uint256 datasetId);

    /// @notice The dataset's owner is not an active member.
    /// @param datasetId The dataset.
    /// @param owner The owner.
    error AccessPolicyDatasetOwnerNotActive(uint256 datasetId, address owner);

    /// @notice A column index is beyond the dataset's columns.
    /// @param datasetId The dataset.
    /// @param column The index given.
    /// @param columnCount The dataset's column count.
    error AccessPolicyColumnOutOfRange(uint256 datasetId, uint256 column, uint256 columnCount);

    /// @notice Neither the requester nor all members hold an active grant on the dataset.
    /// @param datasetId The dataset.
    /// @param requester The requester.
    error AccessPolicyNoGrant(uint256 datasetId, address requester);

    /// @notice The applicable grant has expired.
    /// @param datasetId The dataset.
    /// @param grantee The grant's grantee (zero for all members).
    /// @param expiry The grant's expiry.
    /// @param currentTime The current block timestamp.
    error AccessPolicyGrantExpired(uint256 datasetId, address grantee, uint256 expiry, uint256 currentTime);

    /// @notice The applicable grant has no use left.
    /// @param datasetId The dataset.
    /// @param grantee The grant's grantee (zero for all members).
    /// @param maxUses The grant's quota.
    error AccessPolicyGrantExhausted(uint256 datasetId, address grantee, uint256 maxUses);

    /// @notice The applicable grant does not allow this job kind.
    /// @param datasetId The dataset.
    /// @param grantee The grant's grantee (zero for all members).
    /// @param kind The job kind.
    /// @param allowedKinds The grant's allowed-kinds mask.
    error AccessPolicyKindNotAllowed(uint256 datasetId, address grantee, uint8 kind, uint8 allowedKinds);

    /// @notice A column's effective level for the party that sees the result does not permit the
    ///         declared use.
    /// @param datasetId The dataset.
    /// @param column The column index.
    /// @param party The requester or result recipient the level was looked up for.
    /// @param granted The effective granted level.
    /// @param required The level the job's use requires.
    error AccessPolicyLevelNotPermitted(
        uint256 datasetId, uint256 column, address party, uint8 granted, uint8 required
    );

    /// @notice The job kind runs a program, and the dataset's owner has not approved it.
    /// @param datasetId The dataset.
    /// @param programHash The program.
    error AccessPolicyProgramNotApproved(uint256 datasetId, bytes32 programHash);

    /// @notice No consent is recorded for the subject and purpose a PUBLISH job named.
    /// @param datasetId The dataset.
    /// @param subject The subject hash.
    /// @param purpose The purpose.
    error AccessPolicyConsentMissing(uint256 datasetId, bytes32 subject, bytes32 purpose);

    /// @notice The consent a PUBLISH job relies on has expired.
    /// @param datasetId The dataset.
    /// @param subject The subject hash.
    /// @param purpose The purpose.
    /// @param expiry The consent's expiry.
    error AccessPolicyConsentExpired(uint256 datasetId, bytes32 subject, bytes32 purpose, uint256 expiry);

    /// @notice The consent a PUBLISH job relies on was revoked.
    /// @param datasetId The dataset.
    /// @param subject The subject hash.
    /// @param purpose The purpose.
    error AccessPolicyConsentRevoked(uint256 datasetId, bytes32 subject, bytes32 purpose);

    // ----------------------------------------------------------------------------------------
    // Events
    // ----------------------------------------------------------------------------------------

    /// @notice The owner set constraint levels on columns of a dataset for a grantee.
    /// @param datasetId The dataset.
    /// @param grantee The grantee, or zero for all members.
    /// @param columns Column indexes.
    /// @param levels The level set on each column.
    event ColumnLevelsSet(uint256 indexed datasetId, address indexed grantee, uint16[] columns, uint8[] levels);

    /// @notice The owner cleared constraint levels, so lookups fall back (grantee → all members →
    ///         ENCRYPTED_ONLY).
    /// @param datasetId The dataset.
    /// @param grantee The grantee, or zero for all members.
    /// @param columns Column indexes cleared.
    event ColumnLevelsCleared(uint256 indexed datasetId, address indexed grantee, uint16[] columns);

    /// @notice The owner set (created or replaced) a grant; the use counter restarts at zero.
    /// @param datasetId The dataset.
    /// @param grantee The grantee, or zero for all members.
    /// @param expiry Expiry timestamp.
    /// @param maxUses Quota of jobs, 0 for unlimited.
    /// @param allowedKinds Bitmask of allowed job kinds.
    event GrantSet(
        uint256 indexed datasetId, address indexed grantee, uint40 expiry, uint64 maxUses, uint8 allowedKinds
    );

    /// @notice The owner revoked a grant.
    /// @param datasetId The dataset.
    /// @param grantee The grantee, or zero for all members.
    event GrantRevoked(uint256 indexed datasetId, address indexed grantee);

    /// @notice A job request used a grant.
    /// @param datasetId The dataset.
    /// @param grantee The grant's grantee (zero for the all-members grant).
    /// @param jobId The job that used it.
    /// @param uses Uses of the grant so far, this one included.
    event GrantUsed(uint256 indexed datasetId, address indexed grantee, uint256 indexed jobId, uint64 uses);

    /// @notice The owner approved a program (script or model) for use on the dataset.
    /// @param datasetId The dataset.
    /// @param programHash The program's hash.
    /// @param note A note or URI (e.g. the review record).
    event ProgramApproved(uint256 indexed datasetId, bytes32 indexed programHash, string note);

    /// @notice The owner withdrew a program's approval.
    /// @param datasetId The dataset.
    /// @param programHash The program's hash.
    /// @param note A note or URI (e.g. why).
    event ProgramRevoked(uint256 indexed datasetId, bytes32 indexed programHash, string note);

    /// @notice The owner recorded (or re-recorded) a data subject's consent.
    /// @param datasetId The dataset.
    /// @param subject Hash identifying the subject (never the identity itself).
    /// @param purpose The purpose consented to.
    /// @param expiry Expiry timestamp.
    /// @param evidenceHash Hash of the evidence kept off chain.
    /// @param subjectAccount The subject's own address, or zero.
    event ConsentRecorded(
        uint256 indexed datasetId,
        bytes32 indexed subject,
        bytes32 indexed purpose,
        uint40 expiry,
        bytes32 evidenceHash,
        address subjectAccount
    );

    /// @notice A consent was revoked.
    /// @param datasetId The dataset.
    /// @param subject The subject hash.
    /// @param purpose The purpose.
    /// @param by The owner, or the subject account (directly or through its signature).
    /// @param bySignature True when revoked with the subject's EIP-712 signature (its nonce was
    ///        used).
    event ConsentRevoked(
        uint256 indexed datasetId, bytes32 indexed subject, bytes32 indexed purpose, address by, bool bySignature
    );

    // ----------------------------------------------------------------------------------------
    // Owner
    // ----------------------------------------------------------------------------------------

    /// @notice Set constraint levels on columns of the caller's dataset for `grantee`.
    /// @param datasetId The dataset (the caller must own it and be active).
    /// @param grantee The grantee, or zero for all members; not the owner.
    /// @param columns Column indexes, each below the dataset's column count.
    /// @param levels One level (0..5) per column.
    function setColumnLevels(uint256 datasetId, address grantee, uint16[] calldata columns, uint8[] calldata levels)
        external;

    /// @notice Clear constraint levels so that lookups fall back.
    /// @param datasetId The dataset (the caller must own it and be active).
    /// @param grantee The grantee, or zero for all members.
    /// @param columns Column indexes, each below the dataset's column count.
    function clearColumnLevels(uint256 datasetId, address grantee, uint16[] calldata columns) external;

    /// @notice Create or replace the grant of `grantee` on the caller's dataset; the use counter
    ///         restarts at zero.
    /// @param datasetId The dataset (the caller must own it and be active).
    /// @param grantee The grantee, or zero for all members; not the owner.
    /// @param expiry Expiry timestamp, in the future.
    /// @param maxUses Quota of jobs, 0 for unlimited.
    /// @param allowedKinds Bitmask of allowed job kinds (0..0x3f; 0 blocks the grantee).
    function setGrant(uint256 datasetId, address grantee, uint40 expiry, uint64 maxUses, uint8 allowedKinds)
        external;

    /// @notice Revoke the active grant of `grantee` on the caller's dataset.
    /// @param datasetId The dataset (the caller must own it and be active).
    /// @param grantee The grantee, or zero for all members.
    function revokeGrant(uint256 datasetId, address grantee) external;

    /// @notice Approve a program for use on the caller's dataset.
    /// @param datasetId The dataset (the caller must own it and be active).
    /// @param programHash The program's hash, non-zero.
    /// @param note A note or URI, recorded in the event.
    function approveProgram(uint256 datasetId, bytes32 programHash, string calldata note) external;

    /// @notice Withdraw a program's approval on the caller's dataset.
    /// @param datasetId The dataset (the caller must own it and be active).
    /// @param programHash The program's hash; must be approved.
    /// @param note A note or URI, recorded in the event.
    function revokeProgram(uint256 datasetId, bytes32 programHash, string calldata note) external;

    /// @notice Record (or re-record, which also clears a revocation) a subject's consent.
    /// @dev WARNING: `subject` must be a salted hash of the subject's identity, never the identity
    ///      or an unsalted hash of it: everything on chain is readable by every member.
    /// @param datasetId The dataset (the caller must own it and be active).
    /// @param subject Hash identifying the subject, non-zero.
    /// @param purpose The purpose, non-zero.
    /// @param expiry Expiry timestamp, in the future.
    /// @param evidenceHash Hash of the evidence kept off chain.
    /// @param subjectAccount The subject's own address, or zero.
    function recordConsent(
        uint256 datasetId,
        bytes32 subject,
        bytes32 purpose,
        uint40 expiry,
        bytes32 evidenceHash,
        address subjectAccount
    ) external;

    /// @notice Revoke a consent. Callable by the dataset owner, or by the recorded subject account.
    /// @param datasetId The dataset.
    /// @param subject The subject hash.
    /// @param purpose The purpose.
    function revokeConsent(uint256 datasetId, bytes32 subject, bytes32 purpose) external;

    /// @notice Revoke a consent with an EIP-712 signature of the subject account; anyone may
    ///         submit it. Typed data:
    ///         `RevokeConsent(uint256 datasetId,bytes32 subject,bytes32 purpose,uint256 nonce,uint256 deadline)`
    ///         in domain `{name: "Unseen AccessPolicy", version: "1", chainId, verifyingContract}`;
    ///         `nonce` is `nonces(subjectAccount)`.
    /// @param datasetId The dataset.
    /// @param subject The subject hash.
    /// @param purpose The purpose.
    /// @param deadline Last timestamp at which the signature is valid.
    /// @param signature 65-byte ECDSA signature (r, s, v) by the subject account.
    function revokeConsentBySignature(
        uint256 datasetId,
        bytes32 subject,
        bytes32 purpose,
        uint256 deadline,
        bytes calldata signature
    ) external;

    // ----------------------------------------------------------------------------------------
    // Request checks
    // ----------------------------------------------------------------------------------------

    /// @notice Check whether a job request passes every policy rule, without changing state.
    /// @dev Checks, in order: kind; requester active; recipient active (when it differs from the
    ///      requester); then per input: dataset exists, active, not frozen, owner active; grant
    ///      applicable, unexpired, with uses left, allowing the kind; column/level arrays match;
    ///      each column in range and each level valid and permitted for the requester (and for
    ///      the recipient when it differs); program approved (SCRIPT, PUBLISH, MODEL_PREDICT);
    ///      consent present, unexpired and unrevoked (PUBLISH).
    /// @param requester The member asking.
    /// @param recipient The member that receives the result, or zero for the requester.
    /// @param kind The job kind (0..5).
    /// @param programHash The program's hash (checked for kinds that run a program).
    /// @param inputs The inputs with their columns and required levels.
    /// @param subject The data subject hash (PUBLISH).
    /// @param purpose The purpose (PUBLISH).
    /// @return allowed Whether the request passes.
    /// @return reason Empty if allowed; else the ABI-encoded custom error (selector + arguments)
    ///         that `Jobs.request` would revert with.
    function checkRequest(
        address requester,
        address recipient,
        uint8 kind,
        bytes32 programHash,
        JobInput[] calldata inputs,
        bytes32 subject,
        bytes32 purpose
    ) external view returns (bool allowed, bytes memory reason);

    /// @notice Run the same checks as `checkRequest` and count one use against each applicable
    ///         grant. Jobs contract only; reverts with the custom error `checkRequest` would return.
    /// @param jobId The job being requested (recorded in `GrantUsed`).
    /// @param requester The member asking.
    /// @param recipient The member that receives the result, or zero for the requester.
    /// @param kind The job kind.
    /// @param programHash The program's hash.
    /// @param inputs The inputs with their columns and required levels.
    /// @param subject The data subject hash (PUBLISH).
    /// @param purpose The purpose (PUBLISH).
    /// @return checked The member indexes and dataset terms the checks read.
    function consume(
        uint256 jobId,
        address requester,
        address recipient,
        uint8 kind,
        bytes32 programHash,
        JobInput[] calldata inputs,
        bytes32 subject,
        bytes32 purpose
    ) external returns (CheckedRequest memory checked);

    // ----------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------

    /// @notice The level explicitly set for (dataset, column, grantee), if any (no fallback).
    /// @return level The level, meaningful only if `isSet`.
    /// @return isSet Whether an entry exists.
    function columnLevel(uint256 datasetId, uint16 column, address grantee)
        external
        view
        returns (uint8 level, bool isSet);

    /// @notice The effective level of a column for `grantee`, after fallback; PLAINTEXT for the
    ///         owner.
    function effectiveLevel(uint256 datasetId, uint16 column, address grantee) external view returns (uint8);

    /// @notice The grant stored for (dataset, grantee), active or not (no fallback).
    function grant(uint256 datasetId, address grantee) external view returns (Grant memory);

    /// @notice Whether `programHash` is approved on the dataset (explicitly, not the owner rule).
    function isProgramApproved(uint256 datasetId, bytes32 programHash) external view returns (bool);

    /// @notice The consent record for (dataset, subject, purpose).
    function consent(uint256 datasetId, bytes32 subject, bytes32 purpose) external view returns (Consent memory);

    /// @notice The next EIP-712 nonce of `subjectAccount` for signed revocations.
    function nonces(address subjectAccount) external view returns (uint256);

    /// @notice Whether granted level `granted` permits required level `required`.
    function permits(uint8 granted, uint8 required) external pure returns (bool);
}
