"""Secure scripts: approved programs over secret arrays, run by the three compute nodes (``script``).

A member writes a short script in a subset of Python's syntax; it is
checked and compiled before any job is requested (errors with line and
column), registered by hash, approved by every owner of the data it
reads, and run by the compute nodes on shares. Only the declared outputs
reach the requester.

Modules in dependency order (each imports only from those above it):

=============  ===============================================================
``syntax``     bounded parsing of untrusted text into an AST, located errors
``ranges``     intervals of secret values and the engine's limits
``policy``     exposures of columns (raw, compared, aggregated) and their levels
``values``     compile-time values: public constants and secret registers
``circuit``    the compiled form: operations on registers, their cost
``builder``    emitting operations with shape, range, row and taint checks
``operators``  arithmetic, division, logic, comparisons, indexing
``functions``  the functions of the language
``compiler``   statements, names, loops unrolled, outputs: source to circuit
``executor``   running a circuit at one compute party over shares
``spec``       the program text's parameters, checked against the catalog
``program``    the job program, the requester's checks, the decoded result
=============  ===============================================================

See ``docs/SCRIPTS.md``.
"""
