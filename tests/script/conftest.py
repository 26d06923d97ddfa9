"""Members with customer tables for script tests; helpers to plan and run a script."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from offchain.data.schema import Schema
from offchain.data.store import LocalStore
from offchain.programs.base import DatasetInfo
from offchain.programs.catalog import StaticCatalog
from offchain.programs.local import run_program_locally
from offchain.script.program import ScriptProgram, script_text
from offchain.vocabulary import ConstraintLevel

SCHEMA = Schema.of([
    ("customer_id", "string"),
    ("income", "float64"),
    ("debt", "decimal(12,2)"),
    ("late", "int64"),
    ("active", "bool"),
])
ROWS = 60


@dataclass
class Bank:
    """One member's table: the columns in the clear, keyed by customer, and its store."""

    name: str
    store: LocalStore
    dataset: DatasetInfo
    columns: dict[str, np.ndarray]  # in customer order (C00000, C00001, ...)
    order: np.ndarray  # stored row i holds customer order[i]

    def stored(self, name: str) -> np.ndarray:
        """A column in the order the table stores its rows."""
        return self.columns[name][self.order]


@dataclass
class Members:
    banks: list[Bank]
    levels: dict = None

    def catalog(self, levels: Mapping | None = None) -> StaticCatalog:
        return StaticCatalog([b.dataset for b in self.banks], levels or self.levels or {})

    def plan(self, source: str, inputs: Mapping[str, Mapping[str, Any]],
             outputs: Sequence[tuple[str, str]], **options: Any):
        text = script_text(source, inputs, [{"name": n, "type": t} for n, t in outputs], **options)
        return ScriptProgram().plan(text, self.catalog())

    def run(self, source: str, inputs: Mapping[str, Mapping[str, Any]],
            outputs: Sequence[tuple[str, str]], values: Mapping[str, Any] | None = None,
            **options: Any):
        """Plan and run; ``values`` are the requester's private values, ``options`` go to the text."""
        plan = self.plan(source, inputs, outputs, **options)
        by_id = {b.dataset.dataset_id: b.store for b in self.banks}
        stores = [by_id[item.dataset.dataset_id] for item in plan.inputs]
        result, run = run_program_locally(ScriptProgram(), plan, stores, values or {})
        return result, run, plan


def make_members(rng: np.random.Generator, count: int = 3, rows: int = ROWS,
                 shuffle: bool = True, nulls: bool = False, renamed: int | None = None) -> Members:
    """``renamed``: that member's first customer has another id (its keys no longer align)."""
    base = np.array([f"C{i:05d}" for i in range(rows)], dtype=object)
    banks = []
    for index in range(count):
        ids = base.copy()
        if renamed == index:
            ids[0] = "X99999"
        columns = {
            "customer_id": ids,
            "income": np.round(rng.uniform(500, 9_000, rows), 3),
            "debt": np.round(rng.uniform(0, 20_000, rows), 2),
            "late": rng.integers(0, 6, rows),
            "active": rng.integers(0, 2, rows).astype(bool),
        }
        order = rng.permutation(rows) if shuffle else np.arange(rows)
        stored = {name: list(values[order]) for name, values in columns.items()}
        stored["debt"] = [str(v) for v in np.asarray(stored["debt"])]
        if nulls:
            stored["income"][3] = None
        store = LocalStore()
        store.create_table("customers", SCHEMA, stored)
        dataset = DatasetInfo(index + 1, f"0x{index + 1:040x}", f"bank{index}", "customers",
                              SCHEMA, rows, b"\0" * 32)
        banks.append(Bank(f"bank{index}", store, dataset, columns, order))
    return Members(banks)


@pytest.fixture(scope="module")
def members() -> Members:
    return make_members(np.random.default_rng(2024))


def column(bank: int, name: str, **bounds: Any) -> dict[str, Any]:
    return {"dataset": f"bank{bank}.customers", "column": name, **bounds}


ALIGN = {f"bank{i}.customers": "customer_id" for i in range(3)}
AGGREGATE = ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE
