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


# -- a deployed consortium (for the on-chain tests) --------------------------------------------

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

from offchain.chain.anvil import development_key  # noqa: E402
from offchain.chain.client import ChainClient  # noqa: E402
from offchain.chain.config import ConsortiumConfig  # noqa: E402
from offchain.chain.deploy import run_deployment  # noqa: E402
from offchain.chain.deployment import Deployment  # noqa: E402
from offchain.chain.rpc import Rpc  # noqa: E402
from offchain.chain.signer import Signer  # noqa: E402

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "consortium.example.toml"
INSURER_ACCOUNT, HOSPITAL_ACCOUNT = 2, 3  # Eastern Mutual Insurance, St. Clare Hospital


@pytest.fixture(scope="session")
def deployment(anvil, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """The example consortium deployed once per session."""
    path = tmp_path_factory.mktemp("deployment") / "deployment.json"
    return run_deployment(ConsortiumConfig.load(EXAMPLE_CONFIG), anvil.rpc_url, path).deployment


@pytest.fixture
def rpc(anvil, deployment) -> Iterator[Rpc]:
    """An RPC connection; the chain returns to its state before the test afterwards."""
    connection = Rpc(anvil.rpc_url)
    snapshot = connection.request("evm_snapshot")
    yield connection
    connection.request("evm_revert", snapshot)


@pytest.fixture
def client_for(rpc: Rpc, deployment: Deployment) -> Callable[[int], ChainClient]:
    """A client signing with anvil account N (2 is the insurer, 3 the hospital, 9 the regulator)."""

    def make(index: int) -> ChainClient:
        return ChainClient(rpc, deployment, Signer(rpc, development_key(index)))

    return make
