"""Failures end to end: changed data, crashed and absent nodes, a cheating node, a regulator's freeze.

Every test here runs real node processes against a real anvil; faults are
injected by restarting one node under ``tests/e2e/faulty_node.py``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator

import pytest

from offchain.chain.models import JobStatus
from offchain.client.datasets import register_dataset
from offchain.client.requester import default_service_call
from offchain.client.trail import job_trail
from offchain.data.store import LocalStore
from offchain.demo.data import plaintext
from offchain.errors import JobDeclined, JobExpired, ServiceRefused, ShareMismatch
from offchain.lending.program import multi_lending_text
from offchain.node.catalog import ChainCatalog
from offchain.stats.program import statistics_text
from tests.e2e.world import OTHERS, REQUESTER, World, build_world, wait_for

pytestmark = pytest.mark.slow
NODES = OTHERS  # Borealis (party 0), Cobalt (party 1), Delta (party 2)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # A short confirmation window, so the nodes' own finalization can be seen (every other test
    # finalizes well within it).
    built = build_world(tmp_path_factory.mktemp("e2e-recovery"), session_timeout=10.0, confirmation_window=25)
    try:
        yield built
    finally:
        built.consortium.close()


def _addresses(world: World, names) -> tuple[str, ...]:
    return tuple(world.consortium.client(name).address for name in names)


def _count_text(world: World, datasets=OTHERS) -> str:
    return statistics_text([f"{name}.loans" for name in datasets], "amount", ["count", "sum"])


def _row_count(world: World) -> int:
    files = {f"l{i}": world.files[name]["loans"] for i, name in enumerate(OTHERS)}
    (count,), = plaintext("SELECT count(amount) FROM (" + " UNION ALL ".join(
        f"SELECT amount FROM l{i}" for i in range(len(OTHERS))) + ")", **files)
    return count


def _steps(world: World, name: str, job_id: int) -> dict[str, tuple]:
    path = world.consortium.node_config(name).state_database
    with sqlite3.connect(path) as connection:
        return {row[0]: row[1:] for row in connection.execute(
            "SELECT step, tx_hash, detail FROM steps WHERE job_id = ?", (job_id,))}


def _phase(world: World, name: str, job_id: int) -> str | None:
    with sqlite3.connect(world.consortium.node_config(name).state_database) as connection:
        row = connection.execute("SELECT phase FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    return row[0] if row else None


def test_a_dataset_whose_data_changed_is_refused_until_a_new_version(world: World) -> None:
    owner = "Cobalt Finance"
    config = world.consortium.node_config(owner)
    writer = LocalStore(config.duckdb_path)
    writer.query("UPDATE loans SET amount = amount * 2 WHERE loan_id % 7 = 0")
    writer.close()
    requester = world.consortium.requester(REQUESTER)
    with pytest.raises(JobDeclined, match="Cobalt Finance said: DatasetChanged: data changed without a new "
                                          "version.*unseen dataset register --new-version"):
        requester.run(_count_text(world), compute_nodes=_addresses(world, NODES))
    published = register_dataset(world.consortium.client(owner), config.duckdb_path, config.state_database,
                                 "loans", new_version=True)
    assert published.version == 2
    outcome = requester.run(_count_text(world), compute_nodes=_addresses(world, NODES))
    assert outcome.result.ok and outcome.transcripts_agree


def test_a_node_killed_after_its_commit_is_mined_resumes_without_sending_it_again(world: World) -> None:
    victim = "Cobalt Finance"
    marker = world.start_faulty(victim, "crash-before-recording-commit-result")
    requester = world.consortium.requester(REQUESTER)
    text = _count_text(world)
    _, plan = requester.plan(text)
    request = requester.build_request(plan, compute_nodes=_addresses(world, NODES))
    job_id, _ = requester.submit(request)
    wait_for(marker.exists, 120, "the node to crash after its commitResult was mined")
    wait_for(lambda: not world.consortium.nodes[victim].alive(), 10, "the process to die")
    assert requester.client.jobs.status(job_id) is JobStatus.COMMITTED  # its commitment did reach the chain
    world.consortium.start_node(victim)  # the ordinary node, on the same state
    wait_for(lambda: _steps(world, victim, job_id).get("commit-result"), 60, "the restarted node to catch up")
    assert _steps(world, victim, job_id)["commit-result"] == (None, "found done on chain")
    requester.wait(job_id)
    outputs = requester.fetch(job_id, request, plan)
    assert int(outputs["count"][0]) == _row_count(world)
    requester.finalize(job_id)
    trail = [event.name for event in job_trail(requester.client, job_id)]
    assert trail.count("ResultCommitted") == 3 and trail.count("InputCommitted") == 3  # each step once


def test_a_node_killed_in_the_mpc_session_rejoins_and_the_job_completes(world: World) -> None:
    victim = "Delta Lending"
    marker = world.start_faulty(victim, "crash-in-mpc")
    requester = world.consortium.requester(REQUESTER)
    text = _count_text(world)
    _, plan = requester.plan(text)
    request = requester.build_request(plan, compute_nodes=_addresses(world, NODES))
    job_id, _ = requester.submit(request)
    wait_for(marker.exists, 120, "the node to crash inside the MPC session")
    wait_for(lambda: not world.consortium.nodes[victim].alive(), 10, "the process to die")
    world.consortium.start_node(victim)
    assert requester.wait(job_id, timeout=120) is JobStatus.COMMITTED
    outputs = requester.fetch(job_id, request, plan)
    assert int(outputs["count"][0]) == _row_count(world)
    requester.finalize(job_id)
    for name in NODES:
        assert "commit-result" in _steps(world, name, job_id)


def test_a_node_down_past_the_deadline_expires_the_job_refunds_and_catches_up(world: World) -> None:
    absent = "Borealis Credit"
    world.consortium.stop_node(absent, kill=True)
    requester = world.consortium.requester(REQUESTER)
    before = requester.client.billing.balance_of(requester.address)
    with pytest.raises(JobExpired):
        requester.run(_count_text(world), compute_nodes=_addresses(world, NODES), deadline_seconds=12)
    job_id = requester.client.jobs.job_count()
    assert requester.client.jobs.status(job_id) is JobStatus.EXPIRED
    assert requester.client.billing.balance_of(requester.address) == before  # the escrow came back whole
    world.consortium.start_node(absent)
    wait_for(lambda: _phase(world, absent, job_id) == "closed", 60, "the restarted node to close the job")
    assert not any(step.startswith(("accept", "commit")) for step in _steps(world, absent, job_id))
    # Nothing was lost: the node works as before.
    outcome = requester.run(_count_text(world), compute_nodes=_addresses(world, NODES))
    assert outcome.result.ok


def test_a_compute_node_that_tampers_with_its_result_is_named_and_disputed(world: World) -> None:
    cheater = "Cobalt Finance"  # party 1
    world.start_faulty(cheater, "tamper-result")
    try:
        requester = world.consortium.requester(REQUESTER)
        with pytest.raises(ShareMismatch, match="compute node Cobalt Finance \\(party 1\\) deviated"):
            requester.run(_count_text(world), compute_nodes=_addresses(world, NODES))
        job_id = requester.client.jobs.job_count()
        assert requester.client.jobs.status(job_id) is JobStatus.DISPUTED
        dispute = requester.client.jobs.dispute_of(job_id)
        assert dispute.suspect == world.consortium.client(cheater).address
        assert dispute.evidence_hash != bytes(32)
        evidence = list((world.consortium.node_config(REQUESTER).state_dir / "evidence").glob(f"job-{job_id}-*.json"))
        assert len(evidence) == 1
        # The regulator checks the requester's evidence file against the chain: it is the one the
        # dispute cites, every payload matches its node's commitment (the cheater committed to its
        # tampered share), and the replicated components name the cheater.
        verified = subprocess.run(
            [sys.executable, "-m", "offchain.cli", "audit", "verify-job", str(job_id), "--evidence",
             str(evidence[0]), "--deployment", str(world.consortium.directory / "deployment.json")],
            capture_output=True, text=True, timeout=180, env={**os.environ, "COLUMNS": "1000"})
        assert verified.returncode == 3, verified.stdout + verified.stderr
        assert "is the evidence the dispute names" in verified.stdout, verified.stdout
        assert "node 1 matches" in verified.stdout and "replicated shares DISAGREE" in verified.stdout
        assert f"suspects: {cheater} ({dispute.suspect})" in verified.stdout, verified.stdout
    finally:
        world.consortium.stop_node(cheater)
        world.consortium.start_node(cheater)


def test_a_dataset_frozen_by_the_regulator_stops_the_job_at_once(world: World) -> None:
    owner = "Delta Lending"
    world.consortium.stop_node(owner)
    requester = world.consortium.requester(REQUESTER)
    lenders = [f"{name}.applications" for name in OTHERS]
    applicant = sorted(world.lending_counts())[0]
    text = multi_lending_text(REQUESTER, lenders, as_of=world.as_of, window_days=30, batch_size=1,
                              applicants=[applicant])
    _, plan = requester.plan(text)
    request = requester.build_request(plan, compute_nodes=_addresses(world, ("Borealis Credit", "Cobalt Finance",
                                                                             "Aurora Bank")))
    job_id, _ = requester.submit(request)
    dataset = ChainCatalog(requester.client).dataset(f"{owner}.applications")
    regulator = world.consortium.client("regulator")
    regulator.catalog.freeze(dataset.dataset_id, "inquiry into application data").transact()
    try:
        world.consortium.start_node(owner)
        # Whichever participant looks first (the owner, or a node that had not accepted yet) declines.
        with pytest.raises(JobDeclined, match=r"said: PolicyViolation: dataset \d+ \(Delta Lending.applications\) "
                                              r"is frozen by the regulator"):
            requester.wait(job_id, timeout=60)
    finally:
        regulator.catalog.unfreeze(dataset.dataset_id).transact()


def test_nodes_finalize_a_job_whose_requester_never_confirms(world: World) -> None:
    requester = world.consortium.requester(REQUESTER)
    text = _count_text(world)
    _, plan = requester.plan(text)
    request = requester.build_request(plan, compute_nodes=_addresses(world, NODES))
    job_id, _ = requester.submit(request)
    requester.wait(job_id)  # committed; the requester then goes silent
    wait_for(lambda: requester.client.jobs.status(job_id) is JobStatus.FINALIZED, 90,
             "a participant to finalize after the confirmation window")
    finalizer = next(e for e in job_trail(requester.client, job_id) if e.name == "JobFinalized").args["by"]
    assert finalizer != requester.address
    assert finalizer in {*_addresses(world, NODES)}


def test_a_suspended_member_stops_serving_at_once_and_its_jobs_stop(world: World) -> None:
    suspended, absent = "Cobalt Finance", "Delta Lending"
    world.consortium.stop_node(absent)  # holds the job in Requested while the regulator acts
    requester = world.consortium.requester(REQUESTER)
    text = _count_text(world)
    _, plan = requester.plan(text)
    request = requester.build_request(plan, compute_nodes=_addresses(world, NODES))
    job_id, _ = requester.submit(request)
    # Every running participant accepts first: one that had not yet would decline the job on seeing the
    # suspension (correctly), and the job would close before the suspended node's halt could be seen.
    for name in NODES:
        if name != absent:
            wait_for(lambda name=name: _phase(world, name, job_id) == "accepted", 60, f"{name} to accept")
    cobalt = world.consortium.client(suspended).address
    world.consortium.client("regulator").consortium.suspend(cobalt, "capital inquiry").transact()
    try:
        wait_for(lambda: _phase(world, suspended, job_id) == "halted", 30, "the suspended node to halt the job")
        member = requester.client.consortium.member(cobalt)
        with pytest.raises(ServiceRefused, match="does not serve: suspended: capital inquiry"):
            default_service_call(requester.identity, member.endpoint, member.tls_fingerprint, "ping", 0, {}, [], 10)
        world.consortium.start_node(absent)
        with pytest.raises(JobDeclined, match="Delta Lending said: PolicyViolation: compute node Cobalt Finance "
                                              "is suspended"):
            requester.wait(job_id, timeout=60)
    finally:
        world.consortium.client("admin").consortium.reinstate(cobalt).transact()
    reply, _ = wait_for(lambda: _ping(requester, cobalt), 30, "the reinstated node to serve again")
    assert reply["member"] == suspended


def _ping(requester, address):
    member = requester.client.consortium.member(address)
    try:
        return default_service_call(requester.identity, member.endpoint, member.tls_fingerprint, "ping", 0, {}, [], 10)
    except ServiceRefused:
        return None
