"""The floors of bench_pipeline.py: each stage's bare equivalent on the same files and rows, in its own child
process (ingestion: CREATE TABLE AS; features: the hand-written query; scoring: predict + pred_contrib;
publishing: a raw COPY or executemany)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from process_measure import run_or_die

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench"
BIN = Path(sys.executable).parent


def floor_ingestion(env: dict, days: list[str]) -> dict:
    from bench_ingest import run_phase

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-floor-", dir=env["SAFEGUARD_HOME"]) as tmp:
        result = run_phase("baseline", env["LANDING_URI"], f"{tmp}/floor.duckdb", only_days=days)
    sources = result["sources"]
    return {
        "what": "bare CREATE TABLE AS SELECT * FROM read_parquet of the same files, one per source, no checks",
        "seconds": round(sum(s["seconds"] for s in sources.values()), 3),
        "rows": sum(s["rows"] for s in sources.values()),
        "per_source": sources,
    }


def floor_features(env: dict, days: list[str]) -> dict:
    from bench_features import run_phase

    result = run_phase("floor", env["WAREHOUSE_PATH"], days[0], days[-1])
    return {
        "what": "one hand-written DuckDB query: usage features of active accounts (a subset of dbt's)",
        "seconds": result["seconds"],
        "rows": result["rows"],
    }


def floor_scoring(env: dict, days: list[str]) -> dict:
    import duckdb
    from bench_model import predict_floor

    from safeguard.landing import ObjectStore
    from safeguard.registry import ModelRegistry
    from safeguard.scoring import SCORES_TABLE, read_day_features
    from safeguard.serving.db import engine_for
    from safeguard.vocabulary import CHAMPION

    engine = engine_for(env["SERVING_DB_URL"])
    try:
        registry = ModelRegistry(engine, ObjectStore(env["MODEL_STORE_URI"]))
        model = registry.load(registry.champion().version)
    finally:
        engine.dispose()
    seconds, rows, explained_rows = 0.0, 0, 0
    with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as con:
        for day in days:
            features = read_day_features(con, day)
            explained = con.execute(
                f"SELECT explained FROM {SCORES_TABLE} WHERE score_date = ?::DATE AND model_role = ? "
                "ORDER BY account_id",
                [day, CHAMPION],
            ).fetchnumpy()["explained"]
            if len(explained) != len(features):
                raise SystemExit(f"{day}: {len(features)} feature rows but {len(explained)} champion scores")
            started = time.perf_counter()
            predict_floor(model, features, explained)
            seconds += time.perf_counter() - started
            rows, explained_rows = rows + len(features), explained_rows + int(explained.sum())
    return {
        "what": "LightGBM predict on every account + pred_contrib on the rows the stage explained, champion "
        "only, feature reads excluded",
        "seconds": round(seconds, 3),
        "rows": rows,
        "explained_rows": explained_rows,
    }


def _executemany_seconds(engine, rows) -> float:
    """Seconds for a raw ``executemany`` of ``rows`` into an empty copy of account_risk_history (SQLite)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS raw_history")
        conn.exec_driver_sql("CREATE TABLE raw_history AS SELECT * FROM account_risk_history WHERE 0")
    columns = [rows.column(i).to_pylist() for i in range(rows.num_columns)]
    names = ", ".join(f'"{c}"' for c in rows.column_names)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.connection.driver_connection.executemany(
            f"INSERT INTO raw_history ({names}) VALUES ({', '.join('?' * rows.num_columns)})", zip(*columns)
        )
    return time.perf_counter() - started


def floor_publishing(env: dict, days: list[str]) -> dict:
    import duckdb
    from bench_publish import raw_copy

    from safeguard.serving.db import engine_for
    from safeguard.serving.prepare import prepare_day, with_published_at
    from safeguard.serving.publish import read_served_day
    from safeguard.vocabulary import utcnow

    engine = engine_for(env["SERVING_DB_URL"])
    postgres = engine.dialect.name == "postgresql"
    seconds, rows = 0.0, 0
    try:
        with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as con:
            for day in days:
                history = with_published_at(prepare_day(read_served_day(con, day), day).history, utcnow())
                seconds += (
                    raw_copy(engine, "raw_history", "account_risk_history", history)
                    if postgres
                    else _executemany_seconds(engine, history)
                )
                rows += history.num_rows
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS raw_history")
    finally:
        engine.dispose()
    how = "COPY (CSV) on PostgreSQL" if postgres else "executemany on SQLite"
    return {
        "what": f"raw {how} of the history rows into a table like account_risk_history, day by day",
        "seconds": round(seconds, 3),
        "rows": rows,
    }


FLOORS = {
    "ingestion": floor_ingestion,
    "features": floor_features,
    "scoring": floor_scoring,
    "publishing": floor_publishing,
}


def measure_floor(stage: str, days: list[str], env: dict, logs: Path, tag: str) -> dict:
    """The floor of ``stage`` over ``days`` in a child process: its own result plus wall, CPU and peak RSS."""
    log = logs / f"{tag}-floor-{stage}.log"
    figures = run_or_die(
        f"floor of {stage}",
        [sys.executable, str(HERE / "bench_pipeline.py"), "--floor", stage, "--floor-days", ",".join(days)],
        env,
        log,
    )
    result = json.loads(log.read_text().strip().splitlines()[-1])
    return {**result, "process": {k: figures[k] for k in ("wall_s", "cpu_s", "peak_rss_mib")}}
