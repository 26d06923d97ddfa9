"""Run a local anvil chain for tests and benchmarks.

``AnvilNode.start()`` launches the anvil binary installed by ``npm ci`` on a free
port, waits until it answers JSON-RPC, and returns a handle with the RPC URL and
the funded dev accounts (address and private key, derived from the mnemonic
anvil was started with). ``stop()`` terminates it; an ``atexit`` hook stops any
node still running when the interpreter exits, so a crashed test run never
leaves anvil behind.

Blocks are mined on every transaction (automine, no ``--block-time``), so a
transaction's receipt is available as soon as it is sent and timestamps only
move when a test moves them (``evm_increaseTime`` / ``evm_mine``).

    node = AnvilNode.start(accounts=20)
    try:
        ...  # node.rpc_url, node.accounts[0].address, node.accounts[0].private_key
    finally:
        node.stop()
"""

from __future__ import annotations

import atexit
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ANVIL_CANDIDATES = (
    PROJECT_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil",
    PROJECT_ROOT / "node_modules" / ".bin" / "anvil",
)
# anvil's own default mnemonic; passed explicitly so the key derivation below
# always matches the accounts anvil funds.
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
DERIVATION_PATH = "m/44'/60'/0'/0/{index}"

_running: set[AnvilNode] = set()


class AnvilError(RuntimeError):
    """anvil could not be found, started or reached."""


@dataclass(frozen=True)
class DevAccount:
    """A funded dev account: its checksummed address and hex private key."""

    address: str
    private_key: str


def anvil_binary() -> Path:
    """Return the anvil executable installed under node_modules."""
    for candidate in ANVIL_CANDIDATES:
        if candidate.is_file():
            return candidate
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise AnvilError(
        f"anvil not found at {', '.join(map(str, ANVIL_CANDIDATES))} nor on PATH; "
        "run `npm ci` (or `make setup`) to install @foundry-rs/anvil"
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def derive_accounts(mnemonic: str, count: int) -> list[DevAccount]:
    """Derive the first ``count`` accounts of ``mnemonic`` on the standard Ethereum path."""
    Account.enable_unaudited_hdwallet_features()
    accounts = []
    for index in range(count):
        local = Account.from_mnemonic(mnemonic, account_path=DERIVATION_PATH.format(index=index))
        accounts.append(DevAccount(address=local.address, private_key=local.key.hex()))
    return accounts


class AnvilNode:
    """A running anvil process (use :meth:`start`)."""

    def __init__(self, process: subprocess.Popen, rpc_url: str, accounts: list[DevAccount],
                 chain_id: int, stderr) -> None:
        self.process = process
        self.rpc_url = rpc_url
        self.accounts = accounts
        self.chain_id = chain_id
        self._stderr = stderr

    @classmethod
    def start(
        cls,
        accounts: int = 20,
        mnemonic: str = DEFAULT_MNEMONIC,
        hardfork: str | None = None,
        chain_id: int = 31337,
        startup_timeout: float = 30.0,
        extra_args: tuple[str, ...] = (),
    ) -> AnvilNode:
        """Start anvil on a free port and wait until it answers ``eth_chainId``.

        ``hardfork`` defaults to anvil's own default (the latest it knows).
        Raises :class:`AnvilError` if the process exits or stays silent for
        ``startup_timeout`` seconds.
        """
        binary = anvil_binary()
        last_error: Exception | None = None
        # A port found free can be taken before anvil binds it; retry a few times.
        for _attempt in range(3):
            port = free_port()
            command = [
                str(binary), "--port", str(port), "--host", "127.0.0.1", "--silent",
                "--accounts", str(accounts), "--mnemonic", mnemonic,
                "--chain-id", str(chain_id), *extra_args,
            ]
            if hardfork:
                command += ["--hardfork", hardfork]
            # stderr goes to a file, not a pipe: nobody reads a pipe while anvil runs, and a
            # full pipe would block it. The file is read only to explain a failed start.
            stderr = tempfile.TemporaryFile()
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
            node = cls(process, f"http://127.0.0.1:{port}", derive_accounts(mnemonic, accounts), chain_id, stderr)
            _running.add(node)
            try:
                node._wait_ready(startup_timeout)
                return node
            except AnvilError as exc:
                last_error = exc
                node.stop()
        raise AnvilError(f"anvil did not start after 3 attempts: {last_error}")

    def rpc(self, method: str, params: list | None = None) -> object:
        """Send one JSON-RPC request and return its ``result`` (raises on an RPC error)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        request = urllib.request.Request(
            self.rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            reply = json.loads(response.read())
        if "error" in reply:
            raise AnvilError(f"{method} failed: {reply['error']}")
        return reply["result"]

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._stderr.seek(0)
                stderr = self._stderr.read().decode(errors="replace").strip()
                raise AnvilError(f"anvil exited with code {self.process.returncode}: {stderr}")
            try:
                if int(str(self.rpc("eth_chainId")), 16) == self.chain_id:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise AnvilError(f"anvil at {self.rpc_url} did not answer within {timeout} s")

    def stop(self) -> None:
        """Terminate anvil (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        _running.discard(self)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._stderr.close()

    # -- chain control (anvil / hardhat-style methods) ---------------------------------

    def snapshot(self) -> str:
        """Take an ``evm_snapshot`` and return its id."""
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        """Restore the chain to ``snapshot_id`` (which anvil then forgets)."""
        if self.rpc("evm_revert", [snapshot_id]) is not True:
            raise AnvilError(f"evm_revert({snapshot_id}) refused")

    def latest_timestamp(self) -> int:
        """Timestamp of the latest block."""
        block = self.rpc("eth_getBlockByNumber", ["latest", False])
        return int(block["timestamp"], 16)

    def advance_time(self, seconds: int) -> int:
        """Mine one block ``seconds`` after the latest one; return its timestamp."""
        target = self.latest_timestamp() + seconds
        self.rpc("evm_mine", [target])
        return target


@atexit.register
def _stop_all() -> None:
    for node in list(_running):
        node.stop()
