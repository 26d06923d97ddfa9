"""The demo's scenarios beyond statistics and the multi-lending check, one function each.

Every function offers the data it needs (generated, imported into the
owners' DuckDB, registered, governed), runs the jobs **through the chain and
the member nodes' processes** as the requester, prints each secure result
next to the answer computed in the clear from the same files, the fees and
the audit trail, and records whether they agree (``demo.check``):

* :func:`sql_join` — a secure SQL query joining two lenders' applications
  on the private applicant id;
* :func:`secure_model` — a lender and an e-commerce member train a
  credit-risk logistic regression on columns split between them (rows
  aligned by a private join), the owners approve the model, and the lender
  scores new applicants: only it gets the scores;
* :func:`secure_publishing` — patients consent, claims are filed, the
  hospital's node evaluates the insurer's approved rules, the insurer gets
  only the decision and the amount (``claim_settlement_scenario``);
* :func:`secure_script` — a joint risk score over three members' columns,
  approved by every owner;
* :func:`regulator_audit` — the regulator rebuilds everything from the
  chain (``offchain.audit``): the summary, every check, the anomalies.

The member names are parameters, so the same functions run on any local
consortium (the demo's, or the end-to-end tests').
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.markup import escape

from offchain.client.datasets import register_dataset
from offchain.client.grants import set_policy
from offchain.client.publishing import chain_now
from offchain.demo.consortium import directory_name
from offchain.demo.data import credit_population, plaintext, shared_customers, write_parquet
from offchain.vocabulary import ConstraintLevel, JobKind

if TYPE_CHECKING:
    from offchain.demo.scenario import Demo

JOIN = ConstraintLevel.PLAINTEXT_AFTER_JOIN
AGGREGATE = ConstraintLevel.PLAINTEXT_AFTER_AGGREGATE
COMPARE = ConstraintLevel.PLAINTEXT_AFTER_COMPARE
GRANT_DAYS = 30


def _offer(demo: Demo, owner: str, table: str, columns: dict[str, np.ndarray], *, price: int = 10) -> Path:
    """Write ``columns`` as Parquet, import them into ``owner``'s DuckDB and register the dataset."""
    path = write_parquet(columns, demo.directory / "data" / directory_name(owner) / f"{table}.parquet")
    config = demo.consortium.node_config(owner)
    done = register_dataset(demo.consortium.client(owner), config.duckdb_path, config.state_database, table,
                            source=path, price_per_job=price)
    demo.say(f"{owner}.{table}: dataset {done.dataset_id}, {done.row_count:,} rows, fingerprint "
             f"0x{done.fingerprint.hex()[:12]}…")
    return path


def _govern(demo: Demo, owner: str, table: str, grantee: str, levels: dict[str, ConstraintLevel],
            kinds: tuple[JobKind, ...]) -> None:
    client = demo.consortium.client(owner)
    set_policy(client, f"{owner}.{table}", grantee, levels=levels, expiry=chain_now(client) + GRANT_DAYS * 86_400,
               kinds=kinds)


# -- secure SQL ---------------------------------------------------------------------------------------


def sql_join(demo: Demo, asker: str, first: str, second: str) -> None:
    """``asker`` counts the applicants who applied at both ``first`` and ``second``, joining on their ids."""
    from offchain.sql.program import query_program_text

    demo.step(f"secure SQL: {asker} joins {first}'s and {second}'s applications on the private applicant id")
    for owner in (first, second):
        set_policy(demo.consortium.client(owner), f"{owner}.applications", asker,
                   levels={"applicant_id": AGGREGATE, "amount": AGGREGATE})
    demo.say(f"{first} and {second} let {asker} aggregate applicant_id and amount (joins whose rows are never "
             "revealed, aggregates only)")
    sql = (f'SELECT COUNT(*) AS pairs, SUM(f.amount) AS asked_first, AVG(s.amount) AS mean_asked_second '
           f'FROM "{first}".applications f JOIN "{second}".applications s ON f.applicant_id = s.applicant_id')
    demo.say(escape(sql))
    requester = demo.consortium.requester(asker)
    outcome = demo.run_job(requester, query_program_text(sql, requester.address))
    (row,) = outcome.result.rows
    files = {"f": demo.files[first]["applications"], "s": demo.files[second]["applications"]}
    (pairs, asked_first, mean_second), = plaintext(
        "SELECT count(*), sum(f.amount), avg(s.amount) FROM f JOIN s ON f.applicant_id = s.applicant_id", **files)
    table = demo.table("applications by the same applicant at both lenders",
                       ["", "secure (MPC)", "plaintext (DuckDB, for comparison)"])
    table.add_row("pairs of applications", f"{row[0]:,}", f"{pairs:,}")
    table.add_row(f"amount asked at {first}", f"{float(row[1]):,.2f}", f"{asked_first:,.2f}")
    table.add_row(f"mean amount asked at {second}", f"{float(row[2]):,.2f}", f"{mean_second:,.2f}")
    demo.print(table)
    demo.check("secure SQL join", row[0] == pairs and abs(float(row[1]) - asked_first) <= 0.01 + 1e-9 * asked_first
               and abs(float(row[2]) - mean_second) <= 1e-3 + 1e-5 * mean_second)
    demo.trail(outcome, asker)


# -- secure model ------------------------------------------------------------------------------------


def secure_model(demo: Demo, lender: str, shop: str, *, customers: int = 10_000, applicants: int = 2_000) -> None:
    """``lender`` and ``shop`` train a credit-risk model on their joint columns; ``lender`` scores applicants."""
    from offchain.client.publishing import approve
    from offchain.ml.reference import auc_plain, standardize_plain, train_logistic_plain
    from offchain.ml.schedule import validation_mask
    from offchain.ml.sgd import TrainingOptions
    from offchain.ml.spec import predict_text, train_text
    from offchain.node.catalog import ChainCatalog
    from offchain.programs import registry

    demo.step(f"secure model: {lender} and {shop} train credit-risk logistic regression on their joint columns")
    tables = credit_population(demo.rng, customers, applicants)
    files = {name: _offer(demo, lender if name != "behaviour" else shop, name, tables[name])
             for name in ("customers", "applicants", "behaviour")}
    features = {"customers": ("income", "debt"), "applicants": ("income", "debt"),
                "behaviour": ("orders", "returns", "late_payments")}
    for name, kinds in (("customers", (JobKind.MODEL_TRAIN,)), ("applicants", (JobKind.MODEL_PREDICT,)),
                        ("behaviour", (JobKind.MODEL_TRAIN, JobKind.MODEL_PREDICT))):
        owner = shop if name == "behaviour" else lender
        levels = {"customer_id": JOIN, **{c: AGGREGATE for c in features[name]}}
        if name == "customers":
            levels["defaulted"] = AGGREGATE
        _govern(demo, owner, name, "all", levels, kinds)
    demo.say(f"{lender}: past borrowers (income, debt, defaulted) and new applicants (income, debt); {shop}: "
             "orders, returns, late payments. Keys at PLAINTEXT_AFTER_JOIN for the other owner, columns at "
             "aggregate level")

    options = {"epochs": 4, "batch_size": 64, "learning_rate": 0.2, "seed": 11}
    text = train_text("columns", [
        {"dataset": f"{lender}.customers", "key": "customer_id", "features": ["income", "debt"], "label": "defaulted"},
        {"dataset": f"{shop}.behaviour", "key": "customer_id", "features": ["orders", "returns", "late_payments"]},
    ], validation_fraction=0.2, reveal_model=True, **options)
    requester = demo.consortium.requester(lender)
    trained = demo.run_job(requester, text)
    result = trained.result
    # The same algorithm in the clear on the same rows: the borrowers both members know, by ascending id.
    rows = np.array(plaintext(
        "SELECT c.income, c.debt, b.orders, b.returns, b.late_payments, c.defaulted FROM c JOIN b "
        "ON c.customer_id = b.customer_id ORDER BY c.customer_id", c=files["customers"], b=files["behaviour"]),
        dtype=np.float64)
    x, y = rows[:, :5], rows[:, 5]
    mask = validation_mask(options["seed"], 0, len(y), 0.2)
    standardized, means, inverse = standardize_plain(x)
    theta = train_logistic_plain(standardized[~mask], y[~mask], TrainingOptions(**options),
                                 trained.plan.parameters["feature_bound"])
    plain_auc = auc_plain(standardized[mask] @ theta[:-1] + theta[-1], y[mask])
    table = demo.table(f"trained on {len(y):,} common borrowers (aligned by PSI between the two owners' nodes)",
                       ["", "secure (MPC)", "plaintext (same algorithm, for comparison)"])
    table.add_row("validation AUC", f"{result.metrics['auc']:.4f}", f"{plain_auc:.4f}")
    for name, weight, plain in zip(result.model.feature_names, result.model.weights, theta[:-1], strict=True):
        table.add_row(f"weight of {name}", f"{weight:+.4f}", f"{plain:+.4f}")
    table.add_row("bias", f"{result.model.bias:+.4f}", f"{theta[-1]:+.4f}")
    demo.print(table)
    demo.say(f"model 0x{result.model_hash[:16]}…: its shares stay at the 3 compute nodes of job {trained.job_id}")
    demo.check("secure model training", abs(result.metrics["auc"] - plain_auc) <= 0.01
               and float(np.abs(result.model.weights - theta[:-1]).max()) <= 0.01)
    demo.trail(trained, lender)

    predict = predict_text(result.card, [{"dataset": f"{lender}.applicants", "key": "customer_id"},
                                         {"dataset": f"{shop}.behaviour", "key": "customer_id"}])
    for owner in (lender, shop):
        client = demo.consortium.client(owner)
        plan = registry.for_text(predict).plan(predict, ChainCatalog(client))  # each owner plans for itself
        approve(client, plan, note=f"credit-risk model 0x{result.model_hash[:16]}… may score these rows")
    demo.say(f"{lender} and {shop} approved the model's hash on the tables it scores")
    scored = demo.run_job(requester, predict)
    new = plaintext("SELECT a.customer_id, a.income, a.debt, b.orders, b.returns, b.late_payments FROM a JOIN b "
                    "ON a.customer_id = b.customer_id ORDER BY a.customer_id",
                    a=files["applicants"], b=files["behaviour"])
    ids = [row[0] for row in new]
    scaled = (np.array([row[1:] for row in new], dtype=np.float64) - means) * inverse
    expected = scaled @ theta[:-1] + theta[-1]
    outcomes = dict(zip(tables["outcomes"]["customer_id"], tables["outcomes"]["defaulted"], strict=True))
    truth = np.array([outcomes[i] for i in ids])
    scores = scored.result
    table = demo.table(f"{len(ids):,} new applicants scored; only {lender} sees the scores",
                       ["", "secure (MPC)", "plaintext model, for comparison"])
    for index in np.argsort(-scores.probabilities)[:3]:
        table.add_row(f"{ids[index]} default probability", f"{scores.probabilities[index]:.3f}",
                      f"{1 / (1 + np.exp(-expected[index])):.3f}")
    table.add_row("AUC against what happened next", f"{auc_plain(scores.logits, truth):.4f}",
                  f"{auc_plain(expected, truth):.4f}")
    demo.print(table)
    demo.check("secure model scoring", len(scores.logits) == len(ids)
               and float(np.abs(scores.logits - expected).max()) <= 0.05)
    demo.trail(scored, lender)


# -- secure publishing ---------------------------------------------------------------------------------


def secure_publishing(demo: Demo, hospital: str, insurer: str, *, claims: int = 3) -> None:
    """``insurer`` settles claims with rules the ``hospital`` approved, evaluated at the hospital's node."""
    from offchain.client.claims import ClaimNodes, claim_settlement_scenario

    demo.step(f"secure publishing: {insurer} settles claims from {hospital}'s records, which never leave it")
    consortium = demo.consortium
    settled = claim_settlement_scenario(
        consortium.client(hospital), consortium.client(insurer), count=claims, seed=int(demo.rng.integers(1 << 30)),
        nodes=ClaimNodes(consortium.node_config(hospital), consortium.requester(insurer)),
        report=lambda line: demo.say(escape(line)))
    table = demo.table(f"what {insurer} learned (nothing else left {hospital}'s node)",
                       ["claim", "secure (at the hospital's node)", "the rules in the clear, for comparison", "fee"])
    for item in settled:
        table.add_row(f"{item.claim.patient_id} {item.claim.treatment} {item.claim.claimed}",
                      _decision(item.decision), _decision(item.expected), f"{item.fee:,}")
    demo.print(table)
    demo.check("secure publishing", all(item.decision == item.expected for item in settled))
    demo.say("the last claim's job, as the chain records it:")
    demo.trail(settled[-1].job_id, insurer)


def _decision(values: dict[str, Any]) -> str:
    return f"approved {values['approved']}, amount {values['amount']}"


# -- secure script ---------------------------------------------------------------------------------------

SCRIPT_SOURCE = '''"""Joint risk: debt at two lenders against income known to an insurer, and late payments."""
ratio = (debt_a + debt_b) / maximum(income_c, 10.0)
score = sigmoid(1.5 * ratio + 0.4 * late_b - threshold)
mean_score = mean(score)
mean_ratio = mean(ratio)
'''
SCRIPT_THRESHOLD = 2.0


def secure_script(demo: Demo, asker: str, first: str, second: str, third: str, *, customers: int = 20_000) -> None:
    """``asker`` runs a joint risk score over ``first``'s and ``second``'s debt and ``third``'s income."""
    from offchain.client.publishing import approve, missing_approvals
    from offchain.node.catalog import ChainCatalog
    from offchain.script.program import ScriptProgram, check_script, script_text

    demo.step(f"secure script: {asker}'s joint risk score over {first}, {second} and {third}, approved by each")
    tables = shared_customers(demo.rng, customers)
    owners = {"first": first, "second": second, "third": third}
    for role, owner in owners.items():
        _offer(demo, owner, "accounts", tables[role])
        columns = [c for c in tables[role] if c != "customer_id"]
        _govern(demo, owner, "accounts", asker, {"customer_id": COMPARE, **{c: AGGREGATE for c in columns}},
                (JobKind.SCRIPT,))
    text = script_text(
        SCRIPT_SOURCE,
        {"debt_a": {"dataset": f"{first}.accounts", "column": "debt", "min": 0, "max": 1000},
         "debt_b": {"dataset": f"{second}.accounts", "column": "debt", "min": 0, "max": 1000},
         "late_b": {"dataset": f"{second}.accounts", "column": "late", "min": 0, "max": 20, "fill": 0},
         "income_c": {"dataset": f"{third}.accounts", "column": "income", "min": 0, "max": 1000}},
        [{"name": "mean_score", "type": "fixed"}, {"name": "mean_ratio", "type": "fixed"}],
        private={"threshold": {"type": "fixed", "min": 0, "max": 10}},
        align_by={f"{owner}.accounts": "customer_id" for owner in owners.values()},
    )
    requester = demo.consortium.requester(asker)
    plan = check_script(text, ChainCatalog(requester.client), requester.address)
    demo.say(f"checked before any request: outputs {', '.join(o.name for o in plan.outputs)}; every column use "
             f"within {asker}'s levels; "
             f"not yet approved on {', '.join(missing_approvals(requester.client, plan, requester.address))}")
    for owner in owners.values():
        client = demo.consortium.client(owner)
        approve(client, ScriptProgram().plan(text, ChainCatalog(client)))
    demo.say(f"{first}, {second} and {third} reviewed the script and approved its hash; the threshold "
             f"{SCRIPT_THRESHOLD} stays {asker}'s secret")
    outcome = demo.run_job(requester, text, {"threshold": SCRIPT_THRESHOLD})
    result = outcome.result
    by_id = [dict(zip(table["customer_id"], range(customers), strict=True)) for table in
             (tables["first"], tables["second"], tables["third"])]
    ids = sorted(by_id[0])
    debt_a = tables["first"]["debt"][[by_id[0][i] for i in ids]]
    debt_b = tables["second"]["debt"][[by_id[1][i] for i in ids]]
    late_b = tables["second"]["late"][[by_id[1][i] for i in ids]]
    income_c = tables["third"]["income"][[by_id[2][i] for i in ids]]
    ratio = (debt_a + debt_b) / np.maximum(income_c, 10.0)
    score = 1 / (1 + np.exp(-(1.5 * ratio + 0.4 * np.minimum(late_b, 20) - SCRIPT_THRESHOLD)))
    table = demo.table(f"joint risk over {customers:,} customers (rows aligned on customer_id in MPC)",
                       ["", "secure (MPC)", "plaintext (numpy, for comparison)"])
    table.add_row("mean score", f"{result['mean_score']:.4f}", f"{score.mean():.4f}")
    table.add_row("mean debt / income", f"{result['mean_ratio']:.4f}", f"{ratio.mean():.4f}")
    table.add_row("rows aligned", str(result.rows_aligned), "True")
    demo.print(table)
    demo.check("secure script", bool(result.rows_aligned) and abs(result["mean_score"] - score.mean()) <= 2e-3
               and abs(result["mean_ratio"] - ratio.mean()) <= 2e-3)
    demo.trail(outcome, asker)


# -- the regulator's audit -----------------------------------------------------------------------------


def regulator_audit(demo: Demo) -> None:
    """The regulator rebuilds the whole history from events, runs every check and lists the anomalies."""
    from offchain.audit.engine import Auditor
    from offchain.audit.findings import Severity
    from offchain.chain.client import ChainClient

    demo.step("the regulator's audit: everything rebuilt from the chain alone and verified")
    consortium = demo.consortium
    auditor = Auditor(ChainClient.connect(consortium.deployment, rpc_url=consortium.anvil.url))
    auditor.refresh()
    report = auditor.report()
    overview = report.overview()
    demo.say(f"{report.events:,} events up to block {report.block} rebuilt in {auditor.timings.total:.1f} s: "
             f"{overview['members']} members, {overview['datasets']} datasets, {overview['jobs']} jobs ("
             + ", ".join(f"{k.lower()} {v}" for k, v in overview["jobs_by_status"].items() if v)
             + f"), {overview['fees_paid']:,} credits of fees paid")
    table = demo.table("checks", ["check", "result", "errors", "warnings"])
    for check in report.check_results:
        result = ("[green]passed[/]" if check["passed"] else "[bold red]FAILED[/]") if check["ran"] else "skipped"
        table.add_row(check["name"], result, str(check["errors"]), str(check["warnings"]))
    demo.print(table)
    anomalies = [f for f in report.findings if f.severity is not Severity.INFO]
    if anomalies:
        for finding in anomalies:
            demo.say(f"anomaly: {finding.check}: {escape(finding.message)}")
    else:
        demo.say("anomalies: none (no dispute, expiry, suspension or frozen dataset)")
    top = sorted(report.members, key=lambda usage: -(usage.revenue_data + usage.revenue_compute))[:4]
    demo.say("revenue: " + ", ".join(f"{escape(u.name)} {u.revenue_data:,} for data + {u.revenue_compute:,} "
                                       "for compute" for u in top))
    demo.check("regulator's audit", report.passed and not anomalies)

