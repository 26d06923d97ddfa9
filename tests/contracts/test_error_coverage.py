"""Every custom error is provoked by some test, and no two errors share a selector."""

from __future__ import annotations

import re
from pathlib import Path

from tests.contracts.helpers import declared_errors, error_registry

# Error names appear in the tests only as the expected error of expect_revert,
# expect_call_revert, expect_reason or refused (all of which check selector and arguments), so a
# quoted occurrence of the name in a test module means a test provokes and asserts that error.
QUOTED_NAME = re.compile(r'"([A-Z][A-Za-z]+)"')


def _asserted_errors() -> set[str]:
    here = Path(__file__).parent
    names: set[str] = set()
    for path in sorted(here.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        names.update(QUOTED_NAME.findall(path.read_text()))
    return names


def test_everyCustomErrorIsAssertedByATest() -> None:
    declared = declared_errors()
    assert len(declared) > 100
    missing = sorted(declared - _asserted_errors())
    assert not missing, f"custom errors no test provokes: {missing}"


def test_errorSelectorsAreUniqueAcrossContracts() -> None:
    registry = error_registry()  # raises if two different errors share a selector
    names = [spec.name for spec in registry.values()]
    assert len(names) == len(set(names)) >= len(declared_errors())
