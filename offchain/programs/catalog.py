"""An in-memory :class:`~offchain.programs.base.Catalog`, for planning without a chain.

Used by tests, by the local runner and by ``--explain`` on data described in
a file. The chain layer provides the catalog nodes and the SDK use in
production; both answer the same questions the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from offchain.errors import InputError
from offchain.programs.base import DatasetInfo
from offchain.vocabulary import ConstraintLevel

ALL_MEMBERS = "0x0000000000000000000000000000000000000000"


class StaticCatalog:
    """Datasets and column levels held in memory.

    ``levels`` maps ``(dataset_id, column, grantee)`` to a level, where
    grantee ``ALL_MEMBERS`` is the entry for every member; as on chain, a
    grantee-specific entry wins, then the all-members entry, then
    ``ENCRYPTED_ONLY``; the owner of a dataset always has ``PLAINTEXT``.
    """

    def __init__(
        self,
        datasets: Iterable[DatasetInfo],
        levels: Mapping[tuple[int, str, str], ConstraintLevel] | None = None,
    ) -> None:
        self._by_id = {d.dataset_id: d for d in datasets}
        self._by_reference = {d.reference: d for d in self._by_id.values()}
        self._levels = {(i, c.lower(), g.lower()): lvl for (i, c, g), lvl in (levels or {}).items()}

    def dataset(self, reference: str | int) -> DatasetInfo:
        if isinstance(reference, int) or (isinstance(reference, str) and reference.isdigit()):
            found = self._by_id.get(int(reference))
        else:
            found = self._by_reference.get(reference.lower())
        if found is None:
            known = ", ".join(sorted(self._by_reference)) or "none"
            raise InputError(f"unknown dataset {reference!r}; registered datasets: {known}")
        return found

    def level(self, dataset_id: int, column: str, grantee: str) -> ConstraintLevel:
        dataset = self.dataset(dataset_id)
        dataset.schema.index(column)
        if grantee.lower() == dataset.owner.lower():
            return ConstraintLevel.PLAINTEXT
        for who in (grantee.lower(), ALL_MEMBERS):
            found = self._levels.get((dataset_id, column.lower(), who))
            if found is not None:
                return found
        return ConstraintLevel.ENCRYPTED_ONLY
