"""DataCatalog: registration and schema checks, versions, prices, (de)activation, freezing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.helpers import ZERO_ADDRESS, h, schema_hash
from tests.contracts.scenario import (
    CLAIMS_COLUMNS,
    CLAIMS_PRICE_PER_JOB,
    CLAIMS_PRICE_PER_ROW,
    CLAIMS_ROWS,
    CLAIMS_TYPES,
    World,
)

NAMES = ["account_id", "opened", "balance"]
TYPES = ["int64", "date", "float64"]


def _register(world: World, sender: str, name: str = "accounts", names=NAMES, types=TYPES,
              schema: bytes | None = None, rows: int = 10, fingerprint: bytes | None = None):
    call = world.d.catalog.functions.register(
        name, names, types, schema if schema is not None else schema_hash(names, types), rows,
        fingerprint if fingerprint is not None else h(f"{name}-v1"), 5, 1)
    return call


# -- registration ----------------------------------------------------------------------------


def test_register_storesRecordAndPublishesSchema(world: World) -> None:
    d = world.d
    receipt = d.send(_register(world, world.bank), world.bank)
    dataset_id = d.catalog.functions.datasetCount().call()
    assert dataset_id == 3
    d.expect_events(receipt, [("DatasetRegistered", {
        "datasetId": 3, "owner": world.bank, "name": "accounts", "columnNames": NAMES, "columnTypes": TYPES,
        "schemaHash": schema_hash(NAMES, TYPES), "rowCount": 10, "fingerprint": h("accounts-v1"),
        "pricePerJob": 5, "pricePerRow": 1})])
    record = d.catalog.functions.dataset(3).call()
    assert (record.owner, record.name, record.schemaHash, record.columnCount, record.version, record.rowCount,
            record.fingerprint, record.pricePerJob, record.pricePerRow, record.active, record.frozen) == (
        world.bank, "accounts", schema_hash(NAMES, TYPES), 3, 1, 10, h("accounts-v1"), 5, 1, True, False)
    assert record.registeredAt == record.updatedAt > 0
    assert d.catalog.functions.datasetsOf(world.bank).call() == [3]
    assert d.catalog.functions.datasetIdByName(world.bank, "accounts").call() == 3
    assert d.catalog.functions.columnIndex(3, "balance").call() == 2
    assert d.catalog.functions.columnCount(3).call() == 3
    assert d.catalog.functions.ownerOf(3).call() == world.bank
    assert d.catalog.functions.schemaHashOf(NAMES, TYPES).call() == schema_hash(NAMES, TYPES)


def test_register_sameNameAllowedForDifferentOwners(world: World) -> None:
    d = world.d
    d.send(_register(world, world.bank, name="claims"), world.bank)
    assert d.catalog.functions.datasetIdByName(world.bank, "claims").call() == 3
    assert d.catalog.functions.datasetIdByName(world.insurer, "claims").call() == world.claims


def test_register_revertsWhen_callerNotActiveMember(world: World) -> None:
    world.d.expect_revert(_register(world, world.outsider), world.outsider,
                          "DataCatalogNotActiveMember", world.outsider)


def test_register_revertsWhen_nameEmpty(world: World) -> None:
    world.d.expect_revert(_register(world, world.bank, name=""), world.bank, "DataCatalogEmptyName")


def test_register_revertsWhen_nameTakenByOwner(world: World) -> None:
    world.d.expect_revert(_register(world, world.insurer, name="claims"), world.insurer,
                          "DataCatalogNameTaken", world.insurer, "claims", world.claims)


def test_register_revertsWhen_schemaEmpty(world: World) -> None:
    world.d.expect_revert(_register(world, world.bank, names=[], types=[]), world.bank, "DataCatalogEmptySchema")


def test_register_revertsWhen_schemaArraysDifferInLength(world: World) -> None:
    world.d.expect_revert(_register(world, world.bank, names=NAMES, types=TYPES[:2]), world.bank,
                          "DataCatalogSchemaLengthMismatch", 3, 2)


def test_register_revertsWhen_tooManyColumns(world: World) -> None:
    names = [f"c{i}" for i in range(1025)]
    world.d.expect_revert(_register(world, world.bank, names=names, types=["int64"] * 1025), world.bank,
                          "DataCatalogTooManyColumns", 1025, 1024)


def test_register_revertsWhen_columnNameEmpty(world: World) -> None:
    world.d.expect_revert(_register(world, world.bank, names=["a", ""], types=["int64", "bool"]), world.bank,
                          "DataCatalogEmptyColumnName", 1)


def test_register_revertsWhen_columnNameRepeated(world: World) -> None:
    world.d.expect_revert(_register(world, world.bank, names=["a", "b", "a"], types=["int64"] * 3), world.bank,
                          "DataCatalogDuplicateColumnName", 2, "a")


def test_register_revertsWhen_columnTypeUnknown(world: World) -> None:
    world.d.expect_revert(_register(world, world.bank, names=["a", "b"], types=["int64", "varchar"]), world.bank,
                          "DataCatalogUnknownColumnType", 1, "varchar")


@pytest.mark.parametrize("column_type", ["decimal(12)", "decimal(19,2)", "decimal(5,6)", "decimal(0,0)",
                                         "decimal( 12,2)", "decimal(12,2", "decimal(012,2)",
                                         "decimal(12,02)", "decimal(123,2)", "decimal(,2)",
                                         "decimal(12,)", "Decimal(12,2)"])
def test_register_revertsWhen_decimalTypeMalformed(world: World, column_type: str) -> None:
    world.d.expect_revert(_register(world, world.bank, names=["a", "b"], types=["int64", column_type]),
                          world.bank, "DataCatalogUnknownColumnType", 1, column_type)


def test_register_acceptsEveryDocumentedColumnType(world: World) -> None:
    types = ["bool", "int32", "int64", "float32", "float64", "string", "date", "timestamp",
             "decimal(1,0)", "decimal(12,2)", "decimal(18,18)", "decimal(9,0)"]
    names = [f"c_{t}" for t in types]
    world.d.send(_register(world, world.bank, names=names, types=types), world.bank)


def test_register_revertsWhen_schemaHashWrong(world: World) -> None:
    wrong = schema_hash(NAMES, ["int64", "date", "float32"])
    world.d.expect_revert(_register(world, world.bank, schema=wrong), world.bank,
                          "DataCatalogSchemaHashMismatch", wrong, schema_hash(NAMES, TYPES))


def test_register_revertsWhen_fingerprintZero(world: World) -> None:
    world.d.expect_revert(_register(world, world.bank, fingerprint=b"\0" * 32), world.bank,
                          "DataCatalogZeroFingerprint")


def test_register_revertsWhen_rowCountZero(world: World) -> None:
    world.d.expect_revert(_register(world, world.bank, rows=0), world.bank, "DataCatalogZeroRowCount")


# -- owner changes ---------------------------------------------------------------------------


def test_publishVersion_replacesFingerprintAndRowsKeepsSchema(world: World) -> None:
    d = world.d
    receipt = d.send(d.catalog.functions.publishVersion(world.claims, h("claims-v2"), 1_200), world.insurer)
    d.expect_events(receipt, [("DatasetVersionPublished", {
        "datasetId": world.claims, "version": 2, "fingerprint": h("claims-v2"), "rowCount": 1_200})])
    record = d.catalog.functions.dataset(world.claims).call()
    assert (record.version, record.fingerprint, record.rowCount) == (2, h("claims-v2"), 1_200)
    assert record.schemaHash == schema_hash(CLAIMS_COLUMNS, CLAIMS_TYPES)


def test_publishVersion_revertsWhen_callerNotOwner(world: World) -> None:
    world.d.expect_revert(world.d.catalog.functions.publishVersion(world.claims, h("x"), 1), world.bank,
                          "DataCatalogNotOwner", world.claims, world.bank, world.insurer)


def test_publishVersion_revertsWhen_ownerSuspended(world: World) -> None:
    d = world.d
    d.send(d.consortium.functions.suspend(world.insurer, "audit"), world.regulator)
    d.expect_revert(d.catalog.functions.publishVersion(world.claims, h("x"), 1), world.insurer,
                    "DataCatalogNotActiveMember", world.insurer)


def test_publishVersion_revertsWhen_datasetUnknown(world: World) -> None:
    world.d.expect_revert(world.d.catalog.functions.publishVersion(77, h("x"), 1), world.insurer,
                          "DataCatalogUnknownDataset", 77)


def test_publishVersion_revertsWhen_rowCountZero(world: World) -> None:
    world.d.expect_revert(world.d.catalog.functions.publishVersion(world.claims, h("x"), 0), world.insurer,
                          "DataCatalogZeroRowCount")


def test_setPrices_changesPricesForLaterJobs(world: World) -> None:
    d = world.d
    receipt = d.send(d.catalog.functions.setPrices(world.claims, 7, 3), world.insurer)
    d.expect_events(receipt, [("DatasetPricesSet", {"datasetId": world.claims, "pricePerJob": 7, "pricePerRow": 3})])
    terms = d.catalog.functions.terms(world.claims).call()
    assert (terms.pricePerJob, terms.pricePerRow) == (7, 3)


def test_deactivateAndReactivate_toggleActiveFlag(world: World) -> None:
    d = world.d
    d.expect_events(d.send(d.catalog.functions.deactivate(world.claims), world.insurer),
                    [("DatasetDeactivated", {"datasetId": world.claims})])
    assert not d.catalog.functions.dataset(world.claims).call().active
    d.expect_revert(d.catalog.functions.deactivate(world.claims), world.insurer,
                    "DataCatalogAlreadyInactive", world.claims)
    d.expect_events(d.send(d.catalog.functions.reactivate(world.claims), world.insurer),
                    [("DatasetReactivated", {"datasetId": world.claims})])
    d.expect_revert(d.catalog.functions.reactivate(world.claims), world.insurer,
                    "DataCatalogAlreadyActive", world.claims)


# -- regulator -------------------------------------------------------------------------------


def test_freezeAndUnfreeze_byRegulator(world: World) -> None:
    d = world.d
    d.expect_events(d.send(d.catalog.functions.freeze(world.visits, "complaint 42"), world.regulator),
                    [("DatasetFrozen", {"datasetId": world.visits, "regulator": world.regulator,
                                        "reason": "complaint 42"})])
    assert d.catalog.functions.terms(world.visits).call().frozen
    d.expect_revert(d.catalog.functions.freeze(world.visits, "again"), world.regulator,
                    "DataCatalogAlreadyFrozen", world.visits)
    d.expect_events(d.send(d.catalog.functions.unfreeze(world.visits), world.regulator),
                    [("DatasetUnfrozen", {"datasetId": world.visits, "regulator": world.regulator})])
    d.expect_revert(d.catalog.functions.unfreeze(world.visits), world.regulator,
                    "DataCatalogNotFrozen", world.visits)


def test_freeze_revertsWhen_callerNotRegulator(world: World) -> None:
    world.d.expect_revert(world.d.catalog.functions.freeze(world.visits, "x"), world.hospital,
                          "DataCatalogNotRegulator", world.hospital)


def test_freeze_revertsWhen_datasetUnknown(world: World) -> None:
    world.d.expect_revert(world.d.catalog.functions.freeze(99, "x"), world.regulator,
                          "DataCatalogUnknownDataset", 99)


# -- views ---------------------------------------------------------------------------------


def test_columnIndex_revertsWhen_nameUnknown(world: World) -> None:
    world.d.expect_call_revert(world.d.catalog.functions.columnIndex(world.claims, "ssn"),
                               "DataCatalogUnknownColumn", world.claims, "ssn")


def test_views_revertOrReturnZeroForUnknownDataset(world: World) -> None:
    d = world.d
    d.expect_call_revert(d.catalog.functions.dataset(0), "DataCatalogUnknownDataset", 0)
    d.expect_call_revert(d.catalog.functions.terms(99), "DataCatalogUnknownDataset", 99)
    d.expect_call_revert(d.catalog.functions.columnCount(99), "DataCatalogUnknownDataset", 99)
    assert d.catalog.functions.ownerOf(99).call() == ZERO_ADDRESS
    assert tuple(d.catalog.functions.termsOf(99).call()) == (ZERO_ADDRESS, 0, 0, False, False, 0, 0, 0)


def test_termsOf_matchesTerms(world: World) -> None:
    d = world.d
    expected = (world.insurer, len(CLAIMS_COLUMNS), 1, True, False, CLAIMS_ROWS, CLAIMS_PRICE_PER_JOB,
                CLAIMS_PRICE_PER_ROW)
    assert tuple(d.catalog.functions.termsOf(world.claims).call()) == expected
    assert tuple(d.catalog.functions.terms(world.claims).call()) == expected


_column_names = st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=_column_names, data=st.data())
def test_schemaHash_pythonEncodingMatchesContract(world: World, names: list[str], data) -> None:
    """The canonical encoding the SDK computes is the one the contract checks (unicode included)."""
    types = data.draw(st.lists(st.sampled_from(["bool", "int64", "float64", "string", "date"]),
                               min_size=len(names), max_size=len(names)))
    assert world.d.catalog.functions.schemaHashOf(names, types).call() == schema_hash(names, types)
