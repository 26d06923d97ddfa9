"""Evaluating a published program in a separate, limited OS process.

:func:`run_sandboxed` starts a fresh Python interpreter (``-I``: no
environment variables, no user site, no current directory on the path)
with an empty environment, in a new session and an empty temporary
working directory, running :mod:`offchain.publish.worker`. The worker
limits its own CPU time, address space, file writes, processes and file
descriptors before it reads the request (see its docstring). This side
adds the wall clock: past ``wall_seconds`` the whole process group is
killed. The answer is read with a size cap, and whatever the worker says
is treated as untrusted: outputs are validated against their schema by
the caller before anything leaves the node.

One evaluation costs one process start (about 50 ms); a runaway program
costs at most its limits, and the node's own process is never at risk:
it keeps serving other jobs.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offchain.errors import (
    RuleFailed,
    SandboxError,
    SandboxMemoryExceeded,
    SandboxTimeout,
)

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
MAX_ANSWER_BYTES = 1_048_576
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from offchain.publish.worker import main; sys.exit(main())"
)


@dataclass(frozen=True)
class Limits:
    """What one evaluation may use. ``memory_bytes`` is the address-space limit of the process."""

    steps: int
    cpu_seconds: int
    wall_seconds: float
    memory_bytes: int


@dataclass(frozen=True)
class SandboxResult:
    """The worker's outputs (tagged values, untrusted until validated), steps and seconds used."""

    outputs: dict[str, Any]
    steps: int
    seconds: float


def run_sandboxed(source: str, inputs: Sequence[str], outputs: Sequence[str],
                  fields: Sequence[str], arguments: Mapping[str, Any],
                  rows: Sequence[Sequence[Any]], limits: Limits) -> SandboxResult:
    """Evaluate ``source`` in a sandbox process; return its (tagged) outputs or raise.

    ``arguments`` and ``rows`` are tagged values (:mod:`offchain.publish.values`).
    Raises :class:`SandboxTimeout`, :class:`SandboxMemoryExceeded`,
    :class:`RuleFailed` or :class:`SandboxError`.
    """
    request = json.dumps({
        "source": source, "inputs": list(inputs), "outputs": list(outputs),
        "fields": list(fields), "arguments": dict(arguments), "rows": [list(r) for r in rows],
        "steps": int(limits.steps),
    }, separators=(",", ":")).encode("utf-8")
    command = [sys.executable, "-I", "-c", _BOOTSTRAP, str(PACKAGE_ROOT),
               "--cpu-seconds", str(int(limits.cpu_seconds)),
               "--memory-bytes", str(int(limits.memory_bytes))]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="unseen-sandbox-") as directory:
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=directory, env={}, start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start the sandbox process: {exc}") from exc
        try:
            answer, stderr, timed_out = _exchange(process, request, limits.wall_seconds)
        finally:
            _kill(process)
    seconds = time.monotonic() - started
    if timed_out:
        raise SandboxTimeout(
            f"the program ran past its wall-clock limit of {limits.wall_seconds:g} s and was killed"
        )
    code = process.returncode
    if code in (-signal.SIGXCPU, -signal.SIGKILL) and not answer:
        raise SandboxTimeout(
            f"the program used its CPU-time limit of {limits.cpu_seconds} s and was killed"
        )
    try:
        document = json.loads(answer) if answer else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        if b"MemoryError" in stderr:
            raise SandboxMemoryExceeded(
                f"the program exceeded its memory limit of {limits.memory_bytes // 2**20} MiB"
            )
        detail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise SandboxError(f"the sandbox process ended with code {code}: {detail[0][:300]}")
    if document.get("ok") is True:
        outputs = document.get("outputs")
        steps = document.get("steps")
        if not isinstance(outputs, dict) or not isinstance(steps, int):
            raise SandboxError("the sandbox answered without outputs")
        return SandboxResult(outputs, steps, seconds)
    kind, message = document.get("error"), str(document.get("message", ""))[:2000]
    if kind == "memory":
        raise SandboxMemoryExceeded(
            f"the program exceeded its memory limit of {limits.memory_bytes // 2**20} MiB"
        )
    if kind == "steps":
        raise SandboxTimeout(message)
    if kind == "rule":
        line, column = document.get("line"), document.get("column")
        raise RuleFailed(message, line if isinstance(line, int) else None,
                         column if isinstance(column, int) else None)
    raise SandboxError(f"the sandbox refused the request: {message}")


def _exchange(process: subprocess.Popen, request: bytes, wall_seconds: float
              ) -> tuple[bytes, bytes, bool]:
    """Write the request, read answer and errors (capped) until exit or the wall clock."""

    def feed() -> None:
        try:
            process.stdin.write(request)
        except (BrokenPipeError, OSError):
            pass  # the worker died early; its exit status says why
        finally:
            try:
                process.stdin.close()
            except OSError:
                pass

    writer = threading.Thread(target=feed, daemon=True, name="sandbox-feed")
    writer.start()
    deadline = time.monotonic() + wall_seconds
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}
    sizes = {"out": 0, "err": 0}
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "out")
    selector.register(process.stderr, selectors.EVENT_READ, "err")
    timed_out = False
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(timeout=min(remaining, 0.5)):
                data = os.read(key.fileobj.fileno(), 65_536)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                sizes[key.data] += len(data)
                if sizes[key.data] > MAX_ANSWER_BYTES:
                    raise SandboxError(f"the sandbox wrote more than {MAX_ANSWER_BYTES} bytes")
                chunks[key.data].append(data)
        if not timed_out:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        selector.close()
        writer.join(timeout=1.0)
    return b"".join(chunks["out"]), b"".join(chunks["err"]), timed_out


def _kill(process: subprocess.Popen) -> None:
    """Kill the sandbox's whole process group (idempotent) and reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
