"""Compute party 0 never holds an owner secret: the node refuses, the requester never asks."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from offchain.data.schema import Schema
from offchain.errors import PolicyViolation
from offchain.node.authorization import check_owner_secrets
from offchain.node.jobspec import InputTerms, JobDescription
from offchain.programs.base import DatasetInfo, InputPlan, OwnerSecret, Plan, SharedArray
from offchain.vocabulary import JobKind

A, B, C, D = (to_checksum_address(f"0x{i:040x}") for i in (0xA, 0xB, 0xC, 0xD))
SCHEMA = Schema.of([("id", "int64")])


def _plan() -> Plan:
    inputs = tuple(InputPlan(DatasetInfo(i + 1, owner, f"m{i}", "t", SCHEMA, 5, b"\0" * 32), ("id",), "",
                             (SharedArray("tags", "integer", 5),)) for i, owner in enumerate((B, C)))
    return Plan("sql", JobKind.QUERY, "{}", inputs, (), (), owner_secrets=(OwnerSecret("join0", (0, 1), "tag key"),))


def _job(nodes: tuple[str, str, str]) -> JobDescription:
    return JobDescription(
        job_id=5, block_number=1, transaction_hash="", requester=D, kind=JobKind.QUERY, program_hash=b"\0" * 32,
        program="{}", inputs=(), compute_nodes=nodes, recipient=D, deadline=0, fee_cap=0, subject=bytes(32),
        purpose=bytes(32), params_hash=bytes(32),
        input_terms=(InputTerms(B, 1, 5, 0, 0), InputTerms(C, 1, 5, 0, 0)), node_prices=(0, 0, 0),
    )


def test_party_0_owning_a_joined_input_is_refused() -> None:
    with pytest.raises(PolicyViolation, match="compute party 0 .* owns an input of owner secret join0"):
        check_owner_secrets(_plan(), _job((B, A, C)))
    check_owner_secrets(_plan(), _job((A, B, C)))  # an owner at another party is fine
