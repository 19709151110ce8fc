"""`safeguard run` materializes the graph for a date range through the code location's own jobs, on any landing
zone that follows the contract (here one written by the test factory, not by the world generator)."""

from __future__ import annotations

import duckdb

from orchestration.cli import main
from safeguard.config import settings
from safeguard.landing import LandingZone
from tests.landing_factory import write_landing

DAYS = ["2026-09-01", "2026-09-02", "2026-09-03"]


def test_run_ingests_and_builds_features_for_a_range_on_a_contract_landing_zone(capsys):
    s = settings()
    write_landing(LandingZone(s.landing_uri), DAYS, rows=40, files_per_day=2)

    code = main(["run", "--start", DAYS[0], "--end", DAYS[-1], "--groups", "ingestion,features"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "materialized raw_usage_events: 3 partition(s)" in out
    assert "materialized fct_account_features: 3 partition(s)" in out
    with duckdb.connect(s.warehouse_path, read_only=True) as con:
        per_day = con.sql(
            "select _partition_date::varchar, count(*) from raw.usage_events group by 1 order by 1"
        ).fetchall()
        feature_days = con.sql("select count(distinct as_of_date) from marts.fct_account_features").fetchone()[0]
    assert per_day == [(d, 40) for d in DAYS]
    assert feature_days == 3


def test_run_names_the_known_groups_when_given_an_unknown_one(capsys):
    code = main(["run", "--start", DAYS[0], "--days", "1", "--groups", "ingestion,nonsense"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown asset group(s) nonsense" in err and "ingestion" in err
