"""Benchmark: scoring with reasons as a Spark job, next to the single-machine path on the same accounts (issue 18).

One day of ``--accounts`` accounts (``tests.model_factory``: 20 features, a real LightGBM model with its
calibration and tiers), scored in one process:

- baseline: :func:`safeguard.scoring.score_accounts` over the whole day (what the daily asset runs);
- Spark: :func:`safeguard.spark_scoring.score_shards` on a local Spark (``local[2]``: the same two cores), for
  several shard counts, the result written to Spark's ``noop`` sink (everything computed, nothing stored); the
  features are cached in Spark first, so reading them is not timed.

From these: the rows per second per core of each path, the fixed cost of one more shard, and a projection to
``--project`` accounts on a cluster with the arithmetic shown. Then the single-machine training rate
(``train_risk_model`` on ``--train-rows`` examples), the figure that says when training must leave one machine.

Writes ``bench/results/spark_scoring.json``; ``bench/report.py`` turns it into the REPORT section.

    python bench/bench_spark_scoring.py [--accounts 100000] [--shards 2 8 32] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd

from safeguard.progress import progress
from safeguard.scoring import score_accounts
from safeguard.spark_engine import spark_session
from safeguard.spark_scoring import score_shards
from safeguard.training import train_risk_model
from tests import model_factory as mf

RESULTS = ROOT / "bench" / "results" / "spark_scoring.json"
DAY = "2026-08-15"
CORES = 2


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--shards", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--project", type=int, default=100_000_000, help="accounts to project the cost to")
    parser.add_argument("--cluster-cores", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--train-rows", type=int, nargs="+", default=[48_000, 192_000])
    args = parser.parse_args()

    frame = mf.synthetic_frame(args.accounts, [DAY], seed=3).drop(columns="label")
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).dt.date
    model = mf.trained_model(seed=7)
    models = [("champion", model)]

    baseline = best_of(args.repeats, lambda: score_accounts(frame, models, DAY))
    explained = score_accounts(frame, models, DAY).explained_rows
    print(f"single machine: {args.accounts:,} accounts in {baseline:.2f}s ({explained:,} explained)", flush=True)

    spark = spark_session("bench-spark-scoring", cores=CORES)
    features = spark.createDataFrame(frame).cache()
    features.count()
    # warm up: the first job starts the Python workers and imports LightGBM in them, once per session
    score_shards(features, models, DAY, shards=CORES).write.format("noop").mode("overwrite").save()
    spark_seconds = {}
    for shards in progress(args.shards, "spark shard counts", unit="setting", every_s=0.0):

        def run(shards=shards):
            score_shards(features, models, DAY, shards=shards).write.format("noop").mode("overwrite").save()

        spark_seconds[shards] = best_of(args.repeats, run)
        print(f"spark, {shards} shards: {spark_seconds[shards]:.2f}s", flush=True)
    spark.stop()

    fewest, most = min(args.shards), max(args.shards)
    per_shard = (spark_seconds[most] - spark_seconds[fewest]) / (most - fewest) * CORES if most > fewest else None
    spark_rate = args.accounts / spark_seconds[fewest] / CORES  # accounts per second per core
    baseline_rate = args.accounts / baseline / CORES
    projection = []
    for cores in args.cluster_cores:
        shards = max(cores, args.project // 500_000)  # shards of ~500k accounts, at least one per core
        compute = args.project / (spark_rate * cores)
        overhead = (per_shard or 0.0) * shards / cores
        projection.append(
            {
                "cores": cores,
                "shards": shards,
                "compute_s": compute,
                "shard_overhead_s": overhead,
                "total_s": compute + overhead,
            }
        )

    training = []
    specs = mf.feature_specs()
    for rows in args.train_rows:
        accounts = max(1, rows // mf.TRAINING_DAYS)
        examples = mf.synthetic_frame(accounts, mf.day_strings(mf.FIRST_DAY, mf.TRAINING_DAYS), seed=5)
        start = time.perf_counter()
        trained = train_risk_model(examples, specs, seed=8)
        seconds = time.perf_counter() - start
        training.append(
            {
                "rows": len(examples),
                "seconds": round(seconds, 2),
                "rows_per_s": round(len(examples) / seconds),
                "trees": int(trained.booster.num_trees()),
            }
        )
        print(f"training: {len(examples):,} examples in {seconds:.1f}s", flush=True)

    report = {
        "accounts": args.accounts,
        "features": 20,
        "trees": int(model.booster.num_trees()),
        "explained_rows": explained,
        "cores": CORES,
        "repeats": args.repeats,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average": list(os.getloadavg()),
        "baseline_seconds": round(baseline, 2),
        "spark_seconds": {str(k): round(v, 2) for k, v in spark_seconds.items()},
        "ratio_fewest_shards": round(spark_seconds[fewest] / baseline, 2),
        "per_shard_core_seconds": None if per_shard is None else round(per_shard, 3),
        "baseline_accounts_per_core_s": round(baseline_rate),
        "spark_accounts_per_core_s": round(spark_rate),
        "project_accounts": args.project,
        "projection": [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in p.items()} for p in projection],
        "training": training,
        "peak_rss_mib": round(peak_rss_mib()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
