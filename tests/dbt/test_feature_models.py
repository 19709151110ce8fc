"""The feature models on a small hand-made world: build, leakage, labels (real dbt on DuckDB)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.dbt.harness import as_of, build, copy_warehouse, new_warehouse, table
from tests.dbt.raw_fixture import START, account, action, at, event, load_day, small_world

WINDOW = ("2026-09-01", "2026-09-07")  # the world's six days; label horizon 2 days in these tests


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The small world built once for the whole window, with data tests and dbt unit tests."""
    warehouse = new_warehouse(tmp_path_factory.mktemp("features"), "base", small_world())
    build(warehouse, *WINDOW, unit_tests=True)
    return warehouse


def features(warehouse: Path, where: str = "true") -> pd.DataFrame:
    return table(warehouse, "marts.fct_account_features", where)


def labels(warehouse: Path, day: str) -> dict[str, int]:
    frame = table(warehouse, "marts.fct_training_examples", f"as_of_date = DATE '{day}'")
    return dict(zip(frame.account_id, frame.label))


def test_every_existing_account_gets_one_row_per_day(built):
    frame = features(built)
    per_day = frame.groupby("as_of_date").account_id.apply(sorted)
    assert per_day[as_of("2026-09-01")] == ["a1", "a2", "a3", "a4", "a5"]
    assert per_day[as_of("2026-09-04")] == ["a1", "a2", "a3", "a4", "a5", "a6"]  # a6 created on 09-04
    assert per_day[as_of("2026-09-06")][-1] == "a7"  # created at the day's last second
    assert not frame.isna().any().any()


def test_quiet_account_has_zeros_and_feature_values_follow_the_world(built):
    frame = features(built, "as_of_date = DATE '2026-09-04'").set_index("account_id")
    quiet = frame.loc["a5"]
    assert quiet.events_28d == 0 and quiet.flag_rate_cyber_28d == 0 and quiet.distinct_ips_28d == 0
    bursty = frame.loc["a2"]  # 6 flagged cyber requests a night on 09-03 and 09-04, 3 IPs, 2 countries
    assert (bursty.events_1d, bursty.events_7d) == (6, 12)
    assert bursty.flag_rate_cyber_7d == 1 and bursty.night_share_7d == 1
    assert (bursty.distinct_ips_7d, bursty.distinct_countries_7d, bursty.max_events_in_hour_7d) == (3, 2, 6)
    assert bursty.linked_device_enforced_share == 0.5  # of a3 (banned) and a4 (reinstated on 09-04)
    assert frame.loc["a1", "plan_team"] == 1 and frame.loc["a1", "linked_payment_accounts"] == 1


def test_events_after_the_day_change_no_feature_of_the_day(built):
    """Leakage: new and changed events after D (and an account created after D) leave D's rows unchanged."""
    changed = copy_warehouse(built, "leakage")
    day = START.date()
    with duckdb.connect(str(changed)) as con:
        after = [
            event(f"late-{i}", "a1", at(3, 0, i), policy_category="cyber", classifier_score=0.99, ip_hash=f"new-ip-{i}")
            for i in range(5)
        ]
        load_day(con, "usage_events", day.replace(day=4), after)  # 09-04 replaced: a1's requests changed
        load_day(con, "usage_events", day.replace(day=5), [event("at-midnight", "a5", at(4, 0, 0, 0))])
    build(changed, *WINDOW)
    before_d = "as_of_date <= DATE '2026-09-03'"
    pd.testing.assert_frame_equal(features(changed, before_d), features(built, before_d))
    on_04 = features(changed, "as_of_date = DATE '2026-09-04' AND account_id = 'a1'")
    assert on_04.flag_rate_cyber_1d.item() == 1.0 and on_04.distinct_ips_1d.item() == 5  # the change is seen


def test_labels_look_only_at_the_horizon_after_the_day(built):
    """H = 2: for D = 09-01 the label days are 09-02 and 09-03."""
    base = labels(built, "2026-09-01")
    assert base == {"a1": 0, "a2": 0, "a3": 1, "a4": 1, "a5": 0}  # a3 banned 09-02, a4 suspended 09-03
    changed = copy_warehouse(built, "labels")
    with duckdb.connect(str(changed)) as con:
        # a4's suspend moves from D+2 (09-03 10:00) to D+3 (09-04 00:00); a5 is banned on D+1; a1 on D itself
        load_day(con, "enforcement_actions", START.date().replace(day=3), [])
        load_day(
            con,
            "enforcement_actions",
            START.date().replace(day=4),
            [action("x2", "a4", at(3, 0), "suspend"), action("x3", "a4", at(3, 10), "reinstate")],
        )
        load_day(
            con,
            "enforcement_actions",
            START.date().replace(day=2),
            [action("x1", "a3", at(1, 10), "ban"), action("x5", "a5", at(1, 23, 59, 59), "ban")],
        )
        load_day(con, "enforcement_actions", START.date(), [action("x6", "a1", at(0, 20), "ban")])
    build(changed, *WINDOW)
    moved = labels(changed, "2026-09-01")
    assert moved == {"a2": 0, "a3": 1, "a4": 0, "a5": 1}  # a1 is banned as of D: no example
    # D = 09-02: a1, a3 and a5 are banned as of D; a4's suspend and reinstate both fall in (D, D+2]
    assert labels(changed, "2026-09-02") == {"a2": 0, "a4": 0}


def test_training_examples_only_for_closed_label_windows(built):
    days = table(built, "marts.fct_training_examples").as_of_date.drop_duplicates().tolist()
    # window [09-01, 09-07) with H = 2 closes D in [08-30, 09-05); features exist from 09-01
    assert days == [as_of(d) for d in ("2026-09-01", "2026-09-02", "2026-09-03", "2026-09-04")]


def test_a_failing_data_test_stops_the_models_downstream(tmp_path):
    """An account version with created_at after updated_at fails a staging test: dbt builds no mart."""
    broken = small_world().with_rows(accounts=[account("bad", created_at=at(1, 12), updated_at=at(1, 11))])
    warehouse = new_warehouse(tmp_path, "broken", broken)
    assert build(warehouse, *WINDOW, expect_success=False) == ["stg_accounts_created_before_updated"]
    with duckdb.connect(str(warehouse)) as con:
        schemas = {s for (s,) in con.sql("SELECT DISTINCT table_schema FROM information_schema.tables").fetchall()}
    assert "marts" not in schemas
