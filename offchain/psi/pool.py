"""Where the elliptic-curve work runs: a process pool over chunks, or inline.

X25519 and the hash to the curve hold the GIL, so parallelism needs
processes. The pool uses the ``spawn`` start method: the calling process may
already run transport threads, and forking a threaded process is unsafe.
Its workers end with the process that started them
(:func:`offchain.net.lifetime.exit_with_parent`), so a party process of
``offchain.net.cluster`` that is terminated leaves no worker behind.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor

from offchain.errors import InputError
from offchain.net.lifetime import exit_with_parent


class InlineExecutor(Executor):
    """Run each submitted call at once in the calling thread (for small sets and tests)."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - delivered through the future
            future.set_exception(error)
        return future


def default_workers() -> int:
    """Return the number of worker processes to use: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_executor(workers: int | None) -> Executor:
    """Return an executor with ``workers`` processes; 0 means inline, None means one per core.

    A daemonic process may not start children: there None means inline and a
    positive count is refused with the fix. (The party processes of
    ``offchain.net.cluster`` are not daemonic: their PSI uses every core.)
    """
    daemonic = multiprocessing.current_process().daemon
    if workers is None:
        workers = 0 if daemonic else default_workers()
    if workers < 0:
        raise InputError(f"workers must be >= 0 (0 runs inline), got {workers}")
    if workers and daemonic:
        raise InputError(
            f"this process ({multiprocessing.current_process().name}) is daemonic and cannot start "
            f"{workers} curve worker processes; pass workers=0, or run the party in a non-daemonic process"
        )
    if workers == 0:
        return InlineExecutor()
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=exit_with_parent)
