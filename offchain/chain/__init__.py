"""The chain layer: everything Unseen says to and hears from the EVM chain.

Modules in dependency order (each imports only from those above it):

=================  ==============================================================
``models``         enums shared with the contracts (levels, kinds, statuses)
``abi``            encode calls, decode results, events and errors by ABI
``render``         human-readable values for messages (times, levels, names)
``artifacts``      compiled contracts from ``build/contracts`` (``build`` makes them)
``errors``         one exception class per Solidity error, decoded by selector
``rpc``            the JSON-RPC seam: single and batched requests
``signer``         local signing, local nonces, pipelined sends, recovery
``contract``       one contract called by function name
``events``         resumable, exactly-once event cursors and their stores
``deployment``     the deployment file
``client``         typed wrappers over the five contracts
``anvil``          a local anvil for development, tests and the demo
``keys``           key sources (anvil:N, env:, file:, keystore:)
``config``         the consortium file (TOML)
``deploy``         numbered, idempotent deployment steps
=================  ==============================================================
"""
