"""Transport benchmark: throughput and latency of pinned-TLS links vs the in-process transport.

Prints markdown tables (paste them into benchmarks/RESULTS.md):

1. Throughput: two parties send each other an ``--megabytes`` message at the
   same time, repeatedly; MB/s per direction from the median exchange. Rows:
   the in-process transport (threads), the TLS transport under each TLS 1.3
   cipher suite (forced per run through an OpenSSL configuration file, since
   Python's ssl cannot choose TLS 1.3 suites), and two references without
   the transport (a bare TLS stream and a bare TCP stream) that show what
   framing, transcripts and threads cost on top of the wire.
2. Cipher and hash cost: each TLS 1.3 AEAD and SHA-256 on one core, in the
   OpenSSL that Python's ssl uses.
3. Latency: median round trip of a one-element message; TLS also with a
   10 ms one-way delay.
4. MPC multiplication and less-than on 1,000,000 elements, run_local vs run_tls.
5. A node's one port (``router.NodeListener``): service exchanges (round trip
   of an empty request, each a fresh TLS connection; delivering and fetching
   ``--megabytes``) and setting up a 3-party session with ``open_session``
   plus its ``session_transcript``, three listeners in this process.

Run: ``.venv/bin/python benchmarks/net.py [--quick] [--sections ...]``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import multiprocessing
import os
import platform
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import cpu_model  # noqa: E402
from offchain.mpc import PerParty, deal, receive_input  # noqa: E402
from offchain.net.cluster import run_tls, run_tls_parties  # noqa: E402
from offchain.net.handshake import client_context, server_context, tune_socket  # noqa: E402
from offchain.net.identity import NodeIdentity  # noqa: E402
from offchain.net.local import connect_in_process, run_local  # noqa: E402
from offchain.net.router import NodeListener, call_service, open_session, session_transcript  # noqa: E402

SECTIONS = ("throughput", "primitives", "latency", "mpc", "node-port")

CIPHER_SUITES = {
    "AES-256-GCM (default)": "TLS_AES_256_GCM_SHA384",
    "AES-128-GCM": "TLS_AES_128_GCM_SHA256",
    "ChaCha20-Poly1305": "TLS_CHACHA20_POLY1305_SHA256",
}
OPENSSL_CONFIG = """openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_section
[ssl_section]
system_default = system_default_section
[system_default_section]
Ciphersuites = {suite}
"""


# -- workers (top level: they run in spawned party processes) ----------------------


def exchange_worker(transport, size: int, iterations: int) -> tuple[float, str]:
    """Send and receive ``size`` bytes at once with the peer; return the median seconds and the suite."""
    peer = 1 - transport.party
    data = np.ones(size // 8, dtype=np.uint64)
    seconds = _median_exchange(transport, peer, data, iterations)
    return seconds, transport.cipher_suite(peer)


def _median_exchange(transport, peer: int, data: np.ndarray, iterations: int) -> float:
    transport.send(peer, [data])
    transport.recv(peer)
    durations = []
    for _ in range(iterations):
        start = time.perf_counter()
        transport.send(peer, [data])
        transport.recv(peer)
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def ping_pong_worker(transport, iterations: int) -> float:
    """Party 0 sends one element, party 1 echoes it; return party 0's median round trip."""
    one = np.ones(1, dtype=np.uint64)
    durations = []
    for _ in range(iterations):
        start = time.perf_counter()
        if transport.party == 0:
            transport.send(1, [one])
            transport.recv(1)
        else:
            transport.send(0, transport.recv(0))
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def operation_worker(runtime, x_payload, y_payload, operation: str, repetitions: int) -> tuple[float, float]:
    """Run ``x * y`` or ``x < y`` ``repetitions`` times on shared vectors.

    Returns the median seconds per operation and the CPU seconds per operation
    of this whole process (all its threads, the transport's included).
    """
    x, y = receive_input(runtime, x_payload), receive_input(runtime, y_payload)
    durations = []
    cpu_before = _process_cpu_seconds()
    for _ in range(repetitions):
        start = time.perf_counter()
        _ = x * y if operation == "multiply" else x < y
        durations.append(time.perf_counter() - start)
    return statistics.median(durations), (_process_cpu_seconds() - cpu_before) / repetitions


def _process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raw_stream_worker(role: int, use_tls: bool, identities, ports, results, size: int, iterations: int) -> None:
    """Two connections (one per direction) without framing, transcripts or threads beyond one writer."""
    own, other = identities[role], identities[1 - role]
    if role == 0:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            ports.put(listener.getsockname()[1])
            streams = []
            for _ in range(2):
                sock, _ = listener.accept()
                tune_socket(sock)
                streams.append(
                    server_context(own, other.certificate_der()).wrap_socket(sock, server_side=True)
                    if use_tls else sock
                )
        outgoing, incoming = streams
    else:
        port = ports.get()
        streams = []
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", port))
            tune_socket(sock)
            streams.append(client_context(own).wrap_socket(sock) if use_tls else sock)
        incoming, outgoing = streams
    payload = np.ones(size, dtype=np.uint8)
    received = np.empty(size, dtype=np.uint8)
    view = memoryview(received)

    def send_all() -> None:
        for _ in range(iterations + 1):
            outgoing.sendall(payload.data)

    writer = threading.Thread(target=send_all)
    writer.start()
    durations = []
    for index in range(iterations + 1):
        start = time.perf_counter()
        filled = 0
        while filled < size:
            filled += incoming.recv_into(view[filled:], size - filled)
        if index:  # the first one includes the writer's start
            durations.append(time.perf_counter() - start)
    writer.join()
    results.put(statistics.median(durations))
    for stream in streams:
        stream.close()


# -- measurements ---------------------------------------------------------------------


def in_process_exchange(size: int, iterations: int) -> float:
    transports = connect_in_process(2)
    medians = [0.0, 0.0]

    def run(party: int) -> None:
        data = np.ones(size // 8, dtype=np.uint64)
        medians[party] = _median_exchange(transports[party], 1 - party, data, iterations)

    threads = [threading.Thread(target=run, args=(party,)) for party in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(medians)


def in_process_ping_pong(iterations: int) -> float:
    transports = connect_in_process(2)
    medians = [0.0, 0.0]

    def run(party: int) -> None:
        medians[party] = ping_pong_worker(transports[party], iterations)

    threads = [threading.Thread(target=run, args=(party,)) for party in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return medians[0]


@contextlib.contextmanager
def cipher_suite(suite: str):
    """Make party processes started inside the block negotiate only ``suite``."""
    with tempfile.NamedTemporaryFile("w", suffix=".cnf", delete=False) as config:
        config.write(OPENSSL_CONFIG.format(suite=suite))
    previous = os.environ.get("OPENSSL_CONF")
    os.environ["OPENSSL_CONF"] = config.name
    try:
        yield
    finally:
        if previous is None:
            del os.environ["OPENSSL_CONF"]
        else:
            os.environ["OPENSSL_CONF"] = previous
        os.unlink(config.name)


def tls_exchange(size: int, iterations: int, identities) -> tuple[float, str]:
    outcomes = run_tls_parties(exchange_worker, size, iterations, parties=2, identities=identities)
    suites = {suite for _, suite in outcomes}
    return max(seconds for seconds, _ in outcomes), "/".join(sorted(suites))


def raw_exchange(use_tls: bool, size: int, iterations: int, identities) -> float:
    context = multiprocessing.get_context("spawn")
    ports, results = context.Queue(), context.Queue()
    processes = [
        context.Process(target=raw_stream_worker, args=(role, use_tls, identities, ports, results, size, iterations))
        for role in range(2)
    ]
    for process in processes:
        process.start()
    medians = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join()
    return max(medians)


def primitive_speeds(size: int) -> dict[str, float]:
    """Single-core speed (MB/s) of each TLS 1.3 AEAD and of SHA-256, in the OpenSSL that ssl links.

    The AEADs come from ``openssl speed`` on 16 KiB blocks (one TLS record)
    when the command-line tool is that same OpenSSL; otherwise from the
    ``cryptography`` package, whose bundled OpenSSL may be faster or slower.
    SHA-256 is hashlib (the system OpenSSL) on ``size`` bytes, best of 20.
    """
    speeds: dict[str, float] = {}
    suites = {"AES-256-GCM": "aes-256-gcm", "AES-128-GCM": "aes-128-gcm", "ChaCha20-Poly1305": "chacha20-poly1305"}
    tool_version = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        tool_version = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True).stdout
    if ssl.OPENSSL_VERSION.split()[1] in tool_version:
        for label, name in suites.items():
            output = subprocess.run(
                ["openssl", "speed", "-evp", name, "-bytes", "16384", "-seconds", "1", "-mr"],
                capture_output=True, text=True, check=True,
            ).stdout
            (line,) = [line for line in output.splitlines() if line.startswith("+F:")]
            speeds[f"{label} seal, 16 KiB records ({ssl.OPENSSL_VERSION.split()[1]}, openssl speed)"] = (
                float(line.split(":")[-1]) / 1e6
            )
    else:
        payload = np.ones(size, dtype=np.uint8).tobytes()
        ciphers = {"AES-256-GCM": AESGCM(bytes(32)), "AES-128-GCM": AESGCM(bytes(16)), "ChaCha20-Poly1305": ChaCha20Poly1305(bytes(32))}
        for label, cipher in ciphers.items():
            seconds = _best_of(20, functools.partial(cipher.encrypt, bytes(12), payload, None))
            speeds[f"{label} seal (cryptography's OpenSSL)"] = size / seconds / 1e6
    payload = np.ones(size, dtype=np.uint8)
    speeds["SHA-256, transcripts (hashlib)"] = size / _best_of(20, lambda: hashlib.sha256(payload).digest()) / 1e6
    return speeds


def _best_of(count: int, operation) -> float:
    best = float("inf")
    for _ in range(count):
        start = time.perf_counter()
        operation()
        best = min(best, time.perf_counter() - start)
    return best


def machine_description() -> str:
    model = cpu_model()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, {ssl.OPENSSL_VERSION}, "
        f"numpy {np.__version__}; load average at start {load} (the machine is shared)"
    )


def node_port_figures(size: int, calls: int, sessions: int) -> list[tuple[str, str]]:
    """Service exchanges and session set-up over node listeners on loopback; rows of (what, figure)."""
    identities = [NodeIdentity.generate(f"bench-node-{party}") for party in range(3)]
    members = {identity.fingerprint: f"member-{party}" for party, identity in enumerate(identities)}
    listeners = [NodeListener(identity, "127.0.0.1:0", members.get).start() for identity in identities]
    payload = np.random.default_rng(0).integers(0, 2**63, size // 8, dtype=np.uint64)
    node = listeners[1]
    node.register_service("ping", lambda member, metadata, arrays: ({}, []))
    node.register_service("deliver", lambda member, metadata, arrays: ({"bytes": sum(a.nbytes for a in arrays)}, []))
    node.register_service("fetch", lambda member, metadata, arrays: ({}, [payload]))

    def call(name: str, arrays=()) -> float:
        start = time.perf_counter()
        call_service(identities[0], node.endpoint, identities[1].fingerprint, name, 1, {}, list(arrays), 60)
        return time.perf_counter() - start

    def set_up_session(index: int) -> tuple[float, float]:
        ready, transcripts = [0.0] * 3, [0.0] * 3
        start = time.perf_counter()

        def party(number: int) -> None:
            peers = {
                peer: (listener.endpoint, listener.identity.fingerprint)
                for peer, listener in enumerate(listeners) if peer != number
            }
            transport = open_session(listeners[number], f"bench-session-{index}", number, peers, 30)
            ready[number] = time.perf_counter() - start
            before = time.perf_counter()
            session_transcript(transport)
            transcripts[number] = time.perf_counter() - before
            transport.close()

        threads = [threading.Thread(target=party, args=(number,)) for number in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return max(ready), max(transcripts)

    def over_a_session_link(repetitions: int) -> list[float]:
        """The same bytes one way over an open session link (party 0 to 1, empty acknowledgement)."""
        transports: list = [None, None]

        def party(number: int) -> None:
            peers = {1 - number: (listeners[1 - number].endpoint, listeners[1 - number].identity.fingerprint)}
            transports[number] = open_session(listeners[number], "bench-link", number, peers, 60)

        threads = [threading.Thread(target=party, args=(number,)) for number in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sender, receiver = transports
        times = []
        try:
            for _ in range(repetitions):
                start = time.perf_counter()
                sender.send(1, [payload])
                receiver.recv(0)
                receiver.send(0, [])
                sender.recv(1)
                times.append(time.perf_counter() - start)
        finally:
            sender.close()
            receiver.close()
        return times

    try:
        pings = [call("ping") for _ in range(calls)]
        bulk = max(3, calls // 20)
        delivers, fetches, linked = [], [], []
        for _ in range(bulk):  # interleaved, so load from other work hits all three alike
            delivers.append(call("deliver", [payload]))
            fetches.append(call("fetch"))
            linked.extend(over_a_session_link(1))
        set_ups = [set_up_session(index) for index in range(sessions)]
    finally:
        for listener in listeners:
            listener.close()
    megabytes = size / 1e6
    return [
        (f"service round trip, empty request and reply (new TLS connection each), median of {calls}",
         f"{statistics.median(pings) * 1e3:,.2f} ms"),
        (f"deliver {megabytes:,.0f} MB (request), median of {bulk}",
         f"{statistics.median(delivers) * 1e3:,.0f} ms = {megabytes / statistics.median(delivers):,.0f} MB/s"),
        (f"fetch {megabytes:,.0f} MB (reply), median of {bulk}",
         f"{statistics.median(fetches) * 1e3:,.0f} ms = {megabytes / statistics.median(fetches):,.0f} MB/s"),
        (f"reference: {megabytes:,.0f} MB one way over an open session link (TlsTransport), median of {bulk}",
         f"{statistics.median(linked) * 1e3:,.0f} ms = {megabytes / statistics.median(linked):,.0f} MB/s"),
        (f"open_session, 3 parties on 3 node listeners (6 TLS connections), median of {sessions}",
         f"{statistics.median(s for s, _ in set_ups) * 1e3:,.1f} ms"),
        (f"session_transcript (digests to both peers, checks), median of {sessions}",
         f"{statistics.median(t for _, t in set_ups) * 1e3:,.2f} ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--megabytes", type=int, default=8, help="message size for throughput (default 8)")
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="which tables to measure (default all)"
    )
    options = parser.parse_args()
    sections = set(options.sections)
    iterations = 5 if options.quick else 40
    size = options.megabytes << 20
    identities = (NodeIdentity.generate("bench-0"), NodeIdentity.generate("bench-1"))

    rounds = 1 if options.quick else 5
    print(f"Machine: {machine_description()}\n")
    if "throughput" in sections:
        throughput_table(options.megabytes, size, iterations, rounds, identities)
    if "primitives" in sections:
        print("\n### Cipher and hash cost on one core\n")
        print("| operation | MB/s |")
        print("|---|---:|")
        for label, megabytes_per_second in primitive_speeds(size).items():
            print(f"| {label} | {megabytes_per_second:,.0f} |")
    if "latency" in sections:
        latency_table(200 if options.quick else 2000, identities)
    if "mpc" in sections:
        mpc_table(options.quick)
    if "node-port" in sections:
        calls, sessions = (50, 5) if options.quick else (500, 30)
        print(f"\n### A node's one port: service exchanges and session set-up ({options.megabytes} MB payloads)\n")
        print("| what | figure |")
        print("|---|---:|")
        for label, figure in node_port_figures(size, calls, sessions):
            print(f"| {label} | {figure} |")


def throughput_table(megabytes: int, size: int, iterations: int, rounds: int, identities) -> None:
    def tls_suite(suite: str) -> float:
        with cipher_suite(suite):
            seconds, negotiated = tls_exchange(size, iterations, identities)
        if negotiated != suite:
            raise RuntimeError(f"asked for {suite} but the parties negotiated {negotiated}")
        return seconds

    links = {"in-process transport (2 threads, transcripts)": lambda: in_process_exchange(size, iterations)}
    links.update({f"TLS transport, {label}": (lambda suite=suite: tls_suite(suite)) for label, suite in CIPHER_SUITES.items()})
    links["reference: bare TLS stream (no framing, transcripts)"] = lambda: raw_exchange(True, size, iterations, identities)
    links["reference: bare TCP stream"] = lambda: raw_exchange(False, size, iterations, identities)
    # Every link is measured once per round, so load from other work spreads over all of them.
    seconds: dict[str, list[float]] = {label: [] for label in links}
    for _ in range(rounds):
        for label, measure in links.items():
            seconds[label].append(measure())
    medians = {label: statistics.median(values) for label, values in seconds.items()}
    in_process = medians["in-process transport (2 threads, transcripts)"]
    print(
        f"### Throughput: {megabytes} MB messages exchanged both ways at once "
        f"(per run: median of {iterations} exchanges; {rounds} rounds over all links)\n"
    )
    print("| link | MB/s per direction, median run | best run | median vs in-process |")
    print("|---|---:|---:|---:|")
    for label, median in medians.items():
        best = min(seconds[label])
        print(f"| {label} | {size / median / 1e6:,.0f} | {size / best / 1e6:,.0f} | {in_process / median:.2f} |")


def latency_table(round_trips: int, identities) -> None:
    print(f"\n### Latency: round trip of a one-element message, median of {round_trips}\n")
    print("| link | round trip |")
    print("|---|---:|")
    print(f"| in-process transport | {in_process_ping_pong(round_trips) * 1e6:,.0f} µs |")
    (tls_round_trip, _) = run_tls_parties(ping_pong_worker, round_trips, parties=2, identities=identities)
    print(f"| TLS transport | {tls_round_trip * 1e6:,.0f} µs |")
    (delayed, _) = run_tls_parties(
        ping_pong_worker, max(10, round_trips // 100), parties=2, identities=identities, one_way_delay=0.010
    )
    print(f"| TLS transport, one_way_delay=10 ms | {delayed * 1e3:,.1f} ms |")


def mpc_table(quick: bool) -> None:
    elements, trials = 1_000_000, (1 if quick else 5)
    rng = np.random.default_rng(0)
    x_payload = PerParty(deal(rng.integers(-(2**40), 2**40, elements), kind="integer"))
    y_payload = PerParty(deal(rng.integers(-(2**40), 2**40, elements), kind="integer"))
    print(
        f"\n### MPC on {elements:,} elements: run_local (3 threads) vs run_tls (3 processes, TLS loopback); "
        f"{trials} alternating runs each, medians; wall-time ratio as median of per-run ratios (range)\n"
    )
    print(
        "| operation | run_local s | run_tls s | run_tls / run_local | "
        "CPU s, all parties: run_local | run_tls | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for operation, label, repetitions in (
        ("multiply", "integer multiplication (1 round, 8 MB per party)", 3 if quick else 15),
        ("less", "less-than", 1 if quick else 3),
    ):
        # The runners alternate, so load from other work on the machine hits both
        # alike; each ratio compares runs seconds apart. CPU time does not depend
        # on that load (the parties of run_local share one process).
        local_runs, tls_runs, local_cpu, tls_cpu = [], [], [], []
        for _ in range(trials):
            arguments = (operation_worker, x_payload, y_payload, operation, repetitions)
            local = run_local(*arguments).results
            over_tls = run_tls(*arguments).results
            local_runs.append(max(seconds for seconds, _ in local))
            tls_runs.append(max(seconds for seconds, _ in over_tls))
            local_cpu.append(max(cpu for _, cpu in local))
            tls_cpu.append(sum(cpu for _, cpu in over_tls))
        ratios = [tls / local for tls, local in zip(tls_runs, local_runs, strict=True)]
        print(
            f"| {label}, median of {repetitions} | {statistics.median(local_runs):.3f} | "
            f"{statistics.median(tls_runs):.3f} | {statistics.median(ratios):.2f} "
            f"({min(ratios):.2f}–{max(ratios):.2f}) | {statistics.median(local_cpu):.3f} | "
            f"{statistics.median(tls_cpu):.3f} | {statistics.median(tls_cpu) / statistics.median(local_cpu):.2f} |"
        )


if __name__ == "__main__":
    main()
