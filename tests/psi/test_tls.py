"""PSI between separate processes over pinned mutual TLS on loopback (offchain.net.cluster), curve work on pools."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from offchain.errors import InputError
from offchain.net.cluster import run_tls_parties
from offchain.psi.assisted import assisted_psi_matcher, assisted_psi_owner
from offchain.psi.ecdh import ecdh_psi
from offchain.psi.pool import make_executor
from offchain.psi.result import Reveal
from tests.psi.cases import check_revealed

FIRST = np.arange(0, 1500, dtype=np.int64)
SECOND = np.concatenate([np.arange(1000, 2000), np.arange(1000, 1100)]).astype(np.int64)
KEYS = (FIRST, SECOND)


def ecdh_party(transport, keys, reveal):
    return ecdh_psi(
        transport, 1 - transport.party, keys[transport.party], reveal=reveal, batch_size=256
    )


def assisted_party(transport, keys):
    if transport.party == 2:
        return assisted_psi_matcher(transport, owners=(0, 1))
    return assisted_psi_owner(
        transport,
        keys[transport.party],
        peer_owner=1 - transport.party,
        matcher=2,
        session_id=b"tls-job",
    )


def test_ecdh_psi_between_two_processes_over_tls():
    first, second = run_tls_parties(ecdh_party, KEYS, Reveal.INTERSECTION, parties=2, timeout=60)
    check_revealed(first, FIRST, SECOND, second)
    check_revealed(second, SECOND, FIRST, first)


def test_matcher_assisted_psi_between_three_processes_over_tls():
    first, second, view = run_tls_parties(assisted_party, KEYS, parties=3, timeout=60)
    check_revealed(first, FIRST, SECOND, second)
    assert view.cardinality == 500 and view.sizes == (1500, 1000)


def ecdh_party_with_pool(transport, keys):
    """ECDH-PSI on a pool of two curve workers; report the pool and the processes that ran."""
    executor = make_executor(None)  # one worker per core, as ecdh_psi's default makes it
    pool = make_executor(2)
    try:
        worker_pids = {pool.submit(os.getpid).result() for _ in range(8)}
        result = ecdh_psi(transport, 1 - transport.party, keys[transport.party], reveal=Reveal.INTERSECTION,
                          batch_size=256, executor=pool, workers=2)
    finally:
        pool.shutdown(wait=True)
        executor.shutdown(wait=True)
    return (result, multiprocessing.current_process().daemon, type(executor).__name__, os.getpid(),
            sorted(worker_pids))


def test_ecdh_psi_in_party_processes_spreads_the_curve_work_over_a_pool():
    (first, *seen_first), (second, *seen_second) = run_tls_parties(
        ecdh_party_with_pool, KEYS, parties=2, timeout=60)
    check_revealed(first, FIRST, SECOND, second)
    check_revealed(second, SECOND, FIRST, first)
    for daemonic, default_executor, party_pid, worker_pids in (seen_first, seen_second):
        assert daemonic is False and default_executor == "ProcessPoolExecutor"
        assert worker_pids and party_pid not in worker_pids
    # Nothing outlives the call: the parties and their workers are gone when it returns.
    assert not [pid for _, _, party, workers in (seen_first, seen_second) for pid in [party, *workers]
                if _alive(pid)]


def pool_then_wait(transport, pid_file):
    """Party 1 starts a pool, records its pids, tells party 0, then computes forever; party 0 then fails."""
    if transport.party == 0:
        transport.recv(1)
        raise InputError("deliberate failure at party 0")
    pool = make_executor(2)
    workers = {pool.submit(os.getpid).result() for _ in range(8)}
    Path(pid_file).write_text(" ".join(str(pid) for pid in [os.getpid(), *workers]))
    transport.send(0, [np.zeros(1, dtype=np.uint8)])
    time.sleep(600)  # never looks at the network again: its supervisor must terminate it


def test_a_terminated_party_leaves_no_curve_worker_behind(tmp_path: Path):
    pid_file = tmp_path / "pids"
    with pytest.raises(InputError, match="deliberate failure at party 0") as caught:
        run_tls_parties(pool_then_wait, str(pid_file), parties=2, timeout=1)
    assert "party 1 was terminated" in "\n".join(caught.value.__notes__)
    party, *workers = (int(pid) for pid in pid_file.read_text().split())
    assert workers and not _alive(party)
    # The workers notice their party is gone and exit (they poll their parent twice a second).
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
