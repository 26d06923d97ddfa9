"""Deploy Unseen to a chain in numbered, idempotent steps.

=====  ============  ==============================================================
step   name          does
=====  ============  ==============================================================
1      contracts     deploys Consortium, DataCatalog, AccessPolicy, Jobs, Billing
                     (addresses predicted from the deployer's nonces, so
                     constructors can take each other's addresses), grants
                     ``JOBS_ROLE`` to Jobs, sets the job timings
2      members       grants the regulator role, admits every member
3      credits       issues each member its initial credits
=====  ============  ==============================================================

The deployment file records which steps completed; running again against
the same chain verifies the code at the recorded addresses and runs only the
missing steps, so nothing is deployed or credited twice. Transactions of a
step go out in as few batches as their dependencies allow
(:meth:`Signer.transact_sequence`). ``deploy/0N_*.py`` run one step each;
``unseen deploy`` runs them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import rlp
from eth_utils import keccak, to_checksum_address

from offchain.chain import abi as abi_codec
from offchain.chain.artifacts import CONTRACT_NAMES, Artifact, load_all
from offchain.chain.client import ChainClient
from offchain.chain.config import ConsortiumConfig
from offchain.chain.deployment import Deployment, now_iso
from offchain.chain.keys import load_account
from offchain.chain.models import MemberStatus
from offchain.chain.rpc import Rpc, to_bytes, to_int
from offchain.chain.signer import Signer, TransactionRequest
from offchain.errors import ConfigError, DeploymentMismatch, DeploymentNotFound

STEPS: tuple[str, ...] = ("contracts", "members", "credits")

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class DeploymentReport:
    """What a deployment run did."""

    deployment: Deployment
    reused: bool
    steps_run: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    transactions: int = 0
    gas_used: int = 0


def predicted_address(sender: str, nonce: int) -> str:
    """Return the address of the contract ``sender`` creates with ``nonce`` (CREATE)."""
    encoded = rlp.encode([bytes.fromhex(sender[2:]), nonce])
    return to_checksum_address(keccak(encoded)[12:])


def _constructor_arguments(artifact: Artifact, addresses: dict[str, str], admin: str,
                           config: ConsortiumConfig) -> list[Any]:
    """Fill a constructor's parameters by name: contract addresses, admin, timings."""
    by_name: dict[str, Any] = {
        "consortium": addresses["Consortium"],
        "catalog": addresses["DataCatalog"],
        "datacatalog": addresses["DataCatalog"],
        "policy": addresses["AccessPolicy"],
        "accesspolicy": addresses["AccessPolicy"],
        "jobs": addresses["Jobs"],
        "billing": addresses["Billing"],
        "admin": admin,
        "initialadmin": admin,
        "maxdeadlinehorizon": config.chain.max_job_horizon,
        "initialmaxdeadlinehorizon": config.chain.max_job_horizon,
        "confirmationwindow": config.chain.confirmation_window,
        "initialconfirmationwindow": config.chain.confirmation_window,
    }
    constructor = next(iter(artifact.elements("constructor")), {"inputs": []})
    values = []
    for parameter in constructor["inputs"]:
        key = parameter["name"].lstrip("_").lower()
        if key not in by_name:
            raise ConfigError(
                f"{artifact.name}'s constructor takes {parameter['type']} {parameter['name']}, "
                "which the deployer does not know how to fill; extend "
                "offchain/chain/deploy.py:_constructor_arguments"
            )
        values.append(by_name[key])
    return values


def deploy_contracts(rpc: Rpc, signer: Signer, config: ConsortiumConfig,
                     progress: Progress = _quiet) -> tuple[Deployment, int, int]:
    """Step 1: deploy and wire the five contracts; return (deployment, transactions, gas)."""
    artifacts = load_all()
    first_nonce = signer.resync()
    addresses = {name: predicted_address(signer.address, first_nonce + index)
                 for index, name in enumerate(CONTRACT_NAMES)}
    creations = []
    for name in CONTRACT_NAMES:
        artifact = artifacts[name]
        if not artifact.bytecode:
            raise ConfigError(f"{name} has no bytecode in build/contracts (is it abstract?)")
        constructor = next(iter(artifact.elements("constructor")), {"inputs": []})
        arguments = _constructor_arguments(artifact, addresses, signer.address, config)
        data = artifact.bytecode + abi_codec.encode_arguments(constructor["inputs"], arguments)
        creations.append(TransactionRequest(to=None, data=data, description=f"deploy {name}"))
    progress(f"deploying {', '.join(CONTRACT_NAMES)} from {signer.address}")
    receipts = signer.transact_sequence(creations)
    for name, receipt in zip(CONTRACT_NAMES, receipts, strict=True):
        if to_checksum_address(receipt.contract_address or "0x" + "00" * 20) != addresses[name]:
            raise DeploymentMismatch(
                f"{name} was created at {receipt.contract_address}, not at the predicted "
                f"{addresses[name]}: another transaction from {signer.address} interleaved; "
                "deploy again with --fresh"
            )
    deploy_block = min(receipt.block_number for receipt in receipts)
    codes = rpc.batch([("eth_getCode", [addresses[name], "latest"]) for name in CONTRACT_NAMES])
    chain_id = signer.chain_id or to_int(rpc.request("eth_chainId"))
    deployment = Deployment(
        chain_id=chain_id,
        rpc_url=rpc.url,
        deployer=signer.address,
        deploy_block=deploy_block,
        contracts=addresses,
        code_hashes={name: "0x" + keccak(to_bytes(code)).hex()
                     for name, code in zip(CONTRACT_NAMES, codes, strict=True)},
        created_at=now_iso(),
        steps=[],
    )
    client = ChainClient(rpc, deployment, signer, artifacts)
    wiring = _wiring(client, config)
    progress(f"wiring roles and timings ({len(wiring)} transactions)")
    wiring_receipts = signer.transact_sequence([w.request for w in wiring]) if wiring else []
    all_receipts = [*receipts, *wiring_receipts]
    return deployment, len(all_receipts), sum(r.gas_used for r in all_receipts)


def _wiring(client: ChainClient, config: ConsortiumConfig) -> list[Any]:
    """Role grants and settings that connect the contracts, skipping those already in place."""
    transactions = []
    jobs_role = client.consortium.role("JOBS_ROLE")
    if not client.consortium.has_role(jobs_role, client.jobs.address):
        transactions.append(client.consortium.grant_role(jobs_role, client.jobs.address))
    horizon, window = client.jobs.timings()
    wanted = (config.chain.max_job_horizon, config.chain.confirmation_window)
    if (horizon, window) != wanted:
        transactions.append(client.jobs.set_timings(*wanted))
    return transactions


def admit_members(client: ChainClient, config: ConsortiumConfig,
                  progress: Progress = _quiet) -> tuple[list[str], int, int]:
    """Step 2: grant the regulator role and admit the members not yet admitted."""
    transactions = []
    actions = []
    if config.regulator is not None:
        role = client.consortium.role("REGULATOR_ROLE")
        if not client.consortium.has_role(role, config.regulator.address):
            transactions.append(client.consortium.grant_role(role, config.regulator.address))
            actions.append(f"regulator {config.regulator.name} ({config.regulator.address})")
    statuses = client.call_many([
        (client.consortium.handle, "memberStatus", (member.address,)) for member in config.members
    ])
    for member, status in zip(config.members, statuses, strict=True):
        status = MemberStatus(status)
        if status is MemberStatus.NONE:
            transactions.append(client.consortium.admit(
                member.address, member.name, member.endpoint,
                member.fingerprint_or_provisional(), member.compute_price,
            ))
            actions.append(f"admitted {member.name} ({member.address})")
        elif status is not MemberStatus.ACTIVE:
            actions.append(f"left {member.name} ({member.address}) as it is: {status.name}")
    if transactions:
        progress(f"admitting {len(transactions)} members and roles")
        receipts = client.signer.transact_sequence([t.request for t in transactions])  # type: ignore[union-attr]
        return actions, len(receipts), sum(r.gas_used for r in receipts)
    return actions, 0, 0


def issue_credits(client: ChainClient, config: ConsortiumConfig,
                  progress: Progress = _quiet) -> tuple[list[str], int, int]:
    """Step 3: issue each member its initial credits (run once per deployment)."""
    transactions = [client.billing.issue(member.address, member.credits)
                    for member in config.members if member.credits > 0]
    actions = [f"issued {member.credits:,} credits to {member.name}"
               for member in config.members if member.credits > 0]
    if not transactions:
        return actions, 0, 0
    progress(f"issuing credits to {len(transactions)} members")
    receipts = client.transact_all(transactions)
    return actions, len(receipts), sum(r.gas_used for r in receipts)


def run_deployment(config: ConsortiumConfig, rpc_url: str, deployment_file: Path, *,
                   fresh: bool = False, only: Sequence[str] | None = None,
                   progress: Progress = _quiet) -> DeploymentReport:
    """Run the deployment steps (all, or ``only`` those named) against ``rpc_url``.

    Reuses the deployment in ``deployment_file`` when it belongs to this chain
    and verifies, unless ``fresh``; runs only the steps it has not completed.
    """
    steps = list(only) if only else list(STEPS)
    unknown = [step for step in steps if step not in STEPS]
    if unknown:
        raise ConfigError(f"unknown deployment steps {unknown}; the steps are {list(STEPS)}")
    rpc = Rpc(rpc_url)
    admin = load_account(config.admin_key)
    signer = Signer(rpc, admin)
    chain_id = to_int(rpc.request("eth_chainId"))
    if config.chain.chain_id is not None and config.chain.chain_id != chain_id:
        raise ConfigError(
            f"{config.source} expects chain id {config.chain.chain_id} but {rpc_url} is chain "
            f"{chain_id}; fix [chain] chain_id or the RPC URL"
        )

    existing: Deployment | None = None
    if not fresh:
        try:
            existing = Deployment.load(deployment_file)
        except DeploymentNotFound:
            existing = None
    if existing is not None and existing.chain_id != chain_id:
        raise DeploymentMismatch(
            f"{deployment_file} describes chain {existing.chain_id}, but {rpc_url} is chain "
            f"{chain_id}; use another --deployment path for this chain, or --fresh to replace it"
        )
    if existing is not None:
        existing.verify(rpc)
        if existing.deployer != admin.address:
            raise ConfigError(
                f"{deployment_file} was deployed by {existing.deployer}, but [admin] key is "
                f"{admin.address}; use the admin key of that deployment"
            )

    report = DeploymentReport(deployment=existing, reused=existing is not None)  # type: ignore[arg-type]
    deployment = existing
    if deployment is None:
        if "contracts" not in steps:
            raise DeploymentNotFound(
                f"no deployment at {deployment_file}: run step 'contracts' first"
            )
        deployment, count, gas = deploy_contracts(rpc, signer, config, progress)
        deployment = replace(deployment, rpc_url=rpc_url, steps=["contracts"])
        deployment.save(deployment_file)
        report.steps_run.append("contracts")
        report.actions.append(
            f"deployed {len(CONTRACT_NAMES)} contracts at block {deployment.deploy_block}"
        )
        report.transactions += count
        report.gas_used += gas
    client = ChainClient(rpc, deployment, signer)
    for step, run in (("members", admit_members), ("credits", issue_credits)):
        if step not in steps or step in deployment.steps:
            continue
        actions, count, gas = run(client, config, progress)
        deployment = replace(deployment, steps=[*deployment.steps, step])
        deployment.save(deployment_file)
        report.steps_run.append(step)
        report.actions += actions
        report.transactions += count
        report.gas_used += gas
    report.deployment = deployment
    return report
