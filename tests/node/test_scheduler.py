"""The worker pool: oldest job first, one worker per job, wakes during a run rerun it."""

from __future__ import annotations

import threading

from offchain.node.scheduler import Scheduler


def test_due_jobs_run_lowest_id_first_and_one_at_a_time() -> None:
    order: list[int] = []
    done = threading.Event()
    gate = threading.Event()

    def advance(job_id: int) -> float | None:
        if job_id == 100:
            gate.wait(5)
            return None
        order.append(job_id)
        if len(order) == 3:
            done.set()
        return None

    scheduler = Scheduler(advance, workers=1)
    scheduler.wake(100)
    scheduler.start()
    while scheduler.busy == 0:
        pass
    for job_id in (9, 3, 5):  # queued while the only worker is busy
        scheduler.wake(job_id)
    gate.set()
    assert done.wait(5)
    scheduler.stop()
    assert order == [3, 5, 9]


def test_a_wake_during_a_run_runs_the_job_again_and_delays_are_honoured() -> None:
    runs: list[int] = []
    first_started = threading.Event()
    release = threading.Event()
    finished = threading.Event()
    scheduler: Scheduler

    def advance(job_id: int) -> float | None:
        runs.append(job_id)
        if len(runs) == 1:
            first_started.set()
            release.wait(5)
            return None
        if len(runs) == 2:
            return 0.05  # look again shortly
        finished.set()
        return None

    scheduler = Scheduler(advance, workers=2)
    scheduler.start()
    scheduler.wake(1)
    assert first_started.wait(5)
    scheduler.wake(1)  # while running: must not run concurrently, must run again after
    assert scheduler.busy == 1
    release.set()
    assert finished.wait(5)
    scheduler.stop()
    assert runs == [1, 1, 1]


def test_failures_are_retried_not_fatal() -> None:
    calls: list[int] = []
    recovered = threading.Event()

    def advance(job_id: int) -> float | None:
        calls.append(job_id)
        if len(calls) == 1:
            raise ValueError("a bug in one job")
        recovered.set()
        return None

    import offchain.node.scheduler as module

    saved, module.FAILURE_BACKOFF_SECONDS = module.FAILURE_BACKOFF_SECONDS, 0.01
    try:
        scheduler = Scheduler(advance, workers=1)
        scheduler.start()
        scheduler.wake(4)
        assert recovered.wait(5)
        scheduler.stop()
    finally:
        module.FAILURE_BACKOFF_SECONDS = saved
    assert calls == [4, 4]
