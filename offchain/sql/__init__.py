"""Secure SQL: queries over members' tables, checked against column policies, run in MPC.

Modules in dependency order (each imports only from those above it; the
design is in docs/SQL.md):

==============  ===========================================================
``types``       SQL types and how the engine carries them
``ir``          the checked query: typed expressions with source positions
``parser``      sqlglot to ``ir.Query``; refuses unsupported constructs by position
``policy``      what each use of a column requires (SCQL CCL); the check
``compiled``    the compiled query every role reads
``owner``       an owner's local work (parameterised DuckDB, shuffle, tags, one-hots)
``explain``     steps, where they run, and who learns what
``planner``     query to compiled query to job ``Plan``
``oblivious``   permutations, shuffles and segmented scans on replicated shares
``join``        the matcher's layout and the oblivious routing of joined rows
``numeric``     quotients and square roots over the whole 64-bit range
``evaluate``    MPC expressions with NULL flags, conditions in three-valued logic
``sort``        ORDER BY ... LIMIT by shuffle-then-sort
``aggregate``   grouped aggregates, HAVING, minimum group size
``engine``      the compute parties' pipeline
``program``     the ``sql`` job program and decoding
==============  ===========================================================
"""

from offchain.sql.explain import explain_query
from offchain.sql.parser import parse_query
from offchain.sql.program import QueryResult, SqlProgram, query_program_text

__all__ = ["QueryResult", "SqlProgram", "explain_query", "parse_query", "query_program_text"]
