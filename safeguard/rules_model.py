"""The cold-start champion: the transparent rules score, served through the same path as a trained model.

Until a trained model passes the quality gate, downstream teams still get a risk table (issue 14): the rules of
:class:`~safeguard.baseline.RulesBaseline` (one rule per signal, "above the 95th percentile of all accounts"; the
score is the number of rules an account breaks) are written as a LightGBM model of one stump per rule:

    rule k:  leaf 0 when signal_k <= threshold_k or missing, leaf 1 when signal_k > threshold_k

so the raw margin is exactly the number of broken rules, and everything built for trained models works on it
unchanged: the registry (artifact and sha256), scoring, exact TreeSHAP reasons (a stump's contribution is
``fired - share of reference accounts that fire it``: the broken rules are the reasons, in the catalog's plain
words), the staged rollout, publishing and the risk tables. It is marked as such: its version starts with
``rules-``, its ``params.kind`` is ``rules`` and ``model_versions.kind`` says ``rules``.

Its tiers are counts of broken rules, not precision promises (no labels may exist yet): elevated = 2 rules,
high = 3, critical = 4 or more (each capped at the number of rules). Its probability is Platt-calibrated on the
labelled examples when there are any with both classes; otherwise it is the share of rules broken, and the card
says it is not a probability.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import lightgbm as lgb
import numpy as np
import pandas as pd

from safeguard.baseline import DEFAULT_SIGNALS, RulesBaseline
from safeguard.calibration import Calibrator
from safeguard.catalog import FeatureSpec
from safeguard.examples import LABEL_COLUMN, TrainingDataError, example_weights
from safeguard.risk_model import TrainedModel
from safeguard.tiers import TierThresholds
from safeguard.vocabulary import ALERT_TIERS, DEFAULT_TARGET_PRECISIONS, LABEL_HORIZON_DAYS, RULES_KIND

RULES_VERSION_PREFIX = "rules-"
RULES_FOR_TIER = {"elevated": 2, "high": 3, "critical": 4}
METHOD_RULE_COUNT = "rule_count"
_MISSING_NAN_DEFAULT_LEFT = 2 | (2 << 2)  # LightGBM decision_type: default_left, missing type NaN


def is_rules_model(model_or_params) -> bool:
    params = model_or_params.params if hasattr(model_or_params, "params") else model_or_params
    return (params or {}).get("kind") == RULES_KIND


def _stump(index: int, feature: int, threshold: float, fired: int, rows: int) -> str:
    # Counts are smoothed by one so a rule that fires on no reference row still has a cover for TreeSHAP.
    quiet, loud = rows - fired + 1, fired + 1
    return "\n".join(
        [
            f"Tree={index}",
            "num_leaves=2",
            "num_cat=0",
            f"split_feature={feature}",
            "split_gain=1",
            f"threshold={threshold!r}",
            f"decision_type={_MISSING_NAN_DEFAULT_LEFT}",
            "left_child=-1",
            "right_child=-2",
            "leaf_value=0 1",
            f"leaf_weight={quiet} {loud}",
            f"leaf_count={quiet} {loud}",
            f"internal_value={loud / (quiet + loud)!r}",
            f"internal_weight={quiet + loud}",
            f"internal_count={quiet + loud}",
            "is_linear=0",
            "shrinkage=1",
            "",
            "",
        ]
    )


def rules_booster(rules: RulesBaseline, reference: pd.DataFrame) -> lgb.Booster:
    """One stump per rule; ``reference`` (feature rows) gives the covers that TreeSHAP's base value uses."""
    names = [r.feature for r in rules.rules]
    X = reference[names].to_numpy(dtype=np.float64, na_value=np.nan)
    fired = (np.nan_to_num(X, nan=-np.inf) > np.array([r.threshold for r in rules.rules])).sum(axis=0)
    infos = " ".join("none" for _ in names)
    header = "\n".join(
        [
            "tree",
            "version=v4",
            "num_class=1",
            "num_tree_per_iteration=1",
            "label_index=0",
            f"max_feature_idx={len(names) - 1}",
            "objective=binary sigmoid:1",
            f"feature_names={' '.join(names)}",
            f"feature_infos={infos}",
            "",
            "",
        ]
    )
    trees = "".join(_stump(i, i, float(rule.threshold), int(fired[i]), len(X)) for i, rule in enumerate(rules.rules))
    return lgb.Booster(model_str=header + trees + "end of trees\n\npandas_categorical:null\n")


def _calibrator(booster: lgb.Booster, labelled: pd.DataFrame | None, n_rules: int) -> Calibrator:
    if labelled is not None and len(labelled) and labelled[LABEL_COLUMN].nunique() == 2:
        X = labelled[booster.feature_name()].to_numpy(dtype=np.float64, na_value=np.nan)
        margin = booster.predict(X, raw_score=True)
        return Calibrator._fit_platt(
            margin, labelled[LABEL_COLUMN].to_numpy(dtype=np.float64), example_weights(labelled)
        )
    # No usable labels: the share of rules broken (a score, not a probability; the card says so).
    return Calibrator("rules_share", knots_x=(0.0, float(n_rules)), knots_y=(0.0, 1.0))


def _thresholds(calibrator: Calibrator, n_rules: int) -> TierThresholds:
    counts = {tier: min(RULES_FOR_TIER[tier], n_rules) for tier in ALERT_TIERS}
    probability = {tier: float(calibrator(np.array([float(c)]))[0]) for tier, c in counts.items()}
    return TierThresholds(
        thresholds=probability,
        targets=dict(DEFAULT_TARGET_PRECISIONS),
        achieved_precision={tier: None for tier in ALERT_TIERS},
        support={f"{tier}_rules": counts[tier] for tier in ALERT_TIERS},
        method={tier: METHOD_RULE_COUNT for tier in ALERT_TIERS},
    )


def build_rules_model(
    catalog: Sequence[FeatureSpec],
    reference: pd.DataFrame,
    *,
    labelled: pd.DataFrame | None = None,
    signals: Sequence[str] = DEFAULT_SIGNALS,
    reason: str,
    label_horizon_days: int = LABEL_HORIZON_DAYS,
    created_at: datetime | None = None,
) -> TrainedModel:
    """The rules score as a servable model; ``reference``: recent feature rows (no labels needed) whose 95th
    percentiles become the rules; ``labelled``: training examples, if any, for calibration; ``reason``: why a
    rules champion serves (kept in its metrics and card)."""
    by_name = {spec.name: spec for spec in catalog}
    missing = [s for s in signals if s not in by_name or s not in reference.columns]
    if missing:
        raise TrainingDataError(f"rules score: the feature catalog or the feature rows lack {missing}")
    if reference.empty:
        raise TrainingDataError("rules score: no feature rows to set the rules' thresholds on")
    rules = RulesBaseline.fit(reference, signals)
    booster = rules_booster(rules, reference)
    calibrator = _calibrator(booster, labelled, len(rules.rules))
    days = pd.to_datetime(reference["as_of_date"]).dt.date
    window = (str(days.min()), str(days.max()))
    created = created_at or datetime.now(UTC).replace(microsecond=0)
    digest = hashlib.sha256(booster.model_to_string().encode()).hexdigest()[:10]
    return TrainedModel(
        version=f"{RULES_VERSION_PREFIX}{created:%Y%m%dT%H%M%SZ}-{digest}",
        created_at=created,
        booster=booster,
        calibrator=calibrator,
        features=[by_name[s] for s in signals],
        thresholds=_thresholds(calibrator, len(rules.rules)),
        params={"kind": RULES_KIND, "rules": rules.describe(), "quantile": 0.95},
        metrics={
            "kind": RULES_KIND,
            "served_because": reason,
            "calibration": calibrator.method,
            "reference_rows": len(reference),
            "trees": booster.num_trees(),
        },
        windows={"fit": window, "early_stopping": window, "validation": window},
        label_horizon_days=label_horizon_days,
    )
