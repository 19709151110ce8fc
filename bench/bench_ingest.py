"""Ingestion rate and peak memory of ``safeguard.ingest.ingest_days`` next to a bare DuckDB baseline.

Over an existing local landing folder, for every complete day of every source:

- ``ingest``: ``ingest_days`` over all the days in one batch (what a single-run backfill does): read each file,
  type and judge every row, find duplicates, publish in one transaction;
- ``baseline``: the fastest load DuckDB offers with no validation at all, one
  ``CREATE TABLE AS SELECT * FROM read_parquet([...])`` per source over the same files.

Each runs in its own child process on a fresh warehouse file, so its peak RSS is its own. Usage::

    python bench/bench_ingest.py LANDING_DIR [--repeats 1] [--out bench/results/ingest.json]
    python bench/bench_ingest.py --generate-accounts 20000 --days 3   # builds a synthetic world in a temp folder
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

RESULTS = Path(__file__).parent / "results" / "ingest.json"
ROOT = Path(__file__).resolve().parents[1]


def complete_days(zone, source: str) -> list[str]:
    return [d for d in zone.list_days(source) if zone.is_complete(source, d)]


def run_phase(phase: str, landing: str, warehouse: str, only_days: list[str] | None = None) -> dict:
    """Load every complete day (or those of ``only_days``) of every source with ``phase``; rows and seconds per
    source, and peak RSS."""
    import pyarrow as pa

    from safeguard.contract import SOURCES
    from safeguard.ingest import ingest_days
    from safeguard.landing import LandingZone
    from safeguard.warehouse import connect

    zone = LandingZone(landing)
    per_source = {}
    # Both phases under the warehouse memory limit the pipeline runs with (WAREHOUSE_MEMORY_LIMIT).
    with connect(warehouse) as con:
        # DuckDB's first scan of a Python object imports pandas (seconds on a busy machine): a one-off per
        # process, paid here in both phases so that the rates are steady-state ones.
        started = time.perf_counter()
        con.from_arrow(pa.table({"warm_up": [0]})).fetchall()
        warm_up = time.perf_counter() - started
        for source in SOURCES:
            days = [d for d in complete_days(zone, source) if only_days is None or d in only_days]
            started = time.perf_counter()
            if phase == "ingest":
                result = ingest_days(con, zone, source, days)
                rows, loaded = result.rows_read, result.rows_loaded
            else:
                files = [zone.store.full_uri(f) for d in days for f in zone.day_files(source, d).files]
                con.execute(f"CREATE TABLE {source} AS SELECT * FROM read_parquet({files!r})")
                (rows,) = con.execute(f"SELECT count(*) FROM {source}").fetchone()
                loaded = rows  # no validation: everything loads
            seconds = time.perf_counter() - started
            per_source[source] = {
                "days": len(days),
                "rows": rows,
                "rows_loaded": loaded,
                "seconds": round(seconds, 3),
                "rows_per_s": round(rows / seconds) if seconds else None,
            }
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "sources": per_source,
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "warm_up_seconds": round(warm_up, 2),
    }


def in_child(phase: str, landing: str, keep_warehouse: str | None = None) -> dict:
    """``run_phase`` in a fresh interpreter on a fresh warehouse file (clean peak RSS, cold DuckDB).

    With ``keep_warehouse``, the ingest phase writes that file instead, and it stays for later benchmarks.
    """
    with tempfile.TemporaryDirectory(prefix=f"bench-ingest-{phase}-") as tmp:
        warehouse = keep_warehouse if keep_warehouse and phase == "ingest" else f"{tmp}/warehouse.duckdb"
        if keep_warehouse and phase == "ingest":
            Path(warehouse).unlink(missing_ok=True)
        out = subprocess.run(
            [sys.executable, __file__, "--phase", phase, "--warehouse", warehouse, landing],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout
    return json.loads(out.strip().splitlines()[-1])


def generate(accounts: int, days: int, folder: str) -> dict:
    """A synthetic world (``safeguard.world``) in ``folder``/landing; its ground truth beside it."""
    from safeguard.world.generate import generate_world

    summary = generate_world(
        accounts=accounts,
        days=days,
        start="2026-09-01",
        seed=7,
        out_uri=f"{folder}/landing",
        truth_path=f"{folder}/truth.parquet",
        progress=False,
    )
    return {"accounts": accounts, "days": days, "rows": summary.rows}


def landing_bytes(landing: str) -> int:
    return sum(p.stat().st_size for p in Path(landing).rglob("*.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("landing", nargs="?", help="a local landing folder (design §3.1)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per phase; the fastest is reported")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--generate-accounts", type=int, help="generate a synthetic world of this many accounts")
    parser.add_argument("--days", type=int, default=3, help="days of the generated world")
    parser.add_argument(
        "--keep-warehouse", help="leave the ingested warehouse at this path (input of bench_features.py)"
    )
    parser.add_argument("--phase", choices=["ingest", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:  # child process: one measurement, printed as JSON
        print(json.dumps(run_phase(args.phase, args.landing, args.warehouse)))
        return
    if args.landing and args.landing.startswith("s3://"):
        parser.error("the baseline reads local files: give a local landing folder")

    with tempfile.TemporaryDirectory(prefix="bench-ingest-world-") as tmp:
        world = None
        landing = args.landing
        if args.generate_accounts:
            world = generate(args.generate_accounts, args.days, tmp)
            landing = f"{tmp}/landing"
        elif not landing:
            parser.error("give a landing folder or --generate-accounts")
        landing = str(Path(landing).resolve())
        phases = {
            phase: min(
                (in_child(phase, landing, args.keep_warehouse) for _ in range(args.repeats)),
                key=lambda r: sum(s["seconds"] for s in r["sources"].values()),
            )
            for phase in ("baseline", "ingest")
        }
        size = landing_bytes(landing)

    ingest, baseline = phases["ingest"], phases["baseline"]
    events = ingest["sources"]["usage_events"]
    report = {
        "landing": args.landing or f"generated: {world}",
        "landing_parquet_mib": round(size / 2**20, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "repeats": args.repeats,
        "events_per_s": events["rows_per_s"],
        "baseline_events_per_s": baseline["sources"]["usage_events"]["rows_per_s"],
        "ingest_seconds_total": round(sum(s["seconds"] for s in ingest["sources"].values()), 3),
        "baseline_seconds_total": round(sum(s["seconds"] for s in baseline["sources"].values()), 3),
        "warm_up_seconds_excluded": ingest["warm_up_seconds"],
        "ingest_peak_rss_mib": ingest["peak_rss_mib"],
        "baseline_peak_rss_mib": baseline["peak_rss_mib"],
        "ingest": ingest["sources"],
        "baseline": baseline["sources"],
    }
    report["slowdown_vs_baseline"] = round(report["ingest_seconds_total"] / report["baseline_seconds_total"], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
