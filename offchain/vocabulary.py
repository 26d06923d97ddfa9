"""Words the whole system shares with the contracts: constraint levels and job kinds.

The numbering equals the Solidity enums in ``contracts/interfaces``; the
chain layer re-exports these. They live here, beside ``errors.py``, so that
every layer (planners in layer 3 included) can use them.
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
