"""Governing one's datasets: column levels and grants, as ``unseen grant`` sets them.

Levels are written by their SCQL names or short forms::

    plaintext   join   group_by   aggregate   compare   encrypted
    (PLAINTEXT, PLAINTEXT_AFTER_JOIN, ..., ENCRYPTED_ONLY)

A grantee is a member name, an address, or ``all`` (every member: the
fallback used when a member has no grant or level of its own).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eth_utils import is_address, to_checksum_address

from offchain.chain.client import ZERO_ADDRESS, ChainClient
from offchain.chain.render import render_kinds
from offchain.errors import InputError
from offchain.node.catalog import ChainCatalog
from offchain.vocabulary import ConstraintLevel, JobKind

_LEVEL_ALIASES = {
    "plaintext": ConstraintLevel.PLAINTEXT,
    "join": ConstraintLevel.PLAINTEXT_AFTER_JOIN,
    "group_by": ConstraintLevel.PLAINTEXT_AFTER_GROUP_BY,
    "groupby": ConstraintLevel.PLAINTEXT_AFTER_GROUP_BY,
    "aggregate": ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE,
    "compare": ConstraintLevel.PLAINTEXT_AFTER_COMPARE,
    "encrypted": ConstraintLevel.ENCRYPTED_ONLY,
}
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_level(text: str) -> ConstraintLevel:
    """Return the level named ``text`` (SCQL name or short form, any case)."""
    key = text.strip().lower().replace("-", "_")
    if key in _LEVEL_ALIASES:
        return _LEVEL_ALIASES[key]
    try:
        return ConstraintLevel[key.upper()]
    except KeyError:
        raise InputError(
            f"unknown level {text!r}; use one of {', '.join(_LEVEL_ALIASES)} or the full SCQL names"
        ) from None


def parse_column_levels(items: Iterable[str]) -> dict[str, ConstraintLevel]:
    """Parse ``column=level`` items (also comma-separated within one item)."""
    levels: dict[str, ConstraintLevel] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            column, separator, level = part.partition("=")
            if not separator or not column.strip():
                raise InputError(f"column levels are column=level (e.g. amount=aggregate), got {part!r}")
            levels[column.strip().lower()] = parse_level(level)
    return levels


def parse_kinds(text: str) -> tuple[JobKind, ...]:
    """Parse ``statistics,query`` (or ``all``) into job kinds."""
    if text.strip().lower() == "all":
        return tuple(JobKind)
    kinds = []
    for part in filter(None, (p.strip().lower() for p in text.split(","))):
        try:
            kinds.append(JobKind[part.upper()])
        except KeyError:
            raise InputError(
                f"unknown job kind {part!r}; use {', '.join(k.name.lower() for k in JobKind)} or all"
            ) from None
    return tuple(kinds)


def parse_duration(text: str) -> int:
    """Parse ``90s``, ``30m``, ``12h``, ``30d``, ``2w`` into seconds."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise InputError(f"a duration is a number and a unit s, m, h, d or w (e.g. 30d), got {text!r}")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def grantee_address(catalog: ChainCatalog, grantee: str) -> str:
    """``all`` → the all-members address; a name or address → the member's address."""
    if grantee.strip().lower() in ("all", "everyone", "all-members"):
        return ZERO_ADDRESS
    if is_address(grantee):
        return to_checksum_address(grantee)
    return catalog.member_address(grantee)


@dataclass(frozen=True)
class GrantChange:
    """What ``set_policy`` sent."""

    dataset: str
    grantee: str
    levels: dict[str, ConstraintLevel]
    expiry: int | None
    max_uses: int | None
    kinds: tuple[JobKind, ...] | None
    transaction_hashes: tuple[str, ...]

    def describe(self) -> str:
        parts = [f"{self.dataset} → {self.grantee}"]
        if self.levels:
            parts.append("levels " + ", ".join(f"{c}={lvl.name}" for c, lvl in self.levels.items()))
        if self.kinds is not None:
            parts.append(f"grant for {render_kinds(JobKind.mask(*self.kinds))}, "
                         f"{self.max_uses or 'unlimited'} uses, expiring at {self.expiry}")
        return "; ".join(parts)


def set_policy(client: ChainClient, dataset: str, grantee: str, *,
               levels: Mapping[str, ConstraintLevel] | None = None, expiry: int | None = None,
               max_uses: int = 0, kinds: tuple[JobKind, ...] | None = None) -> GrantChange:
    """Set column levels and/or a grant on one of the caller's datasets, in one batch."""
    catalog = ChainCatalog(client)
    info = catalog.dataset(dataset)
    if info.owner != client.address:
        raise InputError(f"{info.reference} belongs to {info.owner_name}; only its owner sets its policy")
    address = grantee_address(catalog, grantee)
    transactions = []
    levels = dict(levels or {})
    if levels:
        columns = [info.schema.index(column) for column in levels]
        transactions.append(client.access_policy.set_column_levels(info.dataset_id, address, columns,
                                                                   list(levels.values())))
    if kinds is not None:
        if expiry is None:
            raise InputError("a grant needs an expiry (--expires 30d)")
        transactions.append(client.access_policy.set_grant(info.dataset_id, address, expiry, max_uses, kinds))
    if not transactions:
        raise InputError("nothing to set: give --level column=level and/or --kinds with --expires")
    receipts = client.transact_all(transactions)
    name = "all members" if address == ZERO_ADDRESS else catalog.member_name(address)
    return GrantChange(info.reference, name, levels, expiry, max_uses if kinds is not None else None, kinds,
                       tuple(r.transaction_hash for r in receipts))


def revoke_grant(client: ChainClient, dataset: str, grantee: str) -> str:
    """Revoke the grant of ``grantee`` on one of the caller's datasets; return the tx hash."""
    catalog = ChainCatalog(client)
    info = catalog.dataset(dataset)
    return client.access_policy.revoke_grant(info.dataset_id, grantee_address(catalog, grantee)).transact().transaction_hash
