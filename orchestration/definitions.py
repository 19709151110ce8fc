"""The code location: every asset, check, job, schedule and resource the UI and ``safeguard run`` load."""

from __future__ import annotations

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from assets import features, ingest, model, publish, rollout, scoring
from assets.rollout import rollout_jobs
from orchestration.automation import jobs, schedules
from orchestration.dbt import dbt_resource
from orchestration.resources import build_resources
from orchestration.sensors import landing_zone_sensor

_ASSET_MODULES = [ingest, features, model, scoring, rollout, publish]

defs = Definitions(
    assets=load_assets_from_modules(_ASSET_MODULES),
    asset_checks=load_asset_checks_from_modules(_ASSET_MODULES),
    jobs=[*jobs, *rollout_jobs],
    schedules=schedules,
    sensors=[landing_zone_sensor],
    resources={**build_resources(), "dbt": dbt_resource()},
)
