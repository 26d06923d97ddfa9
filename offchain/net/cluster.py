"""Run parties as OS processes linked by pinned mutual TLS on loopback.

:func:`run_tls` is the multi-process twin of ``offchain.net.local.run_local``:
same ``program(runtime, *args)`` signature (a picklable top-level function;
``PerParty`` arguments give each party its own value), same result
(:class:`offchain.mpc.program.RunResult`: each party's return value and its
rounds, bytes, messages and seconds). It is built on :func:`run_tls_parties`,
which runs any ``function(transport, *args)`` at 2 or more parties (e.g. the
two members of a PSI). Each party process:

1. binds a listening socket on a free loopback port and tells the caller;
2. receives the other parties' ports, pins their fingerprints and connects a
   :class:`~offchain.net.tls.TlsTransport` (the lower party number dials);
3. runs the function, then compares link transcripts with its peers
   (``TranscriptMismatch`` if any link differs);
4. sends its result back, or its exception.

A party that fails aborts its links, so the others fail at once instead of
waiting for a timeout; the caller re-raises the root cause (the first error
that is not a consequence of a broken link) with the other parties' errors
and the failing party's traceback attached as notes. Processes still running
some time after a failure are terminated; none outlives the call.

Party processes are **not daemonic**, so a party may start processes of its
own — ECDH-PSI spreads its curve work over a process pool
(``offchain.psi.pool``), which a daemonic process may not create. What
daemonic processes gave is kept by other means: the ``finally`` of
:func:`run_tls_parties` terminates (then kills) every party still running
before the call returns or raises, and each party watches its parent
(:func:`offchain.net.lifetime.exit_with_parent`), as its pool workers watch
it, so a caller killed outright leaves no process behind either.
"""

from __future__ import annotations

import multiprocessing
import pickle
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from offchain.errors import InputError, TransportError
from offchain.mpc.program import Program, RunResult, run_party
from offchain.mpc.runtime import EngineConfig, new_session_id
from offchain.mpc.seeds import PARTIES
from offchain.net.identity import NodeIdentity
from offchain.net.lifetime import exit_with_parent
from offchain.net.local import DEFAULT_TIMEOUT, root_cause
from offchain.net.tls import DEFAULT_CONNECT_TIMEOUT_SECONDS, Peer, TlsTransport, bind_listener

# DEFAULT_TIMEOUT and the choice of root cause come from the in-process runner, so
# both runners behave alike.
LOOPBACK = "127.0.0.1"
# Process start-up (interpreter, numpy, cryptography imports) on a loaded machine.
_START_UP_SECONDS = 60.0
# After one party fails, the others get their message timeout plus this much
# (at most) to report how they ended before they are terminated.
_GRACE_AFTER_FAILURE_SECONDS = 5.0


def run_tls(
    program: Program,
    *args: Any,
    timeout: float = DEFAULT_TIMEOUT,
    config: EngineConfig | None = None,
    session_id: bytes | None = None,
    identities: Sequence[NodeIdentity] | None = None,
    one_way_delay: float = 0.0,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
) -> RunResult:
    """Run ``program(runtime, *args)`` at three party processes linked by pinned TLS; return their results.

    ``timeout`` bounds every wait for a peer's message; ``identities`` (one per
    party) default to fresh keys; ``one_way_delay`` (seconds) delays every
    message as a WAN would. Raises the root-cause exception of a failed run.
    """
    session = session_id if session_id is not None else new_session_id()
    outcomes = run_tls_parties(
        _run_program, program, session, config, args,
        parties=PARTIES, timeout=timeout, session_id=session, identities=identities,
        one_way_delay=one_way_delay, connect_timeout=connect_timeout,
    )
    return RunResult(
        results=tuple(result for result, _ in outcomes),
        stats=tuple(stats for _, stats in outcomes),
    )


def _run_program(transport: TlsTransport, program: Program, session_id: bytes, config, args):
    return run_party(program, transport, session_id, config, args)


def run_tls_parties(
    function: Callable[..., Any],
    *args: Any,
    parties: int = PARTIES,
    timeout: float = DEFAULT_TIMEOUT,
    session_id: bytes | str | None = None,
    identities: Sequence[NodeIdentity] | None = None,
    one_way_delay: float = 0.0,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
) -> list[Any]:
    """Run ``function(transport, *args)`` at ``parties`` processes linked pairwise by TLS; return results by party.

    ``function`` is a picklable top-level function; each party finds its
    number in ``transport.party``. Transcripts of every link are compared
    after ``function`` returns.
    """
    if not isinstance(parties, int) or parties < 2:
        raise InputError(f"parties must be an integer of at least 2, got {parties!r}")
    if identities is None:
        identities = tuple(NodeIdentity.generate(f"party-{party}") for party in range(parties))
    if len(identities) != parties or not all(isinstance(i, NodeIdentity) for i in identities):
        raise InputError(
            f"one NodeIdentity per party is needed ({parties}), got {len(identities)}: {identities!r:.200}"
        )
    if not timeout > 0:
        raise InputError(f"timeout must be positive seconds, got {timeout!r}")
    session = session_id if session_id is not None else new_session_id()
    fingerprints = tuple(identity.fingerprint for identity in identities)
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe() for _ in range(parties)]
    processes = [
        context.Process(
            target=_party_process,
            args=(
                party, identities[party], fingerprints, session, function, args,
                timeout, one_way_delay, connect_timeout, pipes[party][1],
            ),
            name=f"unseen-tls-party-{party}",
            daemon=False,  # a party may start its own worker processes (see the module docstring)
        )
        for party in range(parties)
    ]
    try:
        for process in processes:
            try:
                process.start()
            except (pickle.PicklingError, AttributeError, TypeError) as error:
                raise InputError(
                    f"party processes receive the function and its arguments by pickling, but "
                    f"they do not pickle ({error}); make the function a top-level function of a "
                    "module and pass arrays or other plain values as arguments"
                ) from error
        for _, child_end in pipes:
            child_end.close()
        return _supervise(processes, [parent_end for parent_end, _ in pipes], timeout, connect_timeout)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            if process.pid is not None:
                process.join(5)
                if process.is_alive():
                    process.kill()
                    process.join()
        for parent_end, child_end in pipes:
            parent_end.close()
            child_end.close()


def _supervise(processes, connections: list[Connection], timeout: float, connect_timeout: float) -> list[Any]:
    """Relay ports, collect outcomes, and decide when to give up on a party."""
    parties = len(processes)
    ports: dict[int, int] = {}
    results: dict[int, Any] = {}
    failures: list[tuple[float, int, BaseException]] = []
    open_parties = set(range(parties))
    start_deadline = time.monotonic() + connect_timeout + _START_UP_SECONDS
    give_up_at: float | None = None
    patience = timeout + min(timeout, _GRACE_AFTER_FAILURE_SECONDS)
    while open_parties:
        now = time.monotonic()
        if len(ports) < parties and not failures and now > start_deadline:
            raise TransportError(
                f"party processes {sorted(set(range(parties)) - ports.keys())} did not start listening "
                f"within {connect_timeout + _START_UP_SECONDS:g} s; the machine may be overloaded"
            )
        if give_up_at is not None and now > give_up_at:
            for party in sorted(open_parties):
                failures.append((now, party, TransportError(
                    f"party {party} was terminated: it had not finished {patience:g} s "
                    "after another party failed"
                )))
            break
        waitables = {connections[party]: party for party in open_parties}
        waitables.update({processes[party].sentinel: party for party in open_parties})
        for handle in wait(list(waitables), timeout=0.5):
            party = waitables[handle]
            if party not in open_parties:
                continue
            message = None
            if connections[party].poll():
                try:
                    message = connections[party].recv()
                except (EOFError, OSError):
                    message = None
            if message is None:
                # Process ended without a word: crashed, killed, or failed to start. When
                # it died is unknown, but it is the cause of its peers' broken links, so it
                # sorts before them (time 0) as the root cause.
                processes[party].join(1)
                failures.append((0.0, party, TransportError(
                    f"party {party}'s process ended (exit code {processes[party].exitcode}) without "
                    "reporting a result"
                )))
                open_parties.discard(party)
            elif message[0] == "port":
                ports[party] = message[1]
                if len(ports) == parties:
                    address_book = [ports[p] for p in range(parties)]
                    for connection in connections:
                        connection.send(address_book)
            elif message[0] == "done":
                results[party] = message[1]
                open_parties.discard(party)
            else:
                failures.append((message[1], party, message[2]))
                open_parties.discard(party)
        if failures and give_up_at is None:
            if len(ports) < parties:
                break  # set-up never completed: the others wait for an address book that will not come
            give_up_at = time.monotonic() + patience
    if failures:
        raise root_cause(failures)
    return [results[party] for party in range(parties)]


def _party_process(
    party: int,
    identity: NodeIdentity,
    fingerprints: tuple[bytes, ...],
    session_id: bytes | str,
    function: Callable[..., Any],
    args: tuple,
    timeout: float,
    one_way_delay: float,
    connect_timeout: float,
    connection: Connection,
) -> None:
    """Body of one party process (see the module docstring)."""
    exit_with_parent()
    try:
        listener = bind_listener(LOOPBACK, 0)
        connection.send(("port", listener.getsockname()[1]))
        ports = connection.recv()
        peers = {
            peer: Peer(fingerprints[peer], (LOOPBACK, ports[peer]) if party < peer else None)
            for peer in range(len(fingerprints))
            if peer != party
        }
        transport = TlsTransport.connect(
            party=party, identity=identity, peers=peers, session_id=session_id, listener=listener,
            timeout=timeout, connect_timeout=connect_timeout, one_way_delay=one_way_delay,
        )
        # On failure, peers learn only the exception's type: messages may name values.
        with transport:
            result = function(transport, *args)
            transport.verify_transcripts()
        connection.send(("done", result))
    except BaseException as error:  # noqa: BLE001 - reported to the caller
        failed_at = time.monotonic()
        error.add_note(f"traceback at party {party}:\n{''.join(traceback.format_exception(error)).rstrip()}")
        try:
            connection.send(("failed", failed_at, error))
        except Exception:  # noqa: BLE001 - the error itself does not pickle
            connection.send(("failed", failed_at, TransportError(
                f"party {party} failed with {type(error).__name__}: {error}"
            )))
    finally:
        connection.close()
