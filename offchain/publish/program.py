"""The ``publish`` job program: compute moved to the data, for one consenting data subject.

Roles (see :class:`~offchain.programs.base.OwnerEvaluatedProgram`):

* **requester** — :meth:`PublishProgram.plan` checks the text;
  :meth:`~PublishProgram.run_request` turns the subject's id and consent
  reference and the run's arguments into private canonical parameter bytes
  (with a fresh 32-byte nonce) and the ``subject``, ``purpose`` and
  ``params_hash`` of the PUBLISH job request;
* **owner's node** (the job's only compute node) —
  :meth:`~PublishProgram.evaluate_at_owner` checks that the delivered
  parameters give exactly the job's subject, purpose and parameter hash,
  validates the arguments, selects the subject's rows in DuckDB, evaluates
  the rules in the sandbox, validates the outputs against their schema,
  and returns them with the input commitment and the receipt it posts on
  chain;
* **requester** — :meth:`~PublishProgram.decode` gives the typed values;
  :func:`verify_receipt` checks the receipt against the outputs received.

Hashes (keccak256; ``nonce`` is the run's secret nonce, so each of them
hides what it binds, even a guessable decision or a patient's few rows)::

    params_hash      = H("unseen/publish-run/v1" ‖ parameter bytes)
    input_commitment = H("unseen/publish-input/v1" ‖ nonce ‖ params_hash ‖ schema digest
                          ‖ row count ‖ canonical rows)
    output_hash      = H("unseen/publish-output/v1" ‖ nonce ‖ for each output: name ‖ int64)
    receipt          = H("unseen/publish-receipt/v1" ‖ program hash ‖ params_hash
                          ‖ input_commitment ‖ output_hash)
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
from eth_utils import keccak

from offchain.data.encoding import encode_rows
from offchain.data.schema import Schema, decimal_scale
from offchain.data.store import LocalStore, projection
from offchain.errors import InputError, PolicyViolation, RuleFailed
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import Share
from offchain.programs.base import (
    Catalog,
    ColumnUse,
    Disclosure,
    InputPlan,
    Inputs,
    OutputSpec,
    OwnerEvaluation,
    Plan,
    RunRequest,
    Step,
    canonical_program_text,
    program_hash,
    program_parameters,
)
from offchain.publish.sandbox import run_sandboxed
from offchain.publish.schema import (
    EPOCH,
    Field,
    check_arguments,
    check_outputs,
    decode_outputs,
    encode_outputs,
)
from offchain.publish.spec import PublishSpec, parse_spec
from offchain.publish.subjects import (
    SALT_BYTES,
    normalize_subject_id,
    parse_consent_reference,
    subject_hash,
)
from offchain.publish.values import decode as decode_value
from offchain.publish.values import encode as encode_value
from offchain.vocabulary import ConstraintLevel, JobKind

PROGRAM_NAME = "publish"
VERSION = 1
RUN_VERSION = 1
NONCE_BYTES = 32
_RUN_DOMAIN = b"unseen/publish-run/v1"
_INPUT_DOMAIN = b"unseen/publish-input/v1"
_OUTPUT_DOMAIN = b"unseen/publish-output/v1"
_RECEIPT_DOMAIN = b"unseen/publish-receipt/v1"


def publish_text(
    name: str,
    dataset: str,
    subject_column: str,
    columns: Sequence[str],
    purpose: str,
    outputs: Sequence[Mapping[str, Any]],
    rules: Mapping[str, Any],
    *,
    arguments: Sequence[Mapping[str, Any]] = (),
    order_by: Sequence[str] | None = None,
    limits: Mapping[str, int] | None = None,
) -> str:
    """Return the canonical program text of a published program (what the owner approves)."""
    parameters: dict[str, Any] = {
        "name": name,
        "dataset": dataset,
        "subject_column": subject_column,
        "columns": list(columns),
        "purpose": purpose,
        "arguments": [dict(a) for a in arguments],
        "outputs": [dict(o) for o in outputs],
        "rules": dict(rules),
    }
    if order_by is not None:
        parameters["order_by"] = list(order_by)
    if limits is not None:
        parameters["limits"] = dict(limits)
    return canonical_program_text(PROGRAM_NAME, VERSION, parameters)


@dataclass(frozen=True)
class PublishResult:
    """What the recipient learns from one run: the declared outputs, typed."""

    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


class PublishProgram:
    """Secure publishing as a job program evaluated at the owner (see the module docstring)."""

    name: ClassVar[str] = PROGRAM_NAME
    kind: ClassVar[JobKind] = JobKind.PUBLISH

    # -- planning --------------------------------------------------------------------------

    def plan(self, text: str, catalog: Catalog) -> Plan:
        parameters = program_parameters(text, PROGRAM_NAME, VERSION)
        spec = parse_spec(parameters, catalog)
        dataset = spec.dataset
        read = (spec.subject_column, *(c for c in spec.columns if c != spec.subject_column))
        uses = [ColumnUse(0, spec.subject_column, ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
                          "compared with the consenting subject's id to select their rows")]
        uses += [
            ColumnUse(0, column, ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE,
                      f"read by the approved rules over the subject's rows; only the declared "
                      f"outputs ({', '.join(f.name for f in spec.outputs)}) leave the owner")
            for column in spec.columns if column != spec.subject_column
        ]
        return Plan(
            program=PROGRAM_NAME,
            kind=JobKind.PUBLISH,
            text=text,
            inputs=(InputPlan(dataset=dataset, columns=read, local_step=_select_description(spec),
                              shared=()),),
            uses=tuple(uses),
            outputs=tuple(OutputSpec(f.name, "integer", f.describe()) for f in spec.outputs),
            steps=_steps(spec),
            disclosures=_disclosures(spec),
            parameters={"spec": spec},
            evaluated_at_owner=True,
        )

    # -- the MPC roles do not apply ----------------------------------------------------------

    def owner_inputs(self, plan: Plan, input_index: int, store: LocalStore) -> dict[str, np.ndarray]:
        raise InputError("publish plans share nothing: the owner evaluates them (evaluate_at_owner)")

    def requester_inputs(self, plan: Plan, private: Mapping[str, Any]) -> dict[str, np.ndarray]:
        raise InputError("publish plans share nothing: the requester sends run_request() to the owner")

    def compute(self, runtime: Runtime, plan: Plan, inputs: Inputs) -> dict[str, Share]:
        raise InputError("publish plans run no MPC: the owner evaluates them (evaluate_at_owner)")

    # -- requester ---------------------------------------------------------------------------

    def run_request(self, plan: Plan, private: Mapping[str, Any]) -> RunRequest:
        """Build one run from ``private``.

        ``private`` holds ``subject_id`` (the subject's id at the owner),
        ``consent_reference`` (from the subject's consent receipt; or
        ``salt``: the 32 salt bytes) and ``arguments`` (a mapping: dates as
        ``date`` or ``YYYY-MM-DD``, decimals as ``Decimal``, integers or text).
        """
        spec = _spec(plan)
        unknown = sorted(set(private) - {"subject_id", "consent_reference", "salt", "arguments"})
        if unknown:
            raise InputError(
                f"unknown run parameters {unknown}; give subject_id, consent_reference (or salt) "
                "and arguments"
            )
        if "subject_id" not in private:
            raise InputError("a publish run needs the data subject's id (subject_id)")
        if ("consent_reference" in private) == ("salt" in private):
            raise InputError("give exactly one of consent_reference (from the consent receipt) or salt")
        salt = (parse_consent_reference(private["consent_reference"])
                if "consent_reference" in private else private["salt"])
        if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
            raise InputError(f"salt must be {SALT_BYTES} bytes")
        subject_id = normalize_subject_id(private["subject_id"])
        _check_subject_value(spec, subject_id)
        given = private.get("arguments", {})
        if not isinstance(given, Mapping):
            raise InputError("arguments must be a mapping of argument name to value")
        values = {name: _coerce(field, given[name]) if name in given else None
                  for name, field in ((f.name, f) for f in spec.arguments)}
        missing = [name for name in values if name not in given]
        extra = sorted(set(given) - set(values))
        if missing or extra:
            raise InputError(
                f"the program takes arguments {[f.name for f in spec.arguments]}; missing "
                f"{missing}, unknown {extra}"
            )
        checked = check_arguments(spec.arguments, values)
        document = {
            "version": RUN_VERSION,
            "subject": {"id": subject_id, "salt": salt.hex()},
            "arguments": {name: encode_value(value) for name, value in checked.items()},
            "nonce": os.urandom(NONCE_BYTES).hex(),
        }
        parameters = _canonical(document)
        return RunRequest(
            parameters=parameters,
            subject=subject_hash(subject_id, salt),
            purpose=spec.purpose_hash,
            params_hash=parameters_hash(parameters),
        )

    def decode(self, plan: Plan, outputs: Mapping[str, np.ndarray]) -> PublishResult:
        return PublishResult(decode_outputs(_spec(plan).outputs, outputs))

    # -- owner's node --------------------------------------------------------------------------

    def evaluate_at_owner(self, plan: Plan, store: LocalStore, run: RunRequest) -> OwnerEvaluation:
        spec = _spec(plan)
        subject_id, salt, arguments, nonce = _open_parameters(spec, run)
        rows, columns = _subject_rows(spec, store, subject_id)
        input_commitment = _input_commitment(spec, nonce, run.params_hash, columns)
        tagged_rows = _tagged_rows(spec, columns)
        try:
            result = run_sandboxed(
                spec.source,
                [f.name for f in spec.arguments],
                [f.name for f in spec.outputs],
                spec.columns,
                {name: encode_value(value) for name, value in arguments.items()},
                tagged_rows,
                spec.limits,
            )
        except RuleFailed as error:
            raise (spec.table.locate(error) if spec.table is not None else error) from None
        try:
            produced = {name: decode_value(value) for name, value in result.outputs.items()}
        except InputError as exc:
            raise RuleFailed(f"the program produced an unreadable output: {exc}") from None
        checked = check_outputs(spec.outputs, produced)
        arrays = encode_outputs(spec.outputs, checked)
        output_digest = output_hash(spec.outputs, arrays, nonce)
        receipt = receipt_hash(program_hash(plan.text), run.params_hash, input_commitment,
                               output_digest)
        return OwnerEvaluation(
            outputs=arrays,
            input_commitment=input_commitment,
            rows_used=rows,
            receipt=receipt,
            usage={"rows": float(rows), "steps": float(result.steps), "seconds": result.seconds},
        )


# ---------------------------------------------------------------------------------------------
# hashes


def parameters_hash(parameters: bytes) -> bytes:
    """Return the ``params_hash`` of the job request for these parameter bytes."""
    return keccak(_RUN_DOMAIN + parameters)


def output_hash(fields: Sequence[Field], arrays: Mapping[str, np.ndarray], nonce: bytes) -> bytes:
    """Return the hiding hash of the outputs of a run."""
    parts = [_OUTPUT_DOMAIN, nonce]
    for field in fields:
        name = field.name.encode("ascii")
        value = int(np.asarray(arrays[field.name]).reshape(-1)[0])
        parts.append(len(name).to_bytes(1, "big") + name + value.to_bytes(8, "big", signed=True))
    return keccak(b"".join(parts))


def receipt_hash(program: bytes, params_hash: bytes, input_commitment: bytes,
                 output_digest: bytes) -> bytes:
    """Return the receipt the owner's node posts as the transcript hash of ``commitResult``."""
    return keccak(_RECEIPT_DOMAIN + program + params_hash + input_commitment + output_digest)


def verify_receipt(plan: Plan, run: RunRequest, outputs: Mapping[str, np.ndarray],
                   input_commitment: bytes, receipt: bytes) -> bool:
    """At the requester: whether the on-chain receipt binds this program, run and outputs.

    ``input_commitment`` and ``receipt`` are read from the job's
    ``InputCommitted`` and ``ResultCommitted`` events.
    """
    spec = _spec(plan)
    document = _parse_parameters(run.parameters)
    nonce = bytes.fromhex(document["nonce"])
    digest = output_hash(spec.outputs, outputs, nonce)
    expected = receipt_hash(program_hash(plan.text), parameters_hash(run.parameters),
                            input_commitment, digest)
    return expected == receipt


# ---------------------------------------------------------------------------------------------
# helpers


def _spec(plan: Plan) -> PublishSpec:
    spec = plan.parameters.get("spec")
    if not isinstance(spec, PublishSpec):
        raise InputError("this plan was not made by the publish planner")
    return spec


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _parse_parameters(parameters: bytes) -> dict[str, Any]:
    try:
        document = json.loads(parameters.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PolicyViolation(f"the run parameters are not JSON: {exc}") from None
    if (not isinstance(document, dict) or set(document) != {"version", "subject", "arguments", "nonce"}
            or document["version"] != RUN_VERSION or _canonical(document) != parameters):
        raise PolicyViolation("the run parameters are not a canonical version-1 publish run")
    subject, nonce = document["subject"], document["nonce"]
    if (not isinstance(subject, dict) or set(subject) != {"id", "salt"}
            or not isinstance(subject["id"], str) or not isinstance(subject["salt"], str)
            or not isinstance(nonce, str) or len(nonce) != 2 * NONCE_BYTES
            or not isinstance(document["arguments"], dict)):
        raise PolicyViolation("the run parameters are malformed (subject, salt, nonce or arguments)")
    return document


def _open_parameters(spec: PublishSpec, run: RunRequest
                     ) -> tuple[str, bytes, dict[str, Any], bytes]:
    """Check the delivered parameters against the job's hashes; return subject, salt, arguments, nonce."""
    if parameters_hash(run.parameters) != run.params_hash:
        raise PolicyViolation(
            "the run parameters delivered do not hash to the job's params hash "
            f"0x{run.params_hash.hex()}; refusing to evaluate"
        )
    document = _parse_parameters(run.parameters)
    if run.purpose != spec.purpose_hash:
        raise PolicyViolation(
            f"the job's purpose 0x{run.purpose.hex()} is not the program's purpose {spec.purpose!r}"
        )
    try:
        salt = bytes.fromhex(document["subject"]["salt"])
        nonce = bytes.fromhex(document["nonce"])
    except ValueError:
        raise PolicyViolation("salt and nonce must be hexadecimal") from None
    subject_id = normalize_subject_id(document["subject"]["id"])
    if len(salt) != SALT_BYTES or subject_hash(subject_id, salt) != run.subject:
        raise PolicyViolation(
            "the subject id and salt delivered do not give the job's subject hash "
            f"0x{run.subject.hex()}; the consent on chain does not cover them"
        )
    _check_subject_value(spec, subject_id)
    try:
        values = {name: decode_value(value) for name, value in document["arguments"].items()}
    except InputError as exc:
        raise InputError(f"run argument: {exc}") from None
    arguments = check_arguments(spec.arguments, values)
    return subject_id, salt, arguments, nonce


def _check_subject_value(spec: PublishSpec, subject_id: str) -> None:
    if spec.dataset.schema.type_of(spec.subject_column) == "int64":
        try:
            int(subject_id)
        except ValueError:
            raise InputError(
                f"{spec.subject_column} holds integers; subject id {subject_id!r} is not one"
            ) from None


def _coerce(field: Field, value: Any) -> Any:
    """Turn a requester's Python value into the kind its field declares (exactly)."""
    if field.type == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise InputError(f"argument {field.name}: {value!r} is not a date (YYYY-MM-DD)") from None
    if field.type == "decimal":
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InputError(f"argument {field.name} must be finite")
            return Decimal(repr(value))
        if isinstance(value, str):
            try:
                return Decimal(value)
            except ArithmeticError:
                raise InputError(f"argument {field.name}: {value!r} is not a number") from None
    return value


def _select_sql(spec: PublishSpec, limit: int) -> str:
    read = (spec.subject_column, *spec.columns)
    types = {name: spec.dataset.schema.type_of(name) for name in read}
    selected = ", ".join(projection(name, types[name]) for name in dict.fromkeys(read))
    order = ", ".join(f'"{name}"' for name in spec.order_by)
    return (f'SELECT {selected} FROM "{spec.dataset.name}" WHERE "{spec.subject_column}" = ? '
            f"ORDER BY {order} LIMIT {limit}")


def _select_description(spec: PublishSpec) -> str:
    return (f"SELECT {', '.join(spec.columns)} FROM {spec.dataset.name} WHERE "
            f"{spec.subject_column} = <the consenting subject> ORDER BY {', '.join(spec.order_by)} "
            f"(at most {spec.max_rows} rows)")


def _subject_rows(spec: PublishSpec, store: LocalStore, subject_id: str
                  ) -> tuple[int, dict[str, np.ndarray]]:
    key: Any = subject_id
    if spec.dataset.schema.type_of(spec.subject_column) == "int64":
        key = int(subject_id)
    columns = store.query(_select_sql(spec, spec.max_rows + 1), [key])
    count = len(next(iter(columns.values()))) if columns else 0
    if count > spec.max_rows:
        raise InputError(
            f"the subject has more than {spec.max_rows} rows in {spec.dataset.reference}; the "
            "program's max_rows limit refuses to evaluate"
        )
    return count, columns


def _input_commitment(spec: PublishSpec, nonce: bytes, params_hash: bytes,
                      columns: Mapping[str, np.ndarray]) -> bytes:
    read = list(dict.fromkeys((spec.subject_column, *spec.columns)))
    schema = Schema.of([(name, spec.dataset.schema.type_of(name)) for name in read])
    count = len(columns[read[0]])
    parts = [_INPUT_DOMAIN, nonce, params_hash, schema.digest(), count.to_bytes(8, "big")]
    parts.extend(encode_rows(schema, {name: columns[name] for name in read}))
    return keccak(b"".join(parts))


def _tagged_rows(spec: PublishSpec, columns: Mapping[str, np.ndarray]) -> list[list[dict]]:
    converted = [
        _tagged_column(spec.dataset.schema.type_of(name), columns[name]) for name in spec.columns
    ]
    return [list(row) for row in zip(*converted, strict=True)] if converted else []


def _tagged_column(column_type: str, values: np.ndarray) -> list[dict]:
    """Turn one projected column (see ``data.store.projection``) into tagged values."""
    mask = np.ma.getmaskarray(values) if isinstance(values, np.ma.MaskedArray) else None
    data = np.ma.getdata(values) if mask is not None else np.asarray(values)
    scale = decimal_scale(column_type)
    tagged = []
    for index, value in enumerate(data.tolist()):
        if value is None or (mask is not None and mask[index]):
            tagged.append({"n": None})
        elif scale is not None:
            tagged.append(encode_value(Decimal(int(value)).scaleb(-scale)))
        elif column_type == "int64":
            tagged.append(encode_value(int(value)))
        elif column_type == "float64":
            number = float(value)
            tagged.append(encode_value(Decimal(repr(number))) if math.isfinite(number)
                          else {"n": None})
        elif column_type == "date":
            tagged.append(encode_value(EPOCH + dt.timedelta(days=int(value))))
        elif column_type == "timestamp":
            moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(value))
            tagged.append(encode_value(moment))
        elif column_type == "bool":
            tagged.append(encode_value(bool(value)))
        else:
            tagged.append(encode_value(str(value)))
    return tagged


def _steps(spec: PublishSpec) -> tuple[Step, ...]:
    owner = spec.dataset.owner_name
    return (
        Step("requester", "send the subject's id and consent salt, the arguments and a nonce "
                          "privately to the owner's node; put their hashes in the job request"),
        Step(f"owner {owner}, locally", "check the parameters against the job's subject, purpose "
                                        f"and parameter hash; {_select_description(spec)}"),
        Step(f"owner {owner}, sandbox process",
             f"evaluate the {spec.rules_format.replace('_', ' ')} (at most {spec.limits.steps} "
             f"steps, {spec.limits.cpu_seconds} s CPU, {spec.limits.wall_seconds:g} s wall, "
             f"{spec.limits.memory_bytes // 2**20} MiB); refuse outputs outside the schema"),
        Step(f"owner {owner}, on chain", "commit the hiding hash of the rows used and a receipt "
                                         "binding program, parameters, rows and outputs"),
        Step("requester", "receive the outputs, check them against the receipt"),
    )


def _disclosures(spec: PublishSpec) -> tuple[Disclosure, ...]:
    outputs = "; ".join(field.describe() for field in spec.outputs)
    return (
        Disclosure("requester", f"the declared outputs only ({outputs}): at most "
                                f"{spec.capacity_bits:.1f} bits per run"),
        Disclosure(f"owner {spec.dataset.owner_name}",
                   "the subject's identity and the run's arguments (it already holds the rows)"),
        Disclosure("chain", "the program text, a salted subject hash, the purpose, hiding hashes "
                            "of the parameters, rows used and outputs; never the subject's identity"),
    )
