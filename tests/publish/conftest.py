"""A hospital with generated records, its catalog entry, and the owner's subject key."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from offchain.data.store import LocalStore
from offchain.programs.base import DatasetInfo
from offchain.programs.catalog import StaticCatalog
from offchain.publish.samples import PURPOSE, RECORDS_SCHEMA, hospital_records
from offchain.publish.subjects import SubjectKey

HOSPITAL = "0x" + "11" * 20
INSURER = "0x" + "22" * 20


@dataclass
class Hospital:
    store: LocalStore
    records: dict
    dataset: DatasetInfo
    key: SubjectKey

    @property
    def catalog(self) -> StaticCatalog:
        return StaticCatalog([self.dataset])

    def consent(self, patient: str) -> tuple[bytes, bytes]:
        """(subject hash, salt) of a patient's consent to claim settlement."""
        return self.key.subject(self.dataset.dataset_id, PURPOSE, patient)


@pytest.fixture(scope="module")
def hospital() -> Hospital:
    records = hospital_records(np.random.default_rng(7), patients=120)
    store = LocalStore()
    store.create_table("records", RECORDS_SCHEMA, records)
    dataset = DatasetInfo(1, HOSPITAL, "stmary", "records", RECORDS_SCHEMA,
                          len(records["patient_id"]), b"\0" * 32)
    return Hospital(store, records, dataset, SubjectKey.generate())
