"""``unseen model train`` and ``unseen model predict``: logistic regression on joint data.

::

    unseen model train --input "Aurora Bank.customers; key=customer_id; features=income,debt; label=defaulted" \\
                       --input "Orbit Market.behaviour; key=customer_id; features=orders,returns" \\
                       --epochs 5 --batch-size 64 --card model.json
    unseen program approve --model model.json --dataset applicants --config owner.toml   # each owner
    unseen model predict --model model.json --input "Aurora Bank.applicants; key=customer_id" \\
                         --input "Orbit Market.behaviour; key=customer_id" --out scores.csv

Training writes the model's public **card** (descriptor and share digests;
its hash is what owners approve and what predict jobs name) to ``--card``.
The model itself stays secret-shared at the training job's three compute
nodes, unless ``--reveal-model`` (and every owner's levels) let the
requester see it. Only the requester gets the validation metrics and the
scores. A whole training text can also be given as a program file
(``--program train.toml``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from offchain.cli import EXIT_OK
from offchain.commands.common import add_job_options, member_options, requester, run_job, table
from offchain.errors import InputError

#: Training options with a flag of the same name (``--batch-size`` sets ``batch_size``).
_TRAINING_OPTIONS = ("epochs", "batch_size", "learning_rate", "l2_penalty", "sigmoid", "validation_fraction",
                     "seed", "feature_limit")
_INPUT_FIELDS = ("key", "features", "label", "scales")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``unseen model``."""
    parser = subparsers.add_parser("model", help="secure models: train logistic regression, score new rows")
    commands = parser.add_subparsers(dest="model_command", metavar="SUBCOMMAND")
    commands.required = True

    train = commands.add_parser(
        "train", parents=[member_options()], help="train a logistic regression on members' data",
        description="Each --input is 'MEMBER.TABLE; key=COLUMN; features=A,B; label=COLUMN; scales=A:0.001'. "
        "Column split (default when inputs have keys): 2-3 owners, rows aligned by a private join on the "
        "key, exactly one input holds the label. Row split (--partition rows): the same features and label "
        "at every owner, rows stacked. The model stays shared at the compute nodes; the card (public) is "
        "written to --card.",
    )
    train.add_argument("--input", action="append", default=[], metavar="SPEC", help="one owner's columns; repeatable")
    train.add_argument("--program", metavar="FILE", help="a whole logreg_train program file instead of --input")
    train.add_argument("--partition", choices=("columns", "rows"), help="default: columns if inputs have keys")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--l2-penalty", type=float)
    train.add_argument("--sigmoid", help="segments5 (default), segments3/7/9, taylor1, logistic")
    train.add_argument("--validation-fraction", type=float, help="rows held out for AUC, accuracy, log-loss")
    train.add_argument("--feature-limit", type=float, help="bound on |value × scale| (at most 8192)")
    train.add_argument("--seed", type=int, help="public seed of the split and the batch order")
    train.add_argument("--no-standardize", action="store_true", help="train on the raw (scaled) features")
    train.add_argument("--reveal-model", action="store_true",
                       help="open the weights to you (needs every feature at aggregate level for you)")
    train.add_argument("--card", metavar="PATH", help="where to write the model card (default model-<hash>.json)")
    add_job_options(train)
    train.set_defaults(handler=_train)

    predict = commands.add_parser(
        "predict", parents=[member_options()], help="score rows with a trained model; only you get the scores",
        description="Each --input is 'MEMBER.TABLE; key=COLUMN'. For a column-split model, one input per "
        "training input, in the same order, providing the same columns; the rows scored are the keys all "
        "inputs share, in ascending key order. Every input's owner must have approved the model "
        "(`unseen program approve --model CARD`). The job runs at the training job's nodes, which keep "
        "the model's shares.",
    )
    predict.add_argument("--model", required=True, metavar="CARD", help="model card written by `unseen model train`")
    predict.add_argument("--input", action="append", required=True, metavar="SPEC", help="repeatable")
    predict.add_argument("--out", metavar="PATH", help="write every score as CSV (row, logit, probability)")
    add_job_options(predict)
    predict.set_defaults(handler=_predict)


def parse_input(text: str, allowed: tuple[str, ...] = _INPUT_FIELDS) -> dict[str, Any]:
    """``"Bank.loans; key=id; features=a,b; label=y; scales=a:0.1"`` → a model-input object."""
    parts = [part.strip() for part in text.split(";")]
    if not parts[0] or "=" in parts[0]:
        raise InputError(f"an input starts with its dataset (MEMBER.TABLE), got {text!r}")
    spec: dict[str, Any] = {"dataset": parts[0]}
    for part in filter(None, parts[1:]):
        name, separator, value = (piece.strip() for piece in part.partition("="))
        if not separator or name not in allowed:
            raise InputError(f"input {parts[0]!r}: {part!r} is not one of {', '.join(f'{a}=…' for a in allowed)}")
        if name == "features":
            spec["features"] = [column.strip() for column in value.split(",") if column.strip()]
        elif name == "scales":
            scales = {}
            for item in filter(None, (piece.strip() for piece in value.split(","))):
                column, colon, factor = item.partition(":")
                try:
                    scales[column.strip()] = float(factor)
                except ValueError:
                    raise InputError(f"input {parts[0]!r}: scales are COLUMN:FACTOR, got {item!r}") from None
                if not colon:
                    raise InputError(f"input {parts[0]!r}: scales are COLUMN:FACTOR, got {item!r}")
            spec["scales"] = scales
        else:
            spec[name] = value
    return spec


def _training_text(args: argparse.Namespace) -> str:
    from offchain.commands.programs import load_program_text
    from offchain.ml.spec import train_text

    options = {option: getattr(args, option) for option in _TRAINING_OPTIONS if getattr(args, option) is not None}
    if args.no_standardize:
        options["standardize"] = False
    if args.reveal_model:
        options["reveal_model"] = True
    if args.program:
        if args.input or args.partition:
            raise InputError("give the training either as --program FILE or as --input specs, not both")
        from offchain.programs.base import canonical_program_text, parse_program_text

        name, version, parameters = parse_program_text(load_program_text(args.program))
        if name != "logreg_train":
            raise InputError(f"{args.program} holds a {name!r} program, not logreg_train")
        return canonical_program_text(name, version, {**parameters, **options})
    if not args.input:
        raise InputError("name the training data: --input 'MEMBER.TABLE; key=…; features=…; label=…' (repeatable)")
    inputs = [parse_input(text) for text in args.input]
    partition = args.partition or ("columns" if all("key" in spec for spec in inputs) else "rows")
    return train_text(partition, inputs, **options)


def _train(args: argparse.Namespace, console: Console) -> int:
    asker = requester(args)
    text = _training_text(args)
    outcome = run_job(console, asker, text, None, args)
    if outcome is None:
        return EXIT_OK
    result = outcome.result
    card_path = Path(args.card or f"model-{result.model_hash[:16]}.json")
    card_path.write_text(json.dumps(result.card.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    console.print(f"model 0x{result.model_hash} trained; card written to {escape(str(card_path))}")
    if result.metrics:
        metrics = table("validation (secure, revealed to you only)", ["metric", "value"])
        for name, value in result.metrics.items():
            metrics.add_row(name, "undefined (one class only)" if math.isnan(value) else f"{value:.4f}")
        console.print(metrics)
    if result.model is not None:
        weights = table("model (revealed)", ["feature", "weight"])
        for feature, weight in zip(result.model.feature_names, result.model.weights, strict=True):
            weights.add_row(escape(feature), f"{weight:+.5f}")
        weights.add_row("(bias)", f"{result.model.bias:+.5f}")
        console.print(weights)
    else:
        console.print("the model stays secret-shared at the 3 compute nodes of this job")
    console.print("next: each owner of the rows to score approves it: unseen program approve --model "
                  f"{escape(str(card_path))} --dataset TABLE")
    return EXIT_OK


def _predict(args: argparse.Namespace, console: Console) -> int:
    from offchain.ml.model import ModelCard
    from offchain.ml.spec import predict_text

    try:
        card = ModelCard.from_json(json.loads(Path(args.model).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"model card {args.model} does not exist") from None
    except json.JSONDecodeError as error:
        raise InputError(f"model card {args.model} is not JSON: {error}") from None
    inputs = [parse_input(text, allowed=("key",)) for text in args.input]
    asker = requester(args)
    outcome = run_job(console, asker, predict_text(card, inputs), None, args)
    if outcome is None:
        return EXIT_OK
    scores = outcome.result
    count = len(scores.logits)
    console.print(f"{count:,} rows scored with model 0x{scores.model_hash[:16]}…"
                  + (f"; mean probability {float(scores.probabilities.mean()):.4f}" if count else ""))
    listing = table("first scores (rows in ascending key order)", ["row", "logit", "probability"])
    for row in range(min(count, 10)):
        listing.add_row(str(row), f"{scores.logits[row]:+.4f}", f"{scores.probabilities[row]:.4f}")
    console.print(listing)
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row", "logit", "probability"])
            writer.writerows((row, f"{logit:.6f}", f"{probability:.6f}")
                             for row, (logit, probability) in enumerate(zip(scores.logits, scores.probabilities,
                                                                             strict=True)))
        console.print(f"{count:,} scores written to {escape(args.out)}")
    return EXIT_OK
