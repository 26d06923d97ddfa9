"""Governed jobs end to end: real node processes, a real anvil, TLS on loopback.

One consortium for the module (four lenders, small generated data); each test
runs jobs through the chain as Aurora Bank and compares with DuckDB over the
same files in the clear.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from offchain.chain.errors import AccessPolicyNoGrant
from offchain.chain.models import JobStatus
from offchain.client.grants import set_policy
from offchain.client.trail import job_summary
from offchain.demo.data import plaintext
from offchain.errors import JobDeclined, ServiceRefused
from offchain.lending.program import multi_lending_text
from offchain.sql.program import query_program_text
from offchain.stats.program import statistics_text
from offchain.vocabulary import ConstraintLevel
from tests.e2e.world import OTHERS, REQUESTER, World, build_world

pytestmark = pytest.mark.slow
EDGES = [0, 10_000, 50_000, 5_000_000]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = build_world(tmp_path_factory.mktemp("e2e-jobs"))
    try:
        yield built
    finally:
        built.consortium.close()


def _unseen(world: World, *arguments: str, member: str = REQUESTER) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "offchain.cli", *arguments, "--config", str(world.consortium.config_path(member))],
        capture_output=True, text=True, timeout=180,
    )


def test_statistics_over_four_loan_books_match_duckdb_and_pay_owners_and_nodes(world: World) -> None:
    members = list(world.consortium.members)
    text = statistics_text([f"{m}.loans" for m in members], "amount",
                           ["count", "sum", "mean", "var_pop", "min", "max", "histogram"],
                           filter=[["region", "in", ["north", "east"]]], histogram_edges=EDGES)
    requester = world.consortium.requester(REQUESTER)
    client = requester.client
    before = client.billing.balance_of(requester.address)

    outcome = requester.run(text)

    files = {f"l{i}": world.files[m]["loans"] for i, m in enumerate(members)}
    union = " UNION ALL ".join(f"SELECT amount, region FROM l{i}" for i in range(len(members)))
    (count, total, mean, variance, low, high), = plaintext(
        f"SELECT count(amount), sum(amount), avg(amount), var_pop(amount), min(amount), max(amount) "
        f"FROM ({union}) WHERE region IN ('north', 'east')", **files)
    result = outcome.result
    assert result.ok and result.count == count
    assert result.sum == pytest.approx(total, abs=count * 2 ** -15)
    assert result.mean == pytest.approx(mean, abs=1e-3)
    assert result.var_pop == pytest.approx(variance, rel=1e-6)
    assert (result.min, result.max) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))
    bins = plaintext("SELECT " + ", ".join(
        f"count(*) FILTER (WHERE amount >= {EDGES[i]} AND amount {'<=' if i == len(EDGES) - 2 else '<'} {EDGES[i + 1]})"
        for i in range(len(EDGES) - 1)) + f" FROM ({union}) WHERE region IN ('north', 'east')", **files)[0]
    assert result.histogram == tuple(bins)

    assert outcome.transcripts_agree
    assert client.jobs.status(outcome.job_id) is JobStatus.FINALIZED
    # The requester pays the fee, and is paid as the owner of its own input.
    assert client.billing.balance_of(requester.address) == before - outcome.charged + outcome.payouts[REQUESTER]
    assert outcome.charged > 0 and outcome.charged + outcome.refund == outcome.max_fee
    assert set(outcome.payouts) >= set(members) - {REQUESTER}  # owners (and nodes) were paid


def test_multi_lending_single_applicant_and_batch_match_plaintext(world: World) -> None:
    counts = world.lending_counts()
    requester = world.consortium.requester(REQUESTER)
    lenders = [f"{name}.applications" for name in OTHERS]
    busiest = max(counts, key=lambda a: (counts[a], a))

    single = requester.run(multi_lending_text(REQUESTER, lenders, as_of=world.as_of, window_days=30,
                                              batch_size=1, applicants=[busiest]), {"applicants": [busiest]})
    assert single.result.count_for(busiest) == counts[busiest] >= 1

    batch = sorted(counts)[:60] + ["NOBODY-1", "NOBODY-2"]
    outcome = requester.run(multi_lending_text(REQUESTER, lenders, as_of=world.as_of, window_days=30,
                                               batch_size=len(batch), applicants=batch), {"applicants": batch})
    secure = outcome.result.counts_for(batch)
    assert secure == {a: counts.get(a, 0) for a in batch}
    assert outcome.transcripts_agree


def test_a_requester_without_a_grant_is_refused_by_the_chain(world: World) -> None:
    requester = world.consortium.requester(REQUESTER)
    text = statistics_text(["Delta Lending.ledger"], "amount", ["count"])
    _, plan = requester.plan(text)
    with pytest.raises(AccessPolicyNoGrant, match="ledger|dataset"):
        requester.submit(requester.build_request(plan, fee_cap=10_000))
    # The CLI's pre-check says it in words, in one red line, before any fee, and exits 1.
    done = _unseen(world, "stats", "--datasets", "Delta Lending.ledger", "--column", "amount", "--stat", "count")
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("PolicyViolation: you hold no grant on Delta Lending.ledger; ask Delta Lending")


def test_a_column_asked_above_its_level_is_refused_before_any_fee(world: World) -> None:
    requester = world.consortium.requester(REQUESTER)
    before = requester.client.billing.balance_of(requester.address)
    jobs_before = requester.client.jobs.job_count()
    done = _unseen(world, "stats", "--datasets", "Borealis Credit.loans,Cobalt Finance.loans",
                   "--column", "rate", "--stat", "mean")
    assert done.returncode == 1
    assert done.stderr.startswith("PolicyViolation: column Borealis Credit.loans.rate is granted to you at "
                                  "level ENCRYPTED_ONLY, but the job needs PLAINTEXT_AFTER_AGGREGATE")
    assert requester.client.billing.balance_of(requester.address) == before
    assert requester.client.jobs.job_count() == jobs_before


@pytest.mark.parametrize(("arguments", "message"), [
    (("stats", "--datasets", "Borealis Credit.loans", "--column", "amount", "--stat", "mode"),
     "InputError: unknown statistics ['mode']"),
    (("stats", "--datasets", "Borealis Credit.loans", "--column", "colour", "--stat", "mean"), "InputError: "),
    (("stats", "--datasets", "Southbank.loans", "--column", "amount", "--stat", "mean"),
     "InputError: no member named 'Southbank'"),
    (("stats", "--datasets", "Borealis Credit.loans", "--column", "amount", "--stat", "mean",
      "--where", "region ~ north"), "InputError: a condition is 'column op literal'"),
    (("lending", "check", "--lenders", "Borealis Credit.applications", "--applicant", "A1"), "InputError: "),
])
def test_malformed_job_specs_give_one_clear_line(world: World, arguments: tuple[str, ...], message: str) -> None:
    done = _unseen(world, *arguments)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr


def test_jobs_show_prints_status_fees_commitments_and_the_trail(world: World) -> None:
    requester = world.consortium.requester(REQUESTER)
    outcome = requester.run(statistics_text([f"{m}.loans" for m in OTHERS], "amount", ["count"]))
    done = subprocess.run([sys.executable, "-m", "offchain.cli", "jobs", "show", str(outcome.job_id),
                           "--deployment", str(world.consortium.directory / "deployment.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for expected in ("finalized", "identical at the 3 nodes", "Jobs.JobRequested", "Jobs.InputCommitted",
                     "Jobs.ResultCommitted", "Billing.Metered", f"{outcome.charged:,} paid"):
        assert expected in done.stdout, expected


def test_cli_statistics_job_prints_the_result(world: World) -> None:
    done = _unseen(world, "stats", "--datasets", ",".join(f"{m}.loans" for m in OTHERS), "--column", "amount",
                   "--stat", "count,mean")
    assert done.returncode == 0, done.stderr
    files = {f"l{i}": world.files[m]["loans"] for i, m in enumerate(OTHERS)}
    (count,), = plaintext("SELECT count(*) FROM (" + " UNION ALL ".join(f"SELECT * FROM l{i}" for i in range(3))
                          + ")", **files)
    assert f"{count:,}" in done.stdout and "finalized" in done.stdout


def test_the_nodes_logged_no_unexpected_failure(world: World) -> None:
    for name in world.consortium.members:
        log = world.consortium.node_config(name).log_file.read_text()
        assert "Traceback" not in log and "unexpected failure" not in log, log[-3000:]


def test_a_sql_join_across_two_lenders_matches_duckdb(world: World) -> None:
    asker = "Delta Lending"
    for owner in ("Borealis Credit", "Cobalt Finance"):
        set_policy(world.consortium.client(owner), f"{owner}.applications", asker,
                   levels={"applicant_id": ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE,
                           "amount": ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE})
    sql = ('SELECT COUNT(*) AS pairs, SUM(b.amount) AS total FROM "Borealis Credit".applications b '
           'JOIN "Cobalt Finance".applications c ON b.applicant_id = c.applicant_id')
    explained = _unseen(world, "query", sql, "--explain", member=asker)
    assert explained.returncode == 0, explained.stderr
    assert "owner secret" in explained.stdout.lower() or "join" in explained.stdout.lower()

    requester = world.consortium.requester(asker)
    outcome = requester.run(query_program_text(sql, requester.address))
    files = {"b": world.files["Borealis Credit"]["applications"], "c": world.files["Cobalt Finance"]["applications"]}
    (pairs, total), = plaintext("SELECT count(*), sum(b.amount) FROM b JOIN c ON b.applicant_id = c.applicant_id",
                                **files)
    (row,) = outcome.result.rows
    assert row[0] == pairs and float(row[1]) == pytest.approx(total, rel=1e-9, abs=0.01)
    assert outcome.transcripts_agree
    owners = {world.consortium.client(name).address for name in ("Borealis Credit", "Cobalt Finance")}
    assert job_summary(requester.client, outcome.job_id).nodes[0].account not in owners  # the matcher

    # A requester that makes a joined table's owner the matcher is refused by the nodes.
    _, plan = requester.plan(query_program_text(sql, requester.address))
    request = requester.build_request(plan, compute_nodes=(world.consortium.client("Borealis Credit").address,
                                                           world.consortium.client("Aurora Bank").address,
                                                           world.consortium.client("Cobalt Finance").address))
    job_id, _ = requester.submit(request)
    with pytest.raises(JobDeclined, match="compute party 0 .* owns an input of owner secret join0"):
        requester.wait(job_id, timeout=60)


def test_several_jobs_at_once_all_complete(world: World) -> None:
    requester = world.consortium.requester(REQUESTER)
    counts = world.lending_counts()
    lenders = [f"{name}.applications" for name in OTHERS]
    asked = []
    for offset in range(3):
        batch = sorted(counts)[offset * 10:(offset + 1) * 10]
        text = multi_lending_text(REQUESTER, lenders, as_of=world.as_of, window_days=30, batch_size=len(batch),
                                  applicants=batch)
        program, plan = requester.plan(text)
        request = requester.build_request(plan)
        job_id, _ = requester.submit(request)
        requester.deal_private(job_id, request, program, plan, {"applicants": batch})
        asked.append((job_id, request, plan, program, batch))
    for job_id, request, plan, program, batch in asked:  # all in flight together
        requester.wait(job_id, timeout=120)
        result = program.decode(plan, requester.fetch(job_id, request, plan))
        assert result.counts_for(batch) == {a: counts[a] for a in batch}
        requester.finalize(job_id)


def test_cli_lending_check_prints_the_counts(world: World) -> None:
    counts = world.lending_counts()
    busiest = max(counts, key=lambda a: (counts[a], a))
    done = _unseen(world, "lending", "check", "--applicant", busiest, "--applicant", "NOBODY-9",
                   "--as-of", world.as_of.isoformat(), "--window", "30")
    assert done.returncode == 0, done.stderr
    rows = dict(tuple(part.strip() for part in line.split("│"))[:2] for line in done.stdout.splitlines()
                if line.count("│") == 1)
    assert rows.get(busiest) == str(counts[busiest]) and rows.get("NOBODY-9") == "0", done.stdout


def test_results_are_served_to_the_recipient_only(world: World) -> None:
    requester = world.consortium.requester(REQUESTER)
    text = statistics_text([f"{m}.loans" for m in OTHERS], "amount", ["count"])
    _, plan = requester.plan(text)
    request = requester.build_request(plan)
    job_id, _ = requester.submit(request)
    requester.wait(job_id)
    intruder = world.consortium.requester("Delta Lending")  # a member, but not this job's recipient
    with pytest.raises(ServiceRefused, match="PolicyViolation: job .* its result goes to Aurora Bank only"):
        intruder.fetch(job_id, request, plan)
    requester.fetch(job_id, request, plan)
    requester.finalize(job_id)
