"""`safeguard run` materializes the graph for a date range through the code location's own jobs, on any landing
zone that follows the contract (here one written by the test factory, not by the world generator)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from orchestration.cli import main
from orchestration.runner import run_job
from safeguard.config import settings
from safeguard.landing import LandingZone
from tests.landing_factory import write_landing

DAYS = ["2026-09-01", "2026-09-02", "2026-09-03"]


def test_run_ingests_and_builds_features_for_a_range_on_a_contract_landing_zone(capsys):
    s = settings()
    write_landing(LandingZone(s.landing_uri), DAYS, rows=40, files_per_day=2)

    code = main(["run", "--start", DAYS[0], "--end", DAYS[-1], "--groups", "ingestion,features"])

    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, out + captured.err
    # quiet by default: a line per step with counts, nothing of dbt's or Dagster's event stream (issue 20)
    assert "safeguard run: job full_graph (groups ingestion, features) for 2026-09-01 .. 2026-09-03 (3 days)" in out
    assert "  ingestion   loaded usage_events 120, " in out and "; 0 quarantined" in out, out
    assert re.search(r"  features    (\d+) dbt models built, (\d+) of \2 data tests passed", out), out
    assert re.search(r"run \S+ succeeded in \d+s", out)
    assert "START" not in out and "OK created" not in out  # dbt's per-model and per-batch lines
    assert " - dagster - " not in out + captured.err  # Dagster's console events (WARNING and above only)
    assert len(out.splitlines()) <= 6, out
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


def test_verbose_brings_back_every_event_and_dbt_line(capsys):
    s = settings()
    write_landing(LandingZone(s.landing_uri), DAYS[:1], rows=10, files_per_day=1)

    code = main(["-v", "run", "--start", DAYS[0], "--days", "1", "--groups", "ingestion"])

    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert " - dagster - DEBUG - full_graph - " in captured.err  # every event of the run
    assert "raw.usage_events: 10 rows loaded" in captured.err  # the steps' own log lines


def test_an_unknown_log_level_is_refused_before_anything_runs(capsys, monkeypatch):
    s = settings()
    write_landing(LandingZone(s.landing_uri), DAYS[:1], rows=5, files_per_day=1)
    monkeypatch.setenv("SAFEGUARD_LOG_LEVEL", "chatty")
    assert main(["run", "--start", DAYS[0], "--days", "1", "--groups", "ingestion"]) == 2
    assert "SAFEGUARD_LOG_LEVEL='CHATTY' is not a log level; use one of DEBUG, INFO, WARNING" in capsys.readouterr().err


def test_a_failed_run_names_the_step_and_its_error_in_one_line_and_the_trace_is_one_flag_away(capsys):
    s = settings()
    write_landing(LandingZone(s.landing_uri), DAYS[:1], rows=5, files_per_day=1)
    marker = Path(s.landing_uri) / "usage_events" / f"date={DAYS[0]}" / "_SUCCESS"
    marker.unlink()  # the producer has not finished the day

    assert main(["run", "--start", DAYS[0], "--days", "1", "--groups", "ingestion"]) == 1
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    failed = [line for line in captured.out.splitlines() if line.startswith("  FAILED step ")]
    assert len(failed) == 1 and failed[0].startswith("  FAILED step raw_usage_events: "), captured.out
    assert "_SUCCESS" in failed[0] and DAYS[0] in failed[0]
    assert re.search(r"run \S+ FAILED after \d+s: the stack trace: safeguard -v run", captured.out)
    assert "Stack Trace" not in shown and "STEP_FAILURE" not in shown and "RUN_FAILURE" not in shown

    assert main(["-v", "run", "--start", DAYS[0], "--days", "1", "--groups", "ingestion"]) == 1
    loud = capsys.readouterr()
    assert "STEP_FAILURE" in loud.err and "Stack Trace" in loud.err


def test_the_runner_tells_which_step_starts():
    s = settings()
    write_landing(LandingZone(s.landing_uri), DAYS[:1], rows=5, files_per_day=1)
    started: list[str] = []
    summary = run_job("full_graph", DAYS[0], DAYS[0], groups=["ingestion"], on_step_start=started.append)
    assert summary.success
    assert {"raw_usage_events", "raw_accounts", "raw_enforcement_actions"} <= set(started), started
