"""Command groups of ``unseen`` beyond ``deploy`` and ``chain`` (listed in ``offchain/cli.py``).

=================  ==========================================================
module             commands
=================  ==========================================================
``common``         the ``--config node.toml`` option and helpers shared below
``node``           ``unseen node init | start | check | status``
``data``           ``unseen dataset register | verify``, ``unseen grant set | revoke | show``
``jobs``           ``unseen stats``, ``unseen lending check``, ``unseen query``,
                   ``unseen jobs list | show``
``demo``           ``unseen demo``
=================  ==========================================================
"""
