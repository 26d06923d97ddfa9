"""Secure logistic regression benchmark: training and inference, in-process and over TLS loopback.

The issue's workload: 50,000 rows x 100 features split 50/50 between two
members (columns), label at the first, 10 epochs, batches of 1024, learning
rate 0.1. SecretFlow SPU 0.9.5 (ABY3, FM64, in-process simulator, warm)
trains this in 63.5 s on this kind of 2-core machine.

Prints markdown tables (paste them into benchmarks/RESULTS.md):

1. **Training** (the SPU comparison): the compute parties' SGD on already
   shared, aligned data — ``offchain.ml.sgd.train_logistic``, 490 steps —
   with ``run_local`` (three threads) and ``run_tls`` (three processes over
   pinned mutual TLS on loopback). Rounds, MB sent by the busiest party,
   CPU seconds of all parties, AUC of the secure and the plaintext model.
2. **Inference**: scoring all 50,000 rows with a shared model, both runners.
3. **Round trips over TLS**: the median round trip of a one-element
   exchange, times the rounds, against the measured TLS - in-process difference.
4. **The whole job in one process** (``offchain.ml.local.run_ml_job``):
   owners' PSI alignment on the join key, DuckDB reads and checks, dealing,
   then standardisation, training, sealing the model and validation metrics
   in MPC; and the predict job on the same rows.

Run: ``.venv/bin/python benchmarks/ml.py`` (``--quick`` for a 5,000-row smoke
run, ``--skip-tls`` / ``--skip-job`` to leave parts out).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._machine import cpu_model  # noqa: E402
from offchain.data.schema import Schema  # noqa: E402
from offchain.data.store import LocalStore  # noqa: E402
from offchain.ml.local import run_ml_job  # noqa: E402
from offchain.ml.model import DirectoryModelStore  # noqa: E402
from offchain.ml.programs import PREDICT, TRAIN, _scores  # noqa: E402
from offchain.ml.reference import auc_plain, train_logistic_plain  # noqa: E402
from offchain.ml.sgd import TrainingOptions, train_logistic  # noqa: E402
from offchain.ml.spec import predict_text, train_text  # noqa: E402
from offchain.mpc import PerParty, deal, receive_input  # noqa: E402
from offchain.mpc.opening import export  # noqa: E402
from offchain.net.cluster import run_tls, run_tls_parties  # noqa: E402
from offchain.net.local import run_local  # noqa: E402
from offchain.programs.base import DatasetInfo  # noqa: E402
from offchain.programs.catalog import ALL_MEMBERS, StaticCatalog  # noqa: E402
from offchain.vocabulary import ConstraintLevel  # noqa: E402

SPU_SECONDS = 63.5
FEATURE_BOUND = 16.0  # the data are standard normal: |x| < 6; the owners check |x| <= 16


# -- party programs (top level: they run in spawned processes under run_tls) ----------------


def training_program(runtime, features, labels, options: TrainingOptions):
    x, y = receive_input(runtime, features), receive_input(runtime, labels)
    cpu = _cpu_seconds()
    start = time.perf_counter()
    theta, record = train_logistic(x, y, options, FEATURE_BOUND)
    return time.perf_counter() - start, _cpu_seconds() - cpu, record.rounds, export(theta)


def inference_program(runtime, features, parameters):
    x, theta = receive_input(runtime, features), receive_input(runtime, parameters)
    cpu = _cpu_seconds()
    start = time.perf_counter()
    before = runtime.rounds
    scores = _scores(x, theta)
    return time.perf_counter() - start, _cpu_seconds() - cpu, runtime.rounds - before, export(scores)


def ping_pong(transport, iterations: int) -> float:
    one = np.ones(1, dtype=np.uint64)
    durations = []
    for _ in range(iterations):
        start = time.perf_counter()
        if transport.party == 0:
            transport.send(1, [one])
            transport.recv(1)
        else:
            transport.send(0, [transport.recv(0)[0].copy()])
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- data ---------------------------------------------------------------------------------


def generate(rows: int, features: int, seed: int = 2024):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features))
    w = rng.standard_normal(features) * 0.3
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-(x @ w)))).astype(np.float64)
    return x, y


def _reconstruct(results):
    from offchain.mpc.opening import reconstruct

    return reconstruct([r[-1] for r in results])


def _summary(run, results, one_process: bool):
    seconds = max(r[0] for r in results)
    # each party measures its own process: the three threads of run_local share one
    cpu = max(r[1] for r in results) if one_process else sum(r[1] for r in results)
    rounds = results[0][2]
    megabytes = run.max_bytes_sent / 1e6
    return seconds, cpu, rounds, megabytes


# -- parts ----------------------------------------------------------------------------------


def training_rows(x, y, options, runners):
    plain = train_logistic_plain(x, y, options, FEATURE_BOUND)
    plain_auc = auc_plain(x @ plain[:-1] + plain[-1], y)
    rows = []
    theta = None
    for name, runner in runners:
        run = runner(training_program, PerParty(deal(x, "fixed")), PerParty(deal(y, "fixed")), options)
        seconds, cpu, rounds, megabytes = _summary(run, run.results, runner is run_local)
        theta = _reconstruct(run.results)
        auc = auc_plain(x @ theta[:-1] + theta[-1], y)
        rows.append((name, seconds, cpu, rounds, megabytes, auc, plain_auc, np.abs(theta - plain).max()))
    return rows, theta


def inference_rows(x, theta, runners):
    rows = []
    for name, runner in runners:
        run = runner(inference_program, PerParty(deal(x, "fixed")), PerParty(deal(theta, "fixed")))
        seconds, cpu, rounds, megabytes = _summary(run, run.results, runner is run_local)
        scores = _reconstruct(run.results)
        error = np.abs(scores - (x @ theta[:-1] + theta[-1])).max()
        rows.append((name, seconds, cpu, rounds, megabytes, error))
    return rows


def whole_job(x, y, options: TrainingOptions, directory: Path):
    rows, features = x.shape
    half = features // 2
    rng = np.random.default_rng(7)
    ids = rng.choice(10**12, rows, replace=False)
    stores, datasets = [], []
    for index, columns in enumerate((range(half), range(half, features))):
        store = LocalStore()
        order = rng.permutation(rows)
        data = {"customer_id": ids[order]}
        data |= {f"f{j}": x[order, j] for j in columns}
        types = [("customer_id", "int64")] + [(f"f{j}", "float64") for j in columns]
        if index == 0:
            data["label"] = y[order].astype(bool)
            types.append(("label", "bool"))
        schema = Schema.of(types)
        store.create_table("data", schema, data)
        stores.append(store)
        datasets.append(DatasetInfo(index + 1, f"0x{index + 1:040x}", f"m{index}", "data", schema, rows, b"\0" * 32))
    levels = {(i, "customer_id", ALL_MEMBERS): ConstraintLevel.PLAINTEXT_AFTER_JOIN for i in (1, 2)}
    catalog = StaticCatalog(datasets, levels)
    inputs = [
        {"dataset": "m0.data", "key": "customer_id", "features": [f"f{j}" for j in range(half)], "label": "label"},
        {"dataset": "m1.data", "key": "customer_id", "features": [f"f{j}" for j in range(half, features)]},
    ]
    text = train_text(
        "columns", inputs, validation_fraction=0.2, learning_rate=options.learning_rate, epochs=options.epochs,
        batch_size=options.batch_size, seed=options.seed,
    )
    model_stores = [DirectoryModelStore(directory / f"party{p}") for p in range(3)]
    plan = TRAIN.plan(text, catalog)
    started = time.perf_counter()
    train = run_ml_job(TRAIN, plan, stores, model_stores)
    train_seconds = time.perf_counter() - started
    card = train.result.card
    predict_plan = PREDICT.plan(
        predict_text(card, [{"dataset": "m0.data", "key": "customer_id"}, {"dataset": "m1.data", "key": "customer_id"}]),
        catalog,
    )
    started = time.perf_counter()
    predict = run_ml_job(PREDICT, predict_plan, stores, model_stores)
    predict_seconds = time.perf_counter() - started
    return train, train_seconds, predict, predict_seconds


def machine() -> str:
    cpu = cpu_model()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, numpy {np.__version__}; "
        f"load average {load:.1f} at the start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--sigmoid", default="segments5")
    parser.add_argument("--quick", action="store_true", help="5,000 rows: a smoke run")
    parser.add_argument("--skip-tls", action="store_true")
    parser.add_argument("--skip-job", action="store_true")
    args = parser.parse_args()
    rows = 5_000 if args.quick else args.rows
    x, y = generate(rows, args.features)
    options = TrainingOptions(
        learning_rate=args.learning_rate, epochs=args.epochs, batch_size=args.batch_size, sigmoid=args.sigmoid
    )
    runners = [("in-process (threads)", run_local)]
    if not args.skip_tls:
        runners.append(("TLS loopback (3 processes)", run_tls))
    print(f"Machine: {machine()}")
    print(f"\n### Training: {rows:,} x {args.features}, {args.epochs} epochs, batch {args.batch_size}, "
          f"learning rate {args.learning_rate}, sigmoid {args.sigmoid}\n")
    print("| runner | seconds | CPU s (all parties) | rounds | MB sent (busiest party) | AUC secure | AUC plaintext "
          "| max abs weight diff | vs SPU 63.5 s |")
    print("|---|---|---|---|---|---|---|---|---|")
    training, theta = training_rows(x, y, options, runners)
    for name, seconds, cpu, rounds, megabytes, auc, plain_auc, diff in training:
        print(f"| {name} | {seconds:.2f} | {cpu:.2f} | {rounds:,} | {megabytes:.1f} | {auc:.5f} | {plain_auc:.5f} "
              f"| {diff:.1e} | {SPU_SECONDS / seconds:.1f}x |")
    print(f"\n### Inference: scoring {rows:,} rows\n")
    print("| runner | seconds | CPU s (all parties) | rounds | MB sent (busiest party) | max abs score error |")
    print("|---|---|---|---|---|---|")
    for name, seconds, cpu, rounds, megabytes, error in inference_rows(x, theta, runners):
        print(f"| {name} | {seconds:.3f} | {cpu:.2f} | {rounds} | {megabytes:.1f} | {error:.1e} |")
    if not args.skip_tls:
        rtt = statistics.median(run_tls_parties(ping_pong, 2000, parties=2))
        local_rtt = statistics.median(run_local_ping())
        difference = training[1][1] - training[0][1]
        rounds_count = training[0][3]
        print("\n### Round trips over TLS\n")
        print("| | value |")
        print("|---|---|")
        print(f"| median round trip, one element, TLS loopback | {rtt * 1e6:.0f} µs |")
        print(f"| median round trip, one element, in-process | {local_rtt * 1e6:.0f} µs |")
        print(f"| training rounds x TLS round trip | {rounds_count * rtt:.2f} s |")
        print(f"| measured TLS - in-process training time | {difference:.2f} s |")
    if not args.skip_job:
        with tempfile.TemporaryDirectory() as directory:
            train, train_seconds, predict, predict_seconds = whole_job(x, y, options, Path(directory))
        print(f"\n### Whole jobs in one process: column split, PSI on {rows:,} keys, standardisation, "
              f"validation 20 %\n")
        print("| job | total s | PSI alignment s | owners (DuckDB, checks, dealing) s | MPC s | rounds | result |")
        print("|---|---|---|---|---|---|---|")
        metrics = train.result.metrics
        print(f"| train | {train_seconds:.2f} | {train.alignment_seconds:.2f} | {train.owner_seconds:.2f} | "
              f"{train.compute_seconds:.2f} | {train.run.stats[0].rounds:,} | AUC {metrics['auc']:.4f}, accuracy "
              f"{metrics['accuracy']:.4f}, log-loss {metrics['log_loss']:.4f} |")
        print(f"| predict | {predict_seconds:.2f} | {predict.alignment_seconds:.2f} | {predict.owner_seconds:.2f} | "
              f"{predict.compute_seconds:.2f} | {predict.run.stats[0].rounds:,} | {len(predict.result.logits):,} scores |")
        print("\nMPC phases at compute party 0 (seconds): " + "; ".join(
            f"{job} — " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in run.compute_phases.items())
            for job, run in (("train", train), ("predict", predict))
        ))


def run_local_ping():
    import threading

    from offchain.net.local import connect_in_process

    transports = connect_in_process(2)
    results = [None, None]

    def body(party):
        results[party] = ping_pong(transports[party], 2000)

    threads = [threading.Thread(target=body, args=(p,)) for p in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


if __name__ == "__main__":
    main()
