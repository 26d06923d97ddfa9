"""Keep freed array memory inside the process, so large numpy arrays do not fault in afresh.

A protocol step on a million elements allocates and frees dozens of
arrays of several MB. With glibc's defaults each of them is an ``mmap``
of its own (or trimmed back to the kernel when freed), so the next array
of the same size faults every 4 KiB page in again: the kernel zeroes the
page and, on a virtual machine, pays a nested page-table walk. Measured
here at N = 1,000,000, that was 10–40 % of the CPU time of an operation.

:func:`keep_freed_memory` asks glibc to serve large blocks from the heap,
never to give freed heap memory back, and to use one arena for all
threads (the parties of the in-process runner are threads, and per-thread
arenas are capped at 64 MB, beyond which glibc maps blocks directly again).
The heap grows 64 MiB at a time, so a cold process does not pay a system
call for every few arrays. The resident size then stays at the high-water
mark of the job instead of shrinking between steps; the high-water mark
itself does not change (the untouched part of the padding is not
resident).
On other C libraries it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

# glibc <malloc.h> parameter numbers
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_LARGEST_INT = 2**31 - 1  # mallopt takes a C int
_OLD_THRESHOLD_LIMIT = 32 * 2**20
_TOP_PAD = 64 * 2**20

_lock = threading.Lock()
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Tune glibc's allocator for large, short-lived arrays (once per process); return whether it applied."""
    global _applied
    with _lock:
        if _applied is None:
            _applied = _tune_glibc()
        return _applied


def _tune_glibc() -> bool:
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        # glibc identifies itself; another C library may have no mallopt or other numbers
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # Large blocks from the heap, reusable; older glibc refuses thresholds above 32 MiB.
    from_heap = mallopt(_M_MMAP_THRESHOLD, _LARGEST_INT) == 1 or (
        mallopt(_M_MMAP_THRESHOLD, _OLD_THRESHOLD_LIMIT) == 1
    )
    kept = mallopt(_M_TRIM_THRESHOLD, _LARGEST_INT) == 1  # never hand freed heap memory back
    one_arena = mallopt(_M_ARENA_MAX, 1) == 1  # all threads share the main arena (unbounded heap)
    # Grow the heap 64 MiB at a time instead of 128 KiB: a cold start (the first training job of a
    # process, 80 MB of gathered rows per party) otherwise pays thousands of brk calls and faults,
    # measured at 1 s of 5 for the SGD benchmark.
    mallopt(_M_TOP_PAD, _TOP_PAD)
    return from_heap and kept and one_arena
