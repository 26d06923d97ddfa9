"""One deployed contract, called by function name through its ABI.

:class:`ContractHandle` is what the typed wrappers in
:mod:`offchain.chain.client` are built on: ``call`` for views (``eth_call``),
``request`` to build a transaction for the signer, ``transact`` to send one
and wait. Reverts raise the decoded contract error in both cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from offchain.chain import abi as abi_codec
from offchain.chain.artifacts import Artifact
from offchain.chain.errors import decode_revert
from offchain.chain.models import SOLIDITY_ENUMS
from offchain.chain.render import AddressLabeler, render_value
from offchain.chain.rpc import Rpc, RpcFailure, to_bytes
from offchain.chain.signer import Receipt, Signer, TransactionRequest
from offchain.errors import ConfigError, InputError, RpcError


class ContractHandle:
    """A contract at ``address`` with ``artifact``'s ABI."""

    def __init__(self, rpc: Rpc, artifact: Artifact, address: str,
                 signer: Signer | None = None, labeler: AddressLabeler | None = None) -> None:
        self.rpc = rpc
        self.artifact = artifact
        self.name = artifact.name
        self.address = to_checksum_address(address)
        self.signer = signer
        self.labeler = labeler
        self.functions: dict[str, dict[str, Any]] = {}
        for function in artifact.elements("function"):
            # Overloads are keyed by full signature, the first also by name.
            self.functions.setdefault(function["name"], function)
            self.functions[abi_codec.signature(function)] = function

    def __repr__(self) -> str:
        return f"{self.name}({self.address})"

    def function(self, name: str) -> dict[str, Any]:
        """Return the ABI entry of function ``name`` (or full signature)."""
        try:
            return self.functions[name]
        except KeyError:
            known = sorted(n for n in self.functions if "(" not in n)
            raise InputError(f"{self.name} has no function {name!r}; it has {', '.join(known)}") from None

    def encode(self, name: str, *args: Any) -> bytes:
        """Return the calldata of ``name(*args)``."""
        return abi_codec.encode_call(self.function(name), args)

    def label(self, name: str, args: Sequence[Any] = ()) -> str:
        """Return ``Contract.function`` for messages (arguments left out: they can be long)."""
        return f"{self.name}.{name}"

    # -- views -------------------------------------------------------------

    def call_object(self, name: str, *args: Any, sender: str | None = None) -> dict[str, Any]:
        """Return the ``eth_call`` request object for ``name(*args)``."""
        call = {"to": self.address, "data": "0x" + self.encode(name, *args).hex()}
        if sender is not None:
            call["from"] = to_checksum_address(sender)
        return call

    def decode_output(self, name: str, result: str | None) -> Any:
        """Decode an ``eth_call`` result: one output unwrapped, several as a dict."""
        function = self.function(name)
        outputs = function.get("outputs", ())
        data = to_bytes(result)
        if outputs and not data:
            raise ConfigError(
                f"{self.name}.{name} returned no data: is there a {self.name} contract at "
                f"{self.address}? (check the deployment with `unseen chain info`)"
            )
        values = abi_codec.decode_values(outputs, data, SOLIDITY_ENUMS)
        if len(outputs) == 1:
            return next(iter(values.values()))
        return values

    def call(self, name: str, *args: Any, block: str | int = "latest",
             sender: str | None = None) -> Any:
        """Run view ``name(*args)`` with ``eth_call`` and return the decoded output."""
        block_tag = hex(block) if isinstance(block, int) else block
        try:
            result = self.rpc.request("eth_call", self.call_object(name, *args, sender=sender),
                                      block_tag)
        except RpcError as exc:
            raise self._revert_error(name, exc) from None
        return self.decode_output(name, result)

    def _revert_error(self, name: str, error: RpcError) -> Exception:
        revert = RpcFailure("eth_call", error.code, str(error), error.data).revert_data
        if revert is None and "revert" not in str(error).lower():
            return error
        return decode_revert(revert or b"", self.label(name), self.labeler)

    # -- transactions ------------------------------------------------------

    def request(self, name: str, *args: Any, gas: int | None = None, value: int = 0
                ) -> TransactionRequest:
        """Build the transaction ``name(*args)`` for :meth:`Signer.send`."""
        return TransactionRequest(
            to=self.address, data=self.encode(name, *args), value=value, gas=gas,
            description=self.label(name, args),
        )

    def transact(self, name: str, *args: Any, gas: int | None = None, value: int = 0) -> Receipt:
        """Simulate, send and wait for ``name(*args)``; raise the decoded error on revert."""
        if self.signer is None:
            raise ConfigError(
                f"{self.name}.{name} sends a transaction but no signing key is configured; "
                "pass --key (e.g. --key env:UNSEEN_KEY)"
            )
        return self.signer.transact([self.request(name, *args, gas=gas, value=value)])[0]


def describe_arguments(values: dict[str, Any], labeler: AddressLabeler | None = None) -> str:
    """Render named arguments as ``name=value, ...`` for messages and listings."""
    return ", ".join(f"{k}={render_value(v, '', labeler)}" for k, v in values.items())
