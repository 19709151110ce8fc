"""A landing day's volume against its own recent days (safeguard.volume)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from safeguard.volume import judge_day

DAY = "2026-09-20"


def _history(n_days: int, rows: int, accounts: int | None = None) -> dict:
    first = date.fromisoformat(DAY) - timedelta(days=n_days)
    return {
        (first + timedelta(days=i)).isoformat(): {"rows": rows, **({"accounts": accounts} if accounts else {})}
        for i in range(n_days)
    }


def test_a_collapsed_day_fails_naming_source_measure_and_expected_range():
    verdict = judge_day("usage_events", DAY, {"rows": 50, "accounts": 60}, _history(10, 1000, 200))
    assert not verdict.passed and verdict.judged
    assert verdict.message.startswith(f"usage_events {DAY}: rows 50 below the expected 250 .. 4,000 (median 1,000")
    assert "accounts" not in verdict.message  # 60 of a median 200 is within 4x
    assert verdict.expected["rows"] == (250.0, 4000.0)


def test_a_usual_day_passes_and_a_surge_passes_reported():
    assert judge_day("usage_events", DAY, {"rows": 900, "accounts": 190}, _history(10, 1000, 200)).passed
    surge = judge_day("usage_events", DAY, {"rows": 9000, "accounts": 250}, _history(10, 1000, 200))
    assert surge.passed and "surge: rows 9,000 above" in surge.message


def test_a_day_without_events_always_fails_and_other_sources_may_be_empty_when_sparse():
    empty = judge_day("usage_events", DAY, {"rows": 0, "accounts": 0}, {})
    assert not empty.passed and "no events at all" in empty.message
    sparse = judge_day("enforcement_actions", DAY, {"rows": 0}, _history(10, 3))
    assert sparse.passed and not sparse.judged and "fewer than 20 rows on a median day" in sparse.message


def test_too_little_history_is_not_judged_and_only_the_last_14_days_count():
    young = judge_day("accounts", DAY, {"rows": 1}, _history(6, 1000))
    assert young.passed and not young.judged and "only 6 earlier day(s) loaded, 7 needed" in young.message
    old = {"2026-08-01": {"rows": 1000}, **_history(3, 1000)}
    assert not judge_day("accounts", DAY, {"rows": 1}, old).judged


def test_an_accepted_day_passes_with_its_reason_recorded():
    verdict = judge_day(
        "usage_events",
        DAY,
        {"rows": 0, "accounts": 0},
        _history(10, 1000, 200),
        accepted_reason="API outage 02:00-23:00, INC-42",
    )
    assert verdict.passed and verdict.accepted_reason == "API outage 02:00-23:00, INC-42"
    assert "accepted by the operator despite rows 0 below" in verdict.message


def test_a_tolerance_that_is_not_a_factor_is_refused():
    with pytest.raises(ValueError, match="above 1"):
        judge_day("usage_events", DAY, {"rows": 1}, {}, tolerance=0.5)
