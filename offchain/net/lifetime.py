"""Child processes that end with their parent, however the parent ends.

:func:`exit_with_parent` starts a watchdog thread in the calling process that
ends it (``os._exit``) as soon as its parent process is gone, i.e. once it
has been re-parented. The parties of ``offchain.net.cluster`` call it first
thing, and the curve workers of a party's PSI pool (``offchain.psi.pool``)
run it as their initializer, so that a party terminated by its supervisor,
or a caller killed outright, leaves no process behind.

Why not ``PR_SET_PDEATHSIG``: Linux sends that signal when the *thread* that
started the child exits, and a process pool starts workers from whichever
thread submits work, so a worker could be killed while its pool still runs.
Watching ``getppid`` ties the child to the parent process, on every POSIX
system, at the cost of one wake-up per poll interval.
"""

from __future__ import annotations

import os
import threading
import time

#: How often the watchdog looks at the parent (seconds): the longest an orphan lives.
POLL_SECONDS = 0.5
#: Exit status of a process ended because its parent had gone.
ORPHANED_EXIT_CODE = 70


def exit_with_parent(poll_seconds: float = POLL_SECONDS) -> None:
    """End this process at once when its parent process is gone (see the module docstring)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(ORPHANED_EXIT_CODE)  # no clean-up: whoever needed our results is gone
            time.sleep(poll_seconds)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
