"""Exceptions raised by Unseen. Every one derives from :class:`UnseenError`.

Leaves also inherit the builtin that matches their meaning, so callers that
know nothing of Unseen can still catch ``PermissionError`` or ``TimeoutError``.
Messages state the offending values and how to fix the problem.

The tree::

    UnseenError
    ├── ConfigError (ValueError)            bad configuration file, flag or environment
    ├── InputError (ValueError)             bad input to an API: shapes, types, ranges
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
    │   ├── DeploymentNotFound (FileNotFoundError)
    │   └── ContractError                   a custom Solidity error; one subclass per
    │                                       error, generated in offchain/chain/errors.py
    └── PolicyViolation (PermissionError)   refused by a column policy, grant or consent
"""

from __future__ import annotations


class UnseenError(Exception):
    """Root of every error raised by Unseen."""


class ConfigError(UnseenError, ValueError):
    """A configuration file, command-line flag or environment variable is wrong."""


class InputError(UnseenError, ValueError):
    """An argument to an Unseen API is invalid (wrong shape, type or range)."""


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


class DeploymentNotFound(ChainError, FileNotFoundError):
    """No deployment file exists for the requested chain."""


class ContractError(ChainError):
    """A contract call reverted with a custom error.

    Subclasses, one per Solidity custom error, live in
    ``offchain/chain/errors.py`` and carry the decoded arguments in ``args_``.
    """


class PolicyViolation(UnseenError, PermissionError):
    """A column policy, grant, quota or consent record forbids the request."""
