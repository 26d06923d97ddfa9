"""Contract errors as Python exceptions: the table, decoding, and real reverts."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import eth_abi
import pytest
from eth_utils import keccak

from offchain.chain import abi as abi_codec
from offchain.chain import errors as chain_errors
from offchain.chain.artifacts import CONTRACT_NAMES, load_artifact
from offchain.chain.client import ZERO_ADDRESS, ChainClient, JobInput, JobRequest
from offchain.chain.errors import (
    AccessPolicyGrantExpired,
    BillingNotAdmin,
    ConsortiumNotAdmin,
    ContractPanicked,
    ContractReverted,
    ContractRevertedWithReason,
    DataCatalogNotActiveMember,
    JobsWrongNodeCount,
    UnknownContractError,
    decode_revert,
    error_classes,
)
from offchain.chain.models import ConstraintLevel, JobKind
from offchain.chain.render import render_template, template_fields
from offchain.chain.rpc import Rpc, to_int
from offchain.chain.signer import TransactionRequest
from offchain.errors import ContractError, PolicyViolation

BUILTIN_MEANINGS = (PermissionError, LookupError, ValueError, RuntimeError, ArithmeticError)


def _abi_errors() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in CONTRACT_NAMES:
        for element in load_artifact(name).elements("error"):
            found[element["name"]] = element
    return found


def test_every_abi_error_has_a_class_with_a_template_over_its_arguments() -> None:
    abi_errors = _abi_errors()
    classes = error_classes()

    missing = sorted(set(abi_errors) - set(classes))
    stale = sorted(set(classes) - set(abi_errors))
    assert not missing, f"contract errors without a class in offchain/chain/errors.py: {missing}"
    assert not stale, f"classes for errors no contract declares: {stale}"
    for name, element in abi_errors.items():
        cls = classes[name]
        arguments = {parameter["name"] for parameter in element["inputs"]}
        assert set(template_fields(cls.template)) <= arguments, (name, cls.template, arguments)
        assert issubclass(cls, ContractError) and issubclass(cls, BUILTIN_MEANINGS), name
        assert getattr(chain_errors, name) is cls  # importable by name


def _sample(parameter: dict[str, Any], index: int) -> Any:
    kind = parameter["type"]
    name = parameter["name"].lower()
    if kind.endswith("]"):
        element = dict(parameter, type=kind[: kind.rindex("[")])
        return [_sample(element, index), _sample(element, index + 1)]
    if kind == "address":
        return "0x" + keccak(text=f"{name}{index}")[:20].hex()
    if kind == "bool":
        return True
    if kind == "string":
        return f"text-{index}"
    if kind.startswith("bytes"):
        return keccak(text=f"{name}{index}")[: int(kind[5:] or 32)]
    if abi_codec.enum_name(parameter) or name in ("kind", "granted", "required", "level"):
        return 2
    if "time" in name or "expiry" in name or "deadline" in name or name.endswith("at"):
        return 1_795_000_000 + index
    return 7 + index


@pytest.mark.parametrize("name", sorted(_abi_errors()))
def test_decoding_revert_data_gives_the_named_class_and_arguments(name: str) -> None:
    element = _abi_errors()[name]
    values = [_sample(parameter, index) for index, parameter in enumerate(element["inputs"])]
    data = abi_codec.selector(element) + abi_codec.encode_arguments(element["inputs"], values)

    error = decode_revert(data, context="Test.call")

    assert type(error) is error_classes()[name]
    assert error.data == data
    assert list(error.args_) == [parameter["name"] for parameter in element["inputs"]]
    assert str(error) == render_template(error.template, error.args_) + " (calling Test.call)"


def test_template_renders_times_levels_and_kinds_for_people() -> None:
    element = _abi_errors()["AccessPolicyLevelNotPermitted"]
    data = abi_codec.selector(element) + eth_abi.encode(
        ["uint256", "uint256", "address", "uint8", "uint8"],
        [3, 1, "0x" + "ab" * 20, int(ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE),
         int(ConstraintLevel.PLAINTEXT_AFTER_JOIN)],
    )
    message = str(decode_revert(data))
    assert message == (
        "column 1 of dataset 3 is PLAINTEXT_AFTER_AGGREGATE for "
        "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB; the job needs PLAINTEXT_AFTER_JOIN"
    )
    expired = _abi_errors()["AccessPolicyGrantExpired"]
    data = abi_codec.selector(expired) + eth_abi.encode(
        ["uint256", "address", "uint256", "uint256"], [3, "0x" + "cd" * 20, 1_795_168_800, 1_795_946_400]
    )
    assert "expired at 2026-11-20T10:00:00Z (block time 2026-11-29T10:00:00Z)" in str(decode_revert(data))


def test_reverts_that_are_not_custom_errors() -> None:
    reason = bytes.fromhex("08c379a0") + eth_abi.encode(["string"], ["not allowed"])
    assert str(decode_revert(reason)) == "reverted: 'not allowed'"
    assert isinstance(decode_revert(reason), ContractRevertedWithReason)
    panic = decode_revert(bytes.fromhex("4e487b71") + eth_abi.encode(["uint256"], [0x11]))
    assert isinstance(panic, ContractPanicked) and "overflow" in str(panic)
    assert isinstance(decode_revert(b""), ContractReverted)
    unknown = decode_revert(bytes.fromhex("deadbeef") + bytes(32))
    assert isinstance(unknown, UnknownContractError) and "0xdeadbeef" in str(unknown)


# -- provoked through the real contracts ------------------------------------------------


def test_consortium_admit_by_a_member_raises_not_admin(client_for: Callable[[int], ChainClient]) -> None:
    member = client_for(1)
    with pytest.raises(ConsortiumNotAdmin) as caught:
        member.consortium.admit("0x" + "12" * 20, "Intruder", "h:1", b"\x01" * 32, 1).transact()
    assert caught.value.args_ == {"caller": member.address}
    assert isinstance(caught.value, PermissionError)
    assert str(caught.value).startswith(f"{member.address} (Northbank) is not the consortium admin")


def test_catalog_register_by_a_non_member_raises_not_active_member(
        client_for: Callable[[int], ChainClient]) -> None:
    outsider = client_for(12)
    with pytest.raises(DataCatalogNotActiveMember, match=f"{outsider.address} is not an active member"):
        outsider.catalog.register("loans", ["id"], ["int64"], 10, b"\x02" * 32, 1, 0).transact()


def test_billing_issue_by_a_member_raises_not_admin(client_for: Callable[[int], ChainClient]) -> None:
    member = client_for(2)
    with pytest.raises(BillingNotAdmin) as caught:
        member.billing.issue(member.address, 5).transact()
    assert caught.value.args_ == {"caller": member.address}


def _register_dataset(owner: ChainClient, name: str = "loans") -> int:
    receipt = owner.catalog.register(name, ["applicant", "amount", "opened"],
                                     ["string", "int64", "date"], 1_000, b"\x07" * 32, 5, 1).transact()
    (registered,) = [e for e in owner.events(receipt) if e.name == "DatasetRegistered"]
    return registered.args["datasetId"]


def _query(requester: ChainClient, dataset_id: int, nodes: list[str], deadline: int) -> JobRequest:
    return JobRequest(
        kind=JobKind.QUERY, program_hash=keccak(text="SELECT count(*) FROM loans"),
        program="SELECT count(*) FROM loans",
        inputs=(JobInput(dataset_id, (1,), (ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE,)),),
        compute_nodes=tuple(nodes), result_recipient=requester.address, deadline=deadline,
        fee_cap=10_000,
    )


def _block_time(rpc: Rpc) -> int:
    return to_int(rpc.request("eth_getBlockByNumber", "latest", False)["timestamp"])


def test_expired_grant_is_the_same_error_from_check_request_and_from_jobs_request(
        rpc: Rpc, client_for: Callable[[int], ChainClient]) -> None:
    owner, requester = client_for(1), client_for(2)
    dataset_id = _register_dataset(owner)
    now = _block_time(rpc)
    owner.transact_all([
        owner.access_policy.set_grant(dataset_id, requester.address, now + 100, 0, [JobKind.QUERY]),
        owner.access_policy.set_column_levels(dataset_id, ZERO_ADDRESS, [1],
                                              [ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE]),
    ])
    rpc.request("evm_increaseTime", 200)
    rpc.request("evm_mine")
    nodes = [client_for(i).address for i in (1, 3, 4)]
    request = _query(requester, dataset_id, nodes, _block_time(rpc) + 3600)

    with pytest.raises(AccessPolicyGrantExpired) as from_view:
        requester.access_policy.check_request(requester.address, requester.address, request.kind,
                                              request.program_hash, request.inputs)
    with pytest.raises(AccessPolicyGrantExpired) as from_transaction:
        requester.jobs.request(request).transact()

    # The view runs on the latest block, the simulation on the next one: only
    # the block time they report may differ.
    stable = ("datasetId", "grantee", "expiry")
    assert [from_view.value.args_[k] for k in stable] == [from_transaction.value.args_[k] for k in stable]
    assert from_view.value.args_["expiry"] == now + 100
    assert from_transaction.value.args_["currentTime"] > now + 100
    assert isinstance(from_transaction.value, PolicyViolation)
    assert re.search(rf"grant on dataset {dataset_id} for {requester.address} \(Eastern Mutual "
                     r"Insurance\) expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(block time ",
                     str(from_transaction.value))


def test_jobs_request_with_two_nodes_raises_wrong_node_count(
        rpc: Rpc, client_for: Callable[[int], ChainClient]) -> None:
    owner, requester = client_for(1), client_for(2)
    dataset_id = _register_dataset(owner)
    request = _query(requester, dataset_id, [client_for(1).address, client_for(3).address],
                     _block_time(rpc) + 3600)
    with pytest.raises(JobsWrongNodeCount, match="a QUERY job needs 3 compute nodes, got 2"):
        requester.jobs.request(request).transact()


def test_revert_after_sending_is_decoded_from_the_mined_transaction(
        client_for: Callable[[int], ChainClient]) -> None:
    member = client_for(3)
    request = member.billing.issue(member.address, 5).request
    # An explicit gas limit skips simulation, so the revert happens on chain.
    unsimulated = TransactionRequest(request.to, request.data, gas=200_000,
                                     description=request.description)
    sent = member.signer.send([unsimulated])
    receipts = member.signer.wait(sent)
    assert not receipts[0].succeeded
    with pytest.raises(BillingNotAdmin, match=r"in block \d+, tx 0x[0-9a-f]{64}"):
        member.signer.check(sent, receipts)
