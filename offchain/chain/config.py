"""The consortium file: who is in the consortium at deployment, read from TOML.

See ``deploy/consortium.example.toml`` for a complete, commented example.
The file is versioned (``version = 1``); unknown keys are refused so a typo
never silently drops a setting. Keys are never in the file, only key sources
(:mod:`offchain.chain.keys`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import is_address, keccak, to_checksum_address

from offchain.errors import ConfigError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class MemberConfig:
    """One institution to admit at deployment."""

    name: str
    address: str
    key: str | None
    endpoint: str
    tls_fingerprint: bytes | None
    compute_price: int
    credits: int

    def fingerprint_or_provisional(self) -> bytes:
        """Return the TLS fingerprint, or a provisional one if none is configured yet.

        The provisional value is ``keccak("unseen:provisional-node-key:" ‖ address)``:
        unique per member and matching no real key, so links to the node fail
        closed until ``unseen node init`` registers the real fingerprint.
        """
        if self.tls_fingerprint is not None:
            return self.tls_fingerprint
        return keccak(b"unseen:provisional-node-key:" + bytes.fromhex(self.address[2:]))


@dataclass(frozen=True)
class RegulatorConfig:
    """The regulator: reads everything, suspends members, freezes datasets."""

    name: str
    address: str
    key: str | None


@dataclass(frozen=True)
class ChainSettings:
    """Chain-level settings: where to deploy and the job timings set by the admin."""

    rpc_url: str | None
    chain_id: int | None
    confirmations: int
    max_job_horizon: int
    confirmation_window: int


@dataclass(frozen=True)
class ConsortiumConfig:
    """A parsed consortium file."""

    source: str
    admin_key: str
    chain: ChainSettings
    regulator: RegulatorConfig | None
    members: tuple[MemberConfig, ...]

    @classmethod
    def load(cls, path: str | Path) -> ConsortiumConfig:
        """Read and validate a consortium TOML file."""
        path = Path(path)
        try:
            document = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"consortium file {path} does not exist; start from deploy/consortium.example.toml"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        return cls.parse(document, str(path))

    @classmethod
    def parse(cls, document: dict[str, Any], source: str = "consortium file") -> ConsortiumConfig:
        """Validate a parsed TOML document."""
        _only(document, {"version", "chain", "admin", "regulator", "members"}, source)
        version = document.get("version")
        if version != FORMAT_VERSION:
            raise ConfigError(
                f"{source}: version = {version!r}; this Unseen reads version {FORMAT_VERSION}"
            )
        chain_table = document.get("chain", {})
        _only(chain_table, {"rpc_url", "chain_id", "confirmations", "max_job_horizon",
                            "confirmation_window"}, f"{source} [chain]")
        chain = ChainSettings(
            rpc_url=chain_table.get("rpc_url") or None,
            chain_id=_optional_int(chain_table, "chain_id", f"{source} [chain]"),
            confirmations=_int(chain_table, "confirmations", f"{source} [chain]", default=0),
            max_job_horizon=_int(chain_table, "max_job_horizon", f"{source} [chain]",
                                 default=7 * 24 * 3600),
            confirmation_window=_int(chain_table, "confirmation_window", f"{source} [chain]",
                                     default=3600),
        )
        admin = document.get("admin")
        if not isinstance(admin, dict) or not admin.get("key"):
            raise ConfigError(f"{source}: [admin] needs key = \"<key source>\" (e.g. \"anvil:0\")")
        _only(admin, {"key"}, f"{source} [admin]")

        regulator = None
        if "regulator" in document:
            table = document["regulator"]
            _only(table, {"name", "address", "key"}, f"{source} [regulator]")
            address, key = _identity(table, f"{source} [regulator]")
            regulator = RegulatorConfig(_text(table, "name", f"{source} [regulator]"), address, key)

        members = []
        for index, table in enumerate(document.get("members", [])):
            where = f"{source} [[members]] #{index + 1}"
            _only(table, {"name", "address", "key", "endpoint", "tls_fingerprint",
                          "compute_price", "credits"}, where)
            address, key = _identity(table, where)
            members.append(MemberConfig(
                name=_text(table, "name", where),
                address=address,
                key=key,
                endpoint=_endpoint(table, where),
                tls_fingerprint=_fingerprint(table.get("tls_fingerprint", ""), where),
                compute_price=_int(table, "compute_price", where, default=0),
                credits=_int(table, "credits", where, default=0),
            ))
        _unique([m.address for m in members], "member address", source)
        _unique([m.name for m in members], "member name", source)
        _unique([m.tls_fingerprint.hex() for m in members if m.tls_fingerprint], "tls_fingerprint",
                source)
        return cls(source, admin["key"], chain, regulator, tuple(members))


def _only(table: Any, allowed: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value.strip()


def _int(table: dict[str, Any], key: str, where: str, default: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: {key} must be a non-negative integer, got {value!r}")
    return value


def _optional_int(table: dict[str, Any], key: str, where: str) -> int | None:
    return _int(table, key, where, 0) if key in table else None


def _identity(table: dict[str, Any], where: str) -> tuple[str, str | None]:
    """Return (address, key source); the address is derived from the key when not given."""
    key = table.get("key") or None
    address = table.get("address") or None
    if key is None and address is None:
        raise ConfigError(f"{where}: give address = \"0x…\" or key = \"<key source>\" (or both)")
    if address is not None and not is_address(address):
        raise ConfigError(f"{where}: address {address!r} is not a 20-byte hex address")
    if key is not None:
        from offchain.chain.keys import load_account

        derived = load_account(key).address
        if address is not None and to_checksum_address(address) != derived:
            raise ConfigError(
                f"{where}: address {address} does not match key {key!r} (which is {derived})"
            )
        address = derived
    return to_checksum_address(address), key


def _endpoint(table: dict[str, Any], where: str) -> str:
    endpoint = _text(table, "endpoint", where)
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}: endpoint must be host:port, got {endpoint!r}")
    return endpoint


def _fingerprint(value: Any, where: str) -> bytes | None:
    if value in ("", None):
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: tls_fingerprint must be a hex string, got {value!r}")
    text = value.removeprefix("0x").replace(":", "").lower()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32 or raw == bytes(32):
        raise ConfigError(
            f"{where}: tls_fingerprint must be 32 non-zero bytes of hex (SHA-256 of the node's DER "
            f"SubjectPublicKeyInfo), got {value!r}; leave it empty until `unseen node init`"
        )
    return raw


def _unique(values: list[str], what: str, source: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigError(f"{source}: {what} {value} appears twice")
        seen.add(value)
