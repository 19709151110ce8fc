"""The rules score as a servable model: exact rule counts, rules as SHAP reasons, count tiers, registry kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from safeguard import explain
from safeguard.baseline import DEFAULT_SIGNALS, RulesBaseline
from safeguard.examples import TrainingDataError
from safeguard.landing import ObjectStore
from safeguard.registry import ModelRegistry
from safeguard.risk_model import TrainedModel
from safeguard.rules_model import RULES_FOR_TIER, build_rules_model, is_rules_model
from safeguard.serving.db import engine_for, upgrade
from safeguard.tiers import assign_tiers
from tests.model_factory import day_strings, synthetic_frame
from tests.signal_factory import catalog, with_signals


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    frame = with_signals(synthetic_frame(2000, day_strings("2026-09-01", 3), with_label=False))
    frame.loc[frame.index[:50], "events_7d"] = np.nan  # a missing value breaks no rule
    return frame


@pytest.fixture(scope="module")
def model(reference) -> TrainedModel:
    return build_rules_model(catalog(), reference, reason="a test world too young to train on")


def test_raw_margin_is_the_number_of_rules_broken(model, reference):
    rules = RulesBaseline.fit(reference, DEFAULT_SIGNALS)
    margin = model.raw_margin(model.matrix(reference))
    np.testing.assert_array_equal(margin, rules.score(reference))
    assert model.params["rules"] == rules.describe()
    assert model.feature_names == list(DEFAULT_SIGNALS)


def test_reasons_are_the_broken_rules_and_add_up_to_the_score(model, reference):
    X = model.matrix(reference)
    contribs = explain.contributions(model.booster, X)
    assert explain.additivity_error(contribs, model.raw_margin(X)) < 1e-9
    thresholds = np.array([r.threshold for r in RulesBaseline.fit(reference, DEFAULT_SIGNALS).rules])
    broken = np.nan_to_num(X, nan=-np.inf) > thresholds
    # A broken rule contributes positively, a kept one negatively: the reasons are exactly the broken rules.
    assert ((contribs[:, :-1] > 0) == broken).all()


def test_tiers_count_broken_rules_and_the_score_is_the_share_without_labels(model, reference):
    X = model.matrix(reference)
    broken = model.raw_margin(X)
    tiers = assign_tiers(model.probability(X), model.thresholds)
    for tier, count in RULES_FOR_TIER.items():
        assert set(tiers[broken == count]) == {tier}
    assert set(tiers[broken <= 1]) == {"low"}
    np.testing.assert_allclose(model.probability(X), broken / len(DEFAULT_SIGNALS))
    assert model.metrics["calibration"] == "rules_share"


def test_with_labelled_examples_the_score_is_platt_calibrated(reference):
    labelled = reference.assign(label=(reference["feat_00"] > 2.2).astype(int))
    calibrated = build_rules_model(catalog(), reference, labelled=labelled, reason="test")
    p = calibrated.probability(calibrated.matrix(reference))
    assert calibrated.metrics["calibration"] == "platt"
    assert np.all(np.diff(p[np.argsort(calibrated.raw_margin(calibrated.matrix(reference)))]) >= 0)


def test_registered_as_kind_rules_and_loaded_back_identically(model, reference, tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'serving.db'}")
    upgrade(engine)
    try:
        registry = ModelRegistry(engine, ObjectStore(str(tmp_path / "models")))
        row = registry.register(model, "champion")
        assert row.kind == "rules" and row.is_rules and row.version.startswith("rules-")
        loaded = registry.load(row.version)
    finally:
        engine.dispose()
    assert is_rules_model(loaded)
    X = model.matrix(reference)
    np.testing.assert_array_equal(loaded.raw_margin(X), model.raw_margin(X))


def test_missing_signals_or_rows_are_refused_by_name(reference):
    with pytest.raises(TrainingDataError, match="events_7d"):
        build_rules_model(catalog(), reference.drop(columns=["events_7d"]), reason="test")
    with pytest.raises(TrainingDataError, match="no feature rows"):
        build_rules_model(catalog(), reference.head(0), reason="test")
