"""The dbt command line of the Spark build (safeguard.spark_features): pure, no Spark started."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from safeguard import spark_features
from safeguard.spark_engine import SparkUnavailable


def test_the_spark_build_is_the_duckdb_build_of_the_same_window_on_target_spark(tmp_path):
    command = spark_features.dbt_build_command(
        datetime(2026, 9, 1), datetime(2026, 9, 3), tmp_path, label_horizon_days=3
    )
    assert command[:4] == [*spark_features.DBT_CLI, "build"]
    window = json.loads(command[command.index("--vars") + 1])
    assert window == {"min_date": "2026-09-01", "max_date": "2026-09-03", "label_horizon_days": 3}
    assert command[command.index("--target") + 1] == "spark"
    assert command[command.index("--target-path") + 1] == str(tmp_path)
    assert "unit_test" in command  # dbt unit tests check SQL, not data: the DuckDB suite runs them


def test_the_profile_reads_absolute_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = spark_features.spark_dbt_env("spark", "raw")
    assert env == {"SAFEGUARD_SPARK_WAREHOUSE": str(tmp_path / "spark"), "SAFEGUARD_SPARK_RAW": str(tmp_path / "raw")}
    assert all(Path(v).is_absolute() for v in env.values())


def test_a_missing_java_is_one_line_before_dbt_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    with pytest.raises(SparkUnavailable, match="Java"):
        spark_features.build_features_on_spark(
            datetime(2026, 9, 1), datetime(2026, 9, 2), warehouse=tmp_path / "w", raw=tmp_path / "r"
        )
    assert not (tmp_path / "w").exists()  # nothing started, nothing written
    code = spark_features.main(
        ["--start", "2026-09-01", "--end", "2026-09-02", "--warehouse", str(tmp_path / "w"), "--raw", str(tmp_path)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "Java" in err[0]
