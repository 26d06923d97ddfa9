"""Run PSI parties as threads over the engine's in-process transport."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from offchain.errors import TransportError
from offchain.net.local import connect_in_process


def run_parties(programs: Sequence[Callable], timeout: float = 30.0) -> list:
    """Run ``programs[i](transport_i)`` in one thread per party and return their results.

    Re-raises the first failure that is not a consequence of another party
    closing its links.
    """
    transports = connect_in_process(max(len(programs), 2), timeout)
    results: list = [None] * len(programs)
    errors: list = []

    def body(index: int) -> None:
        try:
            results[index] = programs[index](transports[index])
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)
        finally:
            transports[index].close()

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(len(programs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise next((e for e in errors if not isinstance(e, TransportError)), errors[0])
    return results
