"""Tier thresholds: chosen for target precisions on validation, monotone, with a stated fallback."""

from __future__ import annotations

import numpy as np
import pytest

from safeguard.tiers import (
    METHOD_FALLBACK,
    METHOD_VALIDATION,
    TierThresholds,
    assign_tiers,
    choose_thresholds,
    tier_index,
)
from safeguard.vocabulary import ALERT_TIERS
from tests.model_factory import trained_model


@pytest.fixture(scope="module")
def calibrated():
    """Probabilities that are calibrated by construction: y ~ Bernoulli(p)."""
    rng = np.random.default_rng(11)
    p = rng.beta(0.4, 6.0, size=40_000)
    return (rng.random(p.size) < p).astype(int), p


def test_thresholds_meet_targets_and_are_monotone(calibrated):
    y, p = calibrated
    t = choose_thresholds(y, p)
    values = t.as_array()
    assert np.all(np.diff(values) >= 0)
    for tier in ALERT_TIERS:
        assert t.method[tier] == METHOD_VALIDATION
        above = p >= t.thresholds[tier]
        assert y[above].mean() >= t.targets[tier]
        assert t.achieved_precision[tier] == pytest.approx(y[above].mean())
        assert t.support[tier] == above.sum()


def test_threshold_is_the_lowest_reaching_the_target(calibrated):
    """Lowering the threshold to the next distinct score below it would break the target (or the support)."""
    y, p = calibrated
    t = choose_thresholds(y, p, min_alerts=1)
    for tier in ALERT_TIERS:
        lower = p[p < t.thresholds[tier]]
        next_lower = lower.max()
        assert y[p >= next_lower].mean() < t.targets[tier] or t.thresholds[tier] == next_lower


def test_unreachable_target_falls_back_to_the_target_probability():
    rng = np.random.default_rng(5)
    p = rng.random(2000) * 0.5
    y = np.zeros(2000, dtype=int)
    y[:5] = 1  # almost no positives: no threshold reaches 30 % precision with >= 10 alerts
    t = choose_thresholds(y, p)
    assert all(t.method[tier] == METHOD_FALLBACK for tier in ALERT_TIERS)
    assert t.thresholds == t.targets
    assert t.achieved_precision["critical"] is None  # nobody scored >= 0.85


def test_fallback_below_a_lower_tier_is_lifted_to_stay_monotone():
    # elevated found on validation at a high score; high (fallback 0.6) must not sit below it.
    p = np.r_[np.full(50, 0.95), np.linspace(0, 0.5, 950)]
    y = np.r_[np.r_[np.ones(20), np.zeros(30)], np.zeros(950)].astype(int)
    t = choose_thresholds(y, p, {"elevated": 0.3, "high": 0.5, "critical": 0.9})
    assert t.method["elevated"] == METHOD_VALIDATION and t.method["critical"] == METHOD_FALLBACK
    assert t.thresholds["critical"] >= t.thresholds["high"] >= t.thresholds["elevated"]


def test_weighted_validation_counts_sampled_negatives():
    # Sampled negatives stand for 10 accounts each: precision at 0.9 is 10/(10+10), not 10/11.
    p = np.r_[np.full(10, 0.9), np.full(1, 0.9), np.linspace(0, 0.2, 500)]
    y = np.r_[np.ones(10), np.zeros(1), np.zeros(500)].astype(int)
    w = np.r_[np.ones(10), np.full(1, 10.0), np.full(500, 10.0)]
    t = choose_thresholds(y, p, {"elevated": 0.5, "high": 0.6, "critical": 0.95}, weight=w)
    assert t.achieved_precision["elevated"] == pytest.approx(0.5)
    assert t.support["elevated"] == 20
    assert t.method["high"] == METHOD_FALLBACK


def test_assign_tiers_is_inclusive_at_thresholds():
    th = {"elevated": 0.3, "high": 0.6, "critical": 0.85}
    probs = np.array([0.0, 0.2999, 0.3, 0.59, 0.6, 0.85, 1.0])
    assert assign_tiers(probs, th).tolist() == [
        "low",
        "low",
        "elevated",
        "elevated",
        "high",
        "critical",
        "critical",
    ]
    assert tier_index(probs, th).tolist() == [0, 0, 1, 1, 2, 3, 3]


def test_non_monotone_thresholds_are_refused():
    with pytest.raises(ValueError, match="must not decrease"):
        assign_tiers([0.5], {"elevated": 0.6, "high": 0.5, "critical": 0.9})
    with pytest.raises(ValueError, match="not decrease by tier"):
        choose_thresholds([0, 1], [0.1, 0.9], {"elevated": 0.6, "high": 0.5, "critical": 0.9})


def test_thresholds_round_trip_through_json_shape():
    t = choose_thresholds(*[np.array([0, 1, 1, 0, 1] * 10), np.linspace(0, 1, 50)], min_alerts=1)
    again = TierThresholds.from_dict(t.to_dict())
    assert again == t


def test_trained_model_tiers_meet_targets_on_its_validation_set():
    model = trained_model()
    val = model.validation_examples
    p = model.probability(model.matrix(val))
    y = val["label"].to_numpy()
    for tier in ALERT_TIERS:
        if model.thresholds.method[tier] == METHOD_VALIDATION:
            assert y[p >= model.thresholds.thresholds[tier]].mean() >= model.thresholds.targets[tier]
    assert model.thresholds.method["elevated"] == METHOD_VALIDATION
