"""Command groups of ``unseen`` beyond ``deploy`` and ``chain`` (listed in ``offchain/cli.py``).

=================  ==========================================================
module             commands
=================  ==========================================================
``common``         the ``--config node.toml`` option and helpers shared below
``node``           ``unseen node init | start | check | status``
``data``           ``unseen dataset register | verify``, ``unseen grant set | revoke | show``
``jobs``           ``unseen stats``, ``unseen lending check``, ``unseen query``,
                   ``unseen jobs list | show``
``models``         ``unseen model train | predict``
``programs``       ``unseen program approve | revoke | status``, ``unseen script check | run``,
                   ``unseen publish register | approve | run``, ``unseen consent record | revoke``
``demo``           ``unseen demo``
=================  ==========================================================
"""
