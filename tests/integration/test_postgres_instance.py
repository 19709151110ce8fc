"""The production Dagster instance (deploy/dagster.yaml) on the real PostgreSQL 15 that `make test` starts: runs,
event logs and schedules in PostgreSQL through dagster-postgres, the queued run coordinator, and the ``duckdb``
pool held to one slot. A real materialization of the ingestion assets is recorded there and read back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, materialize
from dagster._core.instance.ref import InstanceRef
from dagster_duckdb import DuckDBResource
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from assets.ingest import QUARANTINE_CHECK, ingest_assets
from assets.partitions import DUCKDB_POOL
from assets.resources import LandingZoneResource
from safeguard.landing import LandingZone
from tests.landing_factory import write_landing
from tests.pg_scratch import scratch_database

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-09-02"


@pytest.fixture(scope="module")
def pg_instance(postgres_url, tmp_path_factory):
    """deploy/dagster.yaml as-is in a fresh DAGSTER_HOME, its DAGSTER_PG_* pointing at a throwaway database."""
    with scratch_database(postgres_url, "sg_dagster") as scratch, pytest.MonkeyPatch.context() as env:
        url = scratch.url
        env.setenv("DAGSTER_PG_HOST", url.host)
        env.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
        env.setenv("DAGSTER_PG_DB", url.database)
        env.setenv("DAGSTER_PG_USER", url.username)
        env.setenv("DAGSTER_PG_PASSWORD", url.password)
        home = tmp_path_factory.mktemp("dagster_home")
        shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
        instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
        try:
            yield instance
        finally:
            instance.dispose()


def test_the_production_instance_keeps_runs_events_and_schedules_in_postgres(pg_instance):
    assert isinstance(pg_instance.run_storage, PostgresRunStorage)
    assert isinstance(pg_instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(pg_instance.schedule_storage, PostgresScheduleStorage)
    assert type(pg_instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert pg_instance.get_concurrency_config().pool_config.default_pool_limit == 1
    assert pg_instance.schedule_storage.all_instigator_state() == []  # its tables exist and answer


def test_a_materialization_is_recorded_in_postgres_and_holds_the_duckdb_pool(pg_instance, tmp_path):
    landing = str(tmp_path / "landing")
    write_landing(LandingZone(landing), [DAY], rows=25)
    result = materialize(
        ingest_assets,
        partition_key=DAY,
        instance=pg_instance,
        resources={
            "warehouse": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
            "landing": LandingZoneResource(uri=landing),
        },
    )
    assert result.success

    run = pg_instance.get_run_by_id(result.run_id)
    assert run.status == DagsterRunStatus.SUCCESS
    for asset in ingest_assets:
        key = asset.key
        event = pg_instance.get_latest_materialization_event(key)
        assert event is not None and event.run_id == result.run_id, key
        assert event.asset_materialization.partition == DAY
        assert event.asset_materialization.metadata["dagster/row_count"].value == 25
        assert pg_instance.get_materialized_partitions(key) == {DAY}
    checks = {e.asset_key: e.passed for e in result.get_asset_check_evaluations() if e.check_name == QUARANTINE_CHECK}
    assert checks == {AssetKey(f"raw_{s}"): True for s in ("usage_events", "accounts", "enforcement_actions")}
    # The pool every warehouse step holds was created in PostgreSQL with the instance's limit, and released.
    pool = pg_instance.event_log_storage.get_concurrency_info(DUCKDB_POOL)
    assert pool.slot_count == 1
    assert pool.active_slot_count == 0
