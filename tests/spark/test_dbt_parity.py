"""The same dbt project on Spark (dbt-spark, session method, local Spark) equals it on DuckDB, row by row (issue 18).

One small generated world is ingested once (validated, as the pipeline ingests it); its raw days are written for
Spark (safeguard.spark_raw) and both engines build the same window with their data tests, then re-run one day whose
events were re-landed empty. Every table the Spark build stores is compared with DuckDB's (tests/spark/parity.py):
exactly on keys, integers, dates and text, within a relative 1e-9 on doubles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from safeguard.contract import SOURCES
from safeguard.ingest import MissingColumnError, ingest_days
from safeguard.landing import LandingZone
from safeguard.spark_features import SparkBuild, build_features_on_spark
from safeguard.spark_raw import export_raw_days, export_whole_tables, land_days_for_spark
from safeguard.warehouse import connect, ensure_raw_schema
from safeguard.world import generate_world
from tests.dbt.harness import BUILT_TABLES, build, day
from tests.landing_factory import valid_rows
from tests.spark.parity import TableParity, compare_all, day_rows

# the module's fixture builds the world twice on each engine (about 3 minutes here), counted against its first test
pytestmark = pytest.mark.timeout(1500)

START = "2026-09-01"
DAYS = 8
ACCOUNTS = 150
HORIZON = 2  # label horizon of the build, so training examples exist within 8 days


def _days(n: int) -> list[str]:
    first = date.fromisoformat(START)
    return [(first + timedelta(days=i)).isoformat() for i in range(n)]


@dataclass
class Parity:
    first: list[TableParity]
    rerun: list[TableParity]
    first_build: SparkBuild
    first_results: list[dict]  # run_results.json of the first build (the re-run writes its own in the same folder)
    rerun_build: SparkBuild
    spark_tables: Path
    usage_by_day_before: dict[str, int]
    usage_by_day_after: dict[str, int]
    rerun_day: str


@pytest.fixture(scope="module")
def parity(tmp_path_factory) -> Parity:
    root = tmp_path_factory.mktemp("dbt-parity")
    days = _days(DAYS)
    generate_world(
        accounts=ACCOUNTS,
        days=DAYS,
        start=START,
        seed=11,
        out_uri=str(root / "landing"),
        truth_path=root / "truth.parquet",
        progress=False,
    )
    warehouse, raw, spark = root / "warehouse.duckdb", root / "spark-raw", root / "spark"
    zone = LandingZone(str(root / "landing"))
    with connect(warehouse) as con:
        ensure_raw_schema(con)
        for source in SOURCES:
            land_days_for_spark(con, zone, raw, source, days)
        export_whole_tables(con, raw)

    end = (date.fromisoformat(days[-1]) + timedelta(days=1)).isoformat()
    build(warehouse, START, end, horizon=HORIZON)
    first_build = build_features_on_spark(day(START), day(end), warehouse=spark, raw=raw, label_horizon_days=HORIZON)
    spark_tables, manifest = spark / "tables", first_build.target_path / "manifest.json"
    first = compare_all(warehouse, spark_tables, manifest)
    first_results = json.loads((first_build.target_path / "run_results.json").read_text())["results"]
    before = day_rows(spark_tables, "intermediate", "int_account_daily_usage", "activity_date")

    # the events of one day are re-landed empty, and that day alone is built again on both engines
    rerun_day = days[3]
    with duckdb.connect(str(warehouse)) as con:  # dbt's in-process DuckDB still holds the file, with its settings
        con.execute("DELETE FROM raw.usage_events WHERE _partition_date = CAST(? AS DATE)", [rerun_day])
        export_raw_days(con, raw, "usage_events", [rerun_day])
    next_day = (date.fromisoformat(rerun_day) + timedelta(days=1)).isoformat()
    build(warehouse, rerun_day, next_day, horizon=HORIZON)
    rerun_build = build_features_on_spark(  # the models alone: the first build ran the data tests on Spark
        day(rerun_day), day(next_day), warehouse=spark, raw=raw, label_horizon_days=HORIZON, data_tests=False
    )
    rerun = compare_all(warehouse, spark_tables, manifest)
    after = day_rows(spark_tables, "intermediate", "int_account_daily_usage", "activity_date")
    return Parity(first, rerun, first_build, first_results, rerun_build, spark_tables, before, after, rerun_day)


def _unequal(results: list[TableParity]) -> list[str]:
    return [str(r) for r in results if not r.equal]


def test_every_table_built_on_spark_equals_duckdb_row_by_row(parity):
    assert not _unequal(parity.first), _unequal(parity.first)
    rows = {r.table: r.duckdb_rows for r in parity.first}
    # a comparison of empty tables would prove nothing: the world fills the features, the labels and the links
    assert rows["marts.fct_account_features"] == ACCOUNTS * DAYS or rows["marts.fct_account_features"] > 0
    assert rows["marts.fct_training_examples"] > 0
    assert rows["intermediate.int_account_daily_usage"] > 0 and rows["intermediate.int_account_links"] > 0


def test_the_data_tests_pass_on_spark(parity):
    tests = [r for r in parity.first_results if r["unique_id"].startswith("test.")]
    assert len(tests) == parity.first_build.tests >= 30
    assert all(r["status"] == "pass" for r in tests), [r["unique_id"] for r in tests if r["status"] != "pass"]


def test_a_rerun_of_one_day_replaces_that_day_on_spark_as_on_duckdb(parity):
    assert not _unequal(parity.rerun), _unequal(parity.rerun)
    day_ = parity.rerun_day
    assert parity.usage_by_day_before.get(day_, 0) > 0
    assert parity.usage_by_day_after.get(day_, 0) == 0  # the re-landed empty day is cleared, not kept
    others = {d: n for d, n in parity.usage_by_day_before.items() if d != day_}
    assert {d: parity.usage_by_day_after[d] for d in others} == others  # and no other day moved
    assert parity.rerun_build.models == parity.first_build.models and parity.rerun_build.tests == 0


def test_every_model_has_a_spark_form_and_every_duckdb_table_is_compared(parity):
    """A model added without its Spark form fails here (or fails the Spark build: dbt-spark refuses the
    replace_window strategy that the project gives DuckDB)."""
    manifest = json.loads((parity.first_build.target_path / "manifest.json").read_text())
    models = {n["name"]: n["config"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for name, config in models.items():
        if config["materialized"] == "incremental":
            assert config["incremental_strategy"] == "insert_overwrite", name
            assert config["partition_by"] == [config["window_column"]], name
    compared = {r.table for r in parity.first}
    spark_views = {name for name, config in models.items() if config["materialized"] == "view"}
    missing = {t for t in BUILT_TABLES if t not in compared and t.split(".")[1] not in spark_views}
    assert not missing, f"tables built on DuckDB but neither compared nor a Spark view: {missing}"
    # a Spark view is still compared, through the tables built from it
    assert "stg_usage_events" in spark_views and "intermediate.int_account_daily_usage" in compared


def test_a_landing_day_missing_a_column_is_refused_for_spark_with_duckdbs_message(tmp_path):
    day_ = START
    zone = LandingZone(str(tmp_path / "landing"))
    zone.write_day("usage_events", day_, [valid_rows("usage_events", day_, 10).drop(["country"])])
    messages = []
    for name, raw in (("duckdb", None), ("spark", tmp_path / "spark-raw")):
        with connect(tmp_path / f"{name}.duckdb") as con:
            ensure_raw_schema(con)
            with pytest.raises(MissingColumnError) as refused:
                if raw is None:
                    ingest_days(con, zone, "usage_events", [day_])
                else:
                    land_days_for_spark(con, zone, raw, "usage_events", [day_])
            messages.append(str(refused.value))
            assert con.execute("SELECT count(*) FROM raw.usage_events").fetchone()[0] == 0
    assert messages[0] == messages[1] and "country" in messages[1] and "usage_events" in messages[1]
    assert not (tmp_path / "spark-raw" / "usage_events" / f"{day_}.parquet").exists()
