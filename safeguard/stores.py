"""The one wiring point of the serving side (issue 21): the serving database's engine, migrated to head, with the
model registry and the rollout store over it.

The assets (through ``assets.resources``), the sensors, the in-process runner and the CLI all open it
here, so the database is migrated in one place and every caller gets the same registry and rollout store. The
engine is disposed when the ``with`` block ends, a failed step included.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.engine import Engine

from safeguard.config import settings
from safeguard.landing import ObjectStore
from safeguard.registry import ModelRegistry
from safeguard.rollout.state import RolloutStore
from safeguard.serving.db import engine_for, upgrade


@dataclass
class ServingStores:
    """An open, migrated serving database and the stores that read and write it."""

    engine: Engine
    model_store: ObjectStore | None = None  # where model artifacts live; the registry needs it

    @cached_property
    def registry(self) -> ModelRegistry:
        if self.model_store is None:
            raise ValueError("no model store given: open_serving_stores(..., model_store=...) to use the registry")
        return ModelRegistry(self.engine, self.model_store)

    @cached_property
    def rollouts(self) -> RolloutStore:
        return RolloutStore(self.engine)


@contextmanager
def open_serving_stores(
    url: str | None = None, *, model_store: ObjectStore | None = None, migrate: bool = True
) -> Iterator[ServingStores]:
    """The serving database at ``url`` (default: the configured one), migrated to head unless ``migrate`` is
    False, with its registry (over ``model_store``) and rollout store."""
    engine = engine_for(url or settings().serving_db_url)
    try:
        if migrate:
            upgrade(engine)
        yield ServingStores(engine, model_store)
    finally:
        engine.dispose()


def configured_model_store() -> ObjectStore:
    """The model artifacts' store as configured (``MODEL_STORE_URI``, ``S3_ENDPOINT_URL``)."""
    s = settings()
    return ObjectStore(s.model_store_uri, s3_endpoint_url=s.s3_endpoint_url)
