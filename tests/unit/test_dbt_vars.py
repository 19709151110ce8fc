"""dbt arguments for a Dagster partition window (half-open, end = next partition's start)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from safeguard.dbt_vars import dbt_build_args


def window_vars(args: list[str]) -> dict:
    return json.loads(args[args.index("--vars") + 1])


def utc(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def test_one_day():
    args = dbt_build_args(utc(2026, 9, 1), utc(2026, 9, 2))
    assert args[0] == "build"
    assert window_vars(args) == {"min_date": "2026-09-01", "max_date": "2026-09-02", "label_horizon_days": 14}
    assert args[-2:] == ["--exclude-resource-type", "unit_test"]


def test_a_range_across_a_month_boundary_with_selection_and_horizon():
    args = dbt_build_args(utc(2026, 9, 28), utc(2026, 10, 3), select="fct_account_features+", label_horizon_days=7)
    assert window_vars(args) == {"min_date": "2026-09-28", "max_date": "2026-10-03", "label_horizon_days": 7}
    assert args[args.index("--select") + 1] == "fct_account_features+"
    # the same window for the microbatch mart, which builds it one day per statement
    assert args[args.index("--event-time-start") + 1] == "2026-09-28"
    assert args[args.index("--event-time-end") + 1] == "2026-10-03"


def test_unit_tests_on_request():
    assert "--exclude-resource-type" not in dbt_build_args(utc(2026, 9, 1), utc(2026, 9, 2), unit_tests=True)


def test_models_alone_on_request():
    args = dbt_build_args(utc(2026, 9, 1), utc(2026, 9, 2), data_tests=False)
    assert args[0] == "build" and args[-3:] == ["--exclude-resource-type", "unit_test", "test"]


def test_an_aware_time_is_read_in_utc():
    plus_two = timezone(timedelta(hours=2))
    args = dbt_build_args(datetime(2026, 9, 1, 2, tzinfo=plus_two), datetime(2026, 9, 2, 2, tzinfo=plus_two))
    assert window_vars(args)["min_date"] == "2026-09-01"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (utc(2026, 9, 2), utc(2026, 9, 2), "not after start"),
        (utc(2026, 9, 3), utc(2026, 9, 2), "not after start"),
        (utc(2026, 9, 1) + timedelta(hours=5), utc(2026, 9, 2), "not a UTC midnight"),
    ],
)
def test_refuses_an_empty_inverted_or_unaligned_window(start, end, message):
    with pytest.raises(ValueError, match=message):
        dbt_build_args(start, end)


def test_refuses_a_non_positive_horizon():
    with pytest.raises(ValueError, match="label_horizon_days"):
        dbt_build_args(utc(2026, 9, 1), utc(2026, 9, 2), label_horizon_days=0)
