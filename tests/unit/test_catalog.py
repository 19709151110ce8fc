"""The feature catalog read from the dbt manifest (the marts' YAML is its one source)."""

from __future__ import annotations

import json

import pytest
import yaml

from safeguard.catalog import DBT_PROJECT_DIR, CatalogError, FeatureSpec, feature_columns, load_catalog
from safeguard.contract import EMAIL_DOMAIN_KINDS, PLANS, POLICY_CATEGORIES

MARTS = DBT_PROJECT_DIR / "models" / "marts"


def manifest(tmp_path, columns: dict) -> str:
    node = {"resource_type": "model", "name": "fct_account_features", "columns": columns}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"nodes": {"model.safeguard.fct_account_features": node}}))
    return str(path)


def column(name: str, reason: str | None = "Many requests", direction=1, description="Requests.") -> dict:
    meta = {} if reason is None else {"feature": {"reason": reason, "direction": direction}}
    return {"name": name, "description": description, "config": {"meta": meta}}


def test_reads_features_in_column_order_and_skips_keys(tmp_path):
    path = manifest(
        tmp_path,
        {
            "account_id": column("account_id", reason=None),
            "b": column("b", direction=None),
            "a": column("a", reason="Young account", direction=-1),
        },
    )
    assert load_catalog(path) == [
        FeatureSpec("b", "Requests.", "Many requests", None),
        FeatureSpec("a", "Requests.", "Young account", -1),
    ]
    assert feature_columns(path) == ["b", "a"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (column("x", direction=2), "direction must be 1, -1 or null"),
        (column("x", reason=""), "reason"),
        (column("x", description=""), "description"),
    ],
)
def test_refuses_a_malformed_feature_naming_it(tmp_path, bad, message):
    with pytest.raises(CatalogError, match=rf"fct_account_features\.x: .*{message}"):
        load_catalog(manifest(tmp_path, {"x": bad}))


def test_missing_manifest_or_model_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="python -m orchestration.dbt"):
        load_catalog(tmp_path / "nowhere.json")
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(CatalogError, match="no model 'fct_account_features'"):
        load_catalog(tmp_path / "empty.json")


def _model_columns(name: str) -> list[dict]:
    return yaml.safe_load((MARTS / f"{name}.yml").read_text())["models"][0]["columns"]


def test_training_examples_carry_every_feature_with_the_same_type():
    """fct_training_examples repeats the features' contract: both YAMLs must list the same columns and types."""
    features = [(c["name"], c["data_type"]) for c in _model_columns("fct_account_features")]
    training = [(c["name"], c["data_type"]) for c in _model_columns("fct_training_examples")]
    labels = [(name, "integer") for name in ("label", "label_warned", "label_reinstated", "label_review")]
    assert training == [*features, *labels]
    assert all(c.get("config", {}).get("meta", {}).get("feature") for c in _model_columns("fct_account_features")[2:])


def test_flag_categories_follow_the_contract():
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["flag_categories"] == [c for c in POLICY_CATEGORIES if c != "none"]


def test_plan_and_email_indicators_follow_the_contract():
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["plans"] == list(PLANS)
    assert project["vars"]["email_domain_kinds"] == list(EMAIL_DOMAIN_KINDS)
    columns = {c["name"] for c in _model_columns("fct_account_features")}
    assert {f"plan_{p}" for p in PLANS} | {f"email_{k}" for k in EMAIL_DOMAIN_KINDS} <= columns
