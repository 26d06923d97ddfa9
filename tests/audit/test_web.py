"""The audit web page in a real headless browser (Debian's chromium driven by Playwright).

``unseen audit serve`` runs as a subprocess against the story's chain; the
browser loads every page, compares the numbers with ``unseen audit --json``,
and watches a newly finalized job appear without a restart.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from offchain.chain.anvil import free_port
from tests.audit.conftest import Story
from tests.audit.consortium import ADMIN, WESTLAND

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency: pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`; .ci/run does)")
    profile = tempfile.mkdtemp(prefix="unseen-chromium-")
    with playwright_api.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def _environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("UNSEEN_")}
    environment["COLUMNS"] = "220"
    return environment


def _cli(story: Story, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "offchain.cli", *arguments, "--deployment",
                           str(story.world.deployment_file), "--rpc", story.world.rpc.url],
                          env=_environment(), capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def server(chain: Story, tmp_path: Path) -> Iterator[str]:
    """``unseen audit serve`` on a free port; its URL. Stopped before the chain is reverted."""
    port = free_port()
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below, after the process
    process = subprocess.Popen(
        [sys.executable, "-m", "offchain.cli", "audit", "serve", "--port", str(port), "--poll", "0.3",
         "--deployment", str(chain.world.deployment_file), "--rpc", chain.world.rpc.url],
        env=_environment(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/api/head", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"unseen audit serve did not start: {(tmp_path / 'serve.log').read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _open(browser, url: str):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    return page, errors


def _number(text: str) -> int:
    return int(text.replace(",", "").strip())


def test_every_page_loads_without_errors(browser, server: str, chain: Story) -> None:
    paths = ["/", "/jobs", f"/jobs/{chain.jobs.finalized}", f"/jobs/{chain.jobs.disputed_paid}", "/members",
             f"/members/{chain.world.address(WESTLAND)}", "/datasets", f"/datasets/{chain.world.claims}",
             "/anomalies", "/jobs?member=Northbank&dataset=claims", "/members?since=2020-01-01"]
    for path in paths:
        page, errors = _open(browser, server + path)
        assert page.locator("header .brand").inner_text() == "Unseen audit"
        assert page.locator("main h1").count() == 1
        assert errors == [], (path, errors)
        page.close()
    page, _ = _open(browser, server + "/")
    assert page.locator("svg#chart-jobs rect[data-value]").count() > 0
    assert page.locator("#verdict").get_attribute("data-passed") == "false"
    page.close()


def test_the_numbers_on_the_page_match_the_cli_report(browser, server: str, chain: Story) -> None:
    done = _cli(chain, "audit", "--json", "-")
    report = json.loads(done.stdout)
    overview = report["overview"]
    page, _ = _open(browser, server + "/")
    assert _number(page.get_by_test_id("jobs").inner_text()) == overview["jobs"]
    assert _number(page.get_by_test_id("fees-paid").inner_text()) == overview["fees_paid"]
    assert _number(page.get_by_test_id("escrow").inner_text()) == overview["credits_in_escrow"]
    assert _number(page.get_by_test_id("errors").inner_text()) == overview["errors"]
    assert _number(page.get_by_test_id("warnings").inner_text()) == overview["warnings"]
    for status, count in overview["jobs_by_status"].items():
        if count:
            assert _number(page.get_by_test_id(f"status-{status.lower()}").inner_text()) == count
    bars = {bar.get_attribute("data-label"): int(bar.get_attribute("data-value"))
            for bar in page.locator("svg#chart-revenue rect").all()}
    assert bars == {m["name"]: m["revenue"] for m in report["members"]}
    page.close()

    page, _ = _open(browser, server + "/members")
    for member in report["members"]:
        row = page.locator(f'tr[data-member="{member["address"]}"]')
        for field, key in (("fees-paid", "fees_paid"), ("revenue", "revenue"), ("balance", "balance"),
                           ("revenue-data", "revenue_data"), ("revenue-compute", "revenue_compute")):
            assert _number(row.get_by_test_id(field).inner_text()) == member[key], (member["name"], field)
    page.close()

    page, _ = _open(browser, server + "/datasets")
    for dataset in report["datasets"]:
        row = page.locator(f'tr[data-dataset="{dataset["dataset_id"]}"]')
        assert _number(row.get_by_test_id("jobs").inner_text()) == dataset["jobs"]
        assert _number(row.get_by_test_id("revenue").inner_text()) == dataset["revenue"]
    page.close()

    page, _ = _open(browser, server + "/jobs")
    assert _number(page.get_by_test_id("job-count").inner_text()) == len(report["jobs"])
    for job in report["jobs"]:
        row = page.locator(f'tr[data-job-id="{job["job_id"]}"]')
        assert row.locator("[data-status]").get_attribute("data-status") == job["status"]
        assert _number(row.get_by_test_id("charged").inner_text()) == job["charged"]
    page.close()

    page, _ = _open(browser, server + "/anomalies")
    verdict = report["verdict"]
    assert _number(page.get_by_test_id("count-error").inner_text()) == verdict["errors"]
    assert _number(page.get_by_test_id("count-warning").inner_text()) == verdict["warnings"]
    page.close()


def test_the_job_page_shows_hashes_fees_steps_and_the_verify_result(browser, server: str, chain: Story) -> None:
    report = json.loads(_cli(chain, "audit", "--json", "-").stdout)
    good = report["jobs"][chain.jobs.finalized - 1]
    page, _ = _open(browser, server + f"/jobs/{chain.jobs.finalized}")
    assert page.locator("#verify").get_attribute("data-verified") == "true"
    text = page.locator("main").inner_text()
    for value in [good["program_hash"], good["commitment_digest"], *[i["fingerprint"] for i in good["inputs"]],
                  *[n["result_commitment"] for n in good["nodes"]], *[n["transcript_hash"] for n in good["nodes"]]]:
        assert value in text
    assert _number(page.get_by_test_id("charged").inner_text()) == good["charged"]
    assert _number(page.get_by_test_id("refund").inner_text()) == good["refund"]
    assert [_number(cell.inner_text()) for cell in page.get_by_test_id("input-payout").all()] == [
        i["payout"] for i in good["inputs"]]
    assert page.locator("#steps tr").count() == len(good["steps"]) + 1
    page.close()

    page, _ = _open(browser, server + f"/jobs/{chain.jobs.transcript_mismatch}")
    assert page.locator("#verify").get_attribute("data-verified") == "false"
    assert "failed" in page.locator('#job-verdict tr[data-check="transcripts-agree"]').inner_text()
    assert "passed" in page.locator('#job-verdict tr[data-check="commitment-digest"]').inner_text()
    assert page.locator('#findings tr[data-check="transcripts-agree"]').count() == 1
    page.close()


def test_a_newly_finalized_job_appears_without_restarting_the_server(browser, server: str, chain: Story) -> None:
    world = chain.world
    page, errors = _open(browser, server + "/jobs")
    before = _number(page.get_by_test_id("job-count").inner_text())
    world.client(ADMIN).consortium.reinstate(world.address(WESTLAND)).transact()
    job_id = world.run_job(world.query_request(visits=False))
    # The page polls /api/head and reloads itself once the server has read the new blocks.
    page.wait_for_selector(f'tr[data-job-id="{job_id}"] [data-status="FINALIZED"]', timeout=30_000)
    assert _number(page.get_by_test_id("job-count").inner_text()) == before + 1
    page.goto(server + f"/jobs/{job_id}")
    assert page.locator("#verify").get_attribute("data-verified") == "true"
    page.goto(server + f"/members/{world.address(WESTLAND)}")
    assert "reinstated" in page.locator("main").inner_text()
    assert errors == []
    page.close()


def test_bad_query_parameters_get_a_clear_400(server: str) -> None:
    for path, message in (("/jobs?page=abc", "page must be a number from 1, got &#x27;abc&#x27;"),
                          ("/jobs?member=Nobody", "no member &#x27;Nobody&#x27; on chain"),
                          ("/jobs/999", "no job 999 on chain")):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server + path, timeout=10)
        assert refused.value.code == 400
        assert message in refused.value.read().decode(), path
