"""Running one MPC program at one party, the same way under every runner.

A *program* is a picklable top-level function ``program(runtime, *args)``
that every party runs with its own :class:`~offchain.mpc.runtime.Runtime`.
Runners (in-process threads: ``offchain.net.local.run_local``; processes
over mutual TLS: ``offchain.net.cluster.run_tls``) build one transport per
party and call :func:`run_party` in each; it agrees the PRG keys, runs the
program and measures it.

Arguments wrapped in :class:`PerParty` differ per party (party ``i`` gets
item ``i``, e.g. the payload a data owner dealt to it); all others are
passed to every party unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from offchain.errors import InputError, MpcError
from offchain.mpc.allocator import keep_freed_memory
from offchain.mpc.runtime import EngineConfig, Runtime
from offchain.mpc.seeds import PARTIES
from offchain.mpc.transport import Transport

Program = Callable[..., Any]


class PerParty:
    """A program argument with one value per party: party ``i`` receives ``values[i]``."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[Any]) -> None:
        values = tuple(values)
        if len(values) != PARTIES:
            raise InputError(
                f"PerParty needs one value for each of the {PARTIES} parties, got {len(values)}"
            )
        self.values = values

    def __repr__(self) -> str:
        return f"PerParty({self.values!r:.80})"


def arguments_for(party: int, args: Sequence[Any]) -> tuple[Any, ...]:
    """Return the program arguments of ``party``: ``PerParty`` items resolved, others shared."""
    return tuple(arg.values[party] if isinstance(arg, PerParty) else arg for arg in args)


@dataclass(frozen=True)
class PartyStats:
    """What one party did while running the program (key agreement excluded)."""

    party: int
    rounds: int
    bytes_sent: int
    messages_sent: int
    seconds: float
    transcripts: dict[int, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """The three parties' return values and statistics, indexed by party."""

    results: tuple[Any, ...]
    stats: tuple[PartyStats, ...]

    def agreed(self) -> Any:
        """Return the value the parties returned, after checking that those not returning None agree.

        For programs that reveal to all; ``reveal_to`` programs return None
        at the other parties.
        """
        values = [r for r in self.results if r is not None]
        if not values:
            return None
        first = values[0]
        for other in values[1:]:
            if not _same(first, other):
                raise MpcError(f"parties returned different results: {self.results!r:.300}")
        return first

    @property
    def max_seconds(self) -> float:
        """Wall time of the slowest party."""
        return max(s.seconds for s in self.stats)

    @property
    def max_bytes_sent(self) -> int:
        """Bytes sent by the party that sent most."""
        return max(s.bytes_sent for s in self.stats)


def _same(first: Any, second: Any) -> bool:
    """Compare party results: arrays elementwise (NaN equal to NaN), sequences item by item."""
    if isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)):
        return len(first) == len(second) and all(
            _same(a, b) for a, b in zip(first, second, strict=True)
        )
    if isinstance(first, np.ndarray) or isinstance(second, np.ndarray):
        left, right = np.asarray(first), np.asarray(second)
        return left.shape == right.shape and np.array_equal(
            left, right, equal_nan=left.dtype.kind == "f"
        )
    return bool(first == second)


def run_party(
    program: Program,
    transport: Transport,
    session_id: bytes,
    config: EngineConfig | None,
    args: Sequence[Any],
) -> tuple[Any, PartyStats]:
    """Agree keys over ``transport``, run ``program`` at this party, return its result and stats."""
    keep_freed_memory()
    runtime = Runtime.establish(transport, session_id, config)
    before = runtime.stats()
    start = time.perf_counter()
    result = program(runtime, *arguments_for(transport.party, args))
    seconds = time.perf_counter() - start
    spent = runtime.stats() - before
    peers = [(transport.party + k) % PARTIES for k in (1, 2)]
    return result, PartyStats(
        party=transport.party,
        rounds=spent.rounds,
        bytes_sent=spent.bytes_sent,
        messages_sent=spent.messages_sent,
        seconds=seconds,
        transcripts={peer: transport.transcript(peer) for peer in peers},
    )
