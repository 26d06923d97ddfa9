// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Lifecycle of a member: `None` (never admitted) → `Active` ⇄ `Suspended` → `Removed`.
/// @dev `Removed` is terminal: a removed address can never be admitted again.
enum MemberStatus {
    None,
    Active,
    Suspended,
    Removed
}

/// @notice A member of the consortium as the chain records it.
/// @param name Human-readable institution name.
/// @param endpoint Node endpoint as `host:port`, where the member's node accepts mutual-TLS links.
/// @param tlsFingerprint SHA-256 of the DER SubjectPublicKeyInfo of the node's TLS key; peers pin it.
/// @param computePrice Credits the member charges for acting as a compute node in one job.
/// @param status Current lifecycle status.
/// @param admittedAt Block timestamp of admission.
struct Member {
    string name;
    string endpoint;
    bytes32 tlsFingerprint;
    uint64 computePrice;
    MemberStatus status;
    uint40 admittedAt;
}

/// @notice What a job needs to know about a member, read in one storage slot.
/// @param status Current lifecycle status.
/// @param index The member's position in admission order (`members()[index]`); fixed for life.
/// @param computePrice Credits the member charges per job as a compute node.
struct MemberTerms {
    MemberStatus status;
    uint16 index;
    uint64 computePrice;
}

/// @title IConsortium
/// @notice Who belongs to the consortium and with which role. Every other Unseen contract asks this
///         contract whether an address is an active member, a regulator, an admin, or the Jobs
///         contract.
/// @dev Roles are OpenZeppelin `AccessControl` roles:
///      - `DEFAULT_ADMIN_ROLE` (the admin): admits, updates, reinstates and removes members, grants
///        `REGULATOR_ROLE` and `JOBS_ROLE`, issues credits, sets job timings;
///      - `REGULATOR_ROLE`: suspends members, freezes datasets, resolves disputes;
///      - `MEMBER_ROLE`: held exactly by the members whose status is `Active`; it is managed by
///        admission, suspension and removal only, never by `grantRole`/`revokeRole`;
///      - `JOBS_ROLE`: the Jobs contract, allowed to consume grants in AccessPolicy and to move
///        escrow in Billing.
///      Each admitted address receives a member index (its position in admission order, a
///      `uint16`), which never changes; Jobs stores indexes instead of addresses to keep a job's
///      record small.
interface IConsortium {
    // ----------------------------------------------------------------------------------------
    // Errors
    // ----------------------------------------------------------------------------------------

    /// @notice The caller lacks the admin role.
    /// @param caller The address that called.
    error ConsortiumNotAdmin(address caller);

    /// @notice The caller holds neither the admin nor the regulator role.
    /// @param caller The address that called.
    error ConsortiumNotAdminOrRegulator(address caller);

    /// @notice The address given for a member is the zero address.
    error ConsortiumZeroAddress();

    /// @notice The account already has a member record (admitted, suspended or removed).
    /// @param account The account that was to be admitted.
    /// @param status Its current status.
    error ConsortiumAlreadyMember(address account, MemberStatus status);

    /// @notice The account was never admitted, or has been removed.
    /// @param account The account acted on (or the caller acting on itself).
    /// @param status Its current status (`None` or `Removed`).
    error ConsortiumNotMember(address account, MemberStatus status);

    /// @notice The member name is empty.
    /// @param account The member concerned.
    error ConsortiumEmptyName(address account);

    /// @notice The node endpoint is empty; it must be `host:port`.
    /// @param account The member concerned.
    error ConsortiumEmptyEndpoint(address account);

    /// @notice The node TLS key fingerprint is zero; it must be the SHA-256 of the DER
    ///         SubjectPublicKeyInfo of the node's TLS key.
    /// @param account The member concerned.
    error ConsortiumZeroFingerprint(address account);

    /// @notice Another member already registered this TLS key fingerprint; two members can never
    ///         share a node key, or one could impersonate the other on the MPC links.
    /// @param tlsFingerprint The fingerprint given.
    /// @param holder The member that holds it.
    error ConsortiumFingerprintInUse(bytes32 tlsFingerprint, address holder);

    /// @notice Only an `Active` member can be suspended.
    /// @param account The member concerned.
    /// @param status Its current status.
    error ConsortiumMemberNotActive(address account, MemberStatus status);

    /// @notice Only a `Suspended` member can be reinstated.
    /// @param account The member concerned.
    /// @param status Its current status.
    error ConsortiumMemberNotSuspended(address account, MemberStatus status);

    /// @notice `MEMBER_ROLE` follows the member status; it cannot be granted, revoked or renounced
    ///         directly. Use `admit`, `suspend`, `reinstate` or `remove`.
    error ConsortiumMemberRoleManagedByAdmission();

    /// @notice The consortium has admitted as many members as a member index can number.
    /// @param maxMembers The limit (2**16 - 1 admissions, removed members included).
    error ConsortiumFull(uint256 maxMembers);

    /// @notice No member was admitted with this index.
    /// @param index The index given.
    /// @param memberCount The number of members ever admitted.
    error ConsortiumUnknownMemberIndex(uint256 index, uint256 memberCount);

    // ----------------------------------------------------------------------------------------
    // Events
    // ----------------------------------------------------------------------------------------

    /// @notice A member was admitted; it is `Active` from now on.
    /// @param account The member's address.
    /// @param name Institution name.
    /// @param endpoint Node endpoint `host:port`.
    /// @param tlsFingerprint SHA-256 of the node's DER SubjectPublicKeyInfo.
    /// @param computePrice Credits charged per job as a compute node.
    /// @param admittedAt Block timestamp of admission.
    /// @param admin The admin that admitted it.
    event MemberAdmitted(
        address indexed account,
        string name,
        string endpoint,
        bytes32 tlsFingerprint,
        uint64 computePrice,
        uint40 admittedAt,
        address indexed admin
    );

    /// @notice A member record was updated (by the admin, or by the member for its own node);
    ///         carries the full new record.
    /// @param account The member's address.
    /// @param name Institution name.
    /// @param endpoint Node endpoint `host:port`.
    /// @param tlsFingerprint SHA-256 of the node's DER SubjectPublicKeyInfo.
    /// @param computePrice Credits charged per job as a compute node.
    /// @param by The admin or the member itself.
    event MemberUpdated(
        address indexed account,
        string name,
        string endpoint,
        bytes32 tlsFingerprint,
        uint64 computePrice,
        address indexed by
    );

    /// @notice A member was suspended: it can no longer request, accept or commit (commitments it
    ///         made while active are still paid).
    /// @param account The member's address.
    /// @param by The admin or regulator that suspended it.
    /// @param reason Why, in words (or a URI / hash of the decision).
    event MemberSuspended(address indexed account, address indexed by, string reason);

    /// @notice A suspended member was reinstated; it is `Active` again.
    /// @param account The member's address.
    /// @param admin The admin that reinstated it.
    event MemberReinstated(address indexed account, address indexed admin);

    /// @notice A member was removed for good; its TLS fingerprint is released.
    /// @param account The member's address.
    /// @param admin The admin that removed it.
    /// @param reason Why, in words (or a URI / hash of the decision).
    event MemberRemoved(address indexed account, address indexed admin, string reason);

    // ----------------------------------------------------------------------------------------
    // Roles
    // ----------------------------------------------------------------------------------------

    /// @notice The regulator role: suspends members, freezes datasets, resolves disputes.
    function REGULATOR_ROLE() external view returns (bytes32);

    /// @notice The member role, held exactly by members whose status is `Active`.
    function MEMBER_ROLE() external view returns (bytes32);

    /// @notice The role of the Jobs contract: consumes grants and moves escrow.
    /// @dev WARNING: whoever holds it can pay any escrow to anyone; grant it to the Jobs contract
    ///      only.
    function JOBS_ROLE() external view returns (bytes32);

    // ----------------------------------------------------------------------------------------
    // Admin
    // ----------------------------------------------------------------------------------------

    /// @notice Admit `account` as an `Active` member. Admin only.
    /// @param account The member's address (the key its node and SDK sign with).
    /// @param name Institution name, non-empty.
    /// @param endpoint Node endpoint `host:port`, non-empty.
    /// @param tlsFingerprint SHA-256 of the node's DER SubjectPublicKeyInfo, non-zero and unique.
    /// @param computePrice Credits charged per job as a compute node.
    function admit(
        address account,
        string calldata name,
        string calldata endpoint,
        bytes32 tlsFingerprint,
        uint64 computePrice
    ) external;

    /// @notice Replace the record of an `Active` or `Suspended` member. Admin only.
    /// @param account The member.
    /// @param name New institution name, non-empty.
    /// @param endpoint New node endpoint, non-empty.
    /// @param tlsFingerprint New TLS key fingerprint, non-zero and unique.
    /// @param computePrice New compute price per job.
    function updateMember(
        address account,
        string calldata name,
        string calldata endpoint,
        bytes32 tlsFingerprint,
        uint64 computePrice
    ) external;

    /// @notice Suspend an `Active` member. Admin or regulator.
    /// @param account The member.
    /// @param reason Why, in words (or a URI / hash of the decision); recorded in the event.
    function suspend(address account, string calldata reason) external;

    /// @notice Reinstate a `Suspended` member. Admin only.
    /// @param account The member.
    function reinstate(address account) external;

    /// @notice Remove an `Active` or `Suspended` member for good. Admin only.
    /// @dev WARNING: removal is terminal; the address can never be admitted again. Jobs in
    ///      flight that involve the member will not pay it.
    /// @param account The member.
    /// @param reason Why, in words (or a URI / hash of the decision); recorded in the event.
    function remove(address account, string calldata reason) external;

    // ----------------------------------------------------------------------------------------
    // Member self-service
    // ----------------------------------------------------------------------------------------

    /// @notice Update the caller's own node endpoint, TLS key fingerprint and compute price.
    ///         Allowed while `Active` or `Suspended` (a suspended member may rotate its key).
    /// @dev WARNING: peers pin the fingerprint; change it only together with the node's key.
    ///      A new compute price applies to jobs requested afterwards.
    /// @param endpoint New node endpoint `host:port`, non-empty.
    /// @param tlsFingerprint New TLS key fingerprint, non-zero and unique.
    /// @param computePrice New compute price per job.
    function updateNode(string calldata endpoint, bytes32 tlsFingerprint, uint64 computePrice) external;

    // ----------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------

    /// @notice The record of `account` (all fields zero / `None` if never admitted).
    function member(address account) external view returns (Member memory);

    /// @notice The status of `account`.
    function memberStatus(address account) external view returns (MemberStatus);

    /// @notice Whether `account` is a member with status `Active`.
    function isActiveMember(address account) external view returns (bool);

    /// @notice Whether `account` is active and, if so, its compute price, in one storage read.
    /// @return active Whether `account` is an `Active` member.
    /// @return computePrice Its compute price per job (0 when not a member).
    function activeComputePrice(address account) external view returns (bool active, uint64 computePrice);

    /// @notice Status, index and compute price of `account` (all zero if never admitted), in one
    ///         storage read.
    /// @dev Index 0 is a real member (the first admitted); check `status` before using it.
    /// @return status The member's status.
    /// @return index The member's index.
    /// @return computePrice The member's compute price per job.
    function memberTerms(address account)
        external
        view
        returns (MemberStatus status, uint16 index, uint64 computePrice);

    /// @notice `memberTerms` for several accounts in one call.
    function memberTermsOf(address[] calldata accounts) external view returns (MemberTerms[] memory);

    /// @notice The accounts admitted with the given indexes; reverts `ConsortiumUnknownMemberIndex`.
    function membersAt(uint16[] calldata indexes) external view returns (address[] memory);

    /// @notice Whether `account` holds the admin role.
    function isAdmin(address account) external view returns (bool);

    /// @notice Whether `account` holds the regulator role.
    function isRegulator(address account) external view returns (bool);

    /// @notice Whether `account` is the Jobs contract (holds `JOBS_ROLE`).
    function isJobsContract(address account) external view returns (bool);

    /// @notice The member holding `tlsFingerprint`, or the zero address.
    function memberByFingerprint(bytes32 tlsFingerprint) external view returns (address);

    /// @notice Every address ever admitted, in admission order (removed members included); the
    ///         position of an address in this list is its member index.
    function members() external view returns (address[] memory);

    /// @notice The number of addresses ever admitted.
    function memberCount() external view returns (uint256);
}
