"""Feature build time and peak memory of the dbt models next to a hand-written floor and a dataframe version.

On a warehouse whose raw.* tables hold the landing data, for the days [start, end] found in raw.usage_events:

- ``dbt_full``: ``dbt build`` (models and data tests, as the Dagster asset runs it) of the whole range, one run,
  from nothing: the dbt schemas (``DBT_SCHEMAS``) are dropped from the warehouse first;
- ``dbt_day``: the incremental re-build of the last day alone (a daily partition);
- ``floor_day``: the same floor query for the last as_of day alone, the floor of ``dbt_day``;
- ``floor``: one hand-written DuckDB query computing per account and as_of date the usage features of the three
  windows (events, tokens, flagged / refused / night requests, distinct IPs and countries, busiest hour) straight
  from raw.usage_events, for accounts with activity: a lower bound that skips dedupe, account snapshots, links,
  zero rows for quiet accounts, templates and the contract;
- ``polars``: the same features as ``floor`` with polars (per-day aggregates, then one group-by per as_of date
  and window).

Each phase runs in its own child process (its peak RSS is its own); floor and polars are checked against the
dbt table on events_7d and distinct_ips_28d (floor_day against the dbt table's last day). Usage::

    python bench/bench_features.py WAREHOUSE.duckdb [--out bench/results/features.json]
    python bench/bench_features.py --generate-accounts 2000 --days 10   # synthetic world, ingested, in a temp dir

dbt writes the feature tables into the warehouse it is given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "features.json"
WINDOWS = (1, 7, 28)
PHASES = ("dbt_full", "dbt_day", "floor_day", "floor", "polars")
DBT_SCHEMAS = ("staging", "intermediate", "marts")  # what the dbt project writes (dbt_project.yml)


def _window_aggregates(w: int) -> str:
    inside = f"e.event_ts >= d.as_of_date - INTERVAL {w - 1} DAY"
    return f"""
        count(*) FILTER (WHERE {inside}) AS events_{w}d,
        coalesce(sum(e.input_tokens) FILTER (WHERE {inside}), 0) AS input_tokens_{w}d,
        coalesce(sum(e.output_tokens) FILTER (WHERE {inside}), 0) AS output_tokens_{w}d,
        count(*) FILTER (WHERE {inside} AND e.flagged) AS flagged_{w}d,
        count(*) FILTER (WHERE {inside} AND e.stop_reason = 'refusal') AS refusals_{w}d,
        count(*) FILTER (WHERE {inside} AND hour(e.event_ts) < 6) AS night_{w}d,
        count(DISTINCT e.ip_hash) FILTER (WHERE {inside}) AS distinct_ips_{w}d,
        count(DISTINCT e.country) FILTER (WHERE {inside}) AS distinct_countries_{w}d"""


def floor_sql(start: str, end: str) -> str:
    """Usage features of every active account for each as_of date in [start, end], from raw events in one query."""
    longest = max(WINDOWS)
    return f"""
    WITH dates AS (
        SELECT CAST(range AS DATE) AS as_of_date FROM range(DATE '{start}', DATE '{end}' + 1, INTERVAL 1 DAY)
    ),
    events AS (
        SELECT account_id, event_ts, input_tokens, output_tokens, ip_hash, country, stop_reason,
               classifier_score >= 0.5 AND policy_category IS NOT NULL AND policy_category <> 'none' AS flagged,
               date_trunc('hour', event_ts) AS hour
        FROM raw.usage_events
        WHERE event_ts >= DATE '{start}' - INTERVAL {longest - 1} DAY AND event_ts < DATE '{end}' + 1
    ),
    hours AS (SELECT account_id, hour, count(*) AS n FROM events GROUP BY ALL)
    SELECT d.as_of_date, e.account_id, {",".join(_window_aggregates(w) for w in WINDOWS)},
        (SELECT max(h.n) FROM hours h WHERE h.account_id = e.account_id
            AND h.hour >= d.as_of_date - INTERVAL 6 DAY AND h.hour < d.as_of_date + 1) AS max_events_in_hour_7d
    FROM dates d
    JOIN events e ON e.event_ts < d.as_of_date + 1 AND e.event_ts >= d.as_of_date - INTERVAL {longest - 1} DAY
    GROUP BY d.as_of_date, e.account_id
    """


def polars_features(warehouse: str, start: str, end: str):
    """The floor's features with polars: one vectorized group-by per as_of date and window."""
    import duckdb
    import polars as pl

    first = date.fromisoformat(start) - timedelta(days=max(WINDOWS) - 1)
    with duckdb.connect(warehouse, read_only=True) as con:
        events = pl.from_arrow(
            con.sql(
                "SELECT account_id, event_ts, input_tokens, output_tokens, ip_hash, country, stop_reason, "
                "policy_category, classifier_score FROM raw.usage_events "
                f"WHERE event_ts >= DATE '{first}' AND event_ts < DATE '{end}' + 1"
            ).to_arrow_table()
        )
    events = events.with_columns(
        flagged=(pl.col("classifier_score") >= 0.5)
        & pl.col("policy_category").is_not_null()
        & (pl.col("policy_category") != "none"),
        day=pl.col("event_ts").dt.date(),
        hour=pl.col("event_ts").dt.truncate("1h"),
    )
    frames = []
    day = date.fromisoformat(start)
    while day <= date.fromisoformat(end):
        per_window = []
        for w in WINDOWS:
            inside = events.filter(pl.col("day").is_between(day - timedelta(days=w - 1), day))
            per_window.append(
                inside.group_by("account_id").agg(
                    pl.len().alias(f"events_{w}d"),
                    pl.col("input_tokens").sum().alias(f"input_tokens_{w}d"),
                    pl.col("output_tokens").sum().alias(f"output_tokens_{w}d"),
                    pl.col("flagged").sum().alias(f"flagged_{w}d"),
                    (pl.col("stop_reason") == "refusal").sum().alias(f"refusals_{w}d"),
                    (pl.col("event_ts").dt.hour() < 6).sum().alias(f"night_{w}d"),
                    pl.col("ip_hash").n_unique().alias(f"distinct_ips_{w}d"),
                    pl.col("country").drop_nulls().n_unique().alias(f"distinct_countries_{w}d"),
                )
            )
        frame = per_window[-1]
        for other in per_window[:-1]:
            frame = frame.join(other, on="account_id", how="left")
        frames.append(frame.fill_null(0).with_columns(as_of_date=pl.lit(day)))
        day += timedelta(days=1)
    return pl.concat(frames, how="diagonal")


def run_phase(phase: str, warehouse: str, start: str, end: str) -> dict:
    """One phase in this (child) process: seconds, and for the comparisons a checksum of two columns."""
    import duckdb

    from assets.dbt_project import warehouse_path_env
    from safeguard.dbt_vars import dbt_build_args

    if phase == "dbt_full":
        with duckdb.connect(warehouse) as con:
            for schema in DBT_SCHEMAS:
                con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    began = time.perf_counter()
    if phase in ("dbt_full", "dbt_day"):
        first = start if phase == "dbt_full" else end
        args = dbt_build_args(datetime.fromisoformat(first), datetime.fromisoformat(end) + timedelta(days=1))
        # its own target folder, removed after: the project's target/ holds the manifest the code location loads
        with warehouse_path_env(warehouse), tempfile.TemporaryDirectory(prefix="bench-features-dbt-") as target:
            subprocess.run(
                [str(Path(sys.executable).parent / "dbt"), *args, "--quiet", "--target-path", target],
                cwd=ROOT / "dbt_project",
                env={**os.environ, "DBT_PROFILES_DIR": str(ROOT / "dbt_project")},
                check=True,
            )
        seconds = time.perf_counter() - began
        with duckdb.connect(warehouse, read_only=True) as con:
            rows, *sums = con.sql(
                "SELECT count(*), sum(events_7d), sum(distinct_ips_28d), "
                f"sum(events_7d) FILTER (WHERE as_of_date = DATE '{end}'), "
                f"sum(distinct_ips_28d) FILTER (WHERE as_of_date = DATE '{end}') FROM marts.fct_account_features "
                f"WHERE as_of_date BETWEEN DATE '{start}' AND DATE '{end}'"
            ).fetchone()
        check, check_day = sums[:2], sums[2:]
        return {"seconds": round(seconds, 3), "rows": rows, "check": check, "check_day": check_day}
    if phase in ("floor", "floor_day"):
        with duckdb.connect(warehouse, read_only=True) as con:
            table = con.sql(floor_sql(start if phase == "floor" else end, end)).to_arrow_table()
        seconds = time.perf_counter() - began
        import pyarrow.compute as pc

        check = [pc.sum(table["events_7d"]).as_py(), pc.sum(table["distinct_ips_28d"]).as_py()]
        return {"seconds": round(seconds, 3), "rows": table.num_rows, "check": check}
    frame = polars_features(warehouse, start, end)
    seconds = time.perf_counter() - began
    return {
        "seconds": round(seconds, 3),
        "rows": frame.height,
        "check": [int(frame["events_7d"].sum()), int(frame["distinct_ips_28d"].sum())],
    }


def in_child(phase: str, warehouse: str, start: str, end: str) -> dict:
    """Run ``phase`` in a child process; its result plus its peak RSS (ru_maxrss of that child alone)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--phase", phase, warehouse, "--start", start, "--end", end],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"phase {phase} failed (status {status})")
    result = json.loads(out.decode().strip().splitlines()[-1])
    # the dbt phases' peak is the dbt subprocess's (a grandchild): ru_maxrss covers waited-for descendants
    return {**result, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def generate(accounts: int, days: int, folder: str) -> str:
    """A synthetic world ingested into a fresh warehouse in ``folder``; returns the warehouse path."""
    import duckdb

    from safeguard.contract import SOURCES, warehouse_ddl
    from safeguard.ingest import ingest_days
    from safeguard.landing import LandingZone
    from safeguard.world.generate import generate_world

    landing, warehouse = f"{folder}/landing", f"{folder}/warehouse.duckdb"
    generate_world(
        accounts=accounts,
        days=days,
        start="2026-09-01",
        seed=7,
        out_uri=landing,
        truth_path=f"{folder}/truth.parquet",
        progress=False,
    )
    zone = LandingZone(landing)
    with duckdb.connect(warehouse) as con:
        for statement in warehouse_ddl():
            con.execute(statement)
        for source in SOURCES:
            ingest_days(con, zone, source, zone.list_days(source))
    return warehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", nargs="?", help="a DuckDB warehouse with raw.* loaded")
    parser.add_argument("--generate-accounts", type=int, help="generate and ingest a world of this many accounts")
    parser.add_argument("--days", type=int, default=10, help="days of the generated world")
    parser.add_argument("--start", help="first as_of day (default: first day of raw.usage_events)")
    parser.add_argument("--end", help="last as_of day, inclusive (default: last day of raw.usage_events)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help="comma-separated phases to run, of " + ", ".join(PHASES) + " (default: all); "
        "polars holds the events in memory (about 20 GB at 1M accounts x 30 days)",
    )
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args.phase, args.warehouse, args.start, args.end)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        if args.generate_accounts:
            warehouse = generate(args.generate_accounts, args.days, tmp)
        elif args.warehouse:
            warehouse = str(Path(args.warehouse).resolve())
        else:
            parser.error("give a warehouse or --generate-accounts")
        import duckdb

        with duckdb.connect(warehouse, read_only=True) as con:
            first, last, events, accounts = con.sql(
                "SELECT min(event_ts)::DATE::VARCHAR, max(event_ts)::DATE::VARCHAR, count(*), "
                "count(DISTINCT account_id) FROM raw.usage_events"
            ).fetchone()
        start, end = args.start or first, args.end or last
        chosen = [phase for phase in PHASES if phase in args.phases.split(",")]
        phases = {}
        for phase in chosen:
            print(f"{phase} ...", file=sys.stderr, flush=True)
            phases[phase] = in_child(phase, warehouse, start, end)
            print(f"{phase}: {phases[phase]['seconds']} s", file=sys.stderr, flush=True)

    checks = {name: p.pop("check") for name, p in phases.items()}
    day_checks = {name: p.pop("check_day") for name, p in phases.items() if "check_day" in p}
    if "floor_day" in checks:
        day_checks["floor_day"] = checks.pop("floor_day")
    checks.pop("dbt_day", None)  # the same table as dbt_full after re-building its last day
    report = {
        "what": "feature build over the as_of days [start, end]; floor and polars compute a subset (see docstring)",
        "warehouse": args.warehouse or f"generated: {args.generate_accounts} accounts, {args.days} days",
        "start": start,
        "end": end,
        "raw_events": events,
        "active_accounts": accounts,
        "phases": phases,
        "events_7d_and_distinct_ips_28d_agree": len({tuple(c) for c in checks.values()}) == 1,
        "checks": checks,
        "last_day_agrees": len({tuple(c) for c in day_checks.values()}) == 1,
        "last_day_checks": day_checks,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
