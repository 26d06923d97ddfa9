"""``unseen program``, ``unseen script``, ``unseen publish`` and ``unseen consent``.

Programs that owners must approve (scripts, published rule sets, models)
travel as **program files**: the program text as a JSON or TOML document
``{program, version, parameters}`` (TOML suits scripts: multi-line
``source``). Whoever loads a file gets the same canonical text
(:func:`load_program_text`), hence the same hash, so what the requester runs
is exactly what the owners approved::

    unseen script check risk.toml --out risk.json           # requester: checks, hash, missing approvals
    unseen program approve risk.json --config owner.toml      # each owner: reviews the plan, approves
    unseen script run risk.json --private threshold=1.5       # requester: the job

    unseen publish register claims.toml --out claims.json     # requester (insurer)
    unseen publish approve claims.json --config hospital.toml # owner (hospital)
    unseen consent record records --subject P-00042 --purpose insurance-claim-settlement --expires 365d
    unseen publish run claims.json --subject P-00042 --consent-reference UC1-… --arg claimed=250.00 …

The commands call :mod:`offchain.client.publishing` (approvals, consent),
:mod:`offchain.script.program` (``check_script``) and the requester SDK; the
node serves the jobs.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from offchain.cli import EXIT_OK
from offchain.commands.common import (
    add_job_options,
    member_options,
    node_config,
    requester,
    run_job,
    short,
    table,
)
from offchain.errors import InputError


def register_program_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``unseen program``: owners approve (or revoke) program and model hashes."""
    parser = subparsers.add_parser(
        "program", help="approve programs and models on your datasets (owners)",
        description="Owners approve the hash of a program (script, published rules, model predict job) on "
        "each of their datasets it reads; the chain refuses SCRIPT, PUBLISH and MODEL_PREDICT jobs whose "
        "hash an input's owner has not approved. A changed program is a new hash.",
    )
    commands = parser.add_subparsers(dest="program_command", metavar="SUBCOMMAND")
    commands.required = True
    approve = commands.add_parser(
        "approve", parents=[member_options()], help="review a program file and approve its hash",
        description="Prints the plan (steps, column uses, who learns what), then approves its hash on every "
        "input dataset you own. With --model CARD instead of a file: approve a trained model's hash on the "
        "datasets named by --dataset, so predict jobs may score their rows.",
    )
    approve.add_argument("file", nargs="?", metavar="PROGRAM", help="program file (JSON or TOML)")
    approve.add_argument("--model", metavar="CARD", help="model card file written by `unseen model train`")
    approve.add_argument("--dataset", action="append", default=[], metavar="NAME",
                         help="with --model: your dataset the model may score (repeatable)")
    approve.add_argument("--note", help="the approval note recorded on chain (default: a summary of the plan)")
    approve.set_defaults(handler=_program_approve)
    revoke = commands.add_parser("revoke", parents=[member_options()], help="withdraw an approval")
    revoke.add_argument("file", nargs="?", metavar="PROGRAM")
    revoke.add_argument("--model", metavar="CARD")
    revoke.add_argument("--dataset", action="append", default=[], metavar="NAME")
    revoke.add_argument("--note", required=True, help="why, recorded on chain")
    revoke.set_defaults(handler=_program_revoke)
    status = commands.add_parser("status", parents=[member_options()],
                                 help="a program's hash and the owners that have not approved it")
    status.add_argument("file", metavar="PROGRAM")
    status.set_defaults(handler=_program_status)


def register_script_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``unseen script``: check and run approved scripts over other members' columns."""
    parser = subparsers.add_parser("script", help="secure scripts: check, then run once every owner approved")
    commands = parser.add_subparsers(dest="script_command", metavar="SUBCOMMAND")
    commands.required = True
    check = commands.add_parser(
        "check", parents=[member_options()], help="compile and check a script against the chain; send nothing",
        description="Checks syntax, kinds, shapes, ranges, cost and your column levels (errors name the line "
        "and column), prints the plan and the program hash, lists the owners that have not approved it, "
        "and with --out writes the canonical program file to send them.",
    )
    check.add_argument("file", metavar="PROGRAM", help='script program file: program = "script" (JSON or TOML)')
    check.add_argument("--out", metavar="PATH", help="write the canonical program text here")
    check.set_defaults(handler=_script_check)
    run = commands.add_parser(
        "run", parents=[member_options()], help="run an approved script as a job",
        description="Example: unseen script run risk.json --private threshold=1.5 --private weights=[0.5,2]",
    )
    run.add_argument("file", metavar="PROGRAM")
    run.add_argument("--private", action="append", default=[], metavar="NAME=VALUE",
                     help="a private input (JSON value: number, true/false, list); repeatable")
    add_job_options(run)
    run.set_defaults(handler=_script_run)


def register_publish_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``unseen publish``: rules evaluated at a data owner's node."""
    parser = subparsers.add_parser("publish", help="secure publishing: rules that run at the data owner")
    commands = parser.add_subparsers(dest="publish_command", metavar="SUBCOMMAND")
    commands.required = True
    register = commands.add_parser(
        "register", parents=[member_options()], help="check a rule program and prepare it for the owner's approval",
        description="Plans the program against the chain (rules checked with line and column), prints what one "
        "run can reveal and its hash, says whether the owner approved it, and with --out writes the "
        "canonical program file to send the owner. Approval on chain is the registration.",
    )
    register.add_argument("file", metavar="PROGRAM", help='publish program file: program = "publish"')
    register.add_argument("--out", metavar="PATH", help="write the canonical program text here")
    register.set_defaults(handler=_publish_register)
    approve = commands.add_parser("approve", parents=[member_options()],
                                  help="the owner reviews a rule program and approves its hash")
    approve.add_argument("file", metavar="PROGRAM")
    approve.add_argument("--note", help="approval note recorded on chain (default: a summary)")
    approve.set_defaults(handler=_publish_approve)
    run = commands.add_parser(
        "run", parents=[member_options()], help="evaluate the rules at the owner for one consenting subject",
        description="Example: unseen publish run claims.json --subject P-00042 --consent-reference UC1-... "
        "--arg claim_date=2025-06-01 --arg claimed=250.00 --arg treatment=asthma",
    )
    run.add_argument("file", metavar="PROGRAM")
    run.add_argument("--subject", required=True, metavar="ID", help="the data subject's id at the owner")
    run.add_argument("--consent-reference", required=True, metavar="REF",
                     help="the reference on the subject's consent receipt (UC1-…)")
    run.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE", help="a run argument; repeatable")
    add_job_options(run)
    run.set_defaults(handler=_publish_run)


def register_consent_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``unseen consent``: data subjects' consent records on the owner's datasets."""
    parser = subparsers.add_parser("consent", help="record or revoke a data subject's consent (owners)")
    commands = parser.add_subparsers(dest="consent_command", metavar="SUBCOMMAND")
    commands.required = True
    record = commands.add_parser(
        "record", parents=[member_options()], help="record a subject's consent for a purpose",
        description="Derives the subject's salted hash from your subject key (created in the node's state "
        "directory on first use, mode 0600), records the consent on chain and prints the consent reference "
        "to give the subject (it needs it to be evaluated).",
    )
    record.add_argument("dataset", help="your dataset")
    record.add_argument("--subject", required=True, metavar="ID", help="the subject's id in the dataset")
    record.add_argument("--purpose", required=True, help="e.g. insurance-claim-settlement")
    record.add_argument("--expires", required=True, metavar="DURATION", help="consent lifetime: 12h, 30d, 52w")
    record.add_argument("--evidence", metavar="FILE", help="the signed form (kept off chain; its keccak256 is recorded)")
    record.add_argument("--subject-account", metavar="ADDRESS", help="the subject's own account (may revoke)")
    record.add_argument("--subject-key", metavar="FILE", help="subject key file (default: state_dir/subject.key)")
    record.set_defaults(handler=_consent_record)
    revoke = commands.add_parser(
        "revoke", parents=[member_options()], help="revoke a consent (owner), or relay a subject's signed revocation",
    )
    revoke.add_argument("dataset", help="the dataset (yours, unless relaying with --signature)")
    revoke.add_argument("--purpose", required=True)
    revoke.add_argument("--subject", metavar="ID", help="the subject's id (the owner derives the hash)")
    revoke.add_argument("--subject-hash", metavar="0x…", help="the subject hash on chain (instead of --subject)")
    revoke.add_argument("--subject-key", metavar="FILE", help="subject key file (default: state_dir/subject.key)")
    revoke.add_argument("--signature", metavar="0x…", help="the subject's EIP-712 revocation signature")
    revoke.add_argument("--deadline", type=int, metavar="UNIX", help="the signature's deadline")
    revoke.set_defaults(handler=_consent_revoke)


# -- program files ------------------------------------------------------------------------------


def load_program_text(path: str | Path) -> str:
    """Read a program file (JSON, or TOML by its suffix) and return its canonical program text."""
    from offchain.programs.base import canonical_program_text

    source = Path(path)
    try:
        raw = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"program file {source} does not exist") from None
    try:
        document = tomllib.loads(raw) if source.suffix.lower() == ".toml" else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        kind = "TOML" if source.suffix.lower() == ".toml" else "JSON"
        raise InputError(f"program file {source} is not valid {kind}: {error}") from None
    if not isinstance(document, dict) or set(document) != {"program", "version", "parameters"}:
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise InputError(f"program file {source} must hold exactly program, version and parameters; found {found}")
    program, version, parameters = document["program"], document["version"], document["parameters"]
    if not isinstance(program, str) or isinstance(version, bool) or not isinstance(version, int) \
            or not isinstance(parameters, dict):
        raise InputError(f"program file {source}: program is a name, version an integer, parameters a table")
    return canonical_program_text(program, version, parameters)


def _plan_file(asker: Any, path: str, expected: str | None = None) -> tuple[str, Any]:
    """Load and plan a program file against the chain; ``expected`` names the program it must be."""
    from offchain.programs.base import parse_program_text

    text = load_program_text(path)
    name, _, _ = parse_program_text(text)
    if expected is not None and name != expected:
        raise InputError(f"{path} holds a {name!r} program, not a {expected!r} one")
    _, plan = asker.plan(text)
    return text, plan


def _write_program(text: str, path: str | None, console: Console) -> None:
    if path:
        Path(path).write_text(text + "\n", encoding="utf-8")
        console.print(f"canonical program text written to {escape(path)}")


def _approvals_line(asker: Any, plan: Any) -> str:
    from offchain.client.publishing import approved_hash, missing_approvals

    missing = missing_approvals(asker.client, plan, asker.address)
    digest = "0x" + approved_hash(plan).hex()
    if missing:
        return f"program hash {digest}: not yet approved on {', '.join(missing)} (send the owners the program file)"
    return f"program hash {digest}: approved by the owner of every input"


# -- unseen program -----------------------------------------------------------------------------


def _model_datasets(asker: Any, args: argparse.Namespace, config: Any) -> tuple[str, dict[int, str]]:
    from offchain.ml.model import ModelCard
    from offchain.node.catalog import ChainCatalog

    if args.file:
        raise InputError("give a program file or --model CARD, not both")
    if not args.dataset:
        raise InputError("--model needs --dataset NAME: your datasets the model may score")
    try:
        card = ModelCard.from_json(json.loads(Path(args.model).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"model card {args.model} does not exist") from None
    except json.JSONDecodeError as error:
        raise InputError(f"model card {args.model} is not JSON: {error}") from None
    catalog = ChainCatalog(asker.client)
    datasets = {}
    for name in args.dataset:
        dataset = _own(catalog, name, config.member_name)
        if dataset.owner != asker.address:
            raise InputError(f"{dataset.reference} is not yours; owners approve models on their own datasets")
        datasets[dataset.dataset_id] = dataset.reference
    return card.model_hash, datasets


def _program_approve(args: argparse.Namespace, console: Console) -> int:
    from offchain.client.publishing import approval_note, approve

    config = node_config(args)
    asker = requester(args)
    if args.model:
        model_hash, datasets = _model_datasets(asker, args, config)
        note = args.note or f"model {model_hash[:16]}… may score these rows"
        asker.client.transact_all([
            asker.client.access_policy.approve_program(d, bytes.fromhex(model_hash), note) for d in datasets])
        console.print(f"approved model 0x{model_hash} on {', '.join(datasets.values())}: predict jobs naming it "
                      "may now score these rows")
        return EXIT_OK
    if not args.file:
        raise InputError("name a program file to approve, or --model CARD with --dataset NAME")
    _, plan = _plan_file(asker, args.file)
    console.print(escape(plan.explain()))
    receipts = approve(asker.client, plan, args.note)
    owned = [i.dataset.reference for i in plan.inputs if i.dataset.owner == asker.address]
    console.print(f"approved on {', '.join(owned)}" + (" (already approved)" if not receipts else "")
                  + f" — {escape(approval_note(plan) if args.note is None else args.note)}")
    console.print(escape(_approvals_line(asker, plan)))
    return EXIT_OK


def _program_revoke(args: argparse.Namespace, console: Console) -> int:
    from offchain.client.publishing import revoke_approval

    config = node_config(args)
    asker = requester(args)
    if args.model:
        model_hash, datasets = _model_datasets(asker, args, config)
        asker.client.transact_all([
            asker.client.access_policy.revoke_program(d, bytes.fromhex(model_hash), args.note) for d in datasets])
        console.print(f"withdrew the approval of model 0x{model_hash} on {', '.join(datasets.values())}")
        return EXIT_OK
    if not args.file:
        raise InputError("name a program file, or --model CARD with --dataset NAME")
    _, plan = _plan_file(asker, args.file)
    receipts = revoke_approval(asker.client, plan, args.note)
    console.print(f"withdrew the approval on {len(receipts)} dataset(s)" if receipts
                  else "nothing to withdraw: the program is not approved on your datasets")
    return EXIT_OK


def _program_status(args: argparse.Namespace, console: Console) -> int:
    asker = requester(args)
    _, plan = _plan_file(asker, args.file)
    console.print(escape(_approvals_line(asker, plan)))
    return EXIT_OK


# -- unseen script --------------------------------------------------------------------------------


def _script_check(args: argparse.Namespace, console: Console) -> int:
    from offchain.node.catalog import ChainCatalog
    from offchain.programs.base import parse_program_text
    from offchain.script.program import check_script

    asker = requester(args)
    text = load_program_text(args.file)
    name, _, _ = parse_program_text(text)
    if name != "script":
        raise InputError(f"{args.file} holds a {name!r} program, not a script")
    plan = check_script(text, ChainCatalog(asker.client), asker.address)
    console.print(escape(plan.explain()))
    console.print(escape(_approvals_line(asker, plan)))
    _write_program(text, args.out, console)
    return EXIT_OK


def _json_value(item: str, option: str) -> tuple[str, Any]:
    name, separator, value = item.partition("=")
    if not separator or not name.strip():
        raise InputError(f"{option} takes NAME=VALUE, got {item!r}")
    try:
        return name.strip(), json.loads(value)
    except json.JSONDecodeError:
        return name.strip(), value


def _script_run(args: argparse.Namespace, console: Console) -> int:
    from offchain.client.publishing import check_approved

    asker = requester(args)
    text, plan = _plan_file(asker, args.file, "script")
    check_approved(asker.client, plan, asker.address)
    private = dict(_json_value(item, "--private") for item in args.private)
    outcome = run_job(console, asker, text, private, args)
    if outcome is None:
        return EXIT_OK
    result = outcome.result
    listing = table("outputs", ["output", "value"])
    for name, value in result.values.items():
        listing.add_row(escape(name), escape(_render(value)))
    console.print(listing)
    if result.rows_aligned is not None:
        console.print("aligned rows: " + ("keys agree row by row" if result.rows_aligned
                                          else "[red]keys disagree; outputs withheld[/]"))
    return EXIT_OK


def _render(value: Any) -> str:
    import numpy as np

    if isinstance(value, np.ndarray):
        shown = np.array2string(value[:20], precision=6, separator=", ")
        return shown + (f" … ({value.size} values)" if value.size > 20 else "")
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


# -- unseen publish -------------------------------------------------------------------------------


def _publish_register(args: argparse.Namespace, console: Console) -> int:
    asker = requester(args)
    text, plan = _plan_file(asker, args.file, "publish")
    console.print(escape(plan.explain()))
    console.print(escape(_approvals_line(asker, plan)))
    _write_program(text, args.out, console)
    return EXIT_OK


def _publish_approve(args: argparse.Namespace, console: Console) -> int:
    from offchain.client.publishing import approval_note, approve

    asker = requester(args)
    _, plan = _plan_file(asker, args.file, "publish")
    console.print(escape(plan.explain()))
    receipts = approve(asker.client, plan, args.note)
    console.print(f"approved on {plan.inputs[0].dataset.reference}" + ("" if receipts else " (already approved)")
                  + f": {escape(args.note or approval_note(plan))}")
    return EXIT_OK


def _run_arguments(plan: Any, items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` items as the program's argument kinds (integers and booleans parsed, the rest as text)."""
    declared = {field.name: field for field in plan.parameters["spec"].arguments}
    arguments: dict[str, Any] = {}
    for item in items:
        name, separator, value = item.partition("=")
        name = name.strip()
        if not separator or not name:
            raise InputError(f"--arg takes NAME=VALUE, got {item!r}")
        field = declared.get(name)
        if field is None:
            raise InputError(f"the program takes arguments {sorted(declared)}, not {name!r}")
        if field.type == "integer":
            try:
                arguments[name] = int(value)
            except ValueError:
                raise InputError(f"argument {name} is an integer, got {value!r}") from None
        elif field.type == "bool":
            if value.lower() not in ("true", "false"):
                raise InputError(f"argument {name} is true or false, got {value!r}")
            arguments[name] = value.lower() == "true"
        else:
            arguments[name] = value
    return arguments


def _publish_run(args: argparse.Namespace, console: Console) -> int:
    from offchain.client.publishing import check_approved, check_consent

    asker = requester(args)
    text, plan = _plan_file(asker, args.file, "publish")
    program = asker.plan(text)[0]
    private = {"subject_id": args.subject, "consent_reference": args.consent_reference,
               "arguments": _run_arguments(plan, args.arg)}
    run = program.run_request(plan, private)
    if not args.explain:
        check_consent(asker.client, plan.inputs[0].dataset.dataset_id, run.subject, run.purpose)
        check_approved(asker.client, plan, asker.address)
    outcome = run_job(console, asker, text, private, args)
    if outcome is None:
        return EXIT_OK
    listing = table(f"decision for subject {escape(args.subject)} (all you learn)", ["output", "value"])
    for name, value in outcome.result.values.items():
        listing.add_row(escape(name), escape(str(value)))
    console.print(listing)
    console.print(f"receipt {short(next(iter(outcome.transcripts.values())))} checked against the owner's "
                  "commitments on chain")
    return EXIT_OK


# -- unseen consent ---------------------------------------------------------------------------------


def _subject_key(args: argparse.Namespace, config: Any) -> Any:
    from offchain.publish.subjects import SubjectKey

    return SubjectKey.load_or_create(Path(args.subject_key) if args.subject_key else config.state_dir / "subject.key")


def _own(catalog: Any, reference: str, member_name: str) -> Any:
    return catalog.dataset(reference if "." in reference or reference.isdigit() else f"{member_name}.{reference}")


def _consent_record(args: argparse.Namespace, console: Console) -> int:
    from offchain.chain.client import ZERO_ADDRESS
    from offchain.client.grants import parse_duration
    from offchain.client.publishing import chain_now, record_consent
    from offchain.node.catalog import ChainCatalog

    config = node_config(args)
    client = requester(args).client
    dataset = _own(ChainCatalog(client), args.dataset, config.member_name)
    if dataset.owner != client.address:
        raise InputError(f"{dataset.reference} is not yours; the dataset's owner records consent")
    evidence = b""
    if args.evidence:
        try:
            evidence = Path(args.evidence).read_bytes()
        except FileNotFoundError:
            raise InputError(f"evidence file {args.evidence} does not exist") from None
    record = record_consent(client, dataset.dataset_id, _subject_key(args, config), args.subject, args.purpose,
                            chain_now(client) + parse_duration(args.expires), evidence,
                            args.subject_account or ZERO_ADDRESS)
    console.print(f"consent of {escape(args.subject)} to {escape(args.purpose)} on {dataset.reference} recorded "
                  f"(subject 0x{record.subject.hex()}, until {record.expiry}, block {record.receipt.block_number})")
    console.print(f"consent reference for the subject's receipt: [bold]{record.reference}[/]")
    return EXIT_OK


def _consent_revoke(args: argparse.Namespace, console: Console) -> int:
    from offchain.client.publishing import revoke_consent, revoke_consent_by_signature
    from offchain.node.catalog import ChainCatalog

    config = node_config(args)
    client = requester(args).client
    dataset = _own(ChainCatalog(client), args.dataset, config.member_name)
    if (args.subject is None) == (args.subject_hash is None):
        raise InputError("name the subject by --subject ID (owner) or by --subject-hash 0x…")
    if args.subject is not None:
        subject, _ = _subject_key(args, config).subject(dataset.dataset_id, args.purpose, args.subject)
    else:
        subject = _hex_bytes(args.subject_hash, 32, "--subject-hash")
    if args.signature:
        if args.deadline is None:
            raise InputError("--signature needs the --deadline it was signed with")
        receipt = revoke_consent_by_signature(client, dataset.dataset_id, subject, args.purpose, args.deadline,
                                              _hex_bytes(args.signature, 65, "--signature"))
    else:
        receipt = revoke_consent(client, dataset.dataset_id, subject, args.purpose)
    console.print(f"consent 0x{subject.hex()[:16]}… to {escape(args.purpose)} on {dataset.reference} revoked "
                  f"(block {receipt.block_number})")
    return EXIT_OK


def _hex_bytes(text: str, size: int, option: str) -> bytes:
    try:
        value = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        value = b""
    if len(value) != size:
        raise InputError(f"{option} must be {size} bytes of hex ({2 * size} digits), got {text!r}")
    return value
