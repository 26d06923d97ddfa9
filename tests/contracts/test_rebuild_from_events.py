"""A regulator rebuilds the whole state from events alone and finds every view agrees."""

from __future__ import annotations

from eth_account import Account

from tests.contracts.helpers import (
    AFTER_AGGREGATE,
    AFTER_COMPARE,
    ALL_KINDS,
    ENCRYPTED_ONLY,
    PLAINTEXT,
    PUBLISH,
    STATISTICS,
    ZERO_ADDRESS,
    h,
    job_input,
    schema_hash,
)
from tests.contracts.rebuild import Ledger, _key
from tests.contracts.scenario import NODE_PRICES, WINDOW, World

DAY = 86_400


def _signed_revocation(world: World, key: str, dataset_id: int, subject: bytes, purpose: bytes, deadline: int):
    domain = {"name": "Unseen AccessPolicy", "version": "1", "chainId": world.anvil.chain_id,
              "verifyingContract": world.d.policy.address}
    types = {"RevokeConsent": [
        {"name": "datasetId", "type": "uint256"}, {"name": "subject", "type": "bytes32"},
        {"name": "purpose", "type": "bytes32"}, {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"}]}
    message = {"datasetId": dataset_id, "subject": subject, "purpose": purpose, "nonce": 0, "deadline": deadline}
    return bytes(Account.sign_typed_data(key, domain, types, message).signature)


def _busy_consortium(world: World) -> dict:
    """Exercise every kind of state change; return the ids the checks need."""
    d, jobs = world.d, world.d.jobs.functions
    newcomer, subject_account = world.anvil.accounts[11].address, Account.create()

    # membership
    d.send(d.consortium.functions.admit(newcomer, "Reinsurer", "re.example:7443", h("tls-re"), 15), world.admin)
    d.send(d.consortium.functions.updateNode("node0b.example:7443", h("node0-key-2"), NODE_PRICES[0]), world.nodes[0])
    d.send(d.consortium.functions.updateMember(world.agency, "Agency (EU)", "eu.agency:7443", h("agency-2"), 3),
           world.admin)
    d.send(d.consortium.functions.suspend(world.agency, "audit"), world.regulator)
    d.send(d.consortium.functions.reinstate(world.agency), world.admin)
    d.send(d.billing.functions.issue(newcomer, 500), world.admin)
    d.send(d.consortium.functions.remove(newcomer, "withdrew"), world.admin)
    d.send(d.jobs.functions.setTimings(20 * DAY, 1_800), world.admin)

    # catalog
    names, types = ["policy_id", "premium", "start"], ["int64", "float64", "date"]
    d.send(d.catalog.functions.register("policies", names, types, schema_hash(names, types), 300, h("pol-v1"), 20, 1),
           world.insurer)
    policies = d.catalog.functions.datasetCount().call()
    d.send(d.catalog.functions.publishVersion(world.claims, h("claims-v2"), 1_000), world.insurer)
    d.send(d.catalog.functions.setPrices(world.visits, 60, 1), world.hospital)
    d.send(d.catalog.functions.deactivate(policies), world.insurer)
    d.send(d.catalog.functions.reactivate(policies), world.insurer)
    d.send(d.catalog.functions.freeze(policies, "review"), world.regulator)
    d.send(d.catalog.functions.unfreeze(policies), world.regulator)

    # policy
    policy = d.policy.functions
    d.send(policy.setColumnLevels(policies, ZERO_ADDRESS, [1, 2], [AFTER_AGGREGATE, AFTER_COMPARE]), world.insurer)
    d.send(policy.setColumnLevels(policies, world.bank, [1], [PLAINTEXT]), world.insurer)
    d.send(policy.clearColumnLevels(policies, world.bank, [1]), world.insurer)
    d.send(policy.setGrant(world.claims, world.bank, world.now() + 60 * DAY, 20, ALL_KINDS), world.insurer)
    d.send(policy.setGrant(policies, world.agency, world.now() + 9 * DAY, 4, 1 << STATISTICS), world.insurer)
    d.send(policy.setGrant(policies, world.hospital, world.now() + 9 * DAY, 0, ALL_KINDS), world.insurer)
    d.send(policy.revokeGrant(policies, world.hospital), world.insurer)
    d.send(policy.approveProgram(world.claims, h("rules-v1"), "old"), world.insurer)
    d.send(policy.revokeProgram(world.claims, h("rules-v1"), "superseded"), world.insurer)
    d.send(policy.approveProgram(world.claims, h("rules-v2"), "current"), world.insurer)
    subject, purpose = h("subject-1"), h("adjudication")
    d.send(policy.recordConsent(world.claims, subject, purpose, world.now() + 30 * DAY, h("form-1"), ZERO_ADDRESS),
           world.insurer)
    d.send(policy.recordConsent(world.claims, h("subject-2"), purpose, world.now() + 30 * DAY, h("form-2"),
                                ZERO_ADDRESS), world.insurer)
    d.send(policy.revokeConsent(world.claims, h("subject-2"), purpose), world.insurer)
    d.send(policy.recordConsent(world.claims, h("subject-3"), purpose, world.now() + 30 * DAY, h("form-3"),
                                subject_account.address), world.insurer)
    deadline = world.now() + DAY
    d.send(policy.revokeConsentBySignature(
        world.claims, h("subject-3"), purpose, deadline,
        _signed_revocation(world, subject_account.key.hex(), world.claims, h("subject-3"), purpose, deadline)),
        world.outsider)

    # jobs: finalized, declined, expired, disputed (refund and pay), open, publish, owner as node
    def ask(**overrides):
        return world.request(world.query_request(**{"fee_cap": 10_000, **overrides}))[0]

    finalized = ask()
    world.run_to_committed(finalized, rows_used=(1_000, 17))
    d.send(jobs.finalize(finalized), world.bank)
    declined = ask()
    d.send(jobs.accept(declined), world.nodes[0])
    d.send(jobs.decline(declined, "capacity"), world.nodes[1])
    refunded = ask()
    world.run_to_committed(refunded)
    d.send(jobs.dispute(refunded, world.nodes[2], h("bad share")), world.bank)
    d.send(jobs.resolveDispute(refunded, True), world.regulator)
    paid = ask()
    for node in world.nodes:
        d.send(jobs.accept(paid), node)
    d.send(jobs.commitInput(paid, 0, h("p0"), 3), world.insurer)
    d.send(jobs.commitInput(paid, 1, h("p1"), 4), world.hospital)
    d.send(jobs.commitResult(paid, h("pr"), h("pt")), world.nodes[1])
    d.send(jobs.dispute(paid, ZERO_ADDRESS, h("silent nodes")), world.nodes[1])
    d.send(jobs.resolveDispute(paid, False), world.admin)
    owner_node = ask(nodes=[world.hospital, world.nodes[1], world.nodes[2]])
    d.send(jobs.accept(owner_node), world.nodes[1])
    d.send(jobs.commitInput(owner_node, 1, h("own"), 9), world.hospital)
    d.send(jobs.accept(owner_node), world.insurer)
    d.send(jobs.accept(owner_node), world.nodes[2])  # now Running, inputs half committed
    disputed = ask()
    world.run_to_committed(disputed)
    d.send(jobs.dispute(disputed, ZERO_ADDRESS, h("late confirmation")), world.bank)
    publish = ask(kind=PUBLISH, inputs=[job_input(world.claims, [(1, ENCRYPTED_ONLY)])], nodes=[world.insurer],
                  program_hash=h("rules-v2"), subject=subject, purpose=purpose)
    d.send(jobs.commitInput(publish, 0, h("one row"), 1), world.insurer)
    d.send(jobs.commitResult(publish, h("decision"), h("local")), world.insurer)
    waiting = ask()  # stays Requested: one node accepted so far
    d.send(jobs.accept(waiting), world.nodes[2])
    expiring = ask(deadline=world.now() + 3_600)
    world.anvil.advance_time(3_700)
    d.send(jobs.expire(expiring), world.agency)
    world.anvil.advance_time(WINDOW)
    d.send(d.billing.functions.redeem(world.nodes[2], 25), world.admin)
    return {"datasets": [world.claims, world.visits, policies], "jobs": d.jobs.functions.jobCount().call(),
            "extra_accounts": [newcomer, subject_account.address]}


def test_wholeStateRebuiltFromEventsMatchesEveryView(world: World) -> None:
    ids = _busy_consortium(world)
    d = world.d
    ledger = Ledger().fold(d.all_events())
    cs = d.w3.to_checksum_address
    consortium, catalog, policy, billing, jobs = (d.consortium.functions, d.catalog.functions, d.policy.functions,
                                                 d.billing.functions, d.jobs.functions)

    # Consortium: members, their order (= member index), fingerprints, roles
    assert [_key(a) for a in consortium.members().call()] == ledger.member_order
    for account, member in ledger.members.items():
        record = consortium.member(cs(account)).call()
        assert (record.name, record.endpoint, record.tlsFingerprint, record.computePrice, record.status,
                record.admittedAt) == (member.name, member.endpoint, member.fingerprint, member.compute_price,
                                       member.status, member.admitted_at), account
        assert consortium.memberTerms(cs(account)).call().index == member.index
        assert _key(consortium.memberByFingerprint(member.fingerprint).call()) == ledger.fingerprint_holder(
            member.fingerprint)
    everyone = {_key(a.address) for a in world.anvil.accounts} | {_key(d.jobs.address)}
    for role, holders in ledger.roles.items():
        assert {a for a in everyone if consortium.hasRole(role, cs(a)).call()} == holders, role.hex()

    # DataCatalog
    assert catalog.datasetCount().call() == len(ledger.datasets)
    for dataset_id, dataset in ledger.datasets.items():
        record = catalog.dataset(dataset_id).call()
        assert (_key(record.owner), record.name, record.schemaHash, record.columnCount, record.version,
                record.rowCount, record.fingerprint, record.pricePerJob, record.pricePerRow, record.active,
                record.frozen, record.registeredAt, record.updatedAt) == (
            dataset.owner, dataset.name, dataset.schema_hash, len(dataset.column_names), dataset.version,
            dataset.row_count, dataset.fingerprint, dataset.price_per_job, dataset.price_per_row, dataset.active,
            dataset.frozen, dataset.registered_at, dataset.updated_at), dataset_id
        for index, name in enumerate(dataset.column_names):
            assert catalog.columnIndex(dataset_id, name).call() == index
    for owner in {ds.owner for ds in ledger.datasets.values()}:
        assert catalog.datasetsOf(cs(owner)).call() == [i for i, ds in ledger.datasets.items() if ds.owner == owner]

    # AccessPolicy: every level of every party on every column, grants, programs, consents, nonces
    parties = [_key(m) for m in world.members] + [ZERO_ADDRESS]
    for dataset_id, dataset in ledger.datasets.items():
        for column in range(len(dataset.column_names)):
            for party in parties:
                stored = ledger.levels.get((dataset_id, party, column))
                assert tuple(policy.columnLevel(dataset_id, column, cs(party)).call()) == (
                    (stored, True) if stored is not None else (0, False))
                assert policy.effectiveLevel(dataset_id, column, cs(party)).call() == ledger.effective_level(
                    dataset_id, column, party)
    for (dataset_id, grantee), grant in ledger.grants.items():
        assert list(policy.grant(dataset_id, cs(grantee)).call()) == grant, (dataset_id, grantee)
    for (dataset_id, program), approved in ledger.programs.items():
        assert policy.isProgramApproved(dataset_id, program).call() == approved
    for (dataset_id, subject, purpose), consent in ledger.consents.items():
        record = policy.consent(dataset_id, subject, purpose).call()
        assert [record.expiry, record.revoked, record.recorded, _key(record.subjectAccount),
                record.evidenceHash] == consent
    for account in ids["extra_accounts"]:
        assert policy.nonces(account).call() == ledger.nonces.get(_key(account), 0)

    # Billing: every balance, every escrow, totals
    for account in everyone | set(ledger.balances):
        assert billing.balanceOf(cs(account)).call() == ledger.balances.get(account, 0), account
    for job_id in range(1, ids["jobs"] + 1):
        payer, amount = ledger.escrows.get(job_id, (ZERO_ADDRESS, 0))
        assert tuple(billing.escrowOf(job_id).call()) == (payer if payer == ZERO_ADDRESS else
                                                          d.w3.to_checksum_address(payer), amount)
    assert (billing.totalIssued().call(), billing.totalRedeemed().call()) == (ledger.total_issued,
                                                                               ledger.total_redeemed)

    # Jobs: records, inputs, nodes, digests, disputes, timings
    assert jobs.jobCount().call() == len(ledger.jobs) == ids["jobs"]
    assert (jobs.maxDeadlineHorizon().call(), jobs.confirmationWindow().call()) == ledger.timings
    statuses = set()
    for job_id, job in ledger.jobs.items():
        record = jobs.job(job_id).call()
        statuses.add(job.status)
        assert (_key(record.requester), record.kind, record.status, record.inputCount, record.nodeCount,
                record.createdAt, record.deadline, record.committedAt, record.programHash,
                record.pendingAcceptances, record.pendingInputs, record.pendingResults) == (
            job.requester, job.kind, job.status, len(job.input_datasets), len(job.nodes), job.created_at,
            job.deadline, job.committed_at, job.program_hash, job.pending_acceptances, job.pending_inputs,
            job.pending_results), job_id
        inputs = jobs.inputs(job_id).call()
        assert [(i.datasetId, _key(i.owner), i.pricePerJob, i.pricePerRow, i.rowsUsed, i.committed)
                for i in inputs] == [
            (ds, owner, ppj, ppr, rows, not job.pending_inputs & (1 << i))
            for i, (ds, owner, ppj, ppr, rows) in enumerate(zip(
                job.input_datasets, job.input_owners, job.prices_per_job, job.prices_per_row, job.rows_used,
                strict=True))]
        nodes = jobs.nodes(job_id).call()
        assert [(_key(n.account), n.computePrice, n.accepted, n.resultCommitted) for n in nodes] == [
            (node, price, not job.pending_acceptances & (1 << (16 + k)), not job.pending_results & (1 << k))
            for k, (node, price) in enumerate(zip(job.nodes, job.node_prices, strict=True))]
        assert jobs.commitmentDigest(job_id).call() == job.digest
        dispute = jobs.disputeOf(job_id).call()
        assert (_key(dispute.openedBy), _key(dispute.suspect), dispute.evidenceHash, dispute.openedAt) == job.dispute
    assert statuses == set(range(1, 9)), f"the scenario should reach every status, reached {sorted(statuses)}"
