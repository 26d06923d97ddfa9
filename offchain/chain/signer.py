"""Sign transactions locally and keep many in flight.

A :class:`Signer` holds one account's key (eth-account) and its nonce. The
nonce is read from the node once and then counted locally, so a batch of N
transactions costs a handful of round trips instead of several per
transaction:

1. one JSON-RPC batch: fee data plus an ``eth_estimateGas`` per transaction
   (which is also the simulation: a transaction that would revert raises its
   decoded contract error here, before anything is sent);
2. local signing with consecutive nonces, then one batch of
   ``eth_sendRawTransaction``;
3. batched ``eth_getTransactionReceipt`` polls until every receipt is in.

Recovery: a send refused for its nonce ("nonce too low", "replacement
underpriced": someone else used the key) resyncs the nonce from the node and
signs the refused transactions again. A transaction that vanishes from the
node while waiting (dropped from the pool, leaving a gap that blocks every
later nonce) is broadcast again from its signed bytes; if its nonce has been
taken by another transaction meanwhile, :class:`~offchain.errors.NonceGap`
says so. Fees are EIP-1559 (``2 * base fee + priority fee``) on chains with a
base fee, legacy ``gasPrice`` otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from offchain.chain.rpc import Rpc, RpcFailure, to_bytes, to_int
from offchain.errors import ChainError, InputError, NonceGap, RpcError, TransactionTimeout

#: Gas limit = estimate x GAS_MARGIN: estimates are exact for the state they
#: ran on; the margin absorbs state changes by transactions mined before ours.
GAS_MARGIN = 1.25

_NONCE_ERRORS = ("nonce too low", "nonce too high", "already known", "replacement transaction",
                 "replacement underpriced", "known transaction", "invalid nonce")


@dataclass(frozen=True)
class TransactionRequest:
    """A transaction to send: a call (``to`` set) or a contract creation (``to`` None).

    ``gas`` fixes the gas limit and skips estimation and simulation;
    ``description`` names the call in error messages, e.g.
    ``"Billing.issueCredits(0xAb…, 100)"``.
    """

    to: str | None
    data: bytes
    value: int = 0
    gas: int | None = None
    description: str = ""

    def label(self) -> str:
        if self.description:
            return self.description
        return f"creation of a contract ({len(self.data)} bytes)" if self.to is None else (
            f"call to {self.to} (selector 0x{self.data[:4].hex()})"
        )


@dataclass(frozen=True)
class SentTransaction:
    """A transaction the node accepted: its request, nonce, hash and signed bytes."""

    request: TransactionRequest
    nonce: int
    hash: str
    raw: bytes
    fields: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Receipt:
    """The mined outcome of a transaction."""

    transaction_hash: str
    block_number: int
    block_hash: str
    succeeded: bool
    gas_used: int
    contract_address: str | None
    logs: list[dict[str, Any]]

    @classmethod
    def from_rpc(cls, data: dict[str, Any]) -> Receipt:
        return cls(
            transaction_hash=data["transactionHash"],
            block_number=to_int(data["blockNumber"]),
            block_hash=data["blockHash"],
            succeeded=to_int(data.get("status", "0x1")) == 1,
            gas_used=to_int(data["gasUsed"]),
            contract_address=data.get("contractAddress"),
            logs=list(data.get("logs", ())),
        )


RevertDecoder = Callable[[bytes, str], Exception]


def _default_revert_error(data: bytes, label: str) -> Exception:
    from offchain.chain.errors import decode_revert

    return decode_revert(data, context=label)


class Signer:
    """Sign and send transactions for one account with a locally counted nonce.

    Not thread-safe: use one signer per account per thread.
    """

    def __init__(
        self,
        rpc: Rpc,
        account: LocalAccount | str,
        *,
        gas_margin: float = GAS_MARGIN,
        revert_error: RevertDecoder = _default_revert_error,
    ) -> None:
        self.rpc = rpc
        self.account = account if isinstance(account, LocalAccount) else Account.from_key(account)
        self.address: str = self.account.address
        if gas_margin < 1.0:
            raise InputError(f"gas_margin must be at least 1.0, got {gas_margin}")
        self.gas_margin = gas_margin
        self.revert_error = revert_error
        self.chain_id: int | None = None
        self._next_nonce: int | None = None
        self.resyncs = 0
        self.rebroadcasts = 0

    def __repr__(self) -> str:
        return f"Signer({self.address}, next nonce {self._next_nonce})"

    # -- nonce -------------------------------------------------------------

    def resync(self) -> int:
        """Read the account's next nonce (pending pool included) from the node."""
        chain_id, nonce = self.rpc.batch(
            [("eth_chainId", []), ("eth_getTransactionCount", [self.address, "pending"])]
        )
        for outcome in (chain_id, nonce):
            if isinstance(outcome, RpcFailure):
                raise outcome.as_error()
        self.chain_id = to_int(chain_id)
        self._next_nonce = to_int(nonce)
        return self._next_nonce

    @property
    def next_nonce(self) -> int:
        """The nonce the next signed transaction will carry."""
        if self._next_nonce is None:
            self.resync()
        return self._next_nonce  # type: ignore[return-value]

    # -- sending ------------------------------------------------------------

    def send(self, requests: Sequence[TransactionRequest]) -> list[SentTransaction]:
        """Simulate, sign and send ``requests`` back to back; return them in order.

        Requests without an explicit ``gas`` are simulated first (all in one
        round trip, against the current state): if any would revert, nothing
        is sent and its decoded contract error is raised. Requests that
        depend on an earlier one in the same call cannot be simulated before
        it is mined; give them an explicit ``gas`` or send them in a later
        call.
        """
        if not requests:
            return []
        if self._next_nonce is None:
            self.resync()
        fees, gas_limits = self._prepare(requests)
        pending = list(zip(requests, gas_limits, strict=True))
        sent: list[SentTransaction | None] = [None] * len(requests)
        order = list(range(len(requests)))
        for _attempt in range(3):
            signed = [self._sign(pending[i][0], pending[i][1], fees) for i in order]
            outcomes = self.rpc.batch(
                [("eth_sendRawTransaction", ["0x" + tx.raw.hex()]) for tx in signed]
            )
            refused_for_nonce: list[int] = []
            refused: list[tuple[int, RpcFailure]] = []
            for index, transaction, outcome in zip(order, signed, outcomes, strict=True):
                if isinstance(outcome, RpcFailure):
                    if "already known" in outcome.message.lower():
                        sent[index] = transaction
                    elif any(marker in outcome.message.lower() for marker in _NONCE_ERRORS):
                        refused_for_nonce.append(index)
                    else:
                        refused.append((index, outcome))
                else:
                    sent[index] = transaction
            if refused:
                self._fill_gaps(signed, outcomes, fees)
                index, failure = refused[0]
                accepted = sum(1 for item in sent if item is not None)
                raise RpcError(
                    f"the node refused {len(refused)} of {len(requests)} transactions; first: "
                    f"{requests[index].label()}: {failure.message} (JSON-RPC code {failure.code}); "
                    f"{accepted} others were sent and will be mined",
                    code=failure.code,
                    data=failure.data,
                )
            if not refused_for_nonce:
                return [item for item in sent if item is not None]
            # Someone else used this key: take the node's nonce and sign the
            # refused transactions again after the ones that went through.
            self.resyncs += 1
            self.resync()
            order = refused_for_nonce
        raise NonceGap(
            f"{len(order)} transactions from {self.address} were refused for their nonce three "
            f"times in a row (node's next nonce {self._next_nonce}); another process is sending "
            "from this account concurrently: give each process its own key"
        )

    def _prepare(self, requests: Sequence[TransactionRequest]) -> tuple[dict[str, int], list[int]]:
        """Fetch fee data and estimate gas for every request in one round trip."""
        calls: list[tuple[str, list[Any]]] = [
            ("eth_getBlockByNumber", ["latest", False]),
            ("eth_maxPriorityFeePerGas", []),
            ("eth_gasPrice", []),
            ("eth_getBalance", [self.address, "pending"]),
        ]
        to_estimate = [i for i, request in enumerate(requests) if request.gas is None]
        for i in to_estimate:
            calls.append(("eth_estimateGas", [self._call_object(requests[i])]))
        outcomes = self.rpc.batch(calls)
        block, tip, gas_price, balance = outcomes[:4]
        if isinstance(block, RpcFailure) or block is None:
            raise RpcError(f"cannot read the latest block from {self.rpc.url}: {block}")
        fees: dict[str, int]
        if block.get("baseFeePerGas") is not None:
            base_fee = to_int(block["baseFeePerGas"])
            priority = 0 if isinstance(tip, RpcFailure) else to_int(tip)
            fees = {"maxFeePerGas": 2 * base_fee + priority, "maxPriorityFeePerGas": priority}
        else:
            if isinstance(gas_price, RpcFailure):
                raise gas_price.as_error()
            fees = {"gasPrice": to_int(gas_price)}
        block_gas_limit = to_int(block["gasLimit"])
        limits = [request.gas or 0 for request in requests]
        for i, outcome in zip(to_estimate, outcomes[4:], strict=True):
            if isinstance(outcome, RpcFailure):
                self._raise_for_failure(requests[i], outcome)
            limits[i] = min(int(to_int(outcome) * self.gas_margin), block_gas_limit)
        if not isinstance(balance, RpcFailure):
            # Refuse up front rather than leave a nonce gap behind a refused send.
            price = fees.get("maxFeePerGas", fees.get("gasPrice", 0))
            needed = sum(r.value for r in requests) + sum(limits) * price
            if needed > to_int(balance):
                raise RpcError(
                    f"{self.address} cannot pay for {len(requests)} transactions "
                    f"({requests[0].label()}{', ...' if len(requests) > 1 else ''}): they need up "
                    f"to {needed} wei (values plus gas at the maximum fee), the account has "
                    f"{to_int(balance)}; fund the account with the chain's native currency"
                )
        return fees, limits

    def _raise_for_failure(self, request: TransactionRequest, failure: RpcFailure) -> None:
        revert = failure.revert_data
        if revert is not None:
            raise self.revert_error(revert, request.label())
        if "insufficient funds" in failure.message.lower():
            raise RpcError(
                f"{self.address} cannot pay for {request.label()}: {failure.message}; "
                "fund the account with the chain's native currency",
                code=failure.code,
            )
        if "execution reverted" in failure.message.lower() or "revert" in failure.message.lower():
            raise self.revert_error(b"", f"{request.label()}: {failure.message}")
        raise RpcError(
            f"{request.label()} cannot be simulated: {failure.message} (JSON-RPC code {failure.code})",
            code=failure.code,
            data=failure.data,
        )

    def _call_object(self, request: TransactionRequest) -> dict[str, Any]:
        call: dict[str, Any] = {"from": self.address, "data": "0x" + request.data.hex()}
        if request.to is not None:
            call["to"] = request.to
        if request.value:
            call["value"] = hex(request.value)
        return call

    def _sign(self, request: TransactionRequest, gas: int, fees: dict[str, int]) -> SentTransaction:
        nonce = self.next_nonce
        fields: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "gas": gas,
            "value": request.value,
            "data": request.data,
            **fees,
        }
        if "maxFeePerGas" in fees:
            fields["type"] = 2
        if request.to is not None:
            fields["to"] = request.to
        signed = self.account.sign_transaction(fields)
        self._next_nonce = nonce + 1
        return SentTransaction(request, nonce, "0x" + bytes(signed.hash).hex(),
                               bytes(signed.raw_transaction), fields)

    def _fill_gaps(self, signed: Sequence[SentTransaction], outcomes: Sequence[Any],
                   fees: dict[str, int]) -> None:
        """Fill the nonces of refused transactions with no-op self-transfers.

        Otherwise every accepted transaction after a refused one waits behind
        the gap forever.
        """
        refused_nonces = [tx.nonce for tx, outcome in zip(signed, outcomes, strict=True)
                          if isinstance(outcome, RpcFailure)]
        highest_accepted = max((tx.nonce for tx, outcome in zip(signed, outcomes, strict=True)
                                if not isinstance(outcome, RpcFailure)), default=-1)
        gap_nonces = [nonce for nonce in refused_nonces if nonce < highest_accepted]
        fillers = []
        for nonce in gap_nonces:
            fields = {"chainId": self.chain_id, "nonce": nonce, "gas": 21_000, "value": 0,
                      "data": b"", "to": self.address, **fees}
            if "maxFeePerGas" in fees:
                fields["type"] = 2
            fillers.append(("eth_sendRawTransaction",
                            ["0x" + bytes(self.account.sign_transaction(fields).raw_transaction).hex()]))
        if fillers:
            self.rpc.batch(fillers)
        # The nonces after the last accepted transaction were never used.
        self._next_nonce = highest_accepted + 1 if highest_accepted >= 0 else None

    # -- waiting -------------------------------------------------------------

    def wait(
        self,
        transactions: Sequence[SentTransaction],
        *,
        timeout: float = 120.0,
        poll_interval: float = 0.01,
        rebroadcast_after: float = 2.0,
    ) -> list[Receipt]:
        """Return the receipts of ``transactions``, in order, once all are mined.

        Polls in batches; a transaction that the node no longer knows after
        ``rebroadcast_after`` seconds is sent again. Raises
        :class:`TransactionTimeout` after ``timeout`` seconds. Reverted
        transactions are returned (``succeeded`` False); see :meth:`check`.
        """
        receipts: dict[str, Receipt] = {}
        current = {tx.hash: tx for tx in transactions}
        started = time.monotonic()
        last_presence_check = started
        interval = poll_interval
        while True:
            waiting = [tx for tx in current.values() if tx.hash not in receipts]
            if not waiting:
                break
            outcomes = self.rpc.batch(
                [("eth_getTransactionReceipt", [tx.hash]) for tx in waiting]
            )
            for tx, outcome in zip(waiting, outcomes, strict=True):
                if isinstance(outcome, RpcFailure):
                    raise outcome.as_error()
                if outcome is not None:
                    receipts[tx.hash] = Receipt.from_rpc(outcome)
            if len(receipts) == len(current):
                break
            now = time.monotonic()
            if now - started > timeout:
                missing = [tx for tx in current.values() if tx.hash not in receipts]
                raise TransactionTimeout(
                    f"{len(missing)} of {len(transactions)} transactions from {self.address} not "
                    f"mined after {timeout:.0f} s (first: {missing[0].request.label()}, nonce "
                    f"{missing[0].nonce}, hash {missing[0].hash}); is the node mining?"
                )
            if now - last_presence_check > rebroadcast_after:
                last_presence_check = now
                replaced = self._rebroadcast_vanished(
                    [tx for tx in current.values() if tx.hash not in receipts]
                )
                for old_hash, new_tx in replaced.items():
                    del current[old_hash]
                    current[new_tx.hash] = new_tx
            time.sleep(interval)
            interval = min(interval * 1.5, 0.5)
        # Map back to the caller's order; replaced transactions keep their slot.
        by_nonce = {tx.nonce: receipts[tx.hash] for tx in current.values()}
        return [by_nonce[tx.nonce] for tx in transactions]

    def _rebroadcast_vanished(self, waiting: Sequence[SentTransaction]) -> dict[str, SentTransaction]:
        """Send again the transactions the node has forgotten; return replacements.

        Also detects a gap no transaction of ours can fill: the account's
        next nonce on the node is below every nonce we wait for (the chain
        was reset or reverted under us, or a transaction we did not keep was
        dropped).
        """
        outcomes = self.rpc.batch(
            [("eth_getTransactionCount", [self.address, "pending"])]
            + [("eth_getTransactionByHash", [tx.hash]) for tx in waiting]
        )
        node_nonce, known = outcomes[0], outcomes[1:]
        ours = {tx.nonce for tx in waiting}
        if not isinstance(node_nonce, RpcFailure):
            node_next = to_int(node_nonce)
            lowest = min(ours)
            if node_next < lowest and not any(n in ours for n in range(node_next, lowest)):
                self._next_nonce = None  # the next send starts from the node's nonce
                raise NonceGap(
                    f"{len(waiting)} transactions from {self.address} (nonces {lowest}.."
                    f"{max(ours)}, first: {waiting[0].request.label()}) wait behind nonce "
                    f"{node_next}, which none of them fills: the chain was reset or reverted, or "
                    "an earlier transaction was dropped; they will not be mined, send them again"
                )
        vanished = [tx for tx, found in zip(waiting, known, strict=True) if found is None]
        if not vanished:
            return {}
        self.rebroadcasts += len(vanished)
        outcomes = self.rpc.batch(
            [("eth_sendRawTransaction", ["0x" + tx.raw.hex()]) for tx in vanished]
        )
        replaced: dict[str, SentTransaction] = {}
        for tx, outcome in zip(vanished, outcomes, strict=True):
            if not isinstance(outcome, RpcFailure) or "already known" in outcome.message.lower():
                continue
            message = outcome.message.lower()
            if "nonce too low" in message:
                # Our hash has no receipt, yet its nonce is used: another
                # transaction from this key took the slot.
                receipt = self.rpc.request("eth_getTransactionReceipt", tx.hash)
                if receipt is None:
                    raise NonceGap(
                        f"{tx.request.label()} (nonce {tx.nonce}, hash {tx.hash}) was dropped by "
                        f"the node and nonce {tx.nonce} of {self.address} is now used by another "
                        "transaction; it was not executed: send it again"
                    )
                continue
            # Fees moved on while it was out of the pool: sign it again at
            # today's fees with the same nonce.
            fees, _ = self._prepare([TransactionRequest(tx.request.to, tx.request.data,
                                                        tx.request.value, gas=tx.fields["gas"])])
            saved = self._next_nonce
            self._next_nonce = tx.nonce
            fresh = self._sign(tx.request, tx.fields["gas"], fees)
            self._next_nonce = saved
            retry = self.rpc.batch([("eth_sendRawTransaction", ["0x" + fresh.raw.hex()])])[0]
            if isinstance(retry, RpcFailure):
                raise NonceGap(
                    f"{tx.request.label()} (nonce {tx.nonce}) was dropped by the node and cannot "
                    f"be sent again: {retry.message}; later transactions of {self.address} wait "
                    "behind this nonce"
                )
            replaced[tx.hash] = fresh
        return replaced

    # -- outcome -------------------------------------------------------------

    def check(self, transactions: Sequence[SentTransaction], receipts: Sequence[Receipt]) -> None:
        """Raise the decoded error of the first reverted transaction, if any."""
        failed = [(tx, receipt) for tx, receipt in zip(transactions, receipts, strict=True) if not receipt.succeeded]
        if not failed:
            return
        tx, receipt = failed[0]
        data = self.revert_data(receipt.transaction_hash)
        note = f" ({len(failed)} of {len(transactions)} reverted)" if len(failed) > 1 else ""
        raise self.revert_error(
            data if data is not None else b"",
            f"{tx.request.label()} in block {receipt.block_number}, tx {tx.hash}{note}",
        )

    def revert_data(self, transaction_hash: str) -> bytes | None:
        """Return the revert data of a mined, reverted transaction, if the node can tell.

        Uses ``debug_traceTransaction`` with the call tracer (anvil, geth, and
        Besu with the DEBUG API); None when the node offers no trace.
        """
        try:
            trace = self.rpc.request(
                "debug_traceTransaction", transaction_hash, {"tracer": "callTracer"}
            )
        except ChainError:
            return None
        if isinstance(trace, dict) and trace.get("output"):
            return to_bytes(trace["output"])
        return None

    def transact_sequence(self, requests: Sequence[TransactionRequest], *,
                          timeout: float = 120.0) -> list[Receipt]:
        """Send ``requests`` in order when later ones may depend on earlier ones.

        Each round simulates every remaining request against the current
        state and sends the longest prefix that simulates cleanly, in one
        batch, then waits for it. Independent requests thus go out together;
        a request that needs an earlier one mined waits one round. A request
        that fails simulation with nothing before it in the round raises its
        decoded error. Nonces stay in request order, so contract addresses
        predicted from nonces hold.
        """
        receipts: list[Receipt] = []
        remaining = list(requests)
        while remaining:
            estimable = [r for r in remaining if r.gas is None]
            outcomes = self.rpc.batch(
                [("eth_estimateGas", [self._call_object(r)]) for r in estimable]
            )
            estimates = dict(zip(map(id, estimable), outcomes, strict=True))
            prefix: list[TransactionRequest] = []
            for request in remaining:
                outcome = estimates.get(id(request))
                if isinstance(outcome, RpcFailure):
                    if not prefix:
                        self._raise_for_failure(request, outcome)
                    break
                if outcome is None:
                    prefix.append(request)
                else:
                    gas = int(to_int(outcome) * self.gas_margin)
                    prefix.append(TransactionRequest(request.to, request.data, request.value,
                                                     gas, request.description))
            receipts += self.transact(prefix, timeout=timeout)
            remaining = remaining[len(prefix):]
        return receipts

    def transact(self, requests: Sequence[TransactionRequest], *, timeout: float = 120.0
                 ) -> list[Receipt]:
        """Send ``requests``, wait for all of them, raise if any reverted."""
        sent = self.send(requests)
        receipts = self.wait(sent, timeout=timeout)
        self.check(sent, receipts)
        return receipts
