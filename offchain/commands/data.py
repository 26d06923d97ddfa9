"""``unseen dataset`` and ``unseen grant``: offer data and govern who may use it, and how."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from offchain.cli import EXIT_FAILED, EXIT_OK
from offchain.commands.common import member_options, node_config, requester, short, table


def register_dataset_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``unseen dataset``."""
    parser = subparsers.add_parser("dataset", help="import, fingerprint and register datasets")
    commands = parser.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")
    commands.required = True
    register = commands.add_parser(
        "register", parents=[member_options()], help="import a CSV/Parquet file and register it on chain",
        description="Import FILE into the node's DuckDB as table NAME, fingerprint it and register the "
        "dataset (or, with --new-version, publish the changed data as its next version).",
    )
    register.add_argument("name", help="dataset (and local table) name")
    register.add_argument("--file", metavar="PATH", help="CSV or Parquet file (default: the table already in DuckDB)")
    register.add_argument("--price-per-job", type=int, default=0, help="credits per job using it")
    register.add_argument("--price-per-row", type=int, default=0, help="credits per row a job uses")
    register.add_argument("--new-version", action="store_true", help="publish changed data as the next version")
    register.set_defaults(handler=_register)
    verify = commands.add_parser("verify", parents=[member_options()],
                                 help="compare a local table with its registered fingerprint")
    verify.add_argument("name")
    verify.set_defaults(handler=_verify)


def register_grant_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``unseen grant``."""
    parser = subparsers.add_parser("grant", help="column levels and grants on your datasets")
    commands = parser.add_subparsers(dest="grant_command", metavar="SUBCOMMAND")
    commands.required = True
    setter = commands.add_parser(
        "set", parents=[member_options()], help="set column levels and/or a grant",
        description="Levels: plaintext, join, group_by, aggregate, compare, encrypted (SCQL CCL). "
        "Example: unseen grant set loans --to Northbank --level amount=aggregate "
        "--level region=compare --kinds statistics --expires 30d --uses 100",
    )
    setter.add_argument("dataset", help="your dataset: its name, member.name or id")
    setter.add_argument("--to", required=True, metavar="MEMBER", help="member name or address, or 'all'")
    setter.add_argument("--level", action="append", default=[], metavar="COLUMN=LEVEL", help="repeatable")
    setter.add_argument("--kinds", help="job kinds the grant allows, e.g. statistics,query (or all)")
    setter.add_argument("--expires", metavar="DURATION", help="grant lifetime from now: 90m, 12h, 30d, 2w")
    setter.add_argument("--uses", type=int, default=0, help="most jobs the grant allows (0: unlimited)")
    setter.set_defaults(handler=_grant_set)
    revoke = commands.add_parser("revoke", parents=[member_options()], help="revoke a grant")
    revoke.add_argument("dataset")
    revoke.add_argument("--to", required=True, metavar="MEMBER")
    revoke.set_defaults(handler=_grant_revoke)
    show = commands.add_parser("show", parents=[member_options()], help="levels and grants of a dataset per member")
    show.add_argument("dataset", help="member.name or id")
    show.set_defaults(handler=_grant_show)


def _own_dataset(reference: str, member_name: str) -> str:
    return reference if "." in reference or reference.isdigit() else f"{member_name}.{reference}"


def _register(args: argparse.Namespace, console: Console) -> int:
    from offchain.client.datasets import register_dataset

    config = node_config(args)
    client = requester(args).client
    with console.status(f"importing and fingerprinting {args.name}…"):
        done = register_dataset(client, config.duckdb_path, config.state_database, args.name.lower(),
                                source=Path(args.file) if args.file else None,
                                price_per_job=args.price_per_job, price_per_row=args.price_per_row,
                                new_version=args.new_version)
    columns = ", ".join(f"{c.name} {c.type}" for c in done.schema.columns)
    console.print(f"dataset {done.dataset_id} {config.member_name}.{done.name} v{done.version}: {done.action} "
                  f"— {done.row_count:,} rows ({escape(columns)}), fingerprint {short(done.fingerprint)} "
                  f"in {done.seconds:.1f} s")
    return EXIT_OK


def _verify(args: argparse.Namespace, console: Console) -> int:
    from offchain.errors import DatasetChanged
    from offchain.node.catalog import ChainCatalog
    from offchain.node.daemon import Node
    from offchain.node.fingerprints import check_unchanged

    config = node_config(args)
    node = Node(config)
    try:
        catalog = ChainCatalog(node.reader())
        dataset = catalog.dataset(_own_dataset(args.name, config.member_name))
        store = node.open_store()
        try:
            started = time.perf_counter()
            record = check_unchanged(store, node.state, dataset, dataset.fingerprint)
        except DatasetChanged as error:
            console.print(f"[red]{escape(str(error))}[/]")
            return EXIT_FAILED
        finally:
            store.close()
    finally:
        node.state.close()
    console.print(f"{dataset.reference} v{dataset.version}: local table matches the registered fingerprint "
                  f"({record.row_count:,} rows, full root computed "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(record.computed_at))}; checked in "
                  f"{time.perf_counter() - started:.2f} s)")
    return EXIT_OK


def _grant_set(args: argparse.Namespace, console: Console) -> int:
    from offchain.client.grants import parse_column_levels, parse_duration, parse_kinds, set_policy
    from offchain.client.requester import _chain_now

    config = node_config(args)
    client = requester(args).client
    expiry = _chain_now(client) + parse_duration(args.expires) if args.expires else None
    change = set_policy(client, _own_dataset(args.dataset, config.member_name), args.to,
                        levels=parse_column_levels(args.level), expiry=expiry, max_uses=args.uses,
                        kinds=parse_kinds(args.kinds) if args.kinds else None)
    console.print(escape(change.describe()))
    return EXIT_OK


def _grant_revoke(args: argparse.Namespace, console: Console) -> int:
    from offchain.client.grants import revoke_grant

    config = node_config(args)
    tx_hash = revoke_grant(requester(args).client, _own_dataset(args.dataset, config.member_name), args.to)
    console.print(f"revoked the grant of {escape(args.to)} on {escape(args.dataset)} (tx {short(tx_hash)})")
    return EXIT_OK


def _grant_show(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.client import ZERO_ADDRESS
    from offchain.chain.render import render_kinds, render_time
    from offchain.node.catalog import ChainCatalog

    client = requester(args).client
    catalog = ChainCatalog(client)
    dataset = catalog.dataset(args.dataset)
    members = [m for m in client.consortium.members() if m.address != dataset.owner]
    listing = table(f"{dataset.reference} (id {dataset.dataset_id}, owner {dataset.owner_name})",
                    ["grantee", "grant", *dataset.schema.names])
    for address, name in [(ZERO_ADDRESS, "all members")] + [(m.address, m.name) for m in members]:
        grant = client.access_policy.grant(dataset.dataset_id, address)
        described = (f"{render_kinds(grant.allowed_kinds)}, {grant.uses}/{grant.max_uses or '∞'} uses, until "
                     f"{render_time(grant.expiry)}" if grant.active else "-")
        levels = [catalog.level(dataset.dataset_id, column, address).name.removeprefix("PLAINTEXT_AFTER_").lower()
                  for column in dataset.schema.names]
        listing.add_row(escape(name), described, *levels)
    console.print(listing)
    return EXIT_OK
