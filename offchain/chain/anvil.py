"""Run a local anvil chain (from ``node_modules``) for development and the demo.

``unseen chain start`` starts one in the background and records it in
``.unseen/anvil.json`` (pid, port, URL); it keeps running after the command
exits, and keeps its state in ``.unseen/anvil-state.json`` across
``unseen chain stop`` / ``start`` (anvil's ``--state``: loaded at start, dumped
at exit). ``unseen deploy`` without ``--rpc`` starts it when it is not running.
Accounts are anvil's well-known development accounts (never use them on a
real chain).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from eth_account import Account

from offchain.chain.artifacts import PROJECT_ROOT
from offchain.chain.rpc import Rpc
from offchain.errors import ChainError, ConfigError, RpcUnavailable

#: The mnemonic anvil derives its development accounts from by default.
DEVELOPMENT_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_PORT = 8545
STATE_DIRECTORY = Path(".unseen")

Account.enable_unaudited_hdwallet_features()


def development_key(index: int) -> str:
    """Return the private key of anvil development account ``index`` (0-based)."""
    if not 0 <= index < 1000:
        raise ConfigError(f"anvil account index must be between 0 and 999, got {index}")
    account = Account.from_mnemonic(DEVELOPMENT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return "0x" + bytes(account.key).hex()


def anvil_binary(root: Path = PROJECT_ROOT) -> Path:
    """Return the anvil executable installed by ``npm ci``."""
    candidates = [
        root / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil",
        root / "node_modules" / ".bin" / "anvil",
    ]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise ConfigError(
        f"anvil is not installed under {root / 'node_modules'}: run `make setup` (npm ci)"
    )


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class AnvilRecord:
    """A running anvil started by Unseen, as recorded in ``anvil.json``."""

    pid: int
    port: int
    url: str
    chain_id: int
    state_file: str
    log_file: str

    def alive(self) -> bool:
        """Return whether the recorded process still runs and answers."""
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        try:
            Rpc(self.url, timeout=2.0).request("eth_chainId")
        except (RpcUnavailable, ChainError):
            return False
        return True


class LocalChain:
    """Start, find and stop the background anvil of one Unseen working directory."""

    def __init__(self, directory: Path = STATE_DIRECTORY) -> None:
        self.directory = directory
        self.record_file = directory / "anvil.json"

    def running(self) -> AnvilRecord | None:
        """Return the running anvil of this directory, or None."""
        try:
            record = AnvilRecord(**json.loads(self.record_file.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None
        return record if record.alive() else None

    def start(self, port: int | None = None, chain_id: int = 31337, accounts: int = 20,
              block_time: float | None = None, timeout: float = 30.0) -> AnvilRecord:
        """Start anvil in the background (or return the one already running).

        The process is detached (own session) so it outlives this command;
        its output goes to ``anvil.log`` beside the record.
        """
        existing = self.running()
        if existing is not None:
            return existing
        self.directory.mkdir(parents=True, exist_ok=True)
        port = port or DEFAULT_PORT
        if not _port_free(port):
            raise ConfigError(
                f"port {port} on 127.0.0.1 is taken by another process; pass --port or stop it"
            )
        state_file = (self.directory / "anvil-state.json").resolve()
        log_file = (self.directory / "anvil.log").resolve()
        command = [
            str(anvil_binary()), "--port", str(port), "--chain-id", str(chain_id),
            "--accounts", str(accounts), "--state", str(state_file),
        ]
        if block_time:
            command += ["--block-time", str(block_time)]
        with open(log_file, "ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        _wait_until_answering(url, process, timeout, log_file)
        record = AnvilRecord(process.pid, port, url, chain_id, str(state_file), str(log_file))
        self.record_file.write_text(json.dumps(asdict(record), indent=2) + "\n")
        return record

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the recorded anvil (it dumps its state first); return whether one ran."""
        try:
            record = AnvilRecord(**json.loads(self.record_file.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return False
        stopped = _terminate(record.pid, timeout)
        self.record_file.unlink(missing_ok=True)
        return stopped


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_until_answering(url: str, process: subprocess.Popen, timeout: float,
                          log_file: Path) -> None:
    rpc = Rpc(url, timeout=1.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise ChainError(f"anvil exited with code {process.returncode} at start: {tail}")
        try:
            rpc.request("eth_chainId")
            return
        except RpcUnavailable:
            time.sleep(0.05)
    _terminate(process.pid, 5.0)
    raise ChainError(f"anvil did not answer on {url} within {timeout:.0f} s; see {log_file}")


def _terminate(pid: int, timeout: float) -> bool:
    """SIGTERM ``pid`` (anvil dumps --state on it), SIGKILL after ``timeout``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished == pid:
                return True
        except ChildProcessError:
            # Not our child (started by an earlier command): poll for its end.
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


class AnvilProcess:
    """A foreground anvil child process on a free port, for tests and benchmarks.

    Use as a context manager; the process is stopped on exit (and by the
    kernel's process-group rules if the parent dies, since it is not detached).
    """

    def __init__(self, port: int | None = None, chain_id: int = 31337, accounts: int = 20,
                 extra_arguments: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.chain_id = chain_id
        self.url = f"http://127.0.0.1:{self.port}"
        self._command = [
            str(anvil_binary()), "--port", str(self.port), "--chain-id", str(chain_id),
            "--accounts", str(accounts), *extra_arguments,
        ]
        self._process: subprocess.Popen | None = None
        self._log: Path | None = None

    def start(self, timeout: float = 30.0) -> AnvilProcess:
        import tempfile

        handle, name = tempfile.mkstemp(prefix="anvil-", suffix=".log")
        os.close(handle)
        self._log = Path(name)
        with open(self._log, "ab") as log:
            self._process = subprocess.Popen(
                self._command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        _wait_until_answering(self.url, self._process, timeout, self._log)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._log is not None:
            self._log.unlink(missing_ok=True)

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
