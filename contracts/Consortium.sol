// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IConsortium, Member, MemberStatus, MemberTerms} from "./interfaces/IConsortium.sol";

/// @title Consortium
/// @notice Members, their nodes and roles; the authority every other Unseen contract asks.
/// @dev The first storage slot of a member record packs status, index, compute price and
///      admission time, so `isActiveMember`, `activeComputePrice` and `memberTerms` cost one
///      storage read.
contract Consortium is IConsortium, AccessControl, ReentrancyGuardTransient {
    /// @notice Most admissions a consortium can make (member indexes are `uint16`).
    uint256 public constant MAX_MEMBERS = type(uint16).max;

    /// @inheritdoc IConsortium
    bytes32 public constant REGULATOR_ROLE = keccak256("unseen.role.regulator");
    /// @inheritdoc IConsortium
    bytes32 public constant MEMBER_ROLE = keccak256("unseen.role.member");
    /// @inheritdoc IConsortium
    bytes32 public constant JOBS_ROLE = keccak256("unseen.role.jobs");

    struct MemberRecord {
        // slot 0: read by every membership check
        MemberStatus status;
        uint16 index;
        uint64 computePrice;
        uint40 admittedAt;
        // later slots: read only by `member`
        bytes32 tlsFingerprint;
        string name;
        string endpoint;
    }

    mapping(address account => MemberRecord) private _members;
    mapping(bytes32 tlsFingerprint => address account) private _fingerprintHolders;
    // index → account, so that resolving an index costs one storage read (no length check)
    mapping(uint256 index => address account) private _accountsByIndex;
    uint256 private _memberCount;

    modifier onlyAdmin() {
        _checkAdmin(msg.sender);
        _;
    }

    modifier onlyAdminOrRegulator() {
        _checkAdminOrRegulator(msg.sender);
        _;
    }

    /// @param admin The first admin; it may grant the admin role to others.
    constructor(address admin) {
        if (admin == address(0)) revert ConsortiumZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ----------------------------------------------------------------------------------------
    // Admin
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IConsortium
    function admit(
        address account,
        string calldata name,
        string calldata endpoint,
        bytes32 tlsFingerprint,
        uint64 computePrice
    ) external onlyAdmin nonReentrant {
        if (account == address(0)) revert ConsortiumZeroAddress();
        MemberStatus current = _members[account].status;
        if (current != MemberStatus.None) revert ConsortiumAlreadyMember(account, current);
        if (_memberCount >= MAX_MEMBERS) revert ConsortiumFull(MAX_MEMBERS);
        _checkRecord(account, name, endpoint, tlsFingerprint);
        _admit(account, name, endpoint, tlsFingerprint, computePrice);
    }

    /// @inheritdoc IConsortium
    function updateMember(
        address account,
        string calldata name,
        string calldata endpoint,
        bytes32 tlsFingerprint,
        uint64 computePrice
    ) external onlyAdmin nonReentrant {
        _checkAdmittedNotRemoved(account);
        _checkRecord(account, name, endpoint, tlsFingerprint);
        _setRecord(account, name, endpoint, tlsFingerprint, computePrice);
    }

    /// @inheritdoc IConsortium
    function suspend(address account, string calldata reason) external onlyAdminOrRegulator nonReentrant {
        MemberStatus current = _members[account].status;
        if (current != MemberStatus.Active) revert ConsortiumMemberNotActive(account, current);
        _suspend(account, reason);
    }

    /// @inheritdoc IConsortium
    function reinstate(address account) external onlyAdmin nonReentrant {
        MemberStatus current = _members[account].status;
        if (current != MemberStatus.Suspended) revert ConsortiumMemberNotSuspended(account, current);
        _reinstate(account);
    }

    /// @inheritdoc IConsortium
    function remove(address account, string calldata reason) external onlyAdmin nonReentrant {
        _checkAdmittedNotRemoved(account);
        _remove(account, reason);
    }

    // ----------------------------------------------------------------------------------------
    // Member self-service
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IConsortium
    function updateNode(string calldata endpoint, bytes32 tlsFingerprint, uint64 computePrice)
        external
        nonReentrant
    {
        _checkAdmittedNotRemoved(msg.sender);
        string memory name = _members[msg.sender].name;
        _checkRecord(msg.sender, name, endpoint, tlsFingerprint);
        _setRecord(msg.sender, name, endpoint, tlsFingerprint, computePrice);
    }

    // ----------------------------------------------------------------------------------------
    // Roles: MEMBER_ROLE follows the member status and is never granted by hand
    // ----------------------------------------------------------------------------------------

    /// @notice Grant `role` to `account`; refuses `MEMBER_ROLE` (use `admit`).
    /// @dev WARNING: `JOBS_ROLE` lets its holder consume grants and move every escrow; grant it
    ///      only to the deployed Jobs contract.
    function grantRole(bytes32 role, address account) public override nonReentrant {
        if (role == MEMBER_ROLE) revert ConsortiumMemberRoleManagedByAdmission();
        super.grantRole(role, account);
    }

    /// @notice Revoke `role` from `account`; refuses `MEMBER_ROLE` (use `suspend` or `remove`).
    function revokeRole(bytes32 role, address account) public override nonReentrant {
        if (role == MEMBER_ROLE) revert ConsortiumMemberRoleManagedByAdmission();
        super.revokeRole(role, account);
    }

    /// @notice Renounce `role`; refuses `MEMBER_ROLE`.
    /// @dev WARNING: the last admin renouncing `DEFAULT_ADMIN_ROLE` leaves the consortium without
    ///      an admin for good: no member can be admitted and no credit issued afterwards.
    function renounceRole(bytes32 role, address callerConfirmation) public override nonReentrant {
        if (role == MEMBER_ROLE) revert ConsortiumMemberRoleManagedByAdmission();
        super.renounceRole(role, callerConfirmation);
    }

    // ----------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IConsortium
    function member(address account) external view returns (Member memory) {
        MemberRecord storage record = _members[account];
        return Member({
            name: record.name,
            endpoint: record.endpoint,
            tlsFingerprint: record.tlsFingerprint,
            computePrice: record.computePrice,
            status: record.status,
            admittedAt: record.admittedAt
        });
    }

    /// @inheritdoc IConsortium
    function memberStatus(address account) external view returns (MemberStatus) {
        return _members[account].status;
    }

    /// @inheritdoc IConsortium
    function isActiveMember(address account) external view returns (bool) {
        return _members[account].status == MemberStatus.Active;
    }

    /// @inheritdoc IConsortium
    function activeComputePrice(address account) external view returns (bool active, uint64 computePrice) {
        MemberRecord storage record = _members[account];
        return (record.status == MemberStatus.Active, record.computePrice);
    }

    /// @inheritdoc IConsortium
    function memberTerms(address account)
        external
        view
        returns (MemberStatus status, uint16 index, uint64 computePrice)
    {
        MemberRecord storage record = _members[account];
        return (record.status, record.index, record.computePrice);
    }

    /// @inheritdoc IConsortium
    function memberTermsOf(address[] calldata accounts) external view returns (MemberTerms[] memory terms) {
        terms = new MemberTerms[](accounts.length);
        for (uint256 i; i < accounts.length; ++i) {
            terms[i] = _terms(accounts[i]);
        }
    }

    /// @inheritdoc IConsortium
    function membersAt(uint16[] calldata indexes) external view returns (address[] memory accounts) {
        accounts = new address[](indexes.length);
        for (uint256 i; i < indexes.length; ++i) {
            address account = _accountsByIndex[indexes[i]];
            if (account == address(0)) revert ConsortiumUnknownMemberIndex(indexes[i], _memberCount);
            accounts[i] = account;
        }
    }

    /// @inheritdoc IConsortium
    function isAdmin(address account) external view returns (bool) {
        return hasRole(DEFAULT_ADMIN_ROLE, account);
    }

    /// @inheritdoc IConsortium
    function isRegulator(address account) external view returns (bool) {
        return hasRole(REGULATOR_ROLE, account);
    }

    /// @inheritdoc IConsortium
    function isJobsContract(address account) external view returns (bool) {
        return hasRole(JOBS_ROLE, account);
    }

    /// @inheritdoc IConsortium
    function memberByFingerprint(bytes32 tlsFingerprint) external view returns (address) {
        return _fingerprintHolders[tlsFingerprint];
    }

    /// @inheritdoc IConsortium
    function members() external view returns (address[] memory accounts) {
        uint256 count = _memberCount;
        accounts = new address[](count);
        for (uint256 i; i < count; ++i) {
            accounts[i] = _accountsByIndex[i];
        }
    }

    /// @inheritdoc IConsortium
    function memberCount() external view returns (uint256) {
        return _memberCount;
    }

    function _terms(address account) private view returns (MemberTerms memory) {
        MemberRecord storage record = _members[account];
        return MemberTerms({status: record.status, index: record.index, computePrice: record.computePrice});
    }

    // ----------------------------------------------------------------------------------------
    // Checks
    // ----------------------------------------------------------------------------------------

    function _checkAdmin(address caller) internal view virtual {
        if (!hasRole(DEFAULT_ADMIN_ROLE, caller)) revert ConsortiumNotAdmin(caller);
    }

    function _checkAdminOrRegulator(address caller) internal view virtual {
        if (!hasRole(DEFAULT_ADMIN_ROLE, caller) && !hasRole(REGULATOR_ROLE, caller)) {
            revert ConsortiumNotAdminOrRegulator(caller);
        }
    }

    function _checkAdmittedNotRemoved(address account) internal view virtual {
        MemberStatus current = _members[account].status;
        if (current != MemberStatus.Active && current != MemberStatus.Suspended) {
            revert ConsortiumNotMember(account, current);
        }
    }

    function _checkRecord(address account, string memory name, string calldata endpoint, bytes32 tlsFingerprint)
        internal
        view
        virtual
    {
        if (bytes(name).length == 0) revert ConsortiumEmptyName(account);
        if (bytes(endpoint).length == 0) revert ConsortiumEmptyEndpoint(account);
        if (tlsFingerprint == bytes32(0)) revert ConsortiumZeroFingerprint(account);
        address holder = _fingerprintHolders[tlsFingerprint];
        if (holder != address(0) && holder != account) revert ConsortiumFingerprintInUse(tlsFingerprint, holder);
    }

    // ----------------------------------------------------------------------------------------
    // State changes (each emits its event)
    // ----------------------------------------------------------------------------------------

    function _admit(
        address account,
        string calldata name,
        string calldata endpoint,
        bytes32 tlsFingerprint,
        uint64 computePrice
    ) private {
        MemberRecord storage record = _members[account];
        record.status = MemberStatus.Active;
        uint256 index = _memberCount;
        record.index = uint16(index);
        record.computePrice = computePrice;
        record.admittedAt = uint40(block.timestamp);
        record.tlsFingerprint = tlsFingerprint;
        record.name = name;
        record.endpoint = endpoint;
        _fingerprintHolders[tlsFingerprint] = account;
        _accountsByIndex[index] = account;
        _memberCount = index + 1;
        _grantRole(MEMBER_ROLE, account);
        emit MemberAdmitted(account, name, endpoint, tlsFingerprint, computePrice, uint40(block.timestamp), msg.sender);
    }

    function _setRecord(
        address account,
        string memory name,
        string calldata endpoint,
        bytes32 tlsFingerprint,
        uint64 computePrice
    ) private {
        MemberRecord storage record = _members[account];
        bytes32 previousFingerprint = record.tlsFingerprint;
        if (previousFingerprint != tlsFingerprint) {
            delete _fingerprintHolders[previousFingerprint];
            _fingerprintHolders[tlsFingerprint] = account;
            record.tlsFingerprint = tlsFingerprint;
        }
        record.computePrice = computePrice;
        record.name = name;
        record.endpoint = endpoint;
        emit MemberUpdated(account, name, endpoint, tlsFingerprint, computePrice, msg.sender);
    }

    function _suspend(address account, string calldata reason) private {
        _members[account].status = MemberStatus.Suspended;
        _revokeRole(MEMBER_ROLE, account);
        emit MemberSuspended(account, msg.sender, reason);
    }

    function _reinstate(address account) private {
        _members[account].status = MemberStatus.Active;
        _grantRole(MEMBER_ROLE, account);
        emit MemberReinstated(account, msg.sender);
    }

    function _remove(address account, string calldata reason) private {
        MemberRecord storage record = _members[account];
        record.status = MemberStatus.Removed;
        delete _fingerprintHolders[record.tlsFingerprint];
        _revokeRole(MEMBER_ROLE, account);
        emit MemberRemoved(account, msg.sender, reason);
    }
}
