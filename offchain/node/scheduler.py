"""A bounded pool of workers that advance jobs, oldest job first.

``wake(job_id, delay)`` asks for ``advance(job_id)`` to run once the delay
has passed; ``advance`` returns the delay until its next look (``None``: only
when woken again). A job runs in at most one worker at a time; a wake that
arrives while it runs makes it run once more afterwards.

Among the jobs that are due, workers always take the *lowest job id*. Every
node orders jobs the same way, so the oldest unfinished job is in progress at
all of its nodes at once: with a bounded pool at every node, two nodes can
never each hold the job the other waits for (the classic circular wait of
bounded pools), because neither would pass over the older job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from offchain.errors import InputError, UnseenError

log = logging.getLogger("unseen.node")

#: After an unexpected failure a job is looked at again after this many seconds.
FAILURE_BACKOFF_SECONDS = 3.0


class Scheduler:
    """Runs ``advance(job_id)`` for due jobs in ``workers`` threads."""

    def __init__(self, advance: Callable[[int], float | None], workers: int) -> None:
        if workers < 1:
            raise InputError(f"a scheduler needs at least one worker, got {workers}")
        self._advance = advance
        self._condition = threading.Condition()
        self._due: dict[int, float] = {}  # job id -> monotonic time it is due
        self._running: set[int] = set()
        self._rerun: set[int] = set()
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"job-worker-{i}", daemon=True)
                         for i in range(workers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Let running advances finish (up to ``timeout``); start no new ones."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def wake(self, job_id: int, delay: float = 0.0) -> None:
        """Have ``job_id`` advanced after ``delay`` seconds (sooner if already due sooner)."""
        due = time.monotonic() + max(0.0, delay)
        with self._condition:
            if job_id in self._running and delay <= 0:
                self._rerun.add(job_id)
                return
            current = self._due.get(job_id)
            if current is None or due < current:
                self._due[job_id] = due
                self._condition.notify()

    @property
    def busy(self) -> int:
        with self._condition:
            return len(self._running)

    def pending(self) -> list[int]:
        with self._condition:
            return sorted(self._due)

    def _next(self) -> int | None:
        """Wait for the lowest due job id not running; None when stopping."""
        with self._condition:
            while not self._stopping:
                now = time.monotonic()
                ready = [job for job, due in self._due.items() if due <= now and job not in self._running]
                if ready:
                    job_id = min(ready)
                    del self._due[job_id]
                    self._running.add(job_id)
                    return job_id
                waiting = [due for job, due in self._due.items() if job not in self._running]
                self._condition.wait(timeout=min(waiting) - now if waiting else None)
            return None

    def _work(self) -> None:
        while True:
            job_id = self._next()
            if job_id is None:
                return
            try:
                delay = self._advance(job_id)
            except UnseenError as error:
                log.warning("job %d: %s: %s (retrying in %.0f s)", job_id, type(error).__name__, error,
                            FAILURE_BACKOFF_SECONDS)
                delay = FAILURE_BACKOFF_SECONDS
            except Exception:  # noqa: BLE001 - a worker must survive any bug in one job
                log.exception("job %d: unexpected failure (retrying in %.0f s)", job_id, FAILURE_BACKOFF_SECONDS)
                delay = FAILURE_BACKOFF_SECONDS
            with self._condition:
                self._running.discard(job_id)
                rerun = job_id in self._rerun
                self._rerun.discard(job_id)
            if rerun:
                self.wake(job_id)
            elif delay is not None:
                self.wake(job_id, delay)
