"""Step 1: deploy the five Unseen contracts, grant JOBS_ROLE to Jobs, set the job timings.

Usage: ``python deploy/01_contracts.py --config deploy/consortium.example.toml --rpc URL``
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _step import run_step  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_step("contracts", __doc__.splitlines()[0]))
