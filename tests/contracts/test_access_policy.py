"""AccessPolicy: column levels, grants, programs, consent (incl. EIP-712 revocation), checks."""

from __future__ import annotations

import itertools
import random

from eth_account import Account

from tests.contracts.helpers import (
    AFTER_AGGREGATE,
    AFTER_COMPARE,
    AFTER_JOIN,
    ALL_KINDS,
    ENCRYPTED_ONLY,
    PLAINTEXT,
    QUERY,
    STATISTICS,
    ZERO_ADDRESS,
    expect_reason,
    h,
    job_input,
    schema_hash,
)
from tests.contracts.scenario import World

DAY = 86_400


def _permits(granted: int, required: int) -> bool:
    return granted == PLAINTEXT or required == ENCRYPTED_ONLY or granted == required


def test_permits_matchesTheCclRuleForEveryPair(world: World) -> None:
    policy = world.d.policy.functions
    for granted, required in itertools.product(range(6), repeat=2):
        assert policy.permits(granted, required).call() == _permits(granted, required), (granted, required)


# -- column levels --------------------------------------------------------------------------


def test_setColumnLevels_storesLevelsAndEmitsThem(world: World) -> None:
    d = world.d
    receipt = d.send(d.policy.functions.setColumnLevels(world.claims, world.agency, [3, 1],
                                                        [AFTER_COMPARE, PLAINTEXT]), world.insurer)
    d.expect_events(receipt, [("ColumnLevelsSet", {"datasetId": world.claims, "grantee": world.agency,
                                                   "columns": [3, 1], "levels": [AFTER_COMPARE, PLAINTEXT]})])
    assert tuple(d.policy.functions.columnLevel(world.claims, 3, world.agency).call()) == (AFTER_COMPARE, True)
    assert tuple(d.policy.functions.columnLevel(world.claims, 1, world.agency).call()) == (PLAINTEXT, True)
    assert tuple(d.policy.functions.columnLevel(world.claims, 0, world.agency).call()) == (0, False)


def test_effectiveLevel_fallsBackFromGranteeToAllMembersToEncryptedOnly(world: World) -> None:
    d = world.d
    policy = d.policy.functions
    d.send(policy.setColumnLevels(world.visits, world.bank, [1], [PLAINTEXT]), world.hospital)
    assert policy.effectiveLevel(world.visits, 1, world.bank).call() == PLAINTEXT            # own entry
    assert policy.effectiveLevel(world.visits, 0, world.bank).call() == AFTER_JOIN           # all members
    assert policy.effectiveLevel(world.visits, 2, world.bank).call() == ENCRYPTED_ONLY       # nothing set
    assert policy.effectiveLevel(world.visits, 2, world.hospital).call() == PLAINTEXT        # the owner
    receipt = d.send(policy.clearColumnLevels(world.visits, world.bank, [1]), world.hospital)
    d.expect_events(receipt, [("ColumnLevelsCleared", {"datasetId": world.visits, "grantee": world.bank,
                                                       "columns": [1]})])
    assert policy.effectiveLevel(world.visits, 1, world.bank).call() == AFTER_AGGREGATE


def test_levels_packedAcrossWordsMatchAModel(world: World) -> None:
    """130 columns span three 64-column words; random entries for three parties match a model."""
    d = world.d
    names = [f"c{i}" for i in range(130)]
    types = ["int64"] * 130
    d.send(d.catalog.functions.register("wide", names, types, schema_hash(names, types), 5, h("wide"), 0, 0),
           world.insurer)
    wide = d.catalog.functions.datasetCount().call()
    rng = random.Random(20240611)
    parties = [world.bank, world.agency, ZERO_ADDRESS]
    model: dict[tuple[str, int], int] = {}
    for party in parties:
        columns = rng.sample(range(130), 40)
        levels = [rng.randrange(6) for _ in columns]
        d.send(d.policy.functions.setColumnLevels(wide, party, columns, levels), world.insurer)
        model.update({(party, c): lv for c, lv in zip(columns, levels, strict=True)})
    cleared = rng.sample([c for (p, c) in model if p == world.bank], 10)
    d.send(d.policy.functions.clearColumnLevels(wide, world.bank, cleared), world.insurer)
    for column in cleared:
        del model[(world.bank, column)]
    for party, column in itertools.product(parties, range(130)):
        expected = model.get((party, column), model.get((ZERO_ADDRESS, column), ENCRYPTED_ONLY))
        assert d.policy.functions.effectiveLevel(wide, column, party).call() == expected, (party, column)


def test_setColumnLevels_revertsWhen_callerNotOwner(world: World) -> None:
    world.d.expect_revert(world.d.policy.functions.setColumnLevels(world.claims, world.bank, [0], [PLAINTEXT]),
                          world.bank, "AccessPolicyNotDatasetOwner", world.claims, world.bank, world.insurer)


def test_setColumnLevels_revertsWhen_datasetUnknown(world: World) -> None:
    world.d.expect_revert(world.d.policy.functions.setColumnLevels(42, world.bank, [0], [PLAINTEXT]),
                          world.insurer, "AccessPolicyNotDatasetOwner", 42, world.insurer, ZERO_ADDRESS)


def test_setColumnLevels_revertsWhen_ownerSuspended(world: World) -> None:
    d = world.d
    d.send(d.consortium.functions.suspend(world.insurer, "audit"), world.regulator)
    d.expect_revert(d.policy.functions.setColumnLevels(world.claims, world.bank, [0], [PLAINTEXT]),
                    world.insurer, "AccessPolicyNotActiveMember", world.insurer)


def test_setColumnLevels_revertsWhen_granteeIsOwner(world: World) -> None:
    world.d.expect_revert(world.d.policy.functions.setColumnLevels(world.claims, world.insurer, [0], [PLAINTEXT]),
                          world.insurer, "AccessPolicyGranteeIsOwner", world.claims, world.insurer)


def test_setColumnLevels_revertsWhen_arraysDifferInLength(world: World) -> None:
    world.d.expect_revert(world.d.policy.functions.setColumnLevels(world.claims, world.bank, [0, 1], [PLAINTEXT]),
                          world.insurer, "AccessPolicyColumnLevelsLengthMismatch", world.claims, 2, 1)


def test_setColumnLevels_revertsWhen_columnOutOfRange(world: World) -> None:
    world.d.expect_revert(world.d.policy.functions.setColumnLevels(world.claims, world.bank, [4], [PLAINTEXT]),
                          world.insurer, "AccessPolicyColumnOutOfRange", world.claims, 4, 4)


def test_setColumnLevels_revertsWhen_levelInvalid(world: World) -> None:
    world.d.expect_revert(world.d.policy.functions.setColumnLevels(world.claims, world.bank, [0], [6]),
                          world.insurer, "AccessPolicyInvalidLevel", 6)


def test_clearColumnLevels_revertsWhen_columnOutOfRange(world: World) -> None:
    world.d.expect_revert(world.d.policy.functions.clearColumnLevels(world.claims, world.bank, [9]),
                          world.insurer, "AccessPolicyColumnOutOfRange", world.claims, 9, 4)


# -- grants ---------------------------------------------------------------------------------


def test_setGrant_createsGrantWithZeroUses(world: World) -> None:
    d = world.d
    expiry = world.now() + 10 * DAY
    receipt = d.send(d.policy.functions.setGrant(world.claims, world.agency, expiry, 3, 1 << STATISTICS),
                     world.insurer)
    d.expect_events(receipt, [("GrantSet", {"datasetId": world.claims, "grantee": world.agency, "expiry": expiry,
                                            "maxUses": 3, "allowedKinds": 1 << STATISTICS})])
    assert tuple(d.policy.functions.grant(world.claims, world.agency).call()) == (expiry, 3, 0, 1 << STATISTICS, True)


def test_setGrant_replacingAGrantRestartsItsUses(world: World) -> None:
    d = world.d
    world.request()
    assert d.policy.functions.grant(world.claims, world.bank).call().uses == 1
    d.send(d.policy.functions.setGrant(world.claims, world.bank, world.now() + DAY, 2, ALL_KINDS), world.insurer)
    assert d.policy.functions.grant(world.claims, world.bank).call().uses == 0


def test_setGrant_revertsWhen_expiryNotInFuture(world: World) -> None:
    d = world.d
    past = world.now() - 1
    d.expect_revert(d.policy.functions.setGrant(world.claims, world.agency, past, 1, ALL_KINDS), world.insurer,
                    "AccessPolicyExpiryNotInFuture", past, ...)


def test_setGrant_revertsWhen_kindMaskHasUnknownBits(world: World) -> None:
    d = world.d
    d.expect_revert(d.policy.functions.setGrant(world.claims, world.agency, world.now() + DAY, 1, 0x40),
                    world.insurer, "AccessPolicyInvalidKindMask", 0x40)


def test_setGrant_revertsWhen_granteeIsOwner(world: World) -> None:
    d = world.d
    d.expect_revert(d.policy.functions.setGrant(world.claims, world.insurer, world.now() + DAY, 1, ALL_KINDS),
                    world.insurer, "AccessPolicyGranteeIsOwner", world.claims, world.insurer)


def test_revokeGrant_deactivatesGrant(world: World) -> None:
    d = world.d
    receipt = d.send(d.policy.functions.revokeGrant(world.claims, world.bank), world.insurer)
    d.expect_events(receipt, [("GrantRevoked", {"datasetId": world.claims, "grantee": world.bank})])
    assert not d.policy.functions.grant(world.claims, world.bank).call().active
    d.expect_revert(d.policy.functions.revokeGrant(world.claims, world.bank), world.insurer,
                    "AccessPolicyGrantNotActive", world.claims, world.bank)


# -- programs -------------------------------------------------------------------------------


def test_approveAndRevokeProgram(world: World) -> None:
    d = world.d
    program = h("fraud-model-v3")
    receipt = d.send(d.policy.functions.approveProgram(world.claims, program, "review #17"), world.insurer)
    d.expect_events(receipt, [("ProgramApproved", {"datasetId": world.claims, "programHash": program,
                                                   "note": "review #17"})])
    assert d.policy.functions.isProgramApproved(world.claims, program).call()
    d.expect_revert(d.policy.functions.approveProgram(world.claims, program, "again"), world.insurer,
                    "AccessPolicyProgramAlreadyApproved", world.claims, program)
    receipt = d.send(d.policy.functions.revokeProgram(world.claims, program, "superseded"), world.insurer)
    d.expect_events(receipt, [("ProgramRevoked", {"datasetId": world.claims, "programHash": program,
                                                  "note": "superseded"})])
    d.expect_revert(d.policy.functions.revokeProgram(world.claims, program, "again"), world.insurer,
                    "AccessPolicyProgramNotApproved", world.claims, program)


def test_approveProgram_revertsWhen_hashZero(world: World) -> None:
    world.d.expect_revert(world.d.policy.functions.approveProgram(world.claims, b"\0" * 32, ""), world.insurer,
                          "AccessPolicyZeroProgramHash")


# -- consent --------------------------------------------------------------------------------

SUBJECT, PURPOSE = h("salted-subject-7"), h("claims-adjudication")


def _record_consent(world: World, subject_account: str = ZERO_ADDRESS, expiry: int | None = None):
    d = world.d
    expiry = expiry or world.now() + 30 * DAY
    return d.send(d.policy.functions.recordConsent(world.claims, SUBJECT, PURPOSE, expiry, h("signed-form"),
                                                   subject_account), world.insurer), expiry


def test_recordConsent_storesRecordAndEmitsIt(world: World) -> None:
    d = world.d
    subject = Account.create().address
    receipt, expiry = _record_consent(world, subject)
    d.expect_events(receipt, [("ConsentRecorded", {"datasetId": world.claims, "subject": SUBJECT, "purpose": PURPOSE,
                                                   "expiry": expiry, "evidenceHash": h("signed-form"),
                                                   "subjectAccount": subject})])
    record = d.policy.functions.consent(world.claims, SUBJECT, PURPOSE).call()
    assert tuple(record) == (expiry, False, True, subject, h("signed-form"))


def test_recordConsent_revertsWhen_subjectOrPurposeZero(world: World) -> None:
    d = world.d
    d.expect_revert(d.policy.functions.recordConsent(world.claims, b"\0" * 32, PURPOSE, world.now() + DAY,
                                                     h("e"), ZERO_ADDRESS), world.insurer,
                    "AccessPolicyZeroSubjectOrPurpose", b"\0" * 32, PURPOSE)


def test_recordConsent_revertsWhen_expiryNotInFuture(world: World) -> None:
    d = world.d
    d.expect_revert(d.policy.functions.recordConsent(world.claims, SUBJECT, PURPOSE, 1, h("e"), ZERO_ADDRESS),
                    world.insurer, "AccessPolicyExpiryNotInFuture", 1, ...)


def test_revokeConsent_byOwner(world: World) -> None:
    d = world.d
    _record_consent(world)
    receipt = d.send(d.policy.functions.revokeConsent(world.claims, SUBJECT, PURPOSE), world.insurer)
    d.expect_events(receipt, [("ConsentRevoked", {"datasetId": world.claims, "subject": SUBJECT,
                                                  "purpose": PURPOSE, "by": world.insurer,
                                                  "bySignature": False})])
    assert d.policy.functions.consent(world.claims, SUBJECT, PURPOSE).call().revoked
    d.expect_revert(d.policy.functions.revokeConsent(world.claims, SUBJECT, PURPOSE), world.insurer,
                    "AccessPolicyConsentAlreadyRevoked", world.claims, SUBJECT, PURPOSE)


def test_revokeConsent_bySubjectAccountDirectly(world: World) -> None:
    d = world.d
    subject = world.anvil.accounts[12].address
    _record_consent(world, subject)
    receipt = d.send(d.policy.functions.revokeConsent(world.claims, SUBJECT, PURPOSE), subject)
    d.expect_events(receipt, [("ConsentRevoked", {"by": subject, "bySignature": False})])


def test_revokeConsent_revertsWhen_callerNeitherOwnerNorSubject(world: World) -> None:
    d = world.d
    _record_consent(world, world.anvil.accounts[12].address)
    d.expect_revert(d.policy.functions.revokeConsent(world.claims, SUBJECT, PURPOSE), world.bank,
                    "AccessPolicyNotConsentRevoker", world.claims, SUBJECT, PURPOSE, world.bank)


def test_revokeConsent_revertsWhen_notRecorded(world: World) -> None:
    world.d.expect_revert(world.d.policy.functions.revokeConsent(world.claims, SUBJECT, PURPOSE), world.insurer,
                          "AccessPolicyConsentNotRecorded", world.claims, SUBJECT, PURPOSE)


def _revocation_signature(world: World, key: str, nonce: int, deadline: int) -> bytes:
    domain = {"name": "Unseen AccessPolicy", "version": "1", "chainId": world.anvil.chain_id,
              "verifyingContract": world.d.policy.address}
    types = {"RevokeConsent": [
        {"name": "datasetId", "type": "uint256"}, {"name": "subject", "type": "bytes32"},
        {"name": "purpose", "type": "bytes32"}, {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"}]}
    message = {"datasetId": world.claims, "subject": SUBJECT, "purpose": PURPOSE, "nonce": nonce,
               "deadline": deadline}
    return bytes(Account.sign_typed_data(key, domain, types, message).signature)


def test_revokeConsentBySignature_anyoneSubmitsTheSubjectsSignature(world: World) -> None:
    d = world.d
    subject = Account.create()
    _record_consent(world, subject.address)
    deadline = world.now() + DAY
    signature = _revocation_signature(world, subject.key.hex(), 0, deadline)
    receipt = d.send(d.policy.functions.revokeConsentBySignature(world.claims, SUBJECT, PURPOSE, deadline,
                                                                 signature), world.outsider)
    d.expect_events(receipt, [("ConsentRevoked", {"by": subject.address, "bySignature": True})])
    assert d.policy.functions.nonces(subject.address).call() == 1


def test_revokeConsentBySignature_revertsWhen_signatureReplayedOnReRecordedConsent(world: World) -> None:
    d = world.d
    subject = Account.create()
    _record_consent(world, subject.address)
    deadline = world.now() + DAY
    signature = _revocation_signature(world, subject.key.hex(), 0, deadline)
    call = d.policy.functions.revokeConsentBySignature(world.claims, SUBJECT, PURPOSE, deadline, signature)
    d.send(call, world.outsider)
    _record_consent(world, subject.address)  # consent given again: the old signature must not revoke it
    d.expect_revert(call, world.outsider, "AccessPolicyInvalidSignature", ..., subject.address)


def test_revokeConsentBySignature_revertsWhen_signedByAnotherKey(world: World) -> None:
    d = world.d
    subject, intruder = Account.create(), Account.create()
    _record_consent(world, subject.address)
    deadline = world.now() + DAY
    signature = _revocation_signature(world, intruder.key.hex(), 0, deadline)
    d.expect_revert(d.policy.functions.revokeConsentBySignature(world.claims, SUBJECT, PURPOSE, deadline, signature),
                    world.outsider, "AccessPolicyInvalidSignature", intruder.address, subject.address)


def test_revokeConsentBySignature_revertsWhen_deadlinePassed(world: World) -> None:
    d = world.d
    subject = Account.create()
    _record_consent(world, subject.address)
    deadline = world.now() - 1
    signature = _revocation_signature(world, subject.key.hex(), 0, deadline)
    d.expect_revert(d.policy.functions.revokeConsentBySignature(world.claims, SUBJECT, PURPOSE, deadline, signature),
                    world.outsider, "AccessPolicySignatureExpired", deadline, ...)


def test_revokeConsentBySignature_revertsWhen_noSubjectAccount(world: World) -> None:
    d = world.d
    _record_consent(world)
    d.expect_revert(d.policy.functions.revokeConsentBySignature(world.claims, SUBJECT, PURPOSE, world.now() + DAY,
                                                                b"\1" * 65),
                    world.outsider, "AccessPolicyNoSubjectAccount", world.claims, SUBJECT, PURPOSE)


# -- request checks (view) ------------------------------------------------------------------


def _check(world: World, requester: str, kind: int = QUERY, inputs=None, recipient: str = ZERO_ADDRESS,
           program: bytes = b"\1" * 32, subject: bytes = b"\0" * 32, purpose: bytes = b"\0" * 32):
    inputs = inputs or [job_input(world.claims, [(1, AFTER_AGGREGATE)])]
    return world.d.policy.functions.checkRequest(requester, recipient, kind, program, inputs, subject,
                                                 purpose).call()


def test_checkRequest_allowsAValidRequest(world: World) -> None:
    allowed, reason = _check(world, world.bank)
    assert allowed and reason == b""


def test_checkRequest_returnsTheErrorRequestWouldRevertWith(world: World) -> None:
    allowed, reason = _check(world, world.bank, kind=9)
    assert not allowed
    expect_reason(reason, "AccessPolicyInvalidKind", 9)
    allowed, reason = _check(world, world.bank, inputs=[job_input(world.claims, [(1, PLAINTEXT)])])
    expect_reason(reason, "AccessPolicyLevelNotPermitted", world.claims, 1, world.bank, AFTER_AGGREGATE, PLAINTEXT)


def test_checkRequest_ownerHasPlaintextAndNeedsNoGrant(world: World) -> None:
    allowed, _ = _check(world, world.insurer, inputs=[job_input(world.claims, [(0, PLAINTEXT), (3, PLAINTEXT)])])
    assert allowed


def test_checkRequest_recipientLevelsCheckedToo(world: World) -> None:
    # The agency holds no level of its own on claims: a result it receives may reveal nothing.
    allowed, reason = _check(world, world.bank, recipient=world.agency)
    expect_reason(reason, "AccessPolicyLevelNotPermitted", world.claims, 1, world.agency, ENCRYPTED_ONLY,
                  AFTER_AGGREGATE)
    allowed, _ = _check(world, world.bank, recipient=world.agency,
                        inputs=[job_input(world.claims, [(1, ENCRYPTED_ONLY)])])
    assert allowed


def test_checkRequest_allMembersGrantUsedWhenNoOwnGrant(world: World) -> None:
    allowed, _ = _check(world, world.agency, kind=STATISTICS,
                        inputs=[job_input(world.visits, [(1, AFTER_AGGREGATE)])])
    assert allowed
    allowed, reason = _check(world, world.agency, kind=QUERY, inputs=[job_input(world.visits)])
    assert allowed


def test_checkRequest_zeroKindGrantExcludesOneMemberFromAllMembersGrant(world: World) -> None:
    d = world.d
    d.send(d.policy.functions.setGrant(world.visits, world.agency, world.now() + DAY, 0, 0), world.hospital)
    allowed, reason = _check(world, world.agency, kind=STATISTICS, inputs=[job_input(world.visits)])
    expect_reason(reason, "AccessPolicyKindNotAllowed", world.visits, world.agency, STATISTICS, 0)


def test_consume_revertsWhen_callerNotJobsContract(world: World) -> None:
    world.d.expect_revert(
        world.d.policy.functions.consume(1, world.bank, ZERO_ADDRESS, QUERY, b"\1" * 32, [job_input(world.claims)],
                                         b"\0" * 32, b"\0" * 32),
        world.bank, "AccessPolicyNotJobsContract", world.bank)


def test_consume_revertsWithInvalidKind_whenCalledByAJobsRoleHolder(world: World) -> None:
    """Jobs refuses bad kinds first; a direct JOBS_ROLE caller still meets the policy's own check."""
    d = world.d
    stand_in = world.anvil.accounts[15].address
    d.send(d.consortium.functions.grantRole(d.consortium.functions.JOBS_ROLE().call(), stand_in), world.admin)
    d.expect_revert(d.policy.functions.consume(1, world.bank, ZERO_ADDRESS, 7, b"\1" * 32, [job_input(world.claims)],
                                               b"\0" * 32, b"\0" * 32),
                    stand_in, "AccessPolicyInvalidKind", 7)
