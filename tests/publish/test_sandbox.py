"""The sandbox process: runaway programs are stopped with a clear error; the node keeps serving."""

from __future__ import annotations

import threading

import pytest

from offchain.errors import RuleFailed, SandboxError, SandboxMemoryExceeded, SandboxTimeout
from offchain.publish import sandbox
from offchain.publish.sandbox import Limits, run_sandboxed

GENEROUS = Limits(steps=10**12, cpu_seconds=60, wall_seconds=60.0, memory_bytes=256 * 2**20)
FOREVER = "result = 0\nfor i in range(1000000):\n    for j in range(1000000):\n        result = i\n"


def evaluate(source: str, limits: Limits = GENEROUS, rows=(), fields=(), arguments=None):
    return run_sandboxed(source, list(arguments or {}), ["result"], list(fields),
                         arguments or {}, list(rows), limits)


def test_a_program_returns_its_outputs_as_tagged_values() -> None:
    result = evaluate("result = sum(r.amount for r in rows) + claimed",
                      rows=[[{"d": "1.25"}], [{"d": "2.50"}]], fields=["amount"],
                      arguments={"claimed": {"i": "3"}})
    assert result.outputs == {"result": {"d": "6.75"}}
    assert result.steps > 0


def test_the_step_budget_stops_a_loop() -> None:
    with pytest.raises(SandboxTimeout, match="budget of 20000 steps"):
        evaluate(FOREVER, Limits(20_000, 60, 60.0, 256 * 2**20))


def test_the_cpu_limit_kills_a_loop_the_budget_allows() -> None:
    with pytest.raises(SandboxTimeout, match="CPU-time limit of 1 s"):
        evaluate(FOREVER, Limits(10**12, 1, 60.0, 256 * 2**20))


def test_the_wall_clock_kills_a_loop_the_cpu_limit_allows() -> None:
    with pytest.raises(SandboxTimeout, match="wall-clock limit of 1.5 s"):
        evaluate(FOREVER, Limits(10**12, 60, 1.5, 256 * 2**20))


def test_the_memory_limit_stops_unbounded_allocation() -> None:
    hog = ("a = [decimal(i) * 3 for i in range(1000000)]\n"
           "b = [decimal(i) * 7 for i in range(1000000)]\n"
           "result = len(a) + len(b)\n")
    with pytest.raises(SandboxMemoryExceeded, match="memory limit of 64 MiB"):
        evaluate(hog, Limits(10**12, 60, 60.0, 64 * 2**20))


def test_outputs_that_are_not_single_values_are_refused_in_the_worker() -> None:
    with pytest.raises(RuleFailed, match="outputs are single values"):
        evaluate("result = [1, 2]")


def test_the_worker_checks_the_rules_itself() -> None:
    # The parent normally checks first; a request that slips past is refused again.
    with pytest.raises(RuleFailed, match="imports are not allowed"):
        evaluate("import os\nresult = 1")


def test_the_worker_has_no_file_descriptors_to_spare(monkeypatch) -> None:
    # Even code running inside the worker (not reachable from a rule) cannot open a file:
    # prove the limit by running a bootstrap that tries after the limits are set.
    probe = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); import resource; "
        "import errno, socket; "
        "from offchain.publish import worker; worker._limit(5, 256 * 2**20); "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3));\n"
        "found = []\n"
        "for attempt in (lambda: open(sys.executable, 'rb'), lambda: socket.socket()):\n"
        "    try:\n        attempt()\n        found.append('OPENED')\n"
        "    except OSError as exc:\n        found.append(errno.errorcode[exc.errno])\n"
        "print('{\"ok\": false, \"error\": \"input\", \"message\": \"' + ' '.join(found) + '\"}')\n"
    )
    monkeypatch.setattr(sandbox, "_BOOTSTRAP", probe)
    with pytest.raises(SandboxError, match="EMFILE EMFILE"):
        evaluate("result = 1")


def test_the_node_keeps_serving_while_a_runaway_program_is_stopped() -> None:
    outcome: dict[str, BaseException | None] = {}

    def runaway() -> None:
        try:
            evaluate(FOREVER, Limits(10**12, 60, 3.0, 256 * 2**20))
            outcome["runaway"] = None
        except BaseException as error:  # noqa: BLE001 - recorded for the assertion
            outcome["runaway"] = error

    thread = threading.Thread(target=runaway)
    thread.start()
    served = [evaluate(f"result = {n} * 2").outputs["result"] for n in range(5)]
    thread.join(timeout=30)
    assert served == [{"i": str(2 * n)} for n in range(5)]
    assert isinstance(outcome["runaway"], SandboxTimeout)
    assert evaluate("result = 42").outputs == {"result": {"i": "42"}}
