"""The member node: watches the chain, re-checks every job, shares inputs, runs MPC, commits.

Modules in dependency order (each imports only from those above it):

================  ===============================================================
``config``        the node file (TOML), flags and environment
``jobspec``       a job as the chain records it; plan ↔ request; protocol constants
``catalog``       ``ChainCatalog``: the planners' catalog, answered by the chain
``authorization`` the re-check of a job before any data is touched
``payloads``      delivered share payloads checked against the plan (byte forms and
                  commitments: ``offchain.programs.commitments``)
``state``         the SQLite state: cursor, jobs, steps, payloads, fingerprints
``fingerprints``  whether a local table still matches its registered fingerprint
``actions``       the node's transactions, each at most once
``watcher``       chain events into job records and wake-ups, exactly once
``network``       the node's one port: MPC sessions and service calls
``services``      deliver-input, deliver-requester-input, fetch-result, ping
``scheduler``     a bounded worker pool, oldest job first
``driver``        what the node does for one job, one step at a time
``daemon``        ``Node``: the pieces together; ``unseen node start``
================  ===============================================================

See docs/NODE.md.
"""
