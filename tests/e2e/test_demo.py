"""`make demo` end to end: `unseen demo` as a subprocess, every scenario agreeing with its plaintext answer.

The demo checks itself (each secure answer against the answer computed in
the clear from the same files, and the regulator's audit) and exits with
status 1 when anything differs; this test runs it exactly as ``make demo``
does (in its own directory, on smaller tables) and also checks that every
process it started is gone when it returns.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCENARIOS = (
    "secure statistics", "multi-lending check, one applicant", "multi-lending check, batch",
    "refusal before any fee", "secure SQL join", "secure model training", "secure model scoring",
    "secure publishing", "secure script", "regulator's audit",
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0; it is gone for every purpose that matters here.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_the_demo_runs_every_capability_and_every_answer_agrees(tmp_path: Path) -> None:
    # Smaller tables than make demo's (which only change how long the MPC takes), every scenario the same.
    done = subprocess.run([sys.executable, "-m", "offchain.cli", "demo", "--dir", str(tmp_path / "demo"),
                           "--rows", "4000", "--pool", "10000", "--batch", "100"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})
    output = done.stdout
    assert done.returncode == 0, output[-6000:] + done.stderr
    for scenario in SCENARIOS:
        assert re.search(rf"agrees\s+{re.escape(scenario)}\n", output), scenario
    assert "DIFFERS" not in output and "anomalies: none" in output
    assert "every process stopped" in output
    for marker in ("secure SQL", "secure model", "secure publishing", "secure script", "the regulator's audit"):
        assert marker in output, marker
    pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", output)]
    assert len(pids) == 7  # one node per member
    assert not [pid for pid in pids if _alive(pid)]
    assert not (tmp_path / "demo" / "consortium").exists()  # removed without --keep
