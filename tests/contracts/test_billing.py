"""Billing: credits issued and redeemed by the admin, escrow moved only by the Jobs role."""

from __future__ import annotations

import pytest

from tests.contracts.helpers import ZERO_ADDRESS
from tests.contracts.scenario import BANK_CREDITS, MEMBER_CREDITS, World


@pytest.fixture
def stand_in(world: World) -> str:
    """A dev account given JOBS_ROLE, to drive Billing's escrow functions directly."""
    account = world.anvil.accounts[16].address
    d = world.d
    d.send(d.consortium.functions.grantRole(d.consortium.functions.JOBS_ROLE().call(), account), world.admin)
    return account


def test_issue_creditsActiveMember(world: World) -> None:
    d = world.d
    receipt = d.send(d.billing.functions.issue(world.agency, 250), world.admin)
    d.expect_events(receipt, [("CreditsIssued", {"account": world.agency, "amount": 250, "admin": world.admin})])
    assert d.billing.functions.balanceOf(world.agency).call() == MEMBER_CREDITS + 250


def test_issue_revertsWhen_callerNotAdmin(world: World) -> None:
    world.d.expect_revert(world.d.billing.functions.issue(world.bank, 1), world.bank, "BillingNotAdmin", world.bank)


def test_issue_revertsWhen_accountNotActiveMember(world: World) -> None:
    world.d.expect_revert(world.d.billing.functions.issue(world.outsider, 1), world.admin,
                          "BillingNotActiveMember", world.outsider)


def test_issue_revertsWhen_amountZero(world: World) -> None:
    world.d.expect_revert(world.d.billing.functions.issue(world.bank, 0), world.admin, "BillingZeroAmount")


def test_redeem_burnsCredits(world: World) -> None:
    d = world.d
    receipt = d.send(d.billing.functions.redeem(world.hospital, 400), world.admin)
    d.expect_events(receipt, [("CreditsRedeemed", {"account": world.hospital, "amount": 400, "admin": world.admin})])
    assert d.billing.functions.balanceOf(world.hospital).call() == MEMBER_CREDITS - 400
    assert d.billing.functions.totalRedeemed().call() == 400


def test_redeem_revertsWhen_balanceTooLow(world: World) -> None:
    world.d.expect_revert(world.d.billing.functions.redeem(world.hospital, MEMBER_CREDITS + 1), world.admin,
                          "BillingInsufficientCredits", world.hospital, MEMBER_CREDITS, MEMBER_CREDITS + 1)


def test_redeem_revertsWhen_amountZero(world: World) -> None:
    world.d.expect_revert(world.d.billing.functions.redeem(world.hospital, 0), world.admin, "BillingZeroAmount")


def test_escrow_revertsWhen_callerNotJobsContract(world: World) -> None:
    world.d.expect_revert(world.d.billing.functions.escrow(1, world.bank, 1), world.bank,
                          "BillingNotJobsContract", world.bank)


def test_settleAndRefund_revertWhen_callerNotJobsContract(world: World) -> None:
    billing = world.d.billing.functions
    world.d.expect_revert(billing.settle(1, [], []), world.admin, "BillingNotJobsContract", world.admin)
    world.d.expect_revert(billing.refund(1), world.admin, "BillingNotJobsContract", world.admin)


def test_escrow_revertsWhen_jobAlreadyHasEscrow(world: World, stand_in: str) -> None:
    d = world.d
    receipt = d.send(d.billing.functions.escrow(900, world.bank, 10), stand_in)
    d.expect_events(receipt, [("Escrowed", {"jobId": 900, "payer": world.bank, "amount": 10})])
    d.expect_revert(d.billing.functions.escrow(900, world.bank, 10), stand_in, "BillingEscrowExists", 900)


def test_escrow_ofZeroIsRecordedForFreeJobs(world: World, stand_in: str) -> None:
    d = world.d
    d.send(d.billing.functions.escrow(901, world.bank, 0), stand_in)
    assert tuple(d.billing.functions.escrowOf(901).call()) == (world.bank, 0)
    receipt = d.send(d.billing.functions.settle(901, [world.nodes[0]], [0]), stand_in)
    d.expect_events(receipt, [("Metered", {"jobId": 901, "payer": world.bank, "amounts": [0], "refund": 0})])


def test_settle_revertsWhen_noEscrow(world: World, stand_in: str) -> None:
    world.d.expect_revert(world.d.billing.functions.settle(902, [], []), stand_in, "BillingNoEscrow", 902)
    world.d.expect_revert(world.d.billing.functions.refund(902), stand_in, "BillingNoEscrow", 902)


def test_settle_revertsWhen_lengthsDiffer(world: World, stand_in: str) -> None:
    world.d.expect_revert(world.d.billing.functions.settle(1, [world.bank], [1, 2]), stand_in,
                          "BillingLengthMismatch", 1, 2)


def test_settle_revertsWhen_payoutsExceedEscrow(world: World, stand_in: str) -> None:
    d = world.d
    d.send(d.billing.functions.escrow(903, world.bank, 100), stand_in)
    d.expect_revert(d.billing.functions.settle(903, [world.nodes[0], world.nodes[1]], [60, 41]), stand_in,
                    "BillingPayoutExceedsEscrow", 903, 101, 100)


def test_settle_closesEscrowSoItCannotBePaidTwice(world: World, stand_in: str) -> None:
    d = world.d
    d.send(d.billing.functions.escrow(904, world.bank, 100), stand_in)
    d.send(d.billing.functions.settle(904, [world.nodes[0]], [60]), stand_in)
    assert d.billing.functions.balanceOf(world.bank).call() == BANK_CREDITS - 60
    d.expect_revert(d.billing.functions.settle(904, [world.nodes[0]], [60]), stand_in, "BillingNoEscrow", 904)


def test_supplyInvariant_holdsAcrossJobs(world: World) -> None:
    """issued - redeemed == sum of balances + sum of open escrows, after every kind of ending."""
    d = world.d
    finished, _ = world.request()
    world.run_to_committed(finished)
    d.send(d.jobs.functions.finalize(finished), world.bank)
    declined, _ = world.request()
    d.send(d.jobs.functions.decline(declined, "busy"), world.nodes[0])
    open_job, _ = world.request()
    d.send(d.billing.functions.redeem(world.nodes[1], 10), world.admin)
    balances = sum(d.billing.functions.balanceOf(m).call() for m in world.members)
    escrows = sum(d.billing.functions.escrowOf(j).call().amount for j in (finished, declined, open_job))
    issued = d.billing.functions.totalIssued().call()
    assert issued == BANK_CREDITS + 6 * MEMBER_CREDITS
    assert issued - d.billing.functions.totalRedeemed().call() == balances + escrows
    assert d.billing.functions.escrowOf(finished).call().payer == ZERO_ADDRESS
