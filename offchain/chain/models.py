"""Enums shared with the contracts, with the same numbering as the Solidity enums.

``SOLIDITY_ENUMS`` maps each Solidity enum name (as in the ABI's
``internalType``) to its Python enum, so decoded values come back as enum
members rather than numbers.
"""

from __future__ import annotations

from enum import IntEnum

from offchain.vocabulary import ConstraintLevel, JobKind

__all__ = ["ConstraintLevel", "JobKind", "JobStatus", "MemberStatus", "SOLIDITY_ENUMS"]


class JobStatus(IntEnum):
    """Where a job is in its life cycle."""

    NONE = 0
    REQUESTED = 1
    RUNNING = 2
    COMMITTED = 3
    FINALIZED = 4
    DISPUTED = 5
    RESOLVED = 6
    EXPIRED = 7
    DECLINED = 8


class MemberStatus(IntEnum):
    """A consortium member's standing."""

    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2
    REMOVED = 3


#: Solidity enum name -> Python enum, for decoding by ABI ``internalType``.
SOLIDITY_ENUMS: dict[str, type[IntEnum]] = {
    "ConstraintLevel": ConstraintLevel,
    "Level": ConstraintLevel,
    "JobKind": JobKind,
    "Kind": JobKind,
    "JobStatus": JobStatus,
    "MemberStatus": MemberStatus,
}
