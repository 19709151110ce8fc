"""Benchmark: the feature models built by dbt on DuckDB and on Spark, same world, same run (issue 18).

A world of ``--accounts`` accounts x ``--days`` days is generated and ingested once (validated, as the pipeline
ingests it) and its raw days are written for Spark (``safeguard.spark_raw``, timed: the hand-over's cost). Then
the same window is built, from nothing, with its data tests:

- baseline: ``dbt build --target duckdb`` (the DuckDB warehouse file, as the Dagster asset builds it);
- Spark: ``dbt build --target spark`` (dbt-spark, session method, ``local[2]``: the same two cores).

Each build runs in its own process. dbt's run_results give every node's time, so the report says where Spark's
extra time goes (the slowest models on each engine, and the data tests). The two builds are compared row by row
(``tests/spark/parity.py``) so a fast but wrong build cannot pass.

Writes ``bench/results/spark_features.json``; ``bench/report.py`` turns it into the REPORT section.

    python bench/bench_spark_features.py [--accounts 100000] [--days 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safeguard.contract import SOURCES
from safeguard.ingest import ingest_days
from safeguard.landing import LandingZone
from safeguard.progress import progress
from safeguard.spark_features import build_features_on_spark, dbt_build_command
from safeguard.spark_raw import export_raw_days, export_whole_tables
from safeguard.warehouse import connect, ensure_raw_schema
from safeguard.world import generate_world
from tests.spark.parity import compare_all

RESULTS = ROOT / "bench" / "results" / "spark_features.json"
START = "2026-09-01"


def _git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip()


def _node_seconds(run_results: Path) -> dict[str, float]:
    results = json.loads(run_results.read_text())["results"]
    return {r["unique_id"]: round(r["execution_time"], 2) for r in results}


def _summary(nodes: dict[str, float]) -> dict:
    models = {k.split(".")[-1]: v for k, v in nodes.items() if k.startswith("model.")}
    tests = [v for k, v in nodes.items() if k.startswith("test.")]
    return {
        "models_seconds": round(sum(models.values()), 1),
        "tests_seconds": round(sum(tests), 1),
        "tests": len(tests),
        "models": models,
    }


def duckdb_build(warehouse: Path, start: datetime, end: datetime, target: Path) -> float:
    command = [*dbt_build_command(start, end, target, target="duckdb"), "--quiet"]
    began = time.perf_counter()
    subprocess.run(command, env=os.environ | {"WAREHOUSE_PATH": str(warehouse)}, check=True)
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--work", type=Path, help="folder to work in (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-spark-features-"))
    work.mkdir(parents=True, exist_ok=True)
    days = [(date.fromisoformat(START) + timedelta(days=i)).isoformat() for i in range(args.days)]
    start, end = datetime.fromisoformat(days[0]), datetime.fromisoformat(days[-1]) + timedelta(days=1)
    try:
        generate_world(
            accounts=args.accounts,
            days=args.days,
            start=START,
            seed=args.seed,
            out_uri=str(work / "landing"),
            truth_path=work / "truth.parquet",
        )
        warehouse, raw = work / "warehouse.duckdb", work / "spark-raw"
        zone = LandingZone(str(work / "landing"))
        ingest_s = export_s = 0.0
        with connect(warehouse) as con:
            ensure_raw_schema(con)
            for source in progress(list(SOURCES), desc="ingest + write for Spark", unit="source"):
                began = time.perf_counter()
                ingest_days(con, zone, source, days)
                ingest_s += time.perf_counter() - began
                began = time.perf_counter()
                export_raw_days(con, raw, source, days)
                export_s += time.perf_counter() - began
            began = time.perf_counter()
            export_whole_tables(con, raw)
            export_s += time.perf_counter() - began
            events = con.execute("SELECT count(*) FROM raw.usage_events").fetchone()[0]
        print(f"ingested {events:,} events in {ingest_s:.1f}s; written for Spark in {export_s:.1f}s", flush=True)

        duck_target, spark_dir = work / "duckdb-target", work / "spark"
        duck_s = duckdb_build(warehouse, start, end, duck_target)
        print(f"DuckDB build: {duck_s:.1f}s", flush=True)
        began = time.perf_counter()
        spark = build_features_on_spark(start, end, warehouse=spark_dir, raw=raw)
        spark_s = time.perf_counter() - began
        print(f"Spark build: {spark_s:.1f}s", flush=True)

        parity = compare_all(warehouse, spark_dir / "tables", spark.target_path / "manifest.json")
        unequal = [str(p) for p in parity if not p.equal]
        duck_nodes = _summary(_node_seconds(duck_target / "run_results.json"))
        spark_nodes = _summary(_node_seconds(spark.target_path / "run_results.json"))
        report = {
            "accounts": args.accounts,
            "days": args.days,
            "events": events,
            "ingest_seconds": round(ingest_s, 1),
            "export_for_spark_seconds": round(export_s, 1),
            "duckdb_seconds": round(duck_s, 1),
            "spark_seconds": round(spark_s, 1),
            "ratio": round(spark_s / duck_s, 2),
            "duckdb": duck_nodes,
            "spark": spark_nodes,
            "tables_compared": len(parity),
            "tables_unequal": unequal,
            "rows_compared": sum(p.duckdb_rows for p in parity),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "load_average": list(os.getloadavg()),
            "run_date": datetime.now().strftime("%Y-%m-%d"),
            "commit": _git_commit(),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps({k: v for k, v in report.items() if k not in ("duckdb", "spark")}, indent=2))
        return 1 if unequal else 0
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
