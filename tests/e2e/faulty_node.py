"""A member node with one injected fault, for the end-to-end tests.

Run as ``python -m tests.e2e.faulty_node node start --config node.toml`` with
``UNSEEN_TEST_FAULT`` set to one of :data:`FAULTS`; without it the node is
the ordinary one. The faults replace one method of the real node, so the
rest of the process — chain, network, state — is exactly what production
runs.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np

from offchain import cli
from offchain.mpc.sharing import SharePayload
from offchain.node import driver as driver_module
from offchain.node.driver import JobDriver
from offchain.node.state import NodeState


def _tamper_result() -> None:
    """Commit to, and serve, a result share whose two components are both off by one."""
    def result_payloads(self, job, outputs):
        tampered = {}
        for name, payload in outputs.items():
            own = np.asarray(payload.own) + np.uint64(1)
            following = np.asarray(payload.next) + np.uint64(1)
            tampered[name] = SharePayload(payload.party, payload.kind, payload.shape, payload.fractional_bits,
                                          own, following)
        return tampered

    JobDriver.result_payloads = result_payloads


def _crash_before_recording(step_name: str) -> None:
    """SIGKILL the node after a step's transaction is mined but before the step is recorded (once)."""
    marker = Path(os.environ["UNSEEN_TEST_MARKER"])
    original = NodeState.record_step

    def record_step(self, job_id, step, tx_hash=None, detail=None):
        if step == step_name and tx_hash is not None and not marker.exists():
            marker.write_text(f"crashed before recording {step} of job {job_id} (tx {tx_hash})\n")
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, job_id, step, tx_hash, detail)

    NodeState.record_step = record_step


def _crash_in_mpc() -> None:
    """SIGKILL the node once, inside the MPC session of a job, after it received every input."""
    marker = Path(os.environ["UNSEEN_TEST_MARKER"])
    original = driver_module.compute_at_party

    def compute_at_party(runtime, *args):
        if not marker.exists():
            marker.write_text(f"crashed in the MPC session as party {runtime.party}\n")
            os.kill(os.getpid(), signal.SIGKILL)
        return original(runtime, *args)

    driver_module.compute_at_party = compute_at_party


FAULTS = {
    "tamper-result": _tamper_result,
    "crash-before-recording-commit-result": lambda: _crash_before_recording("commit-result"),
    "crash-in-mpc": _crash_in_mpc,
}


def main() -> int:
    fault = os.environ.get("UNSEEN_TEST_FAULT")
    if fault:
        FAULTS[fault]()
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
