"""Evaluation on a world's truth (issue 14, robustness): who really abuses on a day, and how well scorers rank it.

Dagster-free and warehouse-free: it works on DataFrames the bench script reads (bench/bench_robustness.py).

Definitions (stated once, used everywhere):

- account-day (account, D): a row of the evaluated days' features (one per account and as_of_date D);
- truth label: the account is an abuser, ``abuse_start < D + 1 day`` and, when the truth has ``abuse_end``
  (a takeover whose owner got the account back), ``abuse_end > D`` (it still abused on D);
- already enforced: a suspend or ban with ``action_ts < D + 1 day`` not followed by a reinstate before
  ``D + 1 day``. An abuser's account-day that is already enforced is left out (the job is done for it);
  benign account-days stay, enforced or not;
- pattern: the account's archetype; a pattern's slice is its labelled (abusing) account-days against all benign
  account-days, so every pattern is measured at the same false-positive rate;
- metrics: AUC-PR (average precision), AUC-ROC and recall at 1% FPR from :mod:`safeguard.metrics`;
- goal (issue 14): a scorer's AUC-PR at least 4x the rules score's on the same slice, and recall at 1% FPR of at
  least 0.8, per slice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from safeguard.metrics import DEFAULT_FPR, average_precision, recall_at_fpr, roc_auc

OVERALL = "overall"
LABEL, PATTERN = "truth_label", "pattern"
BLOCKS, REINSTATE = ("suspend", "ban"), "reinstate"
GOAL_AUC_PR_RATIO = 4.0
GOAL_RECALL = 0.8


class RobustnessDataError(ValueError):
    """The rows, truth or scores cannot be evaluated (the message says what is missing)."""


def _naive(values) -> pd.Series:
    s = pd.to_datetime(pd.Series(values), utc=True)
    return s.dt.tz_localize(None)


def truth_labels(rows: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (account_id, as_of_date, ...) with ``truth_label``, ``pattern`` and ``is_abuser`` from the truth.

    Every row's account must be in the truth (a wrong truth file is refused, not evaluated)."""
    for col in ("account_id", "archetype", "is_abuser", "abuse_start"):
        if col not in truth.columns:
            raise RobustnessDataError(f"truth: missing column {col!r}")
    t = truth[["account_id", "archetype", "is_abuser", "abuse_start"]].copy()
    t["abuse_start"] = _naive(t["abuse_start"]).to_numpy()
    t["abuse_end"] = _naive(truth["abuse_end"]).to_numpy() if "abuse_end" in truth.columns else pd.NaT
    out = rows.merge(t, on="account_id", how="left", validate="many_to_one")
    unknown = out["archetype"].isna()
    if unknown.any():
        raise RobustnessDataError(
            f"{int(unknown.sum())} row(s) of accounts missing from the truth, e.g. "
            f"{out.loc[unknown, 'account_id'].iloc[:3].tolist()}"
        )
    day = pd.to_datetime(out["as_of_date"]).dt.normalize()
    day_end = day + pd.Timedelta(days=1)
    abusing = out["is_abuser"].astype(bool) & (out["abuse_start"] < day_end)
    abusing &= out["abuse_end"].isna() | (out["abuse_end"] > day)
    return out.assign(as_of_date=day, **{LABEL: abusing.to_numpy(), PATTERN: out["archetype"].to_numpy()}).drop(
        columns=["abuse_start", "abuse_end", "archetype"]
    )


def enforced_account_days(actions: pd.DataFrame, days: Sequence) -> pd.DataFrame:
    """(account_id, as_of_date) of every account blocked as of the end of each of ``days`` (suspend or ban before
    D + 1 day, not reinstated since)."""
    out = []
    if actions.empty:
        return pd.DataFrame({"account_id": pd.Series(dtype=str), "as_of_date": pd.Series(dtype="datetime64[ns]")})
    a = actions.assign(action_ts=_naive(actions["action_ts"]).to_numpy())
    a = a[a["action"].isin((*BLOCKS, REINSTATE))].sort_values(["account_id", "action_ts"], kind="stable")
    for d in pd.to_datetime(list(days)).normalize():
        known = a[a["action_ts"] < d + pd.Timedelta(days=1)]
        last = known.groupby("account_id", sort=False)["action"].last()
        blocked = last.index[last.isin(BLOCKS)]
        out.append(pd.DataFrame({"account_id": blocked.to_numpy(), "as_of_date": d}))
    return pd.concat(out, ignore_index=True)


def evaluation_rows(rows: pd.DataFrame, truth: pd.DataFrame, enforced: pd.DataFrame) -> pd.DataFrame:
    """Labelled rows, already-enforced abusers' account-days left out."""
    labelled = truth_labels(rows, truth)
    if enforced.empty:
        return labelled.reset_index(drop=True)
    key = enforced.assign(as_of_date=pd.to_datetime(enforced["as_of_date"]).dt.normalize(), _enforced=True)
    joined = labelled.merge(
        key[["account_id", "as_of_date", "_enforced"]].drop_duplicates(), on=["account_id", "as_of_date"], how="left"
    )
    drop = joined["_enforced"].notna().to_numpy() & joined["is_abuser"].to_numpy(dtype=bool)
    return joined.loc[~drop].drop(columns="_enforced").reset_index(drop=True)


def slice_metrics(y: np.ndarray, score: np.ndarray, max_fpr: float = DEFAULT_FPR) -> dict:
    y = np.asarray(y, dtype=np.float64)
    s = np.asarray(score, dtype=np.float64)
    return {
        "auc_pr": average_precision(y, s),
        "auc_roc": roc_auc(y, s),
        "recall_at_1pct_fpr": recall_at_fpr(y, s, max_fpr),
        "positives": int(y.sum()),
        "negatives": int((1 - y).sum()),
    }


def evaluate_scorers(frame: pd.DataFrame, scorers: Mapping[str, str]) -> dict[str, dict[str, dict]]:
    """Metrics per scorer (name -> score column of ``frame``) and slice (overall, then each abuse pattern with
    labelled rows): a pattern's slice is its labelled rows against every benign row (``is_abuser`` false).
    A row without a score of a scorer is an error: every scorer ranks the same rows."""
    if LABEL not in frame.columns:
        raise RobustnessDataError("frame has no truth_label: label it with truth_labels/evaluation_rows first")
    y = frame[LABEL].to_numpy(dtype=bool)
    benign = ~frame["is_abuser"].to_numpy(dtype=bool)
    patterns = sorted(frame.loc[y, PATTERN].unique())
    result: dict[str, dict[str, dict]] = {}
    for name, column in scorers.items():
        score = frame[column].to_numpy(dtype=np.float64)
        if np.isnan(score).any():
            raise RobustnessDataError(f"scorer {name}: {int(np.isnan(score).sum())} row(s) without a score")
        slices = {OVERALL: slice_metrics(y, score)}
        for p in patterns:
            mask = (y & (frame[PATTERN].to_numpy() == p)) | benign
            slices[p] = slice_metrics(y[mask], score[mask])
        result[name] = slices
    return result


@dataclass(frozen=True)
class Goal:
    auc_pr_ratio: float = GOAL_AUC_PR_RATIO
    min_recall: float = GOAL_RECALL

    def check(self, cell: dict, rules_cell: dict) -> dict:
        """Whether one slice of a scorer meets the goal against the rules' same slice."""
        ratio = cell["auc_pr"] / rules_cell["auc_pr"] if rules_cell["auc_pr"] > 0 else float("inf")
        return {
            "auc_pr_vs_rules": ratio,
            "auc_pr_goal_met": bool(ratio >= self.auc_pr_ratio),
            "recall_goal_met": bool(cell["recall_at_1pct_fpr"] >= self.min_recall),
        }


def goal_checks(metrics: dict[str, dict[str, dict]], scorer: str, rules: str, goal: Goal = Goal()) -> dict:
    """Goal per slice of ``scorer`` against ``rules``."""
    return {s: goal.check(cell, metrics[rules][s]) for s, cell in metrics[scorer].items()}


def oracle_scores(
    train_X: np.ndarray, train_y: np.ndarray, eval_X: np.ndarray, params: Mapping, num_boost_round: int = 200
) -> np.ndarray:
    """The ceiling: the project's LightGBM recipe (``params``) trained on TRUE labels of earlier days, a fixed
    number of rounds (no validation needed: it is a ceiling, not a model to ship)."""
    import lightgbm as lgb

    y = np.asarray(train_y, dtype=np.float64)
    if y.sum() == 0 or y.sum() == y.size:
        raise RobustnessDataError("oracle: the training days need both abusive and benign account-days")
    p = {k: v for k, v in params.items() if k not in ("metric", "first_metric_only")}
    booster = lgb.train(p, lgb.Dataset(train_X, label=y), num_boost_round=num_boost_round)
    return booster.predict(eval_X, raw_score=True)


__all__ = [
    "GOAL_AUC_PR_RATIO",
    "GOAL_RECALL",
    "OVERALL",
    "Goal",
    "RobustnessDataError",
    "enforced_account_days",
    "evaluate_scorers",
    "evaluation_rows",
    "goal_checks",
    "oracle_scores",
    "slice_metrics",
    "truth_labels",
]
