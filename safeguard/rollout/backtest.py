"""The offline backtest's judgement: candidate against champion on the same account-days, and the verdict (issue 15).

Pure: arrays and plain dicts in, plain dicts out (JSON-ready, stored in ``rollout_backtests``). The warehouse
replay that feeds it is :mod:`safeguard.rollout.backtest_replay`; the stored backtests are
:mod:`safeguard.rollout.backtest_store`.

What is compared, on rows (score day, account) that both models scored:

- alerts per tier and the alert rate (alert = tier ``elevated`` or above, each model with its own thresholds), over
  every account of the day;
- on the labelled rows (``marts.fct_training_examples``: the label window has closed): precision and recall of the
  alerts, AUC-PR (average precision of the probabilities), and recall at the champion's alert volume: per day, the
  candidate's ``k`` highest probabilities where ``k`` is the champion's number of alerts among that day's labelled
  rows (the same review effort, spent the candidate's way). The champion's value is its own recall.

Intervals (95% by default): Wilson for each model's proportions; for AUC-PR and for every candidate - champion
difference a paired bootstrap that resamples *accounts* (an account's rows on every day move together, as they are
not independent), with Poisson(1) weights, a fixed seed and ``bootstrap_resamples`` draws. The selections (alerts,
the candidate's top k of each day) are fixed on the observed rows; the bootstrap re-weighs them. The alert-rate
difference, over all accounts, has a paired (McNemar) normal interval instead.

The verdict (:func:`backtest_verdict`) judges the pooled summary of the out-of-fit days only; see its docstring.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from statistics import NormalDist
from typing import Any

import numpy as np
from scipy import sparse

from safeguard.vocabulary import MODEL_ROLES, TIERS

PASS, FAIL, INSUFFICIENT = "pass", "fail", "insufficient_data"
VERDICTS = (PASS, FAIL, INSUFFICIENT)
MODELS = MODEL_ROLES
ALERT_FROM = TIERS.index("elevated")  # an alert is a tier at or above elevated

# Per-day status: why a day is or is not in the pooled judgement.
JUDGED = "judged"  # labels matured, on or after the candidate's validation_start: out of its fit
IN_TRAINING = "in_training"  # labels matured but before validation_start: in-sample for the candidate
LABELS_PENDING = "labels_pending"  # the label window has not closed yet: alerts only
NO_CHAMPION_SCORES = "no_champion_scores"  # the champion published no scores that day: not comparable
DAY_STATUSES = (JUDGED, IN_TRAINING, LABELS_PENDING, NO_CHAMPION_SCORES)


@dataclass(frozen=True)
class BacktestRule:
    """How a backtest is run and judged; stored with the rollout plan (``RolloutPlan.backtest``).

    ``days``: feature days replayed (the newest ones). ``max_auc_pr_drop``: the largest *relative* fall of AUC-PR
    tolerated, candidate / champion - 1 (0.1: 10%). ``max_recall_drop``: the largest fall of recall at the
    champion's alert volume, in recall points. ``min_labelled_positives``: labelled positives needed on the judged
    days before any verdict but ``insufficient_data``. ``required``: ``rollout start`` refuses a candidate without
    a passing backtest (False: the verdict is only recorded). ``bootstrap_resamples``, ``seed``, ``confidence``:
    the intervals.
    """

    days: int = 28
    max_auc_pr_drop: float = 0.10
    max_recall_drop: float = 0.05
    min_labelled_positives: int = 20
    required: bool = True
    bootstrap_resamples: int = 200
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        for name in ("days", "min_labelled_positives", "bootstrap_resamples", "seed"):
            value = getattr(self, name)
            least = 1 if name == "days" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"BacktestRule.{name} must be an integer >= {least}, got {value!r}")
        for name in ("max_auc_pr_drop", "max_recall_drop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"BacktestRule.{name} must be a number in [0, 1], got {value!r}")
        if not isinstance(self.confidence, float) or not 0.5 <= self.confidence < 1:
            raise ValueError(f"BacktestRule.confidence must be in [0.5, 1), got {self.confidence!r}")
        if not isinstance(self.required, bool):
            raise ValueError(f"BacktestRule.required must be true or false, got {self.required!r}")  # noqa: TRY004 (a plan field: ValueError, as every plan check)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BacktestRule:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown BacktestRule field(s): {sorted(unknown)}")
        return cls(**data)


# -- intervals ----------------------------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def interval(value: float | None, low: float | None = None, high: float | None = None, n: int | None = None) -> dict:
    """A value with its interval, JSON-ready (NaN becomes None)."""
    out = {"value": _finite(value), "low": _finite(low), "high": _finite(high)}
    if n is not None:
        out["n"] = int(n)
    return out


def wilson(successes: int, n: int, confidence: float = 0.95) -> dict:
    """The proportion ``successes / n`` with its Wilson score interval (None on n = 0)."""
    if n <= 0:
        return interval(None, n=0)
    z = _z(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


def paired_rate_difference(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> dict:
    """Mean(b) - mean(a) of two paired 0/1 vectors with its normal interval (McNemar variance)."""
    n = a.size
    if n == 0:
        return interval(None, n=0)
    only_b = float(np.count_nonzero(b & ~a))
    only_a = float(np.count_nonzero(a & ~b))
    diff = (only_b - only_a) / n
    variance = max((only_b + only_a) / n - diff * diff, 0.0) / n
    half = _z(confidence) * math.sqrt(variance)
    return interval(diff, diff - half, diff + half, n)


# -- metrics on labelled rows ---------------------------------------------------------------------------------------


class _RankedScores:
    """Rows sorted once by (group, score descending), so the weighted average precision of every group, for a whole
    block of bootstrap draws at once, costs one sparse product over the rows and the rest only over the positives.

    Average precision is the sum over thresholds of (recall gained) x precision; with ties as one threshold (as
    :mod:`safeguard.metrics`) that is, per group, the sum over positive rows of ``w_i x tp(e_i) / flagged(e_i)``
    divided by the positives' weight, where ``e_i`` is the last row of the tie run of row ``i``. ``flagged(e_i)``
    is a prefix sum of row weights between the group's first row and ``e_i``: the rows are cut into segments at
    every position such a sum starts or ends, each segment's weight per draw is ``weights @ segment_accounts``
    (an account's rows in one segment counted together), and a cumulative sum over the segments gives every prefix.
    ``group``: 0 .. n_groups - 1 per row; ``account``: the row's account index (bootstrap weights are per account).
    """

    def __init__(self, probability: np.ndarray, y: np.ndarray, account: np.ndarray, group: np.ndarray, n_groups: int):
        order = np.lexsort((-probability, group))
        g, p, acc = group[order], probability[order], account[order]
        self.n_groups = n_groups
        n = p.size
        self.n_accounts = int(acc.max()) + 1 if n else 0
        ends = np.r_[np.flatnonzero((np.diff(p) != 0) | (np.diff(g) != 0)), n - 1] if n else np.zeros(0, np.int64)
        tie_end = ends[np.searchsorted(ends, np.arange(n))] if n else ends
        starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1] if n else np.zeros(0, np.int64)
        start_of = np.zeros(n_groups, dtype=np.int64)
        start_of[g[starts]] = starts
        positive = np.flatnonzero(y[order] == 1)
        self.positive_account = acc[positive]
        self.positive_group = g[positive]
        positive_end, positive_start = tie_end[positive], start_of[self.positive_group]
        # positives ranked at or above each positive's tie end, and before its group's first row
        self.positives_through_end = np.searchsorted(positive, positive_end, side="right")
        self.positives_before_start = np.searchsorted(positive, positive_start, side="left")
        # prefix sums of row weights are needed only at these cuts; rows past the last cut never count
        cuts = np.unique(np.r_[0, positive_start, positive_end + 1])
        self.cut_through_end = np.searchsorted(cuts, positive_end + 1)
        self.cut_at_start = np.searchsorted(cuts, positive_start)
        counted = int(cuts[-1])  # the rows before the last cut; cuts are increasing, so a row's segment is a count
        marks = np.zeros(counted, dtype=np.int64)
        marks[cuts[1:-1]] = 1
        segment = np.cumsum(marks)
        self.segment_accounts = sparse.csc_matrix(
            (np.ones(counted, dtype=np.float32), (acc[:counted], segment)),
            shape=(self.n_accounts, max(cuts.size - 1, 0)),
        )
        self.positives_by_group = sparse.csr_matrix(
            (np.ones(positive.size), (self.positive_group, np.arange(positive.size))),
            shape=(n_groups, positive.size),
        )

    def average_precision(self, account_weight: np.ndarray) -> np.ndarray:
        """Per group, as :func:`safeguard.metrics.average_precision` with integer row weights ``account_weight[account]``
        (NaN for a group without weighted positives). ``account_weight``: one draw (accounts,) -> (groups,), or a
        block of draws (draws, accounts) -> (draws, groups)."""
        # Counts: float32 sums of them stay exact integers below 2**24 (a segment's weight, a day's); prefix sums
        # run in float64.
        weights = np.atleast_2d(np.asarray(account_weight))[:, : self.n_accounts]
        single = np.ndim(account_weight) == 1
        segment_weight = np.asarray(self.segment_accounts.T @ weights.T.astype(np.float32))  # (segments, draws)
        flagged_through = np.zeros((segment_weight.shape[0] + 1, weights.shape[0]))
        np.cumsum(segment_weight, axis=0, out=flagged_through[1:])
        w = weights[:, self.positive_account].T.astype(np.float64)  # (positives, draws)
        hits_through = np.zeros((w.shape[0] + 1, w.shape[1]))
        np.cumsum(w, axis=0, out=hits_through[1:])
        tp = hits_through[self.positives_through_end] - hits_through[self.positives_before_start]
        flagged = flagged_through[self.cut_through_end] - flagged_through[self.cut_at_start]
        gained = w * tp / np.maximum(flagged, 1)  # flagged >= w > 0 wherever gained counts
        area = np.asarray(self.positives_by_group @ gained)
        positives = np.asarray(self.positives_by_group @ w)
        out = _ratio(area, positives).T
        return out[0] if single else out


def top_k_per_day(probability: np.ndarray, day: np.ndarray, k: Mapping[Any, int]) -> np.ndarray:
    """True for the ``k[day]`` highest probabilities of each day (ties broken by row order)."""
    chosen = np.zeros(probability.size, dtype=bool)
    for d, count in k.items():
        rows = np.flatnonzero(day == d)
        if count > 0 and rows.size:
            chosen[rows[np.argsort(-probability[rows], kind="mergesort")[:count]]] = True
    return chosen


def _relative(candidate: np.ndarray, champion: np.ndarray) -> np.ndarray:
    """candidate / champion - 1; NaN where the champion's value is 0 or undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(champion > 0, candidate / np.where(champion > 0, champion, 1.0) - 1, np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


OUTCOME_METRICS = ("precision", "recall", "auc_pr", "recall_at_champion_volume")
# Bootstrap draws computed together: one sparse product per block; memory ~ draws x (accounts + positives) x 8 B
_DRAWS_PER_BLOCK = 25


def compare_outcomes(
    label: np.ndarray,
    account: np.ndarray,
    day: np.ndarray,
    probability: Mapping[str, np.ndarray],
    tier: Mapping[str, np.ndarray],
    pooled_days: Sequence[Any] = (),
    *,
    resamples: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[dict[Any, dict[str, Any]], dict[str, Any] | None]:
    """Precision, recall, AUC-PR and recall at the champion's alert volume of both models on labelled rows, with
    intervals, and the candidate - champion differences: per day, and pooled over ``pooled_days``.

    ``label`` 0/1; ``account``, ``day`` identify each row; ``probability`` and ``tier`` (indices into ``TIERS``)
    map ``champion`` and ``candidate`` to one value per row. One bootstrap draw (Poisson(1) weights per account)
    serves every day and the pooled set alike, so the days' intervals and the pooled one come from the same draws.
    Returns ``({day: figures}, pooled figures or None when no pooled day has rows)``.
    """
    y = np.asarray(label, dtype=np.float64)
    days, day_index = np.unique(np.asarray(day), return_inverse=True)
    G = days.size
    pooled = np.isin(days, np.asarray(list(pooled_days), dtype=days.dtype)) if len(pooled_days) else np.zeros(G, bool)
    in_pool = pooled[day_index]
    accounts, account_index = np.unique(np.asarray(account), return_inverse=True)
    alerts = {m: np.asarray(tier[m]) >= ALERT_FROM for m in MODELS}
    volume = np.bincount(day_index[alerts["champion"]], minlength=G)
    selected = {
        "champion": alerts["champion"],
        "candidate": top_k_per_day(
            np.asarray(probability["candidate"], dtype=np.float64), day_index, dict(enumerate(volume))
        ),
    }
    positive = y == 1
    rows = {"positives": np.flatnonzero(positive)}
    for m in MODELS:
        rows[f"{m}.flagged"] = np.flatnonzero(alerts[m])
        rows[f"{m}.hit"] = np.flatnonzero(alerts[m] & positive)
        rows[f"{m}.selected_hit"] = np.flatnonzero(selected[m] & positive)
    ranked = {
        m: _RankedScores(np.asarray(probability[m], dtype=np.float64), y, account_index, day_index, G) for m in MODELS
    }
    ranked_pool = {
        m: _RankedScores(
            np.asarray(probability[m], dtype=np.float64)[in_pool],
            y[in_pool],
            account_index[in_pool],
            np.zeros(int(in_pool.sum()), dtype=np.int64),
            1,
        )
        for m in MODELS
    }

    n_accounts = accounts.size
    row_counts = {  # (accounts, days): how many of rows[key] each account has on each day
        key: sparse.csr_matrix((np.ones(r.size), (account_index[r], day_index[r])), shape=(n_accounts, G))
        for key, r in rows.items()
    }

    def per_group(key: str, weights: np.ndarray) -> np.ndarray:
        """Weighted count of ``rows[key]`` per draw and day, with the pooled total appended: (draws, days + 1)."""
        counts = np.asarray((row_counts[key].T @ weights.T).T)
        return np.c_[counts, counts[:, pooled].sum(axis=1)]

    def statistics(weights: np.ndarray) -> dict[str, np.ndarray]:
        """Every figure per draw (rows of ``weights``, one Poisson weight per account) and day, the pooled value
        last (column G)."""
        out = {}
        pos = per_group("positives", weights)
        for m in MODELS:
            hit = per_group(f"{m}.hit", weights)
            out[f"{m}.precision"] = _ratio(hit, per_group(f"{m}.flagged", weights))
            out[f"{m}.recall"] = _ratio(hit, pos)
            out[f"{m}.recall_at_champion_volume"] = _ratio(per_group(f"{m}.selected_hit", weights), pos)
            out[f"{m}.auc_pr"] = np.c_[ranked[m].average_precision(weights), ranked_pool[m].average_precision(weights)]
        for x in OUTCOME_METRICS:
            out[f"difference.{x}"] = out[f"candidate.{x}"] - out[f"champion.{x}"]
        out["difference.auc_pr_relative"] = _relative(out["candidate.auc_pr"], out["champion.auc_pr"])
        return out

    ones = np.ones((1, n_accounts))
    observed = {k: v[0] for k, v in statistics(ones).items()}
    boot_keys = [
        *(f"{m}.auc_pr" for m in MODELS),
        *(f"difference.{x}" for x in OUTCOME_METRICS),
        "difference.auc_pr_relative",
    ]
    bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if resamples and n_accounts:
        rng = np.random.default_rng(seed)
        draws = {k: np.empty((resamples, G + 1)) for k in boot_keys}
        for first in range(0, resamples, _DRAWS_PER_BLOCK):
            block = min(_DRAWS_PER_BLOCK, resamples - first)
            s = statistics(rng.poisson(1.0, (block, n_accounts)).astype(np.float64))
            for k in boot_keys:
                draws[k][first : first + block] = s[k]
        tail = (1 - confidence) / 2 * 100
        for k in boot_keys:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a day whose draws are all NaN
                low, high = np.nanpercentile(draws[k], [tail, 100 - tail], axis=0)
            bounds[k] = (low, high)

    n_rows = np.r_[np.bincount(day_index, minlength=G), int(in_pool.sum())]
    counts = {k: per_group(k, ones)[0].round().astype(int) for k in rows}

    def figures(j: int) -> dict[str, Any]:
        def boot(k: str) -> dict:
            low, high = bounds.get(k, (None, None))
            return interval(observed[k][j], None if low is None else low[j], None if high is None else high[j])

        positives = int(counts["positives"][j])
        out: dict[str, Any] = {"labelled": int(n_rows[j]), "positives": positives}
        for m in MODELS:
            flagged, hit = int(counts[f"{m}.flagged"][j]), int(counts[f"{m}.hit"][j])
            out[m] = {
                "alerts": flagged,
                "precision": wilson(hit, flagged, confidence),
                "recall": wilson(hit, positives, confidence),
                "auc_pr": boot(f"{m}.auc_pr"),
                "recall_at_champion_volume": wilson(int(counts[f"{m}.selected_hit"][j]), positives, confidence),
            }
        out["difference"] = {x: boot(f"difference.{x}") for x in (*OUTCOME_METRICS, "auc_pr_relative")}
        return out

    per_day = {d: figures(j) for j, d in enumerate(days.tolist())}
    return per_day, (figures(G) if in_pool.any() else None)


def compare_alerts(tier: Mapping[str, np.ndarray], confidence: float = 0.95) -> dict[str, Any]:
    """Accounts per tier and the alert rate of both models on the same accounts, and the alert-rate difference."""
    out: dict[str, Any] = {"accounts": int(np.asarray(tier["champion"]).size)}
    flags = {}
    for m in MODELS:
        t = np.asarray(tier[m])
        flags[m] = t >= ALERT_FROM
        out[m] = {
            "tiers": {name: int(np.count_nonzero(t == i)) for i, name in enumerate(TIERS)},
            "alert_rate": wilson(int(np.count_nonzero(flags[m])), t.size, confidence),
        }
    out["alert_rate_difference"] = paired_rate_difference(flags["champion"], flags["candidate"], confidence)
    return out


# -- the verdict ----------------------------------------------------------------------------------------------------


def _fmt(iv: Mapping[str, Any] | None, pct: bool = False) -> str:
    if not iv or iv.get("value") is None:
        return "n/a"
    f = (lambda x: f"{x:+.1%}") if pct else (lambda x: f"{x:+.3f}")
    bounds = f" (95% CI {f(iv['low'])} .. {f(iv['high'])})" if iv.get("low") is not None else ""
    return f"{f(iv['value'])}{bounds}"


def _number(iv: Mapping[str, Any]) -> str:
    return "n/a" if iv.get("value") is None else f"{iv['value']:.3f}"


def backtest_verdict(summary: Mapping[str, Any] | None, rule: BacktestRule) -> tuple[str, list[str]]:
    """``(verdict, reasons)`` of a pooled backtest summary under ``rule``.

    - ``insufficient_data``: no summary, no judged day, or fewer than ``rule.min_labelled_positives`` labelled
      positives on the judged days; the reasons say what is missing.
    - ``fail``: the candidate is *surely* worse than the champion beyond the margin on either difference: the
      upper end of the interval of the AUC-PR relative change is below ``-max_auc_pr_drop``, or that of recall at
      the champion's alert volume below ``-max_recall_drop``. Surely, not on the point estimate: a pass only lets
      the candidate into shadow, which serves nobody and judges it on the stage's pooled, always-valid evidence
      before any traffic; a refusal on a noisy point estimate (the AUC-PR of 138 positives spans -50%..+33% on
      the demo world) blocked retrains whose precision and recall at the operating point were surely better.
      A candidate with no skill (shuffled or inverted scores) is far outside the margin and fails here.
    - ``pass`` otherwise, with the figures it rests on.
    """
    if not summary:
        return INSUFFICIENT, ["no backtest of this candidate against the current champion"]
    judged = int(summary.get("judged_days") or 0)
    if judged == 0:
        counts = summary.get("days_by_status") or {}
        detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "no day replayed"
        return INSUFFICIENT, [f"no judged day (out of the candidate's fit, labels matured, champion scored): {detail}"]
    outcomes = summary.get("outcomes") or {}
    positives = int(outcomes.get("positives") or 0)
    if positives < rule.min_labelled_positives:
        missing = (
            f"{positives} of {rule.min_labelled_positives} labelled positives on {judged} judged day(s); "
            "more matured days are needed (labels mature a label horizon after each score day)"
        )
        return INSUFFICIENT, [missing]
    diff, cand, champ = outcomes["difference"], outcomes["candidate"], outcomes["champion"]
    auc, recall = diff["auc_pr_relative"], diff["recall_at_champion_volume"]
    auc_text = (
        f"AUC-PR {_number(cand['auc_pr'])} vs champion {_number(champ['auc_pr'])}: "
        f"relative change {_fmt(auc, pct=True)}"
    )
    recall_text = (
        f"recall at the champion's alert volume {_number(cand['recall_at_champion_volume'])} vs champion "
        f"{_number(champ['recall_at_champion_volume'])}: change {_fmt(recall)}"
    )
    findings = [
        (auc, -rule.max_auc_pr_drop, auc_text, f"{-rule.max_auc_pr_drop:+.0%}"),
        (recall, -rule.max_recall_drop, recall_text, f"{-rule.max_recall_drop:+.3f}"),
    ]
    failed, reasons = [], []
    for iv, bound, text, shown in findings:
        surely_worse = iv.get("high") if iv.get("high") is not None else iv.get("value")
        if iv.get("value") is None or surely_worse < bound:
            failed.append(f"{text}, surely beyond the margin {shown}")
        elif iv["value"] < bound:
            reasons.append(f"{text}, beyond the margin {shown} on the point estimate but not surely: shadow judges")
        else:
            reasons.append(f"{text}, within the margin {shown}")
    scope = f"on {judged} judged day(s), {positives} labelled positives"
    if failed:
        return FAIL, [f"{r} ({scope})" for r in failed]
    return PASS, [f"{r} ({scope})" for r in reasons]


def pooled_summary(
    per_day: Sequence[Mapping[str, Any]], alerts: Mapping[str, Any] | None, outcomes: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The summary stored and judged: which days were judged and why others were not, and the pooled figures."""
    counts = {status: 0 for status in DAY_STATUSES}
    for d in per_day:
        counts[d["status"]] += 1
    judged = [d["day"] for d in per_day if d["status"] == JUDGED]
    return {
        "days": len(per_day),
        "judged_days": len(judged),
        "judged_first_day": judged[0] if judged else None,
        "judged_last_day": judged[-1] if judged else None,
        "days_by_status": counts,
        "alerts": dict(alerts) if alerts else None,
        "outcomes": dict(outcomes) if outcomes else None,
    }
