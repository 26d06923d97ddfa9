"""Solidity custom errors as Python exceptions, decoded from revert data by selector.

Every custom error declared by an Unseen contract (and every OpenZeppelin
error they can raise) has a class here, named exactly like the Solidity error,
deriving from :class:`offchain.errors.ContractError` and from the builtin that
matches its meaning (``PermissionError`` for authorization, ``LookupError`` for
unknown ids, ``ValueError`` for bad arguments, ...). Policy refusals by
``AccessPolicy`` also derive from :class:`offchain.errors.PolicyViolation`, so
one ``except PolicyViolation`` catches on-chain and off-chain refusals alike.

Each class carries a ``template`` that turns the decoded arguments into one
sentence (see :mod:`offchain.chain.render` for the ``{name:format}`` fields).
Decoding (as ape does): the first four bytes of the revert data select the
error among all contract ABIs; the rest is ABI-decoded into named arguments,
kept on the exception as ``args_``.

Besides the custom errors: ``Error(string)`` becomes
:class:`ContractRevertedWithReason`, ``Panic(uint256)``
:class:`ContractPanicked`, empty revert data :class:`ContractReverted`, and an
unknown selector :class:`UnknownContractError`.

The table test (``tests/chain/test_errors.py``) checks that every error in the
ABIs has a class here with a template naming only real arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import eth_abi

from offchain.chain import abi as abi_codec
from offchain.chain.artifacts import CONTRACT_NAMES, Artifact, load_artifact
from offchain.chain.models import SOLIDITY_ENUMS
from offchain.chain.render import AddressLabeler, render_template, render_value
from offchain.errors import ArtifactNotFound, ContractError, PolicyViolation

_CLASSES: dict[str, type[ContractError]] = {}


def _register(cls: type[ContractError]) -> type[ContractError]:
    """Add a class to the explicit registry of error classes, by its name."""
    _CLASSES[cls.__name__] = cls
    return cls


def error_classes() -> dict[str, type[ContractError]]:
    """Return every contract error class, by Solidity error name."""
    return dict(_CLASSES)


# ----------------------------------------------------------------------------
# reverts that are not custom errors


class ContractReverted(ContractError):
    """A call reverted without revert data (``revert()`` or out of gas)."""

    template = "reverted without a reason (a bare revert, or out of gas)"


class ContractRevertedWithReason(ContractError):
    """A call reverted with ``Error(string)`` (``require(cond, "text")``)."""

    template = "reverted: {reason}"


class ContractPanicked(ContractError, ArithmeticError):
    """A call hit a Solidity panic (``Panic(uint256)``): a bug in the contract."""

    template = "panicked with code {code} ({meaning})"

    #: Solidity panic codes, from the language documentation.
    MEANINGS = {
        0x00: "generic compiler panic",
        0x01: "assert failed",
        0x11: "arithmetic overflow or underflow",
        0x12: "division or modulo by zero",
        0x21: "invalid enum value",
        0x22: "corrupt storage byte array",
        0x31: "pop on an empty array",
        0x32: "array index out of bounds",
        0x41: "out of memory",
        0x51: "call to an uninitialised internal function",
    }


class UnknownContractError(ContractError):
    """A call reverted with a selector none of the known ABIs declares."""

    template = (
        "reverted with unknown error selector {selector} (data {data}); the contracts on "
        "chain differ from build/contracts: run `make setup` or check the deployment"
    )


# ----------------------------------------------------------------------------
# the registry: selector -> (ABI entry, class)


@dataclass(frozen=True)
class ErrorEntry:
    """One custom error: its ABI entry, selector and Python class."""

    name: str
    abi: dict[str, Any]
    selector: bytes
    cls: type[ContractError]
    contracts: tuple[str, ...]


class ErrorRegistry:
    """Decode revert data against the errors of a set of contract artifacts."""

    def __init__(self, artifacts: Mapping[str, Artifact]) -> None:
        entries: dict[bytes, ErrorEntry] = {}
        for contract_name, artifact in artifacts.items():
            for element in artifact.elements("error"):
                error_selector = abi_codec.selector(element)
                previous = entries.get(error_selector)
                if previous is not None:
                    entries[error_selector] = ErrorEntry(
                        previous.name, previous.abi, error_selector, previous.cls,
                        (*previous.contracts, contract_name),
                    )
                    continue
                cls = _CLASSES.get(element["name"]) or _fallback_class(element["name"])
                entries[error_selector] = ErrorEntry(
                    element["name"], element, error_selector, cls, (contract_name,)
                )
        self.by_selector = entries

    def names(self) -> set[str]:
        """Return the names of every custom error in the ABIs."""
        return {entry.name for entry in self.by_selector.values()}

    def decode(
        self, data: bytes, context: str | None = None, labeler: AddressLabeler | None = None
    ) -> ContractError:
        """Return the exception that ``data`` (revert data) stands for.

        ``context`` (e.g. ``"Jobs.request"``) is appended to the message;
        ``labeler`` names known addresses (e.g. member names).
        """
        data = bytes(data)
        suffix = f" (calling {context})" if context else ""
        if not data:
            return ContractReverted(ContractReverted.template + suffix, {}, data)
        head, body = data[:4], data[4:]
        if head == _ERROR_STRING:
            try:
                (reason,) = eth_abi.decode(["string"], body)
            except Exception:  # noqa: BLE001 - malformed reason: fall through to unknown
                reason = "0x" + body.hex()
            args = {"reason": reason}
            return ContractRevertedWithReason(
                render_template(ContractRevertedWithReason.template, args) + suffix, args, data
            )
        if head == _PANIC:
            try:
                (code,) = eth_abi.decode(["uint256"], body)
            except Exception:  # noqa: BLE001
                code = -1
            args = {"code": hex(code), "meaning": ContractPanicked.MEANINGS.get(code, "unknown")}
            return ContractPanicked(
                f"panicked with code {hex(code)} ({args['meaning']}){suffix}", args, data
            )
        entry = self.by_selector.get(head)
        if entry is None:
            args = {"selector": "0x" + head.hex(), "data": "0x" + data.hex()}
            message = UnknownContractError.template.format(**args)
            return UnknownContractError(message + suffix, args, data)
        try:
            args = abi_codec.decode_values(entry.abi.get("inputs", ()), body, SOLIDITY_ENUMS)
        except Exception as exc:  # noqa: BLE001 - undecodable arguments still name the error
            return entry.cls(f"(arguments could not be decoded: {exc}){suffix}", {}, data)
        return entry.cls(_message(entry.cls, args, labeler) + suffix, args, data)


def _message(cls: type[ContractError], args: Mapping[str, Any], labeler: AddressLabeler | None) -> str:
    template = getattr(cls, "template", None)
    if template:
        try:
            return render_template(template, args, labeler)
        except (KeyError, IndexError, ValueError):
            pass  # template and ABI disagree: the table test catches it; still say something
    return ", ".join(f"{name}={render_value(value, '', labeler)}" for name, value in args.items())


def _fallback_class(name: str) -> type[ContractError]:
    """Make a class for an ABI error this module has no class for.

    Keeps decoding working against newer contracts; the table test fails
    until a real class with a template is written.
    """
    return type(name, (ContractError,), {"__doc__": f"Solidity error {name} (no template yet)."})


_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")


@cache
def _registry_for(stamp: tuple[Any, ...]) -> ErrorRegistry:
    artifacts = {}
    for name in CONTRACT_NAMES:
        try:
            artifacts[name] = load_artifact(name)
        except ArtifactNotFound:
            continue
    return ErrorRegistry(artifacts)


def default_registry() -> ErrorRegistry:
    """Return the registry over the compiled Unseen contracts (rebuilt after a rebuild)."""
    from offchain.chain.artifacts import artifacts_directory

    directory = artifacts_directory()
    stamp = tuple(
        (name, (directory / f"{name}.json").stat().st_mtime_ns)
        if (directory / f"{name}.json").exists() else (name, None)
        for name in CONTRACT_NAMES
    )
    return _registry_for(stamp)


def decode_revert(
    data: bytes, context: str | None = None, labeler: AddressLabeler | None = None
) -> ContractError:
    """Return the exception for revert ``data`` of any Unseen contract."""
    return default_registry().decode(data, context, labeler)


def raise_for_check(allowed: bool, reason: bytes, context: str | None = None,
                    labeler: AddressLabeler | None = None) -> None:
    """Raise the decoded error of a ``(bool allowed, bytes reason)`` answer if not allowed.

    This is the shape of ``AccessPolicy.checkRequest``: ``reason`` is the
    ABI-encoded custom error the request would revert with.
    """
    if not allowed:
        raise decode_revert(reason, context, labeler)


# The custom error classes, one per Solidity error, follow. Bases: the
# builtin that matches (PermissionError: the caller may not do this;
# LookupError: an id or record does not exist; ValueError: an argument is
# wrong; RuntimeError: the record is in a state that forbids the operation).

_ = PolicyViolation  # used by the classes below
