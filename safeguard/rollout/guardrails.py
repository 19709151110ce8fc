"""Rollout guardrails: candidate vs champion on the SAME accounts of the candidate arm (design §3.4). Pure numpy.

Every metric ends in one status:
- ``pass``: within its threshold;
- ``breach``: the candidate is worse than allowed; the policy rolls back;
- ``warn``: something moved that a person should look at (feature drift); the policy records it without holding;
- ``insufficient_data``: too few accounts, alerts or matured labels to judge, or an interval that does not settle
  the question yet; never a breach, and it holds the rollout (``safeguard.rollout.policy``): nobody judged it.

Evidence is pooled over every day of the stage (rows are account-days; ``accounts`` names each row's account) and
judged with always-valid intervals (:mod:`safeguard.rollout.sequential`), which stay correct although the rollout
looks every day: a metric passes when its whole interval is within the bound, breaches when the whole interval is
beyond it, and is ``insufficient_data`` in between. Each metric records n, the estimate, the interval and the
bound in ``details["interval"]``, so a reader can re-check the verdict.

The metrics:
- ``alert_rate_ratio``: the share of accounts at or above the alert tier (default ``elevated``), candidate over
  champion. Each model's own tier thresholds decide its tiers, so a tier means the same under both.
- ``score_psi``: population stability index of the candidate's calibrated scores against the champion's, on fixed
  risk bands (``SCORE_BANDS``: everything under 1% is one band, then 1-2%, 2-5%, ... 50%+). Not on the champion's
  deciles: most accounts sit in a low tail where two well-calibrated models legitimately differ (an isotonic map
  gives every quiet account ~0.1%, a Platt map ~0.01%) and no decision depends on the difference; deciles there
  made a sound retrain look like a broken one (PSI 5.5 on the demo world). PSI = sum((a - e) * ln(a / e)); shares
  are floored at ``PSI_EPSILON`` so empty bins stay finite.
- ``alert_agreement``: paired on the same accounts and days, the share of the champion's alerts that the
  candidate also raises minus the share of the champion's non-alerts that it flags (chance-corrected: 1 for the
  same alerts, about 0 for alerts drawn at random). A candidate with no skill (say, the champion's scores shuffled
  across accounts) passes the two distribution checks above and breaches here.
  Its details hold the rank agreement (Spearman), the alerts kept, dropped and new, and the tier migration matrix.
- ``precision_drop`` / ``recall_drop``: each model's alerts scored against the labels matured since the stage began;
  the value is candidate minus champion. Recall is paired (both models' alerts on the same labelled positives);
  precision compares the two models' own alerts (a union bound of two intervals). These are the **outcome**
  guardrails: the policy advances only when at least one of them passed.
- ``feature_drift``: the largest PSI of a feature on the arm against the training-window reference sample
  (not judged below ``min_drift_rows`` rows on either side).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np

from safeguard.rollout.drift import columns, feature_psis, psi, quantile_edges  # noqa: F401 (re-exported)
from safeguard.rollout.paired import rank_agreement, tier_migration
from safeguard.rollout.sequential import (
    Interval,
    SequentialTest,
    difference_interval,
    judge,
    mean_interval,
    ratio_interval,
)
from safeguard.vocabulary import TIERS

# Interior edges of the score-PSI bands on calibrated probability (see the module docstring).
SCORE_BANDS = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.5])

Status = Literal["pass", "breach", "warn", "insufficient_data"]
STATUSES: tuple[Status, ...] = ("pass", "breach", "warn", "insufficient_data")

# What each guardrail is for (the policy reads these): outcomes judge the candidate's catches on matured labels;
# comparisons judge its scores against the champion's on the same accounts; shared ones describe the traffic both
# models see, and are reported but never decide.
OUTCOME_GUARDRAILS = ("precision_drop", "recall_drop")
COMPARISON_GUARDRAILS = ("alert_rate_ratio", "alert_agreement", "score_psi")
SHARED_GUARDRAILS = ("feature_drift",)


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
    # Chance-corrected agreement of the two models' alerts on the same accounts (share of the champion's alerts
    # kept minus share of its non-alerts flagged): a retrained model keeps most alerts (0.6-0.9); a model with no
    # skill scores about 0 whatever its alert rate.
    min_alert_agreement: float = 0.3
    sequential: SequentialTest = field(default_factory=SequentialTest)

    def __post_init__(self) -> None:
        if isinstance(self.sequential, Mapping):
            object.__setattr__(self, "sequential", SequentialTest.from_dict(self.sequential))
        if not 0 <= self.min_alert_agreement <= 1:
            raise ValueError(f"GuardrailConfig.min_alert_agreement must be in [0, 1], got {self.min_alert_agreement!r}")
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
                raise ValueError(f"GuardrailConfig.{name} must be an integer >= 1, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sequential": self.sequential.to_dict()}

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
        interval = self.details.get("interval")
        if interval and interval.get("n"):
            low, high = (
                "-inf" if interval["low"] is None else f"{interval['low']:.4g}",
                "inf" if interval["high"] is None else f"{interval['high']:.4g}",
            )
            value += f" interval [{low}, {high}] n={interval['n']}"
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


def _alert_mask(tiers: np.ndarray, alert_tier: str, what: str) -> np.ndarray:
    tiers = np.asarray(tiers).astype(str)
    known = np.isin(tiers, TIERS)
    if not known.all():
        position = int(np.flatnonzero(~known)[0])
        raise ValueError(f"{what}[{position}] is {str(tiers[position])!r}; tiers must be one of {TIERS}")
    return np.isin(tiers, TIERS[TIERS.index(alert_tier) :])


def _undecided_note(interval: Interval, bound: str) -> str:
    return f"interval {interval.describe()} does not settle {bound} yet; more evidence needed"


def _alert_ratio(
    champion_alert: np.ndarray, candidate_alert: np.ndarray, accounts: np.ndarray | None, cfg: GuardrailConfig
) -> GuardrailMetric:
    n = len(champion_alert)
    champion_n, candidate_n = int(champion_alert.sum()), int(candidate_alert.sum())
    # Half an alert added to each side keeps the shown ratio finite when the champion raises none.
    ratio = (candidate_n + 0.5) / (champion_n + 0.5)
    interval = ratio_interval(candidate_alert, champion_alert, clusters=accounts, test=cfg.sequential)
    details: dict[str, Any] = {
        "champion_alerts": champion_n,
        "candidate_alerts": candidate_n,
        "champion_rate": champion_n / n if n else None,
        "candidate_rate": candidate_n / n if n else None,
        "alert_tier": cfg.alert_tier,
        "interval": interval.to_dict(),
    }
    threshold = [cfg.alert_ratio_min, cfg.alert_ratio_max]
    if max(champion_n, candidate_n) < cfg.min_alerts:
        details["note"] = f"{max(champion_n, candidate_n)} alerts, fewer than {cfg.min_alerts} from either model"
        return GuardrailMetric("alert_rate_ratio", "insufficient_data", ratio, threshold, details)
    verdict = judge(interval, at_least=cfg.alert_ratio_min, at_most=cfg.alert_ratio_max)
    if verdict == "undecided":
        details["note"] = _undecided_note(interval, f"[{cfg.alert_ratio_min}, {cfg.alert_ratio_max}]")
        return GuardrailMetric("alert_rate_ratio", "insufficient_data", ratio, threshold, details)
    return GuardrailMetric("alert_rate_ratio", verdict, ratio, threshold, details)


def _score_psi(
    champion: np.ndarray, candidate: np.ndarray, accounts: np.ndarray | None, cfg: GuardrailConfig
) -> GuardrailMetric:
    if len(champion) == 0:
        note = {"note": "no accounts in the arm"}
        return GuardrailMetric("score_psi", "insufficient_data", None, cfg.score_psi_max, note)
    value = psi(champion, candidate, SCORE_BANDS)
    # Distinct accounts, not pooled account-days: the same 50 accounts over four days are 50 draws of a score
    # distribution, and a PSI over so few is mostly noise (measured: 0.71 on a 1% arm of the demo world whose
    # shadow PSI over 4,915 accounts had passed).
    n = len(champion) if accounts is None else len(np.unique(accounts))
    if n < cfg.min_psi_accounts:
        note = {"note": f"fewer than {cfg.min_psi_accounts} accounts in the arm", "accounts": n}
        return GuardrailMetric("score_psi", "insufficient_data", value, cfg.score_psi_max, note)
    status: Status = "pass" if value <= cfg.score_psi_max else "breach"
    return GuardrailMetric("score_psi", status, value, cfg.score_psi_max, {"bands": SCORE_BANDS.tolist()})


def _alert_agreement(
    champion_alert: np.ndarray,
    candidate_alert: np.ndarray,
    accounts: np.ndarray | None,
    cfg: GuardrailConfig,
    paired: dict[str, Any],
) -> GuardrailMetric:
    """Chance-corrected agreement of the alerts: the share of the champion's alerts the candidate keeps minus the
    share of the champion's non-alerts it flags (1: the same alerts; 0: no better than alerting at random)."""
    quiet = ~champion_alert
    interval = difference_interval(
        candidate_alert[champion_alert].astype(float),
        candidate_alert[quiet].astype(float),
        first_clusters=None if accounts is None else accounts[champion_alert],
        second_clusters=None if accounts is None else accounts[quiet],
        test=cfg.sequential,
    )
    champion_n = int(champion_alert.sum())
    details: dict[str, Any] = {
        "champion_alerts": champion_n,
        "kept": int((champion_alert & candidate_alert).sum()),
        "dropped": int((champion_alert & ~candidate_alert).sum()),
        "new": int((candidate_alert & quiet).sum()),
        "interval": interval.to_dict(),
        **paired,
    }
    value, bound = interval.estimate, cfg.min_alert_agreement
    if champion_n < cfg.min_alerts:
        details["note"] = f"{champion_n} champion alerts, fewer than {cfg.min_alerts}"
        return GuardrailMetric("alert_agreement", "insufficient_data", value, bound, details)
    verdict = judge(interval, at_least=bound)
    if verdict == "undecided":
        details["note"] = _undecided_note(interval, f">= {bound}")
        return GuardrailMetric("alert_agreement", "insufficient_data", value, bound, details)
    return GuardrailMetric("alert_agreement", verdict, value, bound, details)


def _label_metrics(
    champion_alert: np.ndarray,
    candidate_alert: np.ndarray,
    labels: np.ndarray | None,
    accounts: np.ndarray | None,
    cfg: GuardrailConfig,
) -> list[GuardrailMetric]:
    """Precision and recall of both models' alerts on the matured labels; the values are candidate - champion."""
    if labels is None:
        labels = np.full(len(champion_alert), np.nan)
    labels = np.asarray(labels, dtype=float)
    if len(labels) != len(champion_alert):
        raise ValueError(f"labels has {len(labels)} values for {len(champion_alert)} accounts")
    if accounts is not None and len(accounts) != len(labels):
        raise ValueError(f"label_accounts has {len(accounts)} values for {len(labels)} labels; they must align")
    known = ~np.isnan(labels)
    bad = known & ~np.isin(labels, (0.0, 1.0))
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise ValueError(f"labels[{position}] is {float(labels[position])!r}; labels must be 0, 1 or NaN (not matured)")
    positive = known & (labels == 1)
    n_positive = int(positive.sum())

    def clusters(mask: np.ndarray) -> np.ndarray | None:
        return None if accounts is None else accounts[mask]

    def rates(alert: np.ndarray) -> tuple[float | None, float | None]:
        flagged = int((alert & known).sum())
        hits = int((alert & positive).sum())
        return (hits / flagged if flagged else None, hits / n_positive if n_positive else None)

    (champion_precision, champion_recall), (candidate_precision, candidate_recall) = (
        rates(champion_alert),
        rates(candidate_alert),
    )
    # Recall: paired on the same labelled positives (each row: candidate caught it - champion caught it).
    recall = mean_interval(
        candidate_alert[positive].astype(float) - champion_alert[positive].astype(float),
        clusters=clusters(positive),
        test=cfg.sequential,
        value_range=2.0,
    )
    # Precision: each model's own alerts among the labelled rows.
    candidate_flagged, champion_flagged = candidate_alert & known, champion_alert & known
    precision = difference_interval(
        positive[candidate_flagged].astype(float),
        positive[champion_flagged].astype(float),
        first_clusters=clusters(candidate_flagged),
        second_clusters=clusters(champion_flagged),
        test=cfg.sequential,
    )
    out = []
    for name, champion, candidate, max_drop, interval in (
        ("precision_drop", champion_precision, candidate_precision, cfg.max_precision_drop, precision),
        ("recall_drop", champion_recall, candidate_recall, cfg.max_recall_drop, recall),
    ):
        details: dict[str, Any] = {
            "champion": champion,
            "candidate": candidate,
            "labelled_accounts": int(known.sum()),
            "labelled_positives": n_positive,
            "min_labelled_positives": cfg.min_labelled_positives,
            "interval": interval.to_dict(),
        }
        if n_positive < cfg.min_labelled_positives or champion is None or candidate is None:
            details["note"] = f"{n_positive} of {cfg.min_labelled_positives} labelled positives"
            out.append(GuardrailMetric(name, "insufficient_data", None, -max_drop, details))
            continue
        delta = candidate - champion
        verdict = judge(interval, at_least=-max_drop)
        if verdict == "undecided":
            details["note"] = _undecided_note(interval, f">= {-max_drop}")
            out.append(GuardrailMetric(name, "insufficient_data", delta, -max_drop, details))
            continue
        out.append(GuardrailMetric(name, verdict, delta, -max_drop, details))
    return out


def _feature_drift(
    arm_features: Any, reference_features: Any, feature_names: Sequence[str] | None, cfg: GuardrailConfig
) -> GuardrailMetric:
    arm, ref = columns(arm_features), columns(reference_features)
    names = list(feature_names) if feature_names is not None else list(ref)
    missing = [
        f"{n} (in {where})" for n in names for where, cols in (("arm", arm), ("reference", ref)) if n not in cols
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
    per_feature = feature_psis(arm, ref, names)
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
    accounts: Any = None,
    labels: Any = None,
    label_tiers: tuple[Any, Any] | None = None,
    label_accounts: Any = None,
    arm_features: Any = None,
    reference_features: Any = None,
    feature_names: Sequence[str] | None = None,
    config: GuardrailConfig | None = None,
) -> GuardrailReport:
    """Compare the candidate with the champion on the same rows (position i is one account-day in every array).

    ``champion_scores``/``candidate_scores``: probabilities; ``*_tiers``: each model's tier names (see ``TIERS``).
    ``accounts``: the account of each row, when rows pool several days (the intervals count accounts, not rows).
    ``labels``: 1 / 0 for rows whose label matured since the stage began, NaN otherwise (None: no labels yet).
    ``label_tiers``: ``(champion_tiers, candidate_tiers)`` aligned with ``labels`` when the labels belong to other
    rows than the scores: a label matures H days after its score day, so precision and recall compare the
    alerts of those earlier score days with their labels. Without it, ``labels`` align with the scores' tiers.
    ``label_accounts``: the account of each labelled row (default: ``accounts`` when the labels align with them).
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
        *((("accounts", accounts),) if accounts is not None else ()),
    ):
        if len(values) != n:
            raise ValueError(f"{what} has {len(values)} values but champion_scores has {n}; they must align")
    for what, values in (("champion_scores", champion), ("candidate_scores", candidate)):
        bad = ~np.isfinite(values)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{what}[{position}] is {float(values[position])!r}; scores must be finite")
    row_accounts = None if accounts is None else np.asarray(accounts)
    champion_alert = _alert_mask(champion_tiers, cfg.alert_tier, "champion_tiers")
    candidate_alert = _alert_mask(candidate_tiers, cfg.alert_tier, "candidate_tiers")
    if label_tiers is None:
        labelled_alerts = (champion_alert, candidate_alert)
        labelled_accounts = row_accounts if label_accounts is None else np.asarray(label_accounts)
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
        labelled_accounts = None if label_accounts is None else np.asarray(label_accounts)
    paired = {
        "rank_agreement": rank_agreement(champion, candidate),
        "tier_migration": tier_migration(champion_tiers, candidate_tiers),
    }
    metrics = [
        _alert_ratio(champion_alert, candidate_alert, row_accounts, cfg),
        _alert_agreement(champion_alert, candidate_alert, row_accounts, cfg, paired),
        _score_psi(champion, candidate, row_accounts, cfg),
        *_label_metrics(*labelled_alerts, labels, labelled_accounts, cfg),
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
