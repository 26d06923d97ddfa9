"""Compiled contract artifacts: ``build/contracts/<Name>.json`` (abi, bytecode).

``make setup`` (``python -m offchain.chain.build``) writes them; this module
only reads them. The directory is ``build/contracts`` under the project root,
or ``$UNSEEN_ARTIFACTS`` when set (for an installed package run outside the
source tree).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from offchain.errors import ArtifactNotFound

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: The deployable contracts of Unseen, in deployment order.
CONTRACT_NAMES: tuple[str, ...] = ("Consortium", "DataCatalog", "AccessPolicy", "Jobs", "Billing")


def artifacts_directory() -> Path:
    """Return the directory holding the compiled artifacts."""
    configured = os.environ.get("UNSEEN_ARTIFACTS")
    return Path(configured) if configured else PROJECT_ROOT / "build" / "contracts"


@dataclass(frozen=True)
class Artifact:
    """One compiled contract.

    ``immutable_ranges`` lists the ``(start, length)`` byte ranges of the
    runtime code that the constructor fills in (Solidity immutables); they
    differ between deployments and are masked when comparing code.
    """

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    immutable_ranges: tuple[tuple[int, int], ...] = field(default=())

    def elements(self, kind: str) -> list[dict[str, Any]]:
        """Return the ABI entries of one kind: function, event, error, constructor."""
        return [entry for entry in self.abi if entry.get("type") == kind]

    def runtime_code_matches(self, code: bytes) -> bool:
        """Return whether ``code`` (as read from the chain) is this contract's runtime code.

        Immutable slots are ignored: they hold constructor arguments.
        """
        if len(code) != len(self.deployed_bytecode):
            return False
        expected = bytearray(self.deployed_bytecode)
        actual = bytearray(code)
        for start, length in self.immutable_ranges:
            expected[start : start + length] = bytes(length)
            actual[start : start + length] = bytes(length)
        return expected == actual


def _hex_bytes(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


@cache
def _load(directory: Path, name: str, modified_ns: int) -> Artifact:
    # modified_ns is part of the cache key so a rebuild is picked up.
    record = json.loads((directory / f"{name}.json").read_text())
    ranges = tuple(
        (int(reference["start"]), int(reference["length"]))
        for references in record.get("immutableReferences", {}).values()
        for reference in references
    )
    return Artifact(
        name=name,
        abi=record["abi"],
        bytecode=_hex_bytes(record["bytecode"]),
        deployed_bytecode=_hex_bytes(record["deployedBytecode"]),
        immutable_ranges=ranges,
    )


def load_artifact(name: str, directory: Path | None = None) -> Artifact:
    """Return the compiled artifact of contract ``name``.

    Raises :class:`ArtifactNotFound` when the contracts have not been compiled.
    """
    directory = directory or artifacts_directory()
    path = directory / f"{name}.json"
    try:
        modified_ns = path.stat().st_mtime_ns
    except FileNotFoundError:
        available = sorted(p.stem for p in directory.glob("*.json")) if directory.exists() else []
        hint = f"; compiled contracts there: {', '.join(available)}" if available else ""
        raise ArtifactNotFound(
            f"{path} is missing: run `make setup` (or `python -m offchain.chain.build`) "
            f"to compile the contracts{hint}"
        ) from None
    return _load(directory, name, modified_ns)


def load_all(directory: Path | None = None) -> dict[str, Artifact]:
    """Return the artifacts of every deployable contract, by name."""
    return {name: load_artifact(name, directory) for name in CONTRACT_NAMES}
