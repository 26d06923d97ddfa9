"""The one seam to a chain node: JSON-RPC requests, single or batched.

Every byte the chain layer exchanges with a node goes through :class:`Rpc`,
which wraps web3.py's HTTP (or IPC) provider and speaks raw JSON-RPC: results
come back exactly as the node sent them (hex strings, dicts), so the layers
above decide how to decode them. A batch is one HTTP round trip for many
requests (JSON-RPC 2.0 batch); its entries fail independently, so a batch
returns :class:`RpcFailure` values in place of results rather than raising.

Errors:

* the node cannot be reached -> :class:`~offchain.errors.RpcUnavailable`;
* the node answers with a JSON-RPC error -> :class:`RpcFailure` in a batch, or
  :class:`~offchain.errors.RpcError` from :meth:`Rpc.request` (the revert data
  of a failed ``eth_call`` / ``eth_estimateGas`` is kept in ``RpcError.data``
  so that :mod:`offchain.chain.errors` can decode it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
from web3 import HTTPProvider, IPCProvider
from web3.types import RPCEndpoint

from offchain.errors import ConfigError, RpcError, RpcUnavailable

# Nodes cap the number of entries in one batch (geth 1000, Besu 1024 by
# default) and the size of a request body (anvil 2 MB); 250 keeps well below
# both even for raw transactions of a few kilobytes.
MAX_BATCH_ENTRIES = 250


@dataclass(frozen=True)
class RpcFailure:
    """A JSON-RPC error answer to one request of a batch."""

    method: str
    code: int | None
    message: str
    data: Any = None

    @property
    def revert_data(self) -> bytes | None:
        """Return the revert data if this failure is a reverted call, else None.

        Nodes differ in where they put it: geth, anvil and Besu use a hex
        string in ``error.data``; some put an object with a ``data`` field.
        """
        data = self.data
        if isinstance(data, dict):
            data = data.get("data") or data.get("result")
        if isinstance(data, str) and data.startswith("0x"):
            try:
                return bytes.fromhex(data[2:])
            except ValueError:
                return None
        return None

    def as_error(self) -> RpcError:
        """Return the :class:`RpcError` that :meth:`Rpc.request` would raise."""
        return RpcError(
            f"{self.method} failed: {self.message} (JSON-RPC code {self.code})",
            code=self.code,
            data=self.data,
        )


class Rpc:
    """A JSON-RPC connection to one node.

    ``url`` is ``http(s)://host:port`` or the path of a geth-style IPC socket.
    ``timeout`` bounds each HTTP request in seconds. The underlying HTTP
    session keeps its connection alive, so back-to-back requests cost one
    round trip each and no new handshake.
    """

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        if not url:
            raise ConfigError("no RPC URL given; pass --rpc URL or set it in the deployment file")
        self.url = url
        self.timeout = timeout
        if url.startswith(("http://", "https://")):
            # No silent retries inside web3.py: an unreachable node should say
            # so at once; the signer and cursors decide what to retry.
            self._provider = HTTPProvider(
                url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
            )
        elif url.endswith(".ipc"):
            self._provider = IPCProvider(url, timeout=timeout)
        else:
            raise ConfigError(
                f"unsupported RPC URL {url!r}: use http://host:port, https://host:port "
                "or the path of an .ipc socket"
            )
        self.requests_sent = 0
        self.round_trips = 0

    def __repr__(self) -> str:
        return f"Rpc({self.url!r})"

    def request(self, method: str, *params: Any) -> Any:
        """Send one request and return its ``result``; raise on any error."""
        try:
            response = self._provider.make_request(RPCEndpoint(method), list(params))
        except (requests.ConnectionError, requests.Timeout, OSError) as exc:
            raise self._unavailable(exc) from exc
        except requests.HTTPError as exc:
            raise RpcError(f"{method} failed: HTTP error from {self.url}: {exc}") from exc
        self.requests_sent += 1
        self.round_trips += 1
        outcome = _outcome(method, response)
        if isinstance(outcome, RpcFailure):
            raise outcome.as_error()
        return outcome

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Send many requests in as few round trips as possible.

        Returns one entry per call, in order: the ``result``, or an
        :class:`RpcFailure` when the node answered that entry with an error.
        Raises :class:`RpcUnavailable` if the node cannot be reached.
        """
        outcomes: list[Any] = []
        for start in range(0, len(calls), MAX_BATCH_ENTRIES):
            chunk = calls[start : start + MAX_BATCH_ENTRIES]
            outcomes.extend(self._batch_round_trip(chunk))
        return outcomes

    def _batch_round_trip(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        if len(calls) == 1:
            method, params = calls[0]
            try:
                return [self.request(method, *params)]
            except RpcError as exc:
                return [RpcFailure(method, exc.code, str(exc), exc.data)]
        try:
            responses = self._provider.make_batch_request(
                [(RPCEndpoint(method), list(params)) for method, params in calls]
            )
        except (requests.ConnectionError, requests.Timeout, OSError) as exc:
            raise self._unavailable(exc) from exc
        except requests.HTTPError as exc:
            raise RpcError(f"batch of {len(calls)} requests failed: HTTP error: {exc}") from exc
        self.requests_sent += len(calls)
        self.round_trips += 1
        if not isinstance(responses, list):
            # The node refused the batch as a whole (e.g. batches disabled).
            error = responses.get("error", {}) if isinstance(responses, dict) else {}
            raise RpcError(
                f"{self.url} refused a batch of {len(calls)} requests: "
                f"{error.get('message', responses)}; the node must accept JSON-RPC batches",
                code=error.get("code"),
            )
        if len(responses) != len(calls):
            raise RpcError(
                f"{self.url} answered a batch of {len(calls)} requests with "
                f"{len(responses)} responses"
            )
        return [_outcome(method, response) for (method, _), response in zip(calls, responses, strict=True)]

    def _unavailable(self, exc: BaseException) -> RpcUnavailable:
        return RpcUnavailable(
            f"cannot reach the chain node at {self.url} ({type(exc).__name__}); "
            "start it (`unseen chain start` for a local anvil) or pass the right --rpc URL"
        )


def _outcome(method: str, response: Any) -> Any:
    if not isinstance(response, dict):
        return RpcFailure(method, None, f"malformed response {response!r}")
    if "error" in response and response["error"] is not None:
        error = response["error"]
        if not isinstance(error, dict):
            return RpcFailure(method, None, str(error))
        return RpcFailure(method, error.get("code"), str(error.get("message", "")), error.get("data"))
    return response.get("result")


def to_int(value: str | int | None) -> int:
    """Return a JSON-RPC quantity (``"0x1a"``) as an int."""
    if value is None:
        raise RpcError("the node returned no value where a number was expected")
    if isinstance(value, int):
        return value
    return int(value, 16)


def to_bytes(value: str | None) -> bytes:
    """Return JSON-RPC data (``"0xabcd"``) as bytes."""
    if not value:
        return b""
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)
