// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {CheckedInput, CheckedRequest, IAccessPolicy} from "./interfaces/IAccessPolicy.sol";
import {IBilling} from "./interfaces/IBilling.sol";
import {IConsortium, MemberStatus} from "./interfaces/IConsortium.sol";
import {IDataCatalog} from "./interfaces/IDataCatalog.sol";
import {
    IJobs,
    Job,
    JobDispute,
    JobInputRecord,
    JobNode,
    JobRequest,
    JobStatus
} from "./interfaces/IJobs.sol";
import {JobKinds} from "./libraries/UnseenTypes.sol";

/// @title Jobs
/// @notice Requests, acceptance, input and result commitments, finalization, disputes and
///         expiry of jobs; pays through Billing and counts grant uses through AccessPolicy.
/// @dev Storage is laid out for the gas of a job's lifecycle (each new slot costs 22,100 gas):
///      - `JobState`, one slot, holds everything a lifecycle call reads and writes: status,
///        deadline, pending bitmasks, the compute nodes as Consortium member indexes, and which
///        node owns which input;
///      - `JobTerms`, one slot: the requester's member index, the request time and the three
///        compute prices quoted at request;
///      - one slot per input: dataset id, owner's member index, prices and row limit quoted at
///        request (the row limit is replaced by the rows used when the input is committed);
///      - one slot for the program hash and one for the commitment digest, which every input
///        and result commitment extends (the values themselves are in events);
///      - the request itself (program text, columns, levels, recipient, subject, purpose,
///        parameters) lives in the `JobRequested` event only.
///      Members are identified by their Consortium member index (fixed for life), which the
///      Consortium call that checks the caller's status returns anyway; addresses are resolved
///      only to pay out and in views.
///      Acceptance bits: bit `i` (< 16) stands for the owner of input `i`, bit `16 + k` for
///      compute node `k`. `ownerNodes` holds, two bits per input, `k + 1` when compute node `k`
///      owns the input (0 when no compute node does), so a member with both roles clears all its
///      bits with one call.
contract Jobs is IJobs, ReentrancyGuardTransient {
    /// @inheritdoc IJobs
    uint256 public constant MAX_INPUTS = 16;

    uint256 private constant COMPUTE_NODES = 3;
    uint256 private constant NODE_BITS_OFFSET = 16;
    uint8 private constant INPUT_COMMITMENT = 1;
    uint8 private constant RESULT_COMMITMENT = 2;

    struct JobState {
        uint8 kind;
        JobStatus status;
        uint8 inputCount;
        uint8 nodeCount;
        uint40 deadline;
        uint40 committedAt;
        uint32 pendingAcceptances;
        uint16 pendingInputs;
        uint8 pendingResults;
        uint32 ownerNodes;
        // member index of compute node k in bits [16k, 16k + 16)
        uint48 nodeIndexes;
    }

    struct JobTerms {
        uint16 requesterIndex;
        uint40 createdAt;
        // compute price of node k in bits [64k, 64k + 64)
        uint192 nodePrices;
    }

    struct InputSlot {
        uint48 datasetId;
        uint16 ownerIndex;
        uint64 pricePerJob;
        uint64 pricePerRow;
        // the row limit (dataset row count at request) until committed, then the rows used
        uint64 rows;
    }

    struct Counters {
        uint64 jobCount;
        uint64 maxDeadlineHorizon;
        uint64 confirmationWindow;
    }

    /// @dev What `_quote` learns about a request: the member indexes of the parties, the node
    ///      prices, the maximum fee, and which node owns which input.
    struct Quote {
        uint256 maxFee;
        uint16 requesterIndex;
        uint48 nodeIndexes;
        uint192 nodePrices;
        uint32 ownerNodes;
    }

    IConsortium private immutable _consortium;
    IDataCatalog private immutable _catalog;
    IAccessPolicy private immutable _policy;
    IBilling private immutable _billing;

    Counters private _counters;
    mapping(uint256 jobId => JobState) private _states;
    mapping(uint256 jobId => JobTerms) private _terms;
    mapping(uint256 jobId => bytes32) private _programHashes;
    mapping(uint256 jobId => InputSlot[MAX_INPUTS]) private _inputs;
    mapping(uint256 jobId => bytes32) private _commitmentDigests;
    mapping(uint256 jobId => JobDispute) private _disputes;

    modifier onlyAdmin() {
        _checkAdmin(msg.sender);
        _;
    }

    modifier onlyAdminOrRegulator() {
        _checkAdminOrRegulator(msg.sender);
        _;
    }

    /// @param consortium Membership and roles.
    /// @param catalog Datasets (owners, sizes, prices).
    /// @param policy Request checks and grant uses (Consortium must give this contract
    ///        `JOBS_ROLE` for AccessPolicy's `consume` and Billing's escrow calls to accept it).
    /// @param billing Credits and escrow.
    /// @param initialMaxDeadlineHorizon Longest time between request and deadline (s), non-zero.
    /// @param initialConfirmationWindow Time the requester has to finalize or dispute (s), non-zero.
    constructor(
        IConsortium consortium,
        IDataCatalog catalog,
        IAccessPolicy policy,
        IBilling billing,
        uint64 initialMaxDeadlineHorizon,
        uint64 initialConfirmationWindow
    ) {
        _consortium = consortium;
        _catalog = catalog;
        _policy = policy;
        _billing = billing;
        if (initialMaxDeadlineHorizon == 0 || initialConfirmationWindow == 0) {
            revert JobsInvalidTimings(initialMaxDeadlineHorizon, initialConfirmationWindow);
        }
        _setTimings(initialMaxDeadlineHorizon, initialConfirmationWindow);
    }

    // ----------------------------------------------------------------------------------------
    // Admin
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IJobs
    function setTimings(uint64 newMaxDeadlineHorizon, uint64 newConfirmationWindow)
        external
        onlyAdmin
        nonReentrant
    {
        if (newMaxDeadlineHorizon == 0 || newConfirmationWindow == 0) {
            revert JobsInvalidTimings(newMaxDeadlineHorizon, newConfirmationWindow);
        }
        _setTimings(newMaxDeadlineHorizon, newConfirmationWindow);
    }

    // ----------------------------------------------------------------------------------------
    // Requester
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IJobs
    function request(JobRequest calldata jobRequest) external nonReentrant returns (uint256 jobId) {
        Counters memory counters = _counters;
        bytes memory reason = _shapeError(jobRequest, counters.maxDeadlineHorizon);
        if (reason.length != 0) _revertWith(reason);
        jobId = uint256(counters.jobCount) + 1;
        CheckedRequest memory checked = _policy.consume(
            jobId,
            msg.sender,
            jobRequest.resultRecipient,
            jobRequest.kind,
            jobRequest.programHash,
            jobRequest.inputs,
            jobRequest.subject,
            jobRequest.purpose
        );
        Quote memory quote;
        (quote, reason) = _quote(jobRequest, checked);
        if (reason.length != 0) _revertWith(reason);
        _record(jobId, jobRequest, checked, quote);
        _billing.escrow(jobId, msg.sender, jobRequest.feeCap);
    }

    /// @inheritdoc IJobs
    function checkRequest(address requester, JobRequest calldata jobRequest)
        external
        view
        returns (bool allowed, bytes memory reason, uint256 maxFee)
    {
        reason = _shapeError(jobRequest, _counters.maxDeadlineHorizon);
        if (reason.length != 0) return (false, reason, 0);
        (allowed, reason) = _policy.checkRequest(
            requester,
            jobRequest.resultRecipient,
            jobRequest.kind,
            jobRequest.programHash,
            jobRequest.inputs,
            jobRequest.subject,
            jobRequest.purpose
        );
        if (!allowed) return (false, reason, 0);
        Quote memory quote;
        (quote, reason) = _quote(jobRequest, _checkedView(requester, jobRequest));
        maxFee = quote.maxFee;
        if (reason.length != 0) return (false, reason, maxFee);
        // The same checks, in the same order, as Billing.escrow.
        uint256 feeCap = jobRequest.feeCap;
        if (feeCap > type(uint96).max) {
            reason = abi.encodeWithSelector(IBilling.BillingEscrowTooLarge.selector, feeCap, type(uint96).max);
            return (false, reason, maxFee);
        }
        uint256 balance = _billing.balanceOf(requester);
        if (balance < feeCap) {
            reason = abi.encodeWithSelector(IBilling.BillingInsufficientCredits.selector, requester, balance, feeCap);
            return (false, reason, maxFee);
        }
        return (true, "", maxFee);
    }

    /// @inheritdoc IJobs
    function finalize(uint256 jobId) external nonReentrant {
        JobState memory state = _existingState(jobId);
        if (state.status != JobStatus.Committed) revert JobsWrongStatus(jobId, state.status);
        JobTerms memory terms = _terms[jobId];
        // The escrow's payer is the requester; reading it here also warms the slot settle reads.
        (address requester,) = _billing.escrowOf(jobId);
        if (msg.sender != requester) {
            (bool admitted, uint16 callerIndex) = _memberIndex(msg.sender);
            if (!admitted || _roleMask(jobId, state, callerIndex) == 0) {
                revert JobsNotRequesterOrParticipant(jobId, msg.sender);
            }
            uint256 windowEndsAt = uint256(state.committedAt) + _counters.confirmationWindow;
            if (block.timestamp < windowEndsAt) revert JobsConfirmationWindowOpen(jobId, msg.sender, windowEndsAt);
        }
        _finalize(jobId, state);
        _payOut(jobId, state, terms);
    }

    // ----------------------------------------------------------------------------------------
    // Participants
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IJobs
    function accept(uint256 jobId) external nonReentrant {
        JobState memory state = _existingState(jobId);
        if (state.status != JobStatus.Requested) revert JobsWrongStatus(jobId, state.status);
        _checkBeforeDeadline(jobId, state);
        uint256 roles = _roleMask(jobId, state, _activeMemberIndex(msg.sender));
        if (roles == 0) revert JobsNotParticipant(jobId, msg.sender);
        if (roles & state.pendingAcceptances == 0) revert JobsAlreadyAccepted(jobId, msg.sender);
        _accept(jobId, state, roles);
        _states[jobId] = state;
    }

    /// @inheritdoc IJobs
    function decline(uint256 jobId, string calldata reason) external nonReentrant {
        JobState memory state = _existingState(jobId);
        if (state.status != JobStatus.Requested) revert JobsWrongStatus(jobId, state.status);
        (bool admitted, uint16 callerIndex) = _memberIndex(msg.sender);
        uint256 roles = admitted ? _roleMask(jobId, state, callerIndex) : 0;
        if (roles == 0) revert JobsNotParticipant(jobId, msg.sender);
        if (roles & state.pendingAcceptances == 0) revert JobsAlreadyAccepted(jobId, msg.sender);
        _decline(jobId, state, reason);
        _billing.refund(jobId);
    }

    /// @inheritdoc IJobs
    function commitInput(uint256 jobId, uint256 inputIndex, bytes32 inputFingerprint, uint64 rowsUsed)
        external
        nonReentrant
    {
        JobState memory state = _existingState(jobId);
        if (state.status != JobStatus.Requested && state.status != JobStatus.Running) {
            revert JobsWrongStatus(jobId, state.status);
        }
        _checkBeforeDeadline(jobId, state);
        if (inputIndex >= state.inputCount) revert JobsInputIndexOutOfRange(jobId, inputIndex, state.inputCount);
        if (inputFingerprint == bytes32(0)) revert JobsZeroCommitment();
        uint16 callerIndex = _activeMemberIndex(msg.sender);
        InputSlot memory input = _inputs[jobId][inputIndex];
        if (callerIndex != input.ownerIndex) {
            revert JobsNotInputOwner(jobId, inputIndex, msg.sender, _accountAt(input.ownerIndex));
        }
        if (state.pendingInputs & (1 << inputIndex) == 0) revert JobsInputAlreadyCommitted(jobId, inputIndex);
        if (rowsUsed > input.rows) revert JobsRowsUsedExceedLimit(jobId, inputIndex, rowsUsed, input.rows);

        uint256 ownerNode = (state.ownerNodes >> (2 * inputIndex)) & 3;
        uint256 roles = ownerNode == 0 ? 1 << inputIndex : _nodeRoleMask(state, ownerNode - 1);
        if (roles & state.pendingAcceptances != 0) _accept(jobId, state, roles);
        _commitInput(jobId, state, inputIndex, input, inputFingerprint, rowsUsed);
        _states[jobId] = state;
    }

    /// @inheritdoc IJobs
    function commitResult(uint256 jobId, bytes32 resultCommitment, bytes32 transcriptHash) external nonReentrant {
        JobState memory state = _existingState(jobId);
        if (state.status != JobStatus.Running) revert JobsWrongStatus(jobId, state.status);
        _checkBeforeDeadline(jobId, state);
        if (resultCommitment == bytes32(0) || transcriptHash == bytes32(0)) revert JobsZeroCommitment();
        uint256 nodeIndex = _nodePosition(state, _activeMemberIndex(msg.sender));
        if (nodeIndex == COMPUTE_NODES) revert JobsNotComputeNode(jobId, msg.sender);
        if (state.pendingInputs != 0) revert JobsInputsPending(jobId, state.pendingInputs);
        if (state.pendingResults & (1 << nodeIndex) == 0) revert JobsResultAlreadyCommitted(jobId, msg.sender);
        _commitResult(jobId, state, nodeIndex, resultCommitment, transcriptHash);
        _states[jobId] = state;
    }

    /// @inheritdoc IJobs
    function dispute(uint256 jobId, address suspect, bytes32 evidenceHash) external nonReentrant {
        JobState memory state = _existingState(jobId);
        if (state.status != JobStatus.Running && state.status != JobStatus.Committed) {
            revert JobsWrongStatus(jobId, state.status);
        }
        uint16 requesterIndex = _terms[jobId].requesterIndex;
        if (!_isInvolved(jobId, state, requesterIndex, msg.sender)) {
            revert JobsNotRequesterOrParticipant(jobId, msg.sender);
        }
        if (suspect != address(0) && !_isInvolved(jobId, state, requesterIndex, suspect)) {
            revert JobsSuspectNotInvolved(jobId, suspect);
        }
        _openDispute(jobId, state, suspect, evidenceHash);
    }

    // ----------------------------------------------------------------------------------------
    // Anyone / admin / regulator
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IJobs
    function expire(uint256 jobId) external nonReentrant {
        JobState memory state = _existingState(jobId);
        if (state.status != JobStatus.Requested && state.status != JobStatus.Running) {
            revert JobsWrongStatus(jobId, state.status);
        }
        if (block.timestamp <= state.deadline) revert JobsDeadlineNotReached(jobId, state.deadline, block.timestamp);
        _expire(jobId, state);
        _billing.refund(jobId);
    }

    /// @inheritdoc IJobs
    function resolveDispute(uint256 jobId, bool refundRequester) external onlyAdminOrRegulator nonReentrant {
        JobState memory state = _existingState(jobId);
        if (state.status != JobStatus.Disputed) revert JobsWrongStatus(jobId, state.status);
        _resolve(jobId, state, refundRequester);
        if (refundRequester) _billing.refund(jobId);
        else _payOut(jobId, state, _terms[jobId]);
    }

    // ----------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IJobs
    function job(uint256 jobId) external view returns (Job memory) {
        JobState memory state = _existingState(jobId);
        JobTerms memory terms = _terms[jobId];
        return Job({
            requester: _accountAt(terms.requesterIndex),
            kind: state.kind,
            status: state.status,
            inputCount: state.inputCount,
            nodeCount: state.nodeCount,
            createdAt: terms.createdAt,
            deadline: state.deadline,
            committedAt: state.committedAt,
            programHash: _programHashes[jobId],
            pendingAcceptances: state.pendingAcceptances,
            pendingInputs: state.pendingInputs,
            pendingResults: state.pendingResults
        });
    }

    /// @inheritdoc IJobs
    function status(uint256 jobId) external view returns (JobStatus) {
        return _states[jobId].status;
    }

    /// @inheritdoc IJobs
    function inputs(uint256 jobId) external view returns (JobInputRecord[] memory records) {
        JobState memory state = _existingState(jobId);
        records = new JobInputRecord[](state.inputCount);
        for (uint256 i; i < state.inputCount; ++i) {
            InputSlot memory input = _inputs[jobId][i];
            bool committed = state.pendingInputs & (1 << i) == 0;
            records[i] = JobInputRecord({
                datasetId: input.datasetId,
                owner: _accountAt(input.ownerIndex),
                pricePerJob: input.pricePerJob,
                pricePerRow: input.pricePerRow,
                rowsUsed: committed ? input.rows : 0,
                committed: committed
            });
        }
    }

    /// @inheritdoc IJobs
    function nodes(uint256 jobId) external view returns (JobNode[] memory records) {
        JobState memory state = _existingState(jobId);
        uint192 prices = _terms[jobId].nodePrices;
        records = new JobNode[](state.nodeCount);
        for (uint256 k; k < state.nodeCount; ++k) {
            records[k] = JobNode({
                account: _accountAt(_nodeIndexAt(state, k)),
                computePrice: uint64(prices >> (64 * k)),
                accepted: state.pendingAcceptances & (1 << (NODE_BITS_OFFSET + k)) == 0,
                resultCommitted: state.pendingResults & (1 << k) == 0
            });
        }
    }

    /// @inheritdoc IJobs
    function commitmentDigest(uint256 jobId) external view returns (bytes32) {
        return _commitmentDigests[jobId];
    }

    /// @inheritdoc IJobs
    function disputeOf(uint256 jobId) external view returns (JobDispute memory) {
        return _disputes[jobId];
    }

    /// @inheritdoc IJobs
    function jobCount() external view returns (uint256) {
        return _counters.jobCount;
    }

    /// @inheritdoc IJobs
    function maxDeadlineHorizon() external view returns (uint64) {
        return _counters.maxDeadlineHorizon;
    }

    /// @inheritdoc IJobs
    function confirmationWindow() external view returns (uint64) {
        return _counters.confirmationWindow;
    }

    // ----------------------------------------------------------------------------------------
    // Checks
    // ----------------------------------------------------------------------------------------

    function _checkAdmin(address caller) internal view virtual {
        if (!_consortium.isAdmin(caller)) revert JobsNotAdmin(caller);
    }

    function _checkAdminOrRegulator(address caller) internal view virtual {
        if (!_consortium.isAdmin(caller) && !_consortium.isRegulator(caller)) revert JobsNotAdminOrRegulator(caller);
    }

    /// @dev The member index of `caller`, which must be an active member.
    function _activeMemberIndex(address caller) internal view virtual returns (uint16) {
        (MemberStatus standing, uint16 index,) = _consortium.memberTerms(caller);
        if (standing != MemberStatus.Active) revert JobsNotActiveMember(caller);
        return index;
    }

    /// @dev The member index of `account`, if it was ever admitted (index 0 is a real member).
    function _memberIndex(address account) private view returns (bool admitted, uint16 index) {
        (MemberStatus standing, uint16 memberIndex,) = _consortium.memberTerms(account);
        return (standing != MemberStatus.None, memberIndex);
    }

    function _accountAt(uint16 index) private view returns (address) {
        uint16[] memory indexes = new uint16[](1);
        indexes[0] = index;
        return _consortium.membersAt(indexes)[0];
    }

    function _checkBeforeDeadline(uint256 jobId, JobState memory state) private view {
        if (block.timestamp > state.deadline) revert JobsDeadlinePassed(jobId, state.deadline, block.timestamp);
    }

    function _existingState(uint256 jobId) private view returns (JobState memory state) {
        state = _states[jobId];
        if (state.status == JobStatus.None) revert JobsUnknownJob(jobId);
    }

    /// @dev The request's own shape, before any other contract is asked. Returns the first
    ///      failure ABI-encoded, or empty.
    function _shapeError(JobRequest calldata jobRequest, uint64 horizon) private view returns (bytes memory) {
        uint8 kind = jobRequest.kind;
        if (!JobKinds.isValid(kind)) return abi.encodeWithSelector(JobsInvalidKind.selector, kind);
        if (jobRequest.programHash == bytes32(0)) return abi.encodeWithSelector(JobsZeroProgramHash.selector);
        uint256 inputCount = jobRequest.inputs.length;
        if (inputCount == 0) return abi.encodeWithSelector(JobsNoInputs.selector);
        if (inputCount > MAX_INPUTS) return abi.encodeWithSelector(JobsTooManyInputs.selector, inputCount, MAX_INPUTS);
        for (uint256 i = 1; i < inputCount; ++i) {
            uint256 datasetId = jobRequest.inputs[i].datasetId;
            for (uint256 j; j < i; ++j) {
                if (datasetId == jobRequest.inputs[j].datasetId) {
                    return abi.encodeWithSelector(JobsDuplicateInput.selector, datasetId);
                }
            }
        }
        if (kind == JobKinds.PUBLISH && inputCount != 1) {
            return abi.encodeWithSelector(JobsPublishNeedsOneInput.selector, inputCount);
        }
        uint256 expectedNodes = kind == JobKinds.PUBLISH ? 1 : COMPUTE_NODES;
        address[] calldata computeNodes = jobRequest.computeNodes;
        if (computeNodes.length != expectedNodes) {
            return abi.encodeWithSelector(JobsWrongNodeCount.selector, kind, computeNodes.length, expectedNodes);
        }
        for (uint256 k = 1; k < computeNodes.length; ++k) {
            for (uint256 m; m < k; ++m) {
                if (computeNodes[k] == computeNodes[m]) {
                    return abi.encodeWithSelector(JobsDuplicateNode.selector, computeNodes[k]);
                }
            }
        }
        if (jobRequest.resultRecipient == address(0)) return abi.encodeWithSelector(JobsZeroRecipient.selector);
        uint256 deadline = jobRequest.deadline;
        if (deadline <= block.timestamp) {
            return abi.encodeWithSelector(JobsDeadlineNotInFuture.selector, deadline, block.timestamp);
        }
        uint256 latest = block.timestamp + horizon;
        if (deadline > latest) return abi.encodeWithSelector(JobsDeadlineBeyondHorizon.selector, deadline, latest);
        return "";
    }

    /// @dev What AccessPolicy's `consume` returns, gathered for the `checkRequest` view (called
    ///      only once the policy allowed the request, so every dataset and party exists).
    function _checkedView(address requester, JobRequest calldata jobRequest)
        private
        view
        returns (CheckedRequest memory checked)
    {
        uint256 inputCount = jobRequest.inputs.length;
        checked.inputs = new CheckedInput[](inputCount);
        for (uint256 i; i < inputCount; ++i) {
            CheckedInput memory input = checked.inputs[i];
            (input.owner,, input.version,,, input.rowCount, input.pricePerJob, input.pricePerRow) =
                _catalog.termsOf(jobRequest.inputs[i].datasetId);
            (, input.ownerIndex,) = _consortium.memberTerms(input.owner);
        }
        (, checked.requesterIndex,) = _consortium.memberTerms(requester);
    }

    /// @dev The terms of a request that passed the policy: each node's status, index and price,
    ///      the maximum fee (inputs priced as the policy read them), and which node owns which
    ///      input.
    function _quote(JobRequest calldata jobRequest, CheckedRequest memory checked)
        private
        view
        returns (Quote memory quote, bytes memory reason)
    {
        address[] calldata computeNodes = jobRequest.computeNodes;
        uint256 nodeCount = computeNodes.length;
        quote.requesterIndex = checked.requesterIndex;
        for (uint256 k; k < nodeCount; ++k) {
            (MemberStatus standing, uint16 index, uint64 computePrice) = _consortium.memberTerms(computeNodes[k]);
            if (standing != MemberStatus.Active) {
                return (quote, abi.encodeWithSelector(JobsNodeNotActive.selector, computeNodes[k]));
            }
            quote.nodeIndexes |= uint48(index) << uint48(16 * k);
            quote.nodePrices |= uint192(computePrice) << uint192(64 * k);
            quote.maxFee += computePrice;
        }
        for (uint256 i; i < checked.inputs.length; ++i) {
            CheckedInput memory input = checked.inputs[i];
            quote.maxFee += uint256(input.pricePerJob) + uint256(input.pricePerRow) * input.rowCount;
            for (uint256 k; k < nodeCount; ++k) {
                if (uint16(quote.nodeIndexes >> (16 * k)) == input.ownerIndex) {
                    quote.ownerNodes |= uint32((k + 1) << (2 * i));
                }
            }
        }
        if (jobRequest.kind == JobKinds.PUBLISH && computeNodes[0] != checked.inputs[0].owner) {
            reason = abi.encodeWithSelector(JobsPublishNodeNotOwner.selector, computeNodes[0], checked.inputs[0].owner);
            return (quote, reason);
        }
        if (jobRequest.feeCap < quote.maxFee) {
            return (quote, abi.encodeWithSelector(JobsFeeCapBelowMaxFee.selector, jobRequest.feeCap, quote.maxFee));
        }
    }

    /// @dev The acceptance bits the member with index `memberIndex` holds in the job: its node
    ///      bit and the inputs that node owns, or, for an owner that is not a compute node, the
    ///      inputs it owns (input slots are read only for inputs no compute node owns).
    function _roleMask(uint256 jobId, JobState memory state, uint16 memberIndex) private view returns (uint256) {
        uint256 nodeIndex = _nodePosition(state, memberIndex);
        if (nodeIndex != COMPUTE_NODES) return _nodeRoleMask(state, nodeIndex);
        uint256 roles;
        for (uint256 i; i < state.inputCount; ++i) {
            if ((state.ownerNodes >> (2 * i)) & 3 != 0) continue;
            if (_inputs[jobId][i].ownerIndex == memberIndex) roles |= 1 << i;
        }
        return roles;
    }

    function _nodeRoleMask(JobState memory state, uint256 nodeIndex) private pure returns (uint256 roles) {
        roles = 1 << (NODE_BITS_OFFSET + nodeIndex);
        for (uint256 i; i < state.inputCount; ++i) {
            if ((state.ownerNodes >> (2 * i)) & 3 == nodeIndex + 1) roles |= 1 << i;
        }
    }

    /// @dev The position of member `memberIndex` among the job's compute nodes, or
    ///      `COMPUTE_NODES` if it is not one.
    function _nodePosition(JobState memory state, uint16 memberIndex) private pure returns (uint256) {
        for (uint256 k; k < state.nodeCount; ++k) {
            if (_nodeIndexAt(state, k) == memberIndex) return k;
        }
        return COMPUTE_NODES;
    }

    function _nodeIndexAt(JobState memory state, uint256 k) private pure returns (uint16) {
        return uint16(state.nodeIndexes >> (16 * k));
    }

    /// @dev Whether `account` is the requester or a participant of the job.
    function _isInvolved(uint256 jobId, JobState memory state, uint16 requesterIndex, address account)
        private
        view
        returns (bool)
    {
        (bool admitted, uint16 index) = _memberIndex(account);
        return admitted && (index == requesterIndex || _roleMask(jobId, state, index) != 0);
    }

    function _revertWith(bytes memory reason) private pure {
        assembly ("memory-safe") {
            revert(add(reason, 0x20), mload(reason))
        }
    }

    // ----------------------------------------------------------------------------------------
    // State changes (each emits its event; callers write `state` back once)
    // ----------------------------------------------------------------------------------------

    function _setTimings(uint64 newMaxDeadlineHorizon, uint64 newConfirmationWindow) private {
        _counters.maxDeadlineHorizon = newMaxDeadlineHorizon;
        _counters.confirmationWindow = newConfirmationWindow;
        emit TimingsSet(newMaxDeadlineHorizon, newConfirmationWindow, msg.sender);
    }

    function _record(uint256 jobId, JobRequest calldata jobRequest, CheckedRequest memory checked, Quote memory quote)
        private
    {
        uint256 inputCount = jobRequest.inputs.length;
        uint256 nodeCount = jobRequest.computeNodes.length;
        _counters.jobCount = uint64(jobId);
        _states[jobId] = JobState({
            kind: jobRequest.kind,
            status: JobStatus.Requested,
            inputCount: uint8(inputCount),
            nodeCount: uint8(nodeCount),
            deadline: uint40(jobRequest.deadline),
            committedAt: 0,
            pendingAcceptances: uint32(((1 << inputCount) - 1) | (((1 << nodeCount) - 1) << NODE_BITS_OFFSET)),
            pendingInputs: uint16((1 << inputCount) - 1),
            pendingResults: uint8((1 << nodeCount) - 1),
            ownerNodes: quote.ownerNodes,
            nodeIndexes: quote.nodeIndexes
        });
        _terms[jobId] = JobTerms({
            requesterIndex: quote.requesterIndex,
            createdAt: uint40(block.timestamp),
            nodePrices: quote.nodePrices
        });
        _programHashes[jobId] = jobRequest.programHash;
        InputSlot[MAX_INPUTS] storage jobInputs = _inputs[jobId];
        for (uint256 i; i < inputCount; ++i) {
            CheckedInput memory input = checked.inputs[i];
            jobInputs[i] = InputSlot({
                datasetId: SafeCast.toUint48(jobRequest.inputs[i].datasetId),
                ownerIndex: input.ownerIndex,
                pricePerJob: input.pricePerJob,
                pricePerRow: input.pricePerRow,
                rows: input.rowCount
            });
        }
        emit JobRequested(jobId, msg.sender, jobRequest);
    }

    function _accept(uint256 jobId, JobState memory state, uint256 roles) private {
        state.pendingAcceptances &= ~uint32(roles);
        emit JobAccepted(jobId, msg.sender, state.pendingAcceptances);
        if (state.pendingAcceptances == 0) {
            state.status = JobStatus.Running;
            emit JobStarted(jobId);
        }
    }

    function _commitInput(
        uint256 jobId,
        JobState memory state,
        uint256 inputIndex,
        InputSlot memory input,
        bytes32 inputFingerprint,
        uint64 rowsUsed
    ) private {
        state.pendingInputs &= ~uint16(1 << inputIndex);
        input.rows = rowsUsed;
        _inputs[jobId][inputIndex] = input;
        _commitmentDigests[jobId] = keccak256(
            abi.encode(_commitmentDigests[jobId], INPUT_COMMITMENT, jobId, inputIndex, inputFingerprint, rowsUsed)
        );
        emit InputCommitted(jobId, inputIndex, msg.sender, inputFingerprint, rowsUsed);
    }

    function _commitResult(
        uint256 jobId,
        JobState memory state,
        uint256 nodeIndex,
        bytes32 resultCommitment,
        bytes32 transcriptHash
    ) private {
        state.pendingResults &= ~uint8(1 << nodeIndex);
        _commitmentDigests[jobId] = keccak256(
            abi.encode(
                _commitmentDigests[jobId], RESULT_COMMITMENT, jobId, nodeIndex, resultCommitment, transcriptHash
            )
        );
        emit ResultCommitted(jobId, nodeIndex, msg.sender, resultCommitment, transcriptHash);
        if (state.pendingResults == 0) {
            state.status = JobStatus.Committed;
            state.committedAt = uint40(block.timestamp);
            emit JobCommitted(jobId, state.committedAt);
        }
    }

    function _finalize(uint256 jobId, JobState memory state) private {
        _states[jobId].status = state.status = JobStatus.Finalized;
        emit JobFinalized(jobId, msg.sender);
    }

    function _decline(uint256 jobId, JobState memory state, string calldata reason) private {
        _states[jobId].status = state.status = JobStatus.Declined;
        emit JobDeclined(jobId, msg.sender, reason);
    }

    function _expire(uint256 jobId, JobState memory state) private {
        _states[jobId].status = state.status = JobStatus.Expired;
        emit JobExpired(jobId, msg.sender);
    }

    function _openDispute(uint256 jobId, JobState memory state, address suspect, bytes32 evidenceHash) private {
        _states[jobId].status = state.status = JobStatus.Disputed;
        _disputes[jobId] = JobDispute({
            openedBy: msg.sender,
            suspect: suspect,
            evidenceHash: evidenceHash,
            openedAt: uint40(block.timestamp)
        });
        emit JobDisputed(jobId, msg.sender, suspect, evidenceHash);
    }

    function _resolve(uint256 jobId, JobState memory state, bool refundRequester) private {
        _states[jobId].status = state.status = JobStatus.Resolved;
        emit JobDisputeResolved(jobId, msg.sender, refundRequester);
    }

    /// @dev Pays each committed input's owner its price per job plus price per row × rows used,
    ///      and each node that committed a result its compute price; Billing refunds the rest.
    ///      Lines: inputs in order, then nodes in order (uncommitted lines are paid 0).
    function _payOut(uint256 jobId, JobState memory state, JobTerms memory terms) private {
        uint256 inputCount = state.inputCount;
        uint256 nodeCount = state.nodeCount;
        uint16[] memory indexes = new uint16[](inputCount + nodeCount);
        uint256[] memory amounts = new uint256[](inputCount + nodeCount);
        for (uint256 i; i < inputCount; ++i) {
            InputSlot memory input = _inputs[jobId][i];
            indexes[i] = input.ownerIndex;
            if (state.pendingInputs & (1 << i) == 0) {
                amounts[i] = uint256(input.pricePerJob) + uint256(input.pricePerRow) * input.rows;
            }
        }
        for (uint256 k; k < nodeCount; ++k) {
            indexes[inputCount + k] = _nodeIndexAt(state, k);
            if (state.pendingResults & (1 << k) == 0) amounts[inputCount + k] = uint64(terms.nodePrices >> (64 * k));
        }
        _billing.settle(jobId, _consortium.membersAt(indexes), amounts);
    }
}
