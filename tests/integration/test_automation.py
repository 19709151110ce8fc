"""How the graph runs without a person: the daily schedule asks for yesterday, and the catch-up automation moves the
newest day along only past blocking checks that passed, never because a model was retrained.

The automation conditions are evaluated on the code location's own Definitions, as the sensor daemon evaluates
them, against an instance on which the real ingestion assets ran (a small landing zone written by the factory).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    build_schedule_context,
    evaluate_automation_conditions,
    materialize,
)
from dagster_duckdb import DuckDBResource

from assets.ingest import ingest_assets
from assets.resources import LandingZoneResource
from orchestration.definitions import defs
from safeguard.landing import LandingZone
from tests.landing_factory import valid_rows, with_value, write_landing

NOW = datetime(2026, 9, 6, 3, 0, tzinfo=UTC)  # an hour after the 02:00 tick
NEWEST_DAY = "2026-09-05"  # the newest complete daily partition at NOW
ROWS = 30


def test_the_daily_schedule_asks_for_yesterday_at_two_utc():
    schedule = defs.get_schedule_def("daily_pipeline_schedule")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone in (None, "UTC")
    with DagsterInstance.ephemeral() as instance:
        tick = datetime(2026, 9, 6, 2, tzinfo=UTC)
        requests = schedule.evaluate_tick(build_schedule_context(instance, scheduled_execution_time=tick)).run_requests
    assert [r.partition_key for r in requests] == [NEWEST_DAY]


@pytest.fixture
def automation(tmp_path):
    """An instance, a function that ingests assets of the newest day on it (real runs), and one that evaluates the
    code location's automation conditions on it, carrying the cursor as the daemon does."""
    zone = write_landing(LandingZone(str(tmp_path / "landing")), [NEWEST_DAY], rows=ROWS)
    resources = {
        "warehouse": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
        "landing": LandingZoneResource(uri=str(tmp_path / "landing")),
    }
    with DagsterInstance.ephemeral() as instance:
        cursor = None

        def ingest(names: set[str]) -> None:
            selected = [a for a in ingest_assets if a.key.to_user_string() in names]
            materialize(
                selected,
                partition_key=NEWEST_DAY,
                instance=instance,
                resources=resources,
                raise_on_error=False,
            )

        def evaluate() -> dict[str, set[str]]:
            nonlocal cursor
            result = evaluate_automation_conditions(defs, instance, evaluation_time=NOW, cursor=cursor)
            cursor = result.cursor
            return {
                key.to_user_string(): set(result.get_requested_partitions(key))
                for key in defs.resolve_asset_graph().get_all_asset_keys()
                if result.get_num_requested(key)
            }

        yield zone, instance, ingest, evaluate


def test_catch_up_waits_for_blocking_checks_and_ignores_a_retrained_model(automation):
    zone, instance, ingest, evaluate = automation
    assert evaluate() == {}  # first evaluation: nothing has happened yet

    # The day lands with 1 bad usage event in 30 (3% > the 1% allowed): that source's check fails and its features
    # wait; the other sources passed, so theirs go ahead.
    spoiled = with_value(valid_rows("usage_events", NEWEST_DAY, ROWS), 0, "input_tokens", -5)
    zone.write_day("usage_events", NEWEST_DAY, [spoiled])
    ingest({"raw_usage_events", "raw_accounts", "raw_enforcement_actions"})
    requested = evaluate()
    assert requested == {"stg_accounts": {NEWEST_DAY}, "stg_enforcement_actions": {NEWEST_DAY}}, requested

    # The producer corrects the day and it is re-ingested from the UI: the check passes, its features follow, once.
    zone.write_day("usage_events", NEWEST_DAY, [valid_rows("usage_events", NEWEST_DAY, ROWS)])
    ingest({"raw_usage_events"})
    assert evaluate() == {"stg_usage_events": {NEWEST_DAY}}
    assert evaluate() == {}

    # A retrain registers a new model: no day is re-scored by itself.
    instance.report_runless_asset_event(AssetMaterialization(AssetKey("risk_model")))
    assert "account_risk_scores" not in evaluate()


def test_ingestion_and_the_model_start_only_from_a_schedule_or_a_person():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        automated = node.automation_condition is not None
        assert automated == (node.partitions_def is not None and node.group_name != "ingestion"), key
    sensor = defs.get_sensor_def("pipeline_catch_up")
    assert sensor.default_status.value == "STOPPED"
