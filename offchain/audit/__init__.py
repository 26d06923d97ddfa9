"""The regulator's audit: rebuild everything from contract events, check it, report it.

Modules in dependency order (each imports only from those above it and from
the lower layers):

==============  ==================================================================
``findings``    typed findings (severity, check, job, block, tx) and the catalogue of checks
``history``     every event of a deployment with block timestamps; fast decoding; live polling
``records``     the rebuilt records (members, datasets, grants, consent, jobs) and their steps
``ledger``      the pure fold: events -> records, with history, request contexts and
                restricted actions
``checks``      the checks, as pure functions of the ledger
``crosscheck``  the rebuilt state against the contracts' views at the audited block
``evidence``    the requester's published result evidence, verified against the commitments
``report``      filters, sums, per-member and per-dataset usage, JSON and CSV exports
``engine``      :class:`Auditor`: read, fold, check, compare; incremental for live following
``charts``      server-rendered SVG charts
``web``         the read-only Starlette app behind ``unseen audit serve``
``commands``    the ``unseen audit`` command group
==============  ==================================================================

The commitment a compute node posts is defined in
:mod:`offchain.programs.commitments` (layer 3), so that nodes, the requester
SDK and this audit compute it the same way.
"""
