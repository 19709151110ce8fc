"""The validation metrics against scikit-learn (with ties and with sample weights) and small hand cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

from safeguard import metrics


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(3)
    n = 5000
    y = (rng.random(n) < 0.05).astype(int)
    # Rounded scores: many ties, which is where hand-written curves usually go wrong.
    p = np.round(np.clip(0.1 + 0.3 * y + rng.normal(0, 0.15, n), 0, 1), 2)
    w = rng.choice([1.0, 4.0, 10.0], size=n)
    days = rng.integers(0, 7, size=n)
    return y, p, w, days


@pytest.mark.parametrize("weighted", [False, True])
def test_ranking_metrics_match_sklearn(scored, weighted):
    y, p, w, _ = scored
    sw = w if weighted else None
    assert metrics.roc_auc(y, p, sw) == pytest.approx(roc_auc_score(y, p, sample_weight=sw), abs=1e-12)
    assert metrics.average_precision(y, p, sw) == pytest.approx(
        average_precision_score(y, p, sample_weight=sw), abs=1e-12
    )
    fpr, tpr, _ = roc_curve(y, p, sample_weight=sw, drop_intermediate=False)
    assert metrics.recall_at_fpr(y, p, 0.01, sw) == pytest.approx(tpr[fpr <= 0.01].max(), abs=1e-12)
    assert metrics.brier_score(y, p, sw) == pytest.approx(brier_score_loss(y, p, sample_weight=sw), abs=1e-12)


def test_expected_calibration_error_matches_a_direct_computation(scored):
    y, p, w, _ = scored
    bins = np.minimum((p * 10).astype(int), 9)
    frame = pd.DataFrame({"y": y * w, "p": p * w, "w": w, "bin": bins}).groupby("bin").sum()
    expected = (frame["y"] - frame["p"]).abs().sum() / w.sum()
    assert metrics.expected_calibration_error(y, p, w=w) == pytest.approx(expected, abs=1e-12)
    # A perfectly calibrated constant has no error; a confident wrong one has a large one.
    assert metrics.expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.0
    assert metrics.expected_calibration_error([0, 0, 0, 0], [0.9, 0.9, 0.9, 0.9]) == pytest.approx(0.9)


def test_precision_at_k_is_per_day_then_averaged(scored):
    y, p, _, days = scored
    frame = pd.DataFrame({"y": y, "p": p, "day": days}).reset_index()
    top = frame.sort_values(["day", "p", "index"], ascending=[True, False, True]).groupby("day").head(20)
    expected = top.groupby("day")["y"].mean().mean()
    assert metrics.precision_at_k(y, p, days, k=20) == pytest.approx(expected, abs=1e-12)
    # A day with fewer rows than k counts all of them; days weigh equally whatever their size.
    assert metrics.precision_at_k([1, 0, 1, 1, 1], [0.9, 0.1, 0.5, 0.4, 0.3], [0, 0, 1, 1, 1], k=2) == pytest.approx(
        (0.5 + 1.0) / 2
    )


def test_weighted_precision_at_k_counts_estimated_accounts():
    # One sampled negative standing for 3 accounts fills 3 of k=4 review slots.
    y, p, w = [1, 0, 1, 1], [0.9, 0.8, 0.7, 0.6], [1, 3, 1, 1]
    assert metrics.precision_at_k(y, p, k=4, w=w) == pytest.approx(1 / 4)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.roc_auc([0, 1], [0.1])
    with pytest.raises(ValueError, match="0 or 1"):
        metrics.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        metrics.roc_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.expected_calibration_error([0, 1], [0.1, 3.0])


def test_evaluate_separates_ranking_and_calibration():
    y = np.array([0, 0, 1, 1])
    margin = np.array([-3.0, -1.0, 0.5, 2.0])
    out = metrics.evaluate(y, margin, probability=1 / (1 + np.exp(-margin)), review_capacity=2)
    assert out["auc_roc"] == 1.0 and out["precision_at_k"] == 1.0
    assert {"ece", "brier"} <= set(out)
    assert "ece" not in metrics.evaluate(y, margin)
