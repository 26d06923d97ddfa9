"""Malformed node files and unreachable peers: one clear line, the right exit code."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from offchain.demo.consortium import LocalConsortium
from offchain.net.identity import NodeIdentity
from tests.e2e.world import MEMBERS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalConsortium]:
    started = LocalConsortium(tmp_path_factory.mktemp("e2e-config") / "consortium", MEMBERS)
    try:
        started.start()
        started.start_nodes(["Aurora Bank", "Borealis Credit"])
        yield started
    finally:
        started.close()


def _node(config: Path, *arguments: str, command: str = "start") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "offchain.cli", "node", command, "--config", str(config),
                           *arguments], capture_output=True, text=True, timeout=60)


def _variant(consortium: LocalConsortium, tmp_path: Path, member: str, edit) -> Path:
    copy = tmp_path / "node.toml"
    copy.write_text(edit(consortium.node_config(member).to_toml()))  # absolute paths
    return copy


def _one_line(done: subprocess.CompletedProcess, exit_code: int, starts: str) -> None:
    assert done.returncode == exit_code, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(starts), done.stderr


def test_missing_key_is_a_usage_error(consortium: LocalConsortium, tmp_path: Path) -> None:
    config = _variant(consortium, tmp_path, "Cobalt Finance", lambda t: t.replace('key = "anvil:3"\n', "", 1))
    _one_line(_node(config), 2, "ConfigError: ")
    assert "missing [member] key" in _node(config).stderr


def test_wrong_rpc_url_names_the_url(consortium: LocalConsortium, tmp_path: Path) -> None:
    config = _variant(consortium, tmp_path, "Cobalt Finance", lambda t: t)
    done = _node(config, "--rpc", "http://127.0.0.1:9")
    _one_line(done, 1, "RpcUnavailable: cannot reach the chain node at http://127.0.0.1:9")


def test_a_key_that_is_not_a_member_is_refused(consortium: LocalConsortium, tmp_path: Path) -> None:
    config = _variant(consortium, tmp_path, "Cobalt Finance", lambda t: t.replace('"anvil:3"', '"anvil:15"', 1))
    _one_line(_node(config), 2, "ConfigError: ")
    assert "is not a member of this consortium" in _node(config).stderr


def test_an_unregistered_tls_key_is_refused_with_the_fix(consortium: LocalConsortium, tmp_path: Path) -> None:
    NodeIdentity.generate("impostor").save(tmp_path / "other.key", tmp_path / "other.crt")
    config = _variant(consortium, tmp_path, "Cobalt Finance", lambda t: t.replace(
        str(consortium.node_config("Cobalt Finance").tls_key), str(tmp_path / "other.key")).replace(
        str(consortium.node_config("Cobalt Finance").tls_certificate), str(tmp_path / "other.crt")))
    done = _node(config)
    _one_line(done, 2, "ConfigError: the TLS key ")
    assert "unseen node init" in done.stderr and "--register" in done.stderr


def test_check_names_unreachable_peers(consortium: LocalConsortium) -> None:
    done = _node(consortium.config_path("Aurora Bank"), command="check")
    assert done.returncode == 1, done.stdout
    assert "peer Borealis Credit" in done.stdout and "reachable" in done.stdout
    for absent in ("Cobalt Finance", "Delta Lending"):
        line = next(line for line in done.stdout.splitlines() if f"peer {absent}" in line)
        assert "unreachable" in line


def test_bad_toml_and_unknown_keys(consortium: LocalConsortium, tmp_path: Path) -> None:
    config = _variant(consortium, tmp_path, "Cobalt Finance", lambda t: t.replace("[limits]", "[limits]\nmax_jobs = 3"))
    _one_line(_node(config), 2, "ConfigError: ")
    assert "unknown keys ['max_jobs'] in [limits]" in _node(config).stderr
    (tmp_path / "broken.toml").write_text("version = 1\n[member\n")
    _one_line(_node(tmp_path / "broken.toml"), 2, "ConfigError: ")


def _cli(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "offchain.cli", *arguments], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_a_member_onboards_with_the_cli_alone(consortium: LocalConsortium, tmp_path: Path) -> None:
    deployment = str(consortium.directory / "deployment.json")
    home = tmp_path / "delta"
    done = _cli("node", "init", "--dir", str(home), "--name", "Delta Lending", "--key", "anvil:4",
                "--listen", "127.0.0.1:7499", "--deployment", deployment, "--rpc", consortium.anvil.url,
                "--register")
    assert done.returncode == 0, done.stderr
    fingerprint = NodeIdentity.load(home / "tls" / "node.key", home / "tls" / "node.crt").fingerprint
    assert fingerprint.hex() in done.stdout
    member = consortium.client("Delta Lending").consortium.member(consortium.client("Delta Lending").address)
    assert (member.tls_fingerprint, member.endpoint) == (fingerprint, "127.0.0.1:7499")
    config = str(home / "node.toml")

    csv = tmp_path / "loans.csv"
    csv.write_text("loan_id,amount,region\n" + "".join(f"{i},{100 + i}.5,{'north' if i % 2 else 'south'}\n"
                                                        for i in range(40)))
    done = _cli("dataset", "register", "loans", "--file", str(csv), "--price-per-job", "7", "--config", config)
    assert done.returncode == 0, done.stderr
    assert "registered — 40 rows (loan_id int64, amount float64, region string)" in " ".join(done.stdout.split())
    done = _cli("dataset", "register", "loans", "--file", str(csv), "--config", config)
    assert done.returncode == 2 and "--new-version" in done.stderr
    done = _cli("dataset", "verify", "loans", "--config", config)
    assert done.returncode == 0 and "matches the registered fingerprint" in done.stdout, done.stderr

    done = _cli("grant", "set", "loans", "--to", "Aurora Bank", "--level", "amount=aggregate",
                "--level", "region=compare", "--kinds", "statistics", "--expires", "30d", "--uses", "5",
                "--config", config)
    assert done.returncode == 0, done.stderr
    done = _cli("grant", "show", "Delta Lending.loans", "--config", config)
    assert done.returncode == 0, done.stderr
    aurora = next(line for line in done.stdout.splitlines() if "Aurora Bank" in line)
    assert "STATISTICS" in aurora and "aggregate" in aurora and "compare" in aurora
    assert "0/5 uses" in " ".join(done.stdout.split())
    done = _cli("grant", "set", "loans", "--to", "Aurora Bank", "--level", "amount=secret", "--config", config)
    assert done.returncode == 2 and done.stderr.startswith("InputError: unknown level 'secret'")

    done = _cli("node", "status", "--config", config)
    assert done.returncode == 0 and "Delta Lending: 0 jobs" in done.stdout, done.stderr
    done = _cli("jobs", "list", "--deployment", deployment, "--rpc", consortium.anvil.url)
    assert done.returncode == 0 and "jobs" in done.stdout, done.stderr
