"""A consortium with a realistic history for the audit tests, driven through the chain client.

The example consortium (``deploy/consortium.example.toml``: admin anvil:0,
Northbank anvil:1, Eastern Mutual anvil:2, St. Clare anvil:3, Westland
anvil:4, regulator anvil:9) is deployed fresh, then :func:`build_history`
plays the story every audit test reads:

====  =====================================================================
job   what happens
====  =====================================================================
1     Northbank queries claims (Eastern Mutual) ⋈ visits (St. Clare) on
      nodes Eastern Mutual, St. Clare, Westland; finalized and paid
2     the same, statistics; nobody commits; expired after its deadline
3     runs to Committed; Northbank disputes naming Westland; the regulator
      refunds the requester
4     runs; disputed by St. Clare while Running (no suspect); the
      regulator pays the committed work
5     Westland declines
6     runs to the end, but Westland commits a different session transcript;
      finalized and paid
7     requested with Westland as node; the regulator suspends Westland
      before it accepts; left Requested (later overdue)
====  =====================================================================

Then the regulator freezes ``visits``. Jobs' input fingerprints, result
commitments and transcripts are deterministic hashes of the job and party,
except job 6 node 2's transcript.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eth_utils import keccak

from offchain.chain.anvil import development_key
from offchain.chain.client import ZERO_ADDRESS, ChainClient, JobInput, JobRequest
from offchain.chain.config import ConsortiumConfig
from offchain.chain.deploy import run_deployment
from offchain.chain.deployment import Deployment
from offchain.chain.models import ConstraintLevel, JobKind
from offchain.chain.rpc import Rpc, to_int
from offchain.chain.signer import Signer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "deploy" / "consortium.example.toml"

ADMIN, NORTHBANK, EASTERN, ST_CLARE, WESTLAND, REGULATOR = 0, 1, 2, 3, 4, 9
CLAIMS_ROWS, VISITS_ROWS = 1_000, 400


@dataclass
class Consortium:
    """A deployed example consortium and a signing client per account index."""

    rpc: Rpc
    deployment: Deployment
    deployment_file: Path
    clients: dict[int, ChainClient]
    claims: int = 0
    visits: int = 0

    def client(self, index: int) -> ChainClient:
        if index not in self.clients:
            self.clients[index] = ChainClient(self.rpc, self.deployment, Signer(self.rpc, development_key(index)))
        return self.clients[index]

    def address(self, index: int) -> str:
        return self.client(index).address

    def now(self) -> int:
        return to_int(self.rpc.request("eth_getBlockByNumber", "latest", False)["timestamp"])

    def advance(self, seconds: int) -> None:
        self.rpc.request("evm_mine", self.now() + seconds)

    def query_request(self, *, kind: JobKind = JobKind.QUERY, nodes: tuple[int, ...] = (EASTERN, ST_CLARE, WESTLAND),
                      deadline_in: int = 3_600, tag: str = "join", visits: bool = True) -> JobRequest:
        inputs = [JobInput(self.claims, (0, 1), (ConstraintLevel.PLAINTEXT_AFTER_JOIN,
                                                 ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE))]
        if visits:
            inputs.append(JobInput(self.visits, (0,), (ConstraintLevel.PLAINTEXT_AFTER_JOIN,)))
        request = JobRequest(
            kind=kind, program_hash=keccak(text=f"program-{tag}"), program=f'{{"program":"{tag}"}}',
            inputs=tuple(inputs),
            compute_nodes=tuple(self.address(n) for n in nodes), result_recipient=self.address(NORTHBANK),
            deadline=self.now() + deadline_in, fee_cap=0)
        fee = self.client(NORTHBANK).jobs.quote(self.address(NORTHBANK), request)
        return JobRequest(**{**request.__dict__, "fee_cap": fee})

    def request(self, request: JobRequest) -> int:
        requester = self.client(NORTHBANK)
        receipt = requester.jobs.request(request).transact()
        return next(e.args["jobId"] for e in requester.events(receipt) if e.name == "JobRequested")

    def commit_inputs(self, job_id: int, rows: tuple[int, int] = (800, 300), count: int = 2) -> None:
        self.client(EASTERN).jobs.commit_input(job_id, 0, keccak(text=f"claims-{job_id}"), rows[0]).transact()
        if count > 1:
            self.client(ST_CLARE).jobs.commit_input(job_id, 1, keccak(text=f"visits-{job_id}"), rows[1]).transact()

    def commit_results(self, job_id: int, transcripts: dict[int, bytes] | None = None,
                       nodes: tuple[int, ...] = (EASTERN, ST_CLARE, WESTLAND)) -> None:
        transcripts = transcripts or {}
        for position, node in enumerate(nodes):
            transcript = transcripts.get(position, keccak(text=f"transcript-{job_id}"))
            self.client(node).jobs.commit_result(job_id, result_commitment(job_id, position), transcript).transact()

    def run_job(self, request: JobRequest, *, finalize: bool = True,
                transcripts: dict[int, bytes] | None = None) -> int:
        job_id = self.request(request)
        self.commit_inputs(job_id, count=len(request.inputs))
        owners = {EASTERN, ST_CLARE} if len(request.inputs) > 1 else {EASTERN}
        for node in (ST_CLARE, WESTLAND):
            if node not in owners:
                self.client(node).jobs.accept(job_id).transact()
        self.commit_results(job_id, transcripts)
        if finalize:
            self.client(NORTHBANK).jobs.finalize(job_id).transact()
        return job_id


def result_commitment(job_id: int, position: int) -> bytes:
    return keccak(text=f"result-{job_id}-{position}")


def deploy_consortium(rpc: Rpc, deployment_file: Path) -> Consortium:
    """Deploy the example consortium, register two datasets, set grants and levels."""
    config = ConsortiumConfig.load(EXAMPLE_CONFIG)
    deployment = run_deployment(config, rpc.url, deployment_file, fresh=True).deployment
    world = Consortium(rpc, deployment, deployment_file, {})
    eastern, st_clare = world.client(EASTERN), world.client(ST_CLARE)
    receipt = eastern.catalog.register("claims", ["claim_id", "amount", "region"], ["int64", "float64", "string"],
                                       CLAIMS_ROWS, keccak(text="claims-v1"), 100, 2).transact()
    world.claims = next(e.args["datasetId"] for e in eastern.events(receipt) if e.name == "DatasetRegistered")
    receipt = st_clare.catalog.register("visits", ["patient_id", "cost"], ["int64", "float64"], VISITS_ROWS,
                                        keccak(text="visits-v1"), 50, 1).transact()
    world.visits = next(e.args["datasetId"] for e in st_clare.events(receipt) if e.name == "DatasetRegistered")
    expiry = world.now() + 365 * 86_400
    northbank = world.address(NORTHBANK)
    eastern.transact_all([
        eastern.access_policy.set_grant(world.claims, northbank, expiry, 10, [JobKind.QUERY, JobKind.STATISTICS]),
        eastern.access_policy.set_column_levels(world.claims, northbank, [0, 1], [
            ConstraintLevel.PLAINTEXT_AFTER_JOIN, ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE]),
    ])
    st_clare.transact_all([
        st_clare.access_policy.set_grant(world.visits, ZERO_ADDRESS, expiry, 0, [JobKind.QUERY, JobKind.STATISTICS]),
        st_clare.access_policy.set_column_levels(world.visits, ZERO_ADDRESS, [0],
                                                 [ConstraintLevel.PLAINTEXT_AFTER_JOIN]),
    ])
    eastern.catalog.publish_version(world.claims, keccak(text="claims-v2"), CLAIMS_ROWS).transact()
    return world


@dataclass(frozen=True)
class History:
    """The job ids of :func:`build_history`'s story."""

    finalized: int
    expired: int
    disputed_refunded: int
    disputed_paid: int
    declined: int
    transcript_mismatch: int
    suspended_in_flight: int


def build_history(world: Consortium, progress: Callable[[str], None] = lambda _: None) -> History:
    """Play the story of the module docstring."""
    finalized = world.run_job(world.query_request())
    progress("job 1 finalized")

    expired = world.request(world.query_request(kind=JobKind.STATISTICS, deadline_in=600, tag="stats"))
    world.client(WESTLAND).jobs.accept(expired).transact()
    world.advance(601)
    world.client(REGULATOR).jobs.expire(expired).transact()

    disputed_refunded = world.run_job(world.query_request(), finalize=False)
    world.client(NORTHBANK).jobs.dispute(disputed_refunded, world.address(WESTLAND),
                                         keccak(text="evidence-3")).transact()
    world.client(REGULATOR).jobs.resolve_dispute(disputed_refunded, True).transact()

    disputed_paid = world.request(world.query_request())
    world.commit_inputs(disputed_paid)
    world.client(WESTLAND).jobs.accept(disputed_paid).transact()
    world.client(EASTERN).jobs.commit_result(disputed_paid, result_commitment(disputed_paid, 0),
                                             keccak(text=f"transcript-{disputed_paid}")).transact()
    world.client(ST_CLARE).jobs.dispute(disputed_paid, ZERO_ADDRESS, keccak(text="evidence-4")).transact()
    world.client(REGULATOR).jobs.resolve_dispute(disputed_paid, False).transact()

    declined = world.request(world.query_request())
    world.client(WESTLAND).jobs.decline(declined, "maintenance window").transact()

    transcript_mismatch = world.run_job(world.query_request(), transcripts={2: keccak(text="a different session")})

    suspended_in_flight = world.request(world.query_request(deadline_in=1_800))
    world.client(REGULATOR).consortium.suspend(world.address(WESTLAND), "node key compromised").transact()
    world.client(REGULATOR).catalog.freeze(world.visits, "consent audit pending").transact()
    progress("history built")
    return History(finalized, expired, disputed_refunded, disputed_paid, declined, transcript_mismatch,
                   suspended_in_flight)
