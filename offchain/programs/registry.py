"""The explicit list of job programs, by name.

A program is added here by name when it lands; nothing is looked up
dynamically (no ``globals()``, no entry points), so what a node will run is
exactly what this file lists.
"""

from __future__ import annotations

import threading

from offchain.errors import InputError
from offchain.programs.base import JobProgram, parse_program_text

_PROGRAMS: dict[str, JobProgram] = {}


def register(program: JobProgram) -> JobProgram:
    """Add ``program`` under its ``name``; a second program with the same name is an error."""
    if program.name in _PROGRAMS:
        raise InputError(f"a job program named {program.name!r} is already registered")
    _PROGRAMS[program.name] = program
    return program


def get(name: str) -> JobProgram:
    """Return the program called ``name`` or raise ``InputError`` listing the known ones."""
    _load_builtin_programs()
    try:
        return _PROGRAMS[name]
    except KeyError:
        known = ", ".join(sorted(_PROGRAMS)) or "none"
        raise InputError(f"unknown job program {name!r}; known programs: {known}") from None


def for_text(text: str) -> JobProgram:
    """Return the program a canonical program text names."""
    name, _, _ = parse_program_text(text)
    return get(name)


def names() -> list[str]:
    _load_builtin_programs()
    return sorted(_PROGRAMS)


_loaded = False
_loading = threading.Lock()


def _load_builtin_programs() -> None:
    """Import the built-in program modules (each calls :func:`register` once).

    Thread-safe: a node's workers may ask for programs at the same time, and
    none may see the registry half filled.
    """
    global _loaded
    if _loaded:
        return
    with _loading:
        if _loaded:
            return
        _register_builtin_programs()
        _loaded = True


def _register_builtin_programs() -> None:
    # Built-in programs are listed here explicitly as they land.
    from offchain.lending.program import MultiLendingProgram
    from offchain.ml.programs import LogisticPredict, LogisticTrain
    from offchain.publish.program import PublishProgram
    from offchain.script.program import ScriptProgram
    from offchain.sql.program import SqlProgram
    from offchain.stats.program import StatisticsProgram

    register(StatisticsProgram())
    register(MultiLendingProgram())
    register(SqlProgram())
    register(LogisticTrain())
    register(LogisticPredict())
    register(PublishProgram())
    register(ScriptProgram())
