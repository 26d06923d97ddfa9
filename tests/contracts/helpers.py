"""Plain-web3 helpers for the contract tests and the gas benchmark.

Deploys the five contracts from ``build/contracts``, sends transactions from
anvil's unlocked dev accounts, decodes reverts into ``(error name, arguments)``
by selector over every ABI, and decodes logs into ``(contract, event, args)``.
Everything here talks to the chain through web3.py only; the project's chain
layer (``offchain/chain``) is deliberately not used, so these tests check the
contracts on their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACT_DIR = PROJECT_ROOT / "build" / "contracts"
DEPLOY_ORDER = ("Consortium", "DataCatalog", "AccessPolicy", "Billing", "Jobs")
INTERFACES = ("IConsortium", "IDataCatalog", "IAccessPolicy", "IBilling", "IJobs")

# Constraint levels and job kinds, as in contracts/libraries/UnseenTypes.sol.
PLAINTEXT, AFTER_JOIN, AFTER_GROUP_BY, AFTER_AGGREGATE, AFTER_COMPARE, ENCRYPTED_ONLY = range(6)
STATISTICS, QUERY, MODEL_TRAIN, MODEL_PREDICT, SCRIPT, PUBLISH = range(6)
ALL_KINDS = 0x3F

# Enum values (IConsortium.MemberStatus, IJobs.JobStatus).
MEMBER_NONE, MEMBER_ACTIVE, MEMBER_SUSPENDED, MEMBER_REMOVED = range(4)
(JOB_NONE, JOB_REQUESTED, JOB_RUNNING, JOB_COMMITTED, JOB_FINALIZED, JOB_DISPUTED, JOB_RESOLVED,
 JOB_EXPIRED, JOB_DECLINED) = range(9)

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = b"\x00" * 32


def artifact(name: str) -> dict:
    path = ARTIFACT_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; run `make setup` (or python -m offchain.chain.build)")
    return json.loads(path.read_text())


def h(label: str) -> bytes:
    """A deterministic 32-byte value for tests: keccak256 of ``label``."""
    return keccak(text=label)


def schema_hash(names: list[str], types: list[str]) -> bytes:
    """The canonical schema hash: keccak256(abi.encode(string[] names, string[] types))."""
    return keccak(abi_encode(["string[]", "string[]"], [names, types]))


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorSpec:
    name: str
    types: tuple[str, ...]
    arg_names: tuple[str, ...]


def _abi_type(entry: dict) -> str:
    if entry["type"].startswith("tuple"):
        inner = ",".join(_abi_type(component) for component in entry["components"])
        return f"({inner}){entry['type'][5:]}"
    return entry["type"]


@cache
def error_registry() -> dict[bytes, ErrorSpec]:
    """Every custom error in the built artifacts, by 4-byte selector."""
    registry: dict[bytes, ErrorSpec] = {}
    for path in sorted(ARTIFACT_DIR.glob("*.json")):
        for entry in json.loads(path.read_text())["abi"]:
            if entry["type"] != "error":
                continue
            types = tuple(_abi_type(i) for i in entry["inputs"])
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            spec = ErrorSpec(entry["name"], types, tuple(i["name"] for i in entry["inputs"]))
            if registry.setdefault(selector, spec) != spec:
                raise ValueError(f"two errors share selector {selector.hex()}: {spec} and {registry[selector]}")
    return registry


def declared_errors() -> set[str]:
    """Names of the custom errors declared by the five Unseen interfaces."""
    return {
        entry["name"]
        for name in INTERFACES
        for entry in artifact(name)["abi"]
        if entry["type"] == "error"
    }


def decode_error(data: bytes) -> tuple[str, tuple]:
    """Decode ABI-encoded revert data into (error name, arguments)."""
    if len(data) < 4:
        raise AssertionError(f"revert carried no error data ({data.hex() or 'empty'})")
    spec = error_registry().get(bytes(data[:4]))
    if spec is None:
        raise AssertionError(f"unknown error selector 0x{bytes(data[:4]).hex()} (data 0x{bytes(data).hex()})")
    return spec.name, tuple(abi_decode(list(spec.types), bytes(data[4:])))


def _revert_bytes(exc: ContractLogicError) -> bytes:
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if not isinstance(data, str):
        raise AssertionError(f"revert without error data: {exc!r}")
    return bytes.fromhex(data.removeprefix("0x"))


class Reverted(AssertionError):
    pass


# ------------------------------------------------------------------------------------------
# Events
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    contract: str
    name: str
    args: dict
    block: int
    log_index: int
    timestamp: int

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


def _normalise(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return [_normalise(v) for v in value]
    if hasattr(value, "_fields"):  # named tuple from decode_tuples
        return {k: _normalise(getattr(value, k)) for k in value._fields}
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return value


# ------------------------------------------------------------------------------------------
# Deployment
# ------------------------------------------------------------------------------------------


@dataclass
class Deployment:
    """The five contracts on one chain, plus senders and decoders."""

    w3: Web3
    admin: str
    consortium: Contract
    catalog: Contract
    policy: Contract
    billing: Contract
    jobs: Contract
    deploy_block: int
    deploy_gas: dict[str, int] = field(default_factory=dict)

    @property
    def contracts(self) -> dict[str, Contract]:
        return {
            "Consortium": self.consortium,
            "DataCatalog": self.catalog,
            "AccessPolicy": self.policy,
            "Billing": self.billing,
            "Jobs": self.jobs,
        }

    # -- transactions -------------------------------------------------------------------

    def send(self, call: Any, sender: str) -> dict:
        """Send ``call`` (a bound contract function) from ``sender``; return the receipt.

        Raises :class:`Reverted` carrying the decoded custom error if it reverts.
        """
        try:
            tx_hash = call.transact({"from": sender})
        except ContractLogicError as exc:
            name, args = decode_error(_revert_bytes(exc))
            raise Reverted(f"{name}{args}") from exc
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise Reverted(f"transaction {tx_hash.hex()} failed after estimation")
        return receipt

    def expect_revert(self, call: Any, sender: str, error: str, *args: Any) -> tuple:
        """Assert that sending ``call`` from ``sender`` reverts with ``error(*args)``.

        Checks the selector (by name through the registry) and every decoded
        argument; returns the decoded arguments. Pass ``...`` for an argument
        that the test cannot predict (it is then not compared).
        """
        try:
            call.transact({"from": sender})
        except ContractLogicError as exc:
            return _check_error(decode_error(_revert_bytes(exc)), error, args)
        raise AssertionError(f"expected revert {error}{args}, but the transaction succeeded")

    def expect_events(self, receipt: dict, expected: list[tuple[str, dict]]) -> list[Event]:
        """Assert the receipt's events are exactly ``expected``, in order.

        Each entry is ``(event name, {argument: value})``; only the arguments
        given are compared (addresses case-insensitively, ``...`` skips one).
        """
        events = self.events(receipt)
        names = [e.name for e in events]
        assert names == [name for name, _ in expected], f"events {names}, expected {[n for n, _ in expected]}"
        for event, (name, arguments) in zip(events, expected, strict=True):
            for key, want in arguments.items():
                assert key in event.args, f"{name} has no argument {key!r} (has {sorted(event.args)})"
                if want is Ellipsis:
                    continue
                got = event.args[key]
                assert _normalise_arg(got) == _normalise_arg(want), f"{name}.{key}: expected {want!r}, got {got!r}"
        return events

    def expect_call_revert(self, call: Any, error: str, *args: Any, sender: str | None = None) -> tuple:
        """Assert that the view ``call`` reverts with ``error(*args)`` (``...`` skips an argument)."""
        try:
            call.call({"from": sender} if sender else {})
        except ContractLogicError as exc:
            return _check_error(decode_error(_revert_bytes(exc)), error, args)
        raise AssertionError(f"expected revert {error}{args}, but the call succeeded")

    # -- logs ---------------------------------------------------------------------------

    @property
    def _event_index(self) -> dict[tuple[str, bytes], tuple[str, Any]]:
        index = {}
        for contract_name, contract in self.contracts.items():
            for entry in contract.abi:
                if entry["type"] != "event":
                    continue
                types = ",".join(_abi_type(i) for i in entry["inputs"])
                topic = keccak(text=f"{entry['name']}({types})")
                index[(contract.address.lower(), topic)] = (contract_name, contract.events[entry["name"]]())
        return index

    def decode_logs(self, logs: list) -> list[Event]:
        """Decode logs emitted by the five contracts, in log order; others are skipped."""
        index = self._event_index
        timestamps: dict[int, int] = {}
        events = []
        for log in logs:
            key = (log["address"].lower(), bytes(log["topics"][0]))
            if key not in index:
                continue
            contract_name, event = index[key]
            decoded = event.process_log(log)
            block = log["blockNumber"]
            if block not in timestamps:
                timestamps[block] = self.w3.eth.get_block(block)["timestamp"]
            events.append(Event(contract_name, decoded["event"], _normalise(dict(decoded["args"])),
                                block, log["logIndex"], timestamps[block]))
        return events

    def events(self, receipt: dict) -> list[Event]:
        return self.decode_logs(receipt["logs"])

    def all_events(self) -> list[Event]:
        """Every event of the five contracts since deployment, in chain order."""
        logs = self.w3.eth.get_logs({
            "address": [c.address for c in self.contracts.values()],
            "fromBlock": self.deploy_block,
            "toBlock": "latest",
        })
        return self.decode_logs(sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])))


def _check_error(decoded_error: tuple[str, tuple], error: str, args: tuple) -> tuple:
    name, decoded = decoded_error
    expected = tuple(_normalise_arg(a) for a in args)
    actual = tuple(_normalise_arg(a) for a in decoded)
    assert name == error, f"expected {error}{expected}, got {name}{actual}"
    assert len(actual) == len(expected), f"{name}: expected {len(expected)} args, got {actual}"
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        if want is not Ellipsis:
            assert want == got, f"{name} argument {index}: expected {want!r}, got {got!r}"
    return decoded


def expect_reason(reason: bytes, error: str, *args: Any) -> tuple:
    """Assert that ABI-encoded ``reason`` (as returned by a checkRequest view) is ``error(*args)``."""
    return _check_error(decode_error(reason), error, args)


def _normalise_arg(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):
        return {k: _normalise_arg(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_normalise_arg(v) for v in value)
    return value


def deploy(w3: Web3, admin: str, max_deadline_horizon: int = 30 * 86400,
           confirmation_window: int = 3600) -> Deployment:
    """Deploy the five contracts from ``admin`` in dependency order and grant Jobs its role."""
    addresses: dict[str, str] = {}
    gas: dict[str, int] = {}
    first_block = w3.eth.block_number + 1

    def create(name: str, *args: Any) -> None:
        built = artifact(name)
        factory = w3.eth.contract(abi=built["abi"], bytecode=built["bytecode"])
        receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": admin}))
        if receipt["status"] != 1:
            raise RuntimeError(f"deploying {name} failed")
        addresses[name] = receipt["contractAddress"]
        gas[name] = receipt["gasUsed"]

    create("Consortium", admin)
    create("DataCatalog", addresses["Consortium"])
    create("AccessPolicy", addresses["Consortium"], addresses["DataCatalog"])
    create("Billing", addresses["Consortium"])
    create("Jobs", addresses["Consortium"], addresses["DataCatalog"], addresses["AccessPolicy"],
           addresses["Billing"], max_deadline_horizon, confirmation_window)

    def bind(name: str) -> Contract:
        return w3.eth.contract(address=addresses[name], abi=artifact(name)["abi"], decode_tuples=True)

    deployment = Deployment(
        w3=w3, admin=admin, consortium=bind("Consortium"), catalog=bind("DataCatalog"),
        policy=bind("AccessPolicy"), billing=bind("Billing"), jobs=bind("Jobs"),
        deploy_block=first_block, deploy_gas=gas,
    )
    jobs_role = deployment.consortium.functions.JOBS_ROLE().call()
    receipt = deployment.send(deployment.consortium.functions.grantRole(jobs_role, addresses["Jobs"]), admin)
    gas["grant JOBS_ROLE"] = receipt["gasUsed"]
    return deployment


# ------------------------------------------------------------------------------------------
# Requests
# ------------------------------------------------------------------------------------------


def job_input(dataset_id: int, uses: list[tuple[int, int]] | None = None) -> dict:
    """A JobInput: ``uses`` is a list of (column index, required level)."""
    uses = uses or []
    return {"datasetId": dataset_id, "columns": [c for c, _ in uses], "levels": [lv for _, lv in uses]}


def job_request(*, kind: int, inputs: list[dict], nodes: list[str], recipient: str, deadline: int,
                fee_cap: int, program_hash: bytes | None = None, program: str = "SELECT 1",
                subject: bytes = ZERO_HASH, purpose: bytes = ZERO_HASH,
                params_hash: bytes | None = None) -> dict:
    return {
        "kind": kind,
        "programHash": program_hash if program_hash is not None else h(program),
        "program": program,
        "inputs": inputs,
        "computeNodes": nodes,
        "resultRecipient": recipient,
        "deadline": deadline,
        "feeCap": fee_cap,
        "subject": subject,
        "purpose": purpose,
        "paramsHash": params_hash if params_hash is not None else h("params"),
    }
