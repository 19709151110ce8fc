"""While the cold-start rules score serves, the sensor retrains once per new materialization of the training
examples; once a trained model is champion it stays quiet."""

from __future__ import annotations

from dagster import AssetMaterialization, DagsterInstance, RunRequest, SkipReason, build_sensor_context

from assets.resources import ModelStoreResource, ServingDatabaseResource
from orchestration.sensors import TRAINING_EXAMPLES, cold_start_retrain_sensor
from safeguard.landing import ObjectStore
from safeguard.model_release import release
from safeguard.registry import ModelRegistry
from safeguard.serving.db import engine_for, upgrade
from tests.signal_factory import catalog
from tests.unit.test_model_release import _examples, _recent


def _evaluate(instance, tmp_path, cursor=None):
    resources = {
        "serving": ServingDatabaseResource(url=f"sqlite:///{tmp_path / 'serving.db'}"),
        "model_store": ModelStoreResource(uri=str(tmp_path / "models")),
    }
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return cold_start_retrain_sensor(context), context.cursor


def test_retrains_after_each_new_examples_day_while_the_rules_serve_then_stops(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'serving.db'}")
    upgrade(engine)
    registry = ModelRegistry(engine, ObjectStore(str(tmp_path / "models")))
    with DagsterInstance.ephemeral() as instance:
        nothing, _ = _evaluate(instance, tmp_path)
        assert isinstance(nothing, SkipReason) and "no champion yet" in nothing.skip_message

        release(_examples(days=12), catalog(), registry, recent_features=_recent)  # young: the rules serve
        waiting, _ = _evaluate(instance, tmp_path)
        assert isinstance(waiting, SkipReason) and "no training examples materialized yet" in waiting.skip_message

        instance.report_runless_asset_event(AssetMaterialization(TRAINING_EXAMPLES, partition="2026-09-20"))
        request, cursor = _evaluate(instance, tmp_path)
        assert isinstance(request, RunRequest) and request.run_key.startswith("cold-start-retrain-")
        assert registry.champion().version in request.tags["safeguard/reason"]
        again, same_cursor = _evaluate(instance, tmp_path, cursor)
        assert isinstance(again, SkipReason) and "no new training examples" in again.skip_message
        assert same_cursor == cursor

        instance.report_runless_asset_event(AssetMaterialization(TRAINING_EXAMPLES, partition="2026-09-21"))
        next_day, next_cursor = _evaluate(instance, tmp_path, cursor)
        assert isinstance(next_day, RunRequest) and next_day.run_key != request.run_key and next_cursor != cursor

        trained = release(_examples(), catalog(), registry, recent_features=_recent)  # passes: replaces the rules
        assert trained.registered.status == "champion"
        instance.report_runless_asset_event(AssetMaterialization(TRAINING_EXAMPLES, partition="2026-09-22"))
        quiet, _ = _evaluate(instance, tmp_path, next_cursor)
        assert isinstance(quiet, SkipReason) and "a trained model is champion" in quiet.skip_message
    engine.dispose()
