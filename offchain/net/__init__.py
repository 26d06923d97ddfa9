"""How parties talk: implementations of ``offchain.mpc.transport.Transport`` and what they need.

Modules in dependency order (each imports only from those above it):

================  ===============================================================
``transcript``    running SHA-256 transcripts of each link direction
``local``         the in-process transport and the 3-thread runner ``run_local``
``identity``      a node's P-256 key, self-signed certificate and fingerprint
``framing``       frames of numpy arrays on a byte stream
``handshake``     pinned mutual-TLS 1.3 connection set-up, one connection per direction
``tls``           ``TlsTransport``: links of two connections, reader and writer threads
``service``       request/response exchanges with a node: ``call_service`` and the node's side
``router``        ``NodeListener``: one port per node for every job's links and services; ``open_session``
``lifetime``      child processes that end with their parent process
``cluster``       ``run_tls``: parties as OS processes over TLS on loopback
================  ===============================================================

See docs/NETWORK.md.
"""
