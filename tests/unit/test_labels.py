"""Label policies: what fitting learns from warnings and reinstated blocks (safeguard.labels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from safeguard.examples import TrainingDataError
from safeguard.labels import LABEL_POLICIES, label_policy
from safeguard.training import train_risk_model
from tests.model_factory import feature_specs, training_examples

# label, warned, reinstated for: a clean positive, a clean negative, a warned-only, a reinstated, both flags.
FRAME = pd.DataFrame(
    {
        "label": [1, 0, 0, 0, 0],
        "label_warned": [1, 0, 1, 0, 1],
        "label_reinstated": [0, 0, 0, 1, 1],
    }
)


def test_enforced_policy_is_the_plain_label():
    y, w = label_policy("enforced").targets(FRAME)
    assert y.tolist() == [1, 0, 0, 0, 0] and w.tolist() == [1, 1, 1, 1, 1]


def test_exclude_ambiguous_leaves_warned_only_and_reinstated_examples_out():
    y, w = label_policy("exclude_ambiguous").targets(FRAME)
    assert y.tolist() == [1, 0, 0, 0, 0]
    assert w.tolist() == [1, 1, 0, 0, 0]  # a positive that was also warned stays a positive


def test_warned_soft_positive_counts_a_warning_at_half_weight_and_drops_reinstated():
    y, w = label_policy("warned_soft_positive").targets(FRAME)
    assert y.tolist() == [1, 0, 1, 0, 0]
    assert w.tolist() == [1, 1, 0.5, 0, 0]


def test_late_evidence_makes_a_block_or_warning_after_the_horizon_a_positive():
    late = FRAME.assign(late_blocked=[0, 1, 0, 0, 0], late_warned=[1, 0, 1, 0, 0])
    y, w = label_policy("late_evidence").targets(late)
    assert y.tolist() == [1, 1, 1, 0, 0] and w.tolist() == [1, 1, 1, 1, 1]
    # without the late columns it is the plain label
    y, w = label_policy("late_evidence").targets(FRAME)
    assert y.tolist() == [1, 0, 0, 0, 0]


def test_late_linked_propagates_a_block_over_a_shared_payment_method_or_device():
    # rows: a clean positive; a negative sharing a card with a blocked account; one sharing a device; one sharing
    # neither (its org's block does not count: an org is not one owner); one with late evidence only
    frame = pd.DataFrame(
        {
            "label": [1, 0, 0, 0, 0],
            "linked_payment_enforced_share": [0.5, 0.25, 0.0, 0.0, None],
            "linked_device_enforced_share": [0.0, 0.0, 1.0, 0.0, 0.0],
            "linked_org_enforced_share": [0.0, 0.0, 0.0, 0.5, 0.0],
            "late_blocked": [0, 0, 0, 0, 1],
            "late_warned": [0, 0, 0, 0, 0],
        }
    )
    y, w = label_policy("late_linked").targets(frame)
    assert y.tolist() == [1, 1, 1, 0, 1] and w.tolist() == [1, 1, 1, 1, 1]
    # late_evidence alone ignores the links
    y, _ = label_policy("late_evidence").targets(frame)
    assert y.tolist() == [1, 0, 0, 0, 1]
    # a link makes a positive even of a warned or reinstated example the base rule would leave out
    linked_policy = label_policy("late_linked")
    excluded = type(linked_policy)("x", "", "exclude", "exclude", linked=True, max_linked_ratio=2.0)
    y, w = excluded.targets(frame.assign(label_warned=[0, 1, 0, 1, 0]))
    assert y.tolist() == [1, 1, 1, 0, 0] and w.tolist() == [1, 1, 1, 0, 1]
    # without the link columns (a catalog without them) it is late_evidence
    y, _ = linked_policy.targets(frame[["label", "late_blocked", "late_warned"]])
    assert y.tolist() == [1, 0, 0, 0, 1]
    assert "no same-owner link columns" in linked_policy.linked_evidence(frame[["label"]]).note


def test_late_linked_skips_propagation_that_would_more_than_double_the_positives():
    """A ban's missed ring members are a few; link shares above 0 on most rows mean something else, and the policy
    stays late_evidence, saying so."""
    rng = np.random.default_rng(0)
    n = 1000
    label = (rng.random(n) < 0.05).astype(int)
    sparse = np.where(rng.random(n) < 0.02, 0.5, 0.0)  # a few survivors: about 20 rows against about 50 positives
    frame = pd.DataFrame(
        {
            "label": label,
            "late_blocked": 0,
            "late_warned": 0,
            "linked_payment_enforced_share": sparse,
            "linked_device_enforced_share": 0.0,
        }
    )
    policy = label_policy("late_linked")
    evidence = policy.linked_evidence(frame)
    assert evidence.applied and evidence.positives == label.sum()
    assert evidence.added == int(((sparse > 0) & (label == 0)).sum()) > 0
    y, _ = policy.targets(frame)
    assert y.sum() == label.sum() + evidence.added

    broad = frame.assign(linked_device_enforced_share=rng.random(n))  # above 0 on every row: noise, not an owner
    evidence = policy.linked_evidence(broad)
    assert not evidence.applied
    assert "would add" in evidence.note and "linked_device_enforced_share" in evidence.note
    y, _ = policy.targets(broad)
    assert y.tolist() == label_policy("late_evidence").targets(broad)[0].tolist()
    assert evidence.to_metrics()["added"] == evidence.added > evidence.positives


def test_examples_without_the_flag_columns_fall_back_to_the_plain_label():
    y, w = label_policy("warned_soft_positive").targets(FRAME[["label"]])
    assert y.tolist() == [1, 0, 0, 0, 0] and w.tolist() == [1, 1, 1, 1, 1]


def test_unknown_policy_names_the_known_ones():
    with pytest.raises(
        TrainingDataError, match="enforced, exclude_ambiguous, warned_soft_positive, late_evidence, late_linked"
    ):
        label_policy("everything")


def test_policy_changes_what_is_fitted_but_never_what_is_measured():
    examples = training_examples().copy()
    rng = np.random.default_rng(1)
    negatives = examples["label"] == 0
    examples["label_warned"] = (negatives & (rng.random(len(examples)) < 0.05)).astype(int)
    examples["label_reinstated"] = 0
    plain = train_risk_model(examples, feature_specs(), seed=7, label_policy="enforced")
    excluded = train_risk_model(examples, feature_specs(), seed=7, label_policy="exclude_ambiguous")
    assert excluded.metrics["fit_rows"] < plain.metrics["fit_rows"]  # warned-only rows left out of fitting
    assert excluded.params["label_policy"]["name"] == "exclude_ambiguous"
    # Validation is measured on the plain label, all rows: same rows, same positives.
    assert excluded.metrics["rows"] == plain.metrics["rows"]
    assert excluded.metrics["positives"] == plain.metrics["positives"]
    assert set(LABEL_POLICIES) >= {"enforced", "exclude_ambiguous", "warned_soft_positive"}
