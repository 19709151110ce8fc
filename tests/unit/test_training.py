"""Training: time split with gaps, determinism, calibration, monotone constraints, bounded rows, the gate."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from safeguard.calibration import Calibrator
from safeguard.examples import TrainingDataError, read_training_examples
from safeguard.gate import GateConfig, champion_metrics_on, quality_gate
from safeguard.risk_model import TrainedModel
from safeguard.time_split import time_split
from safeguard.training import train_risk_model
from tests.model_factory import day_strings, feature_specs, trained_model, training_examples

H = 14


def _days(window: tuple[str, str]) -> tuple[date, date]:
    return date.fromisoformat(window[0]), date.fromisoformat(window[1])


def test_split_is_time_ordered_with_a_label_horizon_gap_before_validation():
    model = trained_model()
    fit, stop, val = (_days(model.windows[k]) for k in ("fit", "early_stopping", "validation"))
    assert fit[1] < stop[0] and stop[1] < val[0]
    assert (val[0] - stop[1]).days >= H
    seen = pd.to_datetime(model.validation_examples["as_of_date"]).dt.date
    assert seen.min() == val[0] and seen.max() == val[1]
    # The served model is refitted on every matured day before validation, and on no validation day.
    refit = _days(model.windows["refit"])
    assert refit[0] == fit[0] and refit[1] < val[0] and (val[0] - refit[1]).days == 1
    assert model.training_window == model.windows["refit"]
    assert model.metrics["refit_rows"] > model.metrics["fit_rows"] + model.metrics["early_stopping_rows"]


def test_without_refit_the_held_out_twin_is_served():
    model = train_risk_model(training_examples(), feature_specs(), seed=7, refit=False)
    assert "refit" not in model.windows
    assert model.training_window == (model.windows["fit"][0], model.windows["early_stopping"][1])
    assert model.metrics["trees"] == model.metrics["twin_trees"]
    # The gated metrics are the held-out twin's either way.
    assert model.metrics["auc_pr"] == pytest.approx(trained_model().metrics["auc_pr"])


def test_time_split_refuses_too_few_days():
    with pytest.raises(TrainingDataError, match="14-day gap"):
        time_split(np.array(day_strings("2026-01-01", 16), dtype="datetime64[D]"), 14)


def test_training_is_deterministic_for_a_seed():
    examples, specs = training_examples(), feature_specs()
    a = train_risk_model(examples, specs, seed=7)
    b = trained_model(seed=7)
    assert a.booster.model_to_string() == b.booster.model_to_string()
    X = a.matrix(examples.head(500))
    np.testing.assert_array_equal(a.probability(X), b.probability(X))
    assert a.thresholds == b.thresholds
    c = train_risk_model(examples, specs, seed=8)
    assert c.booster.model_to_string() != a.booster.model_to_string()


def test_calibration_improves_expected_calibration_error():
    m = trained_model().metrics
    assert m["calibration"] == "isotonic"
    assert m["ece"] < m["ece_uncalibrated"]
    assert m["ece"] < 0.02


def test_platt_scaling_when_positives_are_few():
    rng = np.random.default_rng(0)
    margin = rng.normal(-4, 1, 3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(-margin))).astype(int)
    assert y.sum() < 100
    cal = Calibrator.fit(margin, y)
    assert cal.method == "platt"
    assert cal.slope == pytest.approx(1.0, abs=0.35)
    grid = np.linspace(-6, 3, 50)
    assert np.all(np.diff(cal(grid)) > 0)


def test_centered_isotonic_is_strictly_increasing_inside_the_data():
    rng = np.random.default_rng(1)
    margin = rng.normal(-2, 1.5, 20_000)
    y = (rng.random(margin.size) < 1 / (1 + np.exp(-margin))).astype(int)
    cal = Calibrator.fit(margin, y)
    assert cal.method == "isotonic"
    # Strictly increasing between the centers of the first and last isotonic steps (flat only beyond them).
    grid = np.linspace(cal.knots_x[1], cal.knots_x[-2], 500)
    assert np.all(np.diff(cal(grid)) > 0)
    assert len(cal.knots_x) > 10
    assert np.all((cal(margin) >= 0) & (cal(margin) <= 1))


def test_monotone_constraints_follow_the_catalog_directions():
    model = trained_model()
    base = model.matrix(model.validation_examples.head(200))
    grid = np.linspace(-4, 4, 25)
    for column, direction in ((0, 1), (1, -1), (2, 1)):
        assert model.features[column].direction == direction
        margins = []
        for value in grid:
            X = base.copy()
            X[:, column] = value
            margins.append(model.raw_margin(X))
        steps = np.diff(np.array(margins), axis=0) * direction
        assert (steps >= -1e-12).all(), model.features[column].name
    assert model.params["monotone_constraints"][:4] == [1, -1, 1, 0]


def test_bounded_depth_is_enforced():
    assert trained_model().booster.dump_model()["tree_info"]  # a real model
    depth = max(_tree_depth(t["tree_structure"]) for t in trained_model().booster.dump_model()["tree_info"])
    assert depth <= 6
    with pytest.raises(ValueError, match="TreeSHAP"):
        train_risk_model(training_examples(), feature_specs(), params={"max_depth": 12})
    with pytest.raises(ValueError, match="num_boost_round"):
        train_risk_model(training_examples(), feature_specs(), num_boost_round=1000)


def _tree_depth(node) -> int:
    if "leaf_value" in node:
        return 0
    return 1 + max(_tree_depth(node["left_child"]), _tree_depth(node["right_child"]))


def test_training_rows_are_bounded_with_weights():
    model = train_risk_model(training_examples(), feature_specs(), max_train_rows=5000, seed=7)
    assert model.metrics["fit_rows"] <= 5000 * 1.1
    # The subsampled model still ranks: the weights keep it about the full population.
    assert model.metrics["auc_roc"] > 0.75


def test_the_model_card_counts_the_positives_confirmed_by_reviewers():
    from safeguard.model_card import model_card_markdown

    examples = training_examples().copy()
    positives = np.flatnonzero(examples["label"].to_numpy() == 1)
    examples["label_review"] = 0
    examples.loc[examples.index[positives[::4]], "label_review"] = 1  # a quarter of them came from reviews
    model = train_risk_model(examples, feature_specs(), seed=7)
    m = model.metrics
    assert 0 < m["fit_review_positives"] < m["fit_label_positives"]
    assert m["fit_review_positives"] == pytest.approx(m["fit_label_positives"] / 4, rel=0.2)
    assert f"({m['fit_review_positives']} of them confirmed by reviewers)" in model_card_markdown(model)
    assert train_risk_model(training_examples(), feature_specs(), seed=7).metrics["fit_review_positives"] == 0


def test_the_card_says_whether_enforcement_was_propagated_over_same_owner_links():
    from safeguard.model_card import model_card_markdown

    examples = training_examples()
    rng = np.random.default_rng(3)
    negatives = np.flatnonzero(examples["label"].to_numpy() == 0)
    survivors = rng.choice(negatives, size=len(negatives) // 200, replace=False)  # a few missed ring members
    share = np.zeros(len(examples))
    share[survivors] = 0.5
    linked = examples.assign(linked_payment_enforced_share=share)
    model = train_risk_model(linked, feature_specs(), label_policy="late_linked", seed=7)
    evidence = model.metrics["linked_labels"]
    assert evidence["applied"] and evidence["added"] == len(survivors)
    assert model.metrics["fit_policy_positives"] > 0
    assert f"same-owner links: applied: {len(survivors)} positives added" in model_card_markdown(model)

    noise = examples.assign(linked_payment_enforced_share=rng.random(len(examples)))  # above 0 everywhere
    model = train_risk_model(noise, feature_specs(), label_policy="late_linked", seed=7)
    assert not model.metrics["linked_labels"]["applied"] and model.metrics["fit_policy_positives"] == 0
    assert "same-owner links: skipped: links to enforced accounts would add" in model_card_markdown(model)


def _examples_warehouse():
    """An in-memory warehouse holding the synthetic training examples as marts.fct_training_examples."""
    examples = training_examples()
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.register("examples_df", examples.assign(as_of_date=pd.to_datetime(examples["as_of_date"]).dt.date))
    con.execute("CREATE TABLE marts.fct_training_examples AS SELECT * FROM examples_df")
    return examples, con


def test_read_training_examples_samples_inside_duckdb():
    examples, con = _examples_warehouse()
    full = read_training_examples(con)
    assert len(full) == len(examples) and (full["sample_weight"] == 1).all()
    sampled = read_training_examples(con, max_rows=10_000)
    assert len(sampled) < 12_000
    positives = sampled[sampled["label"] == 1]
    assert len(positives) == examples["label"].sum() and (positives["sample_weight"] == 1).all()
    negatives = sampled[sampled["label"] == 0]
    assert negatives["sample_weight"].sum() == pytest.approx((examples["label"] == 0).sum(), rel=0.05)
    again = read_training_examples(con, max_rows=10_000)
    pd.testing.assert_frame_equal(sampled, again)  # deterministic
    assert "late_blocked" not in full.columns  # no late-evidence view in this warehouse: nothing joined


def test_read_training_examples_joins_the_late_evidence_and_keeps_it_all_when_sampling():
    examples, con = _examples_warehouse()
    late = examples[examples["label"] == 0].sample(300, random_state=3)[["account_id", "as_of_date"]]
    con.register(
        "late_df", late.assign(as_of_date=pd.to_datetime(late["as_of_date"]).dt.date, late_blocked=1, late_warned=0)
    )
    con.execute("CREATE VIEW marts.fct_training_late_evidence AS SELECT * FROM late_df")
    sampled = read_training_examples(con, max_rows=10_000)
    flagged = sampled[sampled["late_blocked"] == 1]
    assert len(flagged) == 300 and (flagged["sample_weight"] == 1).all()  # rare rows are never sampled away
    assert (sampled["late_warned"] == 0).all() and sampled["late_blocked"].isna().sum() == 0
    assert len(read_training_examples(con)) == len(examples)  # the join adds columns, never rows


def test_bad_examples_get_clear_errors():
    examples = training_examples().head(1000)
    with pytest.raises(TrainingDataError, match=r"missing column\(s\) \['label'\]"):
        train_risk_model(examples.drop(columns="label"), feature_specs())
    with pytest.raises(TrainingDataError, match="label must be 0 or 1"):
        train_risk_model(examples.assign(label=2), feature_specs())
    with pytest.raises(TrainingDataError, match=r"feat_04 \(object\)"):
        train_risk_model(examples.assign(feat_04="x"), feature_specs())
    with pytest.raises(TrainingDataError, match="missing feature column"):
        train_risk_model(examples.drop(columns="feat_07"), feature_specs())


def test_artifact_round_trip_predicts_identically():
    model = trained_model()
    again = TrainedModel.from_artifact(model.to_artifact())
    X = model.matrix(model.validation_examples.head(300))
    np.testing.assert_array_equal(again.raw_margin(X), model.raw_margin(X))
    np.testing.assert_array_equal(again.probability(X), model.probability(X))
    assert again.features == model.features and again.thresholds == model.thresholds
    assert again.version == model.version and again.validation_examples is None
    assert model.to_artifact() == again.to_artifact()  # byte-stable: the sha256 means something


def test_quality_gate_floors_and_champion_comparison():
    good = {"auc_pr": 0.4, "recall_at_1pct_fpr": 0.3, "ece": 0.01, "positive_rate": 0.01}
    assert quality_gate(good).passed
    bad = quality_gate({**good, "ece": 0.2, "auc_pr": float("nan")})
    assert not bad.passed
    assert {c["name"] for c in bad.checks if not c["passed"]} == {"ece", "auc_pr", "auc_pr_lift_over_base_rate"}
    assert any("ece = 0.2000" in f for f in bad.failures)
    slightly_better_champion = {"auc_pr": 0.41, "recall_at_1pct_fpr": 0.31}
    assert quality_gate(good, GateConfig(champion_tolerance=0.02), slightly_better_champion).passed


def test_gate_rejects_a_candidate_clearly_worse_than_the_champion():
    good = {"auc_pr": 0.4, "recall_at_1pct_fpr": 0.3, "ece": 0.01, "positive_rate": 0.01}
    result = quality_gate(good, GateConfig(champion_tolerance=0.02), {"auc_pr": 0.5, "recall_at_1pct_fpr": 0.3})
    assert not result.passed
    assert [c["name"] for c in result.checks if not c["passed"]] == ["auc_pr_vs_champion"]


def test_champion_is_rescored_on_the_candidates_validation_rows():
    candidate = trained_model()
    champion = TrainedModel.from_artifact(candidate.to_artifact())
    same = champion_metrics_on(champion, candidate, review_capacity=100)
    # The served (refitted) model on its own validation rows: the figures the champion comparison uses.
    for name in ("auc_roc", "auc_pr", "recall_at_1pct_fpr", "precision_at_k"):
        assert same[name] == pytest.approx(candidate.metrics["served"][name])
    assert quality_gate(candidate.metrics, GateConfig(), same).passed
