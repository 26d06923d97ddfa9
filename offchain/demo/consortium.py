"""A whole consortium on one machine: anvil, the contracts, one node process per member.

:class:`LocalConsortium` is what ``unseen demo``, the end-to-end tests and
``benchmarks/e2e.py`` run on::

    with LocalConsortium(Path("/tmp/c"), [MemberSpec("Aurora Bank", 1), ...]) as consortium:
        consortium.start()                    # anvil, deployment, identities, registration
        consortium.start_nodes()              # `unseen node start` per member, as processes
        outcome = consortium.requester("Aurora Bank").run(text)

Every member gets a directory with its node file, TLS identity, DuckDB file
and state, exactly as ``unseen node init`` makes them; nodes are started
with the ``unseen`` command in their own processes and talk over pinned TLS
on loopback. Everything started is stopped by :meth:`close` (also on
exceptions and Ctrl-C, through the context manager).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from offchain.chain.anvil import AnvilProcess, free_port
from offchain.chain.anvil import _wait_until_answering as wait_until_answering
from offchain.chain.client import ChainClient
from offchain.chain.config import ConsortiumConfig
from offchain.chain.deploy import run_deployment
from offchain.chain.deployment import Deployment
from offchain.chain.keys import load_account
from offchain.chain.rpc import Rpc
from offchain.chain.signer import Signer
from offchain.client.requester import Requester
from offchain.errors import ConfigError, UnseenError
from offchain.net.identity import NodeIdentity
from offchain.node.config import NodeConfig

READY_MARK = "ready on"
START_TIMEOUT_SECONDS = 90.0


@dataclass(frozen=True)
class MemberSpec:
    """One member of a local consortium: its name and anvil development account."""

    name: str
    account: int
    compute_price: int = 10
    credits: int = 10_000_000


@dataclass
class NodeProcess:
    """A running ``unseen node start``."""

    name: str
    process: subprocess.Popen
    log: Path
    offset: int = 0  # where this run's output starts in the log

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self, tail: int = 4000) -> str:
        """The last ``tail`` characters this run wrote."""
        if not self.log.exists():
            return ""
        with open(self.log, "rb") as handle:
            handle.seek(self.offset)
            return handle.read().decode(errors="replace")[-tail:]


def _stop_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the parent dies, however it dies.

    Without it a demo or test killed with SIGKILL would leave its nodes
    running. Elsewhere (no ``prctl``) the parent's clean-up is the only one.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _Anvil(AnvilProcess):
    """The consortium's anvil, stopped by the kernel too if this process dies without cleaning up."""

    def start(self, timeout: float = 30.0) -> _Anvil:
        handle, name = tempfile.mkstemp(prefix="anvil-", suffix=".log")
        os.close(handle)
        self._log = Path(name)
        with open(self._log, "ab") as log:
            self._process = subprocess.Popen(self._command, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, preexec_fn=_stop_with_parent)
        wait_until_answering(self.url, self._process, timeout, self._log)
        return self


def directory_name(member: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in member.lower()).strip("_")


class LocalConsortium:
    """Anvil, the Unseen contracts and member nodes as processes, under one directory."""

    def __init__(self, directory: Path, members: Sequence[MemberSpec], *, network_delay_ms: float = 0.0,
                 max_concurrent_jobs: int = 4, regulator_account: int = 9, session_timeout: float = 60.0,
                 confirmation_window: int = 3600, python: str = sys.executable) -> None:
        if len({m.name.lower() for m in members}) != len(members):
            raise ConfigError("member names must be distinct")
        self.directory = Path(directory).resolve()
        self.members = {m.name: m for m in members}
        self.network_delay_ms = network_delay_ms
        self.max_concurrent_jobs = max_concurrent_jobs
        self.regulator_account = regulator_account
        self.session_timeout = session_timeout
        self.confirmation_window = confirmation_window
        self.python = python
        self.anvil: AnvilProcess | None = None
        self.deployment: Deployment | None = None
        self.nodes: dict[str, NodeProcess] = {}
        self._configs: dict[str, Path] = {}

    # -- set-up ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start anvil, deploy, admit the members, create and register every node's identity."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.anvil = _Anvil(accounts=max(20, max(m.account for m in self.members.values()) + 1)).start()
        ports = {name: free_port() for name in self.members}
        config = ConsortiumConfig.parse({
            "version": 1,
            "chain": {"chain_id": 31337, "max_job_horizon": 7 * 86_400, "confirmation_window": self.confirmation_window},
            "admin": {"key": "anvil:0"},
            "regulator": {"name": "Regulator", "key": f"anvil:{self.regulator_account}"},
            "members": [
                {"name": m.name, "key": f"anvil:{m.account}", "endpoint": f"127.0.0.1:{ports[m.name]}",
                 "compute_price": m.compute_price, "credits": m.credits}
                for m in self.members.values()
            ],
        }, "local consortium")
        deployment_file = self.directory / "deployment.json"
        self.deployment = run_deployment(config, self.anvil.url, deployment_file).deployment
        for name, member in self.members.items():
            home = self.directory / directory_name(name)
            identity = NodeIdentity.generate(name[:64])
            identity.save(home / "tls" / "node.key", home / "tls" / "node.crt", overwrite=True)
            node = NodeConfig(
                source=str(home / "node.toml"), member_name=name, key=f"anvil:{member.account}",
                tls_key=home / "tls" / "node.key", tls_certificate=home / "tls" / "node.crt",
                listen=f"127.0.0.1:{ports[name]}", deployment=deployment_file, rpc_url=self.anvil.url,
                database=home / "data" / f"{directory_name(name)}.duckdb", state_dir=home / "state",
                max_concurrent_jobs=self.max_concurrent_jobs, session_timeout=self.session_timeout,
                network_delay_ms=self.network_delay_ms,
            )
            (home / "node.toml").write_text(node.to_toml(relative_to=home))
            self._configs[name] = home / "node.toml"
            self.client(name).consortium.update_node(node.listen, identity.fingerprint,
                                                     member.compute_price).transact()

    def node_config(self, name: str) -> NodeConfig:
        try:
            return NodeConfig.load(self._configs[name], environment={})
        except KeyError:
            raise ConfigError(f"no member {name!r}; members: {', '.join(self.members)}") from None

    def config_path(self, name: str) -> Path:
        return self._configs[name]

    def client(self, name: str) -> ChainClient:
        """A chain client signing as member ``name`` (or ``"admin"`` / ``"regulator"``)."""
        account = {"admin": 0, "regulator": self.regulator_account}.get(name)
        if account is None:
            account = self.members[name].account
        rpc = Rpc(self.anvil.url)
        return ChainClient(rpc, self.deployment, Signer(rpc, load_account(f"anvil:{account}")))

    def requester(self, name: str) -> Requester:
        return Requester.from_node_config(self.node_config(name))

    # -- nodes ----------------------------------------------------------------------------

    def start_node(self, name: str, runner: Sequence[str] = ("-m", "offchain.cli"),
                   environment: dict[str, str] | None = None, wait: bool = True) -> NodeProcess:
        """Start ``name``'s node as a process (``runner`` lets tests start a modified node)."""
        if name in self.nodes and self.nodes[name].alive():
            raise ConfigError(f"the node of {name} is already running (pid {self.nodes[name].process.pid})")
        log = self.directory / directory_name(name) / "stdout.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        offset = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as output:
            process = subprocess.Popen(
                [self.python, *runner, "node", "start", "--config", str(self._configs[name])],
                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(environment or {}), "PYTHONUNBUFFERED": "1"},
                preexec_fn=_stop_with_parent,
            )
        node = NodeProcess(name, process, log, offset)
        self.nodes[name] = node
        if wait:
            self.wait_ready([name])
        return node

    def start_nodes(self, names: Sequence[str] | None = None) -> None:
        """Start several nodes at once and wait until all are ready."""
        names = list(names or self.members)
        for name in names:
            self.start_node(name, wait=False)
        self.wait_ready(names)

    def wait_ready(self, names: Sequence[str], timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        waiting = set(names)
        while waiting:
            for name in list(waiting):
                node = self.nodes[name]
                if READY_MARK in node.output(tail=1_000_000):
                    waiting.discard(name)
                elif not node.alive():
                    raise UnseenError(f"the node of {name} exited with code {node.process.returncode}:\n"
                                      f"{node.output()}")
            if waiting and time.monotonic() > deadline:
                raise UnseenError(f"nodes {sorted(waiting)} did not get ready within {timeout:.0f} s")
            time.sleep(0.1)

    def stop_node(self, name: str, kill: bool = False, timeout: float = 20.0) -> None:
        """Stop ``name``'s node: SIGTERM (clean), or SIGKILL at once with ``kill``."""
        node = self.nodes.get(name)
        if node is None or not node.alive():
            return
        node.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            node.process.wait(timeout)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()

    def close(self) -> None:
        """Stop every node and anvil."""
        for name in list(self.nodes):
            if self.nodes[name].alive():
                self.nodes[name].process.send_signal(signal.SIGTERM)
        for name in list(self.nodes):
            self.stop_node(name)
        if self.anvil is not None:
            self.anvil.stop()
            self.anvil = None

    def __enter__(self) -> LocalConsortium:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
