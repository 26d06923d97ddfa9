"""The ``unseen`` command."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("unseen: no commands yet", file=sys.stderr)
    return 2
