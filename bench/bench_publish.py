"""Benchmark: publish a million-account day through ``publish_day`` on PostgreSQL and SQLite.

PostgreSQL: next to each publish, in the same run and database, a raw COPY of the same rows (Arrow -> CSV ->
``COPY``) into a table shaped like ``account_risk_history`` (``LIKE ... INCLUDING ALL``: same columns, key and
index), and a raw COPY of everything a publish writes (history + current + reasons rows into three such tables).
Publish runs twice: day 1 into empty tables, then day 2 over a current table that holds every account (the daily
steady state: every current row is replaced). SQLite: the same two publishes through batched executemany.
Reports seconds, rows/s, the ratio to the raw COPY and peak RSS; writes ``bench/results/publish.json``.

    python bench/bench_publish.py [--rows 1000000] [--postgres-url URL]

The PostgreSQL URL defaults to SAFEGUARD_TEST_POSTGRES_URL, else what ``scripts/postgres-up.sh`` prints. A
database and a read-only role with unique names are created for the run and dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa

from safeguard.serving.db import engine_for, upgrade
from safeguard.serving.prepare import csv_bytes, prepare_day, with_published_at
from safeguard.serving.publish import publish_day
from safeguard.vocabulary import utcnow
from tests.pg_scratch import scratch_database
from tests.served_factory import served_day

D1, D2 = "2026-09-01", "2026-09-02"
RESULTS = ROOT / "bench" / "results" / "publish.json"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def postgres_url(given: str | None) -> str:
    url = given or os.environ.get("SAFEGUARD_TEST_POSTGRES_URL")
    if not url:
        url = subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres-up.sh")], check=True, capture_output=True, text=True
        ).stdout.strip()
    if not url:
        raise SystemExit("no PostgreSQL: pass --postgres-url or install PostgreSQL (scripts/postgres-up.sh)")
    return url


def raw_copy(engine: sa.Engine, target: str, like: str, rows) -> float:
    """Seconds to encode ``rows`` as CSV and COPY them into a fresh table shaped like ``like``, committed."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {target}")
        conn.exec_driver_sql(f"CREATE TABLE {target} (LIKE {like} INCLUDING ALL)")
    columns = ", ".join(f'"{c}"' for c in rows.column_names)
    start = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {target} ({columns}) FROM STDIN (FORMAT csv)") as copy:
            for batch in rows.to_batches(50_000):
                copy.write(csv_bytes(batch))
    return time.perf_counter() - start


def bench_postgres(url: str, days: dict) -> dict:
    out: dict = {}
    with scratch_database(url, "sg_bench") as scratch:
        os.environ["SERVING_READONLY_ROLE"] = scratch.reader_role
        engine = engine_for(scratch.url.render_as_string(hide_password=False))
        try:
            upgrade(engine)
            for label, day in (("day1_into_empty_tables", D1), ("day2_over_full_current", D2)):
                served, prepared = days[day]
                history = with_published_at(prepared.history, utcnow())
                seconds, result = timed(publish_day, engine, served, day)
                baseline = raw_copy(engine, "raw_history", "account_risk_history", history)
                everything = (
                    baseline
                    + raw_copy(engine, "raw_current", "account_risk_current", history)
                    + raw_copy(engine, "raw_reasons", "risk_reasons", prepared.reasons)
                )
                out[label] = {
                    "publish_seconds": round(seconds, 2),
                    "rows_per_second": round(result.rows / seconds),
                    "reason_rows": result.reason_rows,
                    "raw_copy_history_seconds": round(baseline, 2),
                    "ratio_to_raw_copy_of_history": round(seconds / baseline, 2),
                    "raw_copy_of_all_written_rows_seconds": round(everything, 2),
                    "ratio_to_raw_copy_of_all_written_rows": round(seconds / everything, 2),
                    "current_rows_changed": result.current_rows_changed,
                    "peak_rss_mib": round(peak_rss_mib()),
                }
                print(f"postgres {label}: {out[label]}", flush=True)
        finally:
            engine.dispose()
    return out


def bench_sqlite(days: dict) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as folder:
        engine = engine_for(f"sqlite:///{folder}/serving.db")
        upgrade(engine)
        for label, day in (("day1_into_empty_tables", D1), ("day2_over_full_current", D2)):
            served, _ = days[day]
            seconds, result = timed(publish_day, engine, served, day)
            out[label] = {
                "publish_seconds": round(seconds, 2),
                "rows_per_second": round(result.rows / seconds),
                "reason_rows": result.reason_rows,
                "peak_rss_mib": round(peak_rss_mib()),
            }
            print(f"sqlite {label}: {out[label]}", flush=True)
        engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()

    rss_start = peak_rss_mib()
    days = {}
    for seed, day in enumerate((D1, D2), start=1):
        served = served_day(day, args.rows, seed=seed)
        prepare_seconds, prepared = timed(prepare_day, served, day)
        days[day] = (served, prepared)
    print(f"generated 2 days of {args.rows:,} accounts; validating one took {prepare_seconds:.2f}s", flush=True)
    report = {
        "rows_per_day": args.rows,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "served_bytes_per_day": days[D1][0].nbytes,
        "validate_and_shape_seconds": round(prepare_seconds, 2),
        "peak_rss_mib_after_generating": round(peak_rss_mib()),
        "peak_rss_mib_at_start": round(rss_start),
        "postgres": bench_postgres(postgres_url(args.postgres_url), days),
        "sqlite": bench_sqlite(days),
        "peak_rss_mib": round(peak_rss_mib()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
