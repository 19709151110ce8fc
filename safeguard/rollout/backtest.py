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
difference an interval on the paired, account-clustered linearized variance (:mod:`safeguard.rollout.influence`:
an account's rows on every day move together, as they are not independent). That is the variance of a paired
bootstrap over accounts to first order, computed in one pass instead of 200 draws (checked against a bootstrap in
the tests), and no seed; AUC-PR's interval is on the logit scale and the relative change's on the log scale
(:func:`linearized_interval`). The selections (alerts, the candidate's
top k of each day) are fixed on the observed rows. The alert-rate difference, over all accounts, has a paired
(McNemar) normal interval.

The verdict (:func:`backtest_verdict`) judges the pooled summary of the out-of-fit days only; see its docstring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from safeguard.rollout.influence import (
    ClusteredVariance,
    average_precision_influence,
    ratio_influence,
    sorted_codes,
)
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


# Fields of rules stored before the intervals were linearized (the bootstrap's draws and seed): read and ignored, so
# plans and backtests already in the serving database still load.
_RETIRED_FIELDS = frozenset({"bootstrap_resamples", "seed"})


@dataclass(frozen=True)
class BacktestRule:
    """How a backtest is run and judged; stored with the rollout plan (``RolloutPlan.backtest``).

    ``days``: feature days replayed (the newest ones). ``max_auc_pr_drop``: the largest *relative* fall of AUC-PR
    tolerated, candidate / champion - 1 (0.1: 10%). ``max_recall_drop``: the largest fall of recall at the
    champion's alert volume, in recall points. ``min_labelled_positives``: labelled positives needed on the judged
    days before any verdict but ``insufficient_data``. ``required``: ``rollout start`` refuses a candidate without
    a passing backtest (False: the verdict is only recorded). ``confidence``: the intervals' level.
    """

    days: int = 28
    max_auc_pr_drop: float = 0.10
    max_recall_drop: float = 0.05
    min_labelled_positives: int = 20
    required: bool = True
    confidence: float = 0.95

    def __post_init__(self) -> None:
        for name in ("days", "min_labelled_positives"):
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
        data = {k: v for k, v in data.items() if k not in _RETIRED_FIELDS}
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


def top_k_per_day(probability: np.ndarray, day: np.ndarray, k: Mapping[Any, int]) -> np.ndarray:
    """True for the ``k[day]`` highest probabilities of each day (ties broken by row order)."""
    chosen = np.zeros(probability.size, dtype=bool)
    codes, days = sorted_codes(day)
    by_day = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[by_day], np.arange(days.size + 1))
    for j, d in enumerate(days.tolist()):
        count = k.get(d, 0)
        rows = by_day[bounds[j] : bounds[j + 1]]
        if count > 0 and rows.size:
            chosen[rows[_top(probability[rows], count)]] = True
    return chosen


def _top(p: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest of ``p``, ties at the cut broken by position: what a stable sort by
    descending ``p`` would put first, found with a partition instead of a sort."""
    if k >= p.size:
        return np.arange(p.size)
    cut = np.partition(p, p.size - k)[p.size - k]  # the k-th highest value
    above = np.flatnonzero(p > cut)
    at_cut = np.flatnonzero(p == cut)[: k - above.size]
    return np.concatenate([above, at_cut])


def _rows(index: np.ndarray) -> np.ndarray | slice:
    """Ascending row positions as a slice when they are consecutive (a view: nothing gathered), else as they are."""
    if index.size and int(index[-1]) - int(index[0]) + 1 == index.size:
        return slice(int(index[0]), int(index[-1]) + 1)
    return index


def _relative(candidate: np.ndarray, champion: np.ndarray) -> np.ndarray:
    """candidate / champion - 1; NaN where the champion's value is 0 or undefined."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(champion > 0, candidate / np.where(champion > 0, champion, 1.0) - 1, np.nan)


OUTCOME_METRICS = ("precision", "recall", "auc_pr", "recall_at_champion_volume")


def linearized_interval(figure: str, value: float, variance: float, z: float) -> tuple[float, float]:
    """The interval of ``figure`` from its value and linearized variance, on the scale where it is near normal:

    - a model's AUC-PR (in [0, 1], skewed near its ends): on the logit scale, as Boyd et al. (2013) recommend for
      the area under the PR curve; its standard error there is ``se / (v (1 - v))``;
    - the relative AUC-PR change ``a / b - 1`` (a ratio, skewed to the right): on the log scale of ``a / b``,
      standard error ``se / (1 + r)``;
    - a difference of two proportions: as it is, clipped to [-1, 1].

    The delta method gives each the same first-order width; the transformed scales keep the interval inside the
    figure's range and give it the bootstrap's asymmetry."""
    se = math.sqrt(max(variance, 0.0))
    if figure.endswith(".auc_pr") and not figure.startswith("difference.") and 0 < value < 1:
        centre, spread = math.log(value / (1 - value)), z * se / (value * (1 - value))
        return 1 / (1 + math.exp(-(centre - spread))), 1 / (1 + math.exp(-(centre + spread)))
    if figure == "difference.auc_pr_relative" and value > -1:
        spread = z * se / (1 + value)
        return (1 + value) * math.exp(-spread) - 1, (1 + value) * math.exp(spread) - 1
    low, high = (-1.0, 1.0) if figure.startswith("difference.") else (0.0, 1.0)
    return max(low, value - z * se), min(high, value + z * se)


def _linearized(
    y: np.ndarray,
    account: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    probability: Mapping[str, np.ndarray],
    marks: Mapping[str, np.ndarray],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{figure: (value per group, variance per group)}`` of every figure with a linearized interval: each model's
    AUC-PR, and the candidate - champion difference of every outcome metric and the relative AUC-PR change."""
    variance = ClusteredVariance(account, group, n_groups)
    value, influence = {}, {}
    for m in MODELS:
        value[f"{m}.auc_pr"], influence[f"{m}.auc_pr"] = average_precision_influence(probability[m], y, group, n_groups)
        for x, numerator, denominator in (
            ("precision", marks[f"{m}.hit"], marks[f"{m}.flagged"]),
            ("recall", marks[f"{m}.hit"], y),
            ("recall_at_champion_volume", marks[f"{m}.selected_hit"], y),
        ):
            value[f"{m}.{x}"], influence[f"{m}.{x}"] = ratio_influence(numerator, denominator, group, n_groups)
    out = {f"{m}.auc_pr": (value[f"{m}.auc_pr"], variance(influence[f"{m}.auc_pr"])) for m in MODELS}
    for x in OUTCOME_METRICS:
        out[f"difference.{x}"] = (
            value[f"candidate.{x}"] - value[f"champion.{x}"],
            variance(influence[f"candidate.{x}"] - influence[f"champion.{x}"]),
        )
    a, b = value["candidate.auc_pr"], value["champion.auc_pr"]
    safe_b = np.where(b > 0, b, 1.0)
    relative_influence = (influence["candidate.auc_pr"] - (a / safe_b)[group] * influence["champion.auc_pr"]) / safe_b[
        group
    ]
    out["difference.auc_pr_relative"] = (_relative(a, b), variance(np.nan_to_num(relative_influence)))
    return out


def compare_outcomes(
    label: np.ndarray,
    account: np.ndarray,
    day: np.ndarray,
    probability: Mapping[str, np.ndarray],
    tier: Mapping[str, np.ndarray],
    pooled_days: Sequence[Any] = (),
    *,
    confidence: float = 0.95,
) -> tuple[dict[Any, dict[str, Any]], dict[str, Any] | None]:
    """Precision, recall, AUC-PR and recall at the champion's alert volume of both models on labelled rows, with
    intervals, and the candidate - champion differences: per day, and pooled over ``pooled_days``.

    ``label`` 0/1; ``account``, ``day`` identify each row; ``probability`` and ``tier`` (indices into ``TIERS``)
    map ``champion`` and ``candidate`` to one value per row. Proportions get Wilson intervals; AUC-PR and every
    difference a normal interval on the account-clustered linearized variance (:mod:`safeguard.rollout.influence`).
    Returns ``({day: figures}, pooled figures or None when no pooled day has rows)``.
    """
    y = np.asarray(label, dtype=np.float64)
    day_index, days = sorted_codes(day)
    G = days.size
    pooled = np.isin(days, np.asarray(list(pooled_days), dtype=days.dtype)) if len(pooled_days) else np.zeros(G, bool)
    in_pool = pooled[day_index]
    account_index = pd.factorize(np.asarray(account))[0]  # dense codes, by hashing: no sort
    probability = {m: np.asarray(probability[m], dtype=np.float64) for m in MODELS}
    alerts = {m: np.asarray(tier[m]) >= ALERT_FROM for m in MODELS}
    volume = np.bincount(day_index[alerts["champion"]], minlength=G)
    selected = {
        "champion": alerts["champion"],
        "candidate": top_k_per_day(probability["candidate"], day_index, dict(enumerate(volume))),
    }
    positive = y == 1
    marks = {"positives": positive.astype(np.float64)}
    for m in MODELS:
        marks[f"{m}.flagged"] = alerts[m].astype(np.float64)
        marks[f"{m}.hit"] = (alerts[m] & positive).astype(np.float64)
        marks[f"{m}.selected_hit"] = (selected[m] & positive).astype(np.float64)

    pool_rows = np.flatnonzero(in_pool)

    def linearized_on(rows: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The linearized figures of ``rows`` as one group. One day at a time, not every day's rows in one pass: the
        arrays stay the size of a day, in cache; consecutive rows are sliced, not gathered."""
        rows = _rows(rows)
        labels = y[rows]
        return _linearized(
            labels,
            account_index[rows],
            np.zeros(labels.size, dtype=np.int64),
            1,
            {m: probability[m][rows] for m in MODELS},
            {k: v[rows] for k, v in marks.items()},
        )

    by_day = np.argsort(day_index, kind="stable")
    bounds = np.searchsorted(day_index[by_day], np.arange(G + 1))
    parts = [linearized_on(by_day[first:last]) for first, last in zip(bounds[:-1], bounds[1:], strict=True)]
    parts.append(linearized_on(pool_rows))  # position G: the pooled days
    estimates = {k: tuple(np.concatenate([part[k][i] for part in parts]) for i in (0, 1)) for k in parts[0]}
    counts = {
        k: np.r_[np.bincount(day_index, weights=v, minlength=G), v[pool_rows].sum()].round().astype(int)
        for k, v in marks.items()
    }
    n_rows = np.r_[np.bincount(day_index, minlength=G), pool_rows.size]
    z = _z(confidence)

    def linearized(k: str, j: int) -> dict:
        value, variance = estimates[k][0][j], estimates[k][1][j]
        if not math.isfinite(value):
            return interval(None)
        return interval(value, *linearized_interval(k, value, variance, z))

    def figures(j: int) -> dict[str, Any]:
        positives = int(counts["positives"][j])
        out: dict[str, Any] = {"labelled": int(n_rows[j]), "positives": positives}
        for m in MODELS:
            flagged, hit = int(counts[f"{m}.flagged"][j]), int(counts[f"{m}.hit"][j])
            out[m] = {
                "alerts": flagged,
                "precision": wilson(hit, flagged, confidence),
                "recall": wilson(hit, positives, confidence),
                "auc_pr": linearized(f"{m}.auc_pr", j),
                "recall_at_champion_volume": wilson(int(counts[f"{m}.selected_hit"][j]), positives, confidence),
            }
        out["difference"] = {x: linearized(f"difference.{x}", j) for x in (*OUTCOME_METRICS, "auc_pr_relative")}
        return out

    per_day = {d: figures(j) for j, d in enumerate(days.tolist())}
    return per_day, (figures(G) if pool_rows.size else None)


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
