"""The multi-lending check (the ``multi_lending`` job program).

Modules in dependency order (each imports only from those above it):

=============  ===============================================================
``encoding``   canonical 62-bit applicant keys, dummies
``hashing``    cuckoo and simple hashing for batches, the bin-load bound
``spec``       the program's public parameters and the layout they imply
``local``      the lenders' DuckDB window query and layout; the requester's slots
``secure``     the MPC: equality of slots and keys, count of lenders
``program``    the job program, its text builder and the decoded result
=============  ===============================================================

See ``docs/MULTI_LENDING.md``.
"""
