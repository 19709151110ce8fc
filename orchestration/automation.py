"""Jobs, schedules and declarative automation: how the graph runs without a person (design §1, "The schedule").

- ``daily_pipeline``: every dated asset, ingestion through publishing, for one day or a range in one run.
- ``retrain``: the model, weekly.
- ``full_graph``: everything, used by ``safeguard run`` while no trained model is champion (trains mid-run).

Four things start runs, all off until an operator turns them on in the UI (docs/operations.md):
- ``daily_pipeline_schedule``: yesterday's partition at 02:00 UTC (time-driven);
- ``landing_zone_sensor`` (orchestration/sensors.py): a day as soon as its ``_SUCCESS`` markers are in (data-driven);
  run one of the two, not both, or a day runs twice;
- ``cold_start_retrain_sensor`` (orchestration/sensors.py): ``retrain`` after each new day of training examples,
  only while the cold-start rules score is champion;
- ``pipeline_catch_up``: declarative automation for the newest day. When part of it is materialized again (a
  corrected landing day re-ingested from the UI, a failed step re-run alone), every downstream dated asset
  follows once its parents have updated and their *blocking* checks have passed; a failing quarantine check or dbt
  test holds everything below it. A retrained model does not re-score a day by itself: the next daily run uses it.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import (
    AssetsDefinition,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
    define_asset_job,
    map_asset_specs,
)

from assets import groups

MODEL_ASSETS = AssetSelection.assets("risk_model")
# Launched by a person before a rollout (rollout_backtest_job), never by the daily run or the full graph.
BACKTEST_ASSETS = AssetSelection.assets("rollout_backtest")
INGESTION = AssetSelection.groups(groups.INGESTION)

daily_pipeline_job = define_asset_job(
    "daily_pipeline",
    selection=AssetSelection.all() - MODEL_ASSETS - BACKTEST_ASSETS,
    description="Ingestion through publishing for one day (or a range, in one run).",
)
retrain_job = define_asset_job(
    "retrain",
    selection=MODEL_ASSETS,
    description="Train a new model on the closed label windows; the quality gate decides champion or candidate.",
)
full_graph_job = define_asset_job(
    "full_graph",
    selection=AssetSelection.all() - BACKTEST_ASSETS,
    description="The whole graph for a date range, training the model once between features and scoring.",
)

# Yesterday's partition, every day at 02:00 UTC (a day's partition closes at midnight UTC).
daily_schedule = build_schedule_from_partitioned_job(
    daily_pipeline_job,
    hour_of_day=2,
    minute_of_hour=0,
    description="Yesterday's partition (UTC), ingestion through publishing, every day at 02:00 UTC.",
)
weekly_retrain_schedule = ScheduleDefinition(
    name="weekly_retrain",
    job=retrain_job,
    cron_schedule="0 4 * * 1",
    execution_timezone="UTC",
    description="Mondays 04:00 UTC: train on the closed label windows; a model that passes the gate becomes a "
    "candidate (or the champion, when there is none) and waits for a rollout.",
)


def catch_up_condition() -> AutomationCondition:
    """Dagster's ``eager`` (newest partition only; waits for missing or in-progress parents; one request per
    parent update), triggered by data parents only, never by ``risk_model``, and gated on the parents' blocking
    checks having passed."""
    data_parents_updated = AutomationCondition.any_deps_updated().ignore(MODEL_ASSETS)
    return (
        AutomationCondition.eager().replace("any_deps_updated", data_parents_updated)
        & AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("catch_up")


def with_catch_up(assets: Sequence[AssetsDefinition]) -> list[AssetsDefinition]:
    """``assets`` with :func:`catch_up_condition` on every dated asset below ingestion (ingestion starts from the
    landing zone, which Dagster cannot see: the schedule or the landing sensor starts it)."""
    condition = catch_up_condition()

    def attach(spec):
        if spec.partitions_def is None or spec.group_name == groups.INGESTION:
            return spec
        return spec.replace_attributes(automation_condition=condition)

    return list(map_asset_specs(attach, assets))


# Evaluates the catch-up condition every minute once turned on; the UI shows why each asset was or was not requested.
catch_up_sensor = AutomationConditionSensorDefinition(
    "pipeline_catch_up",
    target=AssetSelection.all() - MODEL_ASSETS - INGESTION - BACKTEST_ASSETS,
    default_status=DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=60,
    description="Newest day only: materializes a dated asset again after its parents updated and their blocking "
    "checks passed (see orchestration/automation.py).",
)

rollout_backtest_job = define_asset_job(
    "rollout_backtest_job",
    selection=BACKTEST_ASSETS,
    description="Backtest the candidate against the champion before a rollout (run config: days, candidate_version).",
)

jobs = [daily_pipeline_job, retrain_job, full_graph_job, rollout_backtest_job]
schedules = [daily_schedule, weekly_retrain_schedule]
sensors = [catch_up_sensor]
