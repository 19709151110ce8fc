"""Feature windows over missing days are found, named and explained (safeguard.completeness)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from safeguard.completeness import feature_window_days, feature_window_refusal, refusal_message, window_gaps
from safeguard.load_log import day_digest, loaded_days, record_loads
from safeguard.warehouse import ensure_raw_schema

ALL = {"2026-09-01", "2026-09-02", "2026-09-04", "2026-09-05"}  # 09-03 never loaded


def test_a_day_whose_window_reaches_a_missing_day_is_a_gap_naming_source_and_day():
    loaded = {"usage_events": ALL, "accounts": ALL | {"2026-09-03"}}
    gaps = window_gaps(loaded, ["2026-09-02", "2026-09-04", "2026-09-05"], window_days=7)
    assert gaps == {"2026-09-04": {"usage_events": ["2026-09-03"]}, "2026-09-05": {"usage_events": ["2026-09-03"]}}


def test_the_window_is_bounded_by_its_length_and_by_the_first_day_loaded():
    loaded = {"usage_events": ALL}
    assert window_gaps(loaded, ["2026-09-05"], window_days=2) == {}  # 09-04 .. 09-05
    assert window_gaps(loaded, ["2026-09-01"], window_days=28) == {}  # nothing before the first day
    assert window_gaps({"usage_events": set()}, ["2026-09-05"], window_days=28) == {}  # nothing loaded yet
    with pytest.raises(ValueError, match="window_days"):
        window_gaps(loaded, ["2026-09-05"], window_days=0)


def test_the_refusal_says_what_is_refused_what_is_missing_and_what_to_do():
    gaps = {"2026-09-04": {"usage_events": ["2026-09-03"]}, "2026-09-05": {"usage_events": ["2026-09-03"]}}
    message = refusal_message(gaps, window_days=28)
    assert message.startswith("features of 2026-09-04 .. 2026-09-05 (2 days) refused")
    assert "(usage_events 2026-09-03)" in message
    assert "landing-zone sensor" in message and "land it empty" in message


def test_the_window_length_is_the_dbt_projects_longest_feature_window():
    assert feature_window_days() == 28


def test_on_a_warehouse_the_load_log_decides_and_an_empty_day_counts_as_loaded():
    con = duckdb.connect()
    ensure_raw_schema(con)
    for source in ("usage_events", "accounts", "enforcement_actions"):
        days = {"2026-09-01": {"part-0.parquet": "a"}, "2026-09-03": {"part-0.parquet": "b"}}
        if source != "usage_events":
            days["2026-09-02"] = {}  # an empty day: _SUCCESS and no file
        record_loads(con, source, days, {d: (0, 0, 0) for d in days}, loaded_at=datetime(2026, 9, 4))
    assert loaded_days(con, ["accounts"]) == {"accounts": {"2026-09-01", "2026-09-02", "2026-09-03"}}
    refusal = feature_window_refusal(con, ["2026-09-03"])
    assert refusal is not None and "(usage_events 2026-09-02)" in refusal
    assert feature_window_refusal(con, ["2026-09-01"]) is None
    assert con.execute(
        "SELECT content_sha256 FROM raw.landing_loads WHERE source = 'accounts' AND day = '2026-09-02'"
    ).fetchone()[0] == day_digest({})
