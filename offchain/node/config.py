"""The node file: one versioned TOML per member node.

::

    version = 1

    [member]
    name = "Northbank"                    # as admitted in Consortium
    key = "file:keys/northbank.key"       # key source (offchain/chain/keys.py), never the key

    [tls]
    key = "tls/node.key"                  # P-256 private key, PEM, mode 0600
    certificate = "tls/node.crt"

    [chain]
    deployment = "../.unseen/deployment.json"
    rpc_url = ""                          # empty: the deployment's URL
    confirmations = 0
    poll_interval = 0.25                  # seconds between chain polls

    [node]
    listen = "127.0.0.1:7101"             # where the node accepts connections
    endpoint = ""                         # what peers dial (registered on chain); default: listen
    database = "data/northbank.duckdb"    # the member's DuckDB file
    state_dir = "state"                   # SQLite state, logs, result payloads

    [limits]
    max_concurrent_jobs = 4               # jobs advanced in parallel (MPC sessions included)
    session_timeout = 120                 # seconds a party waits for a peer message
    service_timeout = 60                  # seconds a delivery or fetch may take
    max_payload_bytes = 1073741824        # largest input payload the node accepts
    network_delay_ms = 0                  # user-space one-way delay on MPC links (benchmarks)

Relative paths are relative to the file's directory. Unknown keys are
refused, so a typo never silently drops a setting.

Precedence, as everywhere in Unseen: the file, then command-line flags, then
environment variables (each later source overrides the earlier). The
variables are ``UNSEEN_KEY``, ``UNSEEN_RPC_URL``, ``UNSEEN_DEPLOYMENT`` and
``UNSEEN_NODE_<SETTING>`` for the rest (``UNSEEN_NODE_LISTEN``,
``UNSEEN_NODE_MAX_CONCURRENT_JOBS``, ...; see :data:`ENVIRONMENT`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from offchain.errors import ConfigError

FORMAT_VERSION = 1

#: Sections and their keys, with the attribute each maps to.
_LAYOUT: dict[str, dict[str, str]] = {
    "member": {"name": "member_name", "key": "key"},
    "tls": {"key": "tls_key", "certificate": "tls_certificate"},
    "chain": {"deployment": "deployment", "rpc_url": "rpc_url", "confirmations": "confirmations",
              "poll_interval": "poll_interval"},
    "node": {"listen": "listen", "endpoint": "endpoint", "database": "database",
             "state_dir": "state_dir"},
    "limits": {"max_concurrent_jobs": "max_concurrent_jobs", "session_timeout": "session_timeout",
               "service_timeout": "service_timeout", "max_payload_bytes": "max_payload_bytes",
               "network_delay_ms": "network_delay_ms"},
}

#: Environment variable of each setting (they override the file and the flags).
ENVIRONMENT: dict[str, str] = {
    "key": "UNSEEN_KEY",
    "rpc_url": "UNSEEN_RPC_URL",
    "deployment": "UNSEEN_DEPLOYMENT",
    "member_name": "UNSEEN_NODE_NAME",
    "tls_key": "UNSEEN_NODE_TLS_KEY",
    "tls_certificate": "UNSEEN_NODE_TLS_CERTIFICATE",
    "confirmations": "UNSEEN_NODE_CONFIRMATIONS",
    "poll_interval": "UNSEEN_NODE_POLL_INTERVAL",
    "listen": "UNSEEN_NODE_LISTEN",
    "endpoint": "UNSEEN_NODE_ENDPOINT",
    "database": "UNSEEN_NODE_DATABASE",
    "state_dir": "UNSEEN_NODE_STATE_DIR",
    "max_concurrent_jobs": "UNSEEN_NODE_MAX_CONCURRENT_JOBS",
    "session_timeout": "UNSEEN_NODE_SESSION_TIMEOUT",
    "service_timeout": "UNSEEN_NODE_SERVICE_TIMEOUT",
    "max_payload_bytes": "UNSEEN_NODE_MAX_PAYLOAD_BYTES",
    "network_delay_ms": "UNSEEN_NODE_NETWORK_DELAY_MS",
}

_PATHS = ("tls_key", "tls_certificate", "deployment", "database", "state_dir")
_REQUIRED = ("member_name", "key", "tls_key", "tls_certificate", "listen")


@dataclass(frozen=True)
class NodeConfig:
    """A checked node configuration; paths are absolute."""

    source: str
    member_name: str
    key: str
    tls_key: Path
    tls_certificate: Path
    listen: str
    deployment: Path | None = None
    rpc_url: str | None = None
    confirmations: int = 0
    poll_interval: float = 0.25
    endpoint: str | None = None
    database: Path | None = None
    state_dir: Path | None = None
    max_concurrent_jobs: int = 4
    session_timeout: float = 120.0
    service_timeout: float = 60.0
    max_payload_bytes: int = 1 << 30
    network_delay_ms: float = 0.0

    @property
    def advertised_endpoint(self) -> str:
        """The endpoint peers dial: ``endpoint`` if set, else ``listen``."""
        return self.endpoint or self.listen

    @property
    def state_database(self) -> Path:
        return self._state_dir / "node.sqlite"

    @property
    def log_file(self) -> Path:
        return self._state_dir / "node.log"

    @property
    def duckdb_path(self) -> Path:
        return self.database or self._state_dir / "data.duckdb"

    @property
    def _state_dir(self) -> Path:
        if self.state_dir is None:
            raise ConfigError(f"{self.source}: [node] state_dir is not set")
        return self.state_dir

    # -- loading ------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None,
             environment: Mapping[str, str] | None = None) -> NodeConfig:
        """Read ``path``, apply ``overrides`` (flags, by attribute name), then the environment."""
        path = Path(path)
        try:
            document = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"node file {path} does not exist; create one with `unseen node init`"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        return cls.parse(document, path.resolve().parent, str(path), overrides, environment)

    @classmethod
    def parse(cls, document: Mapping[str, Any], base: Path, source: str = "node file",
              overrides: Mapping[str, Any] | None = None,
              environment: Mapping[str, str] | None = None) -> NodeConfig:
        """Check a parsed TOML document; relative paths are taken from ``base``."""
        unknown_sections = sorted(set(document) - {"version", *_LAYOUT})
        if unknown_sections:
            raise ConfigError(
                f"{source}: unknown sections {unknown_sections}; allowed: {sorted(_LAYOUT)}"
            )
        if document.get("version") != FORMAT_VERSION:
            raise ConfigError(
                f"{source}: version = {document.get('version')!r}; this Unseen reads version "
                f"{FORMAT_VERSION} (add `version = {FORMAT_VERSION}` at the top)"
            )
        values: dict[str, Any] = {}
        for section, keys in _LAYOUT.items():
            table = document.get(section, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{source}: [{section}] must be a table, got {table!r}")
            unknown = sorted(set(table) - set(keys))
            if unknown:
                raise ConfigError(
                    f"{source}: unknown keys {unknown} in [{section}]; allowed: {sorted(keys)}"
                )
            for key, attribute in keys.items():
                if key in table and table[key] not in ("", None):
                    values[attribute] = (table[key], f"{source} [{section}] {key}")
        for attribute, value in (overrides or {}).items():
            if value not in (None, ""):
                values[attribute] = (value, f"--{attribute.replace('_', '-')}")
        environment = os.environ if environment is None else environment
        for attribute, variable in ENVIRONMENT.items():
            if environment.get(variable):
                values[attribute] = (environment[variable], f"${variable}")
        return cls._build(values, base, source)

    @classmethod
    def _build(cls, values: dict[str, tuple[Any, str]], base: Path, source: str) -> NodeConfig:
        where = {name: origin for name, (_, origin) in values.items()}
        missing = [name for name in _REQUIRED if name not in values]
        if missing:
            described = ", ".join(_describe(name) for name in missing)
            raise ConfigError(f"{source}: missing {described}")
        types = {f.name: f.type for f in fields(cls)}
        checked: dict[str, Any] = {"source": source}
        for name, (value, origin) in values.items():
            checked[name] = _convert(name, value, str(types[name]), origin, base)
        for name in ("listen", "endpoint"):
            if name in checked:
                _check_endpoint(checked[name], where[name])
        if checked.get("max_concurrent_jobs", 1) < 1:
            raise ConfigError(f"{where['max_concurrent_jobs']}: must be at least 1")
        for name in ("session_timeout", "service_timeout", "poll_interval"):
            if name in checked and checked[name] <= 0:
                raise ConfigError(f"{where[name]}: must be positive, got {checked[name]}")
        config = cls(**checked)
        if config.state_dir is None:
            config = replace(config, state_dir=base / "state")
        return config

    # -- writing ------------------------------------------------------------

    def to_toml(self, relative_to: Path | None = None) -> str:
        """Return the file form of this configuration (paths relative to ``relative_to``)."""

        def text(value: Any) -> str:
            if isinstance(value, Path):
                if relative_to is not None:
                    try:
                        value = Path(os.path.relpath(value, relative_to))
                    except ValueError:
                        pass
                value = str(value)
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, int | float):
                return repr(value)
            escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
            return f'"{escaped}"'

        lines = [f"version = {FORMAT_VERSION}"]
        for section, keys in _LAYOUT.items():
            lines += ["", f"[{section}]"]
            for key, attribute in keys.items():
                value = getattr(self, attribute)
                if value is None:
                    value = ""
                lines.append(f"{key} = {text(value)}")
        return "\n".join(lines) + "\n"


def _describe(attribute: str) -> str:
    for section, keys in _LAYOUT.items():
        for key, name in keys.items():
            if name == attribute:
                return f"[{section}] {key}"
    return attribute


def _convert(name: str, value: Any, annotation: str, origin: str, base: Path) -> Any:
    if name in _PATHS:
        if not isinstance(value, str | os.PathLike):
            raise ConfigError(f"{origin}: must be a path, got {value!r}")
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base / path).resolve()
    if annotation.startswith("int"):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{origin}: must be a non-negative integer, got {value!r}")
        return value
    if annotation.startswith("float"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{origin}: must be a number, got {value!r}") from None
        if isinstance(value, bool) or number < 0 or number != number:
            raise ConfigError(f"{origin}: must be a non-negative number, got {value!r}")
        return number
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{origin}: must be a non-empty string, got {value!r}")
    return value.strip()


def _check_endpoint(endpoint: str, origin: str) -> None:
    host, separator, port = endpoint.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"{origin}: must be host:port with a port in 1..65535, got {endpoint!r}"
        )
