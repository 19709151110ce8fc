"""The model registry over a real SQLite serving DB (Alembic-migrated) and a local or S3 (moto) artifact store."""

from __future__ import annotations

import dataclasses
import uuid

import boto3
import numpy as np
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from safeguard.gate import GateResult
from safeguard.landing import ObjectStore
from safeguard.registry import (
    ModelIntegrityError,
    ModelRegistry,
    RegistryError,
    RejectedModelError,
    artifact_path,
)
from safeguard.serving.db import alembic_config, current_revision, engine_for, upgrade
from tests.model_factory import trained_model

PASSED = GateResult(True, [])
FAILED = GateResult(False, [{"name": "auc_pr", "value": 0.1, "threshold": 0.2, "comparison": ">=", "passed": False}])


def _version(name: str):
    """The shared trained model under another version name (registering needs distinct versions)."""
    return dataclasses.replace(trained_model(), version=name)


@pytest.fixture
def engine(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'serving' / 'serving.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def registry(engine, tmp_path):
    return ModelRegistry(engine, ObjectStore(str(tmp_path / "models")))


def test_alembic_upgrade_creates_model_versions_on_a_fresh_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    upgrade(url)  # idempotent
    engine = engine_for(url)
    try:
        inspector = sa.inspect(engine)
        assert "model_versions" in inspector.get_table_names()
        columns = {c["name"] for c in inspector.get_columns("model_versions")}
        assert {
            "version",
            "created_at",
            "train_start",
            "train_end",
            "features",
            "params",
            "metrics",
            "thresholds",
            "artifact_uri",
            "sha256",
            "status",
        } <= columns
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert current_revision(engine) == head
    finally:
        engine.dispose()


def test_register_and_load_round_trip(registry, tmp_path):
    model = _version("m-round-trip")
    row = registry.register(model, "candidate")
    assert row.status == "candidate" and row.features == model.feature_names
    assert row.metrics["auc_pr"] == pytest.approx(model.metrics["auc_pr"])
    assert row.thresholds["thresholds"] == model.thresholds.thresholds
    assert (row.train_start.isoformat(), row.train_end.isoformat()) == model.training_window
    assert row.artifact_uri.endswith(artifact_path("m-round-trip"))
    assert (tmp_path / "models" / artifact_path("m-round-trip")).exists()
    loaded = registry.load("m-round-trip")
    X = model.matrix(model.validation_examples.head(200))
    np.testing.assert_array_equal(loaded.probability(X), model.probability(X))
    with pytest.raises(RegistryError, match="already registered"):
        registry.register(model, "candidate")


def test_changed_artifact_is_refused(registry, tmp_path):
    registry.register(_version("m-tampered"), "champion")
    path = tmp_path / "models" / artifact_path("m-tampered")
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match=r"m-tampered.*model\.bin.*sha256"):
        registry.load("m-tampered")
    path.unlink()
    with pytest.raises(ModelIntegrityError, match="cannot be read"):
        registry.load("m-tampered")


def test_gate_decides_champion_then_candidates_and_rejected(registry):
    first = registry.register_gated(_version("m-1"), PASSED)
    failed = registry.register_gated(_version("m-2"), FAILED)
    second = registry.register_gated(_version("m-3"), PASSED)
    assert (first.status, failed.status, second.status) == ("champion", "rejected", "candidate")
    assert failed.gate["passed"] is False and failed.gate["failures"]
    assert registry.champion().version == "m-1"
    assert [c.version for c in registry.candidates()] == ["m-3"]


def test_rejected_model_can_never_be_loaded_or_promoted(registry):
    registry.register_gated(_version("m-bad"), FAILED)
    with pytest.raises(RejectedModelError, match="m-bad"):
        registry.load("m-bad")
    with pytest.raises(RejectedModelError, match="cannot become champion"):
        registry.set_status("m-bad", "champion")
    assert registry.get("m-bad").status == "rejected"


def test_promotion_retires_the_old_champion_and_the_database_allows_one(registry, engine):
    registry.register_gated(_version("m-old"), PASSED)
    registry.register_gated(_version("m-new"), PASSED)
    registry.set_status("m-new", "champion")
    assert registry.champion().version == "m-new"
    assert registry.get("m-old").status == "retired"
    assert registry.load("m-old").version == "m-old"  # retired models stay loadable (rollback, audit)
    from safeguard.serving.schema import model_versions

    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(model_versions.update().where(model_versions.c.version == "m-old").values(status="champion"))
    with pytest.raises(RegistryError, match="unknown status"):
        registry.set_status("m-old", "best")
    with pytest.raises(RegistryError, match="not registered"):
        registry.load("nope")


def test_registry_on_s3(engine, s3_endpoint):
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    store = ObjectStore(f"s3://{bucket}/registry", s3_endpoint_url=s3_endpoint)
    registry = ModelRegistry(engine, store)
    row = registry.register(_version("m-s3"), "champion")
    assert row.artifact_uri == f"s3://{bucket}/registry/models/m-s3/model.bin"
    assert registry.load("m-s3").version == "m-s3"
    store.write_bytes(artifact_path("m-s3"), b"not the model")
    with pytest.raises(ModelIntegrityError, match="m-s3"):
        registry.load("m-s3")
    store.delete_prefix("models/m-s3")
    with pytest.raises(ModelIntegrityError, match="cannot be read"):
        registry.load("m-s3")
