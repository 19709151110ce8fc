"""Benchmark the synthetic world generator against DuckDB writing the same number of rows.

    python bench/bench_generate.py --accounts 1000000 --days 30 --out /tmp/bench-world

Measures the generator's wall time, events per second and peak RSS (``resource.getrusage``), then, as the
baseline in the same run, DuckDB writing as many usage-event rows of the same shape (the contract's 15 columns,
ids and hashes of the same widths, zstd level 1 Parquet as pyarrow writes by default) with one
``COPY (SELECT ... FROM range(n)) TO``. The baseline
only formats and writes rows; the generator also simulates the world behind them, so the ratio says how much the
simulation costs over plain writing. Figures go to ``bench/results/generate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safeguard.world import generate_world

RESULTS = ROOT / "bench" / "results" / "generate.json"

# One usage_events row per i: same columns, types and string widths as the generator writes.
_BASELINE_SQL = """
COPY (
  SELECT
    'evt_' || lpad(to_hex(hash(i)), 16, '0')                                   AS event_id,
    'acct_' || lpad((hash(i, 1) % {accounts})::VARCHAR, 7, '0')                 AS account_id,
    CASE WHEN i % 3 = 0 THEN NULL ELSE 'org_' || lpad((i % 100000)::VARCHAR, 7, '0') END AS org_id,
    'key_' || lpad(to_hex(hash(i % {accounts}, 2)), 16, '0')                    AS api_key_id,
    make_timestamp({start_us} + (hash(i, 3) % 86400000000)::BIGINT)::TIMESTAMPTZ AS event_ts,
    (['claude-3-5-haiku', 'claude-sonnet-4', 'claude-opus-4'])[1 + i % 3]       AS model,
    (hash(i, 4) % 4000)::BIGINT                                                AS input_tokens,
    (hash(i, 5) % 2000)::BIGINT                                                AS output_tokens,
    lpad(to_hex(hash(i % {accounts}, 6)), 16, '0')                              AS ip_hash,
    (['US', 'IN', 'GB', 'DE', 'BR', 'FR'])[1 + i % 6]                           AS country,
    (['python-sdk', 'ts-sdk', 'curl', 'web', 'go-http'])[1 + i % 5]             AS client,
    (['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'refusal'])[1 + i % 5] AS stop_reason,
    CASE WHEN i % 30 = 0 THEN NULL ELSE (['none', 'cyber', 'fraud_scams'])[1 + i % 3] END AS policy_category,
    (hash(i, 7) % 1000000) / 1e6                                               AS classifier_score,
    lpad(to_hex(hash(i % 1000003, 8)), 16, '0')                                 AS prompt_template_hash
  FROM range({rows}) AS t(i)
) TO '{path}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)
"""


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _size_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def duckdb_baseline(rows: int, accounts: int, start: str, out: Path) -> dict:
    """Wall time for DuckDB to write ``rows`` usage-event-shaped rows with one COPY ... TO (all cores)."""
    path = out / "duckdb_baseline.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    start_us = int(datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp()) * 1_000_000
    began = time.perf_counter()
    con.execute(_BASELINE_SQL.format(rows=rows, accounts=accounts, start_us=start_us, path=path))
    seconds = time.perf_counter() - began
    written = con.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0]
    if written != rows:
        raise RuntimeError(f"the DuckDB baseline wrote {written} rows to {path}, expected {rows}")
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "threads": con.sql("SELECT current_setting('threads')").fetchone()[0],
        "file_mib": round(path.stat().st_size / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--start", default="2026-09-01")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True, help="scratch folder (replaced), e.g. /tmp/bench-world")
    parser.add_argument("--keep", action="store_true", help="keep the generated files afterwards")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    summary = generate_world(
        accounts=args.accounts,
        days=args.days,
        start=date.fromisoformat(args.start),
        seed=args.seed,
        out_uri=str(args.out / "landing"),
        truth_path=args.out / "truth.parquet",
        progress=True,
    )
    generator_peak = _peak_rss_mib()
    events = summary.rows["usage_events"]
    figures = {
        "accounts": args.accounts,
        "days": args.days,
        "seed": args.seed,
        "rows": summary.rows,
        "abusers": summary.abusers,
        "generator": {
            "seconds": round(summary.seconds, 2),
            "events_per_second": round(events / summary.seconds),
            "events_per_account_day": round(events / (args.accounts * args.days), 3),
            "peak_rss_mib": round(generator_peak, 1),
            "landing_mib": round(_size_mib(args.out / "landing"), 1),
        },
        "duckdb_copy_baseline": duckdb_baseline(events, args.accounts, args.start, args.out),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__},
    }
    base = figures["duckdb_copy_baseline"]
    figures["generator_vs_duckdb_time_ratio"] = round(summary.seconds / base["seconds"], 2)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
