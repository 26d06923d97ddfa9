"""Consortium: admission, self-service, suspension, removal, roles and the views jobs rely on."""

from __future__ import annotations

from web3 import Web3

from tests.contracts.helpers import (
    MEMBER_ACTIVE,
    MEMBER_NONE,
    MEMBER_REMOVED,
    MEMBER_SUSPENDED,
    ZERO_ADDRESS,
    h,
)
from tests.contracts.scenario import NODE_PRICES, World


def _spare(world: World, n: int = 0) -> str:
    """A funded dev account that is not a member (accounts 10..19)."""
    return world.anvil.accounts[10 + n].address


def _admit(world: World, account: str, name: str = "Newcomer", fingerprint: bytes | None = None):
    return world.d.send(world.d.consortium.functions.admit(
        account, name, "new.example:7443", fingerprint or h(f"tls-{account}"), 25), world.admin)


# -- admission -----------------------------------------------------------------------------


def test_admit_recordsMemberAndEmitsEvents(world: World) -> None:
    d, newcomer = world.d, _spare(world)
    count = d.consortium.functions.memberCount().call()
    receipt = _admit(world, newcomer, fingerprint=h("new-key"))
    member_role = d.consortium.functions.MEMBER_ROLE().call()
    d.expect_events(receipt, [
        ("RoleGranted", {"role": member_role, "account": newcomer, "sender": world.admin}),
        ("MemberAdmitted", {"account": newcomer, "name": "Newcomer", "endpoint": "new.example:7443",
                            "tlsFingerprint": h("new-key"), "computePrice": 25, "admin": world.admin}),
    ])
    record = d.consortium.functions.member(newcomer).call()
    assert (record.name, record.endpoint, record.tlsFingerprint, record.computePrice, record.status) == (
        "Newcomer", "new.example:7443", h("new-key"), 25, MEMBER_ACTIVE)
    assert record.admittedAt == d.events(receipt)[1]["admittedAt"] > 0
    assert d.consortium.functions.isActiveMember(newcomer).call()
    assert d.consortium.functions.hasRole(member_role, newcomer).call()
    assert tuple(d.consortium.functions.memberTerms(newcomer).call()) == (MEMBER_ACTIVE, count, 25)
    assert d.consortium.functions.membersAt([count]).call() == [newcomer]
    assert d.consortium.functions.members().call()[-1] == newcomer
    assert d.consortium.functions.memberByFingerprint(h("new-key")).call() == newcomer


def test_admit_revertsWhen_callerNotAdmin(world: World) -> None:
    world.d.expect_revert(world.d.consortium.functions.admit(_spare(world), "X", "x:1", h("x"), 0),
                          world.regulator, "ConsortiumNotAdmin", world.regulator)


def test_admit_revertsWhen_zeroAddress(world: World) -> None:
    world.d.expect_revert(world.d.consortium.functions.admit(ZERO_ADDRESS, "X", "x:1", h("x"), 0),
                          world.admin, "ConsortiumZeroAddress")


def test_admit_revertsWhen_alreadyMember(world: World) -> None:
    world.d.expect_revert(world.d.consortium.functions.admit(world.bank, "Bank", "x:1", h("x"), 0),
                          world.admin, "ConsortiumAlreadyMember", world.bank, MEMBER_ACTIVE)


def test_admit_revertsWhen_nameEmpty(world: World) -> None:
    account = _spare(world)
    world.d.expect_revert(world.d.consortium.functions.admit(account, "", "x:1", h("x"), 0),
                          world.admin, "ConsortiumEmptyName", account)


def test_admit_revertsWhen_endpointEmpty(world: World) -> None:
    account = _spare(world)
    world.d.expect_revert(world.d.consortium.functions.admit(account, "X", "", h("x"), 0),
                          world.admin, "ConsortiumEmptyEndpoint", account)


def test_admit_revertsWhen_fingerprintZero(world: World) -> None:
    account = _spare(world)
    world.d.expect_revert(world.d.consortium.functions.admit(account, "X", "x:1", b"\0" * 32, 0),
                          world.admin, "ConsortiumZeroFingerprint", account)


def test_admit_revertsWhen_fingerprintHeldByAnotherMember(world: World) -> None:
    account = _spare(world)
    world.d.expect_revert(world.d.consortium.functions.admit(account, "X", "x:1", h("tls-Bank"), 0),
                          world.admin, "ConsortiumFingerprintInUse", h("tls-Bank"), world.bank)


def test_admit_revertsWhen_everyMemberIndexIsTaken(world: World) -> None:
    d = world.d
    count = d.consortium.functions.memberCount().call()
    # Find the storage slot of the member counter by its value, then prove it is that slot.
    slot = next(i for i in range(16)
                if int.from_bytes(d.w3.eth.get_storage_at(d.consortium.address, i), "big") == count)
    limit = d.consortium.functions.MAX_MEMBERS().call()
    world.anvil.rpc("anvil_setStorageAt", [d.consortium.address, hex(slot), "0x" + limit.to_bytes(32, "big").hex()])
    assert d.consortium.functions.memberCount().call() == limit == 2**16 - 1
    d.expect_revert(d.consortium.functions.admit(_spare(world), "X", "x:1", h("x"), 0),
                    world.admin, "ConsortiumFull", limit)


# -- updates -------------------------------------------------------------------------------


def test_updateMember_replacesRecordAndReleasesOldFingerprint(world: World) -> None:
    d = world.d
    receipt = d.send(d.consortium.functions.updateMember(world.agency, "Agency Two", "agency2:7443",
                                                         h("agency-key-2"), 7), world.admin)
    d.expect_events(receipt, [("MemberUpdated", {
        "account": world.agency, "name": "Agency Two", "endpoint": "agency2:7443",
        "tlsFingerprint": h("agency-key-2"), "computePrice": 7, "by": world.admin})])
    assert d.consortium.functions.memberByFingerprint(h("tls-Agency")).call() == ZERO_ADDRESS
    assert d.consortium.functions.memberByFingerprint(h("agency-key-2")).call() == world.agency
    assert tuple(d.consortium.functions.activeComputePrice(world.agency).call()) == (True, 7)


def test_updateMember_revertsWhen_notAMember(world: World) -> None:
    world.d.expect_revert(
        world.d.consortium.functions.updateMember(world.outsider, "X", "x:1", h("x"), 0), world.admin,
        "ConsortiumNotMember", world.outsider, MEMBER_NONE)


def test_updateNode_letsMemberRotateItsKeyAndPrice(world: World) -> None:
    d, node = world.d, world.nodes[0]
    receipt = d.send(d.consortium.functions.updateNode("node0b.example:7443", h("node0-key-2"), 99), node)
    d.expect_events(receipt, [("MemberUpdated", {
        "account": node, "name": "Node One", "endpoint": "node0b.example:7443",
        "tlsFingerprint": h("node0-key-2"), "computePrice": 99, "by": node})])
    assert d.consortium.functions.member(node).call().computePrice == 99


def test_updateNode_allowedWhileSuspended(world: World) -> None:
    d, node = world.d, world.nodes[0]
    d.send(d.consortium.functions.suspend(node, "key compromise"), world.regulator)
    d.send(d.consortium.functions.updateNode("node0c.example:7443", h("node0-key-3"), NODE_PRICES[0]), node)
    assert d.consortium.functions.member(node).call().tlsFingerprint == h("node0-key-3")


def test_updateNode_revertsWhen_callerNotAMember(world: World) -> None:
    world.d.expect_revert(world.d.consortium.functions.updateNode("x:1", h("x"), 0), world.outsider,
                          "ConsortiumNotMember", world.outsider, MEMBER_NONE)


def test_updateNode_revertsWhen_fingerprintHeldByAnotherMember(world: World) -> None:
    world.d.expect_revert(world.d.consortium.functions.updateNode("x:1", h("tls-Bank"), 0), world.agency,
                          "ConsortiumFingerprintInUse", h("tls-Bank"), world.bank)


# -- suspension, reinstatement, removal ----------------------------------------------------


def test_suspend_byRegulator_revokesMemberRole(world: World) -> None:
    d = world.d
    receipt = d.send(d.consortium.functions.suspend(world.agency, "late reporting"), world.regulator)
    d.expect_events(receipt, [
        ("RoleRevoked", {"role": d.consortium.functions.MEMBER_ROLE().call(), "account": world.agency}),
        ("MemberSuspended", {"account": world.agency, "by": world.regulator, "reason": "late reporting"}),
    ])
    assert d.consortium.functions.memberStatus(world.agency).call() == MEMBER_SUSPENDED
    assert not d.consortium.functions.isActiveMember(world.agency).call()
    assert tuple(d.consortium.functions.activeComputePrice(world.agency).call()) == (False, 0)


def test_suspend_revertsWhen_callerNeitherAdminNorRegulator(world: World) -> None:
    world.d.expect_revert(world.d.consortium.functions.suspend(world.agency, "x"), world.bank,
                          "ConsortiumNotAdminOrRegulator", world.bank)


def test_suspend_revertsWhen_memberNotActive(world: World) -> None:
    d = world.d
    d.send(d.consortium.functions.suspend(world.agency, "first"), world.admin)
    d.expect_revert(d.consortium.functions.suspend(world.agency, "again"), world.admin,
                    "ConsortiumMemberNotActive", world.agency, MEMBER_SUSPENDED)


def test_reinstate_restoresActiveStatusAndRole(world: World) -> None:
    d = world.d
    d.send(d.consortium.functions.suspend(world.agency, "audit"), world.regulator)
    receipt = d.send(d.consortium.functions.reinstate(world.agency), world.admin)
    d.expect_events(receipt, [("RoleGranted", {"account": world.agency}),
                              ("MemberReinstated", {"account": world.agency, "admin": world.admin})])
    assert d.consortium.functions.isActiveMember(world.agency).call()


def test_reinstate_revertsWhen_callerIsRegulator(world: World) -> None:
    d = world.d
    d.send(d.consortium.functions.suspend(world.agency, "audit"), world.regulator)
    d.expect_revert(d.consortium.functions.reinstate(world.agency), world.regulator,
                    "ConsortiumNotAdmin", world.regulator)


def test_reinstate_revertsWhen_memberNotSuspended(world: World) -> None:
    world.d.expect_revert(world.d.consortium.functions.reinstate(world.agency), world.admin,
                          "ConsortiumMemberNotSuspended", world.agency, MEMBER_ACTIVE)


def test_remove_isTerminalAndReleasesFingerprint(world: World) -> None:
    d = world.d
    receipt = d.send(d.consortium.functions.remove(world.agency, "left the consortium"), world.admin)
    d.expect_events(receipt, [
        ("RoleRevoked", {"account": world.agency}),
        ("MemberRemoved", {"account": world.agency, "admin": world.admin, "reason": "left the consortium"}),
    ])
    assert d.consortium.functions.memberStatus(world.agency).call() == MEMBER_REMOVED
    d.expect_revert(d.consortium.functions.admit(world.agency, "Agency", "x:1", h("y"), 0), world.admin,
                    "ConsortiumAlreadyMember", world.agency, MEMBER_REMOVED)
    d.expect_revert(d.consortium.functions.remove(world.agency, "again"), world.admin,
                    "ConsortiumNotMember", world.agency, MEMBER_REMOVED)
    _admit(world, _spare(world), fingerprint=h("tls-Agency"))  # the fingerprint is free again


# -- roles ---------------------------------------------------------------------------------


def test_memberRole_revertsWhen_grantedRevokedOrRenouncedDirectly(world: World) -> None:
    d = world.d
    role = d.consortium.functions.MEMBER_ROLE().call()
    d.expect_revert(d.consortium.functions.grantRole(role, world.outsider), world.admin,
                    "ConsortiumMemberRoleManagedByAdmission")
    d.expect_revert(d.consortium.functions.revokeRole(role, world.bank), world.admin,
                    "ConsortiumMemberRoleManagedByAdmission")
    d.expect_revert(d.consortium.functions.renounceRole(role, world.bank), world.bank,
                    "ConsortiumMemberRoleManagedByAdmission")


def test_regulatorRole_grantedByAdminOnly(world: World) -> None:
    d = world.d
    role = d.consortium.functions.REGULATOR_ROLE().call()
    d.expect_revert(d.consortium.functions.grantRole(role, world.bank), world.bank,
                    "AccessControlUnauthorizedAccount", world.bank, b"\0" * 32)
    d.send(d.consortium.functions.grantRole(role, world.bank), world.admin)
    assert d.consortium.functions.isRegulator(world.bank).call()
    assert d.consortium.functions.isAdmin(world.admin).call() and not d.consortium.functions.isAdmin(world.bank).call()
    assert d.consortium.functions.isJobsContract(d.jobs.address).call()


def test_membersAt_revertsWhen_indexUnknown(world: World) -> None:
    count = world.d.consortium.functions.memberCount().call()
    world.d.expect_call_revert(world.d.consortium.functions.membersAt([0, count]),
                               "ConsortiumUnknownMemberIndex", count, count)


def test_memberTermsOf_readsSeveralMembersAtOnce(world: World) -> None:
    terms = world.d.consortium.functions.memberTermsOf([world.nodes[1], world.outsider]).call()
    assert (terms[0].status, terms[0].computePrice) == (MEMBER_ACTIVE, NODE_PRICES[1])
    assert (terms[1].status, terms[1].index, terms[1].computePrice) == (MEMBER_NONE, 0, 0)
    assert Web3.is_checksum_address(world.d.consortium.functions.membersAt([terms[0].index]).call()[0])
