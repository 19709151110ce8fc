"""The code location: every asset, check, job, schedule and resource the UI and ``safeguard run`` load."""

from __future__ import annotations

import os

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from assets import backtest, features, ingest, model, publish, review, rollout, scoring
from assets.dbt_project import dbt_resource
from assets.resources import build_resources
from orchestration.automation import jobs, schedules, sensors, with_catch_up
from orchestration.executor import executor_named
from orchestration.rollout_jobs import rollout_jobs
from orchestration.sensors import cold_start_retrain_sensor, landing_zone_sensor

_ASSET_MODULES = [ingest, features, model, scoring, rollout, backtest, publish, review]

defs = Definitions(
    assets=with_catch_up(load_assets_from_modules(_ASSET_MODULES)),
    asset_checks=load_asset_checks_from_modules(_ASSET_MODULES),
    jobs=[*jobs, *rollout_jobs],  # every job is defined in orchestration/
    schedules=schedules,
    sensors=[landing_zone_sensor, cold_start_retrain_sensor, *sensors],
    resources={**build_resources(), "dbt": dbt_resource()},
    # Every step holds the one-slot duckdb pool, so a run's steps never overlap anyway: one process per run (as
    # `safeguard run` does) instead of one per step saves a code-location import per step. The price: a step that
    # crashes the process ends its run (run monitoring marks it failed; re-execute from failure). A cluster with a
    # warehouse that is not a local file may run each step in a pod of its own (SAFEGUARD_EXECUTOR=k8s).
    executor=executor_named(os.environ.get("SAFEGUARD_EXECUTOR")),
)
