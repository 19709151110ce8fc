"""Risk tiers: low / elevated / high / critical, as thresholds on the calibrated probability (design §3.3).

A tier is a promise about precision, not a score range: "high" means "at least 60 % of accounts flagged high turn
out to be enforced", whatever model produced the score. Each model version therefore gets its own thresholds,
chosen on its validation set and stored with it in the registry.

Choice of a threshold for a target precision π: the LOWEST calibrated probability t such that, on validation,
the rows with probability >= t have precision >= π and number at least ``min_alerts`` (fewer rows make the
measured precision noise). The lowest such t flags the most accounts at that precision.

Fallback when no threshold reaches π on validation (too few positives, or a weak model): t = π itself. The
probabilities are calibrated, so rows scored >= π are expected to be positive at a rate >= π; the tier stays
empty until the model is that confident. The fallback is recorded per tier (``method``) and shown on the card.

Thresholds are made monotone (critical >= high >= elevated) by carrying the maximum upward.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from safeguard.metrics import threshold_curve
from safeguard.vocabulary import ALERT_TIERS, DEFAULT_TARGET_PRECISIONS, TIERS

DEFAULT_MIN_ALERTS = 10

METHOD_VALIDATION = "validation"
METHOD_FALLBACK = "fallback_target_probability"


@dataclass(frozen=True)
class TierThresholds:
    """Per alert tier: the probability threshold and how it was obtained on validation."""

    thresholds: dict[str, float]  # tier -> minimum calibrated probability
    targets: dict[str, float]  # tier -> target precision
    achieved_precision: dict[str, float | None]  # validation precision at the threshold (None: no row above)
    support: dict[str, int]  # validation accounts at or above the threshold (weighted: estimated)
    method: dict[str, str]  # METHOD_VALIDATION or METHOD_FALLBACK

    def as_array(self) -> np.ndarray:
        """Thresholds in tier order (elevated, high, critical)."""
        return np.array([self.thresholds[t] for t in ALERT_TIERS], dtype=np.float64)

    def to_dict(self) -> dict:
        return {
            "thresholds": dict(self.thresholds),
            "targets": dict(self.targets),
            "achieved_precision": dict(self.achieved_precision),
            "support": dict(self.support),
            "method": dict(self.method),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> TierThresholds:
        missing = [t for t in ALERT_TIERS if t not in d.get("thresholds", {})]
        if missing:
            raise ValueError(f"tier thresholds lack {missing}: {dict(d)}")
        return cls(
            thresholds={t: float(d["thresholds"][t]) for t in ALERT_TIERS},
            targets=dict(d.get("targets", {})),
            achieved_precision=dict(d.get("achieved_precision", {})),
            support={k: int(v) for k, v in d.get("support", {}).items()},
            method=dict(d.get("method", {})),
        )


def _validate_targets(targets: Mapping[str, float]) -> dict[str, float]:
    if set(targets) != set(ALERT_TIERS):
        raise ValueError(f"target precisions must name exactly {ALERT_TIERS}, got {sorted(targets)}")
    values = [float(targets[t]) for t in ALERT_TIERS]
    if not all(0 < v <= 1 for v in values) or values != sorted(values):
        raise ValueError(f"target precisions must lie in (0, 1] and not decrease by tier, got {dict(targets)}")
    return dict(zip(ALERT_TIERS, values))


def choose_thresholds(
    y,
    probability,
    targets: Mapping[str, float] = DEFAULT_TARGET_PRECISIONS,
    *,
    weight=None,
    min_alerts: int = DEFAULT_MIN_ALERTS,
) -> TierThresholds:
    """Thresholds meeting the target precision of each tier on validation labels ``y`` (see module doc).

    ``weight``: row weights of a sampled validation set (``min_alerts`` then counts rows, not weight).
    """
    targets = _validate_targets(targets)
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(probability, dtype=np.float64).ravel()
    w = np.ones_like(y) if weight is None else np.asarray(weight, dtype=np.float64).ravel()
    tp, fp, thr = threshold_curve(y, p, w)
    precision = tp / np.maximum(tp + fp, np.finfo(float).tiny)
    tp_rows, fp_rows, _ = threshold_curve(y, p)  # same distinct thresholds, counted in rows
    count = tp_rows + fp_rows

    chosen: dict[str, float] = {}
    method: dict[str, str] = {}
    floor = 0.0
    for tier in ALERT_TIERS:
        eligible = np.flatnonzero((precision >= targets[tier]) & (count >= min_alerts))
        if eligible.size:
            t, method[tier] = float(thr[eligible[-1]]), METHOD_VALIDATION  # curve runs high -> low
        else:
            t, method[tier] = targets[tier], METHOD_FALLBACK
        floor = max(floor, t)
        chosen[tier] = floor

    above = {tier: p >= chosen[tier] for tier in ALERT_TIERS}
    support = {tier: int(np.rint(w[m].sum())) for tier, m in above.items()}
    achieved = {tier: (float(np.average(y[m], weights=w[m])) if w[m].sum() > 0 else None) for tier, m in above.items()}
    return TierThresholds(chosen, targets, achieved, support, method)


def tier_index(probability, thresholds: TierThresholds | Mapping[str, float]) -> np.ndarray:
    """0 (low) .. 3 (critical) per row: the number of tier thresholds at or below the probability."""
    t = (
        thresholds.as_array()
        if isinstance(thresholds, TierThresholds)
        else np.array([float(thresholds[name]) for name in ALERT_TIERS])
    )
    if np.any(np.diff(t) < 0):
        raise ValueError(f"tier thresholds must not decrease by tier: {dict(zip(ALERT_TIERS, t))}")
    return np.searchsorted(t, np.asarray(probability, dtype=np.float64), side="right").astype(np.int8)


def assign_tiers(probability, thresholds: TierThresholds | Mapping[str, float]) -> np.ndarray:
    """Tier name per row (object array of 'low' / 'elevated' / 'high' / 'critical'), vectorized."""
    return np.asarray(TIERS, dtype=object)[tier_index(probability, thresholds)]
