"""The member node: one process per member (``unseen node start --config node.toml``).

:class:`Node` puts the pieces together:

* a :class:`~offchain.node.watcher.ChainWatcher` thread polls the chain and
  records events in the SQLite state (:mod:`offchain.node.state`);
* a :class:`~offchain.node.scheduler.Scheduler` advances jobs in a bounded
  pool, oldest first, with a :class:`~offchain.node.driver.JobDriver`;
* the network listener on the node's one port accepts MPC links for the
  jobs' sessions and serves deliveries and result fetches
  (:mod:`offchain.node.services`), admitting only active members whose TLS
  key matches the fingerprint they registered.

:meth:`Node.check` runs before anything starts and refuses, with one clear
line, a configuration that cannot work: a key that is not a member, a TLS key
or endpoint that differs from the registered ones, a chain that cannot be
reached or holds another deployment.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from eth_utils import to_checksum_address

from offchain.chain.client import ChainClient
from offchain.chain.deployment import Deployment
from offchain.chain.keys import load_account
from offchain.chain.models import MemberStatus
from offchain.chain.rpc import Rpc
from offchain.chain.signer import Signer
from offchain.data.store import LocalStore
from offchain.errors import ConfigError, InputError, UnseenError
from offchain.ml.model import DirectoryModelStore
from offchain.net.identity import NodeIdentity, format_fingerprint
from offchain.node.actions import ChainActions
from offchain.node.authorization import Authorized, derive_plan
from offchain.node.config import NodeConfig
from offchain.node.driver import JobDriver
from offchain.node.jobspec import JobDescription
from offchain.node.network import NodeNetwork
from offchain.node.scheduler import Scheduler
from offchain.node.services import NodeServices
from offchain.node.state import ACTIVE_PHASES, NodeState
from offchain.node.watcher import ChainWatcher
from offchain.programs import registry
from offchain.programs.base import Plan

log = logging.getLogger("unseen.node")

#: How long the node retries opening its DuckDB file while another process writes to it.
STORE_LOCK_WAIT_SECONDS = 30.0
#: Peers' endpoints and keys are read from the chain again after this long.
PEER_CACHE_SECONDS = 30.0


class Node:
    """A running member node (see the module docstring)."""

    def __init__(self, config: NodeConfig, driver_class: type[JobDriver] = JobDriver) -> None:
        self.config = config
        self.account = load_account(config.key)
        self.address = self.account.address
        self.identity = NodeIdentity.load(config.tls_key, config.tls_certificate)
        self.deployment = Deployment.load(config.deployment) if config.deployment else Deployment.load()
        self.rpc_url = config.rpc_url or self.deployment.rpc_url
        rpc = Rpc(self.rpc_url)
        self.client = ChainClient(rpc, self.deployment, Signer(rpc, self.account))
        self._readers = threading.local()
        self.state = NodeState(config.state_database)
        self.models = DirectoryModelStore(config.state_dir / "models")
        self.actions = ChainActions(self.client, self.state)
        self.driver = driver_class(self)
        self.scheduler = Scheduler(self.driver.advance, config.max_concurrent_jobs)
        self.services = NodeServices(self)
        self.network: NodeNetwork | None = None
        self._plans: dict[int, Authorized] = {}
        self._plans_lock = threading.Lock()
        self._peers: dict[str, tuple[float, tuple[str, bytes]]] = {}
        self._fingerprints: dict[bytes, tuple[float, str | None]] = {}
        self._window: tuple[float, int] | None = None
        self._names: tuple[float, dict[str, str]] | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        registry.names()  # load every program before the workers start

    # -- chain access ------------------------------------------------------------------

    def reader(self) -> ChainClient:
        """A chain client for this thread (views only; transactions go through ``actions``)."""
        client = getattr(self._readers, "client", None)
        if client is None:
            client = ChainClient(Rpc(self.rpc_url), self.deployment, artifacts=self.client.artifacts)
            self._readers.client = client
        return client

    def name_of(self, address: str) -> str:
        """The registered name of member ``address`` (for logs and messages; cached)."""
        address = to_checksum_address(address)
        if self._names is None or time.monotonic() - self._names[0] > PEER_CACHE_SECONDS or address not in self._names[1]:
            self._names = (time.monotonic(), {m.address: m.name for m in self.reader().consortium.members()})
        return self._names[1].get(address, address)

    def confirmation_window(self) -> int:
        """Seconds the requester has to finalize a committed job before participants may (cached)."""
        if self._window is None or time.monotonic() - self._window[0] > PEER_CACHE_SECONDS:
            self._window = (time.monotonic(), self.reader().jobs.timings()[1])
        return self._window[1]

    @property
    def suspended(self) -> str | None:
        """Why this member may not serve (suspended or removed), or None."""
        return self.state.flag("suspended")

    # -- checks ----------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Refuse a configuration that cannot work; return what was checked, for people."""
        self.deployment.verify(self.client.rpc)
        consortium = self.client.consortium
        member = consortium.member(self.address)
        if member.status is MemberStatus.NONE:
            raise ConfigError(
                f"{self.config.source}: key {self.config.key} is account {self.address}, which is not a "
                "member of this consortium; use the member's key or ask the admin to admit it"
            )
        if member.name != self.config.member_name:
            raise ConfigError(
                f"{self.config.source}: [member] name is {self.config.member_name!r} but {self.address} "
                f"is registered as {member.name!r}; fix the name or the key"
            )
        if member.tls_fingerprint != self.identity.fingerprint:
            raise ConfigError(
                f"the TLS key {self.config.tls_key} has fingerprint {self.identity.fingerprint_hex} but "
                f"{member.name} registered {format_fingerprint(member.tls_fingerprint)}; register it with "
                f"`unseen node init --config {self.config.source} --register`"
            )
        if member.endpoint != self.config.advertised_endpoint:
            raise ConfigError(
                f"{member.name} registered endpoint {member.endpoint} but this node serves "
                f"{self.config.advertised_endpoint}; set [node] endpoint or register it with "
                f"`unseen node init --config {self.config.source} --register`"
            )
        checks = [
            f"chain {self.deployment.chain_id} at {self.rpc_url}: deployment verified",
            f"member {member.name} ({self.address}) is {member.status.name.lower()}",
            f"TLS key {self.identity.fingerprint_hex[:16]}… matches the registered fingerprint",
            f"endpoint {member.endpoint} matches the registered one",
        ]
        if member.status is not MemberStatus.ACTIVE:
            checks.append(f"WARNING: {member.name} is {member.status.name.lower()}: the node will not serve")
        return checks

    # -- peers -----------------------------------------------------------------------------

    def peer(self, address: str) -> tuple[str, bytes]:
        """The registered endpoint and TLS fingerprint of member ``address``."""
        address = to_checksum_address(address)
        cached = self._peers.get(address)
        if cached is not None and time.monotonic() - cached[0] < PEER_CACHE_SECONDS:
            return cached[1]
        member = self.reader().consortium.member(address)
        found = (member.endpoint, member.tls_fingerprint)
        self._peers[address] = (time.monotonic(), found)
        return found

    def member_for_fingerprint(self, fingerprint: bytes) -> str | None:
        """The active member whose registered TLS key has ``fingerprint`` (the listener asks)."""
        cached = self._fingerprints.get(fingerprint)
        if cached is not None and time.monotonic() - cached[0] < PEER_CACHE_SECONDS:
            return cached[1]
        reader = self.reader()
        address = reader.consortium.handle.call("memberByFingerprint", fingerprint)
        found = None
        if int(address, 16) != 0 and reader.consortium.member_status(address) is MemberStatus.ACTIVE:
            found = to_checksum_address(address)
        self._fingerprints[fingerprint] = (time.monotonic(), found)
        return found

    def forget_peers(self) -> None:
        """Drop cached endpoints, keys and statuses (a member changed)."""
        self._peers.clear()
        self._fingerprints.clear()

    def call(self, address: str, service: str, job_id: int, metadata: dict[str, Any],
             arrays: list[np.ndarray]) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Call ``service`` of member ``address``'s node for ``job_id`` (locally if it is this node)."""
        metadata = {**metadata, "job_id": job_id}
        if to_checksum_address(address) == self.address:
            return self.services.handlers()[service](self.address, metadata, arrays)
        endpoint, fingerprint = self.peer(address)
        if self.network is None:
            raise ConfigError("the node's network is not started")
        return self.network.call(endpoint, fingerprint, service, job_id, metadata, arrays,
                                 self.config.service_timeout)

    # -- plans ----------------------------------------------------------------------------

    def remember(self, authorized: Authorized) -> None:
        with self._plans_lock:
            self._plans[authorized.job.job_id] = authorized

    def recall(self, job_id: int) -> Authorized | None:
        with self._plans_lock:
            return self._plans.get(job_id)

    def forget(self, job_id: int) -> None:
        with self._plans_lock:
            self._plans.pop(job_id, None)

    def plan_for(self, job: JobDescription) -> Plan:
        """The job's plan, re-derived from the chain if this node has not derived it yet."""
        found = self.recall(job.job_id)
        if found is None:
            program, plan = derive_plan(self.reader(), job)
            found = Authorized(job, program, plan)
            self.remember(found)
        return found.plan

    # -- local data --------------------------------------------------------------------------

    def open_store(self) -> LocalStore:
        """Open the member's DuckDB file read-only, waiting while another process writes to it."""
        path = self.config.duckdb_path
        if not Path(path).exists():
            raise InputError(
                f"the node's database {path} does not exist: import data with `unseen dataset register`"
            )
        deadline = time.monotonic() + STORE_LOCK_WAIT_SECONDS
        while True:
            try:
                return LocalStore(path, read_only=True)
            except InputError as error:
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # -- running ----------------------------------------------------------------------------

    def wake(self, job_id: int, delay: float = 0.0) -> None:
        self.scheduler.wake(job_id, delay)

    def start(self) -> None:
        """Start listening, watching and working (returns at once; see :meth:`run`)."""
        self.network = NodeNetwork(self.identity, self.config.listen, self.member_for_fingerprint,
                                   one_way_delay=self.config.network_delay_ms / 1000.0,
                                   max_request_bytes=self.config.max_payload_bytes)
        for name, handler in self.services.handlers().items():
            self.network.serve(name, handler)
        self.network.start()
        self.watcher = ChainWatcher(self, self.wake)
        self.scheduler.start()
        for row in self.state.jobs(ACTIVE_PHASES):
            self.wake(row.job_id)
        thread = threading.Thread(target=self._watch, name="chain-watcher", daemon=True)
        thread.start()
        self._threads.append(thread)
        log.info("%s (%s) listening on %s, watching chain %d at %s from block %d", self.config.member_name,
                 self.address, self.config.listen, self.deployment.chain_id, self.rpc_url,
                 self.watcher.cursor.position.block_number)

    def _watch(self) -> None:
        backoff = self.config.poll_interval
        while not self._stop.is_set():
            try:
                self.watcher.poll()
                backoff = self.config.poll_interval
            except UnseenError as error:
                log.warning("chain watcher: %s: %s (retrying in %.1f s)", type(error).__name__, error, backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:  # noqa: BLE001 - the watcher must outlive any single failure
                log.exception("chain watcher: unexpected failure")
                backoff = min(backoff * 2, 10.0)
            self._stop.wait(backoff)

    def stop(self) -> None:
        """Stop watching, close the port, let running steps finish, close the state.

        The port closes first so that a step waiting on peers (an MPC session
        or an owners' alignment whose peers have gone) ends at once instead of
        holding the shutdown for its session timeout; whatever it did not
        finish is redone from the stored state at the next start.
        """
        self._stop.set()
        for thread in self._threads:
            thread.join(5.0)
        if self.network is not None:
            self.network.close()
        self.scheduler.stop()
        self.state.close()
        log.info("%s stopped", self.config.member_name)

    def run(self, ready: Callable[[], None] | None = None) -> None:
        """Start, then serve until SIGINT or SIGTERM; stop cleanly."""
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            if ready is not None:
                ready()
            while not stop.wait(1.0):
                pass
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def configure_logging(config: NodeConfig, verbose: bool = False) -> None:
    """Log to ``state_dir/node.log`` and to standard error."""
    config.log_file.parent.mkdir(parents=True, exist_ok=True)
    formatter = logging.Formatter("%(asctime)s %(levelname)s [%(threadName)s] %(message)s")
    logger = logging.getLogger("unseen")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in (logging.FileHandler(config.log_file), logging.StreamHandler()):
        handler.setFormatter(formatter)
        logger.addHandler(handler)
