"""The node's check of a job before it touches any data.

A node never trusts that a job is allowed because the chain accepted its
request: the request was checked at request time, by a contract, against
what the requester *declared*. Before reading a row, each node

1. finds the program by name in the explicit registry, checks the program
   hash against the text, and re-derives the plan with the chain catalog as
   of the request's block;
2. compares the derived column uses with the declared ones, exactly
   (:func:`~offchain.node.jobspec.check_plan_matches`), and checks that a
   ``requester`` named in the text is the job's requester;
3. re-checks *now* what the contract checked then (the rules of
   ``AccessPolicy``, mirrored in :func:`check_policy_now`): requester and
   recipient active, every dataset active and not frozen with an active
   owner, the applicable grant present, unexpired and allowing the kind,
   every column's level permitting its use for whoever sees the result, the
   program approved where the kind needs it, consent where it needs it, and
   every compute node active.

Grant *uses* are not re-checked: the request itself consumed one, so a grant
with one use left at request time reads as exhausted now, rightly.

Any failure raises :class:`~offchain.errors.PolicyViolation` (or
``InputError`` for a malformed program) whose message becomes the reason
recorded on chain with ``decline``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_utils import to_checksum_address

from offchain.chain.client import ZERO_ADDRESS, ChainClient
from offchain.chain.models import MemberStatus
from offchain.chain.rpc import to_int
from offchain.errors import PolicyViolation
from offchain.node.catalog import ChainCatalog
from offchain.node.jobspec import JobDescription, check_plan_matches
from offchain.programs import registry
from offchain.programs.base import JobProgram, Plan, parse_program_text
from offchain.vocabulary import ConstraintLevel, JobKind

#: Kinds whose program must be approved by each input owner (AccessPolicy's rule).
KINDS_NEEDING_APPROVAL = (JobKind.SCRIPT, JobKind.PUBLISH, JobKind.MODEL_PREDICT)


@dataclass(frozen=True)
class Authorized:
    """A job that passed every check: its program and the plan every role follows."""

    job: JobDescription
    program: JobProgram
    plan: Plan


def derive_plan(client: ChainClient, job: JobDescription) -> tuple[JobProgram, Plan]:
    """Find the job's program and re-derive its plan at the request's block; compare it."""
    name, _, parameters = parse_program_text(job.program)
    program = registry.get(name)
    catalog = ChainCatalog(client, block=job.block_number)
    plan = program.plan(job.program, catalog)
    check_plan_matches(plan, job, program)
    named = parameters.get("requester")
    if named is not None:
        requester_name = catalog.member_name(job.requester)
        if str(named).lower() not in (job.requester.lower(), requester_name.lower()):
            raise PolicyViolation(
                f"job {job.job_id}: the program text names requester {named!r}, but the job was "
                f"requested by {requester_name} ({job.requester})"
            )
    return program, plan


def authorize(client: ChainClient, job: JobDescription) -> Authorized:
    """Run every check of this module; return the program and plan, or raise."""
    program, plan = derive_plan(client, job)
    check_owner_secrets(plan, job)
    check_policy_now(client, job)
    return Authorized(job, program, plan)


def check_owner_secrets(plan: Plan, job: JobDescription) -> None:
    """Refuse a job whose compute party 0 would hold one of its owner secrets.

    Owner secrets key what compute party 0 sees in the clear (the SQL
    program's join tags: the matcher learns their equality pattern); a matcher
    that also owns one of the secret's inputs knows the key and could test
    guesses of the other owner's join keys. The requester's default choice of
    nodes puts a member owning no such input at party 0.
    """
    matcher = job.compute_nodes[0]
    for secret in plan.owner_secrets:
        owners = {job.input_terms[index].owner for index in secret.inputs}
        if matcher in owners:
            raise PolicyViolation(
                f"job {job.job_id}: compute party 0 ({matcher}) owns an input of owner secret {secret.name} "
                f"({secret.purpose}); party 0 must be a member owning none of inputs {list(secret.inputs)}"
            )


def chain_time(client: ChainClient) -> int:
    """The time the next block will carry, as near as the node can tell.

    A chain that mines on demand (anvil) keeps the last block's timestamp
    until the next transaction, so the wall clock is the better guide when
    it is ahead.
    """
    block = client.rpc.request("eth_getBlockByNumber", "latest", False)
    return max(to_int(block["timestamp"]), int(time.time()))


def check_policy_now(client: ChainClient, job: JobDescription) -> None:
    """Re-check the request against the current policy (see the module docstring)."""
    requester, recipient = job.requester, job.recipient
    now = chain_time(client)
    consortium, catalog, policy = (client.handles[n] for n in ("Consortium", "DataCatalog", "AccessPolicy"))

    people = [requester, recipient, *job.compute_nodes]
    datasets = [item.dataset_id for item in job.inputs]
    answers = client.call_many(
        [(consortium, "memberStatus", (who,)) for who in people]
        + [(catalog, "dataset", (dataset_id,)) for dataset_id in datasets]
    )
    statuses = dict(zip(people, (MemberStatus(s) for s in answers[: len(people)]), strict=False))
    records = answers[len(people):]

    def name(address: str) -> str:
        return client.label_address(address) or address

    if statuses[requester] is not MemberStatus.ACTIVE:
        raise PolicyViolation(f"requester {name(requester)} is {statuses[requester].name.lower()}")
    if statuses[recipient] is not MemberStatus.ACTIVE:
        raise PolicyViolation(f"result recipient {name(recipient)} is {statuses[recipient].name.lower()}")
    for node in job.compute_nodes:
        if statuses[node] is not MemberStatus.ACTIVE:
            raise PolicyViolation(f"compute node {name(node)} is {statuses[node].name.lower()}")

    owners = [to_checksum_address(record["owner"]) for record in records]
    owner_statuses = client.call_many([(consortium, "memberStatus", (owner,)) for owner in owners])
    for item, record, owner, status in zip(job.inputs, records, owners, owner_statuses, strict=True):
        label = f"dataset {item.dataset_id} ({name(owner)}.{record['name']})"
        if not record["active"]:
            raise PolicyViolation(f"{label} was deactivated by its owner")
        if record["frozen"]:
            raise PolicyViolation(f"{label} is frozen by the regulator")
        if MemberStatus(status) is not MemberStatus.ACTIVE:
            raise PolicyViolation(f"{label}: its owner is {MemberStatus(status).name.lower()}")

    # Grants, levels, approvals and consent: one batch for every input.
    calls, slots = [], []
    for index, (item, owner) in enumerate(zip(job.inputs, owners, strict=True)):
        if requester != owner:
            calls += [(policy, "grant", (item.dataset_id, requester)),
                      (policy, "grant", (item.dataset_id, ZERO_ADDRESS))]
            slots += [("grant", index, requester), ("grant", index, ZERO_ADDRESS)]
        for party in {requester, recipient} - {owner}:
            for column in item.columns:
                calls.append((policy, "effectiveLevel", (item.dataset_id, column, party)))
                slots.append(("level", index, (party, column)))
        if job.kind in KINDS_NEEDING_APPROVAL and requester != owner:
            calls.append((policy, "isProgramApproved", (item.dataset_id, job.program_hash)))
            slots.append(("approved", index, None))
        if job.kind is JobKind.PUBLISH:
            calls.append((policy, "consent", (item.dataset_id, job.subject, job.purpose)))
            slots.append(("consent", index, None))
    answers = client.call_many(calls) if calls else []
    found: dict[tuple[str, int, object], object] = {
        (kind, index, key): answer for (kind, index, key), answer in zip(slots, answers, strict=True)
    }
    for index, (item, owner) in enumerate(zip(job.inputs, owners, strict=True)):
        label = f"dataset {item.dataset_id}"
        if requester != owner:
            _check_grant(label, job, found[("grant", index, requester)],
                         found[("grant", index, ZERO_ADDRESS)], now, name)
        for party in {requester, recipient} - {owner}:
            for column, required in zip(item.columns, item.levels, strict=True):
                granted = ConstraintLevel(found[("level", index, (party, column))])
                if not granted.permits(required):
                    raise PolicyViolation(
                        f"{label} column {column}: {name(party)} now holds level {granted.name}, "
                        f"which does not permit the declared use {required.name}"
                    )
        if ("approved", index, None) in found and not found[("approved", index, None)]:
            raise PolicyViolation(
                f"{label}: program 0x{job.program_hash.hex()} is not (or no longer) approved by its owner"
            )
        if ("consent", index, None) in found:
            consent = found[("consent", index, None)]
            if not consent["recorded"] or consent["revoked"] or now > consent["expiry"]:
                state = ("missing" if not consent["recorded"] else
                         "revoked" if consent["revoked"] else "expired")
                raise PolicyViolation(f"{label}: the data subject's consent for this purpose is {state}")


def _check_grant(label: str, job: JobDescription, own: dict, everyone: dict, now: int, name) -> None:
    grant, grantee = (own, job.requester) if own["active"] else (everyone, "all members")
    if not grant["active"]:
        raise PolicyViolation(f"{label}: {name(job.requester)} holds no grant (revoked or never given)")
    who = grantee if grantee == "all members" else name(grantee)
    if now > grant["expiry"]:
        raise PolicyViolation(
            f"{label}: the grant of {who} expired at {grant['expiry']} (now {now})"
        )
    if not grant["allowedKinds"] & (1 << int(job.kind)):
        raise PolicyViolation(f"{label}: the grant of {who} does not allow {job.kind.name} jobs")
