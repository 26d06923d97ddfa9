"""The public parameters of a multi-lending check, checked against the catalog, and the layout they imply.

Program text parameters:

``requester``     the asking lender's member name; its own datasets may not be inputs
``datasets``      the other lenders' ``applications`` tables (``member.table``)
``as_of``         ``"YYYY-MM-DD"``: the last day of the window
``window_days``   N: applications with ``as_of - N < applied_on <= as_of`` count
``batch_size``    the most applicants one job answers (a public bound; the real
                  number stays private)
``seed``          32 hex digits: the hash functions of the batch layout
``id_column``     optional, default ``applicant_id`` (string or int64)
``date_column``   optional, default ``applied_on`` (date or timestamp)
``id_key``        optional consortium key of the applicant encoding
                  (:mod:`offchain.lending.encoding`)
``min_lenders``   optional, default 2: fewer inputs are refused, since a count over
                  one lender would say whether that lender holds the applicant

**Layout**, derived from public sizes only: *direct* compares every query
slot with every padded key of every lender (``batch_size * R_j``
comparisons, ``R_j`` the registered row count); *hashed* uses the cuckoo
layout of :mod:`offchain.lending.hashing` (``B * beta_j``). The plan takes
whichever needs fewer comparisons — direct for one or two applicants,
hashed beyond.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from offchain.data.schema import check_identifier
from offchain.errors import InputError
from offchain.lending.encoding import DEFAULT_ID_KEY, ID_TYPES, check_id_key
from offchain.lending.hashing import bin_count, check_seed, max_load
from offchain.programs.base import Catalog, DatasetInfo

PARAMETERS = frozenset(
    {
        "requester",
        "datasets",
        "as_of",
        "window_days",
        "batch_size",
        "seed",
        "id_column",
        "date_column",
        "id_key",
        "min_lenders",
    }
)
MAX_BATCH = 100_000
MAX_WINDOW_DAYS = 3660
MAX_DATASETS = 64
DEFAULT_MIN_LENDERS = 2
DATE_TYPES = ("date", "timestamp")


@dataclass(frozen=True)
class LendingSpec:
    """A checked multi-lending job and its public layout."""

    requester: str
    datasets: tuple[DatasetInfo, ...]
    as_of: dt.date
    window_days: int
    batch_size: int
    seed: str
    id_column: str
    id_type: str
    date_column: str
    id_key: str
    mode: str  # "direct" or "hashed"
    slots: int  # query slots: batch_size (direct) or the number of bins (hashed)
    loads: tuple[int, ...]  # per lender: padded keys (direct) or places per bin (hashed)

    @property
    def first_day(self) -> dt.date:
        """The earliest ``applied_on`` inside the window."""
        return self.as_of - dt.timedelta(days=self.window_days - 1)

    def padded_length(self, input_index: int) -> int:
        """The number of keys lender ``input_index`` shares (a public size)."""
        load = self.loads[input_index]
        return load if self.mode == "direct" else self.slots * load

    @property
    def comparisons(self) -> int:
        """Equality tests the compute nodes run (slots times every lender's load, in both layouts)."""
        return self.slots * sum(self.loads)


def _integer(
    parameters: Mapping[str, Any], name: str, low: int, high: int, default: int | None = None
) -> int:
    value = parameters.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def parse_spec(parameters: Mapping[str, Any], catalog: Catalog) -> LendingSpec:
    """Check the parameters of a ``multi_lending`` program text and derive its layout."""
    unknown = sorted(set(parameters) - PARAMETERS)
    if unknown:
        raise InputError(
            f"unknown multi_lending parameters {unknown}; known: {', '.join(sorted(PARAMETERS))}"
        )
    for required in ("requester", "datasets", "as_of", "window_days", "batch_size", "seed"):
        if required not in parameters:
            raise InputError(f"multi_lending parameter {required!r} is required")
    requester = parameters["requester"]
    if not isinstance(requester, str) or not requester:
        raise InputError(f"requester must be the asking member's name, got {requester!r}")
    references = parameters["datasets"]
    if (
        not isinstance(references, list)
        or not 1 <= len(references) <= MAX_DATASETS
        or any(not isinstance(r, str) for r in references)
        or len(set(references)) != len(references)
    ):
        raise InputError(
            f"datasets must be 1 to {MAX_DATASETS} distinct 'member.table' strings, got {references!r}"
        )
    datasets = tuple(catalog.dataset(r) for r in references)
    own = [d.reference for d in datasets if d.owner_name.lower() == requester.lower()]
    if own:
        raise InputError(
            f"datasets {own} belong to the requester {requester!r}; the check counts *other* lenders"
        )
    owners = [d.owner_name.lower() for d in datasets]
    if len(set(owners)) != len(owners):
        raise InputError(
            f"each lender may appear once (one applications table per lender), got {references}"
        )
    min_lenders = _integer(parameters, "min_lenders", 1, MAX_DATASETS, DEFAULT_MIN_LENDERS)
    if len(datasets) < min_lenders:
        raise InputError(
            f"{len(datasets)} lender(s) given but min_lenders is {min_lenders}: a count over fewer "
            "lenders tells the requester which of them hold the applicant"
        )
    inactive = [d.reference for d in datasets if not d.active]
    if inactive:
        raise InputError(f"datasets {inactive} are not active")
    try:
        as_of = dt.date.fromisoformat(parameters["as_of"])
    except (TypeError, ValueError):
        raise InputError(
            f"as_of must be a date 'YYYY-MM-DD', got {parameters['as_of']!r}"
        ) from None
    window_days = _integer(parameters, "window_days", 1, MAX_WINDOW_DAYS)
    batch_size = _integer(parameters, "batch_size", 1, MAX_BATCH)
    seed = check_seed(parameters["seed"])
    id_key = check_id_key(parameters.get("id_key", DEFAULT_ID_KEY))
    id_column = check_identifier(parameters.get("id_column", "applicant_id"))
    date_column = check_identifier(parameters.get("date_column", "applied_on"))
    id_type = _column_type(datasets, id_column, ID_TYPES)
    _column_type(datasets, date_column, DATE_TYPES, same=False)
    rows = [d.row_count for d in datasets]
    bins = bin_count(batch_size)
    loads_hashed = tuple(max_load(r, bins) for r in rows)
    direct_cost = batch_size * sum(max(r, 1) for r in rows)
    hashed_cost = bins * sum(loads_hashed)
    if direct_cost <= hashed_cost:
        mode, slots, loads = "direct", batch_size, tuple(max(r, 1) for r in rows)
    else:
        mode, slots, loads = "hashed", bins, loads_hashed
    return LendingSpec(
        requester=requester,
        datasets=datasets,
        as_of=as_of,
        window_days=window_days,
        batch_size=batch_size,
        seed=seed,
        id_column=id_column,
        id_type=id_type,
        date_column=date_column,
        id_key=id_key,
        mode=mode,
        slots=slots,
        loads=loads,
    )


def _column_type(
    datasets: tuple[DatasetInfo, ...], column: str, allowed: tuple[str, ...], same: bool = True
) -> str:
    types = set()
    for dataset in datasets:
        if column not in dataset.schema.names:
            raise InputError(
                f"dataset {dataset.reference} has no column {column!r} (its columns: {', '.join(dataset.schema.names)})"
            )
        column_type = dataset.schema.type_of(column)
        if column_type not in allowed:
            raise InputError(
                f"{dataset.reference}.{column} is {column_type}; it must be one of {', '.join(allowed)}"
            )
        types.add(column_type)
    if same and len(types) > 1:
        raise InputError(
            f"{column} has types {sorted(types)} across lenders; ids must be encoded the same way everywhere"
        )
    return types.pop()
