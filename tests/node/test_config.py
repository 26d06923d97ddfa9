"""The node file: checked keys, relative paths, and file < flags < environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from offchain.errors import ConfigError
from offchain.node.config import NodeConfig

MINIMAL = """version = 1
[member]
name = "Northbank"
key = "anvil:1"
[tls]
key = "tls/node.key"
certificate = "tls/node.crt"
[node]
listen = "127.0.0.1:7101"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_minimal_file_fills_defaults_and_resolves_paths(tmp_path: Path) -> None:
    config = NodeConfig.load(_write(tmp_path, MINIMAL), environment={})
    assert config.member_name == "Northbank" and config.key == "anvil:1"
    assert config.tls_key == tmp_path / "tls" / "node.key"
    assert config.state_dir == tmp_path / "state"
    assert config.duckdb_path == tmp_path / "state" / "data.duckdb"
    assert config.advertised_endpoint == "127.0.0.1:7101"
    assert (config.max_concurrent_jobs, config.session_timeout) == (4, 120.0)


def test_flags_override_the_file_and_the_environment_overrides_flags(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "[limits]\nmax_concurrent_jobs = 2\n")
    flagged = NodeConfig.load(path, overrides={"max_concurrent_jobs": 6, "listen": "0.0.0.0:9000"},
                              environment={})
    assert (flagged.max_concurrent_jobs, flagged.listen) == (6, "0.0.0.0:9000")
    both = NodeConfig.load(path, overrides={"max_concurrent_jobs": 6},
                           environment={"UNSEEN_NODE_MAX_CONCURRENT_JOBS": "8", "UNSEEN_KEY": "anvil:2"})
    assert (both.max_concurrent_jobs, both.key) == (8, "anvil:2")


def test_missing_key_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL.replace('key = "anvil:1"\n', ""))
    with pytest.raises(ConfigError, match=r"missing \[member\] key"):
        NodeConfig.load(path, environment={})


@pytest.mark.parametrize(("text", "message"), [
    (MINIMAL.replace("version = 1", "version = 2"), "version = 2"),
    (MINIMAL + "[node2]\nx = 1\n", "unknown sections"),
    (MINIMAL.replace('listen = "127.0.0.1:7101"', 'listen = "127.0.0.1:7101"\nport = 3'), r"unknown keys \['port'\]"),
    (MINIMAL.replace("127.0.0.1:7101", "localhost"), "host:port"),
    (MINIMAL + "[limits]\nmax_concurrent_jobs = 0\n", "at least 1"),
    (MINIMAL + "[limits]\nsession_timeout = -3\n", "non-negative"),
    (MINIMAL + "[chain]\nconfirmations = \"many\"\n", "non-negative integer"),
])
def test_malformed_files_are_refused_with_the_offending_value(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        NodeConfig.load(_write(tmp_path, text), environment={})


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unseen node init"):
        NodeConfig.load(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        NodeConfig.load(_write(tmp_path, "version = = 1"))


def test_written_file_reads_back_the_same(tmp_path: Path) -> None:
    config = NodeConfig.load(_write(tmp_path, MINIMAL + '[chain]\nrpc_url = "http://127.0.0.1:8545"\n'),
                             environment={})
    again = NodeConfig.load(_write(tmp_path, config.to_toml(relative_to=tmp_path)), environment={})
    assert {k: v for k, v in vars(again).items() if k != "source"} == {
        k: v for k, v in vars(config).items() if k != "source"}
