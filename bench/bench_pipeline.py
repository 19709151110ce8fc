"""The whole pipeline at scale through the code location's own jobs: an N-day backfill, stage by stage, then one
daily run, each stage next to its floor measured in the same run (issue 8 §1). Writes bench/results/pipeline.json.

Input: a local landing zone of N+1 days (``--landing``), or ``--generate-accounts A --days N`` to generate one of
N+1 days with ``safeguard generate``. Everything else starts empty in a work folder: SAFEGUARD_HOME (warehouse,
models, exports, SQLite serving DB or a scratch PostgreSQL database with ``--postgres-url``) and DAGSTER_HOME (the
pool config of deploy/dagster.local.yaml), so every run lands in a Dagster event log this script reads back.

1. Backfill of days 1..N, one ``safeguard run --start D1 --end DN --groups G`` child process per asset group, in
   dependency order: ingestion, features, modeling (``--groups`` always runs job ``full_graph`` restricted to the
   group, so the modeling stage trains the first model and its gate makes it the champion), scoring, rollout,
   publishing. Per stage: wall, CPU (user+sys of the child and every descendant it waited for, from ``os.wait4``;
   dagster-dbt waits for its ``dbt`` process, so dbt's CPU is in the features stage), peak RSS (``ru_maxrss`` from
   ``os.wait4``: the largest single process of the tree, dbt included; and, sampled from /proc every 0.25 s, the
   peak of the summed RSS of the whole process tree and of the dbt process alone), rows processed and rows/s.
2. The daily run: day N+1 through every group in one ``safeguard run --start DN+1 --end DN+1`` (job
   daily_pipeline, as the schedule runs it), with the same figures plus a per-group breakdown of its wall time
   from the event log (STEP_START .. STEP_SUCCESS of each step).
3. Floors, each in its own child process right after the stage it bounds (same files, same rows):
   ingestion = bare ``CREATE TABLE AS SELECT * FROM read_parquet`` (bench_ingest.py); features = the hand-written
   DuckDB query for the usage features of active accounts (bench_features.py, a subset of what dbt builds);
   scoring = LightGBM ``predict`` on every account + ``pred_contrib`` on the rows the stage explained, champion
   only, feature reads excluded (bench_model.py); publishing = raw COPY of the history rows into a table like
   ``account_risk_history`` (bench_publish.py) on PostgreSQL, a raw ``executemany`` of them on SQLite.
   Modeling and rollout have no floor here (bench_model.py measures training against ``lgb.train``).
4. Targets (issue 8): the daily run under 3 minutes with peak memory under 4 GB; the backfill under 10 minutes.
   For each miss the JSON lists the slowest steps (and dbt models) from the event log.

The first model needs 20 days of training examples, and examples exist only for days whose 14-day label window
has closed, so the backfill needs N >= 34 days. Usage::

    python bench/bench_pipeline.py --generate-accounts 3000 --days 34            # quick check, ~10 min
    python bench/bench_pipeline.py --generate-accounts 100000 --days 34 --postgres-url URL
    python bench/bench_pipeline.py --landing bench/work/landing                 # all days but the last: backfill
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import warnings
from contextlib import ExitStack
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench"
RESULTS = HERE / "results" / "pipeline.json"
BIN = Path(sys.executable).parent
sys.path[:0] = [str(ROOT), str(HERE)]  # safeguard, orchestration, tests and the other benchmarks
from pipeline_floors import FLOORS, measure_floor  # noqa: E402
from process_measure import SAMPLE_SECONDS, run_or_die  # noqa: E402

from safeguard.vocabulary import LABEL_HORIZON_DAYS  # noqa: E402

STAGES = ("ingestion", "features", "modeling", "scoring", "rollout", "publishing")
FLOORED = ("ingestion", "features", "scoring", "publishing")
DAILY_TARGET_SECONDS = 180
DAILY_TARGET_RSS_MIB = 4096
BACKFILL_TARGET_SECONDS = 600
BACKFILL_TARGET_DAYS = 30
MIN_TRAINING_DAYS = 20  # safeguard.training._minimum_days(14, 0.25): fit, early stopping, 14-day gap, validation

# What each stage processed, counted in the warehouse (DuckDB) or the serving DB after the stage: (label, table).
STAGE_ROWS = {
    "ingestion": (
        "raw rows loaded (events, accounts, enforcement)",
        ("raw.usage_events", "raw.accounts", "raw.enforcement_actions"),
    ),
    "features": ("feature rows built (fct_account_features)", ("marts.fct_account_features",)),
    "modeling": (
        "training examples in fct_training_examples (training reads a sample of at most 3M)",
        ("marts.fct_training_examples",),
    ),
    "scoring": ("account scores written (all models)", ("scoring.account_risk_scores",)),
    "rollout": ("served scores written", ("scoring.served_risk_scores",)),
    "publishing": ("history rows published to the serving DB", ("serving:account_risk_history",)),
}


# ---------------------------------------------------------------------------------------------------------------
# Counts and the event log


def table_counts(env: dict) -> dict[str, int]:
    """Rows of every table a stage writes (0 when it does not exist yet), warehouse and serving DB."""
    import duckdb
    import sqlalchemy as sa

    from safeguard.serving.db import engine_for

    tables = {t for _, ts in STAGE_ROWS.values() for t in ts}
    counts = dict.fromkeys(tables, 0)
    if Path(env["WAREHOUSE_PATH"]).exists():
        with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as con:
            present = {
                f"{s}.{t}"
                for s, t in con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
            }
            for table in sorted(tables):
                if table in present:
                    counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    engine = engine_for(env["SERVING_DB_URL"])
    try:
        with engine.connect() as conn:
            present = sa.inspect(conn).get_table_names()
            counts["serving:account_risk_history"] = (
                conn.exec_driver_sql("SELECT count(*) FROM account_risk_history").scalar()
                if "account_risk_history" in present
                else 0
            )
    finally:
        engine.dispose()
    return counts


def rows_processed(stage: str, before: dict, after: dict) -> dict:
    label, tables = STAGE_ROWS[stage]
    if stage == "modeling":  # training reads the table as it stands
        return {"what": label, "rows": sum(after[t] for t in tables)}
    return {
        "what": label,
        "rows": sum(after[t] - before[t] for t in tables),
        "per_table": {t: after[t] - before[t] for t in tables},
    }


def distinct_accounts(env: dict) -> int:
    import duckdb

    with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as con:
        return con.execute("SELECT count(DISTINCT account_id) FROM raw.accounts").fetchone()[0]


def run_id_from(log: Path) -> str:
    ids = re.findall(r"^run ([0-9a-f-]{36}) (?:succeeded|FAILED)", log.read_text(), re.MULTILINE)
    if len(ids) != 1:
        raise SystemExit(f"expected one run id in {log}, found {ids}")
    return ids[0]


def step_timings(run_id: str) -> list[dict]:
    """Per step of the run, from the Dagster event log: seconds from STEP_START to STEP_SUCCESS/FAILURE, the
    asset group of what it materialized, and for dbt the slowest models (their execution time, as dbt reports it)."""
    from dagster import DagsterEventType, DagsterInstance

    with warnings.catch_warnings():  # the code location's beta-API warnings, already in each stage's log
        warnings.simplefilter("ignore")
        from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    started, ended, groups, models = {}, {}, {}, {}
    for entry in DagsterInstance.get().all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        kind = event.event_type
        if kind == DagsterEventType.STEP_START:
            started[event.step_key] = entry.timestamp
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            ended[event.step_key] = (entry.timestamp, kind == DagsterEventType.STEP_SUCCESS)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            key = event.asset_key
            groups.setdefault(event.step_key, set()).add(graph.get(key).group_name if graph.has(key) else "?")
            for name, value in event.step_materialization_data.materialization.metadata.items():
                if name.lower().replace(" ", "_") == "execution_duration":
                    per_model = models.setdefault(event.step_key, {})
                    per_model[key.to_user_string()] = max(per_model.get(key.to_user_string(), 0.0), float(value.value))
    steps = []
    for key, start in started.items():
        end, ok = ended.get(key, (None, False))
        steps.append(
            {
                "step": key,
                "group": ",".join(sorted(groups.get(key, {"?"}))),
                "seconds": round(end - start, 2) if end else None,
                "succeeded": ok,
                **(
                    {
                        "slowest_dbt_models": [
                            {"model": m, "seconds": round(s, 2)}
                            for m, s in sorted(models[key].items(), key=lambda x: -x[1])[:5]
                        ]
                    }
                    if key in models
                    else {}
                ),
            }
        )
    return sorted(steps, key=lambda s: -(s["seconds"] or 0))


# ---------------------------------------------------------------------------------------------------------------
# The benchmark


def pipeline_env(
    work: Path, landing: str, truth: Path | None, first_day: str, serving_url: str | None, reader_role: str | None
) -> dict:
    """A clean environment for the children: everything under ``work`` except the landing zone (and the world's
    ground truth, copied where the model card looks for it)."""
    home, dagster_home = work / "home", work / "dagster_home"
    shutil.rmtree(work, ignore_errors=True)  # every run starts from nothing
    home.mkdir(parents=True, exist_ok=True)
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "deploy" / "dagster.local.yaml", dagster_home / "dagster.yaml")
    if truth:
        (home / "ground_truth").mkdir()
        shutil.copy(truth, home / "ground_truth" / "accounts.parquet")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("WAREHOUSE_PATH", "MODEL_STORE_URI", "EXPORT_URI", "S3_ENDPOINT_URL", "SERVING_DB_URL")
    }
    env.update(
        {
            "SAFEGUARD_HOME": str(home),
            "DAGSTER_HOME": str(dagster_home),
            "LANDING_URI": landing,
            "SAFEGUARD_START_DATE": first_day,
            "WAREHOUSE_PATH": str(home / "warehouse.duckdb"),
            "MODEL_STORE_URI": str(home / "models"),
            "SERVING_DB_URL": serving_url or f"sqlite:///{home / 'serving.db'}",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
        }
    )
    if reader_role:
        env["SERVING_READONLY_ROLE"] = reader_role
    return env


def landing_days(landing: str) -> list[str]:
    from safeguard.landing import LandingZone

    zone = LandingZone(landing)
    return [d for d in zone.list_days("usage_events") if zone.is_complete("usage_events", d)]


def run_stage(stage: str, days: list[str], env: dict, logs: Path, floors: bool) -> dict:
    before = table_counts(env)
    args = [str(BIN / "safeguard"), "run", "--start", days[0], "--end", days[-1], "--groups", stage]
    figures = run_or_die(f"stage {stage}", args, env, logs / f"backfill-{stage}.log")
    processed = rows_processed(stage, before, table_counts(env))
    run_id = run_id_from(logs / f"backfill-{stage}.log")
    result = {
        "stage": stage,
        "command": " ".join(args[1:]),
        "run_id": run_id,
        **figures,
        **processed,
        "rows_per_s": round(processed["rows"] / figures["wall_s"]) if figures["wall_s"] else None,
    }
    print(
        f"   {stage}: {figures['wall_s']:.1f}s wall, {figures['cpu_s']:.1f}s CPU, "
        f"peak RSS {figures['peak_rss_mib']:,.0f} MiB (tree {figures['tree_peak_rss_mib_sampled']:,.0f}), "
        f"{processed['rows']:,} rows",
        flush=True,
    )
    if floors and stage in FLOORED:
        floor = measure_floor(stage, days, env, logs, "backfill")
        result["floor"] = floor
        result["ratio_to_floor"] = round(figures["wall_s"] / floor["seconds"], 2) if floor["seconds"] else None
        print(f"   {stage} floor: {floor['seconds']:.1f}s -> ratio {result['ratio_to_floor']}x", flush=True)
    return result


def run_daily(day: str, env: dict, logs: Path, floors: bool) -> dict:
    before = table_counts(env)
    args = [str(BIN / "safeguard"), "run", "--start", day, "--end", day]
    log = logs / "daily.log"
    figures = run_or_die("daily run", args, env, log)
    after = table_counts(env)
    result = {
        "day": day,
        "command": " ".join(args[1:]),
        "run_id": run_id_from(log),
        **figures,
        "rows": {s: rows_processed(s, before, after)["rows"] for s in STAGES if s != "modeling"},
    }
    print(
        f"   daily run: {figures['wall_s']:.1f}s wall, {figures['cpu_s']:.1f}s CPU, "
        f"peak RSS {figures['peak_rss_mib']:,.0f} MiB (tree {figures['tree_peak_rss_mib_sampled']:,.0f})",
        flush=True,
    )
    if floors:
        result["floors"] = {}
        for stage in FLOORED:
            result["floors"][stage] = measure_floor(stage, [day], env, logs, "daily")
            print(f"   daily {stage} floor: {result['floors'][stage]['seconds']:.2f}s", flush=True)
    return result


def daily_breakdown(daily: dict) -> None:
    """Per group of the daily run: the summed step seconds, the rows, and the ratio to the floor."""
    per_group: dict[str, float] = {}
    for step in daily["steps"]:
        per_group[step["group"]] = per_group.get(step["group"], 0.0) + (step["seconds"] or 0.0)
    daily["stages"] = []
    for stage in STAGES:
        if stage == "modeling":
            continue
        seconds = round(per_group.pop(stage, 0.0), 2)
        floor = daily.get("floors", {}).get(stage)
        daily["stages"].append(
            {
                "stage": stage,
                "step_seconds": seconds,
                "rows": daily["rows"][stage],
                "rows_per_s": round(daily["rows"][stage] / seconds) if seconds else None,
                "floor_seconds": floor["seconds"] if floor else None,
                "ratio_to_floor": round(seconds / floor["seconds"], 2) if floor and floor["seconds"] else None,
            }
        )
    steps_total = sum(s["step_seconds"] for s in daily["stages"]) + sum(per_group.values())
    daily["other_groups_step_seconds"] = {g: round(s, 2) for g, s in per_group.items()}
    daily["outside_steps_s"] = round(daily["wall_s"] - steps_total, 2)  # process start, imports, run set-up


def targets(backfill: dict, daily: dict, backfill_days: int) -> dict:
    daily_peak = max(daily["peak_rss_mib"], daily["tree_peak_rss_mib_sampled"])
    daily_met = daily["wall_s"] < DAILY_TARGET_SECONDS and daily_peak < DAILY_TARGET_RSS_MIB
    backfill_met = backfill["wall_s"] < BACKFILL_TARGET_SECONDS
    out = {
        "daily_run": {
            "target": f"ingestion to publishing < {DAILY_TARGET_SECONDS} s, peak memory < {DAILY_TARGET_RSS_MIB} MiB",
            "wall_s": daily["wall_s"],
            "peak_rss_mib": daily_peak,
            "met": daily_met,
            "peak_rss_is": "max of ru_maxrss (largest process) and the sampled sum over the process tree",
        },
        "backfill": {
            "target": f"{BACKFILL_TARGET_DAYS}-day backfill < {BACKFILL_TARGET_SECONDS} s",
            "days": backfill_days,
            "wall_s": backfill["wall_s"],
            "met": backfill_met,
            "note": (
                f"measured over {backfill_days} days"
                + (
                    f" (a model needs {MIN_TRAINING_DAYS + LABEL_HORIZON_DAYS}); stricter than {BACKFILL_TARGET_DAYS}"
                    if backfill_days > BACKFILL_TARGET_DAYS
                    else ""
                )
            ),
        },
    }
    if not daily_met:
        out["daily_run"]["where_time_goes"] = daily["steps"][:5]
    if not backfill_met:
        out["backfill"]["where_time_goes"] = sorted(
            ({"stage": s["stage"], **step} for s in backfill["stages"] for step in s["steps"]),
            key=lambda x: -(x["seconds"] or 0),
        )[:6]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--landing", help="a local landing zone of N+1 complete days (the last one is the daily run)")
    source.add_argument("--generate-accounts", type=int, help="generate a world of this many accounts (N+1 days)")
    parser.add_argument(
        "--days",
        type=int,
        default=34,
        help="N, the backfill days, with --generate-accounts (the world gets N+1; N >= 34 to train)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated world")
    parser.add_argument(
        "--truth",
        help="with --landing: the world's ground-truth Parquet (copied under the run's "
        "SAFEGUARD_HOME, where the model card's quality section reads it, as in `make demo`)",
    )
    parser.add_argument(
        "--postgres-url",
        help="serving DB on this PostgreSQL server (a scratch database is created "
        "and dropped); default: SQLite under the work folder",
    )
    parser.add_argument("--work", help="work folder (kept); default: a temporary folder under /tmp, removed")
    parser.add_argument("--no-floors", action="store_true", help="skip the floors (stages only)")
    parser.add_argument("--out", default=str(RESULTS), help="where the JSON goes")
    parser.add_argument("--floor", choices=sorted(FLOORS), help=argparse.SUPPRESS)
    parser.add_argument("--floor-days", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.floor:  # child: one floor, printed as JSON on the last line
        print(json.dumps(FLOORS[args.floor](dict(os.environ), args.floor_days.split(","))))
        return
    if not args.landing and not args.generate_accounts:
        parser.error("give --landing or --generate-accounts")

    with ExitStack() as stack:
        work = (
            Path(args.work)
            if args.work
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-pipeline-")))
        )
        work.mkdir(parents=True, exist_ok=True)
        logs = work / "logs"
        logs.mkdir(exist_ok=True)
        load_start = [round(x, 2) for x in os.getloadavg()]
        world: dict = {}
        if args.generate_accounts:
            landing = str(work / "landing")
            shutil.rmtree(landing, ignore_errors=True)
            truth = work / "truth.parquet"
            print(f"== generate {args.generate_accounts:,} accounts x {args.days + 1} days into {landing}", flush=True)
            gen = run_or_die(
                "generate",
                [
                    str(BIN / "safeguard"),
                    "generate",
                    "--accounts",
                    str(args.generate_accounts),
                    "--days",
                    str(args.days + 1),
                    "--seed",
                    str(args.seed),
                    "--out",
                    landing,
                    "--truth",
                    str(truth),
                    "--no-progress",
                ],
                {**os.environ, "PYTHONPATH": str(ROOT)},
                logs / "generate.log",
            )
            world = {
                "generated": True,
                "accounts": args.generate_accounts,
                "seed": args.seed,
                "generate": {k: gen[k] for k in ("wall_s", "cpu_s", "peak_rss_mib")},
            }
        else:
            landing, truth = str(Path(args.landing).resolve()), Path(args.truth) if args.truth else None
            world = {"generated": False}
        days = landing_days(landing)
        backfill_days, daily_day = days[:-1], days[-1]
        if len(backfill_days) < MIN_TRAINING_DAYS + LABEL_HORIZON_DAYS:
            raise SystemExit(
                f"{landing} has {len(days)} complete days: the backfill (all but the last) needs at least "
                f"{MIN_TRAINING_DAYS + LABEL_HORIZON_DAYS} for the first model to train ({MIN_TRAINING_DAYS} days of "
                f"examples, each {LABEL_HORIZON_DAYS} days before its label window closes)"
            )
        world.update(
            {
                "landing": landing,
                "days": len(days),
                "backfill": [backfill_days[0], backfill_days[-1]],
                "daily_day": daily_day,
                "landing_parquet_mib": round(
                    sum(p.stat().st_size for p in Path(landing).rglob("*.parquet")) / 2**20, 1
                ),
            }
        )

        serving_url = reader_role = None
        if args.postgres_url:
            from tests.pg_scratch import scratch_database

            scratch = stack.enter_context(scratch_database(args.postgres_url, "sg_pipe"))
            serving_url, reader_role = scratch.url.render_as_string(hide_password=False), scratch.reader_role
        env = pipeline_env(work / "run", landing, truth, days[0], serving_url, reader_role)
        os.environ.update(env)  # this process reads the same warehouse, serving DB and Dagster instance

        print(
            f"== backfill {backfill_days[0]} .. {backfill_days[-1]} ({len(backfill_days)} days), one stage at a "
            f"time; work folder {work}",
            flush=True,
        )
        stages = [run_stage(stage, backfill_days, env, logs, not args.no_floors) for stage in STAGES]
        for stage in stages:
            stage["steps"] = step_timings(stage["run_id"])
            stage["step_seconds"] = round(sum(step["seconds"] or 0 for step in stage["steps"]), 2)
            stage["outside_steps_s"] = round(stage["wall_s"] - stage["step_seconds"], 2)  # start, imports, set-up
        backfill = {
            "days": len(backfill_days),
            "stages": stages,
            "wall_s": round(sum(s["wall_s"] for s in stages), 2),
            "cpu_s": round(sum(s["cpu_s"] for s in stages), 2),
            "peak_rss_mib": max(s["peak_rss_mib"] for s in stages),
            "tree_peak_rss_mib_sampled": max(s["tree_peak_rss_mib_sampled"] for s in stages),
        }
        print(f"== backfill: {backfill['wall_s']:.0f}s over {len(stages)} stages", flush=True)
        world["accounts_in_raw"] = distinct_accounts(env)
        print(f"== daily run {daily_day}", flush=True)
        daily = run_daily(daily_day, env, logs, not args.no_floors)
        daily["steps"] = step_timings(daily["run_id"])
        daily_breakdown(daily)

        import dagster

        report = {
            "what": "N-day backfill stage by stage, then one daily run, through `safeguard run` (see docstring)",
            "world": world,
            "serving_db": "postgresql" if serving_url else "sqlite",
            "backfill": backfill,
            "daily": daily,
            "targets": targets(backfill, daily, len(backfill_days)),
            "memory_accounting": (
                "peak_rss_mib is ru_maxrss from os.wait4: the largest single process among the child and the "
                "descendants it waited for (Linux); dagster-dbt waits for its dbt process (Popen.wait in "
                "DbtCliInvocation), so dbt is covered, as dbt_peak_rss_mib_sampled <= peak_rss_mib shows. It is "
                "not a sum: tree_peak_rss_mib_sampled sums the RSS of every process of the tree alive at the same "
                f"time, sampled from /proc every {SAMPLE_SECONDS} s. cpu_s is user+sys of the child and every "
                "waited-for descendant (dbt included); cpu_rusage_children_delta_s checks it from this process."
            ),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "dagster": dagster.__version__,
                "load_average_start": load_start,
                "load_average_end": [round(x, 2) for x in os.getloadavg()],
            },
            "measured_on": date.today().isoformat(),
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    t = report["targets"]
    print(
        f"== daily run {'MET' if t['daily_run']['met'] else 'MISSED'} ({daily['wall_s']:.0f}s, "
        f"{t['daily_run']['peak_rss_mib']:,.0f} MiB); backfill {'MET' if t['backfill']['met'] else 'MISSED'} "
        f"({backfill['wall_s']:.0f}s); wrote {args.out}",
        flush=True,
    )


if __name__ == "__main__":
    main()
