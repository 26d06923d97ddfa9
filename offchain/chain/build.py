"""Compile the Solidity contracts into ``build/contracts/`` with the npm ``solc``.

``foundry.toml`` is the single source of compiler settings (version, optimizer,
EVM version, remappings). Compilation runs the official compiler as
WebAssembly through node, because no native solc can be downloaded here. The
step is skipped when neither the sources, the settings nor the compiler
changed since the last build (a SHA-256 over all of them is kept in
``build/contracts/.inputs-sha256``).

Run as ``python -m offchain.chain.build [--force]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from offchain.errors import ConfigError, UnseenError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMPILER_SCRIPT = Path(__file__).with_name("solc_compile.js")


class CompilationFailed(UnseenError, RuntimeError):
    """The Solidity compiler reported errors."""


@dataclass(frozen=True)
class CompilerSettings:
    """Compiler settings read from ``foundry.toml``'s default profile."""

    src: Path
    out: Path
    solc_version: str
    evm_version: str
    optimizer: bool
    optimizer_runs: int
    via_ir: bool
    remappings: tuple[str, ...]

    @classmethod
    def load(cls, root: Path = PROJECT_ROOT) -> CompilerSettings:
        path = root / "foundry.toml"
        try:
            profile = tomllib.loads(path.read_text())["profile"]["default"]
        except FileNotFoundError as exc:
            raise ConfigError(f"{path} is missing; it holds the compiler settings") from exc
        except (KeyError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path} has no valid [profile.default] section: {exc}") from exc
        return cls(
            src=root / profile.get("src", "contracts"),
            out=root / profile.get("out", "build/contracts"),
            solc_version=str(profile["solc_version"]),
            evm_version=str(profile.get("evm_version", "cancun")),
            optimizer=bool(profile.get("optimizer", True)),
            optimizer_runs=int(profile.get("optimizer_runs", 200)),
            via_ir=bool(profile.get("via_ir", False)),
            remappings=tuple(profile.get("remappings", ())),
        )


def _installed_solc_version(root: Path) -> str:
    package = root / "node_modules" / "solc" / "package.json"
    try:
        return json.loads(package.read_text())["version"]
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{package} is missing: run `npm ci` (or `make setup`) to install the pinned solc"
        ) from exc


def _sources(settings: CompilerSettings) -> dict[str, Path]:
    root = settings.src.parent
    return {
        str(path.relative_to(root)): path for path in sorted(settings.src.rglob("*.sol"))
    }


def _inputs_digest(settings: CompilerSettings, sources: dict[str, Path], root: Path) -> str:
    digest = hashlib.sha256()
    digest.update((root / "foundry.toml").read_bytes())
    lock = root / "package-lock.json"
    if lock.exists():
        digest.update(lock.read_bytes())
    digest.update(COMPILER_SCRIPT.read_bytes())
    digest.update(Path(__file__).read_bytes())
    for name, path in sources.items():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _standard_json(settings: CompilerSettings, sources: dict[str, Path]) -> dict:
    return {
        "language": "Solidity",
        "sources": {name: {"content": path.read_text()} for name, path in sources.items()},
        "settings": {
            "remappings": list(settings.remappings),
            "optimizer": {"enabled": settings.optimizer, "runs": settings.optimizer_runs},
            "viaIR": settings.via_ir,
            "evmVersion": settings.evm_version,
            "outputSelection": {
                "*": {
                    "*": [
                        "abi",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.deployedBytecode.immutableReferences",
                        "evm.methodIdentifiers",
                        "devdoc",
                        "userdoc",
                    ]
                }
            },
        },
    }


def compile_contracts(root: Path = PROJECT_ROOT, force: bool = False) -> bool:
    """Compile ``contracts/`` into ``build/contracts/``; return whether it ran."""
    settings = CompilerSettings.load(root)
    installed = _installed_solc_version(root)
    if installed != settings.solc_version:
        raise ConfigError(
            f"foundry.toml asks for solc {settings.solc_version} but node_modules has "
            f"solc {installed}; pin the same version in package.json and run `npm ci`"
        )
    sources = _sources(settings)
    if not sources:
        raise ConfigError(f"no .sol files under {settings.src}")
    digest = _inputs_digest(settings, sources, root)
    stamp = settings.out / ".inputs-sha256"
    if not force and stamp.exists() and stamp.read_text().strip() == digest:
        return False

    if shutil.which("node") is None:
        raise ConfigError("node is not on PATH; install Node.js 20 or newer")
    completed = subprocess.run(
        ["node", str(COMPILER_SCRIPT)],
        input=json.dumps(_standard_json(settings, sources)),
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    if completed.returncode != 0:
        raise CompilationFailed(f"solc exited with {completed.returncode}: {completed.stderr}")
    output_text, _, version_line = completed.stdout.rpartition("\n")
    output = json.loads(output_text)
    problems = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if problems:
        raise CompilationFailed(
            "\n".join(e.get("formattedMessage", e.get("message", "")) for e in problems)
        )
    warnings = [e for e in output.get("errors", []) if e.get("severity") == "warning"]
    for warning in warnings:
        print(warning.get("formattedMessage", warning.get("message")), file=sys.stderr)

    if settings.out.exists():
        shutil.rmtree(settings.out)
    settings.out.mkdir(parents=True)
    own_sources = set(sources)
    for source_name, contracts in output["contracts"].items():
        for contract_name, artifact in contracts.items():
            bytecode = artifact["evm"]["bytecode"]["object"]
            if source_name not in own_sources:
                continue
            record = {
                "contractName": contract_name,
                "sourceName": source_name,
                "abi": artifact["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + artifact["evm"]["deployedBytecode"]["object"],
                # Byte ranges of the runtime code filled in by the constructor;
                # masked when checking deployed code against this artifact.
                "immutableReferences": artifact["evm"]["deployedBytecode"].get(
                    "immutableReferences", {}
                ),
                "methodIdentifiers": artifact["evm"].get("methodIdentifiers", {}),
                "devdoc": artifact.get("devdoc", {}),
                "userdoc": artifact.get("userdoc", {}),
                "compiler": json.loads(version_line)["solcVersion"],
            }
            (settings.out / f"{contract_name}.json").write_text(json.dumps(record, indent=1))
    stamp.write_text(digest + "\n")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="compile even if nothing changed")
    args = parser.parse_args(argv)
    try:
        ran = compile_contracts(force=args.force)
    except UnseenError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("contracts compiled into build/contracts" if ran else "contracts up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
