"""Enums shared with the contracts, with the same numbering as the Solidity enums.

``SOLIDITY_ENUMS`` maps each Solidity enum name (as in the ABI's
``internalType``) to its Python enum, so decoded values come back as enum
members rather than numbers.
"""

from __future__ import annotations

from enum import IntEnum


class ConstraintLevel(IntEnum):
    """How much of a column a grantee may see (SecretFlow SCQL CCL semantics)."""

    PLAINTEXT = 0
    PLAINTEXT_AFTER_JOIN = 1
    PLAINTEXT_AFTER_GROUP_BY = 2
    PLAINTEXT_AFTER_AGGREGATE = 3
    PLAINTEXT_AFTER_COMPARE = 4
    ENCRYPTED_ONLY = 5

    def permits(self, required: ConstraintLevel) -> bool:
        """Return whether this granted level allows a use that requires ``required``.

        The contract's rule: granted G permits required R iff G is PLAINTEXT,
        R is ENCRYPTED_ONLY, or G equals R.
        """
        return (
            self is ConstraintLevel.PLAINTEXT
            or required is ConstraintLevel.ENCRYPTED_ONLY
            or self is required
        )


class JobKind(IntEnum):
    """What a job computes."""

    STATISTICS = 0
    QUERY = 1
    MODEL_TRAIN = 2
    MODEL_PREDICT = 3
    SCRIPT = 4
    PUBLISH = 5

    @staticmethod
    def mask(*kinds: JobKind) -> int:
        """Return the bitmask (bit ``kind``) allowing ``kinds``, as grants store it."""
        mask = 0
        for kind in kinds:
            mask |= 1 << int(kind)
        return mask


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
