"""Validation metrics of a risk model, in plain numpy (design §3.3).

Pure functions over a label vector ``y`` (0/1), a score vector ``p`` (higher = riskier) and optional row weights
``w``; the registry stores their values with each model version. Weights exist because training data of
millions of accounts × many days is read as a sample (negatives kept at rate r carry weight 1/r): every metric
then estimates its value on the full population. They are checked against scikit-learn (with and without
``sample_weight``) in the unit tests; they live here rather than being imported so that ties, per-day grouping
(precision at the daily review capacity) and the conventions are ours and stated.
"""

from __future__ import annotations

import numpy as np

from safeguard.config import DEFAULT_REVIEW_CAPACITY  # precision@k: what the analysts review in a day

DEFAULT_FPR = 0.01
ECE_BINS = 10


def _as_arrays(y, p, w=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=np.float64).ravel()
    if not y.shape == p.shape == w.shape:
        raise ValueError(f"labels ({y.size}), scores ({p.size}) and weights ({w.size}) differ in length")
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    if np.isnan(p).any():
        raise ValueError("scores contain NaN")
    if (w < 0).any() or np.isnan(w).any():
        raise ValueError("weights must be non-negative numbers")
    return y, p, w


def threshold_curve(y, p, w=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (weighted) true and false positives at each distinct score, from the highest score down.

    Returns ``(tp, fp, thresholds)``: flagging every row with score >= thresholds[i] gives tp[i] true and
    fp[i] false positives. Tied scores are one threshold (as sklearn's curves treat them).
    """
    y, p, w = _as_arrays(y, p, w)
    order = np.argsort(-p, kind="mergesort")
    ys, ps, ws = y[order], p[order], w[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ps)), ys.size - 1]
    tp = np.cumsum(ys * ws)[last_of_tie]
    fp = np.cumsum((1 - ys) * ws)[last_of_tie]
    return tp, fp, ps[last_of_tie]


def _class_totals(y, w) -> tuple[float, float]:
    return float((y * w).sum()), float(((1 - y) * w).sum())


def roc_auc(y, p, w=None) -> float:
    """Area under the ROC curve: the probability that a random positive outranks a random negative (ties 1/2)."""
    y, p, w = _as_arrays(y, p, w)
    n_pos, n_neg = _class_totals(y, w)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    tp, fp, _ = threshold_curve(y, p, w)
    return float(np.trapezoid(np.r_[0.0, tp / n_pos], np.r_[0.0, fp / n_neg]))


def average_precision(y, p, w=None) -> float:
    """Area under the precision-recall curve as average precision: sum over thresholds of ΔRecall × precision.

    The step-wise definition sklearn uses (no interpolation, which would be optimistic).
    """
    y, p, w = _as_arrays(y, p, w)
    n_pos, _ = _class_totals(y, w)
    if n_pos == 0:
        return float("nan")
    tp, fp, _ = threshold_curve(y, p, w)
    precision = tp / np.maximum(tp + fp, np.finfo(float).tiny)
    return float(np.sum(np.diff(np.r_[0.0, tp]) / n_pos * precision))


def recall_at_fpr(y, p, max_fpr: float = DEFAULT_FPR, w=None) -> float:
    """The best recall reachable with a score threshold whose false-positive rate is at most ``max_fpr``."""
    y, p, w = _as_arrays(y, p, w)
    n_pos, n_neg = _class_totals(y, w)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    tp, fp, _ = threshold_curve(y, p, w)
    ok = fp / n_neg <= max_fpr
    return float(tp[ok].max() / n_pos) if ok.any() else 0.0


def precision_at_k(y, p, groups=None, k: int = DEFAULT_REVIEW_CAPACITY, w=None) -> float:
    """Share of true positives among the ``k`` highest scores of each group (day), averaged over groups.

    This is what a review team with a daily capacity of ``k`` accounts would see. A group smaller than ``k``
    contributes the precision of all its rows. With weights, a group's top is the highest-scored rows whose
    cumulative weight (estimated accounts) stays within ``k``, at least one row. Ties at the cut are broken by
    row order (stable).
    """
    y, p, w = _as_arrays(y, p, w)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if y.size == 0:
        return float("nan")
    groups = np.zeros(y.size, dtype=np.int64) if groups is None else np.asarray(groups).ravel()
    if groups.shape != y.shape:
        raise ValueError(f"groups ({groups.size}) and labels ({y.size}) differ in length")
    _, g = np.unique(groups, return_inverse=True)
    order = np.lexsort((-p, g))  # by group, then by descending score
    gs, ys, ws = g[order], y[order], w[order]
    starts = np.r_[0, np.flatnonzero(np.diff(gs)) + 1]
    sizes = np.diff(np.r_[starts, gs.size])
    cum = np.cumsum(ws)
    before_group = np.repeat(np.r_[0.0, cum[starts[1:] - 1]], sizes)
    weight_before_row = cum - ws - before_group
    top = (weight_before_row + ws <= k) | (weight_before_row == 0)
    hits = np.bincount(gs[top], weights=(ys * ws)[top], minlength=starts.size)
    taken = np.bincount(gs[top], weights=ws[top], minlength=starts.size)
    return float(np.mean(hits / np.maximum(taken, np.finfo(float).tiny)))


def expected_calibration_error(y, p, n_bins: int = ECE_BINS, w=None) -> float:
    """Expected calibration error over ``n_bins`` equal-width probability bins.

    Σ_bins (weight in bin / total weight) × |mean label − mean probability|. Probabilities must lie in [0, 1].
    """
    y, p, w = _as_arrays(y, p, w)
    if y.size == 0 or w.sum() == 0:
        return float("nan")
    if p.min() < 0 or p.max() > 1:
        raise ValueError("expected calibration error needs probabilities in [0, 1]")
    b = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    gap = np.abs(np.bincount(b, weights=y * w, minlength=n_bins) - np.bincount(b, weights=p * w, minlength=n_bins))
    return float(gap.sum() / w.sum())


def brier_score(y, p, w=None) -> float:
    """Mean squared error of the probabilities against the 0/1 labels."""
    y, p, w = _as_arrays(y, p, w)
    return float(np.average((p - y) ** 2, weights=w)) if w.sum() else float("nan")


def evaluate(
    y, score, groups=None, *, probability=None, weight=None, review_capacity: int = DEFAULT_REVIEW_CAPACITY
) -> dict[str, float]:
    """Every validation metric the registry stores, under stable names.

    Ranking metrics use ``score`` (any monotone risk score: a raw margin keeps the ranking that a calibrator's
    flat steps would tie). Calibration metrics (ECE, Brier) need ``probability`` and are left out without it.
    """
    y, score, w = _as_arrays(y, score, weight)
    n_pos, n_neg = _class_totals(y, w)
    out = {
        "auc_roc": roc_auc(y, score, w),
        "auc_pr": average_precision(y, score, w),
        "recall_at_1pct_fpr": recall_at_fpr(y, score, DEFAULT_FPR, w),
        "precision_at_k": precision_at_k(y, score, groups, review_capacity, w),
        "review_capacity_k": float(review_capacity),
        "rows": float(y.size),
        "positives": float(y.sum()),
        "positive_rate": n_pos / (n_pos + n_neg) if n_pos + n_neg else float("nan"),
    }
    if probability is not None:
        out["ece"] = expected_calibration_error(y, probability, w=w)
        out["brier"] = brier_score(y, probability, w)
    return out
