"""When each PSI output is allowed, given the column constraint levels of the two join keys.

Levels are the SCQL-style column constraint levels of ``AccessPolicy``,
by name. The rule reads: every party that can learn something must be
allowed to learn it for *both* keys.

=====================  ============================================  =============================
output                 who learns what beyond sizes                  each key's level must be one of
=====================  ============================================  =============================
INTERSECTION           receivers: the common keys and their rows      PLAINTEXT, PLAINTEXT_AFTER_JOIN
CARDINALITY            receivers (and, assisted, the matcher):        PLAINTEXT, PLAINTEXT_AFTER_JOIN,
                       the number of common keys                      PLAINTEXT_AFTER_AGGREGATE
SHARED (hidden join)   the matcher: the number of common keys and     PLAINTEXT, PLAINTEXT_AFTER_JOIN,
                       the match pattern under random permutations    PLAINTEXT_AFTER_AGGREGATE
=====================  ============================================  =============================

ENCRYPTED_ONLY, PLAINTEXT_AFTER_COMPARE and PLAINTEXT_AFTER_GROUP_BY keys
cannot be joined by these protocols: each of them reveals at least the
cardinality to someone.
"""

from __future__ import annotations

from offchain.errors import InputError, PolicyViolation

LEVELS = (
    "PLAINTEXT",
    "PLAINTEXT_AFTER_JOIN",
    "PLAINTEXT_AFTER_GROUP_BY",
    "PLAINTEXT_AFTER_AGGREGATE",
    "PLAINTEXT_AFTER_COMPARE",
    "ENCRYPTED_ONLY",
)

INTERSECTION = "INTERSECTION"
CARDINALITY = "CARDINALITY"
SHARED = "SHARED"

ALLOWED_LEVELS = {
    INTERSECTION: frozenset({"PLAINTEXT", "PLAINTEXT_AFTER_JOIN"}),
    CARDINALITY: frozenset({"PLAINTEXT", "PLAINTEXT_AFTER_JOIN", "PLAINTEXT_AFTER_AGGREGATE"}),
    SHARED: frozenset({"PLAINTEXT", "PLAINTEXT_AFTER_JOIN", "PLAINTEXT_AFTER_AGGREGATE"}),
}


def check_psi_allowed(output: str, left_key_level: str, right_key_level: str) -> None:
    """Raise ``PolicyViolation`` unless ``output`` is allowed for both join keys' levels."""
    if output not in ALLOWED_LEVELS:
        raise InputError(f"PSI output must be one of {sorted(ALLOWED_LEVELS)}, got {output!r}")
    for side, level in (("left", left_key_level), ("right", right_key_level)):
        if level not in LEVELS:
            raise InputError(
                f"unknown column constraint level {level!r} for the {side} key; one of {LEVELS}"
            )
        if level not in ALLOWED_LEVELS[output]:
            raise PolicyViolation(
                f"PSI with output {output} needs both join keys at one of "
                f"{sorted(ALLOWED_LEVELS[output])}; the {side} key is {level}. Ask its owner for a "
                "grant at such a level, or choose an output that reveals less"
            )
