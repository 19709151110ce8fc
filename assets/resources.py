"""Dagster resources: each reads its location from the environment (``EnvVar``) or its embedded default.

The defaults come from :mod:`safeguard.config`, the one place that names the variables.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from dagster import ConfigurableResource, EnvVar
from dagster_duckdb import DuckDBResource

from safeguard.config import settings


def env_or_default(name: str, default: str | None):
    """``EnvVar(name)`` when the variable is set (resolved at run time, never shown), else the default."""
    return EnvVar(name) if os.environ.get(name) else default


class LandingZoneResource(ConfigurableResource):
    """The landing zone: a local folder or ``s3://bucket/prefix`` (design §3.1)."""

    uri: str
    s3_endpoint_url: str | None = None

    def zone(self):
        from safeguard.landing import LandingZone

        return LandingZone(self.uri, s3_endpoint_url=self.s3_endpoint_url)


class ServingDatabaseResource(ConfigurableResource):
    """The serving database the downstream teams read (SQLAlchemy URL; SQLite by default)."""

    url: str

    def engine(self):
        from safeguard.serving.db import engine_for

        return engine_for(self.url)

    def stores(self, model_store: ModelStoreResource | None = None):
        """The migrated database with its registry and rollout store (``safeguard.stores``), closed after use."""
        from safeguard.stores import open_serving_stores

        return open_serving_stores(self.url, model_store=model_store.store() if model_store else None)


class ModelStoreResource(ConfigurableResource):
    """Where model artifacts live: a local folder or ``s3://bucket/prefix``."""

    uri: str
    s3_endpoint_url: str | None = None

    def store(self):
        from safeguard.landing import ObjectStore

        return ObjectStore(self.uri, s3_endpoint_url=self.s3_endpoint_url)


class ExportStoreResource(ConfigurableResource):
    """Where the Parquet exports of the risk tables go: a local folder or ``s3://bucket/prefix``."""

    uri: str
    s3_endpoint_url: str | None = None

    def store(self):
        from safeguard.landing import ObjectStore

        return ObjectStore(self.uri, s3_endpoint_url=self.s3_endpoint_url)


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse; its connection is closed when the step fails too.

    dagster-duckdb closes the connection only after a successful step; a connection left open by a failed step
    makes the next connection to the file with other settings fail in the same process.
    """

    @contextmanager
    def get_connection(self):
        opened = super().get_connection()
        connection = opened.__enter__()
        try:
            yield connection
        finally:
            opened.__exit__(None, None, None)  # dagster-duckdb's own close


def build_resources() -> dict:
    """The resources of the code location, keyed as the assets ask for them.

    ``dbt`` is added by :mod:`assets.dbt_project`, which owns the dbt project.
    """
    s = settings()
    s3 = env_or_default("S3_ENDPOINT_URL", None)
    return {
        "warehouse": WarehouseResource(
            database=env_or_default("WAREHOUSE_PATH", s.warehouse_path),
            connection_config={"memory_limit": s.warehouse_memory_limit},
        ),
        "landing": LandingZoneResource(uri=env_or_default("LANDING_URI", s.landing_uri), s3_endpoint_url=s3),
        "serving": ServingDatabaseResource(url=env_or_default("SERVING_DB_URL", s.serving_db_url)),
        "model_store": ModelStoreResource(uri=env_or_default("MODEL_STORE_URI", s.model_store_uri), s3_endpoint_url=s3),
        "exports": ExportStoreResource(uri=env_or_default("EXPORT_URI", s.export_uri), s3_endpoint_url=s3),
    }
