"""The landing-zone sensor: starts a day's ``daily_pipeline`` run when that day's ``_SUCCESS`` markers appear."""

from __future__ import annotations

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from orchestration.automation import daily_pipeline_job
from orchestration.partitions import daily_partitions
from orchestration.resources import LandingZoneResource
from safeguard.readiness import ready_days


@sensor(
    job=daily_pipeline_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description="Launches daily_pipeline for each day whose usage_events, accounts and enforcement_actions all "
    "carry _SUCCESS. Cursor: the last day launched; run key: the day, so a day never runs twice from here.",
)
def landing_zone_sensor(context: SensorEvaluationContext, landing: LandingZoneResource):
    first_day = daily_partitions.start.strftime("%Y-%m-%d")
    readiness = ready_days(landing.zone(), after=context.cursor or None, first_day=first_day)
    if not readiness.ready:
        if readiness.waiting:
            day, missing = next(iter(readiness.waiting.items()))
            return SkipReason(f"{day} waits for _SUCCESS in {', '.join(missing)}")
        return SkipReason(f"no complete landing day after {context.cursor or first_day}")
    context.update_cursor(readiness.ready[-1])
    return [RunRequest(run_key=day, partition_key=day) for day in readiness.ready]
