"""Exceptions raised by Unseen. Every one derives from :class:`UnseenError`.

Leaves also inherit the builtin that matches their meaning, so callers that
know nothing of Unseen can still catch ``PermissionError`` or ``TimeoutError``.
Messages state the offending values and how to fix the problem.

The tree::

    UnseenError
    ├── ConfigError (ValueError)            bad configuration file, flag or environment
    ├── InputError (ValueError)             bad input to an API: shapes, types, ranges
    │   ├── UnsupportedQuery                a SQL construct outside the supported set (named,
    │   │                                   with its line and column)
    │   └── ScriptError                     a script or rule set breaks its language (syntax,
    │                                       construct, type, shape, range); names line and column
    ├── MpcError                            the MPC engine (offchain/mpc)
    │   ├── ShareMismatch                   replicated components disagree (verified mode)
    │   └── FixedPointOverflow (OverflowError)
    ├── TransportError (ConnectionError)    party-to-party links (offchain/net)
    │   ├── PeerTimeout (TimeoutError)
    │   ├── PeerAuthenticationFailed        peer key does not match its pinned fingerprint
    │   ├── SessionMismatch                 the peer serves another session (job)
    │   └── TranscriptMismatch              the two ends of a link saw different bytes
    ├── ServiceRefused                      a member's node refused or failed a service request
    ├── PsiError                            private set intersection (offchain/psi)
    │   └── PsiProtocolError                the peer broke the protocol: wrong mode, sizes, framing
    ├── ModelNotFound (LookupError)         a compute node keeps no shares of the model (offchain/ml)
    ├── ChainError                          the chain layer (offchain/chain)
    │   ├── RpcUnavailable (ConnectionError)
    │   ├── RpcError                        the node answered with a JSON-RPC error
    │   ├── ArtifactNotFound (FileNotFoundError)    contracts not compiled
    │   ├── DeploymentNotFound (FileNotFoundError)
    │   ├── DeploymentMismatch              deployment file and chain disagree
    │   ├── TransactionFailed               a mined transaction reverted, reason unknown
    │   ├── TransactionTimeout (TimeoutError)       no receipt within the wait
    │   ├── NonceGap                        a sent transaction vanished and cannot be replaced
    │   ├── ReorgDetected                   a reorganisation deeper than the confirmation depth
    │   └── ContractError                   a custom Solidity error; one subclass per
    │                                       error, in offchain/chain/errors.py
    ├── PolicyViolation (PermissionError)   refused by a column policy, grant or consent
    │   └── ScriptPolicyViolation           a script output needs a level the requester lacks; line
    ├── JobError                            a governed job did not complete (offchain/node, offchain/client)
    │   ├── JobDeclined                     a participant declined it; carries the reason recorded on chain
    │   ├── JobExpired (TimeoutError)       its deadline passed before every result was committed
    │   ├── CommitmentMismatch              a result payload differs from its node's on-chain commitment
    │   └── DatasetChanged                  local data differ from the fingerprint registered on chain
    ├── SandboxError                        a published program failed in the owner's sandbox
    │   ├── SandboxTimeout (TimeoutError)   over its step, CPU or wall-clock limit
    │   ├── SandboxMemoryExceeded (MemoryError)     over its memory limit
    │   ├── RuleFailed                      the program raised while evaluating (line, column)
    │   └── OutputOutsideSchema (ValueError)        an output does not fit the declared schema
    └── ResultWithheld                      the job ran; a rule of its program withholds the values
        ├── TooFewRows                      fewer rows than the job's minimum count
        └── ValueOutOfRange (ValueError)    a value lies outside the bound the job declared
"""

from __future__ import annotations


class UnseenError(Exception):
    """Root of every error raised by Unseen."""


class ConfigError(UnseenError, ValueError):
    """A configuration file, command-line flag or environment variable is wrong."""


class InputError(UnseenError, ValueError):
    """An argument to an Unseen API is invalid (wrong shape, type or range)."""


class UnsupportedQuery(InputError):
    """A SQL query uses a construct the secure query engine does not support.

    ``construct`` names it ("window function", "LIKE", "RIGHT JOIN"…);
    ``line`` and ``column`` (1-based) locate it in the query text.
    """

    def __init__(self, construct: str, line: int, column: int, detail: str = "") -> None:
        message = f"{construct} is not supported (line {line}, column {column})"
        super().__init__(message + (f": {detail}" if detail else ""))
        self.construct = construct
        self.line = line
        self.column = column


def _located(message: str, line: int | None, column: int | None, where: str | None) -> str:
    """Prefix ``message`` with where it applies: ``"line 3, column 7: ..."``."""
    place = []
    if where:
        place.append(where)
    if line is not None:
        place.append(f"line {line}" + (f", column {column}" if column is not None else ""))
    elif column is not None:
        place.append(f"column {column}")
    return f"{', '.join(place)}: {message}" if place else message


class ScriptError(InputError):
    """A script or rule set breaks a rule of its language, found before anything runs.

    ``line`` and ``column`` (1-based) locate the offending construct in the
    source; ``where`` names the part of a larger document (``"rules[2].when"``)
    when the source is one of several expressions. ``reason`` is the message
    without the location.
    """

    def __init__(
        self,
        reason: str,
        line: int | None = None,
        column: int | None = None,
        where: str | None = None,
    ) -> None:
        super().__init__(_located(reason, line, column, where))
        self.reason = reason
        self.line = line
        self.column = column
        self.where = where


class MpcError(UnseenError):
    """A multi-party computation could not complete correctly."""


class ShareMismatch(MpcError):
    """Two parties that must hold the same share component hold different values.

    Raised in verified mode. ``candidates`` lists the parties that may have
    deviated (the holders common to every mismatching component);
    ``suspect`` is set when that narrows down to one party.
    """

    def __init__(
        self, message: str, suspect: int | None = None, candidates: tuple[int, ...] = ()
    ) -> None:
        super().__init__(message)
        self.suspect = suspect
        self.candidates = tuple(candidates) if candidates else ((suspect,) if suspect is not None else ())


class FixedPointOverflow(MpcError, OverflowError):
    """A fixed-point value left the range the encoding can represent."""


class TransportError(UnseenError, ConnectionError):
    """A link between parties failed."""


class PeerTimeout(TransportError, TimeoutError):
    """A peer did not send or receive within the configured timeout."""


class PeerAuthenticationFailed(TransportError):
    """A peer's TLS key does not match the fingerprint pinned for it."""


class SessionMismatch(TransportError):
    """A peer answered for another session than the one this party was started for."""


class TranscriptMismatch(TransportError):
    """The two ends of a link computed different transcript hashes."""


class ServiceRefused(UnseenError):
    """A member's node answered a service request (``call_service``) with an error.

    ``remote_type`` is the name of the exception the node's handler raised
    (e.g. ``"PolicyViolation"``), or ``"UnknownService"``; the message carries
    the node's explanation. Not a ``TransportError``: the link worked, and
    retrying the same request gets the same answer.
    """

    def __init__(self, message: str, remote_type: str = "") -> None:
        super().__init__(message)
        self.remote_type = remote_type


class PsiError(UnseenError):
    """A private set intersection could not complete."""


class PsiProtocolError(PsiError):
    """The peer of a PSI run disagreed on the mode or parameters, or sent malformed data."""


class ModelNotFound(UnseenError, LookupError):
    """A compute node keeps no shares of the requested model (it lives at its training job's nodes)."""


class ChainError(UnseenError):
    """Talking to the chain failed."""


class RpcUnavailable(ChainError, ConnectionError):
    """The JSON-RPC endpoint cannot be reached."""


class RpcError(ChainError):
    """The JSON-RPC node answered a request with an error that is not a revert.

    ``code`` and ``data`` are the JSON-RPC error fields.
    """

    def __init__(self, message: str, code: int | None = None, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class ArtifactNotFound(ChainError, FileNotFoundError):
    """A compiled contract artifact is missing from ``build/contracts``."""


class DeploymentNotFound(ChainError, FileNotFoundError):
    """No deployment file exists for the requested chain."""


class DeploymentMismatch(ChainError):
    """The deployment file does not describe the chain it points to.

    Wrong chain id, no code or different code at a recorded address.
    """


class TransactionFailed(ChainError):
    """A mined transaction reverted and its revert data could not be recovered."""


class TransactionTimeout(ChainError, TimeoutError):
    """A sent transaction was not mined within the wait."""


class NonceGap(ChainError):
    """A sent transaction disappeared from the node and could not be sent again."""


class ReorgDetected(ChainError):
    """A block already processed is no longer on the canonical chain.

    Raised by event cursors when a reorganisation is deeper than their
    confirmation depth; raise the depth or rebuild the consumer's state.
    """


class ContractError(ChainError):
    """A contract call reverted with a custom error.

    Subclasses, one per Solidity custom error, live in
    ``offchain/chain/errors.py`` and carry the decoded arguments in ``args_``
    (a dict by parameter name) and the raw revert data in ``data``.
    """

    def __init__(self, message: str, args_: dict | None = None, data: bytes = b"") -> None:
        super().__init__(message)
        self.args_ = dict(args_ or {})
        self.data = bytes(data)


class PolicyViolation(UnseenError, PermissionError):
    """A column policy, grant, quota or consent record forbids the request."""


class ScriptPolicyViolation(PolicyViolation):
    """A script output reveals a column at a level its recipient does not hold.

    ``line`` and ``column`` locate the expression that creates the use
    (the comparison, the aggregate, or the reference to the column).
    """

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(_located(reason, line, column, None))
        self.reason = reason
        self.line = line
        self.column = column


class JobError(UnseenError):
    """A governed job did not complete. ``job_id`` names it."""

    def __init__(self, message: str, job_id: int | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class JobDeclined(JobError):
    """A participant declined the job; the message carries the reason it recorded on chain."""


class JobExpired(JobError, TimeoutError):
    """The job's deadline passed before every compute node committed its result."""


class CommitmentMismatch(JobError):
    """A compute node's result payload does not match the commitment it posted on chain.

    ``suspect`` is the node's address.
    """

    def __init__(self, message: str, job_id: int | None = None, suspect: str | None = None) -> None:
        super().__init__(message, job_id)
        self.suspect = suspect


class DatasetChanged(JobError):
    """A local table no longer matches the fingerprint of its dataset's registered version."""


class SandboxError(UnseenError):
    """A published program failed while the owner's node evaluated it; nothing left the node."""


class SandboxTimeout(SandboxError, TimeoutError):
    """The program exceeded its step budget, its CPU-time limit or its wall-clock limit."""


class SandboxMemoryExceeded(SandboxError, MemoryError):
    """The program exceeded the memory limit of its sandbox process."""


class RuleFailed(SandboxError):
    """The program raised an error while evaluating (division by zero, a missing output...).

    ``line`` and ``column`` locate it in the program's source when known.
    """

    def __init__(self, reason: str, line: int | None = None, column: int | None = None,
                 where: str | None = None) -> None:
        super().__init__(_located(reason, line, column, where))
        self.reason = reason
        self.line = line
        self.column = column


class OutputOutsideSchema(SandboxError, ValueError):
    """An output of a published program does not fit its declared output schema (withheld)."""


class ResultWithheld(UnseenError):
    """A job completed but a rule of its program withholds its values (only the reason is revealed)."""


class TooFewRows(ResultWithheld):
    """The job's rows are fewer than its minimum count, so no statistic is revealed."""


class ValueOutOfRange(ResultWithheld, ValueError):
    """A value lies outside the bound the job declared, so the job's statistics are withheld."""
