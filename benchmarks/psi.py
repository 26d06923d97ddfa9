"""Benchmark PSI: n × n keys with a given overlap, each party a separate OS process.

Modes:
  ecdh      ECDH-PSI between two members (X25519, RFC 9380 hash), intersection to both
  assisted  matcher-assisted PSI (owners' PRF tags, a compute node matches), to both

Transports:
  tls   pinned mutual TLS 1.3 over loopback (offchain.net.tls), the default
  pipe  Unix socket pairs between the processes (no encryption), for comparison

Times are measured inside each party from a common start (after the links are
up) to its result; the table shows the slowest party. Bytes are payload bytes
each party sent. Usage: python benchmarks/psi.py [--n 1000000] [--modes ecdh,assisted]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import queue
import resource
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import cpu_model  # noqa: E402
from offchain.errors import PeerTimeout, TransportError  # noqa: E402
from offchain.net.transcript import LinkTranscript  # noqa: E402

SPU_SECONDS = {"ecdh": 668.0, "assisted": 7.6}
SPU_NAMES = {"ecdh": "SPU 0.9.5 ECDH", "assisted": "SPU 0.9.5 RR22"}


class PipeTransport:
    """Transport over multiprocessing pipes (Unix socket pairs), one reader thread per link."""

    def __init__(self, party: int, connections: dict, timeout: float = 600.0) -> None:
        self.party = party
        self.timeout = timeout
        self._connections = connections
        self._inboxes = {peer: queue.Queue() for peer in connections}
        self._transcripts = {peer: LinkTranscript(party, peer) for peer in connections}
        self._send_locks = {peer: threading.Lock() for peer in connections}
        self._bytes = 0
        self._messages = 0
        for peer, connection in connections.items():
            threading.Thread(target=self._read, args=(peer, connection), daemon=True).start()

    def _read(self, peer, connection) -> None:
        try:
            while True:
                count = int.from_bytes(connection.recv_bytes(), "little")
                arrays = []
                for _ in range(count):
                    dtype, shape = connection.recv()
                    array = np.empty(shape, dtype=dtype)
                    if array.nbytes:
                        connection.recv_bytes_into(memoryview(array.reshape(-1).view(np.uint8)))
                    else:
                        connection.recv_bytes()
                    arrays.append(array)
                self._inboxes[peer].put(arrays)
        except (EOFError, OSError):
            self._inboxes[peer].put(None)

    def send(self, peer: int, arrays) -> None:
        arrays = [np.ascontiguousarray(array) for array in arrays]
        self._transcripts[peer].record_sent(arrays)
        connection = self._connections[peer]
        with self._send_locks[peer]:
            connection.send_bytes(len(arrays).to_bytes(4, "little"))
            for array in arrays:
                connection.send((array.dtype.str, array.shape))
                connection.send_bytes(memoryview(array.reshape(-1).view(np.uint8)))
        self._bytes += sum(array.nbytes for array in arrays)
        self._messages += 1

    def recv(self, peer: int):
        try:
            arrays = self._inboxes[peer].get(timeout=self.timeout)
        except queue.Empty:
            raise PeerTimeout(
                f"party {self.party}: nothing from {peer} in {self.timeout} s"
            ) from None
        if arrays is None:
            raise TransportError(f"party {self.party}: link to {peer} closed")
        self._transcripts[peer].record_received(arrays)
        return arrays

    def transcript(self, peer: int) -> bytes:
        return self._transcripts[peer].digest()

    @property
    def bytes_sent(self) -> int:
        return self._bytes

    @property
    def messages_sent(self) -> int:
        return self._messages

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()


def make_keys(party: int, n: int, overlap: float, seed: int) -> np.ndarray:
    """Party 0 and 1 each get n distinct 63-bit ids; round(overlap·n) of them are common."""
    rng = np.random.default_rng(seed)
    pool = rng.choice(2**63 - 1, size=2 * n, replace=False) if n <= 5_000_000 else None
    if pool is None:
        raise SystemExit("--n above 5,000,000 needs more memory than this benchmark plans for")
    common = int(round(overlap * n))
    first = pool[:n]
    second = np.concatenate([first[:common], pool[n : 2 * n - common]])
    keys = first if party == 0 else second
    return keys[np.random.default_rng(seed + 1 + party).permutation(n)]


def _tls_transport(party: int, parties: int, identities, ports):
    from offchain.net.tls import Peer, TlsTransport, bind_listener

    peers = {
        other: Peer(
            identities[other].fingerprint, ("127.0.0.1", ports[other]) if other < party else None
        )
        for other in range(parties)
        if other != party
    }
    listener = bind_listener("127.0.0.1", ports[party]) if party < parties - 1 else None
    return TlsTransport.connect(
        party=party,
        identity=identities[party],
        peers=peers,
        session_id=b"psi-benchmark",
        listener=listener,
        timeout=600.0,
        connect_timeout=120.0,
    )


def _party_main(mode, party, links, n, overlap, seed, workers, barrier, results):
    from offchain.psi.assisted import assisted_psi_matcher, assisted_psi_owner
    from offchain.psi.ecdh import ecdh_psi

    if links[0] == "tls":
        transport = _tls_transport(party, 2 if mode == "ecdh" else 3, *links[1:])
    else:
        transport = PipeTransport(party, links[1])
    keys = make_keys(party, n, overlap, seed) if party in (0, 1) else None
    if mode == "ecdh":
        from offchain.psi.pool import make_executor

        executor = make_executor(workers)
        # Warm the pool (process start-up is not part of a PSI run).
        list(executor.map(abs, range(max(workers or 1, 1) * 2)))
    barrier.wait()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    if mode == "ecdh":
        result = ecdh_psi(transport, 1 - party, keys, executor=executor)
        executor.shutdown()
        cardinality = result.cardinality
    elif party == 2:
        cardinality = assisted_psi_matcher(transport, owners=(0, 1)).cardinality
    else:
        result = assisted_psi_owner(
            transport, keys, peer_owner=1 - party, matcher=2, session_id=b"bench"
        )
        cardinality = result.cardinality
    seconds = time.perf_counter() - started
    results.put((party, seconds, transport.bytes_sent, cardinality, _cpu_seconds() - cpu_before))
    if links[0] == "tls":
        transport.verify_transcripts()
    else:
        time.sleep(0.2)  # let the peers' readers drain before the pipes close
    transport.close()


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the curve workers, after shutdown)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def run_mode(
    mode: str, n: int, overlap: float, seed: int, workers: int | None, transport: str
) -> dict:
    context = multiprocessing.get_context("spawn")
    parties = 2 if mode == "ecdh" else 3
    if transport == "tls":
        from offchain.net.identity import NodeIdentity

        identities = [NodeIdentity.generate(f"psi-bench-{p}") for p in range(parties)]
        ports = _free_ports(parties)
        links = {p: ("tls", identities, ports) for p in range(parties)}
    else:
        ends = {p: {} for p in range(parties)}
        for first in range(parties):
            for second in range(first + 1, parties):
                a, b = context.Pipe(duplex=True)
                ends[first][second] = a
                ends[second][first] = b
        links = {p: ("pipe", ends[p]) for p in range(parties)}
    barrier = context.Barrier(parties)
    results = context.Queue()
    processes = [
        context.Process(
            target=_party_main,
            args=(mode, p, links[p], n, overlap, seed, workers, barrier, results),
        )
        for p in range(parties)
    ]
    for process in processes:
        process.start()
    collected = [results.get(timeout=3600) for _ in range(parties)]
    for process in processes:
        process.join(timeout=60)
        if process.exitcode not in (0, None):
            raise SystemExit(f"{mode}: a party exited with code {process.exitcode}")
    collected.sort()
    expected = int(round(overlap * n))
    cardinalities = {c[3] for c in collected if c[3] is not None}
    if cardinalities != {expected}:
        raise SystemExit(f"{mode}: wrong cardinality {cardinalities}, expected {expected}")
    return {
        "mode": mode,
        "n": n,
        "seconds": max(c[1] for c in collected),
        "bytes": [c[2] for c in collected],
        "cpu": sum(c[4] for c in collected),
    }


def machine_description() -> str:
    cpu = cpu_model()
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"numpy {np.__version__}, {platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, default=1_000_000, help="keys per party (default 1,000,000)"
    )
    parser.add_argument("--overlap", type=float, default=0.5, help="fraction of keys in common")
    parser.add_argument("--modes", default="ecdh,assisted", help="comma-separated: ecdh, assisted")
    parser.add_argument(
        "--workers", type=int, default=None, help="curve worker processes per party"
    )
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--transport", choices=("tls", "pipe"), default="tls")
    args = parser.parse_args()
    print(f"machine: {machine_description()}")
    described = {
        "tls": "pinned mutual TLS 1.3 over loopback",
        "pipe": "Unix socket pairs between the processes (no encryption)",
    }
    print(f"transport: {described[args.transport]}; overlap {args.overlap:.0%}\n")
    header = (
        "| mode | n × n | seconds | CPU seconds (all processes) | MB sent per party "
        "| SPU 0.9.5 reference | speed-up |"
    )
    print(header)
    print("|---|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        row = run_mode(mode.strip(), args.n, args.overlap, args.seed, args.workers, args.transport)
        megabytes = " / ".join(f"{b / 1e6:.1f}" for b in row["bytes"])
        reference = SPU_SECONDS[row["mode"]]
        # SPU was measured at 10**6 × 10**6 only; no extrapolation to other sizes.
        if args.n == 1_000_000 and args.overlap == 0.5:
            versus = (
                f"{SPU_NAMES[row['mode']]} {reference:.1f} s | {reference / row['seconds']:.1f}×"
            )
        else:
            versus = f"{SPU_NAMES[row['mode']]} (measured at 10**6 only) | —"
        print(
            f"| {row['mode']} | {args.n:,} | {row['seconds']:.2f} | {row['cpu']:.1f} | {megabytes} "
            f"| {versus} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
