"""A small consortium for the end-to-end tests: four lenders with generated data, nodes as processes."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from offchain.client.datasets import register_dataset
from offchain.demo.consortium import LocalConsortium, MemberSpec
from offchain.demo.data import plaintext
from offchain.demo.scenario import offer_data

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = (
    MemberSpec("Aurora Bank", 1, compute_price=10),
    MemberSpec("Borealis Credit", 2, compute_price=8),
    MemberSpec("Cobalt Finance", 3, compute_price=12),
    MemberSpec("Delta Lending", 4, compute_price=9),
)
REQUESTER = "Aurora Bank"
OTHERS = tuple(m.name for m in MEMBERS if m.name != REQUESTER)
ROWS = 300
POOL = 400
FAULTY_RUNNER = ("-m", "tests.e2e.faulty_node")


@dataclass
class World:
    consortium: LocalConsortium
    files: dict[str, dict[str, Path]]
    as_of: dt.date
    directory: Path

    def lending_counts(self, window_days: int = 30) -> dict[str, int]:
        """Per applicant, the number of other lenders with an application in the window (plaintext)."""
        first = self.as_of - dt.timedelta(days=window_days - 1)
        files = {f"l{i}": self.files[name]["applications"] for i, name in enumerate(OTHERS)}
        return dict(plaintext("SELECT applicant_id, count(*) FROM (" + " UNION ALL ".join(
            f"SELECT DISTINCT applicant_id FROM l{i} WHERE applied_on BETWEEN DATE '{first}' AND DATE '{self.as_of}'"
            for i in range(len(OTHERS))) + ") GROUP BY applicant_id", **files))

    def start_faulty(self, name: str, fault: str) -> Path:
        """Restart ``name``'s node with ``fault`` injected; return the marker file it writes when it strikes."""
        marker = self.directory / f"{fault}-{name.split()[0].lower()}.marker"
        marker.unlink(missing_ok=True)
        self.consortium.stop_node(name)
        self.consortium.start_node(name, runner=FAULTY_RUNNER, environment={
            "UNSEEN_TEST_FAULT": fault, "UNSEEN_TEST_MARKER": str(marker),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        })
        return marker


def build_world(directory: Path, *, session_timeout: float = 15.0, confirmation_window: int = 3600) -> World:
    """Start the consortium, give every lender data and grants, add an ungranted dataset, start the nodes."""
    consortium = LocalConsortium(directory / "consortium", MEMBERS, session_timeout=session_timeout,
                                 confirmation_window=confirmation_window)
    try:
        consortium.start()
        as_of = dt.date.today()
        files = offer_data(consortium, directory / "data", np.random.default_rng(11), ROWS, POOL, as_of)
        # Delta's ledger: registered, never granted to anyone.
        delta = consortium.node_config("Delta Lending")
        register_dataset(consortium.client("Delta Lending"), delta.duckdb_path, delta.state_database, "ledger",
                         source=files["Delta Lending"]["loans"])
        consortium.start_nodes()
    except BaseException:
        consortium.close()
        raise
    return World(consortium, files, as_of, directory)


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
