"""Job programs: how each capability becomes a governed, planned, multi-party job.

See :mod:`offchain.programs.base` for the contract every program keeps and
:mod:`offchain.programs.registry` for the explicit list of programs.
"""
