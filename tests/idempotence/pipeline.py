"""The code location's own assets and jobs on throwaway locations, and a small world to run them on.

Shared by the idempotence and security tests. :func:`definitions` rebinds the real Definitions (every asset,
check and job of ``orchestration.definitions``) to other resources, so a test never touches the session's
SAFEGUARD_HOME and runs exactly the graph the UI and the schedules run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, Definitions, ExecuteInProcessResult
from dagster_duckdb import DuckDBResource

from assets.dbt_project import dbt_resource
from assets.resources import (
    ExportStoreResource,
    LandingZoneResource,
    ModelStoreResource,
    ServingDatabaseResource,
)
from orchestration.runner import range_tags
from safeguard.catalog import load_catalog
from safeguard.landing import ObjectStore
from safeguard.registry import ModelRegistry
from safeguard.risk_model import TrainedModel
from safeguard.serving.db import engine_for, upgrade
from safeguard.serving.schema import published_days
from tests import model_factory as mf


@dataclass(frozen=True)
class Locations:
    """Where one test's pipeline reads and writes (local folders, or s3:// with an endpoint)."""

    landing_uri: str
    warehouse: str
    serving_url: str
    model_uri: str
    export_uri: str
    s3_endpoint_url: str | None = None

    @classmethod
    def under(cls, root) -> Locations:
        """Every location a folder below ``root`` (landing, warehouse, serving database, models, exports)."""
        return cls(
            landing_uri=str(root / "landing"),
            warehouse=str(root / "warehouse.duckdb"),
            serving_url=f"sqlite:///{root / 'serving.db'}",
            model_uri=str(root / "models"),
            export_uri=str(root / "exports"),
        )

    def resources(self) -> dict:
        return {
            "warehouse": DuckDBResource(database=self.warehouse),
            "landing": LandingZoneResource(uri=self.landing_uri, s3_endpoint_url=self.s3_endpoint_url),
            "serving": ServingDatabaseResource(url=self.serving_url),
            "model_store": ModelStoreResource(uri=self.model_uri, s3_endpoint_url=self.s3_endpoint_url),
            "exports": ExportStoreResource(uri=self.export_uri, s3_endpoint_url=self.s3_endpoint_url),
            "dbt": dbt_resource(),
        }


def published_day_set(serving_url: str) -> set[str]:
    """The days ``published_days`` of the serving database at ``serving_url`` records, as ISO dates."""
    engine = engine_for(serving_url)
    try:
        with engine.connect() as conn:
            return {str(day) for day in conn.execute(sa.select(published_days.c.score_date)).scalars()}
    finally:
        engine.dispose()


def definitions(resources: dict) -> Definitions:
    """The code location's Definitions with ``resources`` instead of its own."""
    from orchestration.definitions import defs

    return Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        resources=resources,
        executor=defs.executor,
    )


def run(
    defs: Definitions,
    job_name: str,
    first_day: str,
    last_day: str | None = None,
    *,
    instance: DagsterInstance,
    groups: tuple[str, ...] = (),
    run_config: dict | None = None,
) -> ExecuteInProcessResult:
    """One run of ``job_name``: a single partition (``last_day`` None, as the daily schedule runs it) or the range
    ``first_day .. last_day`` in one run (as a UI backfill with the single-run policy runs it); it must succeed."""
    job = defs.resolve_job_def(job_name)
    selection = None
    if groups:
        graph = defs.resolve_asset_graph()
        selection = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name in groups]
    if last_day is None:
        partition = {"partition_key": first_day}
    else:
        partition = {"tags": range_tags(first_day, last_day)}
    result = job.execute_in_process(
        instance=instance, run_config=run_config, asset_selection=selection, raise_on_error=False, **partition
    )
    failures = [e.message for e in result.all_events if e.event_type_value in ("STEP_FAILURE", "RUN_FAILURE")]
    assert result.success, f"{job_name} {first_day}..{last_day or first_day} failed: {failures}"
    return result


def materialized(result: ExecuteInProcessResult) -> set[AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


@functools.cache
def tiny_model(created_second: int) -> TrainedModel:
    """A small real model over the real feature catalog (a second or so to train), trained on synthetic examples.

    It stands in for ``risk_model`` where a test is about what the daily pipeline writes, not about training.
    Models differ only in ``created_at`` (fixed, so a version name is the same in every run and database): they
    score alike, so a candidate passes the rollout's guardrails and the rollout advances instead of rolling back.
    """
    from safeguard.training import train_risk_model

    features = load_catalog()
    examples = mf.synthetic_frame(300, mf.day_strings("2026-07-01", 40), n_features=len(features), seed=1)
    examples = examples.rename(columns={f"feat_{i:02d}": spec.name for i, spec in enumerate(features)})
    created = datetime(2026, 8, 1, 0, 0, created_second, tzinfo=UTC)
    return train_risk_model(examples, features, num_boost_round=20, seed=1, created_at=created)


def register_models(serving_url: str, model_uri: str, s3_endpoint_url: str | None = None) -> tuple[str, str]:
    """A migrated serving database with a champion and a candidate (two tiny models): their versions."""
    engine = engine_for(serving_url)
    try:
        upgrade(engine)
        registry = ModelRegistry(engine, ObjectStore(model_uri, s3_endpoint_url=s3_endpoint_url))
        champion = registry.register(tiny_model(1), "champion").version
        candidate = registry.register(tiny_model(2), "candidate").version
    finally:
        engine.dispose()
    return champion, candidate
