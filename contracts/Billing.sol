// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IBilling} from "./interfaces/IBilling.sol";
import {IConsortium} from "./interfaces/IConsortium.sol";

/// @title Billing
/// @notice Prepaid credits, per-job escrow and payouts.
/// @dev An escrow record packs payer and amount in one slot (amount < 2**96), so opening one
///      costs a single new storage slot and closing it frees that slot.
contract Billing is IBilling, ReentrancyGuardTransient {
    struct EscrowRecord {
        address payer;
        uint96 amount;
    }

    IConsortium private immutable _consortium;

    mapping(address account => uint256) private _balances;
    mapping(uint256 jobId => EscrowRecord) private _escrows;
    uint256 private _totalIssued;
    uint256 private _totalRedeemed;

    modifier onlyAdmin() {
        _checkAdmin(msg.sender);
        _;
    }

    modifier onlyJobsContract() {
        _checkJobsContract(msg.sender);
        _;
    }

    /// @param consortium The Consortium that says who is admin, member and the Jobs contract.
    constructor(IConsortium consortium) {
        _consortium = consortium;
    }

    // ----------------------------------------------------------------------------------------
    // Admin
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IBilling
    function issue(address account, uint256 amount) external onlyAdmin nonReentrant {
        if (amount == 0) revert BillingZeroAmount();
        if (!_consortium.isActiveMember(account)) revert BillingNotActiveMember(account);
        _issue(account, amount);
    }

    /// @inheritdoc IBilling
    function redeem(address account, uint256 amount) external onlyAdmin nonReentrant {
        if (amount == 0) revert BillingZeroAmount();
        uint256 balance = _balances[account];
        if (balance < amount) revert BillingInsufficientCredits(account, balance, amount);
        _redeem(account, amount);
    }

    // ----------------------------------------------------------------------------------------
    // Jobs contract
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IBilling
    function escrow(uint256 jobId, address payer, uint256 amount) external onlyJobsContract nonReentrant {
        if (amount > type(uint96).max) revert BillingEscrowTooLarge(amount, type(uint96).max);
        if (_escrows[jobId].payer != address(0)) revert BillingEscrowExists(jobId);
        uint256 balance = _balances[payer];
        if (balance < amount) revert BillingInsufficientCredits(payer, balance, amount);
        _openEscrow(jobId, payer, amount);
    }

    /// @inheritdoc IBilling
    function settle(uint256 jobId, address[] calldata payees, uint256[] calldata amounts)
        external
        onlyJobsContract
        nonReentrant
    {
        if (payees.length != amounts.length) revert BillingLengthMismatch(payees.length, amounts.length);
        EscrowRecord memory record = _escrows[jobId];
        if (record.payer == address(0)) revert BillingNoEscrow(jobId);
        uint256 total;
        for (uint256 i; i < amounts.length; ++i) {
            total += amounts[i];
        }
        if (total > record.amount) revert BillingPayoutExceedsEscrow(jobId, total, record.amount);
        _settle(jobId, record, payees, amounts, total);
    }

    /// @inheritdoc IBilling
    function refund(uint256 jobId) external onlyJobsContract nonReentrant {
        EscrowRecord memory record = _escrows[jobId];
        if (record.payer == address(0)) revert BillingNoEscrow(jobId);
        _refund(jobId, record);
    }

    // ----------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------

    /// @inheritdoc IBilling
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    /// @inheritdoc IBilling
    function escrowOf(uint256 jobId) external view returns (address payer, uint256 amount) {
        EscrowRecord memory record = _escrows[jobId];
        return (record.payer, record.amount);
    }

    /// @inheritdoc IBilling
    function totalIssued() external view returns (uint256) {
        return _totalIssued;
    }

    /// @inheritdoc IBilling
    function totalRedeemed() external view returns (uint256) {
        return _totalRedeemed;
    }

    // ----------------------------------------------------------------------------------------
    // Checks
    // ----------------------------------------------------------------------------------------

    function _checkAdmin(address caller) internal view virtual {
        if (!_consortium.isAdmin(caller)) revert BillingNotAdmin(caller);
    }

    function _checkJobsContract(address caller) internal view virtual {
        if (!_consortium.isJobsContract(caller)) revert BillingNotJobsContract(caller);
    }

    // ----------------------------------------------------------------------------------------
    // State changes (each emits its event)
    // ----------------------------------------------------------------------------------------

    function _issue(address account, uint256 amount) private {
        _balances[account] += amount;
        _totalIssued += amount;
        emit CreditsIssued(account, amount, msg.sender);
    }

    function _redeem(address account, uint256 amount) private {
        _balances[account] -= amount;
        _totalRedeemed += amount;
        emit CreditsRedeemed(account, amount, msg.sender);
    }

    function _openEscrow(uint256 jobId, address payer, uint256 amount) private {
        _balances[payer] -= amount;
        _escrows[jobId] = EscrowRecord({payer: payer, amount: uint96(amount)});
        emit Escrowed(jobId, payer, amount);
    }

    /// @dev `total` is the checked sum of `amounts` (at most the escrow).
    function _settle(
        uint256 jobId,
        EscrowRecord memory record,
        address[] calldata payees,
        uint256[] calldata amounts,
        uint256 total
    ) private {
        delete _escrows[jobId];
        for (uint256 i; i < payees.length; ++i) {
            if (amounts[i] != 0) _balances[payees[i]] += amounts[i];
        }
        uint256 refundAmount = record.amount - total;
        if (refundAmount != 0) _balances[record.payer] += refundAmount;
        emit Metered(jobId, record.payer, payees, amounts, refundAmount);
    }

    function _refund(uint256 jobId, EscrowRecord memory record) private {
        delete _escrows[jobId];
        _balances[record.payer] += record.amount;
        emit Refunded(jobId, record.payer, record.amount);
    }
}
