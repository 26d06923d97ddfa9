"""Against a real anvil: datasets registered from files, the chain catalog, the requester's
checks, and the node's re-check of a requested job before it touches data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from offchain.chain.client import ZERO_ADDRESS, ChainClient
from offchain.client.datasets import register_dataset
from offchain.client.grants import parse_column_levels, revoke_grant, set_policy
from offchain.client.requester import Requester
from offchain.client.trail import job_commitments, job_trail
from offchain.data.store import LocalStore
from offchain.errors import ChainError, DatasetChanged, InputError, PolicyViolation
from offchain.net.identity import NodeIdentity
from offchain.node.authorization import authorize
from offchain.node.catalog import ChainCatalog
from offchain.node.fingerprints import check_unchanged, current_fingerprint
from offchain.node.jobspec import JobDescription, check_plan_matches
from offchain.node.state import NodeState
from offchain.node.watcher import read_job_description
from offchain.stats.program import statistics_text
from offchain.vocabulary import ConstraintLevel, JobKind

NORTHBANK, EASTERN, HOSPITAL, WESTLAND, REGULATOR = 1, 2, 3, 4, 9


def _csv(path: Path, rows: list[tuple[float, str]]) -> Path:
    path.write_text("amount,region\n" + "".join(f"{a},{r}\n" for a, r in rows))
    return path


def _offer(client: ChainClient, tmp_path: Path, who: str, rows: list[tuple[float, str]]) -> tuple[int, Path, Path]:
    database, state = tmp_path / f"{who}.duckdb", tmp_path / f"{who}.sqlite"
    done = register_dataset(client, database, state, "loans", source=_csv(tmp_path / f"{who}.csv", rows),
                            price_per_job=5, price_per_row=1)
    return done.dataset_id, database, state


def _grant(client: ChainClient, dataset: int, to: str, now_plus: int = 86_400) -> None:
    expiry = int(client.rpc.request("eth_getBlockByNumber", "latest", False)["timestamp"], 16) + now_plus
    set_policy(client, str(dataset), to, levels=parse_column_levels(["amount=aggregate,region=compare"]),
               expiry=expiry, max_uses=1, kinds=(JobKind.STATISTICS,))


ROWS = [(100.0 + i, "north" if i % 2 else "south") for i in range(12)]


def test_catalog_names_datasets_by_member_and_reads_schema_and_levels(
        member: Callable[[int], ChainClient], tmp_path: Path) -> None:
    north = member(NORTHBANK)
    dataset_id, _, _ = _offer(north, tmp_path, "north", ROWS)
    catalog = ChainCatalog(north)
    found = catalog.dataset("northbank.loans")
    assert found.dataset_id == dataset_id and catalog.dataset(dataset_id) == found
    assert found.owner_name == "Northbank" and found.row_count == 12 and found.version == 1
    assert found.schema.names == ["amount", "region"] and found.schema.types == ["float64", "string"]
    westland = member(WESTLAND).address
    assert catalog.level(dataset_id, "amount", westland) is ConstraintLevel.ENCRYPTED_ONLY
    assert catalog.level(dataset_id, "amount", north.address) is ConstraintLevel.PLAINTEXT
    with pytest.raises(InputError, match="no dataset named 'claims'"):
        catalog.dataset("Northbank.claims")
    with pytest.raises(InputError, match="no member named 'Southbank'"):
        catalog.dataset("Southbank.loans")
    with pytest.raises(InputError, match="ids run from 1"):
        catalog.dataset(99)
    _grant(north, dataset_id, "Westland Credit Union")
    assert ChainCatalog(north).level(dataset_id, "amount", westland) is ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE
    # A catalog pinned before the grant still answers as then.
    assert catalog.level(dataset_id, "amount", westland) is ConstraintLevel.ENCRYPTED_ONLY


def _requested(member: Callable[[int], ChainClient], tmp_path: Path) -> tuple[Requester, JobDescription, dict]:
    north, eastern = member(NORTHBANK), member(EASTERN)
    north_id, north_db, north_state = _offer(north, tmp_path, "north", ROWS)
    eastern_id, _, _ = _offer(eastern, tmp_path, "eastern", ROWS[:8])
    asker = Requester(member(WESTLAND), NodeIdentity.generate("westland"))
    text = statistics_text(["Northbank.loans", "Eastern Mutual Insurance.loans"], "amount", ["mean", "count"],
                           filter=[["region", "=", "north"]])
    _, plan = asker.plan(text)
    with pytest.raises(PolicyViolation, match=r"you hold no grant on Northbank.loans; ask Northbank"):
        asker.precheck(plan)
    expiry = int(north.rpc.request("eth_getBlockByNumber", "latest", False)["timestamp"], 16) + 3600
    for owner, dataset_id in ((north, north_id), (eastern, eastern_id)):
        set_policy(owner, str(dataset_id), "Westland Credit Union", expiry=expiry, kinds=(JobKind.STATISTICS,))
    with pytest.raises(PolicyViolation, match=r"Northbank.loans.amount is granted to you at level ENCRYPTED_ONLY"):
        asker.precheck(plan)
    _grant(north, north_id, "Westland Credit Union")
    _grant(eastern, eastern_id, "Westland Credit Union")
    asker.precheck(plan)
    request = asker.build_request(plan)
    assert WESTLAND not in request.compute_nodes and len(request.compute_nodes) == 3
    job_id, block = asker.submit(request)
    job = read_job_description(asker.client, job_id)
    assert job.block_number == block and job.requester == asker.address and job.kind is JobKind.STATISTICS
    return asker, job, {"north": north, "eastern": eastern, "north_id": north_id, "north_db": north_db,
                        "north_state": north_state}


def test_node_re_derives_the_plan_and_re_checks_the_policy_now(
        member: Callable[[int], ChainClient], tmp_path: Path) -> None:
    asker, job, world = _requested(member, tmp_path)
    reader = member(HOSPITAL)
    authorized = authorize(reader, job)
    assert authorized.plan.text == job.program and job.owned_inputs(world["north"].address) == (0,)
    # The grant had one use, which the request consumed: the re-check must not count uses.
    assert world["north"].access_policy.grant(world["north_id"], asker.address).uses == 1

    revoke_grant(world["north"], str(world["north_id"]), "Westland Credit Union")
    with pytest.raises(PolicyViolation, match="holds no grant"):
        authorize(reader, job)
    _grant(world["north"], world["north_id"], "all")
    authorize(reader, job)  # the all-members grant applies now

    member(REGULATOR).catalog.freeze(world["north_id"], "inquiry").transact()
    with pytest.raises(PolicyViolation, match="frozen by the regulator"):
        authorize(reader, job)


def test_declared_uses_must_be_exactly_the_derived_ones(
        member: Callable[[int], ChainClient], tmp_path: Path) -> None:
    asker, job, _ = _requested(member, tmp_path)
    _, plan = asker.plan(job.program, block=job.block_number)
    check_plan_matches(plan, job)
    first = job.inputs[0]
    weaker = type(first)(first.dataset_id, first.columns, (ConstraintLevel.ENCRYPTED_ONLY,) * len(first.columns))
    with pytest.raises(PolicyViolation, match=r"declares column uses \[amount:ENCRYPTED_ONLY"):
        check_plan_matches(plan, JobDescription(**{**job.__dict__, "inputs": (weaker, *job.inputs[1:])}))
    with pytest.raises(PolicyViolation, match="is not the hash of its program"):
        check_plan_matches(plan, JobDescription(**{**job.__dict__, "program_hash": b"\1" * 32}))
    with pytest.raises(PolicyViolation, match="requested as QUERY"):
        check_plan_matches(plan, JobDescription(**{**job.__dict__, "kind": JobKind.QUERY}))


def test_data_changed_without_a_new_version_is_refused(member: Callable[[int], ChainClient], tmp_path: Path) -> None:
    north = member(NORTHBANK)
    dataset_id, database, state_path = _offer(north, tmp_path, "north", ROWS)
    state = NodeState(state_path)
    store = LocalStore(database, read_only=True)
    dataset = ChainCatalog(north).dataset(dataset_id)
    record = check_unchanged(store, state, dataset, dataset.fingerprint)
    assert current_fingerprint(store, state, "loans") == (record, False)  # checksum unchanged: no rehash
    store.close()

    writer = LocalStore(database)
    writer.query("UPDATE loans SET amount = amount + 1 WHERE region = 'north'")
    writer.close()
    store = LocalStore(database, read_only=True)
    with pytest.raises(DatasetChanged, match="data changed without a new version.*--new-version"):
        check_unchanged(store, state, dataset, dataset.fingerprint)
    store.close()
    state.close()

    published = register_dataset(north, database, state_path, "loans", new_version=True)
    assert (published.action, published.version) == ("published version 2", 2)
    dataset = ChainCatalog(north).dataset(dataset_id)
    store, state = LocalStore(database, read_only=True), NodeState(state_path)
    assert check_unchanged(store, state, dataset, dataset.fingerprint).fingerprint == dataset.fingerprint
    with pytest.raises(InputError, match="already registered a dataset named 'loans'"):
        register_dataset(north, database, state_path, "loans", source=_csv(tmp_path / "again.csv", ROWS))


def test_policy_commands_refuse_what_is_not_yours(member: Callable[[int], ChainClient], tmp_path: Path) -> None:
    north = member(NORTHBANK)
    dataset_id, _, _ = _offer(north, tmp_path, "north", ROWS)
    with pytest.raises(InputError, match="only its owner sets its policy"):
        set_policy(member(EASTERN), str(dataset_id), "all", levels={"amount": ConstraintLevel.PLAINTEXT})
    with pytest.raises(InputError, match="nothing to set"):
        set_policy(north, str(dataset_id), "all")
    assert ZERO_ADDRESS == "0x" + "0" * 40


def test_commitments_come_from_events_and_must_fold_to_the_digest(
        member: Callable[[int], ChainClient], tmp_path: Path) -> None:
    asker, job, world = _requested(member, tmp_path)
    clients = {c.address: c for c in (member(i) for i in (NORTHBANK, EASTERN, HOSPITAL, WESTLAND))}
    for index, terms in enumerate(job.input_terms):
        clients[terms.owner].jobs.commit_input(job.job_id, index, bytes([index + 1]) * 32, 3).transact()
    for node in set(job.compute_nodes) - {terms.owner for terms in job.input_terms}:
        clients[node].jobs.accept(job.job_id).transact()
    for index, node in enumerate(job.compute_nodes):
        clients[node].jobs.commit_result(job.job_id, bytes([0x10 + index]) * 32, b"\x77" * 32).transact()
    found = job_commitments(asker.client, job.job_id)
    assert found.inputs == {0: (b"\x01" * 32, 3), 1: (b"\x02" * 32, 3)}
    assert found.results == {k: (bytes([0x10 + k]) * 32, b"\x77" * 32) for k in range(3)}
    assert found.digest == asker.client.jobs.commitment_digest(job.job_id) != bytes(32)
    trail = job_trail(asker.client, job.job_id)
    assert [e.name for e in trail].count("ResultCommitted") == 3 and trail[0].name in ("GrantUsed", "JobRequested")
    # A log missing from what the RPC node returned is caught.
    with pytest.raises(ChainError, match="incomplete logs"):
        job_commitments(asker.client, job.job_id, [e for e in trail if e.name != "InputCommitted" or
                                                   e.args["inputIndex"] != 1])


def test_money_registers_as_an_exact_decimal_column(member: Callable[[int], ChainClient],
                                                    tmp_path: Path) -> None:
    north = member(NORTHBANK)
    source = tmp_path / "money.parquet"
    scratch = LocalStore()
    scratch._cursor().execute(
        "CREATE TABLE money AS SELECT CAST(1234.56 AS DECIMAL(12,2)) AS amount, 'north' AS region")
    scratch._cursor().execute(f"COPY money TO '{source}' (FORMAT parquet)")
    done = register_dataset(north, tmp_path / "m.duckdb", tmp_path / "m.sqlite", "money", source=source)
    found = ChainCatalog(north).dataset(done.dataset_id)
    assert found.schema.types == ["decimal(12,2)", "string"]
    assert found.fingerprint == done.fingerprint
