"""The sandbox process that evaluates one published program (started by :mod:`.sandbox`).

Run as ``python -I -c <bootstrap> --cpu-seconds S --memory-bytes M``. Before
reading anything it limits itself with ``setrlimit``: CPU time (SIGXCPU at
the soft limit, SIGKILL one second later), address space, no core files,
no file writes (``RLIMIT_FSIZE = 0``), no new processes; and once every
module it needs is imported, no new file descriptors (``RLIMIT_NOFILE =
3``: stdin, stdout and stderr are all it has). It then reads one JSON
request from stdin, re-checks the rules, evaluates them with the rules
interpreter under the step budget and writes one JSON answer to stdout:

``{"ok": true, "outputs": {name: tagged value}, "steps": n}``, or
``{"ok": false, "error": "rule" | "steps" | "memory" | "input", "message": ...,
"line": ..., "column": ...}``.

The interpreter is the security boundary (the program cannot name a file,
a socket or an import); the limits are the second wall, and they stop a
program that would run or allocate without end.
"""

from __future__ import annotations

import json
import resource
import sys

# Everything the evaluation needs is imported before the descriptor limit is set.
from offchain.errors import RuleFailed, SandboxTimeout, ScriptError
from offchain.publish import rules as rules_language
from offchain.publish.values import Record, decode, encode

MAX_ANSWER_BYTES = 65_536
_MEMORY_ANSWER = b'{"ok": false, "error": "memory", "message": "the program ran out of memory"}\n'


def _limit(cpu_seconds: int, memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _answer(document: dict) -> None:
    data = (json.dumps(document, separators=(",", ":")) + "\n").encode("utf-8")
    if len(data) > MAX_ANSWER_BYTES:
        data = (json.dumps({"ok": False, "error": "input",
                            "message": f"the outputs take {len(data)} bytes; at most "
                                       f"{MAX_ANSWER_BYTES}"}) + "\n").encode()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _evaluate(request: dict) -> dict:
    checked = rules_language.check_rules(
        request["source"], request["inputs"], request["outputs"], request["fields"]
    )
    arguments = {name: decode(value) for name, value in request["arguments"].items()}
    fields = request["fields"]
    rows = [Record(dict(zip(fields, (decode(v) for v in row), strict=True))) for row in request["rows"]]
    evaluation = rules_language.evaluate(checked, arguments, rows, int(request["steps"]))
    outputs = {}
    for name, value in evaluation.outputs.items():
        try:
            outputs[name] = encode(value)
        except ValueError:
            raise RuleFailed(
                f"output {name!r} is a {rules_language.kind_of(value)}; outputs are single values"
            ) from None
    return {"ok": True, "outputs": outputs, "steps": evaluation.steps}


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = dict(zip(arguments[::2], arguments[1::2], strict=False))
    _limit(int(options["--cpu-seconds"]), int(options["--memory-bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))
    try:
        request = json.loads(sys.stdin.buffer.read())
        answer = _evaluate(request)
    except MemoryError:
        sys.stdout.buffer.write(_MEMORY_ANSWER)
        sys.stdout.buffer.flush()
        return 3
    except SandboxTimeout as exc:
        answer = {"ok": False, "error": "steps", "message": str(exc)}
    except RuleFailed as exc:
        answer = {"ok": False, "error": "rule", "message": exc.reason, "line": exc.line,
                  "column": exc.column}
    except ScriptError as exc:
        answer = {"ok": False, "error": "rule", "message": exc.reason, "line": exc.line,
                  "column": exc.column}
    except (ValueError, KeyError, TypeError) as exc:
        answer = {"ok": False, "error": "input", "message": f"{type(exc).__name__}: {exc}"}
    except RecursionError:
        answer = {"ok": False, "error": "rule", "message": "the program nests too deeply"}
    _answer(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
