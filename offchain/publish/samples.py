"""A hospital's records, patients' claims and an insurer's settlement rules (demo and tests).

The scenario of issue 7: an insurer settles claims automatically from a
hospital's records, which never leave the hospital. The hospital holds
``records`` — one row per visit (with its ICD-10 diagnosis) or
prescription (with its ATC drug code), each with its cost. The insurer's
rules, approved by the hospital, read one consenting patient's rows and
return only ``approved`` and ``amount``:

* the claim's treatment must have been diagnosed at a visit in the 90 days
  up to the claim date, else it is refused;
* the eligible cost is the cost of those visits plus the prescriptions for
  the treatment's drugs in the same window; the insurer pays 80 % of it,
  at most the amount claimed and at most 5,000.00.

:func:`claim_rules` gives the rules as a decision table (or as the
equivalent rule script), :func:`claim_program_text` the whole program
text, :func:`hospital_records` and :func:`claims` generate data, and
:func:`expected_settlement` computes the decision in plain Python from
the rows — an independent reference for tests and for the demo's
"what the hospital would have computed" column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from offchain.data.schema import Schema
from offchain.publish.program import publish_text

PURPOSE = "insurance-claim-settlement"
RECORDS_SCHEMA = Schema.of([
    ("patient_id", "string"),
    ("event_date", "date"),
    ("kind", "string"),
    ("code", "string"),
    ("amount", "float64"),  # money in currency units, two decimals (the chain records float64)
])
#: treatment -> (ICD-10 diagnosis prefix, ATC prefix of its drugs)
TREATMENTS: Mapping[str, tuple[str, str]] = {
    "asthma": ("J45", "R03"),
    "diabetes": ("E11", "A10"),
    "hypertension": ("I10", "C09"),
    "back_pain": ("M54", "M01"),
}
WINDOW_DAYS = 90
COVERAGE = Decimal("0.8")
CAP = Decimal("5000.00")
OUTPUTS = [
    {"name": "approved", "type": "bool"},
    {"name": "amount", "type": "decimal", "scale": 2, "min": "0", "max": "5000"},
]
ARGUMENTS = [
    {"name": "claim_date", "type": "date", "min": "2000-01-01", "max": "2099-12-31"},
    {"name": "claimed", "type": "decimal", "scale": 2, "min": "0", "max": "1000000"},
    {"name": "treatment", "type": "enum", "values": list(TREATMENTS)},
]
COLUMNS = ["event_date", "kind", "code", "amount"]


def _prefix_expression(position: int) -> str:
    """``"J45" if treatment == "asthma" else ...`` for the diagnosis (0) or drug (1) prefix."""
    expression = f'"{list(TREATMENTS.values())[-1][position]}"'
    for name, prefixes in reversed(list(TREATMENTS.items())[:-1]):
        expression = f'"{prefixes[position]}" if treatment == "{name}" else ({expression})'
    return expression


def claim_rules(form: str = "decision_table") -> dict:
    """Return the insurer's rules as a decision table or as the equivalent rule script."""
    in_window = f"claim_date - {WINDOW_DAYS} <= r.event_date <= claim_date"
    lets = [
        ("diagnosis", _prefix_expression(0)),
        ("drugs", _prefix_expression(1)),
        ("visit_cost", f'sum(r.amount for r in rows if r.kind == "visit" and '
                       f"startswith(r.code, diagnosis) and {in_window})"),
        ("diagnosed", f'any(r.kind == "visit" and startswith(r.code, diagnosis) and {in_window} '
                      "for r in rows)"),
        ("drug_cost", f'sum(r.amount for r in rows if r.kind == "prescription" and '
                      f"startswith(r.code, drugs) and {in_window})"),
        ("payable", f"round(min(claimed, (visit_cost + drug_cost) * {COVERAGE}, {CAP}), 2)"),
    ]
    if form == "decision_table":
        return {
            "format": "decision_table",
            "let": [{"name": name, "value": value} for name, value in lets],
            "rules": [
                {"when": "not diagnosed", "then": {"approved": False, "amount": "0"}},
                {"when": "payable > 0", "then": {"approved": True, "amount": "payable"}},
            ],
            "otherwise": {"approved": False, "amount": "0"},
        }
    if form == "script":
        body = "\n".join(f"{name} = {value}" for name, value in lets)
        source = (
            '"""Settle a claim from the patient\'s visits and prescriptions."""\n'
            f"{body}\n"
            "approved = diagnosed and payable > 0\n"
            "amount = payable if approved else 0\n"
        )
        return {"format": "script", "source": source}
    raise ValueError(f"form is decision_table or script, got {form!r}")


def claim_program_text(dataset: str, form: str = "decision_table",
                       limits: Mapping[str, int] | None = None) -> str:
    """Return the insurer's program text over ``dataset`` (``"Hospital name.records"``)."""
    return publish_text(
        "claim-settlement", dataset, "patient_id", COLUMNS, PURPOSE, OUTPUTS, claim_rules(form),
        arguments=ARGUMENTS, order_by=["event_date", "kind", "code", "amount"], limits=limits,
    )


def hospital_records(rng: np.random.Generator, patients: int = 200,
                     start: dt.date = dt.date(2025, 1, 1), days: int = 365,
                     events_per_patient: int = 12) -> dict[str, list]:
    """Generate a hospital's ``records`` columns: visits and prescriptions of ``patients`` patients."""
    codes_by_treatment = {
        "asthma": (["J45.0", "J45.1", "J45.9"], ["R03AC02", "R03BA02"]),
        "diabetes": (["E11.9", "E11.65"], ["A10BA02", "A10BB01"]),
        "hypertension": (["I10"], ["C09AA05", "C09CA01"]),
        "back_pain": (["M54.5", "M54.2"], ["M01AE01", "M01AB05"]),
    }
    other_visits = ["Z00.0", "R51", "S93.4"]
    other_drugs = ["J01CA04", "N02BE01"]
    columns: dict[str, list] = {name: [] for name in RECORDS_SCHEMA.names}
    treatments = list(codes_by_treatment)
    for number in range(patients):
        patient = f"P-{number + 1:05d}"
        conditions = rng.choice(treatments, size=int(rng.integers(0, 3)), replace=False)
        for _ in range(int(rng.integers(1, events_per_patient + 1))):
            when = start + dt.timedelta(days=int(rng.integers(0, days)))
            condition = str(conditions[rng.integers(0, len(conditions))]) if len(conditions) else None
            visit = rng.random() < 0.5
            if condition is not None and rng.random() < 0.8:
                diagnoses, drugs = codes_by_treatment[condition]
                code = str(rng.choice(diagnoses if visit else drugs))
            else:
                code = str(rng.choice(other_visits if visit else other_drugs))
            cents = int(rng.integers(2_000, 40_000)) if visit else int(rng.integers(300, 15_000))
            columns["patient_id"].append(patient)
            columns["event_date"].append(when.isoformat())
            columns["kind"].append("visit" if visit else "prescription")
            columns["code"].append(code)
            columns["amount"].append(cents / 100)
    return columns


@dataclass(frozen=True)
class Claim:
    """A patient's claim as the insurer files it."""

    patient_id: str
    claim_date: dt.date
    claimed: Decimal
    treatment: str

    def arguments(self) -> dict:
        return {"claim_date": self.claim_date, "claimed": self.claimed, "treatment": self.treatment}


def claims(rng: np.random.Generator, records: Mapping[str, Sequence], count: int,
           start: dt.date = dt.date(2025, 3, 1), days: int = 300) -> list[Claim]:
    """Generate ``count`` claims by patients who appear in ``records``."""
    patients = sorted(set(records["patient_id"]))
    chosen = rng.choice(patients, size=count, replace=count > len(patients))
    return [
        Claim(
            patient_id=str(patient),
            claim_date=start + dt.timedelta(days=int(rng.integers(0, days))),
            claimed=Decimal(int(rng.integers(5_000, 800_000))).scaleb(-2),
            treatment=str(rng.choice(list(TREATMENTS))),
        )
        for patient in chosen
    ]


def expected_settlement(records: Mapping[str, Sequence], claim: Claim) -> dict:
    """The decision the rules must reach, computed in plain Python (independent reference)."""
    diagnosis, drugs = TREATMENTS[claim.treatment]
    low = claim.claim_date - dt.timedelta(days=WINDOW_DAYS)
    visit_cost = drug_cost = Decimal(0)
    diagnosed = False
    for patient, when, kind, code, amount in zip(*(records[n] for n in RECORDS_SCHEMA.names),
                                                 strict=True):
        if patient != claim.patient_id:
            continue
        when = dt.date.fromisoformat(when) if isinstance(when, str) else when
        if not low <= when <= claim.claim_date:
            continue
        if kind == "visit" and code.startswith(diagnosis):
            diagnosed = True
            visit_cost += Decimal(amount)
        elif kind == "prescription" and code.startswith(drugs):
            drug_cost += Decimal(amount)
    payable = min(claim.claimed, (visit_cost + drug_cost) * COVERAGE, CAP)
    payable = payable.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    approved = diagnosed and payable > 0
    return {"approved": approved, "amount": payable if approved else Decimal("0.00")}
