"""Rollout guardrails: candidate vs champion on the SAME accounts of the candidate arm (design §3.4). Pure numpy.

Every metric ends in one status:
- ``pass``: within its threshold;
- ``breach``: the candidate is worse than allowed; the policy rolls back;
- ``warn``: something moved that a person should look at (feature drift); the policy records it without holding;
- ``insufficient_data``: too few accounts, alerts or matured labels to judge; never a breach, and it does not hold
  the rollout by itself (labels take the label horizon to mature, so early stages would never advance otherwise).

The metrics:
- ``alert_rate_ratio``: the share of accounts at or above the alert tier (default ``elevated``), candidate over
  champion. Each model's own tier thresholds decide its tiers, so a tier means the same under both.
- ``score_psi``: population stability index of the candidate's calibrated scores against the champion's, on fixed
  risk bands (``SCORE_BANDS``: everything under 1% is one band, then 1-2%, 2-5%, ... 50%+). Not on the champion's
  deciles: most accounts sit in a low tail where two well-calibrated models legitimately differ (an isotonic map
  gives every quiet account ~0.1%, a Platt map ~0.01%) and no decision depends on the difference; deciles there
  made a sound retrain look like a broken one (PSI 5.5 on the demo world). PSI = sum((a - e) * ln(a / e)); shares
  are floored at ``PSI_EPSILON`` so empty bins stay finite.
- ``precision_drop`` / ``recall_drop``: each model's alerts scored against the labels matured since the stage began;
  the value is candidate minus champion.
- ``feature_drift``: the largest PSI of a feature on the arm against the training-window reference sample
  (not judged below ``min_drift_rows`` rows on either side).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np

TIERS = ("low", "elevated", "high", "critical")  # ascending risk; the scoring step assigns them
PSI_BINS = 10  # feature drift: deciles of the training-window reference
PSI_EPSILON = 1e-4
# Interior edges of the score-PSI bands on calibrated probability (see the module docstring).
SCORE_BANDS = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.5])

Status = Literal["pass", "breach", "warn", "insufficient_data"]
STATUSES: tuple[Status, ...] = ("pass", "breach", "warn", "insufficient_data")


@dataclass(frozen=True)
class GuardrailConfig:
    """Thresholds of the guardrails. Stored with the rollout plan, so a decision can be re-checked later."""

    alert_tier: str = "elevated"
    alert_ratio_min: float = 0.5
    alert_ratio_max: float = 2.0
    # Below this many alerts from both models the ratio is noise: 19 against 9 alerts is a ratio of 0.49 whose
    # Poisson interval spans 1.
    min_alerts: int = 30
    score_psi_max: float = 0.25
    # Below this many arm accounts the score PSI is not judged: with no difference at all it reads about
    # (bands - 1) / n, and a 1% arm of 43 accounts read 0.30 for a sound retrain (0.09 over all 4,958 accounts).
    min_psi_accounts: int = 200
    max_precision_drop: float = 0.1
    max_recall_drop: float = 0.1
    min_labelled_positives: int = 20  # per model comparison, among accounts with matured labels
    feature_psi_max: float = 0.25  # above it: warn (recorded, not holding), since drift concerns both models alike
    # Below this many arm (or reference) rows feature drift is not judged: a PSI over 10 bins of n rows reads about
    # 9/n with no drift at all (0.2 at 45 rows), so a 1% arm of a small world would warn by chance.
    min_drift_rows: int = 200

    def __post_init__(self) -> None:
        if self.alert_tier not in TIERS:
            raise ValueError(f"GuardrailConfig.alert_tier must be one of {TIERS}, got {self.alert_tier!r}")
        if not 0 < self.alert_ratio_min <= 1 <= self.alert_ratio_max:
            raise ValueError(
                "GuardrailConfig needs 0 < alert_ratio_min <= 1 <= alert_ratio_max, got "
                f"[{self.alert_ratio_min}, {self.alert_ratio_max}]"
            )
        for name in ("score_psi_max", "max_precision_drop", "max_recall_drop", "feature_psi_max"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"GuardrailConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("min_alerts", "min_psi_accounts", "min_labelled_positives", "min_drift_rows"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(
                    f"GuardrailConfig.{name} must be an integer >= 1, got {getattr(self, name)!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GuardrailConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown GuardrailConfig field(s): {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class GuardrailMetric:
    name: str
    status: Status
    value: float | None  # None when it cannot be computed (e.g. no labels)
    threshold: float | list[float] | None  # a bound, or [low, high] for a ratio
    details: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for a decision's reasons and the audit log."""
        value = "n/a" if self.value is None else f"{self.value:.4g}"
        note = f" ({self.details['note']})" if "note" in self.details else ""
        return f"{self.name}={value} threshold={self.threshold}: {self.status}{note}"


@dataclass(frozen=True)
class GuardrailReport:
    n_accounts: int
    metrics: tuple[GuardrailMetric, ...]

    def with_status(self, status: Status) -> list[GuardrailMetric]:
        return [m for m in self.metrics if m.status == status]

    @property
    def status(self) -> Status:
        """The worst status: breach, then warn, then pass; insufficient_data only when no metric could be judged."""
        for worst in ("breach", "warn", "pass"):
            if self.with_status(worst):
                return worst
        return "insufficient_data"

    def metric(self, name: str) -> GuardrailMetric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"no guardrail metric {name!r}; have {[m.name for m in self.metrics]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_accounts": self.n_accounts,
            "status": self.status,
            "metrics": [asdict(m) for m in self.metrics],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GuardrailReport:
        metrics = tuple(GuardrailMetric(**m) for m in data["metrics"])
        bad = [m.name for m in metrics if m.status not in STATUSES]
        if bad:
            raise ValueError(f"guardrail metric(s) {bad} have a status outside {STATUSES}")
        return cls(n_accounts=int(data["n_accounts"]), metrics=metrics)

    @classmethod
    def from_json(cls, text: str) -> GuardrailReport:
        return cls.from_dict(json.loads(text))


def psi(expected: np.ndarray, actual: np.ndarray, edges: np.ndarray) -> float:
    """PSI of ``actual`` against ``expected`` on the bins cut at ``edges`` (NaN, if any, is a bin of its own)."""

    def shares(values: np.ndarray) -> np.ndarray:
        codes = np.where(np.isnan(values), len(edges) + 1, np.searchsorted(edges, values, side="right"))
        counts = np.bincount(codes, minlength=len(edges) + 2)
        return np.maximum(counts / max(len(values), 1), PSI_EPSILON)

    e, a = shares(expected), shares(actual)
    return float(np.sum((a - e) * np.log(a / e)))


def quantile_edges(reference: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """The interior cut points of ``bins`` quantile bins of ``reference`` (ignoring NaN); repeated cuts collapse."""
    finite = reference[~np.isnan(reference)]
    if finite.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))


def _categorical_psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI over the categories of a non-numeric feature (None counts as a category)."""
    labels = np.concatenate([expected, actual]).astype(str)
    _, codes = np.unique(labels, return_inverse=True)
    k = int(codes.max()) + 1
    e = np.maximum(np.bincount(codes[: len(expected)], minlength=k) / max(len(expected), 1), PSI_EPSILON)
    a = np.maximum(np.bincount(codes[len(expected) :], minlength=k) / max(len(actual), 1), PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def _alert_mask(tiers: np.ndarray, alert_tier: str, what: str) -> np.ndarray:
    tiers = np.asarray(tiers).astype(str)
    known = np.isin(tiers, TIERS)
    if not known.all():
        position = int(np.flatnonzero(~known)[0])
        raise ValueError(f"{what}[{position}] is {str(tiers[position])!r}; tiers must be one of {TIERS}")
    return np.isin(tiers, TIERS[TIERS.index(alert_tier) :])


def _alert_ratio(
    champion_alert: np.ndarray, candidate_alert: np.ndarray, cfg: GuardrailConfig
) -> GuardrailMetric:
    n = len(champion_alert)
    champion_n, candidate_n = int(champion_alert.sum()), int(candidate_alert.sum())
    # Half an alert added to each side keeps the ratio finite when the champion raises none.
    ratio = (candidate_n + 0.5) / (champion_n + 0.5)
    details = {
        "champion_alerts": champion_n,
        "candidate_alerts": candidate_n,
        "champion_rate": champion_n / n if n else None,
        "candidate_rate": candidate_n / n if n else None,
        "alert_tier": cfg.alert_tier,
    }
    threshold = [cfg.alert_ratio_min, cfg.alert_ratio_max]
    if max(champion_n, candidate_n) < cfg.min_alerts:
        details["note"] = f"fewer than {cfg.min_alerts} alerts from either model"
        return GuardrailMetric("alert_rate_ratio", "insufficient_data", ratio, threshold, details)
    status: Status = "pass" if cfg.alert_ratio_min <= ratio <= cfg.alert_ratio_max else "breach"
    return GuardrailMetric("alert_rate_ratio", status, ratio, threshold, details)


def _score_psi(champion: np.ndarray, candidate: np.ndarray, cfg: GuardrailConfig) -> GuardrailMetric:
    if len(champion) == 0:
        note = {"note": "no accounts in the arm"}
        return GuardrailMetric("score_psi", "insufficient_data", None, cfg.score_psi_max, note)
    value = psi(champion, candidate, SCORE_BANDS)
    if len(champion) < cfg.min_psi_accounts:
        note = {"note": f"fewer than {cfg.min_psi_accounts} accounts in the arm", "accounts": len(champion)}
        return GuardrailMetric("score_psi", "insufficient_data", value, cfg.score_psi_max, note)
    status: Status = "pass" if value <= cfg.score_psi_max else "breach"
    return GuardrailMetric("score_psi", status, value, cfg.score_psi_max, {"bands": SCORE_BANDS.tolist()})


def _label_metrics(
    champion_alert: np.ndarray, candidate_alert: np.ndarray, labels: np.ndarray | None, cfg: GuardrailConfig
) -> list[GuardrailMetric]:
    """Precision and recall of both models' alerts on the matured labels; the values are candidate - champion."""
    if labels is None:
        labels = np.full(len(champion_alert), np.nan)
    labels = np.asarray(labels, dtype=float)
    if len(labels) != len(champion_alert):
        raise ValueError(f"labels has {len(labels)} values for {len(champion_alert)} accounts")
    known = ~np.isnan(labels)
    bad = known & ~np.isin(labels, (0.0, 1.0))
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"labels[{position}] is {float(labels[position])!r}; labels must be 0, 1 or NaN (not matured)"
        )
    positive = known & (labels == 1)
    n_positive = int(positive.sum())

    def rates(alert: np.ndarray) -> tuple[float | None, float | None]:
        flagged = int((alert & known).sum())
        hits = int((alert & positive).sum())
        return (hits / flagged if flagged else None, hits / n_positive if n_positive else None)

    (champion_precision, champion_recall), (candidate_precision, candidate_recall) = (
        rates(champion_alert),
        rates(candidate_alert),
    )
    out = []
    for name, champion, candidate, max_drop in (
        ("precision_drop", champion_precision, candidate_precision, cfg.max_precision_drop),
        ("recall_drop", champion_recall, candidate_recall, cfg.max_recall_drop),
    ):
        details: dict[str, Any] = {
            "champion": champion,
            "candidate": candidate,
            "labelled_accounts": int(known.sum()),
            "labelled_positives": n_positive,
        }
        if n_positive < cfg.min_labelled_positives or champion is None or candidate is None:
            details["note"] = "insufficient labels"
            out.append(GuardrailMetric(name, "insufficient_data", None, -max_drop, details))
            continue
        delta = candidate - champion
        out.append(
            GuardrailMetric(name, "pass" if delta >= -max_drop else "breach", delta, -max_drop, details)
        )
    return out


def _columns(frame: Any) -> dict[str, np.ndarray]:
    """The columns of a pandas/polars DataFrame, a pyarrow Table or a mapping of arrays, as numpy arrays."""
    if isinstance(frame, Mapping):
        return {str(k): np.asarray(v) for k, v in frame.items()}
    if hasattr(frame, "column_names"):  # pyarrow.Table
        return {name: frame.column(name).to_numpy() for name in frame.column_names}
    return {str(name): np.asarray(frame[name].to_numpy()) for name in frame.columns}


def _as_numeric(values: np.ndarray) -> np.ndarray | None:
    """``values`` as floats (None/NA as NaN), or None for a categorical column."""
    if values.dtype.kind in "biuf":
        return values.astype(float)
    if values.dtype.kind == "O":  # numbers with None, as pandas gives nullable columns
        try:
            return values.astype(float)
        except (TypeError, ValueError):
            return None
    return None


def _feature_drift(
    arm_features: Any, reference_features: Any, feature_names: Sequence[str] | None, cfg: GuardrailConfig
) -> GuardrailMetric:
    arm, ref = _columns(arm_features), _columns(reference_features)
    names = list(feature_names) if feature_names is not None else list(ref)
    missing = [
        f"{n} (in {where})"
        for n in names
        for where, cols in (("arm", arm), ("reference", ref))
        if n not in cols
    ]
    if missing:
        raise ValueError(f"feature drift: feature column(s) missing: {missing}")
    if not names:
        note = {"note": "no feature columns"}
        return GuardrailMetric("feature_drift", "insufficient_data", None, cfg.feature_psi_max, note)
    rows = {"arm_rows": len(arm[names[0]]), "reference_rows": len(ref[names[0]])}
    if min(rows.values()) < cfg.min_drift_rows:
        note = {"note": f"fewer than {cfg.min_drift_rows} rows on the arm or in the reference", **rows}
        return GuardrailMetric("feature_drift", "insufficient_data", None, cfg.feature_psi_max, note)
    per_feature = {}
    for name in names:  # one vectorized PSI per feature column
        expected, actual = _as_numeric(ref[name]), _as_numeric(arm[name])
        if expected is None or actual is None:
            per_feature[name] = _categorical_psi(ref[name], arm[name])
        else:
            per_feature[name] = psi(expected, actual, quantile_edges(expected))
    worst = max(per_feature, key=per_feature.__getitem__)
    status: Status = "pass" if per_feature[worst] <= cfg.feature_psi_max else "warn"
    details: dict[str, Any] = {"feature": worst, "per_feature": per_feature}
    if status == "warn":
        details["note"] = f"feature {worst} drifted from the model's reference window"
    return GuardrailMetric("feature_drift", status, per_feature[worst], cfg.feature_psi_max, details)


def evaluate_guardrails(
    champion_scores: Any,
    candidate_scores: Any,
    champion_tiers: Any,
    candidate_tiers: Any,
    *,
    labels: Any = None,
    label_tiers: tuple[Any, Any] | None = None,
    arm_features: Any = None,
    reference_features: Any = None,
    feature_names: Sequence[str] | None = None,
    config: GuardrailConfig | None = None,
) -> GuardrailReport:
    """Compare the candidate with the champion on the same accounts (position i is one account in every array).

    ``champion_scores``/``candidate_scores``: probabilities; ``*_tiers``: each model's tier names (see ``TIERS``).
    ``labels``: 1 / 0 for accounts whose label matured since the stage began, NaN otherwise (None: no labels yet).
    ``label_tiers``: ``(champion_tiers, candidate_tiers)`` aligned with ``labels`` when the labels belong to other
    rows than the day's scores: a label matures H days after its score day, so precision and recall compare the
    alerts of those earlier score days with their labels. Without it, ``labels`` align with the day's tiers.
    ``arm_features`` / ``reference_features``: frames of feature columns on the arm and on a training-window
    sample; without them the drift metric is ``insufficient_data``.
    """
    cfg = config or GuardrailConfig()
    champion = np.asarray(champion_scores, dtype=float)
    candidate = np.asarray(candidate_scores, dtype=float)
    n = len(champion)
    for what, values in (
        ("candidate_scores", candidate),
        ("champion_tiers", champion_tiers),
        ("candidate_tiers", candidate_tiers),
    ):
        if len(values) != n:
            raise ValueError(f"{what} has {len(values)} values but champion_scores has {n}; they must align")
    for what, values in (("champion_scores", champion), ("candidate_scores", candidate)):
        bad = ~np.isfinite(values)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{what}[{position}] is {float(values[position])!r}; scores must be finite")
    champion_alert = _alert_mask(champion_tiers, cfg.alert_tier, "champion_tiers")
    candidate_alert = _alert_mask(candidate_tiers, cfg.alert_tier, "candidate_tiers")
    if label_tiers is None:
        labelled_alerts = (champion_alert, candidate_alert)
    else:
        label_champion, label_candidate = label_tiers
        if len(label_champion) != len(label_candidate):
            raise ValueError(
                f"label_tiers: {len(label_champion)} champion tiers but {len(label_candidate)} candidate tiers"
            )
        labelled_alerts = (
            _alert_mask(label_champion, cfg.alert_tier, "label_tiers[0]"),
            _alert_mask(label_candidate, cfg.alert_tier, "label_tiers[1]"),
        )
    metrics = [
        _alert_ratio(champion_alert, candidate_alert, cfg),
        _score_psi(champion, candidate, cfg),
        *_label_metrics(*labelled_alerts, labels, cfg),
    ]
    if arm_features is None or reference_features is None:
        metrics.append(
            GuardrailMetric(
                "feature_drift",
                "insufficient_data",
                None,
                cfg.feature_psi_max,
                {"note": "no feature frames given"},
            )
        )
    else:
        metrics.append(_feature_drift(arm_features, reference_features, feature_names, cfg))
    return GuardrailReport(n, tuple(metrics))
