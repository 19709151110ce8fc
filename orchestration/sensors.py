"""Sensors: the landing zone starts ``daily_pipeline`` when days are ready, new, late or re-landed, with every later
day they change (safeguard/readiness.py); the cold-start sensor retrains while the rules score serves."""

from __future__ import annotations

from dagster import AssetKey, DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from assets.partitions import daily_partitions
from assets.resources import LandingZoneResource, ModelStoreResource, ServingDatabaseResource
from orchestration.automation import daily_pipeline_job, retrain_job
from orchestration.runner import range_tags
from safeguard.contract import SOURCES
from safeguard.landing_changes import content_digest, observe_day
from safeguard.readiness import LaunchLog, plan_runs

TRAINING_EXAMPLES = AssetKey("fct_training_examples")


@sensor(
    job=daily_pipeline_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description="Launches daily_pipeline when landing days are ready (usage_events, accounts and "
    "enforcement_actions all carry _SUCCESS, no unknown file): a new day, a day that completed late or a re-landed "
    "day, in one run with every later day, whose windows it changes (safeguard/readiness.py). Cursor: the days "
    "launched and their content; run key: the range and its content, so the same data never runs twice.",
)
def landing_zone_sensor(context: SensorEvaluationContext, landing: LandingZoneResource):
    first_day = daily_partitions.start.strftime("%Y-%m-%d")
    zone = landing.zone()
    log = LaunchLog.from_cursor(context.cursor or None)
    days = sorted(
        {d for s in SOURCES for d in zone.list_days(s) if d >= first_day and (log.floor is None or d > log.floor)}
    )
    plan = plan_runs(
        [observe_day(zone, d) for d in days], log, content=lambda d: content_digest(zone, d), first_day=first_day
    )
    if plan.first is None:
        if plan.log.days != log.days:  # files rewritten with the same bytes: remember their new listing
            context.update_cursor(plan.log.to_cursor())
        return SkipReason(plan.skip_message(first_day))
    context.update_cursor(plan.log.to_cursor())
    if plan.held or plan.waiting or plan.behind:
        context.log.warning(plan.skip_message(first_day))
    tags = {"safeguard/landing": plan.reason()}
    if plan.first == plan.last:
        return RunRequest(run_key=plan.run_key, partition_key=plan.first, tags=tags)
    return RunRequest(run_key=plan.run_key, tags={**tags, **range_tags(plan.first, plan.last)})


@sensor(
    job=retrain_job,
    minimum_interval_seconds=600,
    default_status=DefaultSensorStatus.STOPPED,
    description="While the cold-start rules score serves as champion, launches retrain after each new "
    "materialization of fct_training_examples (a day of matured labels more), so the first model that passes the "
    "gate replaces the rules the same day instead of at the weekly retrain. Run key: that materialization.",
)
def cold_start_retrain_sensor(
    context: SensorEvaluationContext, serving: ServingDatabaseResource, model_store: ModelStoreResource
):
    with serving.stores(model_store) as stores:
        champion = stores.registry.champion()
    if champion is None or not champion.is_rules:
        return SkipReason(
            f"a trained model is champion ({champion.version})"
            if champion
            else "no champion yet: the first daily run trains one"
        )
    event = context.instance.get_latest_materialization_event(TRAINING_EXAMPLES)
    if event is None:
        return SkipReason(f"the rules score {champion.version} serves; no training examples materialized yet")
    marker = repr(event.timestamp)  # when the newest examples partition was materialized
    if marker == context.cursor:
        return SkipReason(f"the rules score {champion.version} serves; no new training examples since the last try")
    context.update_cursor(marker)
    return RunRequest(
        run_key=f"cold-start-retrain-{marker}",
        tags={"safeguard/reason": f"cold start: rules score {champion.version} serves"},
    )
