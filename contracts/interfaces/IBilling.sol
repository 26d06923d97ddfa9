// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IBilling
/// @notice Prepaid credits (plain balances, not a token), escrow per job, and the payout of a
///         job to its data owners and compute nodes.
/// @dev The admin issues credits against off-chain payment and redeems them against off-chain
///      payout. Only the Jobs contract moves escrow. Payment follows work: every line Jobs passes
///      to `settle` is paid (Jobs only passes the commitments a member made while it was active,
///      since a suspended member can neither accept nor commit); the remainder is refunded.
///      Invariant: `totalIssued - totalRedeemed == sum(balances) + sum(open escrows)`.
interface IBilling {
    // ----------------------------------------------------------------------------------------
    // Errors
    // ----------------------------------------------------------------------------------------

    /// @notice The caller lacks the admin role.
    /// @param caller The address that called.
    error BillingNotAdmin(address caller);

    /// @notice The caller is not the Jobs contract.
    /// @param caller The address that called.
    error BillingNotJobsContract(address caller);

    /// @notice Credits can be issued only to an active member.
    /// @param account The account given.
    error BillingNotActiveMember(address account);

    /// @notice The amount is zero.
    error BillingZeroAmount();

    /// @notice The account holds fewer credits than required.
    /// @param account The account.
    /// @param balance Its balance.
    /// @param required The amount required.
    error BillingInsufficientCredits(address account, uint256 balance, uint256 required);

    /// @notice The job already has an escrow.
    /// @param jobId The job.
    error BillingEscrowExists(uint256 jobId);

    /// @notice The job has no open escrow (never opened, or already settled / refunded).
    /// @param jobId The job.
    error BillingNoEscrow(uint256 jobId);

    /// @notice The escrow amount does not fit the escrow record (2**96 - 1 credits).
    /// @param amount The amount asked.
    /// @param maxAmount The largest amount an escrow can hold.
    error BillingEscrowTooLarge(uint256 amount, uint256 maxAmount);

    /// @notice The payee and amount arrays differ in length.
    /// @param payeeCount Length of the payee array.
    /// @param amountCount Length of the amount array.
    error BillingLengthMismatch(uint256 payeeCount, uint256 amountCount);

    /// @notice The payouts add up to more than the escrow.
    /// @param jobId The job.
    /// @param total Sum of the payouts.
    /// @param escrowed The escrow.
    error BillingPayoutExceedsEscrow(uint256 jobId, uint256 total, uint256 escrowed);

    // ----------------------------------------------------------------------------------------
    // Events
    // ----------------------------------------------------------------------------------------

    /// @notice The admin issued credits.
    /// @param account The credited member.
    /// @param amount Credits issued.
    /// @param admin The admin.
    event CreditsIssued(address indexed account, uint256 amount, address indexed admin);

    /// @notice The admin redeemed (burnt) credits, e.g. against an off-chain payout.
    /// @param account The debited account.
    /// @param amount Credits redeemed.
    /// @param admin The admin.
    event CreditsRedeemed(address indexed account, uint256 amount, address indexed admin);

    /// @notice Credits moved from the payer's balance into a job's escrow.
    /// @param jobId The job.
    /// @param payer The requester.
    /// @param amount Credits escrowed.
    event Escrowed(uint256 indexed jobId, address indexed payer, uint256 amount);

    /// @notice A job's escrow was paid out: one line per data input and per compute node, and
    ///         the rest refunded to the payer.
    /// @param jobId The job.
    /// @param payer The requester.
    /// @param payees The account of each line (input owners first, then compute nodes).
    /// @param amounts What each line was paid (0 for an input or node that did not commit).
    /// @param refund Credits returned to the payer (escrow minus the sum of `amounts`).
    event Metered(uint256 indexed jobId, address indexed payer, address[] payees, uint256[] amounts, uint256 refund);

    /// @notice A job's whole escrow went back to the payer.
    /// @param jobId The job.
    /// @param payer The requester.
    /// @param amount Credits refunded.
    event Refunded(uint256 indexed jobId, address indexed payer, uint256 amount);

    // ----------------------------------------------------------------------------------------
    // Admin
    // ----------------------------------------------------------------------------------------

    /// @notice Issue `amount` credits to an active member. Admin only.
    /// @param account The member.
    /// @param amount Credits, non-zero.
    function issue(address account, uint256 amount) external;

    /// @notice Redeem (burn) `amount` credits of `account`. Admin only.
    /// @param account The account.
    /// @param amount Credits, non-zero, at most the balance.
    function redeem(address account, uint256 amount) external;

    // ----------------------------------------------------------------------------------------
    // Jobs contract
    // ----------------------------------------------------------------------------------------

    /// @notice Move `amount` from `payer`'s balance into the escrow of `jobId`. Jobs only.
    /// @param jobId The job, without an escrow yet.
    /// @param payer The requester.
    /// @param amount Credits, at most the payer's balance and below 2**96 (0 for a free job: the
    ///        escrow is still opened so that every job ends with `Metered` or `Refunded`).
    function escrow(uint256 jobId, address payer, uint256 amount) external;

    /// @notice Pay the escrow of `jobId` out to `payees` and refund the rest to the payer.
    ///         Jobs only.
    /// @param jobId The job.
    /// @param payees One account per line.
    /// @param amounts What each line is owed; the sum must not exceed the escrow.
    function settle(uint256 jobId, address[] calldata payees, uint256[] calldata amounts) external;

    /// @notice Return the whole escrow of `jobId` to the payer. Jobs only.
    /// @param jobId The job.
    function refund(uint256 jobId) external;

    // ----------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------

    /// @notice The credits `account` holds (escrowed credits excluded).
    function balanceOf(address account) external view returns (uint256);

    /// @notice The open escrow of `jobId` (zero payer and amount once settled or refunded).
    /// @return payer The requester.
    /// @return amount Credits escrowed.
    function escrowOf(uint256 jobId) external view returns (address payer, uint256 amount);

    /// @notice Credits ever issued.
    function totalIssued() external view returns (uint256);

    /// @notice Credits ever redeemed.
    function totalRedeemed() external view returns (uint256);
}
