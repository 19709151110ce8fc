"""Evaluation on truth (safeguard.robustness): labels per account-day, enforced abusers left out, slices."""

import numpy as np
import pandas as pd
import pytest

from safeguard.robustness import (
    RobustnessDataError,
    enforced_account_days,
    evaluate_scorers,
    evaluation_rows,
    goal_checks,
    truth_labels,
)

TRUTH = pd.DataFrame(
    {
        "account_id": ["b1", "b2", "b3", "s1", "t1"],
        "archetype": ["hobbyist", "hobbyist", "startup", "templated_spam", "account_takeover"],
        "is_abuser": [False, False, False, True, True],
        "abuse_start": [None, None, None, "2026-09-02 12:00", "2026-09-01 00:00"],
        "abuse_end": [None, None, None, None, "2026-09-02 06:00"],
    }
)


def _rows(days=("2026-09-01", "2026-09-02", "2026-09-03")):
    return pd.DataFrame(
        [(a, pd.Timestamp(d)) for d in days for a in TRUTH["account_id"]], columns=["account_id", "as_of_date"]
    )


def test_an_account_day_is_abusive_from_abuse_start_until_abuse_end():
    got = truth_labels(_rows(), TRUTH).set_index(["account_id", "as_of_date"])["truth_label"]
    assert not got[("s1", pd.Timestamp("2026-09-01"))]
    assert got[("s1", pd.Timestamp("2026-09-02"))]  # abuse began during the day
    assert got[("t1", pd.Timestamp("2026-09-01"))] and got[("t1", pd.Timestamp("2026-09-02"))]
    assert not got[("t1", pd.Timestamp("2026-09-03"))]  # the owner got the account back
    assert not got.loc[["b1", "b2", "b3"]].any()


def test_rows_of_accounts_missing_from_the_truth_are_refused():
    with pytest.raises(RobustnessDataError, match="missing from the truth"):
        truth_labels(pd.DataFrame({"account_id": ["zz"], "as_of_date": [pd.Timestamp("2026-09-01")]}), TRUTH)


def test_enforced_abusers_are_left_out_but_reinstated_and_benign_accounts_stay():
    actions = pd.DataFrame(
        {
            "account_id": ["s1", "b1", "t1", "t1"],
            "action_ts": pd.to_datetime(
                ["2026-09-02 20:00", "2026-09-01 10:00", "2026-09-01 05:00", "2026-09-02 03:00"], utc=True
            ),
            "action": ["ban", "suspend", "suspend", "reinstate"],
        }
    )
    enforced = enforced_account_days(actions, ["2026-09-01", "2026-09-02", "2026-09-03"])
    assert set(map(tuple, enforced.assign(d=enforced.as_of_date.dt.day)[["account_id", "d"]].values)) == {
        ("s1", 2),
        ("s1", 3),
        ("b1", 1),
        ("b1", 2),
        ("b1", 3),
        ("t1", 1),
    }
    rows = evaluation_rows(_rows(), TRUTH, enforced)
    kept = set(zip(rows.account_id, rows.as_of_date.dt.day))
    assert ("s1", 2) not in kept and ("s1", 3) not in kept and ("t1", 1) not in kept
    assert {("b1", 1), ("b1", 2), ("t1", 2), ("s1", 1)} <= kept  # benign stays; reinstated takeover is scored
    assert len(rows) == 15 - 3


def test_metrics_overall_and_per_pattern_against_all_benign_rows():
    frame = pd.DataFrame(
        {
            "account_id": list("abcdefgh"),
            "truth_label": [True, True, False, False, False, False, False, False],
            "is_abuser": [True, True, False, False, False, False, False, True],  # h: abuser before its abuse start
            "pattern": ["spam", "takeover", "hobbyist", "hobbyist", "hobbyist", "hobbyist", "hobbyist", "spam"],
            "perfect": [0.9, 0.8, 0.1, 0.2, 0.3, 0.1, 0.2, 0.05],
            "mixed": [0.9, 0.15, 0.1, 0.2, 0.3, 0.1, 0.2, 0.05],
        }
    )
    m = evaluate_scorers(frame, {"perfect": "perfect", "mixed": "mixed"})
    assert m["perfect"]["overall"]["auc_pr"] == pytest.approx(1.0)
    assert m["perfect"]["overall"]["auc_roc"] == pytest.approx(1.0)
    assert set(m["mixed"]) == {"overall", "spam", "takeover"}
    assert m["mixed"]["spam"]["recall_at_1pct_fpr"] == 1.0
    assert m["mixed"]["takeover"]["recall_at_1pct_fpr"] == 0.0
    # the takeover slice: its one positive vs the 5 benign rows (h, an abuser not yet abusing, is in no slice)
    assert m["mixed"]["takeover"]["negatives"] == 5 and m["mixed"]["takeover"]["positives"] == 1
    assert m["mixed"]["takeover"]["auc_roc"] == pytest.approx(2 / 5 + 0.5 * 0)  # 0.15 beats 0.1, 0.1 of 5
    goals = goal_checks(m, "perfect", "mixed")
    assert goals["spam"]["recall_goal_met"] and not goals["spam"]["auc_pr_goal_met"]
    frame.loc[0, "mixed"] = np.nan
    with pytest.raises(RobustnessDataError, match="without a score"):
        evaluate_scorers(frame, {"mixed": "mixed"})
