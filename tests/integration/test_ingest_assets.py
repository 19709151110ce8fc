"""The ingestion assets under Dagster: per partition, as one run over a range, and the quarantine-share check."""

from __future__ import annotations

import duckdb
import pytest
from dagster import DagsterInstance, materialize
from dagster_duckdb import DuckDBResource

from assets.ingest import QUARANTINE_CHECK, ingest_assets
from assets.resources import LandingZoneResource
from safeguard.landing import LandingZone
from tests import landing_factory as lf

DAYS = ["2026-09-02", "2026-09-03"]
ROWS = 30
RANGE_TAGS = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[1]}


@pytest.fixture
def world(tmp_path):
    """A landing zone with two valid days of every source, except one negative token count on the second day."""
    zone = lf.write_landing(LandingZone(str(tmp_path / "landing")), DAYS, rows=ROWS)
    events = lf.with_value(lf.usage_events(DAYS[1], ROWS), 0, "input_tokens", -7)
    zone.write_day("usage_events", DAYS[1], [events])
    warehouse = str(tmp_path / "warehouse.duckdb")
    resources = {
        "warehouse": DuckDBResource(database=warehouse),
        "landing": LandingZoneResource(uri=zone.uri),
    }
    return warehouse, resources


def rows_per_day(warehouse: str, table: str, day_column: str = "_partition_date") -> dict[str, int]:
    with duckdb.connect(warehouse, read_only=True) as con:
        return dict(con.execute(f"SELECT {day_column}::VARCHAR, count(*) FROM {table} GROUP BY 1").fetchall())


def check_outcomes(result) -> dict[str, bool]:
    """Per asset: did every one of its checks pass."""
    outcomes: dict[str, bool] = {}
    for e in result.get_asset_check_evaluations():
        key = e.asset_key.to_user_string()
        outcomes[key] = outcomes.get(key, True) and e.passed
    return outcomes


def test_each_partition_in_its_own_run(world):
    warehouse, resources = world
    instance = DagsterInstance.ephemeral()
    lenient = {"ops": {a.node_def.name: {"config": {"max_quarantine_share": 0.05}} for a in ingest_assets}}

    first = materialize(ingest_assets, partition_key=DAYS[0], resources=resources, instance=instance)
    second = materialize(
        ingest_assets, partition_key=DAYS[1], resources=resources, instance=instance, run_config=lenient
    )

    assert first.success and second.success
    for source in ("usage_events", "accounts", "enforcement_actions"):
        expected = ROWS - 1 if source == "usage_events" else ROWS
        assert rows_per_day(warehouse, f"raw.{source}") == {DAYS[0]: ROWS, DAYS[1]: expected}
    assert check_outcomes(first) == dict.fromkeys(["raw_usage_events", "raw_accounts", "raw_enforcement_actions"], True)
    assert check_outcomes(second)["raw_usage_events"] is True  # 1 of 30 is under the 5% allowed by run config
    (event,) = [m for m in second.asset_materializations_for_node("raw_usage_events")]
    assert event.partition == DAYS[1]
    assert event.metadata["dagster/row_count"].value == ROWS - 1
    assert event.metadata["quarantined_by_reason"].data == {"negative_tokens:input_tokens": 1}


def test_a_range_in_one_run_and_the_check_failing_over_the_threshold(world):
    warehouse, resources = world
    instance = DagsterInstance.ephemeral()

    result = materialize(ingest_assets, resources=resources, instance=instance, tags=RANGE_TAGS, raise_on_error=False)

    assert len(instance.get_runs()) == 1
    assert not result.success  # the blocking check failed the step: nothing downstream would run
    assert rows_per_day(warehouse, "raw.usage_events") == {DAYS[0]: ROWS, DAYS[1]: ROWS - 1}
    assert rows_per_day(warehouse, "raw.quarantine", "partition_date") == {DAYS[1]: 1}
    outcomes = check_outcomes(result)
    assert outcomes == {"raw_usage_events": False, "raw_accounts": True, "raw_enforcement_actions": True}
    (failed,) = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed.check_name == QUARANTINE_CHECK
    assert failed.metadata["worst_day"].value == DAYS[1]
    assert failed.metadata["threshold"].value == 0.01
    partitions = {m.partition for m in result.asset_materializations_for_node("raw_accounts")}
    assert partitions == set(DAYS)
