"""The ``risk_tables`` asset under Dagster: a two-day range in one run, then a re-run of the older day."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, materialize
from dagster_duckdb import DuckDBResource

from assets.publish import risk_tables
from assets.resources import ExportStoreResource, ServingDatabaseResource
from safeguard.landing import ObjectStore
from safeguard.rollout.served import SERVED_TABLE, ensure_served_table
from safeguard.serving.db import engine_for
from safeguard.serving.exports import read_export
from safeguard.serving.publish import published_day_sha256
from safeguard.serving.schema import account_risk_current, published_days
from tests.served_factory import served_day

DAYS = ["2026-09-02", "2026-09-03"]
RANGE_TAGS = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[1]}
N = 200


@pytest.fixture
def setup(tmp_path):
    warehouse = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(warehouse) as con:
        ensure_served_table(con)
        for seed, day in enumerate(DAYS, start=1):
            day_rows = served_day(day, N, seed=seed)  # noqa: F841 (read by DuckDB by name)
            con.execute(f"INSERT INTO {SERVED_TABLE} BY NAME SELECT * FROM day_rows")
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    resources = {
        "warehouse": DuckDBResource(database=warehouse),
        "serving": ServingDatabaseResource(url=url),
        "exports": ExportStoreResource(uri=str(tmp_path / "exports")),
    }
    return resources, url, str(tmp_path / "exports")


def test_a_range_publishes_each_day_in_order_and_a_rerun_of_an_old_day_keeps_current(setup):
    resources, url, exports = setup
    instance = DagsterInstance.ephemeral()

    result = materialize([risk_tables], resources=resources, instance=instance, tags=RANGE_TAGS)

    assert result.success and len(instance.get_runs()) == 1
    events = result.asset_materializations_for_node("risk_tables")
    assert {e.partition for e in events} == set(DAYS)  # one materialization per day of the range
    metadata = events[-1].metadata
    assert metadata["dagster/row_count"].value == 2 * N
    assert metadata["current_moved_per_day"].data == {DAYS[0]: True, DAYS[1]: True}
    assert sum(metadata["rows_per_tier"].data.values()) == N
    assert metadata["export_path"].value.endswith(f"risk_scores/date={DAYS[1]}")
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.distinct(account_risk_current.c.score_date))).scalars().all() == [
                date.fromisoformat(DAYS[1])
            ]
            logged = {
                d.isoformat(): sha
                for d, sha in conn.execute(
                    sa.select(published_days.c.score_date, published_days.c.content_sha256)
                ).all()
            }
        assert logged == metadata["content_sha256"].data
        store = ObjectStore(exports)
        for day in DAYS:
            assert read_export(store, day).num_rows == N

        again = materialize([risk_tables], resources=resources, instance=instance, partition_key=DAYS[0])

        assert again.success
        (event,) = again.asset_materializations_for_node("risk_tables")
        assert event.partition == DAYS[0] and event.metadata["current_moved"].value is False
        assert published_day_sha256(engine, DAYS[0]) == logged[DAYS[0]]
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.distinct(account_risk_current.c.score_date))).scalars().all() == [
                date.fromisoformat(DAYS[1])
            ]
    finally:
        engine.dispose()


def test_a_day_without_served_rows_fails_and_publishes_nothing(setup):
    resources, url, _ = setup
    result = materialize(
        [risk_tables],
        resources=resources,
        instance=DagsterInstance.ephemeral(),
        partition_key="2026-09-05",
        raise_on_error=False,
    )
    assert not result.success
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(published_days)).scalar() == 0
    finally:
        engine.dispose()
    assert AssetKey("risk_tables") not in {m.asset_key for m in result.get_asset_materialization_events()}
