"""Secure publishing: an approved rule set evaluated at the data owner's node (the ``publish`` program).

Compute moved to the data: a requester's rules (a rule script or a
decision table) run at the owner of one dataset, on its plaintext rows
about one consenting data subject, in a restricted interpreter inside a
limited OS process, and only outputs that fit the declared schema leave.

Modules in dependency order (each imports only from those above it):

==================  ==========================================================
``values``          the closed set of values rules work on; tagged JSON form
``rules``           the rules language: checker and step-counting interpreter
``decision_table``  declarative tables compiled to rules
``worker``          the sandbox process (limits itself, evaluates, answers)
``sandbox``         starting the worker with a wall clock and reading its answer
``schema``          declared arguments and outputs: validation, encoding
``subjects``        salted subject hashes, purposes, consent references
``spec``            the program text's parameters, checked against the catalog
``program``         the job program: plan, run request, evaluation, decoding
``samples``         a hospital's records, claims and an insurer's rules (demo, tests)
==================  ==========================================================

See ``docs/PUBLISHING.md``.
"""
