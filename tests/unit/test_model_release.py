"""One training run's decision (safeguard.model_release): the gate against the rules score, refusals that keep
the champion, and the cold start that serves the rules score when no trained model passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from safeguard.gate import GateConfig, quality_gate
from safeguard.landing import ObjectStore
from safeguard.model_release import release
from safeguard.registry import ModelRegistry
from safeguard.serving.db import engine_for, upgrade
from tests.model_factory import day_strings, synthetic_frame, training_examples
from tests.signal_factory import catalog, with_signals

METRICS = {"auc_pr": 0.30, "recall_at_1pct_fpr": 0.40, "ece": 0.01, "positive_rate": 0.005}


def test_gate_refuses_a_model_not_clearly_better_than_the_rules_on_the_same_rows():
    rules = {"auc_pr": 0.25, "recall_at_1pct_fpr": 0.30}
    result = quality_gate(METRICS, GateConfig(), rules_metrics=rules)
    assert not result.passed
    assert [c["name"] for c in result.checks if not c["passed"]] == ["auc_pr_vs_rules"]
    check = next(c for c in result.checks if c["name"] == "auc_pr_vs_rules")
    assert check["threshold"] == pytest.approx(0.25 * GateConfig().min_lift_over_rules)
    weaker_recall = quality_gate(METRICS, GateConfig(), rules_metrics={"auc_pr": 0.1, "recall_at_1pct_fpr": 0.5})
    assert [c["name"] for c in weaker_recall.checks if not c["passed"]] == ["recall_at_1pct_fpr_vs_rules"]
    assert quality_gate(METRICS, GateConfig(), rules_metrics={"auc_pr": 0.1, "recall_at_1pct_fpr": 0.2}).passed


def test_the_auc_pr_floor_is_a_lift_over_a_random_ranking_of_the_same_rows():
    """The same AUC-PR is ample where positives are rare and no better than chance where they are common."""
    sparse = {**METRICS, "auc_pr": 0.02, "positive_rate": 0.0008}  # 25x a random ranking
    assert quality_gate(sparse, GateConfig()).passed
    common = {**METRICS, "auc_pr": 0.02, "positive_rate": 0.01}  # 2x
    failed = quality_gate(common, GateConfig())
    assert [c["name"] for c in failed.checks if not c["passed"]] == ["auc_pr_lift_over_base_rate"]
    assert "auc_pr_lift_over_base_rate = 2.0000 (needs >= 10.0000)" in failed.failures
    unknown = quality_gate({k: v for k, v in METRICS.items() if k != "positive_rate"}, GateConfig())
    assert not unknown.passed  # a metric set without its base rate cannot show the lift
    absolute = quality_gate(sparse, GateConfig(min_auc_pr=0.05))  # the optional absolute floor still applies
    assert [c["name"] for c in absolute.checks if not c["passed"]] == ["auc_pr"]


def test_gate_says_when_the_rules_comparison_could_not_be_made():
    result = quality_gate(METRICS, GateConfig(), rules_note="the examples lack its signal(s) ['events_7d']")
    assert result.passed and result.notes == ("the examples lack its signal(s) ['events_7d']",)
    assert "events_7d" in result.to_dict()["notes"][0]


@pytest.fixture
def registry(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'serving.db'}")
    upgrade(engine)
    yield ModelRegistry(engine, ObjectStore(str(tmp_path / "models")))
    engine.dispose()


def _recent():
    return with_signals(synthetic_frame(1500, day_strings("2026-08-01", 7), with_label=False, seed=5))


def _examples(days: int = 60):
    examples = training_examples()
    keep = pd.to_datetime(examples["as_of_date"]) < pd.Timestamp("2026-06-01") + pd.Timedelta(days=days)
    return with_signals(examples[keep].reset_index(drop=True))


def test_a_young_world_is_refused_and_the_rules_score_serves_as_champion(registry):
    young = _examples(days=12)  # fewer days than fit + early stopping + a 14-day gap + validation
    outcome = release(young, catalog(), registry, recent_features=_recent)
    assert outcome.trained is None and "too few for a time split" in outcome.refusal
    champion = registry.champion()
    assert champion.kind == "rules" and champion.version == outcome.rules_champion.version
    assert "cold start" in outcome.headline and outcome.champion_serving
    assert outcome.rules_champion.metrics["served_because"] == outcome.refusal


def test_no_positive_label_at_all_refuses_training_and_keeps_the_current_champion(registry):
    first = release(_examples(), catalog(), registry, recent_features=_recent)
    assert first.registered.status == "champion" and first.gate.passed
    assert {c["name"] for c in first.gate.checks} >= {"auc_pr_vs_rules", "recall_at_1pct_fpr_vs_rules"}
    for spoiled in (_examples().assign(label=0), _examples().assign(label=1)):  # no labels; one kind only
        outcome = release(spoiled, catalog(), registry, recent_features=_recent)
        assert outcome.trained is None and outcome.rules_champion is None
        assert "label" in outcome.refusal or "class" in outcome.refusal
        assert registry.champion().version == first.registered.version
    assert [v.status for v in registry.versions()] == ["champion"]  # a refused model registers nothing


def test_a_model_that_passes_later_replaces_the_rules_champion_and_the_next_one_waits_for_a_rollout(registry):
    release(_examples(days=12), catalog(), registry, recent_features=_recent)
    rules_version = registry.champion().version
    outcome = release(_examples(), catalog(), registry, recent_features=_recent)
    # The gate compared it with the rules score on the same rows (lift and champion checks): judged evidence.
    checks = {c["name"] for c in outcome.gate.checks}
    assert outcome.gate.passed and {"auc_pr_vs_rules", "auc_pr_vs_champion_upper_bound"} <= checks
    comparison = outcome.champion_comparison["auc_pr"]  # paired by account on the same validation rows
    assert comparison["low"] <= comparison["difference"] <= comparison["high"]
    assert outcome.registered.status == "champion" and registry.champion().kind == "lightgbm"
    assert registry.get(rules_version).status == "retired" and outcome.rules_champion is None
    # Against a rules champion the champion comparison uses the rules model's own scores on the same rows.
    assert outcome.champion_metrics["auc_pr"] < outcome.trained.metrics["served"]["auc_pr"]
    # Once a trained model serves, the next one that passes is a candidate for a staged rollout.
    later = release(_examples(), catalog(), registry, recent_features=_recent)
    assert later.gate.passed and later.registered.status == "candidate"
    assert registry.champion().version == outcome.registered.version


def test_a_first_model_that_fails_the_gate_is_rejected_and_the_rules_score_serves(registry):
    outcome = release(
        _examples(), catalog(), registry, recent_features=_recent, gate_config=GateConfig(min_auc_pr=0.99)
    )
    assert outcome.registered.status == "rejected"
    assert registry.champion().kind == "rules"
    assert "failed the quality gate" in outcome.rules_champion.metrics["served_because"]
    assert np.isfinite(outcome.rules_metrics["auc_pr"])
