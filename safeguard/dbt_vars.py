"""The dbt command line for a partition window: pure functions, no Dagster, no dbt import.

A Dagster time window is half-open: its end is the next partition's start. The dbt project takes the same
half-open window of UTC days as vars ``min_date`` (inclusive) and ``max_date`` (exclusive); see
dbt_project/macros/partition_window.sql.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

from safeguard.vocabulary import LABEL_HORIZON_DAYS

DEFAULT_LABEL_HORIZON_DAYS = LABEL_HORIZON_DAYS


def _utc_day(name: str, value: datetime) -> str:
    """The UTC day that ``value`` starts; refuses a time that is not a UTC midnight (not a day boundary)."""
    utc = value.astimezone(UTC) if value.tzinfo else value
    if utc.time() != time(0):
        raise ValueError(f"partition window {name} {value.isoformat()} is not a UTC midnight: windows are whole days")
    return utc.date().isoformat()


def dbt_vars(start: datetime, end: datetime, *, label_horizon_days: int = DEFAULT_LABEL_HORIZON_DAYS) -> dict:
    """The dbt vars of the window ``[start, end)``: min_date, max_date (exclusive) and label_horizon_days."""
    min_date, max_date = _utc_day("start", start), _utc_day("end", end)
    if max_date <= min_date:
        raise ValueError(f"empty partition window: end {end.isoformat()} is not after start {start.isoformat()}")
    if label_horizon_days < 1:
        raise ValueError(f"label_horizon_days must be at least 1 day, got {label_horizon_days}")
    return {"min_date": min_date, "max_date": max_date, "label_horizon_days": label_horizon_days}


def dbt_build_args(
    start: datetime,
    end: datetime,
    *,
    select: str | None = None,
    label_horizon_days: int = DEFAULT_LABEL_HORIZON_DAYS,
    unit_tests: bool = False,
    data_tests: bool = True,
) -> list[str]:
    """``dbt build`` of the window ``[start, end)``: models and their data tests, optionally a selection.

    dbt unit tests check the SQL, not the data, so a scheduled run leaves them out (``unit_tests=False``);
    the test suite runs them. ``data_tests=False`` builds the models alone (a re-build whose data a previous
    build of the same window has already tested).
    """
    window = dbt_vars(start, end, label_horizon_days=label_horizon_days)
    # microbatch models (fct_account_features) build this window one day per statement
    args = [
        "build",
        "--vars",
        json.dumps(window),
        "--event-time-start",
        window["min_date"],
        "--event-time-end",
        window["max_date"],
    ]
    if select:
        args += ["--select", select]
    excluded = ([] if unit_tests else ["unit_test"]) + ([] if data_tests else ["test"])
    if excluded:
        args += ["--exclude-resource-type", *excluded]
    return args
