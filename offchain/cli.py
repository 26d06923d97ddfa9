"""The ``unseen`` command.

Structure (httpx ``_main.py`` style): :func:`main` parses the command line,
runs one command function, catches only :class:`~offchain.errors.UnseenError`
and prints it as one red ``Type: message`` line. Exit codes:

====  =========================================================
0     done
1     refused or failed (a contract error, an unreachable node, ...)
2     usage: bad flags, bad configuration file or argument
3     ``unseen audit``: the audit ran and a check failed
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
    CommandGroup("deploy", "offchain.cli:register_deploy"),
    CommandGroup("chain", "offchain.cli:register_chain"),
    CommandGroup("node", "offchain.commands.node:register"),
    CommandGroup("dataset", "offchain.commands.data:register_dataset_commands"),
    CommandGroup("grant", "offchain.commands.data:register_grant_commands"),
    CommandGroup("stats", "offchain.commands.jobs:register_stats"),
    CommandGroup("lending", "offchain.commands.jobs:register_lending"),
    CommandGroup("query", "offchain.commands.jobs:register_query"),
    CommandGroup("model", "offchain.commands.models:register"),
    CommandGroup("script", "offchain.commands.programs:register_script_commands"),
    CommandGroup("publish", "offchain.commands.programs:register_publish_commands"),
    CommandGroup("program", "offchain.commands.programs:register_program_commands"),
    CommandGroup("consent", "offchain.commands.programs:register_consent_commands"),
    CommandGroup("jobs", "offchain.commands.jobs:register_jobs"),
    CommandGroup("demo", "offchain.commands.demo:register"),
    CommandGroup("audit", "offchain.audit.commands:register"),
)


def _register_all(subparsers: argparse._SubParsersAction) -> None:
    for group in COMMAND_GROUPS:
        module_name, _, function_name = group.register.partition(":")
        register = getattr(importlib.import_module(module_name), function_name)
        register(subparsers)


def _add_common_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    parser.add_argument(
        "--deployment", metavar="PATH", default=default,
        help="deployment file (default .unseen/deployment.json; $UNSEEN_DEPLOYMENT overrides)",
    )
    parser.add_argument(
        "--rpc", metavar="URL", default=default,
        help="JSON-RPC URL of the chain (default: the deployment's; $UNSEEN_RPC_URL overrides)",
    )
    parser.add_argument(
        "--key", metavar="SOURCE", default=default,
        help="signing key source: anvil:N, env:NAME, file:PATH or keystore:PATH "
        "($UNSEEN_KEY overrides)",
    )
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show tracebacks of errors")


def common_options() -> argparse.ArgumentParser:
    """A parent parser with the global options, so they also work after a subcommand.

    Pass it as ``parents=[common_options()]`` to every leaf sub-parser.
    """
    parser = argparse.ArgumentParser(add_help=False)
    _add_common_options(parser, argparse.SUPPRESS)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``unseen`` with every command group."""
    parser = argparse.ArgumentParser(
        prog="unseen",
        description="Usable but unseen: governed multi-party computation for consortia.",
    )
    parser.add_argument("--version", action="version", version=f"unseen {__version__}")
    _add_common_options(parser, argparse.SUPPRESS)
    parser.set_defaults(deployment=None, rpc=None, key=None, debug=False)
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


# ----------------------------------------------------------------------------
# shared helpers of the chain commands


def _rpc_url(args: argparse.Namespace, file_value: str | None) -> str | None:
    return setting(args.rpc, "UNSEEN_RPC_URL", file_value)


def _key(args: argparse.Namespace) -> str | None:
    return setting(args.key, "UNSEEN_KEY")


def _client(args: argparse.Namespace, signing: bool = False) -> Any:
    from offchain.chain.client import ChainClient
    from offchain.chain.deployment import Deployment, deployment_path

    deployment = Deployment.load(deployment_path(deployment_flag(args)))
    key = _key(args)
    if signing and not key:
        raise ConfigError("this command sends a transaction: pass --key SOURCE or set UNSEEN_KEY")
    return ChainClient.connect(deployment, rpc_url=_rpc_url(args, deployment.rpc_url),
                               key=key if signing else None)


def _table(title: str, columns: list[str]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column)
    return table


def _short_hash(value: bytes) -> str:
    text = "0x" + bytes(value).hex()
    return text[:10] + "…" + text[-4:] if len(text) > 18 else text


# ----------------------------------------------------------------------------
# unseen deploy


def register_deploy(subparsers: argparse._SubParsersAction) -> None:
    """Add ``unseen deploy``."""
    parser = subparsers.add_parser(
        "deploy", parents=[common_options()], help="deploy the contracts, admit members, issue credits",
        description="Deploy Unseen from a consortium file. Without --rpc (and without "
        "[chain] rpc_url in the file) a local anvil is started in the background "
        "(`unseen chain stop` ends it). Re-running reuses the recorded deployment.",
    )
    parser.add_argument("--config", required=True, metavar="TOML",
                        help="consortium file, e.g. deploy/consortium.example.toml")
    parser.add_argument("--fresh", action="store_true",
                        help="deploy new contracts even if a deployment file exists")
    parser.add_argument("--step", action="append", choices=("contracts", "members", "credits"),
                        help="run only this step (repeatable); default: all")
    parser.add_argument("--port", type=int, default=None,
                        help="port of the local anvil started when no RPC URL is given")
    parser.set_defaults(handler=_deploy)


def _deploy(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.anvil import LocalChain
    from offchain.chain.config import ConsortiumConfig
    from offchain.chain.deploy import run_deployment
    from offchain.chain.deployment import deployment_path

    config = ConsortiumConfig.load(args.config)
    rpc_url = _rpc_url(args, config.chain.rpc_url)
    if not rpc_url:
        local = LocalChain()
        record = local.start(port=args.port, chain_id=config.chain.chain_id or 31337)
        console.print(f"local anvil running at {record.url} (pid {record.pid}; "
                      "`unseen chain stop` stops it)")
        rpc_url = record.url
    path = deployment_path(deployment_flag(args))
    report = run_deployment(config, rpc_url, path, fresh=args.fresh, only=args.step,
                            progress=lambda line: console.print(f"  {line}"))
    deployment = report.deployment
    if report.reused and not report.steps_run:
        console.print(f"existing deployment on chain {deployment.chain_id} verified "
                      f"({path}); nothing to do")
    table = _table(f"Unseen on chain {deployment.chain_id} ({rpc_url})", ["contract", "address"])
    for name, address in deployment.contracts.items():
        table.add_row(name, address)
    console.print(table)
    for action in report.actions:
        console.print(f"  {action}")
    if report.transactions:
        console.print(f"{report.transactions} transactions, {report.gas_used:,} gas; "
                      f"deployment file {path}")
    return EXIT_OK


# ----------------------------------------------------------------------------
# unseen chain ...


def register_chain(subparsers: argparse._SubParsersAction) -> None:
    """Add ``unseen chain`` and its subcommands."""
    parser = subparsers.add_parser("chain", help="run a local chain; inspect a deployment")
    commands = parser.add_subparsers(dest="chain_command", metavar="SUBCOMMAND")
    commands.required = True
    common = common_options()

    start = commands.add_parser("start", parents=[common], help="start a local anvil in the background")
    start.add_argument("--port", type=int, default=None, help="port (default 8545)")
    start.add_argument("--chain-id", type=int, default=31337)
    start.set_defaults(handler=_chain_start)
    commands.add_parser("stop", parents=[common], help="stop the local anvil (its state is kept)").set_defaults(
        handler=_chain_stop)
    commands.add_parser("info", parents=[common], help="deployment, chain head and code check").set_defaults(
        handler=_chain_info)
    commands.add_parser("members", parents=[common], help="list members").set_defaults(handler=_chain_members)
    commands.add_parser("datasets", parents=[common], help="list datasets").set_defaults(handler=_chain_datasets)
    jobs = commands.add_parser("jobs", parents=[common], help="list jobs")
    jobs.add_argument("--last", type=int, default=20, help="show the last N jobs (default 20)")
    jobs.set_defaults(handler=_chain_jobs)
    balance = commands.add_parser("balance", parents=[common], help="credit balances")
    balance.add_argument("addresses", nargs="*", metavar="ADDRESS",
                         help="accounts (default: every member)")
    balance.set_defaults(handler=_chain_balance)
    events = commands.add_parser("events", parents=[common], help="decoded events of all Unseen contracts")
    events.add_argument("--from-block", type=int, default=None)
    events.add_argument("--name", action="append", help="only events with this name (repeatable)")
    events.add_argument("--limit", type=int, default=100, help="show at most N events (last N)")
    events.set_defaults(handler=_chain_events)
    decode = commands.add_parser("decode-error", parents=[common], help="explain revert data (0x…)")
    decode.add_argument("data", help="revert data as hex")
    decode.set_defaults(handler=_chain_decode_error)

    admit = commands.add_parser("admit", parents=[common], help="admit a member (admin key)")
    admit.add_argument("address")
    admit.add_argument("--name", required=True)
    admit.add_argument("--endpoint", required=True, help="node host:port")
    admit.add_argument("--fingerprint", required=True,
                       help="SHA-256 of the node's DER SubjectPublicKeyInfo (64 hex digits)")
    admit.add_argument("--compute-price", type=int, default=0)
    admit.set_defaults(handler=_chain_admit)
    suspend = commands.add_parser("suspend", parents=[common], help="suspend a member (admin or regulator key)")
    suspend.add_argument("address")
    suspend.add_argument("--reason", required=True)
    suspend.set_defaults(handler=_chain_suspend)
    issue = commands.add_parser("issue", parents=[common], help="issue credits to a member (admin key)")
    issue.add_argument("address")
    issue.add_argument("amount", type=int)
    issue.set_defaults(handler=_chain_issue)


def _chain_start(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.anvil import LocalChain

    record = LocalChain().start(port=args.port, chain_id=args.chain_id)
    console.print(f"anvil running at {record.url} (pid {record.pid}, chain {record.chain_id}); "
                  f"state kept in {record.state_file}")
    return EXIT_OK


def _chain_stop(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.anvil import LocalChain

    stopped = LocalChain().stop()
    console.print("anvil stopped; its state is kept for the next start" if stopped
                  else "no local anvil was running")
    return EXIT_OK


def _chain_info(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.anvil import LocalChain
    from offchain.chain.deployment import Deployment, deployment_path
    from offchain.chain.rpc import Rpc, to_int

    local = LocalChain().running()
    if local is not None:
        console.print(f"local anvil: {local.url} (pid {local.pid})")
    path = deployment_path(deployment_flag(args))
    deployment = Deployment.load(path)
    rpc = Rpc(_rpc_url(args, deployment.rpc_url))
    head = to_int(rpc.request("eth_blockNumber"))
    deployment.verify(rpc)
    table = _table(f"deployment {path}: chain {deployment.chain_id} at {rpc.url}, head block "
                   f"{head}", ["contract", "address", "code"])
    for name, address in deployment.contracts.items():
        table.add_row(name, address, "verified")
    console.print(table)
    console.print(f"deployed at block {deployment.deploy_block} by {deployment.deployer} "
                  f"on {deployment.created_at}; steps done: {', '.join(deployment.steps)}")
    return EXIT_OK


def _chain_members(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.render import render_time

    client = _client(args)
    members = client.consortium.members()
    table = _table(f"{len(members)} members", ["address", "name", "status", "endpoint",
                                                "TLS fingerprint", "compute price", "admitted"])
    for member in members:
        table.add_row(member.address, member.name, member.status.name, member.endpoint,
                      _short_hash(member.tls_fingerprint), f"{member.compute_price:,}",
                      render_time(member.admitted_at))
    console.print(table)
    return EXIT_OK


def _chain_datasets(args: argparse.Namespace, console: Console) -> int:
    client = _client(args)
    datasets = client.catalog.datasets()
    table = _table(f"{len(datasets)} datasets", ["id", "owner", "name", "version", "rows",
                                                  "columns", "price/job", "price/row", "state"])
    for dataset in datasets:
        state = "frozen" if dataset.frozen else ("active" if dataset.active else "inactive")
        owner = client.label_address(dataset.owner) or dataset.owner
        table.add_row(str(dataset.dataset_id), owner, dataset.name, str(dataset.version),
                      f"{dataset.row_count:,}", str(dataset.column_count),
                      f"{dataset.price_per_job:,}", f"{dataset.price_per_row:,}", state)
    console.print(table)
    return EXIT_OK


def _chain_jobs(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.render import render_time

    client = _client(args)
    count = client.jobs.job_count()
    jobs = client.jobs.jobs(max(1, count - args.last + 1), count) if count else []
    table = _table(f"{len(jobs)} of {count} jobs", ["id", "kind", "status", "requester",
                                                     "inputs", "nodes", "created", "deadline"])
    for job in jobs:
        table.add_row(str(job.job_id), job.kind.name,
                      job.status.name, client.label_address(job.requester) or job.requester,
                      str(job.input_count), str(job.node_count), render_time(job.created_at),
                      render_time(job.deadline))
    console.print(table)
    return EXIT_OK


def _chain_balance(args: argparse.Namespace, console: Console) -> int:
    client = _client(args)
    addresses = args.addresses or [member.address for member in client.consortium.members()]
    balances = client.billing.balances(addresses)
    table = _table("credit balances", ["account", "name", "credits"])
    for address, balance in zip(addresses, balances, strict=True):
        table.add_row(address, client.label_address(address) or "", f"{balance:,}")
    console.print(table)
    return EXIT_OK


def _chain_events(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.contract import describe_arguments
    from offchain.chain.events import EventCursor, MemoryCursorStore

    client = _client(args)
    start = args.from_block if args.from_block is not None else client.deployment.deploy_block
    cursor = EventCursor(client.rpc, client.deployment.contracts, MemoryCursorStore(),
                         start_block=start, artifacts=client.artifacts)
    events, _ = cursor.poll()
    if args.name:
        events = [event for event in events if event.name in set(args.name)]
    shown = events[-args.limit:] if args.limit else events
    for event in shown:
        console.print(f"[dim]{event.block_number}:{event.log_index}[/] "
                      f"[bold]{event.contract}.{event.name}[/] "
                      f"{escape(describe_arguments(event.args, client.label_address))}")
    console.print(f"{len(shown)} of {len(events)} events from block {start}")
    return EXIT_OK


def _chain_decode_error(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.errors import decode_revert

    text = args.data.removeprefix("0x")
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise InputError(f"revert data must be hex, got {args.data!r}") from None
    error = decode_revert(data)
    console.print(f"{type(error).__name__}: {escape(str(error))}")
    return EXIT_OK


def _fingerprint(text: str) -> bytes:
    try:
        value = bytes.fromhex(text.removeprefix("0x").replace(":", ""))
    except ValueError:
        value = b""
    if len(value) != 32:
        raise InputError(f"--fingerprint must be 32 bytes of hex (64 digits), got {text!r}")
    return value


def _chain_admit(args: argparse.Namespace, console: Console) -> int:
    client = _client(args, signing=True)
    receipt = client.consortium.admit(args.address, args.name, args.endpoint,
                                      _fingerprint(args.fingerprint), args.compute_price).transact()
    console.print(f"admitted {args.name} ({args.address}) in block {receipt.block_number}")
    return EXIT_OK


def _chain_suspend(args: argparse.Namespace, console: Console) -> int:
    client = _client(args, signing=True)
    receipt = client.consortium.suspend(args.address, args.reason).transact()
    console.print(f"suspended {args.address} in block {receipt.block_number}")
    return EXIT_OK


def _chain_issue(args: argparse.Namespace, console: Console) -> int:
    client = _client(args, signing=True)
    receipt = client.billing.issue(args.address, args.amount).transact()
    console.print(f"issued {args.amount:,} credits to {args.address} in block "
                  f"{receipt.block_number}")
    return EXIT_OK


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
