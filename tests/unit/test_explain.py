"""Exact TreeSHAP reasons: additivity, agreement with shap's own algorithm, positive top reasons, selection."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from safeguard import explain
from tests.model_factory import ROOT_DIR, synthetic_frame, trained_model


@pytest.fixture(scope="module")
def explained():
    model = trained_model()
    frame = synthetic_frame(600, ["2026-09-01"], seed=5, with_label=False)
    X = model.matrix(frame)
    return model, frame, X, explain.contributions(model.booster, X)


def test_contributions_add_up_to_the_raw_margin(explained):
    model, _, X, contribs = explained
    assert contribs.shape == (X.shape[0], X.shape[1] + 1)
    assert explain.additivity_error(contribs, model.raw_margin(X)) <= explain.ADDITIVITY_TOLERANCE
    # The check can fail: a shifted margin is caught.
    assert explain.additivity_error(contribs, model.raw_margin(X) + 1e-3) > explain.ADDITIVITY_TOLERANCE


def test_pred_contrib_agrees_with_shaps_own_tree_shap(explained):
    """shap.TreeExplainer hands a LightGBM booster back to pred_contrib; forcing its internal C++ TreeSHAP over
    its own parse of the trees makes this an independent computation."""
    import shap

    model, _, X, contribs = explained
    explainer = shap.TreeExplainer(model.booster)
    explainer.model.model_type = "internal"
    values = explainer.shap_values(X)
    np.testing.assert_allclose(values, contribs[:, :-1], atol=1e-6)
    assert float(np.ravel(explainer.expected_value)[0]) == pytest.approx(contribs[0, -1], abs=1e-6)


def test_reasons_are_the_largest_positive_contributions_with_catalog_texts(explained):
    model, _, X, contribs = explained
    reasons = explain.reasons(contribs, X, model.features)
    catalog = {f.name: f.reason for f in model.features}
    index = {f.name: i for i, f in enumerate(model.features)}
    for row, row_reasons in enumerate(reasons):
        assert len(row_reasons) <= explain.DEFAULT_TOP_REASONS
        c = contribs[row, :-1]
        expected = [i for i in np.argsort(-c, kind="stable")[: explain.DEFAULT_TOP_REASONS] if c[i] > 0]
        assert [index[r["feature"]] for r in row_reasons] == expected
        for r in row_reasons:
            i = index[r["feature"]]
            assert r["reason"] == catalog[r["feature"]]
            assert r["contribution"] == pytest.approx(c[i], abs=1e-12) and r["contribution"] > 0
            assert (r["value"] is None and np.isnan(X[row, i])) or r["value"] == pytest.approx(X[row, i])


def test_reasons_json_handles_no_positive_contribution_missing_values_and_quotes():
    from safeguard.catalog import FeatureSpec

    features = [
        FeatureSpec("a", "a", 'Says "quoted" things', 1),
        FeatureSpec("b", "b", "plain", None),
    ]
    contribs = np.array([[-0.5, -0.1, -2.0], [0.3, 0.7, -2.0]])
    X = np.array([[1.0, 2.0], [np.nan, 4.5]])
    out = [json.loads(s) for s in explain.reasons_json(contribs, X, features).to_pylist()]
    assert out[0] == []
    assert [r["feature"] for r in out[1]] == ["b", "a"]
    assert out[1][1] == {"feature": "a", "value": None, "contribution": 0.3, "reason": 'Says "quoted" things'}


def test_monitoring_sample_is_stable_across_processes_and_near_its_rate():
    ids = [f"acct-{i:07d}" for i in range(20_000)]
    here = explain.monitoring_sample(ids, "2026-09-01", 0.01)
    assert 0.007 < here.mean() < 0.013
    assert not np.array_equal(here, explain.monitoring_sample(ids, "2026-09-02", 0.01))  # a new sample each day
    code = (
        "import json; from safeguard.explain import monitoring_sample; "
        f"ids=[f'acct-{{i:07d}}' for i in range({len(ids)})]; "
        "print(json.dumps(monitoring_sample(ids, '2026-09-01', 0.01).nonzero()[0].tolist()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT_DIR, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == here.nonzero()[0].tolist()


def test_explain_selection_precedence():
    tiers = np.array([0, 1, 3, 0, 0])
    ids = ["a", "b", "c", "d", "e"]
    asked = explain.requested_mask(ids, ["a", "c"])
    assert asked.tolist() == [True, False, True, False, False]
    nobody, everyone = np.zeros(5, dtype=bool), np.ones(5, dtype=bool)
    assert explain.explain_selection(tiers, nobody, asked).tolist() == [
        "requested",
        "tier",
        "tier",
        None,
        None,
    ]
    assert explain.explain_selection(tiers, everyone, asked).tolist() == [
        "monitoring_sample",
        "tier",
        "tier",
        "monitoring_sample",
        "monitoring_sample",
    ]
    assert not explain.requested_mask(ids, None).any()
    with pytest.raises(ValueError, match="sample rate"):
        explain.monitoring_sample(ids, "2026-09-01", 1.5)
