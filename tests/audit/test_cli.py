"""``unseen audit`` as a subprocess: report, exports, filters, exit status, regulator actions."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from offchain.audit.engine import Auditor
from tests.audit.conftest import Story
from tests.audit.consortium import NORTHBANK, WESTLAND
from tests.audit.test_evidence import commit_job, evidence_for, node_payloads

EXIT_CHECK_FAILED = 3


def unseen(story: Story, *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("UNSEEN_")}
    environment["COLUMNS"] = "220"
    return subprocess.run(
        [sys.executable, "-m", "offchain.cli", *arguments, "--deployment", str(story.world.deployment_file),
         "--rpc", story.world.rpc.url], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120,
        check=False)


def test_the_report_fails_on_the_transcript_mismatch_and_names_it(history: Story, tmp_path: Path) -> None:
    done = unseen(history, "audit", cwd=tmp_path)
    assert done.returncode == EXIT_CHECK_FAILED, done.stderr
    assert "AUDIT FAILED: 1 error(s), 5 warning(s)" in done.stdout
    assert "transcripts-agree" in done.stdout and "FAILED" in done.stdout
    assert f"job {history.jobs.transcript_mismatch}" in done.stdout
    assert "Westland Credit Union" in done.stdout and "suspended by Regulator" in done.stdout


def test_json_export_carries_the_same_numbers_as_the_engine(history: Story, tmp_path: Path) -> None:
    done = unseen(history, "audit", "--json", "-", cwd=tmp_path)
    assert done.returncode == EXIT_CHECK_FAILED, done.stderr
    report = json.loads(done.stdout)
    auditor = Auditor(history.reader)
    auditor.refresh()
    expected = auditor.report().to_dict()
    assert report["format"] == "unseen-audit-report/v1"
    assert report["overview"] == expected["overview"]
    assert report["members"] == expected["members"]
    assert [j["job_id"] for j in report["jobs"]] == list(range(1, 8))
    assert report["verdict"] == {"passed": False, "errors": 1, "warnings": 5, "info": 3}
    job = report["jobs"][history.jobs.finalized - 1]
    assert job["verified"] is True and job["charged"] == 2_080
    assert [p["payee_name"] for p in job["payouts"]] == ["Eastern Mutual Insurance", "St. Clare Hospital",
                                                         "Eastern Mutual Insurance", "St. Clare Hospital",
                                                         "Westland Credit Union"]
    assert report["jobs"][history.jobs.transcript_mismatch - 1]["verdict"]["transcripts-agree"] is False


def test_filters_and_csv_export(history: Story, tmp_path: Path) -> None:
    before_mismatch = Auditor(history.reader)
    before_mismatch.refresh()
    block = before_mismatch.state.ledger.jobs[history.jobs.transcript_mismatch].request_step.block - 1
    done = unseen(history, "audit", "--to-block", str(block), "--csv", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AUDIT PASSED" in done.stdout
    with open(tmp_path / "out" / "jobs.csv") as handle:
        jobs = list(csv.DictReader(handle))
    assert [int(row["job_id"]) for row in jobs] == [1, 2, 3, 4, 5]
    with open(tmp_path / "out" / "payouts.csv") as handle:
        payouts = list(csv.DictReader(handle))
    assert sum(int(row["amount"]) for row in payouts) == sum(int(row["charged"]) for row in jobs)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "jobs.csv", "payouts.csv", "findings.csv", "members.csv", "datasets.csv"}

    by_name = unseen(history, "audit", "--member", "northbank", "--dataset", "claims", "--json", "-", cwd=tmp_path)
    report = json.loads(by_name.stdout)
    assert report["filters"] == {"member": history.world.address(NORTHBANK), "dataset_id": history.world.claims}
    assert [m["name"] for m in report["members"]] == ["Northbank"]

    unknown = unseen(history, "audit", "--member", "Nobody Bank", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith("InputError: no member 'Nobody Bank' on chain; members are: Northbank")
    assert len(unknown.stderr.strip().splitlines()) == 1
    bad_time = unseen(history, "audit", "--since", "yesterday", cwd=tmp_path)
    assert bad_time.returncode == 2 and "--since 'yesterday' is not a time" in bad_time.stderr


def test_regulator_suspends_and_freezes_and_the_audit_shows_it(chain: Story, tmp_path: Path) -> None:
    done = unseen(chain, "audit", "suspend", "st. clare hospital", "--reason", "inspection", "--key", "anvil:9",
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "suspended St. Clare Hospital" in done.stdout
    frozen = unseen(chain, "audit", "freeze", "claims", "--reason", "under review", "--key", "anvil:9", cwd=tmp_path)
    assert frozen.returncode == 0, frozen.stderr
    refused = unseen(chain, "audit", "unfreeze", "claims", "--key", "anvil:1", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.startswith("DataCatalogNotRegulator")
    report = json.loads(unseen(chain, "audit", "--json", "-", cwd=tmp_path).stdout)
    members = {m["name"]: m for m in report["members"]}
    assert members["St. Clare Hospital"]["status"] == "SUSPENDED"
    assert members["St. Clare Hospital"]["history"][-1]["detail"] == "suspended: inspection"
    claims = next(d for d in report["datasets"] if d["name"] == "claims")
    assert claims["frozen"] is True
    messages = [f["message"] for f in report["findings"]]
    assert any("St. Clare Hospital" in m and "suspended by Regulator" in m and "inspection" in m for m in messages)
    assert any("'claims'" in m and "frozen by Regulator" in m for m in messages)
    # Nothing may use a frozen dataset any more: the chain refuses the request at once.
    from offchain.chain.errors import AccessPolicyDatasetFrozen

    world = chain.world
    world.clients.clear()
    try:
        world.query_request(visits=False)
    except AccessPolicyDatasetFrozen as error:
        assert error.args_["datasetId"] == world.claims
    else:
        raise AssertionError("a frozen dataset was accepted in a job request")


def test_verify_job_with_and_without_evidence(chain: Story, tmp_path: Path) -> None:
    good = unseen(chain, "audit", "verify-job", str(chain.jobs.finalized), cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "JOB VERIFIED" in good.stdout and "commitment-digest ok" in good.stdout
    odd = unseen(chain, "audit", "verify-job", str(chain.jobs.transcript_mismatch), cwd=tmp_path)
    assert odd.returncode == EXIT_CHECK_FAILED
    assert "transcripts-agree FAILED" in odd.stdout

    world = chain.world
    world.client(0).consortium.reinstate(world.address(WESTLAND)).transact()
    payloads, nonces = node_payloads(), [bytes([k]) * 32 for k in range(3)]
    job_id = commit_job(world, payloads, nonces)
    delivered = [dict(p) for p in payloads]
    delivered[2]["count"] = payloads[0]["count"]  # node 2 hands over party 0's payload
    path = evidence_for(world, job_id, delivered, nonces).save(tmp_path / "evidence.json")
    checked = unseen(chain, "audit", "verify-job", str(job_id), "--evidence", str(path), cwd=tmp_path)
    assert checked.returncode == EXIT_CHECK_FAILED, checked.stdout + checked.stderr
    assert "node 2 DOES NOT match" in checked.stdout
    assert "suspects: Westland Credit Union" in checked.stdout
    missing = unseen(chain, "audit", "verify-job", "99", cwd=tmp_path)
    assert missing.returncode == 2 and "no job 99 on chain" in missing.stderr
