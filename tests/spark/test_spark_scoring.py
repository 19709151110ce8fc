"""Scoring with reasons as a Spark job (safeguard/spark_scoring.py, issue 18) gives the single-machine path's
scores, tiers and reasons on the same accounts; a re-run of a day replaces exactly that day; and a machine without
Spark's parts gets one line saying what to install. A real local Spark (pyspark, Java 17), a few hundred accounts."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pytest

from safeguard.landing import ObjectStore
from safeguard.registry import ModelRegistry
from safeguard.scoring import SCORES_SCHEMA, score_accounts
from safeguard.serving.db import engine_for, upgrade
from safeguard.spark_engine import SparkUnavailable, check_spark
from safeguard.spark_scoring import main, score_shards, write_spark_scores
from safeguard.training import train_risk_model
from tests import model_factory as mf

DAYS = ["2026-08-15", "2026-08-16"]
KEY = ["model_version", "account_id"]


@pytest.fixture(scope="module")
def models():
    champion = mf.trained_model(seed=7)
    candidate = train_risk_model(mf.training_examples(seed=1), mf.feature_specs(), seed=8)
    return [("champion", champion), ("candidate", candidate)]


def _features(day: str, accounts: int = 600, seed: int = 3) -> pd.DataFrame:
    frame = mf.synthetic_frame(accounts, [day], seed=seed).drop(columns="label")
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).dt.date
    return frame


def _sorted(table: pa.Table) -> pa.Table:
    return table.select(SCORES_SCHEMA.names).sort_by([(k, "ascending") for k in KEY])


def test_spark_scores_tiers_and_reasons_equal_the_single_machine_path(spark, models):
    frame = _features(DAYS[0])
    expected = _sorted(score_accounts(frame, models, DAYS[0], sample_rate=0.05).table)
    got = _sorted(score_shards(spark.createDataFrame(frame), models, DAYS[0], shards=3, sample_rate=0.05).toArrow())

    assert got.num_rows == expected.num_rows == 2 * len(frame)
    for column in SCORES_SCHEMA.names:
        assert got.column(column).to_pylist() == expected.column(column).to_pylist(), column
    explained = pa.compute.sum(expected.column("explained")).as_py()
    assert 0 < explained < expected.num_rows  # alerts and the monitoring sample are explained, the rest not
    assert got.column("reasons_json").null_count == expected.num_rows - explained


def test_a_rerun_of_a_day_replaces_that_day_and_nothing_else(spark, models):
    table = "scores_rerun"
    for day in DAYS:
        write_spark_scores(score_shards(spark.createDataFrame(_features(day)), models, day, shards=2), table)
    champion_only = models[:1]
    write_spark_scores(score_shards(spark.createDataFrame(_features(DAYS[0])), champion_only, DAYS[0], shards=2), table)

    counts = {
        (str(r["score_date"]), r["model_version"]): r["count"]
        for r in spark.table(table).groupBy("score_date", "model_version").count().collect()
    }
    champion, candidate = (m.version for _, m in models)
    assert counts == {(DAYS[0], champion): 600, (DAYS[1], champion): 600, (DAYS[1], candidate): 600}


def test_the_job_scores_a_features_table_with_the_registry_champion(spark, models, tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    upgrade(engine_for(url))
    registry = ModelRegistry(engine_for(url), ObjectStore(str(tmp_path / "models")))
    registry.register(models[0][1], "champion")
    monkeypatch.setenv("SERVING_DB_URL", url)
    monkeypatch.setenv("MODEL_STORE_URI", str(tmp_path / "models"))
    spark.sql("CREATE DATABASE IF NOT EXISTS job_marts")
    spark.createDataFrame(pd.concat([_features(d, 300) for d in DAYS])).write.mode("overwrite").saveAsTable(
        "job_marts.features"
    )

    argv = ["--date", DAYS[1], "--features", "job_marts.features", "--scores", "job_scoring.scores", "--shards", "2"]
    assert main(argv) == 0
    assert f"{DAYS[1]}: scored with {models[0][1].version} into job_scoring.scores" in capsys.readouterr().out
    rows = spark.table("job_scoring.scores").collect()
    assert len(rows) == 300 and {str(r["score_date"]) for r in rows} == {DAYS[1]}


def test_a_table_name_that_is_not_an_identifier_is_refused_before_anything_runs(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--date", DAYS[0], "--scores", "x; DROP TABLE y"])
    assert exit_.value.code == 2
    assert "'x; DROP TABLE y' is not a table name" in capsys.readouterr().err


def test_a_missing_java_or_pyspark_is_one_line_saying_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # no bin/java there
    with pytest.raises(SparkUnavailable, match=r"has no bin/java\): install Java 17 \(Debian: apt-get install"):
        check_spark()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SparkUnavailable, match=r"no java on PATH"):
        check_spark()

    without_pyspark = (
        "import sys; sys.modules['pyspark'] = None\n"
        "from safeguard.spark_scoring import main\n"
        "sys.exit(main(['--date', '2026-08-15']))"
    )
    done = subprocess.run([sys.executable, "-c", without_pyspark], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "safeguard spark scoring: pyspark is not installed: install the spark extra: uv sync --extra spark "
        "(or pip install 'pyspark>=4,<5')"
    )
