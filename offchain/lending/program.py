"""The ``multi_lending`` job program: on how many other lenders did an applicant apply in the last N days?

A lender (the requester) asks about one applicant or a batch; the other
lenders' ``applications(applicant_id, applied_on, amount)`` tables are the
inputs. The requester learns, per applicant, only the number of those
lenders with at least one application in the window; no one learns the
applicants, and no one learns which lenders hold them. Exactly who learns
what is written in ``docs/MULTI_LENDING.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from offchain.data.store import LocalStore
from offchain.errors import InputError
from offchain.lending.encoding import DEFAULT_ID_KEY, applicant_key
from offchain.lending.hashing import bin_count, choose_seed, new_seed
from offchain.lending.local import (
    digest_of,
    lender_array,
    requester_arrays,
    requester_keys,
    slots_of,
)
from offchain.lending.secure import count_lenders
from offchain.lending.spec import LendingSpec, parse_spec
from offchain.mpc.runtime import Runtime
from offchain.mpc.shares import ArithmeticShare, BooleanShare, Share
from offchain.programs.base import (
    Catalog,
    ColumnUse,
    Disclosure,
    InputPlan,
    Inputs,
    OutputSpec,
    Plan,
    SharedArray,
    Step,
    canonical_program_text,
    program_parameters,
)
from offchain.vocabulary import ConstraintLevel, JobKind

PROGRAM_NAME = "multi_lending"
VERSION = 1


def multi_lending_text(
    requester: str,
    datasets: Sequence[str],
    *,
    as_of: dt.date | str,
    window_days: int,
    batch_size: int,
    applicants: Sequence[object] | None = None,
    id_type: str = "string",
    id_column: str | None = None,
    date_column: str | None = None,
    id_key: str | None = None,
    min_lenders: int | None = None,
) -> str:
    """Return the canonical program text of a multi-lending check.

    With ``applicants`` (kept private: only used here to test the seed), the
    seed is drawn until the applicants cuckoo-insert, so the job cannot
    fail on the requester's side; ``id_type`` must then be the id column's
    type (``string`` or ``int64``).
    """
    seed = new_seed()
    if applicants is not None and batch_size > 2:
        keys = np.unique(
            np.array(
                [applicant_key(a, id_key or DEFAULT_ID_KEY, id_type) for a in applicants],
                dtype=np.uint64,
            )
        )
        if keys.size > batch_size:
            raise InputError(f"{keys.size} distinct applicants exceed batch_size {batch_size}")
        seed, _ = choose_seed(keys, bin_count(batch_size))
    parameters: dict[str, Any] = {
        "requester": requester,
        "datasets": list(datasets),
        "as_of": as_of.isoformat() if isinstance(as_of, dt.date) else as_of,
        "window_days": window_days,
        "batch_size": batch_size,
        "seed": seed,
    }
    optional = {
        "id_column": id_column,
        "date_column": date_column,
        "id_key": id_key,
        "min_lenders": min_lenders,
    }
    parameters.update({k: v for k, v in optional.items() if v is not None})
    return canonical_program_text(PROGRAM_NAME, VERSION, parameters)


@dataclass(frozen=True)
class MultiLendingResult:
    """Per query slot, the number of other lenders holding the applicant placed there.

    Read it with :meth:`counts_for` and the same applicant list the job was
    asked with (the slots are recomputed from it; a different list is
    refused, since its slots would differ).
    """

    spec: LendingSpec
    slot_counts: tuple[int, ...]
    request_digest: int

    def counts_for(self, applicants: Sequence[object]) -> dict[object, int]:
        """Return ``{applicant: number of other lenders}`` for the applicants asked about."""
        keys = requester_keys(self.spec, applicants)
        if digest_of(keys) != self.request_digest:
            raise InputError(
                "these applicants are not the ones this job was asked about; pass the same list "
                "that went to requester_inputs"
            )
        slot_of_key = dict(zip(keys.tolist(), slots_of(self.spec, keys).tolist(), strict=True))
        return {
            applicant: self.slot_counts[
                slot_of_key[applicant_key(applicant, self.spec.id_key, self.spec.id_type)]
            ]
            for applicant in applicants
        }

    def count_for(self, applicant: object) -> int:
        """Return the count of the single applicant of a one-applicant job."""
        return self.counts_for([applicant])[applicant]


class MultiLendingProgram:
    """The multi-lending check as a job program (see :mod:`offchain.programs.base`)."""

    name: ClassVar[str] = PROGRAM_NAME
    kind: ClassVar[JobKind] = JobKind.QUERY

    def plan(self, text: str, catalog: Catalog) -> Plan:
        parameters = program_parameters(text, PROGRAM_NAME, VERSION)
        spec = parse_spec(parameters, catalog)
        window = (
            f"{spec.date_column} between {spec.first_day.isoformat()} and {spec.as_of.isoformat()}"
        )
        inputs = tuple(
            InputPlan(
                dataset=dataset,
                columns=(spec.id_column, spec.date_column),
                local_step=(
                    f"SELECT DISTINCT applicant key of {spec.id_column} FROM {dataset.name} WHERE {window}; "
                    + (
                        f"pad to {spec.loads[index]} keys"
                        if spec.mode == "direct"
                        else f"hash into {spec.slots} bins of {spec.loads[index]} keys"
                    )
                ),
                shared=(SharedArray("keys", "boolean", spec.padded_length(index)),),
            )
            for index, dataset in enumerate(spec.datasets)
        )
        uses = tuple(
            ColumnUse(
                index,
                column,
                ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
                reason,
            )
            for index in range(len(spec.datasets))
            for column, reason in (
                (
                    spec.id_column,
                    "compared for equality with the requester's secret applicants; only per-applicant counts of lenders are revealed",
                ),
                (
                    spec.date_column,
                    f"compared with the window ({window}) at the owner; decides which applications count",
                ),
            )
        )
        return Plan(
            program=PROGRAM_NAME,
            kind=JobKind.QUERY,
            text=text,
            inputs=inputs,
            uses=uses,
            outputs=(
                OutputSpec(
                    "counts",
                    "integer",
                    "per query slot, the number of lenders holding its applicant",
                ),
                OutputSpec(
                    "request_digest",
                    "integer",
                    "the requester's digest of its applicant set, returned unchanged",
                ),
            ),
            requester_shared=(
                SharedArray("queries", "boolean", spec.slots),
                SharedArray("request_digest", "integer", 1),
            ),
            steps=_steps(spec),
            disclosures=_disclosures(spec),
            parameters={"spec": spec},
        )

    def owner_inputs(
        self, plan: Plan, input_index: int, store: LocalStore
    ) -> dict[str, np.ndarray]:
        return {"keys": lender_array(_spec(plan), input_index, store)}

    def requester_inputs(self, plan: Plan, private: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if set(private) != {"applicants"}:
            raise InputError(
                f"multi_lending takes one private parameter, 'applicants'; got {sorted(private)}"
            )
        return requester_arrays(_spec(plan), private["applicants"])

    def compute(self, runtime: Runtime, plan: Plan, inputs: Inputs) -> dict[str, Share]:
        spec = _spec(plan)
        queries = inputs[("requester", "queries")]
        digest = inputs[("requester", "request_digest")]
        lenders = [inputs[(f"input{i}", "keys")] for i in range(len(spec.datasets))]
        for share in (queries, *lenders):
            if not isinstance(share, BooleanShare):
                raise InputError(
                    "multi_lending keys and queries must be shared as boolean (XOR) shares"
                )
        if type(digest) is not ArithmeticShare:
            raise InputError("the request digest must be shared as an integer")
        return {"counts": count_lenders(spec, queries, lenders), "request_digest": digest}

    def decode(self, plan: Plan, outputs: Mapping[str, np.ndarray]) -> MultiLendingResult:
        spec = _spec(plan)
        counts = tuple(int(c) for c in outputs["counts"])
        if len(counts) != spec.slots or any(not 0 <= c <= len(spec.datasets) for c in counts):
            raise InputError("the revealed counts do not fit the plan; the outputs are corrupt")
        return MultiLendingResult(spec, counts, int(outputs["request_digest"][0]))


def _spec(plan: Plan) -> LendingSpec:
    spec = plan.parameters.get("spec")
    if not isinstance(spec, LendingSpec):
        raise InputError("this plan was not made by the multi_lending planner")
    return spec


def _steps(spec: LendingSpec) -> tuple[Step, ...]:
    layout = (
        "pad its distinct keys to its registered row count"
        if spec.mode == "direct"
        else f"put each key in its 3 candidate bins of {spec.slots}, pad every bin to the public maximum load"
    )
    return (
        Step(
            f"each of the {len(spec.datasets)} lenders, locally in DuckDB",
            f"select distinct applicant ids with {spec.date_column} in the {spec.window_days} days up to "
            f"{spec.as_of.isoformat()}, map them to 62-bit applicant keys, {layout}; XOR-share the keys",
        ),
        Step(
            "requester",
            f"map up to {spec.batch_size} applicant ids to keys, place them in {spec.slots} slots"
            + (" by cuckoo hashing" if spec.mode == "hashed" else "")
            + ", dummies elsewhere; share the slots",
        ),
        Step(
            "MPC on 3 compute nodes",
            f"{spec.comparisons} equality tests of slots with keys ({spec.mode} layout); per lender and slot "
            "the OR of the matches; sum over lenders",
        ),
        Step("requester", "reconstruct the per-slot counts and read those of its applicants"),
    )


def _disclosures(spec: LendingSpec) -> tuple[Disclosure, ...]:
    return (
        Disclosure(
            "requester",
            f"for each applicant it asked about, the number of the {len(spec.datasets)} listed lenders with an "
            f"application in the window; nothing about which lenders, nor about other applicants",
        ),
        Disclosure(
            "each lender",
            "nothing: it learns neither the applicants asked about nor their number (only the public batch bound), "
            "and receives no output",
        ),
        Disclosure(
            "compute nodes",
            f"only public sizes: {spec.slots} query slots and every lender's padded length (from registered "
            "row counts); every key is a share",
        ),
        Disclosure(
            "chain",
            "the program text: requester, lenders, window, as-of date, batch bound and hashing seed",
        ),
    )
