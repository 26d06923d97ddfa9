"""``unseen node``: create a node's identity and file, check it, run it, look at its state."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from offchain.cli import EXIT_FAILED, EXIT_OK, common_options
from offchain.commands.common import member_options, node_config, short, table
from offchain.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``unseen node`` and its subcommands."""
    parser = subparsers.add_parser("node", help="run a member node: init, check, start, status")
    commands = parser.add_subparsers(dest="node_command", metavar="SUBCOMMAND")
    commands.required = True

    init = commands.add_parser(
        "init", parents=[common_options()], help="create a node's TLS identity and node file",
        description="Create a TLS identity (P-256 key and certificate) and a node file in --dir, and "
        "print the fingerprint to register. With --register, record the endpoint and fingerprint on "
        "chain (Consortium.updateNode, signed with the member's key).",
    )
    init.add_argument("--dir", required=True, metavar="DIR", help="directory of the node (created)")
    init.add_argument("--name", required=True, help="the member's registered name")
    init.add_argument("--listen", required=True, metavar="HOST:PORT", help="where the node listens")
    init.add_argument("--endpoint", metavar="HOST:PORT", help="what peers dial, if not --listen")
    init.add_argument("--database", metavar="PATH", help="DuckDB file (default DIR/data/NAME.duckdb)")
    init.add_argument("--register", action="store_true", help="register endpoint and fingerprint on chain")
    init.add_argument("--compute-price", type=int, default=None,
                      help="credits charged per job as a compute node (default: keep the registered one)")
    init.add_argument("--force", action="store_true", help="overwrite an existing node file (never the TLS key)")
    init.set_defaults(handler=_init)

    register_only = commands.add_parser(
        "register", parents=[member_options()], help="register this node's endpoint and TLS fingerprint on chain")
    register_only.add_argument("--compute-price", type=int, default=None)
    register_only.set_defaults(handler=_register)

    start = commands.add_parser("start", parents=[member_options()], help="run the node until Ctrl-C or SIGTERM")
    start.add_argument("--listen", metavar="HOST:PORT", help="override [node] listen")
    start.add_argument("--max-jobs", type=int, metavar="N", help="override [limits] max_concurrent_jobs")
    start.add_argument("--verbose", action="store_true", help="log debug messages")
    start.set_defaults(handler=_start)

    check = commands.add_parser("check", parents=[member_options()],
                                help="check the node file against the chain and reach every peer")
    check.set_defaults(handler=_check)

    status = commands.add_parser("status", parents=[member_options()], help="jobs and steps in the node's state")
    status.add_argument("--job", type=int, help="show the steps of this job")
    status.set_defaults(handler=_status)


def _init(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.deployment import deployment_path
    from offchain.chain.keys import load_account
    from offchain.cli import setting
    from offchain.net.identity import NodeIdentity
    from offchain.node.config import NodeConfig

    directory = Path(args.dir).resolve()
    config_path = directory / "node.toml"
    if config_path.exists() and not args.force:
        raise ConfigError(f"{config_path} already exists; pass --force to write it again, or --register alone "
                          f"with `unseen node register --config {config_path}`")
    key = setting(args.key, "UNSEEN_KEY")
    if not key:
        raise ConfigError("the node signs with the member's key: pass --key SOURCE (e.g. file:keys/me.key)")
    load_account(key)
    tls_key, tls_certificate = directory / "tls" / "node.key", directory / "tls" / "node.crt"
    if tls_key.exists():
        identity = NodeIdentity.load(tls_key, tls_certificate)
        console.print(f"kept the existing TLS identity in {tls_key.parent}")
    else:
        identity = NodeIdentity.generate(args.name[:64])
        identity.save(tls_key, tls_certificate)
        console.print(f"created a TLS identity in {tls_key.parent}")
    deployment = Path(setting(args.deployment, "UNSEEN_DEPLOYMENT") or deployment_path(None)).resolve()
    safe_name = "".join(c if c.isalnum() else "_" for c in args.name.lower()).strip("_") or "member"
    config = NodeConfig(
        source=str(config_path), member_name=args.name, key=key, tls_key=tls_key, tls_certificate=tls_certificate,
        listen=args.listen, endpoint=args.endpoint, deployment=deployment,
        rpc_url=setting(args.rpc, "UNSEEN_RPC_URL"),
        database=Path(args.database).resolve() if args.database else directory / "data" / f"{safe_name}.duckdb",
        state_dir=directory / "state",
    )
    directory.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config.to_toml(relative_to=directory))
    console.print(f"wrote {config_path}")
    console.print(f"TLS fingerprint to register: [bold]{identity.fingerprint_hex}[/]")
    if args.register:
        config = NodeConfig.load(config_path)
        _register_node(config, args.compute_price, console)
    else:
        console.print(f"register it with `unseen node register --config {config_path}` (or ask the admin "
                      f"to admit {args.name} with --fingerprint {identity.fingerprint_hex})")
    return EXIT_OK


def _register(args: argparse.Namespace, console: Console) -> int:
    _register_node(node_config(args), args.compute_price, console)
    return EXIT_OK


def _register_node(config, compute_price: int | None, console: Console) -> None:
    from offchain.client.requester import Requester
    from offchain.net.identity import NodeIdentity

    client = Requester.from_node_config(config).client
    identity = NodeIdentity.load(config.tls_key, config.tls_certificate)
    member = client.consortium.member(client.address)
    price = member.compute_price if compute_price is None else compute_price
    receipt = client.consortium.update_node(config.advertised_endpoint, identity.fingerprint, price).transact()
    console.print(f"registered {member.name}: endpoint {config.advertised_endpoint}, fingerprint "
                  f"{identity.fingerprint_hex[:16]}…, compute price {price} (block {receipt.block_number})")


def _start(args: argparse.Namespace, console: Console) -> int:
    from offchain.node.daemon import Node, configure_logging

    config = node_config(args, listen=args.listen, max_concurrent_jobs=args.max_jobs)
    node = Node(config)
    for line in node.check():
        console.print(f"  {escape(line)}")
    configure_logging(config, verbose=args.verbose)
    node.run(ready=lambda: console.print(f"node {config.member_name} ready on {config.listen}", highlight=False))
    return EXIT_OK


def _check(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.models import MemberStatus
    from offchain.client.requester import default_service_call
    from offchain.errors import UnseenError
    from offchain.node.daemon import Node

    config = node_config(args)
    node = Node(config)
    for line in node.check():
        console.print(f"  {escape(line)}")
    failures = 0
    for member in node.client.consortium.members():
        if member.address == node.address or member.status is not MemberStatus.ACTIVE:
            continue
        started = time.perf_counter()
        try:
            reply, _ = default_service_call(node.identity, member.endpoint, member.tls_fingerprint, "ping", 0,
                                            {}, [], 5.0)
            console.print(f"  peer {escape(member.name)} at {member.endpoint}: reachable "
                          f"({(time.perf_counter() - started) * 1000:.0f} ms, knows us as {escape(str(reply.get('caller')))})")
        except UnseenError as error:
            failures += 1
            console.print(f"  [red]peer {escape(member.name)} at {member.endpoint}: unreachable: "
                          f"{type(error).__name__}: {escape(str(error))}[/]")
    node.state.close()
    return EXIT_FAILED if failures else EXIT_OK


def _status(args: argparse.Namespace, console: Console) -> int:
    from offchain.node.state import NodeState

    config = node_config(args)
    state = NodeState(config.state_database)
    try:
        if args.job is not None:
            row = state.job(args.job)
            if row is None:
                raise ConfigError(f"job {args.job} does not involve {config.member_name} (not in {config.state_database})")
            steps = table(f"job {row.job_id}: {row.phase} (chain: {row.chain_status.lower()})",
                          ["step", "transaction", "detail", "at"])
            for step, tx_hash, detail, done_at in state.steps(row.job_id):
                steps.add_row(step, short(tx_hash or "-", 12), detail or "",
                              time.strftime("%H:%M:%S", time.localtime(done_at)))
            console.print(steps)
            if row.reason:
                console.print(f"reason: {escape(row.reason)}")
            return EXIT_OK
        rows = state.jobs()
        listing = table(f"{config.member_name}: {len(rows)} jobs", ["job", "phase", "chain", "roles", "reason"])
        for row in rows:
            roles = ([f"owner {','.join(map(str, row.owned_inputs))}"] if row.owned_inputs else []) + (
                [f"party {row.party}"] if row.party is not None else [])
            listing.add_row(str(row.job_id), row.phase, row.chain_status.lower(), "; ".join(roles),
                            escape((row.reason or "")[:80]))
        console.print(listing)
        suspended = state.flag("suspended")
        if suspended:
            console.print(f"[red]the member is {escape(suspended)}[/]")
    finally:
        state.close()
    return EXIT_OK
