"""dbt's console lines go to the step's log, one summary line per build (assets/dbt_output.py, issue 20)."""

from __future__ import annotations

import sys

import pytest
from dagster import AssetCheckResult, AssetKey, Output

from assets.dbt_output import summarised


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def debug(self, msg: str) -> None:
        self.lines.append(("debug", msg))

    def info(self, msg: str) -> None:
        self.lines.append(("info", msg))

    def warning(self, msg: str) -> None:
        self.lines.append(("warning", msg))

    def at(self, level: str) -> list[str]:
        return [m for lv, m in self.lines if lv == level]


def dbt_like(fail: bool = False):
    """What dagster-dbt's stream does: echo each dbt line to stdout, yield a Dagster event per result."""
    sys.stdout.write("Running with dbt=1.11\n")
    sys.stdout.write("1 of 2 START sql incremental model staging.stg_a\n")
    yield Output(None, output_name="stg_a")
    sys.stdout.write("[WARNING]: The microbatch model 'x' has no 'ref'\nThis means no filtering\n")
    known = "[WARNING]: The microbatch model 'int_account_enforcement_history' has no 'ref' or 'source' input"
    sys.stdout.write(known + " with an 'event_time' configuration.\n")  # known, with a reason: DEBUG
    sys.stdout.write("2 of 2 OK created sql incremental model marts.fct_b")  # no newline: the last line
    yield Output(None, output_name="fct_b")
    yield AssetCheckResult(asset_key=AssetKey("fct_b"), check_name="not_null_b", passed=True)
    yield AssetCheckResult(asset_key=AssetKey("fct_b"), check_name="unique_b", passed=not fail)
    if fail:
        raise RuntimeError("dbt build failed")


def test_dbt_lines_go_to_the_debug_log_and_one_summary_line_to_info(capsys):
    log = RecordingLog()
    events = list(summarised(dbt_like(), log, days=40))

    assert [type(e).__name__ for e in events] == ["Output", "Output", "AssetCheckResult", "AssetCheckResult"]
    assert capsys.readouterr().out == ""  # nothing of dbt's reached the console
    debug = log.at("debug")
    assert "Running with dbt=1.11" in debug and "2 of 2 OK created sql incremental model marts.fct_b" in debug
    assert log.at("warning") == ["dbt: [WARNING]: The microbatch model 'x' has no 'ref'"]
    assert any(m.startswith("[WARNING]: The microbatch model 'int_account_enforcement_history'") for m in debug)
    (summary,) = log.at("info")
    assert summary.startswith("dbt build: 2 models for 40 days, 2 tests passed, 0 failed, 1 warning in ")


def test_a_failed_build_still_says_what_it_did_and_raises(capsys):
    log = RecordingLog()
    with pytest.raises(RuntimeError, match="dbt build failed"):
        list(summarised(dbt_like(fail=True), log, days=1))
    (summary,) = log.at("info")
    assert "2 models for 1 day, 1 test passed, 1 failed" in summary
    assert capsys.readouterr().out == ""


def test_what_the_step_prints_between_events_is_not_swallowed(capsys):
    log = RecordingLog()
    for _ in summarised(dbt_like(), log, days=2):
        print("the step's own line")  # Dagster handling a yielded event runs here, outside the redirect
    assert capsys.readouterr().out.count("the step's own line") == 4
