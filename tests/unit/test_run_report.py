"""The lines `safeguard run` prints for a person (safeguard/run_report.py) and its progress lines (issue 20)."""

from __future__ import annotations

import io

from safeguard.progress import StepStatus, plain_line, progress
from safeguard.run_report import (
    CheckOutcome,
    Materialized,
    RunRecord,
    StepFailure,
    day_line,
    decision_phrase,
    step_lines,
)


def _record(*, failed_gate: bool = False) -> RunRecord:
    ingest = {"dagster/row_count": 8392, "rows_quarantined": 3}
    materialized = [
        Materialized("raw_usage_events", ingest),  # a range run records the same metadata once per day
        Materialized("raw_usage_events", ingest),
        Materialized("raw_accounts", {"dagster/row_count": 15, "rows_quarantined": 0}),
        Materialized("stg_usage_events", {}, dbt_model=True),
        Materialized("fct_account_features", {}, dbt_model=True),
        Materialized("risk_model", {"summary": "risk-1: gate passed, registered as champion"}),
        Materialized("account_risk_scores", {"rows": 9778, "models": ["risk-1", "risk-2"]}),
        Materialized(
            "risk_tables",
            {
                "dagster/row_count": 4889,
                "rows_per_tier": {"low": 4800, "elevated": 80, "high": 6, "critical": 3},
                "rows_per_tier_per_day": {"2026-10-26": {}},
            },
        ),
        Materialized(
            "rollout_evaluation",
            {
                "decisions": {
                    "2026-10-25": {"rollout_id": "r1", "decision": "hold", "stage_in_effect": "shadow", "reason": "x"},
                    "2026-10-26": {
                        "rollout_id": "r1",
                        "decision": "advance",
                        "to_stage": "canary_1",
                        "stage_in_effect": "shadow",
                        "reason": "4 guardrails pass over 4,915 accounts; 4 day(s) in stage; judged pass: recall_drop=0.01",
                    },
                }
            },
        ),
        Materialized("review_queue", {"cases": 33, "rings": 1}),
    ]
    checks = [
        CheckOutcome("fct_account_features", "not_null_x", True, True),
        CheckOutcome("stg_usage_events", "unique_y", True, True),
        CheckOutcome("risk_model", "quality_gate", not failed_gate, False),
    ]
    return RunRecord.of(materialized, checks)


def test_a_range_run_is_one_line_per_step_with_its_counts():
    lines = step_lines(_record())
    assert lines == [
        "  ingestion   loaded usage_events 8,392, accounts 15; 3 quarantined",
        "  features    2 dbt models built, 2 of 2 data tests passed",
        "  model       risk-1: gate passed, registered as champion",
        "  scoring     scored 9,778 account-days with 2 model(s)",
        "  publishing  published 4,889 rows; 2026-10-26: critical 3 · high 6 · elevated 80",
        "  rollout     2026-10-26: advance shadow -> canary_1 (4 guardrails pass over 4,915 accounts)",
        "  review      33 case(s) on the last day, 1 ring(s)",
    ]
    assert _record().partitions["raw_usage_events"] == 2


def test_a_failed_check_is_named_and_says_whether_it_blocks():
    assert step_lines(_record(failed_gate=True))[-1] == "  FAILED check risk_model:quality_gate (warning)"


def test_a_day_run_is_one_line():
    line = day_line("2026-10-26", _record(), 41.4)
    assert line == (
        "2026-10-26 · events 8,392 (3 quarantined) · published 4,889 (critical 3 · high 6 · elevated 80) · "
        "model risk-1: gate passed, registered as champion · rollout advance shadow -> canary_1 (4 guardrails pass "
        "over 4,915 accounts) · 33 review cases  [41 s]"
    )


def test_a_hold_says_what_it_waits_for_and_a_small_arm_says_so():
    hold = {"decision": "hold", "stage_in_effect": "canary_1", "to_stage": "canary_1", "reason": "waiting for ..."}
    waiting = {**hold, "waiting_for": ["alert_rate_ratio", "recall_drop"]}
    assert decision_phrase(waiting) == "hold at canary_1, waiting for alert_rate_ratio, recall_drop"
    small = {**waiting, "reason": "arm has 30 accounts, fewer than min_arm_accounts=40; waiting for a larger arm"}
    assert decision_phrase(small).startswith("hold at canary_1 (arm has 30 accounts, fewer than min_arm_accounts=40")
    rollback = {"decision": "rollback", "stage_in_effect": "canary_5", "to_stage": "rolled_back", "reason": "breach"}
    assert decision_phrase(rollback) == "rollback from canary_5 (breach)"


def test_a_run_of_features_only_says_nothing_of_later_steps():
    record = RunRecord.of([Materialized("fct_account_features", {}, dbt_model=True)], [])
    assert step_lines(record) == ["  features    1 dbt models built, 0 of 0 data tests passed"]
    assert day_line("2026-09-01", record, 2.0) == "2026-09-01  [2 s]"


def test_progress_off_a_terminal_prints_plain_lines_with_counts_rate_and_time_left():
    stream = io.StringIO()
    seen = list(progress(range(3), "days", unit="day", stream=stream, every_s=0.0))
    assert seen == [0, 1, 2]
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("days: 1/3 days, ") and "left" in lines[0]
    assert lines[-1].startswith("days: 3/3 days, ") and lines[-1].endswith(" s")
    assert "\r" not in stream.getvalue()  # no bar's carriage returns in a log file


def test_progress_disabled_prints_nothing():
    stream = io.StringIO()
    assert list(progress(range(3), "days", stream=stream, enabled=False)) == [0, 1, 2]
    assert stream.getvalue() == ""


def test_plain_line_reads_slow_work_as_seconds_per_item():
    assert plain_line("generate", 2, 10, "day", 20.0) == "generate: 2/10 days, 10.0 s/day, about 80 s left"
    assert plain_line("generate", 10, 10, "day", 5.0) == "generate: 10/10 days, 2.0 days/s, done in 5 s"


def test_a_failed_step_is_one_line_with_its_error():
    failure = StepFailure("raw_usage_events", "IncompleteDayError", "usage_events 2026-09-01: no _SUCCESS at /l")
    record = RunRecord.of([], [], [failure])
    assert step_lines(record) == [
        "  FAILED step raw_usage_events: IncompleteDayError: usage_events 2026-09-01: no _SUCCESS at /l"
    ]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_step_running_now_is_one_rewritten_line_on_a_terminal_and_nothing_in_a_log():
    terminal = _Terminal()
    status = StepStatus(stream=terminal)
    status.started("raw_usage_events")
    status.started("dbt_features")
    status.close()
    text = terminal.getvalue()
    assert "\n" not in text and text.endswith("\r\x1b[K")
    assert "  now: raw_usage_events (1 steps started" in text and "  now: dbt_features (2 steps started" in text
    log = io.StringIO()
    quiet = StepStatus(stream=log)
    quiet.started("raw_usage_events")
    quiet.close()
    assert log.getvalue() == "" and quiet.steps == 1
