"""Jobs and schedules: how the graph runs without a person (design §1, "The schedule").

- ``daily_pipeline``: every dated asset, ingestion through publishing, for one day or a range in one run.
- ``retrain``: the model, weekly.
- ``full_graph``: everything, used by ``safeguard run`` when no champion exists yet (trains once, mid-run).
"""

from __future__ import annotations

from dagster import AssetSelection, ScheduleDefinition, build_schedule_from_partitioned_job, define_asset_job

MODEL_ASSETS = AssetSelection.assets("risk_model")

daily_pipeline_job = define_asset_job(
    "daily_pipeline",
    selection=AssetSelection.all() - MODEL_ASSETS,
    description="Ingestion through publishing for one day (or a range, in one run).",
)
retrain_job = define_asset_job(
    "retrain",
    selection=MODEL_ASSETS,
    description="Train a new model on the closed label windows; the quality gate decides champion or candidate.",
)
full_graph_job = define_asset_job(
    "full_graph",
    selection=AssetSelection.all(),
    description="The whole graph for a date range, training the model once between features and scoring.",
)

# Yesterday's partition, every day at 02:00 UTC (a day's partition closes at midnight UTC).
daily_schedule = build_schedule_from_partitioned_job(daily_pipeline_job, hour_of_day=2, minute_of_hour=0)
weekly_retrain_schedule = ScheduleDefinition(
    name="weekly_retrain", job=retrain_job, cron_schedule="0 4 * * 1", execution_timezone="UTC"
)

jobs = [daily_pipeline_job, retrain_job, full_graph_job]
schedules = [daily_schedule, weekly_retrain_schedule]
