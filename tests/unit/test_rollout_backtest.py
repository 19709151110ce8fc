"""The offline backtest's judgement on synthetic account-days, no warehouse (issue 15).

Each account has a lasting risk; its label each day is drawn from it. The champion's probability is the risk seen
through noise; candidates are built from the same risk: equal (other noise of the same size), better (less noise),
shuffled (the champion's scores permuted across accounts: no skill, same distribution), inverted.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from safeguard.rollout.backtest import (
    FAIL,
    IN_TRAINING,
    INSUFFICIENT,
    JUDGED,
    LABELS_PENDING,
    NO_CHAMPION_SCORES,
    PASS,
    BacktestRule,
    backtest_verdict,
    top_k_per_day,
    wilson,
)
from safeguard.rollout.backtest_replay import judge
from safeguard.rollout.plan import RolloutPlan

DAYS = [(date(2026, 9, 1) + timedelta(days=i)).isoformat() for i in range(7)]
VALIDATION_START = date.fromisoformat(DAYS[2])  # days 0-1 in the candidate's fit
MATURED = set(DAYS[:6])  # day 6: labels pending
CHAMPION_DAYS = set(DAYS) - {DAYS[5]}  # day 5: the champion published nothing
EDGES = (0.15, 0.35, 0.6)  # tier thresholds (elevated, high, critical) both models use here
RULE = BacktestRule()


def _tiers(p: np.ndarray) -> np.ndarray:
    return np.searchsorted(EDGES, p, side="right").astype(np.int8)


def _noisy(risk: np.ndarray, rng, sd: float) -> np.ndarray:
    logit = np.log(risk / (1 - risk)) + rng.normal(0, sd, risk.size)
    return 1 / (1 + np.exp(-logit))


def world_rows(candidate: str, *, n_accounts: int = 2500, seed: int = 3, in_fit_candidate: str | None = None):
    """Comparison rows (as the replay reads them) for every day the champion scored."""
    rng = np.random.default_rng(seed)
    risk = np.clip(rng.beta(0.6, 9.0, n_accounts), 1e-4, 0.98)
    ids = np.array([f"acct-{i:05d}" for i in range(n_accounts)], dtype=object)
    frames = []
    for i, day in enumerate(DAYS):
        if day not in CHAMPION_DAYS:
            continue
        champion = _noisy(risk, rng, 1.0)
        kind = in_fit_candidate if (in_fit_candidate and i < 2) else candidate
        label = (rng.random(n_accounts) < risk).astype(float)
        if kind == "equal":
            cand = _noisy(risk, rng, 1.0)
        elif kind == "better":
            cand = _noisy(risk, rng, 0.3)
        elif kind == "shuffled":
            cand = rng.permutation(champion)
        elif kind == "inverted":
            cand = 1 - champion
        else:  # memorized: knows the labels of its fit days
            cand = 0.05 + 0.9 * label * rng.uniform(0.5, 1.0, n_accounts)
        frames.append(
            pd.DataFrame(
                {
                    "day": day,
                    "account_key": ids,
                    "candidate_probability": cand,
                    "candidate_tier": _tiers(cand),
                    "champion_probability": champion,
                    "champion_tier": _tiers(champion),
                    "label": label if day in MATURED else np.nan,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def judged(candidate: str, rule: BacktestRule = RULE, **kwargs):
    rows = world_rows(candidate, **kwargs)
    per_day, summary = judge(rows, DAYS, {}, CHAMPION_DAYS, MATURED, VALIDATION_START, rule)
    return per_day, summary, backtest_verdict(summary, rule)


def test_days_are_judged_only_out_of_the_fit_with_matured_labels_and_champion_scores():
    per_day, summary, _ = judged("equal")

    assert [d["status"] for d in per_day] == [
        IN_TRAINING,
        IN_TRAINING,
        JUDGED,
        JUDGED,
        JUDGED,
        NO_CHAMPION_SCORES,
        LABELS_PENDING,
    ]
    assert (summary["judged_days"], summary["judged_first_day"], summary["judged_last_day"]) == (3, DAYS[2], DAYS[4])
    assert summary["days_by_status"] == {JUDGED: 3, IN_TRAINING: 2, LABELS_PENDING: 1, NO_CHAMPION_SCORES: 1}
    assert per_day[6]["alerts"]["accounts"] == 2500 and "outcomes" not in per_day[6]  # alerts, no labels yet
    assert "alerts" not in per_day[5]  # nothing to compare with
    pooled = summary["outcomes"]
    assert pooled["labelled"] == 3 * 2500
    assert pooled["positives"] == sum(per_day[i]["outcomes"]["positives"] for i in (2, 3, 4))
    assert summary["alerts"]["accounts"] == 3 * 2500


def test_in_training_days_do_not_enter_the_pooled_judgement():
    # Perfect in its fit (memorized), no skill out of it: the pooled verdict sees only the out-of-fit days.
    per_day, summary, (verdict, _) = judged("shuffled", in_fit_candidate="memorized")

    assert per_day[0]["outcomes"]["difference"]["auc_pr"]["value"] > 0.3  # in-sample it looks much better
    assert verdict == FAIL
    assert summary["outcomes"]["difference"]["auc_pr"]["value"] < 0


def test_an_equal_or_better_candidate_passes():
    _, summary, (verdict, reasons) = judged("equal")
    assert verdict == PASS, reasons
    diff = summary["outcomes"]["difference"]["auc_pr_relative"]
    assert diff["low"] < diff["value"] < diff["high"]
    assert abs(diff["value"]) < 0.1

    _, summary, (verdict, reasons) = judged("better")
    assert verdict == PASS, reasons
    better = summary["outcomes"]["difference"]
    assert better["auc_pr"]["low"] > 0 and better["recall_at_champion_volume"]["low"] > 0
    assert all("within the margin" in r for r in reasons)


@pytest.mark.parametrize("candidate", ["shuffled", "inverted"])
def test_a_candidate_without_skill_fails_clearly(candidate):
    _, summary, (verdict, reasons) = judged(candidate)

    assert verdict == FAIL
    assert any("AUC-PR" in r and "beyond the margin -10%" in r for r in reasons)
    diff = summary["outcomes"]["difference"]
    assert diff["auc_pr_relative"]["high"] < -0.1  # confidently worse, not only on the point estimate
    assert diff["recall_at_champion_volume"]["high"] < -0.05
    if candidate == "shuffled":  # the same scores in another order: the distribution guardrails could not tell
        alerts = summary["alerts"]
        assert abs(alerts["alert_rate_difference"]["value"]) < 0.02


def test_too_few_labelled_positives_is_insufficient_data_and_says_what_is_missing():
    _, summary, (verdict, reasons) = judged("equal", n_accounts=40, rule=BacktestRule(min_labelled_positives=50))
    assert verdict == INSUFFICIENT
    positives = summary["outcomes"]["positives"]
    assert positives < 50
    expected = (
        f"{positives} of 50 labelled positives on 3 judged day(s); more matured days are needed (labels mature a "
        "label horizon after each score day)"
    )
    assert reasons == [expected]
    verdict, reasons = backtest_verdict(None, RULE)
    assert verdict == INSUFFICIENT and "no backtest" in reasons[0]

    rows = world_rows("equal")
    _, none_judged = judge(rows, DAYS, {}, CHAMPION_DAYS, set(), VALIDATION_START, RULE)
    verdict, reasons = backtest_verdict(none_judged, RULE)
    assert verdict == INSUFFICIENT and "no judged day" in reasons[0] and "labels_pending 6" in reasons[0]


def test_a_stricter_rule_re_judges_a_stored_summary():
    _, summary, (verdict, _) = judged("equal")
    assert verdict == PASS
    strict = BacktestRule(max_auc_pr_drop=0.0, max_recall_drop=0.0)
    diff = summary["outcomes"]["difference"]
    # Refused only when surely worse: the upper end of an interval below the (now zero) margin.
    expected = FAIL if min(diff["auc_pr_relative"]["high"], diff["recall_at_champion_volume"]["high"]) < 0 else PASS
    verdict, reasons = backtest_verdict(summary, strict)
    assert verdict == expected
    assert all("margin -0%" in r or "margin -0.000" in r for r in reasons)


def test_the_statistics_match_their_definitions():
    iv = wilson(8, 10)
    assert (iv["value"], round(iv["low"], 4), round(iv["high"], 4)) == (0.8, 0.4902, 0.9433)
    assert wilson(0, 0)["value"] is None

    day = np.array(["a"] * 5 + ["b"] * 5)
    chosen = top_k_per_day(np.array([0.1, 0.9, 0.5, 0.2, 0.8, 0.3, 0.1, 0.7, 0.2, 0.6]), day, {"a": 2, "b": 1})
    assert chosen.nonzero()[0].tolist() == [1, 4, 7]


def test_the_rule_travels_with_the_plan_and_is_validated():
    plan = RolloutPlan(backtest=BacktestRule(days=14, max_recall_drop=0.02, required=False))
    assert RolloutPlan.from_json(plan.to_json()) == plan
    assert RolloutPlan.from_dict({"min_days_per_stage": 1}).backtest == BacktestRule()
    with pytest.raises(ValueError, match="BacktestRule.days must be an integer >= 1"):
        BacktestRule(days=0)
    with pytest.raises(ValueError, match="unknown BacktestRule field"):
        BacktestRule.from_dict({"margin": 0.1})
    # rules stored while the intervals came from a bootstrap still load; their draws and seed no longer matter
    assert BacktestRule.from_dict({"days": 14, "bootstrap_resamples": 200, "seed": 0}) == BacktestRule(days=14)


def test_a_days_comparison_rows_keep_what_the_champion_published_and_refuse_repeats():
    from safeguard.rollout import backtest_replay as br

    features = pa.table(
        {
            "account_id": ["a", "b", "c"],
            br._CHAMPION_PROBABILITY: [0.2, None, 0.9],
            br._CHAMPION_TIER: pa.array([0, None, 3], pa.int8()),
            br._LABEL: [1.0, 0.0, None],
            br._ACCOUNT_KEY: pa.array([11, 12, 13], pa.uint64()),
        }
    )
    scores = pa.table({"probability": [0.3, 0.4, 0.5], "tier": ["elevated", "elevated", "high"]})
    rows = br.comparison_rows(DAYS[0], features, scores)
    assert rows["account_key"].tolist() == [11, 13]  # b: the champion published nothing for it
    assert rows["candidate_tier"].tolist() == [1, 2] and rows["champion_tier"].tolist() == [0, 3]
    assert rows["label"].iloc[0] == 1.0 and np.isnan(rows["label"].iloc[1])
    repeated = features.set_column(0, "account_id", pa.array(["a", "c", "a"])).set_column(
        4,
        br._ACCOUNT_KEY,
        pa.array([11, 13, 11], pa.uint64()),  # the key is a hash of the id
    )
    with pytest.raises(br.BacktestError, match=f"{DAYS[0]}: account a has more than one row"):
        br.comparison_rows(DAYS[0], repeated, scores)
    # two distinct ids whose keys collide are not a repeat
    collided = features.set_column(4, br._ACCOUNT_KEY, pa.array([11, 11, 13], pa.uint64()))
    assert len(br.comparison_rows(DAYS[0], collided, scores)) == 2
    unknown_tier = features.set_column(2, br._CHAMPION_TIER, pa.array([-1, None, 3], pa.int8()))
    with pytest.raises(br.BacktestError, match="tier outside"):
        br.comparison_rows(DAYS[0], unknown_tier, scores)


def test_the_replay_builds_the_feature_matrix_from_arrow_as_from_a_frame():
    from decimal import Decimal

    from safeguard.examples import TrainingDataError, feature_matrix

    table = pa.table(
        {
            "account_id": ["a", "b", "c"],
            "count": pa.array([3, None, 1], pa.int64()),
            "share": [0.5, 0.25, None],
            "flag": [True, False, None],
            "amount": pa.array([Decimal("1.50"), None, Decimal("2.25")], pa.decimal128(9, 2)),
        }
    )
    names = ["share", "count", "flag", "amount"]
    X = feature_matrix(table, names, where="day")
    assert X.flags["C_CONTIGUOUS"]
    expected = table.to_pandas()[names].astype(float).to_numpy()
    np.testing.assert_array_equal(X, expected)  # NULL as NaN, in the model's order
    with pytest.raises(TrainingDataError, match=r"day: missing feature column\(s\) \['absent'\]"):
        feature_matrix(table, ["share", "absent"], where="day")
    with pytest.raises(TrainingDataError, match="must be numeric, got"):
        feature_matrix(table, ["account_id"], where="day")


def test_the_scores_keep_a_copy_of_the_account_ids_not_the_days_feature_table():
    import duckdb

    from safeguard.rollout import backtest_replay as br

    con = duckdb.connect()
    features = con.execute("SELECT 'acct-' || i AS account_id, i * 1.0 AS x FROM range(5000) t(i)").to_arrow_table()
    copied = br._detached(features.column("account_id"))
    assert copied.to_pylist() == features.column("account_id").to_pylist()
    shared = {b.address for chunk in features.column("account_id").chunks for b in chunk.buffers() if b is not None}
    assert not shared & {b.address for b in copied.buffers() if b is not None}
    assert br._detached(features.slice(0, 0).column("account_id")).to_pylist() == []
