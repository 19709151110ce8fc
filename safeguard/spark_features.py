"""The feature models on Apache Spark (issue 18): the same dbt project, target ``spark``, for a window of days.

Where the engines differ, the project holds both forms in adapter-dispatched macros (dbt_project/macros/engine.sql,
``type_double``); the models are the same files. On Spark every windowed model is Parquet partitioned by its day
column and a build overwrites exactly the window's partitions, so a re-run of a day replaces that day, as on DuckDB.

dbt runs in its own process (``dbt build --target spark``): dbt-spark's ``session`` method starts a local Spark
there (``local[SAFEGUARD_SPARK_CORES]``) or, with ``SPARK_REMOTE`` set, connects to a Spark Connect server. The
warehouse folder holds the tables and their Hive metastore; the raw folder holds what ``safeguard.spark_raw``
wrote from ingestion's validated days.

    python -m safeguard.spark_features --start 2026-09-01 --end 2026-09-08 \\
        --warehouse data/spark --raw data/spark-raw
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from safeguard.catalog import DBT_PROJECT_DIR
from safeguard.dbt_vars import DEFAULT_LABEL_HORIZON_DAYS, dbt_build_args
from safeguard.spark_engine import SparkUnavailable, check_spark

SPARK_TARGET = "spark"
# dbt's command line in this interpreter (its console script, without `python -m`'s warning about dbt.cli.main)
DBT_CLI = (sys.executable, "-c", "from dbt.cli.main import cli; cli()")


class SparkBuildError(RuntimeError):
    """``dbt build --target spark`` failed; the message names the failed nodes and the log."""


@dataclass(frozen=True)
class SparkBuild:
    """A finished build: its dbt target folder (manifest.json, run_results.json) and what ran."""

    target_path: Path
    passed: int
    models: int
    tests: int


def spark_dbt_env(warehouse: str | Path, raw: str | Path) -> dict[str, str]:
    """The environment the profile's ``spark`` target reads (dbt_project/profiles.yml)."""
    return {
        "SAFEGUARD_SPARK_WAREHOUSE": str(Path(warehouse).resolve()),
        "SAFEGUARD_SPARK_RAW": str(Path(raw).resolve()),
    }


def dbt_build_command(
    start: datetime,
    end: datetime,
    target_path: str | Path,
    *,
    target: str = SPARK_TARGET,
    label_horizon_days: int = DEFAULT_LABEL_HORIZON_DAYS,
    data_tests: bool = True,
) -> list[str]:
    """``dbt build --target TARGET`` of the window ``[start, end)`` as DuckDB's asset builds it
    (``safeguard.dbt_vars.dbt_build_args``: data tests included unless ``data_tests`` is False); ``target`` is a
    profile target (``spark`` or ``duckdb``)."""
    return [
        *DBT_CLI,
        *dbt_build_args(start, end, label_horizon_days=label_horizon_days, data_tests=data_tests),
        "--target",
        target,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path),
    ]


def _failures(run_results: Path) -> list[str]:
    if not run_results.exists():
        return []
    results = json.loads(run_results.read_text())["results"]
    return [
        f"{r['unique_id'].split('.')[-1]}: {r['status']}: {(r.get('message') or '').splitlines()[0] if r.get('message') else ''}"
        for r in results
        if r["status"] in ("error", "fail")
    ]


def build_features_on_spark(
    start: datetime,
    end: datetime,
    *,
    warehouse: str | Path,
    raw: str | Path,
    label_horizon_days: int = DEFAULT_LABEL_HORIZON_DAYS,
    data_tests: bool = True,
) -> SparkBuild:
    """Build the window ``[start, end)`` of every model on Spark, with its data tests unless ``data_tests`` is
    False; raises :class:`SparkBuildError` naming the failed nodes, or :class:`SparkUnavailable` (one line) when
    Java or pyspark is missing."""
    check_spark()
    target_path = Path(warehouse) / "dbt-target"
    Path(warehouse).mkdir(parents=True, exist_ok=True)
    command = dbt_build_command(start, end, target_path, label_horizon_days=label_horizon_days, data_tests=data_tests)
    env = os.environ | spark_dbt_env(warehouse, raw)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    log = target_path / "spark-build.log"
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        failed = _failures(target_path / "run_results.json") or (done.stdout + done.stderr).strip().splitlines()[-1:]
        raise SparkBuildError(
            f"dbt build --target spark of [{start.date()}, {end.date()}) failed: {'; '.join(failed)} (full log: {log})"
        )
    results = json.loads((target_path / "run_results.json").read_text())["results"]
    kinds = [r["unique_id"].split(".")[0] for r in results]
    return SparkBuild(
        target_path=target_path,
        passed=sum(r["status"] in ("success", "pass") for r in results),
        models=kinds.count("model"),
        tests=kinds.count("test"),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Build the feature models of a window of days on Spark (dbt target "spark")."""
    parser = argparse.ArgumentParser(prog="python -m safeguard.spark_features", description=main.__doc__)
    parser.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", required=True, help="day after the last, YYYY-MM-DD (exclusive)")
    parser.add_argument("--warehouse", required=True, help="folder of the Spark tables and their metastore")
    parser.add_argument("--raw", required=True, help="folder of raw.* Parquet (safeguard.spark_raw)")
    args = parser.parse_args(argv)
    try:
        build = build_features_on_spark(
            datetime.fromisoformat(args.start),
            datetime.fromisoformat(args.end),
            warehouse=args.warehouse,
            raw=args.raw,
        )
    except (SparkUnavailable, SparkBuildError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"built {build.models} models on Spark, {build.tests} data tests passed ({build.target_path})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
