"""Run every benchmark at the scale the issues name, then write bench/REPORT.md (``make bench``).

One world of ``--accounts`` x ``--days`` is generated under ``--work`` and reused: ingestion keeps its warehouse for
the feature benchmark. Each benchmark writes its JSON to bench/results/; ``bench/report.py`` turns them into the
report. At 1,000,000 accounts x 30 days this takes well over an hour on 2 cores; ``--accounts 20000 --days 30``
is a quick end-to-end check of the scripts. Detection quality needs a materialized world: pass ``--quality-home``
(e.g. the folder ``make demo`` wrote) to include it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


DRY_RUN = False


STARTED = time.monotonic()
DONE: list[str] = []


def step(name: str, args: list[str]) -> None:
    """Run one benchmark; a line before and after it, with the count of benchmarks done and the time so far (each
    benchmark prints its own progress: they differ too much in length for one bar to say the time left)."""
    print(f"\n== [{len(DONE) + 1}] {name}: {' '.join(args)}", flush=True)
    if DRY_RUN:
        DONE.append(name)
        return
    started = time.monotonic()
    subprocess.run([sys.executable, *args], check=True, cwd=HERE.parent)
    DONE.append(name)
    print(
        f"== [{len(DONE)}] {name} done in {time.monotonic() - started:.0f}s; {len(DONE)} benchmark(s) done in "
        f"{time.monotonic() - STARTED:.0f}s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000, help="accounts in the benchmark world")
    parser.add_argument("--days", type=int, default=30, help="days in the benchmark world")
    parser.add_argument("--work", default=str(HERE / "work"), help="scratch folder for the world and warehouse")
    parser.add_argument(
        "--postgres-url", help="PostgreSQL for the publish benchmark (scripts/postgres-up.sh prints one)"
    )
    parser.add_argument("--quality-home", help="a materialized SAFEGUARD_HOME for the detection-quality benchmark")
    parser.add_argument("--dry-run", action="store_true", help="print the steps without running them")
    args = parser.parse_args()
    global DRY_RUN
    DRY_RUN = args.dry_run

    work = Path(args.work)
    landing, warehouse = work / "landing", work / "warehouse.duckdb"
    step(
        "generate",
        [
            "bench/bench_generate.py",
            "--accounts",
            str(args.accounts),
            "--days",
            str(args.days),
            "--out",
            str(work),
            "--keep",
        ],
    )
    step("ingest", ["bench/bench_ingest.py", str(landing), "--keep-warehouse", str(warehouse)])
    # polars holds every event in memory (about 20 GB at 1M accounts): past 200k accounts the dbt build, the
    # incremental day and the hand-written floors are measured without it, into their own results file
    large = args.accounts > 200_000
    step(
        "features",
        [
            "bench/bench_features.py",
            str(warehouse),
            *(
                ["--phases", "dbt_full,dbt_day,floor_day,floor", "--out", str(HERE / "results" / "features_1m.json")]
                if large
                else []
            ),
        ],
    )
    step("model", ["bench/bench_model.py", "--accounts", str(args.accounts)])
    step("bucketing", ["bench/bench_bucketing.py", "--n", str(args.accounts)])
    step("backtest", ["bench/bench_backtest.py", "--accounts", str(min(args.accounts, 100_000))])
    step("spark scoring", ["bench/bench_spark_scoring.py", "--accounts", str(min(args.accounts, 100_000))])
    step("spark features", ["bench/bench_spark_features.py", "--accounts", str(min(args.accounts, 100_000))])
    if args.postgres_url:
        step("publish", ["bench/bench_publish.py", "--rows", str(args.accounts), "--postgres-url", args.postgres_url])
    if args.quality_home:
        step("quality", ["bench/bench_quality.py", "--home", args.quality_home])
    # The pipeline benchmark needs 35 days (a first model trains on 20 days of closed 14-day label windows).
    world = (
        ["--landing", str(landing)] if args.days >= 35 else ["--generate-accounts", str(args.accounts), "--days", "34"]
    )
    step(
        "pipeline",
        [
            "bench/bench_pipeline.py",
            *world,
            "--work",
            str(work / "pipeline"),
            *(["--postgres-url", args.postgres_url] if args.postgres_url else []),
        ],
    )
    step("report", ["bench/report.py"])


if __name__ == "__main__":
    main()
