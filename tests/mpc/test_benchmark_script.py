"""The benchmark script runs end to end on a small size (the figures themselves are not checked)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "mpc_ops.py"


def test_benchmark_prints_a_row_per_operation(capsys):
    spec = importlib.util.spec_from_file_location("mpc_ops_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    assert (
        module.main(
            ["--transport", "local", "--size", "64", "--repeat", "1", "--ops", "mul,lt,sigmoid"]
        )
        == 0
    )
    output = capsys.readouterr().out
    for name in ("int mul", "less-than", "sigmoid"):
        assert name in output
    assert "machine:" in output
