"""The deployment file: where the Unseen contracts live on which chain.

Every command that talks to the chain reads it. Default location
``.unseen/deployment.json`` in the current directory; ``--deployment PATH``
on the command line overrides that and ``$UNSEEN_DEPLOYMENT`` overrides both
(Unseen's rule: the file, then flags, then the environment).

Format (JSON, versioned)::

    {
      "version": 1,
      "chain_id": 31337,
      "rpc_url": "http://127.0.0.1:8545",
      "deployer": "0x…",
      "deploy_block": 1,
      "contracts": {"Consortium": "0x…", "DataCatalog": "0x…", …},
      "code_hashes": {"Consortium": "0x…", …},   # keccak of the runtime code
      "created_at": "2026-11-29T10:00:00Z",
      "steps": ["contracts", "members", "credits"]   # deployment steps completed
    }
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_utils import is_address, keccak, to_checksum_address

from offchain.chain.artifacts import CONTRACT_NAMES, load_artifact
from offchain.chain.rpc import Rpc, RpcFailure, to_bytes, to_int
from offchain.errors import ConfigError, DeploymentMismatch, DeploymentNotFound

FORMAT_VERSION = 1
DEFAULT_PATH = Path(".unseen") / "deployment.json"
ENVIRONMENT_VARIABLE = "UNSEEN_DEPLOYMENT"


def deployment_path(flag: str | os.PathLike[str] | None = None) -> Path:
    """Return the deployment file to use: environment, else flag, else the default."""
    from_environment = os.environ.get(ENVIRONMENT_VARIABLE)
    if from_environment:
        return Path(from_environment)
    if flag:
        return Path(flag)
    return DEFAULT_PATH


@dataclass(frozen=True)
class Deployment:
    """Addresses and provenance of one deployment of the Unseen contracts."""

    chain_id: int
    rpc_url: str
    deployer: str
    deploy_block: int
    contracts: dict[str, str]
    code_hashes: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    steps: list[str] = field(default_factory=list)
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        missing = [name for name in CONTRACT_NAMES if name not in self.contracts]
        if missing:
            raise ConfigError(f"deployment lacks addresses for {', '.join(missing)}")
        for name, address in self.contracts.items():
            if not is_address(address):
                raise ConfigError(f"deployment address of {name} is not an address: {address!r}")

    def address(self, contract_name: str) -> str:
        """Return the checksummed address of one contract."""
        try:
            return to_checksum_address(self.contracts[contract_name])
        except KeyError:
            raise ConfigError(
                f"no {contract_name} in the deployment; it has {', '.join(self.contracts)}"
            ) from None

    # -- file ---------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Deployment:
        """Read a deployment file (see :func:`deployment_path` for the default)."""
        target = deployment_path(path) if path is None else Path(path)
        try:
            record = json.loads(target.read_text())
        except FileNotFoundError:
            raise DeploymentNotFound(
                f"no deployment file at {target}: run `unseen deploy --config "
                "deploy/consortium.example.toml` first, or point --deployment / "
                f"${ENVIRONMENT_VARIABLE} at an existing one"
            ) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{target} is not valid JSON: {exc}") from exc
        return cls.from_record(record, source=str(target))

    @classmethod
    def from_record(cls, record: dict[str, Any], source: str = "deployment") -> Deployment:
        """Build a deployment from its JSON form, checking the format version."""
        version = record.get("version")
        if version != FORMAT_VERSION:
            raise ConfigError(
                f"{source} has format version {version!r}; this Unseen reads version "
                f"{FORMAT_VERSION}: deploy again or upgrade Unseen"
            )
        try:
            return cls(
                chain_id=int(record["chain_id"]),
                rpc_url=str(record["rpc_url"]),
                deployer=to_checksum_address(record["deployer"]),
                deploy_block=int(record["deploy_block"]),
                contracts={k: to_checksum_address(v) for k, v in record["contracts"].items()},
                code_hashes=dict(record.get("code_hashes", {})),
                created_at=str(record.get("created_at", "")),
                steps=list(record.get("steps", [])),
                version=version,
            )
        except KeyError as exc:
            raise ConfigError(f"{source} lacks the field {exc.args[0]!r}") from None

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the file atomically (write a temporary file, then rename)."""
        target = deployment_path(path) if path is None else Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(temporary, target)
        return target

    # -- verification --------------------------------------------------------

    def verify(self, rpc: Rpc) -> None:
        """Check this deployment against the chain behind ``rpc``.

        The chain id must match, and each recorded address must hold the
        runtime code of the compiled contract (immutables masked) with the
        recorded code hash. Raises :class:`DeploymentMismatch` otherwise.
        """
        calls: list[tuple[str, list[Any]]] = [("eth_chainId", [])]
        calls += [("eth_getCode", [self.contracts[name], "latest"]) for name in CONTRACT_NAMES]
        outcomes = rpc.batch(calls)
        for outcome in outcomes:
            if isinstance(outcome, RpcFailure):
                raise outcome.as_error()
        chain_id = to_int(outcomes[0])
        if chain_id != self.chain_id:
            raise DeploymentMismatch(
                f"the deployment is for chain {self.chain_id} but {rpc.url} is chain {chain_id}; "
                "use the RPC URL of that chain or deploy again"
            )
        problems = []
        for name, code_hex in zip(CONTRACT_NAMES, outcomes[1:], strict=True):
            code = to_bytes(code_hex)
            address = self.contracts[name]
            if not code:
                problems.append(f"no code at {name} {address}")
                continue
            recorded = self.code_hashes.get(name)
            if recorded and "0x" + keccak(code).hex() != recorded:
                problems.append(f"{name} at {address} holds other code than when deployed")
                continue
            if not load_artifact(name).runtime_code_matches(code):
                problems.append(
                    f"{name} at {address} differs from build/contracts/{name}.json "
                    "(contracts changed since this deployment)"
                )
        if problems:
            raise DeploymentMismatch(
                "; ".join(problems) + f" (chain {chain_id} at {rpc.url}); deploy again with "
                "`unseen deploy --fresh`"
            )


def now_iso() -> str:
    """Return the current UTC time as ISO 8601, for ``created_at``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
