"""Training of the account-risk model: LightGBM + calibration + tier thresholds (design §3.3).

Input: training examples (``account_id``, ``as_of_date``, ``label`` 0/1, numeric feature columns; optionally
``label_warned`` / ``label_reinstated``, see :mod:`safeguard.labels`) and the feature catalog
(:class:`~safeguard.catalog.FeatureSpec`: name, reason text, monotone direction).

Two boosters are trained from one time-ordered split (:mod:`safeguard.time_split`)::

    | fit | early stopping | gap >= H | validation |

1. **The held-out twin** is fitted on the fit slice, stopped early on the early-stopping slice and measured on
   validation. A gap of H days (the label horizon) keeps every label it learned from out of the validation days,
   so its metrics are honest out-of-time estimates: these are the metrics the quality gate judges and the card
   shows.
2. **The served model** is refitted on *every* matured day before validation (fit, early stopping and the gap),
   with the twin's tree count grown with the square root of the extra rows (:func:`refit_rounds`), then
   calibrated and given its tier thresholds on the validation slice, which none of its trees saw. Without the
   refit a five-week history (21 matured days) would leave one or two days to learn from. ``refit=False``
   serves the twin itself.

Labels are late and noisy: what fitting learns from warnings and reinstated blocks is a :class:`LabelPolicy`
(``label_policy``); evaluation always uses the plain label.

Bounded rows: :func:`~safeguard.examples.read_training_examples` samples inside DuckDB (negatives first) so at most
about ``max_rows`` examples reach memory, each with ``sample_weight`` = 1/rate; the training slices are bounded
again by ``max_train_rows`` the same way. Weights keep every estimate about the full population. Class imbalance:
on top of the weights, ``scale_pos_weight`` = sqrt(negatives / positives), a compromise between no reweighting
(few positive gradients) and full balancing (noisy leaves). The raw probabilities are therefore not calibrated;
the calibrator (:mod:`safeguard.calibration`) maps the raw margin to a probability. Ranking metrics are computed
on the margin, calibration metrics on the probability.

Bounded trees (``max_depth`` 6, 31 leaves, <= 300 rounds) keep exact TreeSHAP cheap: its cost per row grows with
trees × leaves × depth². Training is deterministic for a seed (fixed threads, ``deterministic=True``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import lightgbm as lgb
import numpy as np
import pandas as pd

from safeguard.calibration import Calibrator
from safeguard.catalog import FeatureSpec
from safeguard.examples import (
    KEY_COLUMNS,
    LABEL_COLUMN,
    TrainingDataError,
    example_weights,
    feature_matrix,
    sampling_rates,
)
from safeguard.labels import DEFAULT_LABEL_POLICY, REVIEW_COLUMN
from safeguard.labels import label_policy as resolve_label_policy
from safeguard.metrics import DEFAULT_REVIEW_CAPACITY, evaluate, expected_calibration_error
from safeguard.risk_model import TrainedModel
from safeguard.tiers import choose_thresholds
from safeguard.time_split import DEFAULT_LABEL_HORIZON_DAYS, time_split
from safeguard.vocabulary import DEFAULT_TARGET_PRECISIONS

DEFAULT_MAX_TRAIN_ROWS = 2_000_000
DEFAULT_PARAMS: dict = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "max_depth": 6,
    "min_data_in_leaf": 50,
    "min_sum_hessian_in_leaf": 1e-3,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "metric": ["average_precision", "auc"],
    "first_metric_only": True,
    "num_threads": 2,
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}
DEFAULT_NUM_BOOST_ROUND = 300
DEFAULT_EARLY_STOPPING_ROUNDS = 30
MAX_TREES = 300
MAX_DEPTH = 8


def _subsample(y: np.ndarray, base_weight: np.ndarray, max_rows: int, rng: np.random.Generator):
    """Rows to keep (at most about ``max_rows``) and their weights: the base weight over the keep rate."""
    pos = y == 1
    pos_rate, neg_rate = sampling_rates(int(pos.sum()), int((~pos).sum()), max_rows)
    rate = np.where(pos, pos_rate, neg_rate)
    idx = np.flatnonzero(rng.random(y.size) < rate)
    return idx, base_weight[idx] / rate[idx]


def _check_params(params: Mapping, num_boost_round: int) -> None:
    depth, leaves = int(params.get("max_depth", -1)), int(params.get("num_leaves", 31))
    if not 0 < depth <= MAX_DEPTH or leaves > 2**depth or num_boost_round > MAX_TREES:
        raise ValueError(
            f"exact TreeSHAP per row costs trees x leaves x depth^2: need 0 < max_depth <= {MAX_DEPTH}, "
            f"num_leaves <= 2^max_depth and num_boost_round <= {MAX_TREES}; got max_depth={depth}, "
            f"num_leaves={leaves}, num_boost_round={num_boost_round}"
        )


def _prepare_examples(examples: pd.DataFrame, features: Sequence[FeatureSpec]) -> pd.DataFrame:
    missing = [c for c in (*KEY_COLUMNS, LABEL_COLUMN) if c not in examples.columns]
    if missing:
        raise TrainingDataError(f"training examples: missing column(s) {missing}")
    if examples.empty:
        raise TrainingDataError(
            "no training examples: no day's label window has closed yet (the examples of day D appear once "
            "D + label horizon days have landed)"
        )
    labels = examples[LABEL_COLUMN]
    if labels.isna().any() or not labels.isin((0, 1, True, False)).all():
        bad = examples.loc[labels.isna() | ~labels.isin((0, 1, True, False)), list(KEY_COLUMNS)].head(3)
        raise TrainingDataError(
            f"training examples: label must be 0 or 1; first offending rows {bad.to_dict('records')}"
        )
    if not features:
        raise TrainingDataError("no features: the catalog is empty")
    out = examples.assign(as_of_date=pd.to_datetime(examples["as_of_date"]).dt.normalize())
    return out.sort_values(list(KEY_COLUMNS), kind="mergesort", ignore_index=True)


def _fit_booster(params, X, y, w, names, num_boost_round, valid=None, early_stopping_rounds=None):
    """One LightGBM fit; with ``valid`` (X, y, w) it stops early and keeps exactly the trees up to the best
    iteration, so the in-memory model is the saved artifact."""
    dtrain = lgb.Dataset(X, y, weight=w, feature_name=list(names), free_raw_data=True)
    if valid is None:
        return lgb.train(params, dtrain, num_boost_round=num_boost_round)
    dstop = lgb.Dataset(*valid[:2], weight=valid[2], reference=dtrain)
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=num_boost_round,
        valid_sets=[dstop],
        valid_names=["early_stopping"],
        callbacks=[lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False)],
    )
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))


def refit_rounds(best_iteration: int, fit_rows: int, refit_rows: int, cap: int) -> int:
    """Trees for the refit on all matured days: the held-out twin's early-stopped count, grown with the square
    root of the extra data (more rows support more trees at the same learning rate), at most ``cap``."""
    grown = best_iteration * math.sqrt(max(refit_rows, 1) / max(fit_rows, 1))
    return int(min(cap, max(best_iteration, round(grown))))


def train_risk_model(
    examples: pd.DataFrame,
    features: Sequence[FeatureSpec],
    *,
    label_horizon_days: int = DEFAULT_LABEL_HORIZON_DAYS,
    label_policy: str = DEFAULT_LABEL_POLICY,
    refit: bool = True,
    params: Mapping | None = None,
    num_boost_round: int = DEFAULT_NUM_BOOST_ROUND,
    early_stopping_rounds: int = DEFAULT_EARLY_STOPPING_ROUNDS,
    review_capacity: int = DEFAULT_REVIEW_CAPACITY,
    target_precisions: Mapping[str, float] = DEFAULT_TARGET_PRECISIONS,
    max_train_rows: int = DEFAULT_MAX_TRAIN_ROWS,
    validation_fraction: float = 0.25,
    early_stopping_fraction: float = 0.2,
    seed: int = 42,
    created_at: datetime | None = None,
) -> TrainedModel:
    """Train, calibrate, choose tier thresholds and measure a risk model (see the module doc for the method)."""
    features = list(features)
    policy = resolve_label_policy(label_policy)
    params = {**DEFAULT_PARAMS, **(params or {})}
    _check_params(params, num_boost_round)
    ex = _prepare_examples(examples, features)
    names = [f.name for f in features]
    X_all = feature_matrix(ex, names, where="training examples")
    split = time_split(
        ex["as_of_date"].to_numpy(),
        label_horizon_days,
        validation_fraction=validation_fraction,
        early_stopping_fraction=early_stopping_fraction,
    )
    day = ex["as_of_date"].to_numpy().astype("datetime64[D]")
    y_all = ex[LABEL_COLUMN].to_numpy(dtype=np.float64)  # evaluation always on the plain label
    target_all, policy_w = policy.targets(ex)  # what fitting learns from (see safeguard.labels)
    w_all = example_weights(ex)
    w_fit_all = w_all * policy_w
    rng = np.random.default_rng(seed)

    fit_rows = np.flatnonzero(np.isin(day, split.fit))
    es_rows = np.flatnonzero(np.isin(day, split.early_stopping))
    val_rows = np.flatnonzero(np.isin(day, split.validation))
    for name, rows in (("fit", fit_rows), ("early_stopping", es_rows), ("validation", val_rows)):
        positives = y_all[rows].sum()
        if positives == 0 or positives == rows.size:
            lo, hi = split.window(name)
            kind = "positive" if positives == 0 else "negative"
            raise TrainingDataError(
                f"training examples: no {kind} label in the {name} slice {lo} .. {hi} (a positive is a suspend "
                "or ban not reinstated within the label horizon): one class only cannot train a model; check "
                "the enforcement actions landed for those days. The current champion keeps serving"
            )

    def bounded(rows):
        rows = rows[w_fit_all[rows] > 0]  # examples the label policy leaves out
        keep, weight = _subsample(target_all[rows], w_fit_all[rows], max_train_rows, rng)
        return rows[keep], weight

    fit_rows, fit_w = bounded(fit_rows)
    es_rows, es_w = bounded(es_rows)

    n_pos = float(fit_w[target_all[fit_rows] == 1].sum())
    n_neg_weighted = float(fit_w[target_all[fit_rows] == 0].sum())
    params.setdefault("scale_pos_weight", math.sqrt(max(n_neg_weighted, 1.0) / max(n_pos, 1e-9)))
    params["seed"] = seed
    params["monotone_constraints"] = [int(f.direction or 0) for f in features]

    # 1. The held-out twin: fitted on the fit slice, stopped early on the next one, measured on validation
    #    after a gap of H days. Its metrics are the honest out-of-time estimate the gate judges.
    twin = _fit_booster(
        params,
        X_all[fit_rows],
        target_all[fit_rows],
        fit_w,
        names,
        num_boost_round,
        valid=(X_all[es_rows], target_all[es_rows], es_w),
        early_stopping_rounds=early_stopping_rounds,
    )
    twin_calibrator = Calibrator.fit(twin.predict(X_all[es_rows], raw_score=True), y_all[es_rows], es_w)
    validation = ex.iloc[val_rows].reset_index(drop=True)
    y_val, w_val = y_all[val_rows], w_all[val_rows]
    twin_margin = twin.predict(X_all[val_rows], raw_score=True)
    metrics = evaluate(
        y_val,
        twin_margin,
        day[val_rows],
        probability=twin_calibrator(twin_margin),
        weight=w_val,
        review_capacity=review_capacity,
    )
    metrics["ece_uncalibrated"] = expected_calibration_error(y_val, 1.0 / (1.0 + np.exp(-twin_margin)), w=w_val)
    metrics["fit_rows"] = int(fit_rows.size)
    metrics["early_stopping_rows"] = int(es_rows.size)
    metrics["twin_trees"] = twin.num_trees()
    metrics["label_policy"] = policy.name
    fitted = policy_w > 0
    # how many fitting positives the plain label gives, and how many the policy adds (warnings, late evidence)
    metrics["fit_label_positives"] = int(((y_all == 1) & fitted).sum())
    metrics["fit_policy_positives"] = int(((target_all == 1) & (y_all == 0) & fitted).sum())
    reviewed = ex[REVIEW_COLUMN].to_numpy() == 1 if REVIEW_COLUMN in ex else np.zeros(len(ex), dtype=bool)
    metrics["fit_review_positives"] = int((reviewed & (y_all == 1) & fitted).sum())  # of fit_label_positives
    if policy.linked:  # whether enforcement was propagated over same-owner links here, or skipped, and why
        metrics["linked_labels"] = policy.linked_evidence(ex).to_metrics()

    # 2. The served model: refitted on every matured day before validation (fit, early stopping and the gap),
    #    so a short history is not cut down to its first days; calibrated and given its tier thresholds on the
    #    validation slice, the newest days none of its trees saw.
    windows = {n: split.window(n) for n in ("fit", "early_stopping", "validation")}
    if refit:
        refit_rows, refit_w = bounded(np.flatnonzero(day < split.validation[0]))
        rounds = refit_rounds(twin.num_trees(), fit_rows.size, refit_rows.size, num_boost_round)
        booster = _fit_booster(params, X_all[refit_rows], target_all[refit_rows], refit_w, names, rounds)
        val_margin = booster.predict(X_all[val_rows], raw_score=True)
        calibrator = Calibrator.fit(val_margin, y_val, w_val)
        metrics["refit_rows"] = int(refit_rows.size)
        windows["refit"] = (str(day[refit_rows].min()), str(day[refit_rows].max()))
    else:
        booster, calibrator, val_margin = twin, twin_calibrator, twin_margin
    # Ranking of the served model on validation, for the comparison with a champion on the same rows (a refitted
    # model's calibration there is in-sample, so only ranking figures are kept).
    served = evaluate(y_val, val_margin, day[val_rows], weight=w_val, review_capacity=review_capacity)
    metrics["served"] = {k: served[k] for k in ("auc_roc", "auc_pr", "recall_at_1pct_fpr", "precision_at_k")}
    metrics["calibration"] = calibrator.method
    metrics["trees"] = booster.num_trees()
    thresholds = choose_thresholds(y_val, calibrator(val_margin), target_precisions, weight=w_val)

    created = created_at or datetime.now(UTC).replace(microsecond=0)
    digest = hashlib.sha256(booster.model_to_string().encode()).hexdigest()[:10]
    stored_params = {
        **params,
        "num_boost_round": num_boost_round,
        "early_stopping_rounds": early_stopping_rounds,
        "max_train_rows": max_train_rows,
        "label_policy": policy.to_dict(),
        "refit": refit,
    }
    return TrainedModel(
        version=f"risk-{created:%Y%m%dT%H%M%SZ}-{digest}",
        created_at=created,
        booster=booster,
        calibrator=calibrator,
        features=features,
        thresholds=thresholds,
        params=stored_params,
        metrics=metrics,
        windows=windows,
        label_horizon_days=label_horizon_days,
        validation_examples=validation,
    )
