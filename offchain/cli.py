"""The ``unseen`` command.

Structure (httpx ``_main.py`` style): :func:`main` parses the command line,
runs one command function, catches only :class:`~offchain.errors.UnseenError`
and prints it as one red ``Type: message`` line. Exit codes:

====  =========================================================
0     done
1     refused or failed (a contract error, an unreachable node, ...)
2     usage: bad flags, bad configuration file or argument
====  =========================================================

Settings are resolved in one order everywhere: the configuration file, then
command-line flags, then environment variables (``UNSEEN_DEPLOYMENT``,
``UNSEEN_RPC_URL``, ``UNSEEN_KEY``): each later source overrides the earlier.

Adding commands: each command group is a :class:`CommandGroup` in
:data:`COMMAND_GROUPS`, whose ``register`` function adds its sub-parser and
sets ``handler`` (a function ``(args, console) -> int``). Later layers add
``node``, ``dataset``, ``grant``, ``query``, ``jobs``, ``audit`` and ``demo``
the same way: write ``register(subparsers)`` in their own module and list it
in :data:`COMMAND_GROUPS` (imported lazily, so ``unseen --help`` stays fast).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from offchain import __version__
from offchain.errors import ConfigError, InputError, UnseenError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace, Console], int]


@dataclass(frozen=True)
class CommandGroup:
    """One top-level command: ``register`` is ``module:function`` taking the subparsers."""

    name: str
    register: str


#: Every top-level command, in ``--help`` order.
COMMAND_GROUPS: tuple[CommandGroup, ...] = (
    CommandGroup("deploy", "offchain.chain_commands:register_deploy"),
    CommandGroup("chain", "offchain.chain_commands:register_chain"),
    # Extension point: CommandGroup("node", "offchain.node.commands:register"), ...
)


def _register_all(subparsers: argparse._SubParsersAction) -> None:
    for group in COMMAND_GROUPS:
        module_name, _, function_name = group.register.partition(":")
        register = getattr(importlib.import_module(module_name), function_name)
        register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``unseen`` with every command group."""
    parser = argparse.ArgumentParser(
        prog="unseen",
        description="Usable but unseen: governed multi-party computation for consortia.",
    )
    parser.add_argument("--version", action="version", version=f"unseen {__version__}")
    parser.add_argument(
        "--deployment", metavar="PATH",
        help="deployment file (default .unseen/deployment.json; $UNSEEN_DEPLOYMENT overrides)",
    )
    parser.add_argument(
        "--rpc", metavar="URL",
        help="JSON-RPC URL of the chain (default: the deployment's; $UNSEEN_RPC_URL overrides)",
    )
    parser.add_argument(
        "--key", metavar="SOURCE",
        help="signing key source: anvil:N, env:NAME, file:PATH or keystore:PATH "
        "($UNSEEN_KEY overrides)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    _register_all(subparsers)
    return parser


def setting(flag_value: Any, environment_variable: str, file_value: Any = None) -> Any:
    """Resolve one setting: the file's value, overridden by the flag, then by the environment."""
    from_environment = os.environ.get(environment_variable)
    if from_environment:
        return from_environment
    if flag_value not in (None, ""):
        return flag_value
    return file_value


def deployment_flag(args: argparse.Namespace) -> Path | None:
    """The ``--deployment`` flag, if given (``deployment_path`` applies the environment)."""
    return Path(args.deployment) if args.deployment else None


def main(argv: list[str] | None = None) -> int:
    """Run ``unseen`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    console = Console(highlight=False)
    errors = Console(stderr=True, highlight=False)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # argparse: --help (0) or usage error (2)
        return int(exit_request.code or 0)
    try:
        return int(args.handler(args, console) or EXIT_OK)
    except UnseenError as error:
        if args.debug:
            errors.print_exception()
        message = " ".join(str(error).split())  # one line, whatever the message holds
        errors.print(f"[bold red]{type(error).__name__}[/]: [red]{escape(message)}[/]",
                     soft_wrap=True)
        return EXIT_USAGE if isinstance(error, (ConfigError, InputError)) else EXIT_FAILED
    except KeyboardInterrupt:
        errors.print("[red]interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
