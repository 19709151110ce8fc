"""The ``risk_tables`` asset: each day's served scores published to the serving database and exported as Parquet.

Thin: validation, the atomic publish and the export live in :mod:`safeguard.serving`. Days are published in
order, each in its own transaction, so a backfill over a range leaves ``account_risk_current`` on the newest day
and a re-run of an old day changes history only.
"""

# No ``from __future__ import annotations``: Dagster validates the ``context`` annotation at definition time.
from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    AssetKey,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource

from assets import groups
from assets.partitions import DUCKDB_POOL, daily_partitions, partition_days, single_run
from assets.resources import ExportStoreResource, ServingDatabaseResource
from safeguard.serving.daily import publish_served_days

OWNERS = ["team:safeguards-data"]
# Bump when the publish or the export changes, so Dagster marks days published by older code.
PUBLISH_CODE_VERSION = "1"
# Downstream teams read the tables every morning: the daily run starts at 02:00 UTC and must have published by
# 06:00 UTC. A day without a publish between 02:00 and 06:00 turns the asset's freshness to FAIL until it publishes.
PUBLISHED_BY_06_UTC = FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=4))


@asset(
    group_name=groups.PUBLISHING,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    pool=DUCKDB_POOL,  # reads the warehouse
    deps=[AssetKey("served_risk_scores")],
    kinds={"sqlalchemy", "parquet"},
    owners=OWNERS,
    code_version=PUBLISH_CODE_VERSION,
    freshness_policy=PUBLISHED_BY_06_UTC,
)
def risk_tables(
    context: AssetExecutionContext,
    warehouse: DuckDBResource,
    serving: ServingDatabaseResource,
    exports: ExportStoreResource,
) -> MaterializeResult:
    """`account_risk_current`, `account_risk_history`, `risk_reasons` and `published_days` in the serving
    database, and `risk_scores/date=D/` Parquet exports: what downstream teams read (docs/risk-tables.md). Each
    day is one transaction: readers see the previous day or the new one, never a mix."""
    days = partition_days(*context.partition_time_window)
    with serving.stores() as stores, warehouse.get_connection() as con:
        days_done = publish_served_days(con, stores.engine, exports.store(), days, log=context.log.info)
    published = [d.published for d in days_done]
    exported = [d.exported for d in days_done]

    last = published[-1]
    return MaterializeResult(
        metadata={
            "dagster/row_count": sum(r.rows for r in published),
            "rows_per_tier": MetadataValue.json(last.tier_counts),
            "rows_per_tier_per_day": MetadataValue.json({r.score_date.isoformat(): r.tier_counts for r in published}),
            "published_at": MetadataValue.text(f"{last.published_at.isoformat(sep=' ')} UTC"),
            "current_moved": last.current_moved,
            "current_moved_per_day": MetadataValue.json({r.score_date.isoformat(): r.current_moved for r in published}),
            "content_sha256": MetadataValue.json({r.score_date.isoformat(): r.content_sha256 for r in published}),
            "served_model_versions": MetadataValue.json(last.model_versions),
            "export_path": MetadataValue.path(exported[-1].uri),
        }
    )
