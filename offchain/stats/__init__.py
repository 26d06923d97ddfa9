"""Secure statistics over a column split by rows across members (the ``statistics`` job program).

Modules in dependency order (each imports only from those above it):

=============  ===============================================================
``filters``    the filter language, compiled to parameterised DuckDB SQL
``scaling``    public range analysis: value domain, bound, fixed scales
``spec``       the program's public parameters, checked against the catalog
``local``      the owner's DuckDB pre-aggregation (what gets shared)
``exact``      exact integer arithmetic on shares: long division, limbs
``secure``     the MPC combination and the status gate
``program``    the job program, its text builder and the decoded result
=============  ===============================================================

See ``docs/STATISTICS.md``.
"""
