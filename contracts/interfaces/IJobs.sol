// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {JobInput} from "../libraries/UnseenTypes.sol";

/// @notice Lifecycle of a job.
/// @dev `None` (no such job) → `Requested` → `Running` (every participant accepted) →
///      `Committed` (every compute node committed its result) → `Finalized`.
///      Side exits: `Requested` → `Declined` (a participant refused); `Requested`/`Running` →
///      `Expired` (deadline passed); `Running`/`Committed` → `Disputed` → `Resolved`.
enum JobStatus {
    None,
    Requested,
    Running,
    Committed,
    Finalized,
    Disputed,
    Resolved,
    Expired,
    Declined
}

/// @notice What a requester asks for. Only the fields the contract needs later are stored; the
///         whole request is in the `JobRequested` event.
/// @param kind Job kind (`JobKinds`: STATISTICS=0, QUERY=1, MODEL_TRAIN=2, MODEL_PREDICT=3,
///        SCRIPT=4, PUBLISH=5).
/// @param programHash Hash of the program (query plan, script, model); non-zero.
/// @param program Program text or URI; recorded in the event only.
/// @param inputs Datasets with the columns used and the level each use requires (1..16 inputs,
///        distinct datasets; PUBLISH takes exactly one).
/// @param computeNodes Exactly 3 distinct active members, or for PUBLISH exactly 1: the owner
///        of the single input.
/// @param resultRecipient The member whose node receives the result shares; column levels are
///        checked for it too when it is not the requester.
/// @param deadline Timestamp by which the job must be committed; in the future and within the
///        admin-set horizon.
/// @param feeCap Credits escrowed; at least the maximum fee.
/// @param subject Data subject hash (PUBLISH; consent must hold on every input).
/// @param purpose Purpose (PUBLISH).
/// @param paramsHash Hash of the job parameters, free-form.
struct JobRequest {
    uint8 kind;
    bytes32 programHash;
    string program;
    JobInput[] inputs;
    address[] computeNodes;
    address resultRecipient;
    uint64 deadline;
    uint256 feeCap;
    bytes32 subject;
    bytes32 purpose;
    bytes32 paramsHash;
}

/// @notice A job record as the `job` view returns it.
/// @param requester The member that asked (and pays).
/// @param kind Job kind.
/// @param status Current status.
/// @param inputCount Number of inputs.
/// @param nodeCount Number of compute nodes (3, or 1 for PUBLISH).
/// @param createdAt Block timestamp of the request.
/// @param deadline Deadline of the job.
/// @param committedAt Block timestamp of the last result commitment (0 before).
/// @param programHash The program's hash.
/// @param pendingAcceptances Bitmask of participants yet to accept: bit `i` (i < 16) is the
///        owner of input `i`, bit `16 + k` is compute node `k`.
/// @param pendingInputs Bitmask of inputs not yet committed.
/// @param pendingResults Bitmask of compute nodes that have not committed a result.
struct Job {
    address requester;
    uint8 kind;
    JobStatus status;
    uint8 inputCount;
    uint8 nodeCount;
    uint40 createdAt;
    uint40 deadline;
    uint40 committedAt;
    bytes32 programHash;
    uint32 pendingAcceptances;
    uint16 pendingInputs;
    uint8 pendingResults;
}

/// @notice One input of a job as the `inputs` view returns it. The input fingerprint is in the
///         `InputCommitted` event and bound by the job's commitment digest.
/// @param datasetId The dataset.
/// @param owner The dataset owner.
/// @param pricePerJob Credits per job (quoted at request time).
/// @param pricePerRow Credits per row used (quoted at request time).
/// @param rowsUsed Rows the owner committed to using (0 until committed).
/// @param committed Whether the owner committed the input.
struct JobInputRecord {
    uint256 datasetId;
    address owner;
    uint64 pricePerJob;
    uint64 pricePerRow;
    uint64 rowsUsed;
    bool committed;
}

/// @notice One compute node of a job as the `nodes` view returns it. The result commitment and
///         transcript hash are in the `ResultCommitted` event and bound by the job's commitment
///         digest.
/// @param account The node's member address.
/// @param computePrice Credits it is paid (quoted at request time).
/// @param accepted Whether it accepted.
/// @param resultCommitted Whether it committed its result.
struct JobNode {
    address account;
    uint64 computePrice;
    bool accepted;
    bool resultCommitted;
}

/// @notice An open or resolved dispute.
/// @param openedBy The requester or participant that opened it.
/// @param suspect The participant suspected of misbehaving (zero if unknown).
/// @param evidenceHash Hash of the evidence kept off chain.
/// @param openedAt Block timestamp of the dispute.
struct JobDispute {
    address openedBy;
    address suspect;
    bytes32 evidenceHash;
    uint40 openedAt;
}

/// @title IJobs
/// @notice The life of a computation: request (with escrow and grant use) → accept → input
///         commitments → result commitments → finalize (payout), or decline / expire (refund),
///         or dispute → resolve.
/// @dev Commitments: every `commitInput` and `commitResult` extends the job's commitment digest
///      `d` (zero before the first commitment), in chain order:
///        input:  d = keccak256(abi.encode(d, uint8(1), jobId, inputIndex, inputFingerprint, rowsUsed))
///        result: d = keccak256(abi.encode(d, uint8(2), jobId, nodeIndex, resultCommitment, transcriptHash))
///      The values themselves are in `InputCommitted` / `ResultCommitted`; folding those events
///      in log order must reproduce `commitmentDigest(jobId)`. Storing one digest instead of one
///      slot per commitment is what keeps a whole job lifecycle under 800,000 gas.
///      Participants of a job: its compute nodes and the owners of its inputs; a member with
///      both roles accepts once. `commitInput` implies acceptance for the committed input and,
///      when the owner is also a compute node, for all its roles. Once every result is committed the job can no longer expire: it is finalized
///      by the requester, or by any participant once the confirmation window has passed since
///      the last commitment, unless disputed.
interface IJobs {
    // ----------------------------------------------------------------------------------------
    // Errors: configuration and roles
    // ----------------------------------------------------------------------------------------

    /// @notice The caller lacks the admin role.
    /// @param caller The address that called.
    error JobsNotAdmin(address caller);

    /// @notice The caller holds neither the admin nor the regulator role.
    /// @param caller The address that called.
    error JobsNotAdminOrRegulator(address caller);

    /// @notice The caller is not an active member.
    /// @param caller The address that called.
    error JobsNotActiveMember(address caller);

    /// @notice Timings must be non-zero.
    /// @param maxDeadlineHorizon The horizon given.
    /// @param confirmationWindow The window given.
    error JobsInvalidTimings(uint64 maxDeadlineHorizon, uint64 confirmationWindow);

    // ----------------------------------------------------------------------------------------
    // Errors: request shape (checked before the policy)
    // ----------------------------------------------------------------------------------------

    /// @notice The job kind is not one of the six defined kinds (0..5).
    /// @param kind The value given.
    error JobsInvalidKind(uint8 kind);

    /// @notice The program hash is zero.
    error JobsZeroProgramHash();

    /// @notice The request has no input.
    error JobsNoInputs();

    /// @notice The request has more inputs than a job may have.
    /// @param inputCount Inputs given.
    /// @param maxInputs The limit.
    error JobsTooManyInputs(uint256 inputCount, uint256 maxInputs);

    /// @notice The same dataset appears twice among the inputs; list it once with all columns.
    /// @param datasetId The repeated dataset.
    error JobsDuplicateInput(uint256 datasetId);

    /// @notice A PUBLISH job takes exactly one input.
    /// @param inputCount Inputs given.
    error JobsPublishNeedsOneInput(uint256 inputCount);

    /// @notice Wrong number of compute nodes for the kind (3, or 1 for PUBLISH).
    /// @param kind The job kind.
    /// @param nodeCount Nodes given.
    /// @param expected Nodes required.
    error JobsWrongNodeCount(uint8 kind, uint256 nodeCount, uint256 expected);

    /// @notice A compute node is listed twice.
    /// @param node The repeated node.
    error JobsDuplicateNode(address node);

    /// @notice The result recipient is the zero address.
    error JobsZeroRecipient();

    /// @notice The deadline is not in the future.
    /// @param deadline The deadline given.
    /// @param currentTime The current block timestamp.
    error JobsDeadlineNotInFuture(uint256 deadline, uint256 currentTime);

    /// @notice The deadline is beyond the admin-set horizon.
    /// @param deadline The deadline given.
    /// @param latest The latest deadline allowed now.
    error JobsDeadlineBeyondHorizon(uint256 deadline, uint256 latest);

    // ----------------------------------------------------------------------------------------
    // Errors: request terms (checked after the policy)
    // ----------------------------------------------------------------------------------------

    /// @notice A compute node is not an active member.
    /// @param node The node.
    error JobsNodeNotActive(address node);

    /// @notice The compute node of a PUBLISH job must be the owner of its input.
    /// @param node The node given.
    /// @param owner The input's owner.
    error JobsPublishNodeNotOwner(address node, address owner);

    /// @notice The fee cap does not cover the maximum fee.
    /// @param feeCap The fee cap given.
    /// @param maxFee Sum over inputs of (price per job + price per row × row count) plus the
    ///        compute prices of the nodes.
    error JobsFeeCapBelowMaxFee(uint256 feeCap, uint256 maxFee);

    // ----------------------------------------------------------------------------------------
    // Errors: lifecycle
    // ----------------------------------------------------------------------------------------

    /// @notice No job has this id.
    /// @param jobId The id given.
    error JobsUnknownJob(uint256 jobId);

    /// @notice The job's status does not allow this action.
    /// @param jobId The job.
    /// @param status Its current status.
    error JobsWrongStatus(uint256 jobId, JobStatus status);

    /// @notice The job's deadline has passed.
    /// @param jobId The job.
    /// @param deadline Its deadline.
    /// @param currentTime The current block timestamp.
    error JobsDeadlinePassed(uint256 jobId, uint256 deadline, uint256 currentTime);

    /// @notice The job's deadline has not passed yet, so it cannot expire.
    /// @param jobId The job.
    /// @param deadline Its deadline.
    /// @param currentTime The current block timestamp.
    error JobsDeadlineNotReached(uint256 jobId, uint256 deadline, uint256 currentTime);

    /// @notice The caller is neither a compute node nor an input owner of the job.
    /// @param jobId The job.
    /// @param caller The address that called.
    error JobsNotParticipant(uint256 jobId, address caller);

    /// @notice The caller already accepted the job in every role it has.
    /// @param jobId The job.
    /// @param caller The address that called.
    error JobsAlreadyAccepted(uint256 jobId, address caller);

    /// @notice The caller is not a compute node of the job.
    /// @param jobId The job.
    /// @param caller The address that called.
    error JobsNotComputeNode(uint256 jobId, address caller);

    /// @notice The input index is beyond the job's inputs.
    /// @param jobId The job.
    /// @param inputIndex The index given.
    /// @param inputCount The job's input count.
    error JobsInputIndexOutOfRange(uint256 jobId, uint256 inputIndex, uint256 inputCount);

    /// @notice The caller does not own the dataset of this input.
    /// @param jobId The job.
    /// @param inputIndex The input.
    /// @param caller The address that called.
    /// @param owner The dataset's owner.
    error JobsNotInputOwner(uint256 jobId, uint256 inputIndex, address caller, address owner);

    /// @notice The input is already committed.
    /// @param jobId The job.
    /// @param inputIndex The input.
    error JobsInputAlreadyCommitted(uint256 jobId, uint256 inputIndex);

    /// @notice More rows declared than the dataset had when the job was requested.
    /// @param jobId The job.
    /// @param inputIndex The input.
    /// @param rowsUsed Rows declared.
    /// @param rowLimit The dataset's row count at request time.
    error JobsRowsUsedExceedLimit(uint256 jobId, uint256 inputIndex, uint256 rowsUsed, uint256 rowLimit);

    /// @notice A commitment, fingerprint or transcript hash is zero.
    error JobsZeroCommitment();

    /// @notice Result commitments need every input committed first.
    /// @param jobId The job.
    /// @param pendingInputs Bitmask of the inputs still uncommitted.
    error JobsInputsPending(uint256 jobId, uint16 pendingInputs);

    /// @notice The compute node already committed its result.
    /// @param jobId The job.
    /// @param node The node.
    error JobsResultAlreadyCommitted(uint256 jobId, address node);

    /// @notice Only the requester may finalize before the confirmation window has passed.
    /// @param jobId The job.
    /// @param caller The address that called.
    /// @param windowEndsAt When participants may finalize.
    error JobsConfirmationWindowOpen(uint256 jobId, address caller, uint256 windowEndsAt);

    /// @notice The caller is neither the requester nor a participant of the job.
    /// @param jobId The job.
    /// @param caller The address that called.
    error JobsNotRequesterOrParticipant(uint256 jobId, address caller);

    /// @notice The suspect named in a dispute is neither a participant nor the requester.
    /// @param jobId The job.
    /// @param suspect The address named.
    error JobsSuspectNotInvolved(uint256 jobId, address suspect);

    // ----------------------------------------------------------------------------------------
    // Events
    // ----------------------------------------------------------------------------------------

    /// @notice The admin set the job timings.
    /// @param maxDeadlineHorizon Longest allowed time between request and deadline, in seconds.
    /// @param confirmationWindow Time the requester has, after the last result commitment, to
    ///        finalize or dispute before participants may finalize, in seconds.
    /// @param admin The admin.
    event TimingsSet(uint64 maxDeadlineHorizon, uint64 confirmationWindow, address indexed admin);

    /// @notice A job was requested; carries the full request. The terms it was priced at (each
    ///         input's owner, version, row count and prices, each node's compute price) are the
    ///         DataCatalog and Consortium state at this event, so a rebuild from events knows
    ///         them; the `inputs` and `nodes` views return the prices too.
    /// @param jobId The new job id.
    /// @param requester The requester.
    /// @param request The full request.
    event JobRequested(uint256 indexed jobId, address indexed requester, JobRequest request);

    /// @notice A participant accepted the job (explicitly, or by committing an input).
    /// @param jobId The job.
    /// @param participant The participant.
    /// @param pendingAcceptances The acceptances still pending afterwards (bit `i` < 16: owner of
    ///        input `i`; bit `16 + k`: compute node `k`).
    event JobAccepted(uint256 indexed jobId, address indexed participant, uint32 pendingAcceptances);

    /// @notice Every participant accepted; the job is `Running`.
    /// @param jobId The job.
    event JobStarted(uint256 indexed jobId);

    /// @notice An input owner committed the fingerprint of the input it feeds into the job.
    /// @param jobId The job.
    /// @param inputIndex The input.
    /// @param owner The owner.
    /// @param fingerprint The input commitment (e.g. Merkle root over the rows used).
    /// @param rowsUsed Rows used (billed at the input's price per row).
    event InputCommitted(
        uint256 indexed jobId, uint256 indexed inputIndex, address indexed owner, bytes32 fingerprint, uint64 rowsUsed
    );

    /// @notice A compute node committed its result share and its transcript hash.
    /// @param jobId The job.
    /// @param nodeIndex The node's index in the request.
    /// @param node The node.
    /// @param resultCommitment `hash(share ‖ nonce)` of the node's result share.
    /// @param transcriptHash Hash over the node's link transcripts for this job.
    event ResultCommitted(
        uint256 indexed jobId,
        uint256 indexed nodeIndex,
        address indexed node,
        bytes32 resultCommitment,
        bytes32 transcriptHash
    );

    /// @notice Every compute node committed its result; the job is `Committed`.
    /// @param jobId The job.
    /// @param committedAt Block timestamp; the confirmation window starts here.
    event JobCommitted(uint256 indexed jobId, uint40 committedAt);

    /// @notice The job was finalized and paid out (see Billing's `Metered`).
    /// @param jobId The job.
    /// @param by The requester, or a participant after the confirmation window.
    event JobFinalized(uint256 indexed jobId, address indexed by);

    /// @notice A participant declined the job; the escrow was refunded.
    /// @param jobId The job.
    /// @param participant The participant.
    /// @param reason Why, in words.
    event JobDeclined(uint256 indexed jobId, address indexed participant, string reason);

    /// @notice The job was disputed; its escrow stays locked until an admin or regulator resolves.
    /// @param jobId The job.
    /// @param by The requester or participant that disputed.
    /// @param suspect The participant suspected (zero if unknown).
    /// @param evidenceHash Hash of the evidence kept off chain.
    event JobDisputed(uint256 indexed jobId, address indexed by, address indexed suspect, bytes32 evidenceHash);

    /// @notice A dispute was resolved.
    /// @param jobId The job.
    /// @param by The admin or regulator.
    /// @param refundedRequester True if the escrow went back to the requester; false if the
    ///        participants that did their part were paid and the rest refunded.
    event JobDisputeResolved(uint256 indexed jobId, address indexed by, bool refundedRequester);

    /// @notice The job expired unfinished after its deadline; the escrow was refunded.
    /// @param jobId The job.
    /// @param by Whoever called `expire`.
    event JobExpired(uint256 indexed jobId, address indexed by);

    // ----------------------------------------------------------------------------------------
    // Admin
    // ----------------------------------------------------------------------------------------

    /// @notice Set the deadline horizon and the confirmation window. Admin only.
    /// @param newMaxDeadlineHorizon Longest allowed time between request and deadline (s), non-zero.
    /// @param newConfirmationWindow Requester's time to finalize or dispute (s), non-zero.
    function setTimings(uint64 newMaxDeadlineHorizon, uint64 newConfirmationWindow) external;

    // ----------------------------------------------------------------------------------------
    // Requester
    // ----------------------------------------------------------------------------------------

    /// @notice Request a job: checks shape, policy (AccessPolicy), node status and fee; counts a
    ///         use against each grant; escrows `feeCap` from the caller's credits.
    /// @dev Reverts with the first failing check's custom error, which may come from this
    ///      contract (`Jobs*`), AccessPolicy (`AccessPolicy*`) or Billing
    ///      (`BillingInsufficientCredits`). WARNING: the whole `feeCap` is escrowed; the unused
    ///      part is refunded only when the job ends.
    /// @param jobRequest The request.
    /// @return jobId The new job id (a sequence starting at 1).
    function request(JobRequest calldata jobRequest) external returns (uint256 jobId);

    /// @notice Run every check `request` would run for `requester`, without changing state.
    /// @param requester The member that would call `request`.
    /// @param jobRequest The request.
    /// @return allowed Whether `request` would succeed.
    /// @return reason Empty if allowed; else the ABI-encoded custom error `request` would revert
    ///         with.
    /// @return maxFee The maximum fee (0 if a check before the quote failed).
    function checkRequest(address requester, JobRequest calldata jobRequest)
        external
        view
        returns (bool allowed, bytes memory reason, uint256 maxFee);

    /// @notice Finalize a `Committed` job: pays owners and nodes, refunds the rest. The requester
    ///         may call at any time; a participant once the confirmation window has passed.
    /// @param jobId The job.
    function finalize(uint256 jobId) external;

    // ----------------------------------------------------------------------------------------
    // Participants
    // ----------------------------------------------------------------------------------------

    /// @notice Accept a `Requested` job in every role the caller has in it (compute node and/or
    ///         input owner). The job becomes `Running` once every participant accepted.
    /// @param jobId The job.
    function accept(uint256 jobId) external;

    /// @notice Refuse a `Requested` job the caller has not accepted; refunds the escrow.
    /// @param jobId The job.
    /// @param reason Why, in words; recorded in the event.
    function decline(uint256 jobId, string calldata reason) external;

    /// @notice Commit the fingerprint of the data the caller feeds into input `inputIndex`, and
    ///         the rows used. Implies acceptance of this input and, when the caller is also a
    ///         compute node of the job, of its node role and of every input it owns.
    /// @param jobId The job (`Requested` or `Running`, before its deadline).
    /// @param inputIndex The input; the caller must own its dataset.
    /// @param inputFingerprint Commitment to the rows used (non-zero).
    /// @param rowsUsed Rows used, at most the dataset's row count at request time.
    function commitInput(uint256 jobId, uint256 inputIndex, bytes32 inputFingerprint, uint64 rowsUsed) external;

    /// @notice Commit the caller's result share and transcript hash; once per compute node.
    /// @param jobId The job (`Running`, every input committed, before its deadline).
    /// @param resultCommitment `hash(share ‖ nonce)`, non-zero.
    /// @param transcriptHash Hash over the node's link transcripts for this job, non-zero.
    function commitResult(uint256 jobId, bytes32 resultCommitment, bytes32 transcriptHash) external;

    /// @notice Dispute a `Running` or `Committed` job. Requester or participant.
    /// @param jobId The job.
    /// @param suspect The participant (or requester) suspected, or zero if unknown.
    /// @param evidenceHash Hash of the evidence kept off chain.
    function dispute(uint256 jobId, address suspect, bytes32 evidenceHash) external;

    // ----------------------------------------------------------------------------------------
    // Anyone / admin / regulator
    // ----------------------------------------------------------------------------------------

    /// @notice Expire a `Requested` or `Running` job after its deadline; refunds the escrow.
    ///         Anyone may call.
    /// @param jobId The job.
    function expire(uint256 jobId) external;

    /// @notice Resolve a `Disputed` job. Admin or regulator.
    /// @param jobId The job.
    /// @param refundRequester True: refund the whole escrow. False: pay the owners of committed
    ///        inputs and the nodes that committed results, as finalize would, and refund the rest.
    function resolveDispute(uint256 jobId, bool refundRequester) external;

    // ----------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------

    /// @notice The job record; reverts `JobsUnknownJob` if unknown.
    function job(uint256 jobId) external view returns (Job memory);

    /// @notice The job's status (`None` if unknown).
    function status(uint256 jobId) external view returns (JobStatus);

    /// @notice The job's inputs; reverts if unknown.
    function inputs(uint256 jobId) external view returns (JobInputRecord[] memory);

    /// @notice The job's compute nodes; reverts if unknown.
    function nodes(uint256 jobId) external view returns (JobNode[] memory);

    /// @notice The job's commitment digest over every input and result commitment so far (zero
    ///         before the first); see the contract notes for the formula.
    function commitmentDigest(uint256 jobId) external view returns (bytes32);

    /// @notice The dispute of a job (zero if never disputed).
    function disputeOf(uint256 jobId) external view returns (JobDispute memory);

    /// @notice The number of jobs requested (also the highest id).
    function jobCount() external view returns (uint256);

    /// @notice Longest allowed time between request and deadline, in seconds.
    function maxDeadlineHorizon() external view returns (uint64);

    /// @notice Requester's time to finalize or dispute after the last result commitment, in
    ///         seconds.
    function confirmationWindow() external view returns (uint64);

    /// @notice The maximum number of inputs of a job.
    function MAX_INPUTS() external view returns (uint256);
}
