"""The model and scoring assets under Dagster on a small marts-shaped DuckDB and a SQLite serving DB.

The catalog comes through the real ``load_catalog`` from a dbt-manifest-shaped file written from the synthetic
feature specs (the feature columns of the tables made here).
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest
from dagster import DagsterInstance, materialize
from dagster_duckdb import DuckDBResource

from assets.model import risk_model
from assets.resources import ModelStoreResource, ServingDatabaseResource
from assets.scoring import account_risk_scores
from safeguard.landing import ObjectStore
from safeguard.registry import ModelRegistry
from safeguard.scoring import SCORES_TABLE
from safeguard.serving.db import engine_for
from tests.model_factory import feature_specs, synthetic_frame, training_examples

DAY = "2026-09-02"


def _write_manifest(path) -> None:
    columns = {"account_id": {"name": "account_id", "description": "The account.", "meta": {}}}
    for spec in feature_specs():
        columns[spec.name] = {
            "name": spec.name,
            "description": spec.description,
            "meta": {"feature": {"reason": spec.reason, "direction": spec.direction}},
        }
    node = {"resource_type": "model", "name": "fct_account_features", "columns": columns}
    path.write_text(json.dumps({"nodes": {"model.safeguard.fct_account_features": node}}))


@pytest.fixture
def env(tmp_path):
    warehouse = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(warehouse) as con:
        con.execute("CREATE SCHEMA marts")
        examples = training_examples()
        con.register("examples", examples.assign(as_of_date=examples["as_of_date"].dt.date))
        con.execute("CREATE TABLE marts.fct_training_examples AS SELECT * FROM examples")
        features = synthetic_frame(1500, [DAY], seed=4, with_label=False)
        con.register("features", features.assign(as_of_date=features["as_of_date"].dt.date))
        con.execute("CREATE TABLE marts.fct_account_features AS SELECT * FROM features")
    manifest = tmp_path / "manifest.json"
    _write_manifest(manifest)
    serving_url = f"sqlite:///{tmp_path / 'serving.db'}"
    resources = {
        "warehouse": DuckDBResource(database=warehouse),
        "serving": ServingDatabaseResource(url=serving_url),
        "model_store": ModelStoreResource(uri=str(tmp_path / "models")),
    }
    return {
        "warehouse": warehouse,
        "manifest": str(manifest),
        "serving_url": serving_url,
        "store": str(tmp_path / "models"),
        "resources": resources,
    }


def _model_config(manifest: str, **extra) -> dict:
    return {"ops": {"risk_model": {"config": {"manifest_path": manifest, **extra}}}}


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_train_then_score_a_partition_then_reject_a_failing_model(env):
    instance = DagsterInstance.ephemeral()
    trained = materialize(
        [risk_model], resources=env["resources"], run_config=_model_config(env["manifest"]), instance=instance
    )
    assert trained.success
    assert _checks(trained) == {"quality_gate": True}
    metadata = trained.asset_materializations_for_node("risk_model")[0].metadata
    assert metadata["status"].value == "champion"
    assert "![SHAP summary](data:image/png;base64," in metadata["shap_summary"].value
    assert "## Tier thresholds" in metadata["model_card"].value
    assert "rules baseline" not in metadata["model_card"].value  # the synthetic marts lack the rule signals
    assert {r.data["feature"] for r in metadata["feature_importance"].value.records} == {
        s.name for s in feature_specs()
    }

    scored = materialize([account_risk_scores], partition_key=DAY, resources=env["resources"], instance=instance)
    assert scored.success
    assert _checks(scored) == {"shap_additivity": True}
    with duckdb.connect(env["warehouse"], read_only=True) as con:
        rows = con.execute(
            f"SELECT count(*), count(DISTINCT account_id), sum(explained::INT), min(score_date)::VARCHAR,"
            f" any_value(model_role) FROM {SCORES_TABLE}"
        ).fetchone()
        assert (
            con.execute(f"SELECT count(*) FROM {SCORES_TABLE} WHERE tier <> 'low' AND NOT explained").fetchone()[0] == 0
        )
    assert rows[:2] == (1500, 1500) and rows[2] > 0 and rows[3:] == (DAY, "champion")
    score_metadata = scored.asset_materializations_for_node("account_risk_scores")[0].metadata
    assert score_metadata["rows"].value == 1500

    # A model below an impossible floor is registered as rejected and its blocking check fails the run.
    failing = materialize(
        [risk_model],
        resources=env["resources"],
        run_config=_model_config(env["manifest"], min_auc_pr=0.99, seed=3),
        instance=instance,
        raise_on_error=False,
    )
    assert _checks(failing) == {"quality_gate": False}
    engine = engine_for(env["serving_url"])
    try:
        registry = ModelRegistry(engine, ObjectStore(env["store"]))
        statuses = [v.status for v in registry.versions()]
        assert sorted(statuses) == ["champion", "rejected"]
        assert registry.champion().version == metadata["model_version"].value
    finally:
        engine.dispose()
    assert np.isfinite(score_metadata["explained_rows"].value)


def test_the_card_is_stored_next_to_the_artifact_and_printed_by_model_show(env, monkeypatch, capsys):
    from safeguard import cli

    trained = materialize([risk_model], resources=env["resources"], run_config=_model_config(env["manifest"]))
    metadata = trained.asset_materializations_for_node("risk_model")[0].metadata
    version = metadata["model_version"].value
    files = metadata["model_card_files"].value
    assert files[version].endswith(f"models/{version}/model_card.md")
    assert files[version] == env["store"] + f"/models/{version}/model_card.md"

    monkeypatch.setenv("SERVING_DB_URL", env["serving_url"])
    monkeypatch.setenv("MODEL_STORE_URI", env["store"])
    assert cli.main(["model", "show"]) == 0  # the champion's
    printed = capsys.readouterr().out
    assert printed.startswith(f"# {version} (champion, lightgbm)")
    assert printed.endswith(metadata["model_card"].value + "\n")  # the same card as in the UI
    assert "## Tier thresholds" in printed
    assert cli.main(["model", "show", "--brief"]) == 0  # what make demo prints
    brief = capsys.readouterr().out.splitlines()
    assert brief[0] == f"# {version} (champion, lightgbm)" and len(brief) <= 12, brief
    auc_pr = next(line for line in printed.splitlines() if line.startswith("| AUC-PR |")).split("|")[2].strip()
    assert any(line.startswith("validation") and f": AUC-PR {auc_pr}" in line for line in brief), brief
    for kept in ("tiers: elevated >= ", "quality gate: ", "top features (share of gain): "):
        assert any(line.startswith(kept) for line in brief), kept
    assert cli.main(["model", "list"]) == 0
    assert f"{version}  champion" in capsys.readouterr().out
    assert cli.main(["model", "show", "risk-nope"]) == 1
    assert "model risk-nope is not registered" in capsys.readouterr().err
