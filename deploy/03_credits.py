"""Step 3: issue each member its initial credits (once per deployment).

Usage: ``python deploy/03_credits.py --config deploy/consortium.example.toml --rpc URL``
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _step import run_step  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_step("credits", __doc__.splitlines()[0]))
