"""Detection quality per archetype: slices, account-level abuser recall and errors, on a small hand-built world.

The world: 300 benign accounts (one with a mistaken block), 10 spammers abusing since before the window (6 caught,
4 not), 6 ring members (5 start abusing on the second held-out day, one after the window), over one earlier day
and three held-out days. The model is a real LightGBM booster on one feature whose margin rises with it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from safeguard.baseline import Rule, RulesBaseline
from safeguard.calibration import Calibrator
from safeguard.catalog import FeatureSpec
from safeguard.quality import (
    MODEL,
    OVERALL,
    RULES,
    QualityDataError,
    alert_threshold,
    card_section,
    evaluate_detection,
    read_truth,
)
from safeguard.risk_model import TrainedModel
from safeguard.tiers import TierThresholds

HELD_OUT = ["2026-10-01", "2026-10-02", "2026-10-03"]
EARLIER_DAY = "2026-09-30"
SPAM, RING = "templated_spam", "coordinated_ring"


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    """A real booster on ``signal`` (trained on signal > 0.5, monotone): its margin is higher at 1 than at 0."""
    rng = np.random.default_rng(0)
    x = rng.random((400, 1))
    params = {
        "objective": "binary",
        "num_leaves": 4,
        "min_data_in_leaf": 5,
        "monotone_constraints": [1],
        "verbosity": -1,
        "num_threads": 1,
        "deterministic": True,
        "seed": 0,
    }
    booster = lgb.train(params, lgb.Dataset(x, (x[:, 0] > 0.5).astype(float), feature_name=["signal"]), 10)
    return TrainedModel(
        version="risk-test",
        created_at=datetime(2026, 10, 20, tzinfo=UTC),
        booster=booster,
        calibrator=Calibrator("platt"),
        features=[FeatureSpec("signal", "test signal", "High test signal", 1)],
        thresholds=TierThresholds({}, {}, {}, {}, {}),
        params=params,
        metrics={},
        windows={"validation": (HELD_OUT[0], HELD_OUT[-1])},
        label_horizon_days=14,
    )


def _truth() -> pd.DataFrame:
    rows = [(f"h{i:03d}", "hobbyist", False, None) for i in range(200)]
    rows += [(f"s{i:03d}", "startup", False, None) for i in range(100)]
    rows += [(f"p{i}", SPAM, True, "2026-09-20T00:00:00") for i in range(10)]
    rows += [(f"r{i}", RING, True, "2026-10-02T12:00:00") for i in range(5)]
    rows += [("r5", RING, True, "2026-10-05T00:00:00")]  # starts abusing after the held-out days
    truth = pd.DataFrame(rows, columns=["account_id", "archetype", "is_abuser", "abuse_start"])
    return truth.assign(abuse_start=pd.to_datetime(truth["abuse_start"]).dt.tz_localize("UTC"))


def _examples(truth: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """Every account on every day; label 1 for caught spammers, the ring's first five, the mistaken block h000."""
    days = pd.to_datetime([EARLIER_DAY, *HELD_OUT])
    ex = pd.DataFrame(
        {
            "account_id": np.tile(truth["account_id"].to_numpy(), days.size),
            "as_of_date": np.repeat(days.to_numpy(), len(truth)),
        }
    )
    positive = {"h000", *(f"p{i}" for i in range(6)), *(f"r{i}" for i in range(5))}
    ex["label"] = ex["account_id"].isin(positive).astype(np.int64)
    ex["signal"] = ex["label"].astype(float)
    rng = np.random.default_rng(seed)
    ex["noise_a"] = rng.random(len(ex))
    ex["noise_b"] = rng.random(len(ex))
    return ex


NOISE_RULES = RulesBaseline((Rule("noise_a", 0.5), Rule("noise_b", 0.7)))


def test_a_perfect_score_gets_auc_pr_1_overall_and_per_archetype(model):
    truth = _truth()
    report = evaluate_detection(_examples(truth), truth, model, NOISE_RULES, HELD_OUT)
    for name in (OVERALL, SPAM, RING):
        seg = report.segment(MODEL, name)
        assert seg.auc_pr == 1.0 and seg.recall_at_1pct_fpr == 1.0 and seg.auc_roc == 1.0, name
        assert report.segment(RULES, name).auc_pr < 0.5, name  # random rules are far from it
    assert report.days == (HELD_OUT[0], HELD_OUT[-1]) and report.n_days == 3
    assert report.model_ahead("auc_pr") == (2, 2)
    assert "ahead of the rules on AUC-PR in 2 of 2" in report.markdown()


def test_per_archetype_slices_hold_that_archetype_against_benign_negatives(model):
    truth = _truth()
    examples = _examples(truth)
    report = evaluate_detection(examples, truth, model, NOISE_RULES, HELD_OUT)
    assert report.archetypes == [RING, SPAM]

    overall, spam, ring = (report.segment(RULES, n) for n in (OVERALL, SPAM, RING))
    assert (overall.accounts, overall.examples, overall.positives, overall.positive_accounts) == (
        316,
        948,
        36,
        12,
    )
    # 10 spammers x 3 days + 299 benign accounts' negative days; the mistaken block h000 is in no archetype's slice
    assert (spam.accounts, spam.examples, spam.positives, spam.positive_accounts) == (10, 30 + 897, 18, 6)
    assert (ring.accounts, ring.examples, ring.positives, ring.positive_accounts) == (6, 18 + 897, 15, 5)

    held = examples[examples["as_of_date"] >= HELD_OUT[0]]
    arch = held["account_id"].map(truth.set_index("account_id")["archetype"])
    benign_negative = arch.isin(["hobbyist", "startup"]) & (held["label"] == 0)
    for name, seg in ((SPAM, spam), (RING, ring), (OVERALL, overall)):
        in_slice = np.ones(len(held), bool) if name == OVERALL else (arch == name) | benign_negative
        expected = average_precision_score(held["label"][in_slice], NOISE_RULES.score(held[in_slice]))
        assert seg.auc_pr == pytest.approx(expected, abs=1e-12), name
    # model and rules rows for every segment, and both in the side-by-side table
    assert {(s.scorer, s.segment) for s in report.segments} == {
        (sc, n) for sc in (MODEL, RULES) for n in (OVERALL, SPAM, RING)
    }
    table = report.comparison()
    assert list(table["segment"]) == [OVERALL, RING, SPAM]
    assert {"AUC-PR model", "AUC-PR rules", "abuser recall model", "abuser recall rules"} <= set(table.columns)


def test_abuser_recall_counts_true_abusers_alerting_once_while_abusing(model):
    truth = _truth()
    examples = _examples(truth)
    start = examples["account_id"].map(truth.set_index("account_id")["abuse_start"]).dt.tz_localize(None)
    abusing = start < examples["as_of_date"] + pd.Timedelta(days=1)
    # The model sees abuse whenever it happens, caught or not, except spammer p9 (never) and ring member r0,
    # which shows it only on 10-01, before its abuse starts: that does not count as catching it.
    examples["signal"] = (abusing & (examples["account_id"] != "p9")).astype(float)
    examples.loc[(examples["account_id"] == "r0") & (examples["as_of_date"] == "2026-10-01"), "signal"] = 1.0
    examples.loc[(examples["account_id"] == "r0") & (examples["as_of_date"] > "2026-10-01"), "signal"] = 0.0
    report = evaluate_detection(examples, truth, model, NOISE_RULES, HELD_OUT)

    spam, ring, overall = (report.segment(MODEL, n) for n in (SPAM, RING, OVERALL))
    assert (spam.abusers, spam.abusers_alerted) == (10, 9)  # uncaught spammers p6..p8 count as found
    assert (ring.abusers, ring.abusers_alerted) == (5, 4)  # r5 is not abusing yet; r0 alerted only before
    assert overall.abuser_recall == pytest.approx(13 / 15)
    assert report.alert_thresholds[MODEL] > model.raw_margin(np.zeros((1, 1)))[0]
    # no benign account alerts at the model's threshold; the benign table has both scorers per population
    assert {(b.population, b.scorer) for b in report.benign} == {
        (p, s) for p in ("hobbyist", "startup") for s in (MODEL, RULES)
    }
    assert all(b.example_alert_rate == 0 for b in report.benign if b.scorer == MODEL)


def test_alert_threshold_keeps_ties_together():
    # 200 benign rows: one at 5, two tied at 4, the rest at 0; at 1% FPR at most 2 may alert.
    score = np.r_[5.0, 4.0, 4.0, np.zeros(197), 9.0]
    benign = np.r_[np.ones(200, bool), False]
    w = np.ones(score.size)
    assert alert_threshold(score, benign, w, 0.01) == 5.0  # the tie at 4 would make 3 benign alerts
    assert alert_threshold(score, benign, w, 0.015) == 4.0
    assert alert_threshold(np.zeros(201), benign, w, 0.01) == float("inf")


def test_report_serialises_to_json_and_markdown(model):
    truth = _truth()
    report = evaluate_detection(_examples(truth), truth, model, NOISE_RULES, HELD_OUT)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert {s["segment"] for s in data["segments"]} == {OVERALL, SPAM, RING}
    assert data["rules"] == ["noise_a > 0.5", "noise_b > 0.7"]
    md = report.markdown()
    assert "| templated_spam |" in md and "AUC-PR rules" in md and "`noise_b > 0.7`" in md


def test_truth_file_round_trip(tmp_path):
    path = tmp_path / "accounts.parquet"
    _truth().to_parquet(path)
    truth = read_truth(path)
    assert truth["abuse_start"].dt.tz is None and truth["is_abuser"].sum() == 16


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda ex, tr: (ex, tr[tr["account_id"] != "p3"]), "not in it, e.g. ['p3']"),
        (lambda ex, tr: (ex[ex["as_of_date"] != "2026-10-02"], tr), "no example on 1 of the 3 held-out day"),
        (lambda ex, tr: (ex, tr.drop(columns="abuse_start")), "missing column(s) ['abuse_start']"),
        (lambda ex, tr: (ex, pd.concat([tr, tr.iloc[:1]])), "appear more than once"),
        (lambda ex, tr: (ex.drop(columns="label"), tr), "missing column(s) ['label']"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_it(model, spoil, message):
    truth = _truth()
    examples, truth = spoil(_examples(truth), truth)
    with pytest.raises(QualityDataError) as e:
        evaluate_detection(examples, truth, model, NOISE_RULES, HELD_OUT)
    assert message in str(e.value)


def test_model_card_section_needs_the_ground_truth_file_and_says_when_it_is_missing(model, tmp_path):
    truth = _truth()
    examples = _examples(truth)
    trained = replace(model, validation_examples=examples[examples["as_of_date"] >= HELD_OUT[0]])
    path = tmp_path / "ground_truth" / "accounts.parquet"

    skipped = card_section(trained, NOISE_RULES, path)
    assert f"Skipped: no ground-truth file at {path}" in skipped

    path.parent.mkdir()
    truth.to_parquet(path)
    section = card_section(trained, NOISE_RULES, path)
    assert section.startswith("## Detection quality per archetype") and "| coordinated_ring |" in section
    assert "Skipped" in card_section(trained, None, path)

    truth[truth["account_id"] != "h007"].to_parquet(path)  # another world's truth
    assert "Skipped: ground truth: 1 account(s) of the held-out examples are not in it" in card_section(
        trained, NOISE_RULES, path
    )


def test_the_report_does_not_depend_on_the_order_of_the_examples(model):
    # The rules' counts tie across the top k = 100 of a day: the tie-break must not follow the input order.
    truth = _truth()
    examples = _examples(truth)
    shuffled = examples.sample(frac=1.0, random_state=5)
    reversed_ = examples.iloc[::-1]
    reports = [
        evaluate_detection(ex, truth, model, NOISE_RULES, HELD_OUT).to_dict() for ex in (examples, shuffled, reversed_)
    ]
    assert reports[0] == reports[1] == reports[2]
