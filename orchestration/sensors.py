"""Sensors: the landing zone starts a day's ``daily_pipeline`` run when that day's ``_SUCCESS`` markers appear; the
cold-start sensor retrains while the rules score serves."""

from __future__ import annotations

from dagster import AssetKey, DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from orchestration.automation import daily_pipeline_job, retrain_job
from orchestration.partitions import daily_partitions
from orchestration.resources import LandingZoneResource, ModelStoreResource, ServingDatabaseResource
from safeguard.readiness import ready_days
from safeguard.registry import ModelRegistry
from safeguard.serving.db import upgrade

TRAINING_EXAMPLES = AssetKey("fct_training_examples")


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
    engine = serving.engine()
    try:
        upgrade(engine)
        champion = ModelRegistry(engine, model_store.store()).champion()
    finally:
        engine.dispose()
    if champion is None or not champion.is_rules:
        return SkipReason(f"a trained model is champion ({champion.version})" if champion else
                          "no champion yet: the first daily run trains one")
    event = context.instance.get_latest_materialization_event(TRAINING_EXAMPLES)
    if event is None:
        return SkipReason(f"the rules score {champion.version} serves; no training examples materialized yet")
    marker = repr(event.timestamp)  # when the newest examples partition was materialized
    if marker == context.cursor:
        return SkipReason(f"the rules score {champion.version} serves; no new training examples since the last try")
    context.update_cursor(marker)
    return RunRequest(run_key=f"cold-start-retrain-{marker}",
                      tags={"safeguard/reason": f"cold start: rules score {champion.version} serves"})
