"""Ingestion assets: one per landing-zone source, loading ``raw.<source>`` for a day or a range of days.

Thin glue over :func:`safeguard.ingest.ingest_days`, generated from the contract's sources. Each asset carries the
check ``quarantine_share_below_threshold``: it fails (severity ERROR, blocking, so nothing downstream runs on the
suspect data) when any loaded day quarantined more than the allowed share of its rows. The threshold is, in order:
the run config ``max_quarantine_share`` of the asset, else the environment variable
``SAFEGUARD_MAX_QUARANTINE_SHARE`` (read by :mod:`safeguard.config`), else 1%. A second blocking check,
``day_volume_within_history``, fails a day whose volume collapsed against its own recent days
(:mod:`safeguard.volume`), unless the run config accepts that day with a reason.
"""

# No ``from __future__ import annotations``: Dagster reads the asset function's annotations (config, resources)
# at definition time, and the function is local to a factory, where string annotations cannot be resolved.
from datetime import timedelta

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    asset,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from assets import groups
from assets.ingest_checks import QUARANTINE_CHECK, VOLUME_CHECK, ingest_metadata, quarantine_check, volume_check
from assets.partitions import DUCKDB_POOL, daily_partitions, partition_days, single_run
from assets.resources import LandingZoneResource
from safeguard.config import DEFAULT_VOLUME_TOLERANCE, settings
from safeguard.contract import SOURCES, Source
from safeguard.ingest import QUARANTINE_REASONS, ingest_days
from safeguard.load_log import record_volume_checks
from safeguard.volume import judge_days

# Bump when the validation rules change, so Dagster marks the raw tables as loaded by older code.
INGEST_CODE_VERSION = "1"
OWNERS = ["team:safeguards-data"]
# Freshness: a day's landing data must be loaded by 06:00 UTC the next morning (the schedule starts at 02:00; the
# landing sensor as soon as the day is complete). A morning without a load in 00:00 .. 06:00 turns the asset's
# freshness to FAIL in the UI until it loads; publishing has the same deadline (assets/publish.py).
LOADED_BY_06_UTC = FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=6))


class IngestConfig(Config):
    max_quarantine_share: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Largest share of a day's rows that may be quarantined before the check fails "
        "(default: SAFEGUARD_MAX_QUARANTINE_SHARE, else 0.01).",
    )
    volume_tolerance: float | None = Field(
        default=None,
        gt=1.0,
        description="How many times below the median of its recent days a day's volume may fall before the "
        "volume check fails (default: SAFEGUARD_VOLUME_TOLERANCE, else 4).",
    )
    accept_volume_days: list[str] = Field(
        default_factory=list,
        description="Days (YYYY-MM-DD) whose volume is accepted as real despite the check (an outage, a "
        "migration); needs volume_override_reason.",
    )
    volume_override_reason: str | None = Field(
        default=None,
        description="Why the accept_volume_days are real (recorded on the check and in the run's log).",
    )


def build_ingest_asset(source: Source) -> AssetsDefinition:
    """The asset ``raw_<source>``: validate and load the days of its partition (or partition range) in one go."""
    name = f"raw_{source.name}"
    landing_kind = {"s3"} if settings().landing_uri.startswith("s3://") else set()

    @asset(
        name=name,
        partitions_def=daily_partitions,
        backfill_policy=single_run,
        pool=DUCKDB_POOL,
        group_name=groups.INGESTION,
        kinds={"duckdb", *landing_kind},
        owners=OWNERS,
        code_version=INGEST_CODE_VERSION,
        freshness_policy=LOADED_BY_06_UTC,
        metadata={"dagster/table_name": source.raw_table},
        description=(
            f"`{source.raw_table}`: the landing zone's `{source.name}` validated against the contract (design "
            "§3.1), one partition per UTC day. Bad rows go to `raw.quarantine` with a reason; a day without "
            "`_SUCCESS` or with an unreadable file fails the run and loads nothing. Re-running replaces the days."
        ),
        check_specs=[
            AssetCheckSpec(
                QUARANTINE_CHECK,
                asset=name,
                blocking=True,
                description="Each loaded day quarantined at most the allowed share of its rows (default 1%). "
                f"Reasons: {', '.join(QUARANTINE_REASONS)}.",
            ),
            AssetCheckSpec(
                VOLUME_CHECK,
                asset=name,
                blocking=True,
                description="Each loaded day's rows (and, for usage events, active accounts) are at least the "
                f"median of its recent loaded days divided by the tolerance (default {DEFAULT_VOLUME_TOLERANCE:g}x; "
                "judged with 7 or more of the 14 days before); a day without events always fails; a surge is "
                "reported, never blocking. Override for a real outage: run config accept_volume_days with "
                "volume_override_reason (safeguard/volume.py).",
            ),
        ],
    )
    def ingest_source(
        context: AssetExecutionContext,
        config: IngestConfig,
        warehouse: DuckDBResource,
        landing: LandingZoneResource,
    ) -> MaterializeResult:
        days = partition_days(*context.partition_time_window)
        if config.accept_volume_days and not (config.volume_override_reason or "").strip():
            raise Failure(
                f"{name}: accept_volume_days {config.accept_volume_days} needs volume_override_reason "
                "(why the volume of those days is real); nothing was loaded"
            )
        tolerance = config.volume_tolerance or settings().volume_tolerance
        with warehouse.get_connection() as con:
            result = ingest_days(con, landing.zone(), source.name, days)
            accepted = {d: config.volume_override_reason for d in config.accept_volume_days}
            verdicts = judge_days(con, source.name, days, tolerance=tolerance, accepted=accepted)
            record_volume_checks(
                con,
                source.name,
                {v.day: "accepted" if v.accepted_reason else "passed" if v.passed else "failed" for v in verdicts},
            )
        for v in verdicts:
            if v.accepted_reason:
                context.log.warning(v.message)
            elif not v.passed:
                context.log.error(v.message)
        context.log.info(
            f"{source.raw_table}: {result.rows_loaded} rows loaded, {result.rows_quarantined} quarantined "
            f"over {len(days)} day(s) from {len(result.files_read)} file(s)"
        )
        threshold = (
            config.max_quarantine_share if config.max_quarantine_share is not None else settings().max_quarantine_share
        )
        return MaterializeResult(
            metadata=ingest_metadata(result),
            check_results=[quarantine_check(result, threshold), volume_check(verdicts, tolerance)],
        )

    return ingest_source


ingest_assets: list[AssetsDefinition] = [build_ingest_asset(source) for source in SOURCES.values()]
