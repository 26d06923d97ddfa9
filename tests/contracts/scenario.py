"""The populated consortium the contract tests and the gas benchmark start from.

Accounts (anvil dev accounts): 0 admin, 1 regulator, 2 bank (requester),
3 insurer (owns ``claims``), 4 hospital (owns ``visits``), 5-7 compute nodes,
8 agency (a member with no role in the scenario), 9 outsider (never admitted).

Grants: the bank holds a grant on ``claims`` (5 uses, every kind) with its own
column levels; every member holds a grant on ``visits`` (unlimited uses,
STATISTICS and QUERY) with all-members column levels.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.anvil import AnvilNode
from tests.contracts.helpers import (
    AFTER_AGGREGATE,
    AFTER_GROUP_BY,
    AFTER_JOIN,
    ALL_KINDS,
    QUERY,
    STATISTICS,
    ZERO_ADDRESS,
    Deployment,
    h,
    job_input,
    job_request,
    schema_hash,
)

CLAIMS_COLUMNS = ["claim_id", "amount", "region", "approved"]
CLAIMS_TYPES = ["int64", "float64", "string", "bool"]
VISITS_COLUMNS = ["patient_id", "cost", "visit_date"]
VISITS_TYPES = ["int64", "float64", "date"]

CLAIMS_ROWS, CLAIMS_PRICE_PER_JOB, CLAIMS_PRICE_PER_ROW = 1_000, 100, 2
VISITS_ROWS, VISITS_PRICE_PER_JOB, VISITS_PRICE_PER_ROW = 500, 50, 1
NODE_PRICES = (30, 40, 50)
BANK_CREDITS = 1_000_000
MEMBER_CREDITS = 1_000
HORIZON = 30 * 86400
WINDOW = 3600


@dataclass
class World:
    """The populated consortium every test starts from."""

    anvil: AnvilNode
    d: Deployment
    admin: str
    regulator: str
    bank: str
    insurer: str
    hospital: str
    nodes: tuple[str, str, str]
    agency: str
    outsider: str
    claims: int
    visits: int

    @property
    def members(self) -> list[str]:
        return [self.bank, self.insurer, self.hospital, *self.nodes, self.agency]

    def now(self) -> int:
        return self.anvil.latest_timestamp()

    def query_request(self, **overrides) -> dict:
        """A valid QUERY over both datasets: bank asks, nodes compute, bank receives."""
        arguments = {
            "kind": QUERY,
            "inputs": [
                job_input(self.claims, [(0, AFTER_JOIN), (1, AFTER_AGGREGATE), (2, AFTER_GROUP_BY)]),
                job_input(self.visits, [(0, AFTER_JOIN), (1, AFTER_AGGREGATE)]),
            ],
            "nodes": list(self.nodes),
            "recipient": self.bank,
            "deadline": self.now() + 86400,
            "fee_cap": self.max_fee(),
            "program": "SELECT region, SUM(cost) FROM claims JOIN visits ON claim_id = patient_id GROUP BY region",
        }
        arguments.update(overrides)
        return job_request(**arguments)

    def max_fee(self) -> int:
        return (CLAIMS_PRICE_PER_JOB + CLAIMS_PRICE_PER_ROW * CLAIMS_ROWS
                + VISITS_PRICE_PER_JOB + VISITS_PRICE_PER_ROW * VISITS_ROWS + sum(NODE_PRICES))

    def request(self, request: dict | None = None, sender: str | None = None) -> tuple[int, dict]:
        """Send a job request; return (job id, receipt)."""
        receipt = self.d.send(self.d.jobs.functions.request(request or self.query_request()), sender or self.bank)
        job_id = self.d.jobs.functions.jobCount().call()
        return job_id, receipt

    def run_to_committed(self, job_id: int, rows_used: tuple[int, int] = (800, 400)) -> None:
        """Accept, commit both inputs and all three results."""
        jobs = self.d.jobs.functions
        for node in self.nodes:
            self.d.send(jobs.accept(job_id), node)
        self.d.send(jobs.commitInput(job_id, 0, h(f"claims-input-{job_id}"), rows_used[0]), self.insurer)
        self.d.send(jobs.commitInput(job_id, 1, h(f"visits-input-{job_id}"), rows_used[1]), self.hospital)
        for index, node in enumerate(self.nodes):
            self.d.send(jobs.commitResult(job_id, h(f"result-{job_id}-{index}"), h(f"transcript-{job_id}-{index}")),
                        node)


def build_world(anvil: AnvilNode, d: Deployment) -> World:
    """Admit the members, register both datasets, set grants and levels, issue credits."""
    accounts = [a.address for a in anvil.accounts]
    admin, regulator, bank, insurer, hospital = accounts[:5]
    nodes = (accounts[5], accounts[6], accounts[7])
    agency, outsider = accounts[8], accounts[9]
    consortium = d.consortium.functions
    d.send(consortium.grantRole(d.consortium.functions.REGULATOR_ROLE().call(), regulator), admin)
    roster = [(bank, "Bank", 0), (insurer, "Insurer", 0), (hospital, "Hospital", 0),
              (nodes[0], "Node One", NODE_PRICES[0]), (nodes[1], "Node Two", NODE_PRICES[1]),
              (nodes[2], "Node Three", NODE_PRICES[2]), (agency, "Agency", 0)]
    for index, (account, name, price) in enumerate(roster):
        d.send(consortium.admit(account, name, f"node{index}.example:7443", h(f"tls-{name}"), price), admin)
    d.send(d.billing.functions.issue(bank, BANK_CREDITS), admin)
    for account in [insurer, hospital, *nodes, agency]:
        d.send(d.billing.functions.issue(account, MEMBER_CREDITS), admin)

    catalog = d.catalog.functions
    d.send(catalog.register("claims", CLAIMS_COLUMNS, CLAIMS_TYPES, schema_hash(CLAIMS_COLUMNS, CLAIMS_TYPES),
                            CLAIMS_ROWS, h("claims-v1"), CLAIMS_PRICE_PER_JOB, CLAIMS_PRICE_PER_ROW), insurer)
    d.send(catalog.register("visits", VISITS_COLUMNS, VISITS_TYPES, schema_hash(VISITS_COLUMNS, VISITS_TYPES),
                            VISITS_ROWS, h("visits-v1"), VISITS_PRICE_PER_JOB, VISITS_PRICE_PER_ROW), hospital)
    claims, visits = 1, 2

    policy = d.policy.functions
    expiry = anvil.latest_timestamp() + 365 * 86400
    d.send(policy.setGrant(claims, bank, expiry, 5, ALL_KINDS), insurer)
    d.send(policy.setColumnLevels(claims, bank, [0, 1, 2], [AFTER_JOIN, AFTER_AGGREGATE, AFTER_GROUP_BY]), insurer)
    d.send(policy.setGrant(visits, ZERO_ADDRESS, expiry, 0, (1 << STATISTICS) | (1 << QUERY)), hospital)
    d.send(policy.setColumnLevels(visits, ZERO_ADDRESS, [0, 1], [AFTER_JOIN, AFTER_AGGREGATE]), hospital)
    return World(anvil, d, admin, regulator, bank, insurer, hospital, nodes, agency, outsider, claims, visits)
