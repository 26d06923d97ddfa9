"""The typed client: a whole job through the wrappers, views as dataclasses and enums."""

from __future__ import annotations

from collections.abc import Callable

from eth_utils import keccak

from offchain.chain.client import (
    ZERO_ADDRESS,
    ChainClient,
    Dataset,
    Job,
    JobInput,
    JobRequest,
    Member,
    fold_input_commitment,
    fold_result_commitment,
)
from offchain.chain.models import ConstraintLevel, JobKind, JobStatus, MemberStatus
from offchain.chain.rpc import Rpc, to_int


def _now(rpc: Rpc) -> int:
    return to_int(rpc.request("eth_getBlockByNumber", "latest", False)["timestamp"])


def _register(owner: ChainClient, name: str, rows: int) -> int:
    receipt = owner.catalog.register(name, ["customer", "amount"], ["string", "int64"], rows,
                                     keccak(text=name), 20, 1).transact()
    return next(e.args["datasetId"] for e in owner.events(receipt) if e.name == "DatasetRegistered")


def test_member_and_dataset_views_are_dataclasses(client_for: Callable[[int], ChainClient]) -> None:
    owner = client_for(1)
    dataset_id = _register(owner, "loans", 500)

    member = owner.consortium.member(owner.address)
    dataset = owner.catalog.dataset(dataset_id)

    assert isinstance(member, Member) and member.status is MemberStatus.ACTIVE
    assert member.name == "Northbank" and member.endpoint == "127.0.0.1:7101"
    assert isinstance(dataset, Dataset)
    assert (dataset.owner, dataset.name, dataset.row_count, dataset.column_count) == (
        owner.address, "loans", 500, 2)
    assert owner.catalog.datasets_of(owner.address) == [dataset_id]
    assert owner.catalog.column_index(dataset_id, "amount") == 1


def test_a_query_job_from_request_to_payout(rpc: Rpc, client_for: Callable[[int], ChainClient]) -> None:
    bank, insurer, hospital, credit_union = (client_for(i) for i in (1, 2, 3, 4))
    loans = _register(bank, "loans", 1_000)
    claims = _register(insurer, "claims", 400)
    for owner, dataset_id in ((bank, loans), (insurer, claims)):
        owner.transact_all([
            owner.access_policy.set_grant(dataset_id, hospital.address, _now(rpc) + 86_400, 5,
                                          [JobKind.QUERY, JobKind.STATISTICS]),
            owner.access_policy.set_column_levels(dataset_id, ZERO_ADDRESS, [0, 1], [
                ConstraintLevel.ENCRYPTED_ONLY, ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE]),
        ])
    assert bank.access_policy.effective_level(loans, 1, hospital.address) is \
        ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE
    grant = bank.access_policy.grant(loans, hospital.address)
    assert grant.kinds == {JobKind.QUERY, JobKind.STATISTICS} and grant.active

    nodes = (bank.address, insurer.address, credit_union.address)
    request = JobRequest(
        kind=JobKind.QUERY, program_hash=keccak(text="join-count"), program="join-count",
        inputs=(JobInput(loans, (0, 1), (ConstraintLevel.ENCRYPTED_ONLY,
                                         ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE)),
                JobInput(claims, (0,), (ConstraintLevel.ENCRYPTED_ONLY,))),
        compute_nodes=nodes, result_recipient=hospital.address,
        deadline=_now(rpc) + 3_600, fee_cap=0,
    )
    max_fee = hospital.jobs.quote(hospital.address, request)
    # owners: 20 per job + 1 per row; nodes: 10 + 10 + 8 (compute prices of the example file)
    assert max_fee == (20 + 1_000) + (20 + 400) + 28
    request = JobRequest(**{**request.__dict__, "fee_cap": max_fee})
    assert hospital.jobs.check_request(hospital.address, request) == max_fee
    balance_before = hospital.billing.balance_of(hospital.address)

    receipt = hospital.jobs.request(request).transact()
    requested = next(e for e in hospital.events(receipt) if e.name == "JobRequested")
    job_id = requested.args["jobId"]
    assert requested.args["request"]["computeNodes"] == list(nodes)
    assert hospital.billing.escrow_of(job_id) == (hospital.address, max_fee)
    assert hospital.jobs.status(job_id) is JobStatus.REQUESTED

    for node in (bank, insurer, credit_union):
        node.jobs.accept(job_id).transact()
    assert hospital.jobs.status(job_id) is JobStatus.RUNNING
    receipts = [
        bank.jobs.commit_input(job_id, 0, keccak(text="loans-used"), 800).transact(),
        insurer.jobs.commit_input(job_id, 1, keccak(text="claims-used"), 400).transact(),
    ]
    for index, node in enumerate((bank, insurer, credit_union)):
        receipts.append(node.jobs.commit_result(job_id, keccak(text=f"share-{index}"),
                                                keccak(text=f"transcript-{index}")).transact())
    assert hospital.jobs.status(job_id) is JobStatus.COMMITTED
    digest = b"\x00" * 32
    for event in (e for receipt in receipts for e in hospital.events(receipt)):
        if event.name == "InputCommitted":
            digest = fold_input_commitment(digest, job_id, event.args["inputIndex"],
                                           event.args["fingerprint"], event.args["rowsUsed"])
        elif event.name == "ResultCommitted":
            digest = fold_result_commitment(digest, job_id, event.args["nodeIndex"],
                                            event.args["resultCommitment"],
                                            event.args["transcriptHash"])
    assert digest == hospital.jobs.commitment_digest(job_id)
    hospital.jobs.finalize(job_id).transact()

    job = hospital.jobs.job(job_id)
    assert isinstance(job, Job)
    assert (job.status, job.kind, job.requester) == (JobStatus.FINALIZED, JobKind.QUERY,
                                                     hospital.address)
    assert [record.rows_used for record in hospital.jobs.inputs(job_id)] == [800, 400]
    assert all(node.result_committed for node in hospital.jobs.nodes(job_id))
    charged = (20 + 800) + (20 + 400) + 28
    assert hospital.billing.balance_of(hospital.address) == balance_before - charged
    assert [j.job_id for j in hospital.jobs.jobs()] == list(range(1, job_id + 1))


def test_role_names_render_the_roles_the_contracts_define(client_for) -> None:
    from offchain.chain.render import ROLE_NAMES

    admin = client_for(0)
    for name in ("REGULATOR_ROLE", "MEMBER_ROLE", "JOBS_ROLE"):
        role_id = admin.consortium._call(name)
        assert ROLE_NAMES[bytes(role_id)] == name
