// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {CheckedInput, CheckedRequest, Consent, Grant, IAccessPolicy} from "./interfaces/IAccessPolicy.sol";
import {IConsortium, MemberStatus} from "./interfaces/IConsortium.sol";
import {DatasetTerms, IDataCatalog} from "./interfaces/IDataCatalog.sol";
import {ConstraintLevels, JobInput, JobKinds} from "./libraries/UnseenTypes.sol";

/// @title AccessPolicy
/// @notice Column constraint levels, grants, approved programs and consent; the rules every job
///         request must pass.
/// @dev Levels are stored four bits per column, 64 columns per storage word: nibble 0 means
///      "not set", nibble `level + 1` means set to `level`. A job touching up to 64 columns of a
///      dataset reads one word per (dataset, party), plus one for the all-members fallback.
///      The request checks are written once, as a view that returns the failing custom error
///      ABI-encoded (`_evaluate`); `checkRequest` returns it and `consume` reverts with it, so
///      both always agree.
contract AccessPolicy is IAccessPolicy, EIP712, Nonces, ReentrancyGuardTransient {
    bytes32 private constant REVOKE_CONSENT_TYPEHASH =
        keccak256("RevokeConsent(uint256 datasetId,bytes32 subject,bytes32 purpose,uint256 nonce,uint256 deadline)");

    /// @dev Which grant an input of a request draws on, two bits per input in `_evaluate`'s
    ///      result: the owner's implicit grant, the requester's own grant, or the all-members one.
    uint256 private constant USES_OWNER = 0;
    uint256 private constant USES_OWN_GRANT = 1;
    uint256 private constant USES_ALL_MEMBERS_GRANT = 2;

    /// @dev Level words of one (dataset, party) cached while checking the columns of one input.
    ///      A stored word never equals type(uint256).max (nibble 0xf is not a valid entry), so
    ///      that value can mark the all-members word as not yet read.
    struct LevelWords {
        uint256 wordIndex;
        uint256 party;
        uint256 allMembers;
    }

    IConsortium private immutable _consortium;
    IDataCatalog private immutable _catalog;

    mapping(uint256 datasetId => mapping(address grantee => mapping(uint256 word => uint256 nibbles))) private
        _levelWords;
    mapping(uint256 datasetId => mapping(address grantee => Grant)) private _grants;
    mapping(uint256 datasetId => mapping(bytes32 programHash => bool)) private _approvedPrograms;
    mapping(uint256 datasetId => mapping(bytes32 subject => mapping(bytes32 purpose => Consent))) private _consents;

    modifier onlyDatasetOwner(uint256 datasetId) {
        _checkDatasetOwner(datasetId, msg.sender);
        _;
    }

    modifier onlyJobsContract() {
        _checkJobsContract(msg.sender);
        _;
    }

    /// @param consortium The Consortium (membership, the Jobs contract role).
    /// @param catalog The DataCatalog (dataset owners, column counts, status).
    constructor(IConsortium consortium, IDataCatalog catalog) EIP712("Unseen AccessPolicy", "1") {
        _consortium = consortium;
        _catalog = catalog;
    }

    // ----------------------------------------------------------------------------------------
    // Owner: column levels
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IAccessPolicy
    function setColumnLevels(uint256 datasetId, address grantee, uint16[] calldata columns, uint8[] calldata levels)
        external
        onlyDatasetOwner(datasetId)
        nonReentrant
    {
        _checkGranteeNotOwner(datasetId, grantee);
        if (columns.length != levels.length) {
            revert AccessPolicyColumnLevelsLengthMismatch(datasetId, columns.length, levels.length);
        }
        uint256 columnCount = _catalog.columnCount(datasetId);
        for (uint256 i; i < columns.length; ++i) {
            if (columns[i] >= columnCount) revert AccessPolicyColumnOutOfRange(datasetId, columns[i], columnCount);
            if (!ConstraintLevels.isValid(levels[i])) revert AccessPolicyInvalidLevel(levels[i]);
        }
        _setColumnLevels(datasetId, grantee, columns, levels);
    }

    /// @inheritdoc IAccessPolicy
    function clearColumnLevels(uint256 datasetId, address grantee, uint16[] calldata columns)
        external
        onlyDatasetOwner(datasetId)
        nonReentrant
    {
        uint256 columnCount = _catalog.columnCount(datasetId);
        for (uint256 i; i < columns.length; ++i) {
            if (columns[i] >= columnCount) revert AccessPolicyColumnOutOfRange(datasetId, columns[i], columnCount);
        }
        _clearColumnLevels(datasetId, grantee, columns);
    }

    // ----------------------------------------------------------------------------------------
    // Owner: grants
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IAccessPolicy
    function setGrant(uint256 datasetId, address grantee, uint40 expiry, uint64 maxUses, uint8 allowedKinds)
        external
        onlyDatasetOwner(datasetId)
        nonReentrant
    {
        _checkGranteeNotOwner(datasetId, grantee);
        if (expiry <= block.timestamp) revert AccessPolicyExpiryNotInFuture(expiry, block.timestamp);
        if (allowedKinds & ~JobKinds.ALL != 0) revert AccessPolicyInvalidKindMask(allowedKinds);
        _setGrant(datasetId, grantee, expiry, maxUses, allowedKinds);
    }

    /// @inheritdoc IAccessPolicy
    function revokeGrant(uint256 datasetId, address grantee) external onlyDatasetOwner(datasetId) nonReentrant {
        if (!_grants[datasetId][grantee].active) revert AccessPolicyGrantNotActive(datasetId, grantee);
        _revokeGrant(datasetId, grantee);
    }

    // ----------------------------------------------------------------------------------------
    // Owner: programs
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IAccessPolicy
    function approveProgram(uint256 datasetId, bytes32 programHash, string calldata note)
        external
        onlyDatasetOwner(datasetId)
        nonReentrant
    {
        if (programHash == bytes32(0)) revert AccessPolicyZeroProgramHash();
        if (_approvedPrograms[datasetId][programHash]) {
            revert AccessPolicyProgramAlreadyApproved(datasetId, programHash);
        }
        _setProgramApproval(datasetId, programHash, true, note);
    }

    /// @inheritdoc IAccessPolicy
    function revokeProgram(uint256 datasetId, bytes32 programHash, string calldata note)
        external
        onlyDatasetOwner(datasetId)
        nonReentrant
    {
        if (!_approvedPrograms[datasetId][programHash]) revert AccessPolicyProgramNotApproved(datasetId, programHash);
        _setProgramApproval(datasetId, programHash, false, note);
    }

    // ----------------------------------------------------------------------------------------
    // Consent
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IAccessPolicy
    function recordConsent(
        uint256 datasetId,
        bytes32 subject,
        bytes32 purpose,
        uint40 expiry,
        bytes32 evidenceHash,
        address subjectAccount
    ) external onlyDatasetOwner(datasetId) nonReentrant {
        if (subject == bytes32(0) || purpose == bytes32(0)) revert AccessPolicyZeroSubjectOrPurpose(subject, purpose);
        if (expiry <= block.timestamp) revert AccessPolicyExpiryNotInFuture(expiry, block.timestamp);
        _recordConsent(datasetId, subject, purpose, expiry, evidenceHash, subjectAccount);
    }

    /// @inheritdoc IAccessPolicy
    function revokeConsent(uint256 datasetId, bytes32 subject, bytes32 purpose) external nonReentrant {
        Consent storage record = _revocableConsent(datasetId, subject, purpose);
        // A suspended owner may still revoke: withdrawing a permission is always safe.
        if (msg.sender != _catalog.ownerOf(datasetId) && (record.subjectAccount != msg.sender)) {
            revert AccessPolicyNotConsentRevoker(datasetId, subject, purpose, msg.sender);
        }
        _revokeConsent(datasetId, subject, purpose, msg.sender, false);
    }

    /// @inheritdoc IAccessPolicy
    function revokeConsentBySignature(
        uint256 datasetId,
        bytes32 subject,
        bytes32 purpose,
        uint256 deadline,
        bytes calldata signature
    ) external nonReentrant {
        Consent storage record = _revocableConsent(datasetId, subject, purpose);
        address subjectAccount = record.subjectAccount;
        if (subjectAccount == address(0)) revert AccessPolicyNoSubjectAccount(datasetId, subject, purpose);
        if (block.timestamp > deadline) revert AccessPolicySignatureExpired(deadline, block.timestamp);
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(REVOKE_CONSENT_TYPEHASH, datasetId, subject, purpose, _useNonce(subjectAccount), deadline)
            )
        );
        (address signer, ECDSA.RecoverError recoverError,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (recoverError != ECDSA.RecoverError.NoError || signer != subjectAccount) {
            revert AccessPolicyInvalidSignature(signer, subjectAccount);
        }
        _revokeConsent(datasetId, subject, purpose, subjectAccount, true);
    }

    // ----------------------------------------------------------------------------------------
    // Request checks
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IAccessPolicy
    function checkRequest(
        address requester,
        address recipient,
        uint8 kind,
        bytes32 programHash,
        JobInput[] calldata inputs,
        bytes32 subject,
        bytes32 purpose
    ) external view returns (bool allowed, bytes memory reason) {
        (reason,,) = _evaluate(requester, recipient, kind, programHash, inputs, subject, purpose);
        allowed = reason.length == 0;
    }

    /// @inheritdoc IAccessPolicy
    function consume(
        uint256 jobId,
        address requester,
        address recipient,
        uint8 kind,
        bytes32 programHash,
        JobInput[] calldata inputs,
        bytes32 subject,
        bytes32 purpose
    ) external onlyJobsContract nonReentrant returns (CheckedRequest memory checked) {
        bytes memory reason;
        uint256 grantUses;
        (reason, grantUses, checked) = _evaluate(requester, recipient, kind, programHash, inputs, subject, purpose);
        if (reason.length != 0) _revertWith(reason);
        for (uint256 i; i < inputs.length; ++i) {
            uint256 uses = (grantUses >> (2 * i)) & 3;
            if (uses == USES_OWN_GRANT) _useGrant(inputs[i].datasetId, requester, jobId);
            else if (uses == USES_ALL_MEMBERS_GRANT) _useGrant(inputs[i].datasetId, address(0), jobId);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IAccessPolicy
    function columnLevel(uint256 datasetId, uint16 column, address grantee)
        external
        view
        returns (uint8 level, bool isSet)
    {
        uint256 nibble = _nibble(datasetId, grantee, column);
        return nibble == 0 ? (0, false) : (uint8(nibble - 1), true);
    }

    /// @inheritdoc IAccessPolicy
    function effectiveLevel(uint256 datasetId, uint16 column, address grantee) external view returns (uint8) {
        address owner = _catalog.ownerOf(datasetId);
        if (owner != address(0) && grantee == owner) return ConstraintLevels.PLAINTEXT;
        return _effectiveLevel(datasetId, grantee, column);
    }

    /// @inheritdoc IAccessPolicy
    function grant(uint256 datasetId, address grantee) external view returns (Grant memory) {
        return _grants[datasetId][grantee];
    }

    /// @inheritdoc IAccessPolicy
    function isProgramApproved(uint256 datasetId, bytes32 programHash) external view returns (bool) {
        return _approvedPrograms[datasetId][programHash];
    }

    /// @inheritdoc IAccessPolicy
    function consent(uint256 datasetId, bytes32 subject, bytes32 purpose) external view returns (Consent memory) {
        return _consents[datasetId][subject][purpose];
    }

    /// @inheritdoc IAccessPolicy
    function nonces(address subjectAccount) public view override(IAccessPolicy, Nonces) returns (uint256) {
        return super.nonces(subjectAccount);
    }

    /// @inheritdoc IAccessPolicy
    function permits(uint8 granted, uint8 required) external pure returns (bool) {
        return ConstraintLevels.permits(granted, required);
    }

    // ----------------------------------------------------------------------------------------
    // Checks
    // ----------------------------------------------------------------------------------------

    function _checkDatasetOwner(uint256 datasetId, address caller) internal view virtual {
        address owner = _catalog.ownerOf(datasetId);
        if (owner != caller || owner == address(0)) revert AccessPolicyNotDatasetOwner(datasetId, caller, owner);
        if (!_consortium.isActiveMember(caller)) revert AccessPolicyNotActiveMember(caller);
    }

    function _checkJobsContract(address caller) internal view virtual {
        if (!_consortium.isJobsContract(caller)) revert AccessPolicyNotJobsContract(caller);
    }

    /// @dev The caller is the owner (checked by the modifier), so comparing with it suffices.
    function _checkGranteeNotOwner(uint256 datasetId, address grantee) private view {
        if (grantee == msg.sender) revert AccessPolicyGranteeIsOwner(datasetId, grantee);
    }

    function _revocableConsent(uint256 datasetId, bytes32 subject, bytes32 purpose)
        private
        view
        returns (Consent storage record)
    {
        record = _consents[datasetId][subject][purpose];
        if (!record.recorded) revert AccessPolicyConsentNotRecorded(datasetId, subject, purpose);
        if (record.revoked) revert AccessPolicyConsentAlreadyRevoked(datasetId, subject, purpose);
    }

    /// @dev Every rule of a job request, in the documented order. Returns the first failure as
    ///      an ABI-encoded custom error (empty if none), which grant each input draws on (two
    ///      bits per input), and the member indexes and dataset terms it read.
    function _evaluate(
        address requester,
        address recipient,
        uint8 kind,
        bytes32 programHash,
        JobInput[] calldata inputs,
        bytes32 subject,
        bytes32 purpose
    ) private view returns (bytes memory reason, uint256 grantUses, CheckedRequest memory checked) {
        if (!JobKinds.isValid(kind)) {
            return (abi.encodeWithSelector(AccessPolicyInvalidKind.selector, kind), 0, checked);
        }
        (MemberStatus requesterStatus, uint16 requesterIndex,) = _consortium.memberTerms(requester);
        if (requesterStatus != MemberStatus.Active) {
            return (abi.encodeWithSelector(AccessPolicyRequesterNotActive.selector, requester), 0, checked);
        }
        checked.requesterIndex = requesterIndex;
        if (recipient == requester) recipient = address(0);
        if (recipient != address(0) && !_consortium.isActiveMember(recipient)) {
            return (abi.encodeWithSelector(AccessPolicyRecipientNotActive.selector, recipient), 0, checked);
        }
        checked.inputs = new CheckedInput[](inputs.length);
        for (uint256 i; i < inputs.length; ++i) {
            uint256 uses;
            (reason, uses) = _evaluateInput(requester, recipient, kind, programHash, inputs[i], checked, i);
            if (reason.length != 0) return (reason, 0, checked);
            if (kind == JobKinds.PUBLISH) {
                reason = _evaluateConsent(inputs[i].datasetId, subject, purpose);
                if (reason.length != 0) return (reason, 0, checked);
            }
            grantUses |= uses << (2 * i);
        }
    }

    function _evaluateInput(
        address requester,
        address recipient,
        uint8 kind,
        bytes32 programHash,
        JobInput calldata input,
        CheckedRequest memory checked,
        uint256 inputIndex
    ) private view returns (bytes memory reason, uint256 uses) {
        uint256 datasetId = input.datasetId;
        DatasetTerms memory dataset = _datasetTerms(datasetId);
        if (dataset.owner == address(0)) {
            return (abi.encodeWithSelector(AccessPolicyUnknownDataset.selector, datasetId), 0);
        }
        if (!dataset.active) return (abi.encodeWithSelector(AccessPolicyDatasetInactive.selector, datasetId), 0);
        if (dataset.frozen) return (abi.encodeWithSelector(AccessPolicyDatasetFrozen.selector, datasetId), 0);
        (MemberStatus ownerStatus, uint16 ownerIndex,) = _consortium.memberTerms(dataset.owner);
        if (ownerStatus != MemberStatus.Active) {
            return (abi.encodeWithSelector(AccessPolicyDatasetOwnerNotActive.selector, datasetId, dataset.owner), 0);
        }
        checked.inputs[inputIndex] = CheckedInput({
            owner: dataset.owner,
            ownerIndex: ownerIndex,
            version: dataset.version,
            rowCount: dataset.rowCount,
            pricePerJob: dataset.pricePerJob,
            pricePerRow: dataset.pricePerRow
        });
        if (requester != dataset.owner) {
            (reason, uses) = _evaluateGrant(datasetId, requester, kind);
            if (reason.length != 0) return (reason, 0);
        }
        reason = _evaluateColumns(datasetId, dataset, requester, recipient, input);
        if (reason.length != 0) return (reason, 0);
        if (
            JobKinds.needsApprovedProgram(kind) && requester != dataset.owner
                && !_approvedPrograms[datasetId][programHash]
        ) {
            return (abi.encodeWithSelector(AccessPolicyProgramNotApproved.selector, datasetId, programHash), 0);
        }
    }

    function _datasetTerms(uint256 datasetId) private view returns (DatasetTerms memory dataset) {
        (
            dataset.owner,
            dataset.columnCount,
            dataset.version,
            dataset.active,
            dataset.frozen,
            dataset.rowCount,
            dataset.pricePerJob,
            dataset.pricePerRow
        ) = _catalog.termsOf(datasetId);
    }

    function _evaluateGrant(uint256 datasetId, address requester, uint8 kind)
        private
        view
        returns (bytes memory reason, uint256 uses)
    {
        address grantee = requester;
        Grant memory applicable = _grants[datasetId][requester];
        uses = USES_OWN_GRANT;
        if (!applicable.active) {
            grantee = address(0);
            applicable = _grants[datasetId][address(0)];
            uses = USES_ALL_MEMBERS_GRANT;
            if (!applicable.active) {
                return (abi.encodeWithSelector(AccessPolicyNoGrant.selector, datasetId, requester), 0);
            }
        }
        if (block.timestamp > applicable.expiry) {
            reason = abi.encodeWithSelector(
                AccessPolicyGrantExpired.selector, datasetId, grantee, applicable.expiry, block.timestamp
            );
            return (reason, 0);
        }
        if (applicable.maxUses != 0 && applicable.uses >= applicable.maxUses) {
            reason = abi.encodeWithSelector(AccessPolicyGrantExhausted.selector, datasetId, grantee, applicable.maxUses);
            return (reason, 0);
        }
        if (applicable.allowedKinds & JobKinds.bit(kind) == 0) {
            reason = abi.encodeWithSelector(
                AccessPolicyKindNotAllowed.selector, datasetId, grantee, kind, applicable.allowedKinds
            );
            return (reason, 0);
        }
    }

    /// @dev Levels are checked for the requester and, when another member receives the result,
    ///      for that member too: whoever sees the result must be allowed to. The owner is not
    ///      checked (it sees its own columns in the clear).
    function _evaluateColumns(
        uint256 datasetId,
        DatasetTerms memory dataset,
        address requester,
        address recipient,
        JobInput calldata input
    ) private view returns (bytes memory) {
        uint256 columnCount = input.columns.length;
        if (columnCount != input.levels.length) {
            return abi.encodeWithSelector(
                AccessPolicyColumnLevelsLengthMismatch.selector, datasetId, columnCount, input.levels.length
            );
        }
        bool checkRequester = requester != dataset.owner;
        bool checkRecipient = recipient != address(0) && recipient != dataset.owner;
        LevelWords memory requesterWords = LevelWords(type(uint256).max, 0, 0);
        LevelWords memory recipientWords = LevelWords(type(uint256).max, 0, 0);
        for (uint256 j; j < columnCount; ++j) {
            uint16 column = input.columns[j];
            uint8 required = input.levels[j];
            if (column >= dataset.columnCount) {
                return abi.encodeWithSelector(
                    AccessPolicyColumnOutOfRange.selector, datasetId, column, dataset.columnCount
                );
            }
            if (!ConstraintLevels.isValid(required)) {
                return abi.encodeWithSelector(AccessPolicyInvalidLevel.selector, required);
            }
            if (checkRequester) {
                uint8 granted = _levelFrom(requesterWords, datasetId, requester, column);
                if (!ConstraintLevels.permits(granted, required)) {
                    return abi.encodeWithSelector(
                        AccessPolicyLevelNotPermitted.selector, datasetId, column, requester, granted, required
                    );
                }
            }
            if (checkRecipient) {
                uint8 granted = _levelFrom(recipientWords, datasetId, recipient, column);
                if (!ConstraintLevels.permits(granted, required)) {
                    return abi.encodeWithSelector(
                        AccessPolicyLevelNotPermitted.selector, datasetId, column, recipient, granted, required
                    );
                }
            }
        }
        return "";
    }

    function _evaluateConsent(uint256 datasetId, bytes32 subject, bytes32 purpose)
        private
        view
        returns (bytes memory)
    {
        Consent storage record = _consents[datasetId][subject][purpose];
        if (!record.recorded) {
            return abi.encodeWithSelector(AccessPolicyConsentMissing.selector, datasetId, subject, purpose);
        }
        if (record.revoked) {
            return abi.encodeWithSelector(AccessPolicyConsentRevoked.selector, datasetId, subject, purpose);
        }
        if (block.timestamp > record.expiry) {
            return abi.encodeWithSelector(
                AccessPolicyConsentExpired.selector, datasetId, subject, purpose, record.expiry
            );
        }
        return "";
    }

    /// @dev The effective level of `column` for `party`, reading the party's 64-column word once
    ///      per word index and the all-members word only when some column of that word has no
    ///      entry for the party. `words` caches both across the columns of one input.
    function _levelFrom(LevelWords memory words, uint256 datasetId, address party, uint16 column)
        private
        view
        returns (uint8)
    {
        uint256 wordIndex = column >> 6;
        if (wordIndex != words.wordIndex) {
            words.wordIndex = wordIndex;
            words.party = _levelWords[datasetId][party][wordIndex];
            // all-members word not read yet for this index; type(uint256).max marks "unread"
            words.allMembers = type(uint256).max;
        }
        uint256 shift = (uint256(column) & 63) * 4;
        uint256 nibble = (words.party >> shift) & 0xf;
        if (nibble == 0) {
            if (words.allMembers == type(uint256).max) {
                words.allMembers = _levelWords[datasetId][address(0)][wordIndex];
            }
            nibble = (words.allMembers >> shift) & 0xf;
        }
        return nibble == 0 ? ConstraintLevels.ENCRYPTED_ONLY : uint8(nibble - 1);
    }

    function _effectiveLevel(uint256 datasetId, address grantee, uint16 column) private view returns (uint8) {
        uint256 nibble = _nibble(datasetId, grantee, column);
        if (nibble == 0 && grantee != address(0)) nibble = _nibble(datasetId, address(0), column);
        return nibble == 0 ? ConstraintLevels.ENCRYPTED_ONLY : uint8(nibble - 1);
    }

    function _nibble(uint256 datasetId, address grantee, uint16 column) private view returns (uint256) {
        return (_levelWords[datasetId][grantee][column >> 6] >> ((column & 63) * 4)) & 0xf;
    }

    function _revertWith(bytes memory reason) private pure {
        assembly ("memory-safe") {
            revert(add(reason, 0x20), mload(reason))
        }
    }

    // ----------------------------------------------------------------------------------------
    // State changes (each emits its event)
    // ----------------------------------------------------------------------------------------

    function _setColumnLevels(uint256 datasetId, address grantee, uint16[] calldata columns, uint8[] calldata levels)
        private
    {
        mapping(uint256 => uint256) storage words = _levelWords[datasetId][grantee];
        for (uint256 i; i < columns.length; ++i) {
            uint256 shift = (uint256(columns[i]) & 63) * 4;
            uint256 word = columns[i] >> 6;
            words[word] = (words[word] & ~(uint256(0xf) << shift)) | (uint256(levels[i]) + 1) << shift;
        }
        emit ColumnLevelsSet(datasetId, grantee, columns, levels);
    }

    function _clearColumnLevels(uint256 datasetId, address grantee, uint16[] calldata columns) private {
        mapping(uint256 => uint256) storage words = _levelWords[datasetId][grantee];
        for (uint256 i; i < columns.length; ++i) {
            uint256 shift = (uint256(columns[i]) & 63) * 4;
            uint256 word = columns[i] >> 6;
            words[word] &= ~(uint256(0xf) << shift);
        }
        emit ColumnLevelsCleared(datasetId, grantee, columns);
    }

    function _setGrant(uint256 datasetId, address grantee, uint40 expiry, uint64 maxUses, uint8 allowedKinds)
        private
    {
        _grants[datasetId][grantee] =
            Grant({expiry: expiry, maxUses: maxUses, uses: 0, allowedKinds: allowedKinds, active: true});
        emit GrantSet(datasetId, grantee, expiry, maxUses, allowedKinds);
    }

    function _revokeGrant(uint256 datasetId, address grantee) private {
        _grants[datasetId][grantee].active = false;
        emit GrantRevoked(datasetId, grantee);
    }

    function _useGrant(uint256 datasetId, address grantee, uint256 jobId) private {
        Grant storage used = _grants[datasetId][grantee];
        uint64 uses = used.uses + 1;
        used.uses = uses;
        emit GrantUsed(datasetId, grantee, jobId, uses);
    }

    function _setProgramApproval(uint256 datasetId, bytes32 programHash, bool approved, string calldata note)
        private
    {
        _approvedPrograms[datasetId][programHash] = approved;
        if (approved) emit ProgramApproved(datasetId, programHash, note);
        else emit ProgramRevoked(datasetId, programHash, note);
    }

    function _recordConsent(
        uint256 datasetId,
        bytes32 subject,
        bytes32 purpose,
        uint40 expiry,
        bytes32 evidenceHash,
        address subjectAccount
    ) private {
        _consents[datasetId][subject][purpose] = Consent({
            expiry: expiry,
            revoked: false,
            recorded: true,
            subjectAccount: subjectAccount,
            evidenceHash: evidenceHash
        });
        emit ConsentRecorded(datasetId, subject, purpose, expiry, evidenceHash, subjectAccount);
    }

    function _revokeConsent(uint256 datasetId, bytes32 subject, bytes32 purpose, address by, bool bySignature)
        private
    {
        _consents[datasetId][subject][purpose].revoked = true;
        emit ConsentRevoked(datasetId, subject, purpose, by, bySignature);
    }
}
