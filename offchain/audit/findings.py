"""What the audit reports: typed findings and the catalogue of checks that produce them.

A :class:`Finding` says what is wrong or noteworthy, how bad it is, and where
on the chain it happened (job, block, transaction, member, dataset). Its
``check`` names the check that produced it, from :data:`CHECKS`.

Severities:

=========  =================================================================
error      a check failed: the chain's record is inconsistent, a rule was
           broken, or the contracts' views disagree with the events. The
           ``unseen audit`` command exits with status 3.
warning    an anomaly a regulator must look at, although the system behaved
           as designed: a dispute, an expiry, a suspended member, a frozen
           dataset, compute nodes whose transcripts differ.
info       context: declines, resolutions, reinstatements.
=========  =================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How much a finding matters; ``ERROR`` fails the audit."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    """One result of a check, located on the chain."""

    severity: Severity
    check: str
    message: str
    job_id: int | None = None
    block: int | None = None
    transaction: str | None = None
    timestamp: int | None = None
    member: str | None = None
    dataset_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["severity"] = self.severity.value
        return record

    @property
    def sort_key(self) -> tuple[int, int, int, str]:
        return (self.block if self.block is not None else -1, self.job_id or 0, self.severity.rank, self.check)


@dataclass(frozen=True)
class Check:
    """A check the audit runs: its name, what it verifies, and whether it is per job."""

    name: str
    description: str
    per_job: bool


#: Every check, in report order.
CHECKS: tuple[Check, ...] = (
    Check("events-consistent", "every event fits the state rebuilt from the events before it", False),
    Check("request-authorised", "each request passed every policy rule as it stood at its block: requester, "
          "recipient and nodes active; datasets known, active, unfrozen, owners active; an applicable grant, "
          "unexpired, allowing the kind; column levels permitted; program approved; consent held", True),
    Check("grant-quota", "each request counted one use against exactly the grants that applied, and no grant "
          "was used beyond its quota", True),
    Check("request-priced", "each request quoted its terms at the catalog's and members' prices of its block, "
          "its fee cap covers the maximum fee, and the escrow equals the fee cap", True),
    Check("lifecycle", "each job moved only along the Jobs state machine: acceptances, commitments before "
          "the deadline, expiry after it, finalize by the requester or after the confirmation window, "
          "disputes by involved members", True),
    Check("acted-while-active", "every restricted action was taken by an account that held the required "
          "status or role at that moment", False),
    Check("commitments-complete", "committed and finalized jobs hold every input and result commitment, "
          "rows used within the row limit", True),
    Check("transcripts-agree", "the three compute nodes of a job committed the same session transcript hash",
          True),
    Check("payout-matches-metering", "every settlement pays each owner price per job + price per row × rows "
          "used and each node its compute price, for committed work only, and refunds the rest", True),
    Check("settlement", "every ended job settled its escrow exactly once, the way its ending requires", True),
    Check("balances", "no balance ever went negative, and credits issued − redeemed = Σ balances + Σ open "
          "escrows", False),
    Check("commitment-digest", "each job's commitment digest folded from its InputCommitted and "
          "ResultCommitted events equals Jobs.commitmentDigest: every input fingerprint, result commitment "
          "and transcript hash in the events is the one the contract bound", True),
    Check("views-agree", "the state rebuilt from events equals the contracts' views at the audited block, "
          "including every job's commitment digest", False),
    Check("result-evidence", "(on demand: `unseen audit verify-job --evidence`) each node's published result "
          "payload and nonce hash to its commitment, and the replicated share components agree", True),
    Check("anomalies", "disputes, expiries, declines, suspensions, removals and frozen datasets", False),
)

CHECK_NAMES = frozenset(check.name for check in CHECKS)
