"""Incremental builds: day by day equals the range at once; re-building a re-landed day replaces it exactly."""

from __future__ import annotations

from itertools import pairwise

import duckdb
import pandas as pd
import pytest

from tests.dbt.harness import BUILT_TABLES, build, copy_warehouse, new_warehouse, table
from tests.dbt.raw_fixture import START, at, event, load_day, small_world

DAYS = ["2026-09-02", "2026-09-03", "2026-09-04"]  # two partitions; label horizon 1 day so examples exist
HORIZON = 1


@pytest.fixture(scope="module")
def range_built(tmp_path_factory):
    warehouse = new_warehouse(tmp_path_factory.mktemp("incremental"), "range", small_world())
    build(warehouse, DAYS[0], DAYS[-1], horizon=HORIZON)
    return warehouse


def test_day_by_day_equals_the_range_at_once(range_built):
    daily = new_warehouse(range_built.parent, "daily", small_world())
    for start, end in pairwise(DAYS):
        build(daily, start, end, horizon=HORIZON)
    assert len(table(daily, "marts.fct_training_examples")) > 0
    for name in BUILT_TABLES:
        pd.testing.assert_frame_equal(table(daily, name), table(range_built, name), obj=name)


def test_rebuilding_a_re_landed_day_replaces_it_exactly(range_built):
    """09-02 re-landed with a single request: re-building that day gives what a fresh build of the new data does."""
    rebuilt = copy_warehouse(range_built, "relanded")
    fresh = new_warehouse(range_built.parent, "fresh", small_world())
    for warehouse in (rebuilt, fresh):
        with duckdb.connect(str(warehouse)) as con:
            load_day(con, "usage_events", START.date().replace(day=2), [event("only-one", "a4", at(1, 7))])
    build(rebuilt, DAYS[0], DAYS[1], horizon=HORIZON)
    build(fresh, DAYS[0], DAYS[-1], horizon=HORIZON)
    usage = table(rebuilt, "intermediate.int_account_daily_usage", "activity_date = DATE '2026-09-02'")
    assert usage.account_id.tolist() == ["a4"]  # a1's and a3's rows of the old day are gone
    for name, column in [
        ("intermediate.int_account_daily_usage", "activity_date"),
        ("intermediate.int_account_daily_attributes", "activity_date"),
        ("marts.fct_account_features", "as_of_date"),
    ]:
        on_day = f"{column} = DATE '2026-09-02'"
        pd.testing.assert_frame_equal(table(rebuilt, name, on_day), table(fresh, name, on_day), obj=name)
