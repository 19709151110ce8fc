"""The review queue's assets: ``review_queue``, each published day's alerts as at most ``REVIEW_CAPACITY`` cases for
the analysts; ``raw_review_labels``, the reviewers' confirmations copied into the warehouse as training labels.

Thin: the queue's rules are :mod:`safeguard.review.queue`, its build and publish :mod:`safeguard.review.publish`.
Days run in order, each replacing that day's queue and its export; decisions reviewers record with
``safeguard review decide`` are read by the next day's queue (cleared accounts stay out for the cool-down).
"""

# No ``from __future__ import annotations``: Dagster validates the ``context`` annotation at definition time.
from dagster import AssetExecutionContext, AssetKey, Config, MaterializeResult, MetadataValue, asset
from dagster_duckdb import DuckDBResource
from pydantic import Field

from assets import groups
from assets.partitions import DUCKDB_POOL, daily_partitions, partition_days, single_run
from assets.resources import ExportStoreResource, ServingDatabaseResource
from safeguard.config import settings
from safeguard.dates import as_date
from safeguard.review.labels import REVIEW_LABELS_TABLE, sync_review_labels
from safeguard.review.publish import publish_queue
from safeguard.review.queue import QueueRule

OWNERS = ["team:safeguards-data"]
REVIEW_CODE_VERSION = "1"


class ReviewQueueConfig(Config):
    capacity: int | None = Field(default=None, description="Cases a day at most (default: REVIEW_CAPACITY, 100).")
    cooldown_days: int = Field(
        default=QueueRule.cooldown_days, description="Days a cleared account stays out of the queue."
    )
    rescore_margin: float = Field(
        default=QueueRule.rescore_margin, description="Rise of probability that brings a cleared account back earlier."
    )


@asset(
    group_name=groups.PUBLISHING,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    pool=DUCKDB_POOL,  # reads the warehouse's account snapshot for the links
    deps=[AssetKey("risk_tables")],
    kinds={"sqlalchemy", "parquet"},
    owners=OWNERS,
    code_version=REVIEW_CODE_VERSION,
)
def review_queue(
    context: AssetExecutionContext,
    config: ReviewQueueConfig,
    warehouse: DuckDBResource,
    serving: ServingDatabaseResource,
    exports: ExportStoreResource,
) -> MaterializeResult:
    """`review_queue` in the serving database and `review_queue/date=D/` Parquet: the day's alerts as cases
    (a ring of linked accounts is one case), ranked by expected abuse caught, at most the capacity
    (docs/risk-tables.md)."""
    rule = QueueRule(
        capacity=config.capacity or settings().review_capacity,
        cooldown_days=config.cooldown_days,
        rescore_margin=config.rescore_margin,
    )
    engine = serving.engine()
    store = exports.store()
    published = []
    try:
        with warehouse.get_connection() as con:
            for day in partition_days(*context.partition_time_window):
                result = publish_queue(con, engine, store, as_date(day), rule)
                published.append(result)
                context.log.info(result.summary())
    finally:
        engine.dispose()
    last = published[-1]
    return MaterializeResult(
        metadata={
            "dagster/row_count": sum(r.accounts for r in published),
            "cases": len(last.cases),
            "rings": last.rings,
            "capacity": rule.capacity,
            "cases_by_top_tier": MetadataValue.json(last.tiers),
            "cases_per_day": MetadataValue.json({r.day.isoformat(): len(r.cases) for r in published}),
            "expected_abuse": round(sum(c.expected_abuse for c in last.cases), 3),
            "top_cases": MetadataValue.md(_top_cases(last)),
            "export_path": MetadataValue.path(last.export_uri),
        }
    )


def _top_cases(result, n: int = 10) -> str:
    lines = ["| case | accounts | expected abuse | top tier | linked by | first reason |", "|---|---|---|---|---|---|"]
    for case in result.cases[:n]:
        reason = case.reasons[0][0] if case.reasons else ""
        lines.append(
            f"| {case.case_id} | {len(case.members)} | {case.expected_abuse:.2f} | {case.top_tier} | "
            f"{', '.join(case.links) or '-'} | {reason} |"
        )
    return "\n".join(lines)


@asset(
    group_name=groups.INGESTION,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    pool=DUCKDB_POOL,
    kinds={"duckdb", "sqlalchemy"},
    owners=OWNERS,
    code_version=REVIEW_CODE_VERSION,
    metadata={"dagster/table_name": REVIEW_LABELS_TABLE},
)
def raw_review_labels(
    context: AssetExecutionContext, warehouse: DuckDBResource, serving: ServingDatabaseResource
) -> MaterializeResult:
    """`raw.review_labels`: every account whose latest review decision is a confirmation, copied whole from the
    serving database's `review_decisions` before the features are built, so `fct_training_examples` labels it
    (`label_review`) like a suspend or ban that starts when it was confirmed."""
    with serving.stores() as stores, warehouse.get_connection() as con:
        rows = sync_review_labels(stores.engine, con)
    context.log.info(f"{rows} confirmed review(s) copied to {REVIEW_LABELS_TABLE}")
    return MaterializeResult(metadata={"dagster/row_count": rows})
