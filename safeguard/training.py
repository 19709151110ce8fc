"""Training of the account-risk model: LightGBM + calibration + tier thresholds + quality gate (design §3.3).

Input: training examples (``account_id``, ``as_of_date``, ``label`` 0/1, numeric feature columns) and the feature
catalog (:class:`~safeguard.catalog.FeatureSpec`: name, reason text, monotone direction).

Time-ordered split over the distinct ``as_of_date`` values, oldest to newest::

    | fit | gap >= H | early stopping + calibration | gap >= H | validation |

``H`` is the label horizon: the label of day D looks at (D, D+H], so a gap of H days keeps every label of an
earlier slice from overlapping a later slice's days. The early-stopping slice picks the number of trees and fits
the calibrator; the validation slice is touched only to measure the model and choose the tier thresholds, so its
metrics are honest out-of-time estimates.

Bounded rows: :func:`read_training_examples` samples inside DuckDB (negatives first) so at most about
``max_rows`` examples reach memory, each with ``sample_weight`` = 1/rate; the fit and early-stopping slices are
bounded again by ``max_train_rows`` the same way. Weights keep every estimate (trees, calibration, metrics,
thresholds) about the full population. Class imbalance: on top of the weights, ``scale_pos_weight`` = sqrt(negatives / positives), a compromise between no reweighting
(few positive gradients) and full balancing (noisy leaves). The raw probabilities are therefore not calibrated;
the calibrator maps the raw margin to a probability.

Calibration: centered isotonic regression when the calibration slice has at least ``MIN_POSITIVES_FOR_ISOTONIC``
positives, else Platt scaling (a logistic curve on the margin). Centered isotonic (Oron & Flournoy 2017) joins
the centers of the isotonic steps with straight lines, so the map stays strictly increasing and does not tie
accounts that the model ranks apart. Ranking metrics are computed on the margin, calibration metrics on the
probability; the method used is recorded in the metrics (``calibration``).

Bounded trees (``max_depth`` 6, 31 leaves, <= 300 rounds) keep exact TreeSHAP cheap: its cost per row grows with
trees × leaves × depth². Training is deterministic for a seed (fixed threads, ``deterministic=True``).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import lightgbm as lgb
import numpy as np
import pandas as pd

from safeguard.catalog import FeatureSpec
from safeguard.metrics import DEFAULT_REVIEW_CAPACITY, evaluate, expected_calibration_error
from safeguard.tiers import DEFAULT_TARGET_PRECISIONS, TierThresholds, choose_thresholds

KEY_COLUMNS = ("account_id", "as_of_date")
LABEL_COLUMN = "label"
WEIGHT_COLUMN = "sample_weight"  # optional: set by read_training_examples when it samples rows
EXAMPLES_TABLE = "marts.fct_training_examples"
DEFAULT_MAX_READ_ROWS = 3_000_000
DEFAULT_LABEL_HORIZON_DAYS = 14
MIN_POSITIVES_FOR_ISOTONIC = 100
DEFAULT_MAX_TRAIN_ROWS = 2_000_000
ARTIFACT_FORMAT = "safeguard-risk-model/1"

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


class TrainingDataError(ValueError):
    """The training examples cannot train a model; the message says what is missing and where."""


# --------------------------------------------------------------------------------------------------------------
# Calibration


@dataclass(frozen=True)
class Calibrator:
    """Raw margin -> calibrated probability; stored as plain numbers so the artifact needs no pickle."""

    method: str  # "isotonic" (centered, piecewise linear through ``knots``) or "platt"
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0

    def __call__(self, margin) -> np.ndarray:
        m = np.asarray(margin, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(m, self.knots_x, self.knots_y)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.slope * m + self.intercept)))
        raise ValueError(f"unknown calibration method {self.method!r}")

    @classmethod
    def fit(cls, margin, y, weight=None, *, min_positives_for_isotonic: int = MIN_POSITIVES_FOR_ISOTONIC):
        m = np.asarray(margin, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        w = np.ones_like(m) if weight is None else np.asarray(weight, dtype=np.float64)
        if y.sum() >= min_positives_for_isotonic:
            return cls._fit_centered_isotonic(m, y, w)
        return cls._fit_platt(m, y, w)

    @classmethod
    def _fit_centered_isotonic(cls, m, y, w) -> Calibrator:
        from sklearn.isotonic import IsotonicRegression

        order = np.argsort(m, kind="mergesort")
        m, y, w = m[order], y[order], w[order]
        fitted = (
            IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            .fit(m, y, sample_weight=w)
            .predict(m)
        )
        # Each step (run of equal fitted values) becomes one knot at its weighted mean margin.
        starts = np.r_[0, np.flatnonzero(np.diff(fitted)) + 1]
        wsum = np.add.reduceat(w, starts)
        centers = np.add.reduceat(w * m, starts) / wsum
        values = fitted[starts]
        # Pin the ends to the observed margin range so the extreme steps keep their full extent.
        xs = np.r_[m[0], centers, m[-1]]
        ys = np.r_[values[0], values, values[-1]]
        keep = np.r_[True, np.diff(xs) > 0]
        return cls("isotonic", tuple(xs[keep].tolist()), tuple(ys[keep].tolist()))

    @classmethod
    def _fit_platt(cls, m, y, w) -> Calibrator:
        from sklearn.linear_model import LogisticRegression

        if y.min() == y.max():
            raise TrainingDataError("the calibration slice holds a single class; cannot calibrate")
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(m.reshape(-1, 1), y, sample_weight=w)
        return cls("platt", slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "knots_x": list(self.knots_x),
            "knots_y": list(self.knots_y),
            "slope": self.slope,
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Calibrator:
        return cls(
            d["method"], tuple(d["knots_x"]), tuple(d["knots_y"]), float(d["slope"]), float(d["intercept"])
        )


# --------------------------------------------------------------------------------------------------------------
# The model


def feature_matrix(frame: pd.DataFrame, names: Sequence[str], *, where: str = "features") -> np.ndarray:
    """The feature columns of ``frame`` in the model's order as float64 (nulls -> NaN, booleans -> 0/1)."""
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise TrainingDataError(f"{where}: missing feature column(s) {missing}")
    bad = [
        f"{n} ({frame[n].dtype})"
        for n in names
        if not (pd.api.types.is_numeric_dtype(frame[n]) or pd.api.types.is_bool_dtype(frame[n]))
    ]
    if bad:
        raise TrainingDataError(f"{where}: feature column(s) must be numeric, got {bad}")
    return frame[list(names)].to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass
class TrainedModel:
    """A booster, its calibrator and tier thresholds, and what is needed to reproduce and explain it.

    ``validation_examples`` is set only right after training (the gate re-scores the champion on it); a model
    loaded from the registry has it ``None``.
    """

    version: str
    created_at: datetime
    booster: lgb.Booster
    calibrator: Calibrator
    features: list[FeatureSpec]
    thresholds: TierThresholds
    params: dict
    metrics: dict
    windows: dict[str, tuple[str, str]]  # "fit" / "early_stopping" / "validation" -> (first, last) ISO days
    label_horizon_days: int
    validation_examples: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def training_window(self) -> tuple[str, str]:
        """First and last as_of_date whose examples the model has seen (fit through calibration)."""
        return self.windows["fit"][0], self.windows["early_stopping"][1]

    def matrix(self, frame: pd.DataFrame, *, where: str = "features") -> np.ndarray:
        return feature_matrix(frame, self.feature_names, where=where)

    def raw_margin(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(X, raw_score=True)

    def probability(self, X: np.ndarray) -> np.ndarray:
        return self.calibrator(self.raw_margin(X))

    def feature_importance(self) -> pd.DataFrame:
        """Gain and split counts per feature, highest gain first, with each feature's share of the total gain."""
        gain = self.booster.feature_importance("gain")
        df = pd.DataFrame(
            {"feature": self.feature_names, "gain": gain, "splits": self.booster.feature_importance("split")}
        )
        df["gain_share"] = df["gain"] / max(float(gain.sum()), 1e-12)
        return df.sort_values(["gain", "feature"], ascending=[False, True], ignore_index=True)

    # -- artifact: a zip of manifest.json + booster.txt (no pickle: loading never executes code) -------------

    def to_artifact(self) -> bytes:
        manifest = {
            "format": ARTIFACT_FORMAT,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "features": [vars(f) for f in self.features],
            "calibrator": self.calibrator.to_dict(),
            "thresholds": self.thresholds.to_dict(),
            "params": self.params,
            "metrics": self.metrics,
            "windows": {k: list(v) for k, v in self.windows.items()},
            "label_horizon_days": self.label_horizon_days,
        }
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in (
                ("manifest.json", json.dumps(manifest, sort_keys=True, indent=1)),
                ("booster.txt", self.booster.model_to_string()),
            ):
                z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), text)
        return buf.getvalue()

    @classmethod
    def from_artifact(cls, data: bytes) -> TrainedModel:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            manifest = json.loads(z.read("manifest.json"))
            booster_text = z.read("booster.txt").decode()
        if manifest.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"unknown model artifact format {manifest.get('format')!r}")
        return cls(
            version=manifest["version"],
            created_at=datetime.fromisoformat(manifest["created_at"]),
            booster=lgb.Booster(model_str=booster_text),
            calibrator=Calibrator.from_dict(manifest["calibrator"]),
            features=[FeatureSpec(**f) for f in manifest["features"]],
            thresholds=TierThresholds.from_dict(manifest["thresholds"]),
            params=manifest["params"],
            metrics=manifest["metrics"],
            windows={k: tuple(v) for k, v in manifest["windows"].items()},
            label_horizon_days=int(manifest["label_horizon_days"]),
        )


# --------------------------------------------------------------------------------------------------------------
# Split


@dataclass(frozen=True)
class TimeSplit:
    fit: np.ndarray  # datetime64[D] days of each slice
    early_stopping: np.ndarray
    validation: np.ndarray

    def window(self, name: str) -> tuple[str, str]:
        days = getattr(self, name)
        return str(days[0]), str(days[-1])


def _minimum_days(label_horizon_days: int, validation_fraction: float) -> int:
    """The fewest distinct days that leave two days before the gap (one to fit, one to stop early)."""
    n = label_horizon_days + 2
    while n - max(1, round(n * validation_fraction)) - label_horizon_days < 1:
        n += 1
    return n


def time_split(
    days,
    label_horizon_days: int = DEFAULT_LABEL_HORIZON_DAYS,
    *,
    validation_fraction: float = 0.25,
    early_stopping_fraction: float = 0.2,
) -> TimeSplit:
    """Split distinct days into fit / early-stopping / validation, oldest first.

    The validation slice is the newest ``validation_fraction`` of the days, and a gap of at least H days separates
    it from everything the model learns from, so no label window of a training day reaches into validation and
    the metrics and tier thresholds are honest out-of-time estimates. Of the days before the gap, the newest
    ``early_stopping_fraction`` stop boosting and fit the calibrator; the older ones are fitted. There is no second
    gap between fitting and early stopping: it would cost another H days of a short history for little gain, as
    early stopping and calibration only pick a tree count and a monotone map.
    """
    d = np.unique(np.asarray(days, dtype="datetime64[D]"))
    gap = np.timedelta64(label_horizon_days, "D")
    n_val = max(1, round(d.size * validation_fraction))
    val = d[-n_val:]
    pool = d[d <= val[0] - gap]
    n_es = max(1, round(pool.size * early_stopping_fraction))
    es = pool[-n_es:]
    fit = pool[pool < es[0]] if pool.size else pool
    if fit.size == 0:
        span = f"{d[0]} .. {d[-1]}" if d.size else "no days"
        raise TrainingDataError(
            f"training examples span {d.size} as_of_date(s) ({span}): too few for a time split with a "
            f"{label_horizon_days}-day gap (fit, early stopping, gap, validation) to keep any day to fit on; "
            f"give more days (at least {_minimum_days(label_horizon_days, validation_fraction)}, more in practice)"
        )
    return TimeSplit(fit, es, val)


# --------------------------------------------------------------------------------------------------------------
# Training


def sampling_rates(n_pos: int, n_neg: int, max_rows: int) -> tuple[float, float]:
    """Keep rates (positives, negatives) so about ``max_rows`` rows remain: negatives go first; positives are
    thinned only when they alone would take more than half of the budget."""
    if n_pos + n_neg <= max_rows:
        return 1.0, 1.0
    pos_rate = min(1.0, (max_rows / 2) / max(n_pos, 1))
    neg_rate = min(1.0, (max_rows - pos_rate * n_pos) / max(n_neg, 1))
    return pos_rate, max(neg_rate, 1e-6)


def _subsample(y: np.ndarray, base_weight: np.ndarray, max_rows: int, rng: np.random.Generator):
    """Rows to keep (at most about ``max_rows``) and their weights: the base weight over the keep rate."""
    pos = y == 1
    pos_rate, neg_rate = sampling_rates(int(pos.sum()), int((~pos).sum()), max_rows)
    rate = np.where(pos, pos_rate, neg_rate)
    idx = np.flatnonzero(rng.random(y.size) < rate)
    return idx, base_weight[idx] / rate[idx]


def read_training_examples(
    con, *, max_rows: int = DEFAULT_MAX_READ_ROWS, table: str = EXAMPLES_TABLE
) -> pd.DataFrame:
    """The training examples from the warehouse, sampled inside DuckDB to at most about ``max_rows`` rows.

    Millions of accounts × many days do not fit in memory; each class is kept at a rate (see
    :func:`sampling_rates`) by a deterministic hash of (account_id, as_of_date), and ``sample_weight`` = 1/rate
    lets training, calibration and every metric estimate the full population.
    """
    n_pos, n_all = con.execute(f"SELECT coalesce(sum(label), 0), count(*) FROM {table}").fetchone()
    pos_rate, neg_rate = sampling_rates(int(n_pos), int(n_all - n_pos), max_rows)
    return con.execute(
        f"""
        WITH rated AS (
            SELECT *, CASE WHEN label = 1 THEN ?::DOUBLE ELSE ?::DOUBLE END AS _rate
            FROM {table}
        )
        SELECT * EXCLUDE (_rate), 1.0 / _rate AS {WEIGHT_COLUMN}
        FROM rated
        WHERE _rate >= 1.0
           OR (hash(account_id || '|' || CAST(as_of_date AS VARCHAR)) % 1000000) < _rate * 1000000
        ORDER BY as_of_date, account_id
        """,
        [pos_rate, neg_rate],
    ).df()


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
        raise TrainingDataError("training examples: no rows")
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


def example_weights(examples: pd.DataFrame) -> np.ndarray:
    if WEIGHT_COLUMN not in examples.columns:
        return np.ones(len(examples))
    return examples[WEIGHT_COLUMN].to_numpy(dtype=np.float64)


def model_metrics(model: TrainedModel, examples: pd.DataFrame, *, review_capacity: int) -> dict:
    """The registry's metrics of ``model`` on labelled ``examples`` (ranking on margin, calibration on probability)."""
    X = model.matrix(examples, where="evaluation examples")
    margin = model.raw_margin(X)
    y = examples[LABEL_COLUMN].to_numpy(dtype=np.float64)
    return evaluate(
        y,
        margin,
        examples["as_of_date"].to_numpy(),
        probability=model.calibrator(margin),
        weight=example_weights(examples),
        review_capacity=review_capacity,
    )


def train_risk_model(
    examples: pd.DataFrame,
    features: Sequence[FeatureSpec],
    *,
    label_horizon_days: int = DEFAULT_LABEL_HORIZON_DAYS,
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
    y_all = ex[LABEL_COLUMN].to_numpy(dtype=np.float64)
    w_all = example_weights(ex)
    rng = np.random.default_rng(seed)

    fit_rows = np.flatnonzero(np.isin(day, split.fit))
    es_rows = np.flatnonzero(np.isin(day, split.early_stopping))
    val_rows = np.flatnonzero(np.isin(day, split.validation))
    for name, rows in (("fit", fit_rows), ("early_stopping", es_rows), ("validation", val_rows)):
        if y_all[rows].sum() == 0:
            lo, hi = split.window(name)
            raise TrainingDataError(f"training examples: no positive label in the {name} slice {lo} .. {hi}")

    fit_keep, fit_w = _subsample(y_all[fit_rows], w_all[fit_rows], max_train_rows, rng)
    fit_rows = fit_rows[fit_keep]
    es_keep, es_w = _subsample(y_all[es_rows], w_all[es_rows], max_train_rows, rng)
    es_rows = es_rows[es_keep]

    n_pos = float(fit_w[y_all[fit_rows] == 1].sum())
    n_neg_weighted = float(fit_w[y_all[fit_rows] == 0].sum())
    params.setdefault("scale_pos_weight", math.sqrt(max(n_neg_weighted, 1.0) / n_pos))
    params["seed"] = seed
    params["monotone_constraints"] = [int(f.direction or 0) for f in features]

    dtrain = lgb.Dataset(
        X_all[fit_rows], y_all[fit_rows], weight=fit_w, feature_name=names, free_raw_data=True
    )
    dstop = lgb.Dataset(X_all[es_rows], y_all[es_rows], weight=es_w, reference=dtrain)
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=num_boost_round,
        valid_sets=[dstop],
        valid_names=["early_stopping"],
        callbacks=[lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False)],
    )
    # Keep exactly the trees up to the best iteration, so the in-memory model is the saved artifact.
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))

    calibrator = Calibrator.fit(booster.predict(X_all[es_rows], raw_score=True), y_all[es_rows], es_w)

    validation = ex.iloc[val_rows].reset_index(drop=True)
    val_margin = booster.predict(X_all[val_rows], raw_score=True)
    val_prob = calibrator(val_margin)
    y_val, w_val = y_all[val_rows], w_all[val_rows]
    metrics = evaluate(
        y_val, val_margin, day[val_rows], probability=val_prob, weight=w_val, review_capacity=review_capacity
    )
    metrics["ece_uncalibrated"] = expected_calibration_error(
        y_val, 1.0 / (1.0 + np.exp(-val_margin)), w=w_val
    )
    metrics["calibration"] = calibrator.method
    metrics["trees"] = booster.num_trees()
    metrics["fit_rows"] = int(fit_rows.size)
    metrics["early_stopping_rows"] = int(es_rows.size)
    thresholds = choose_thresholds(y_val, val_prob, target_precisions, weight=w_val)

    created = created_at or datetime.now(UTC).replace(microsecond=0)
    digest = hashlib.sha256(booster.model_to_string().encode()).hexdigest()[:10]
    stored_params = {
        **params,
        "num_boost_round": num_boost_round,
        "early_stopping_rounds": early_stopping_rounds,
        "max_train_rows": max_train_rows,
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
        windows={n: split.window(n) for n in ("fit", "early_stopping", "validation")},
        label_horizon_days=label_horizon_days,
        validation_examples=validation,
    )


# --------------------------------------------------------------------------------------------------------------
# Quality gate


@dataclass(frozen=True)
class GateConfig:
    """Absolute floors on validation metrics, and how much worse than the champion a candidate may be."""

    # Enforcement in the next 14 days is rare (0.2-0.7% of account-days in the demo world), so AUC-PR is small in
    # absolute terms: 0.10 is a 15-50x lift over the base rate, and a model below it is not worth an analyst's time.
    min_auc_pr: float = 0.10
    min_recall_at_1pct_fpr: float = 0.2
    max_ece: float = 0.05
    champion_tolerance: float = 0.02  # absolute, on AUC-PR and recall at 1% FPR


@dataclass(frozen=True)
class GateResult:
    passed: bool
    checks: list[dict]  # each {name, value, threshold, comparison, passed}

    @property
    def failures(self) -> list[str]:
        return [
            f"{c['name']} = {c['value']:.4f} (needs {c['comparison']} {c['threshold']:.4f})"
            for c in self.checks
            if not c["passed"]
        ]

    def to_dict(self) -> dict:
        return {"passed": self.passed, "checks": self.checks, "failures": self.failures}


def quality_gate(
    metrics: Mapping[str, float],
    config: GateConfig = GateConfig(),
    champion_metrics: Mapping[str, float] | None = None,
) -> GateResult:
    """Pass iff the floors hold and, when a champion exists, the candidate is not worse than it by more than the
    tolerance on the same validation rows (``champion_metrics`` = the champion re-scored on them)."""
    checks = [
        ("auc_pr", metrics["auc_pr"], config.min_auc_pr, ">="),
        ("recall_at_1pct_fpr", metrics["recall_at_1pct_fpr"], config.min_recall_at_1pct_fpr, ">="),
        ("ece", metrics["ece"], config.max_ece, "<="),
    ]
    if champion_metrics is not None:
        for name in ("auc_pr", "recall_at_1pct_fpr"):
            checks.append(
                (
                    f"{name}_vs_champion",
                    metrics[name],
                    champion_metrics[name] - config.champion_tolerance,
                    ">=",
                )
            )
    rows = []
    for name, value, threshold, op in checks:
        ok = bool(np.isfinite(value)) and (value >= threshold if op == ">=" else value <= threshold)
        rows.append(
            {
                "name": name,
                "value": float(value),
                "threshold": float(threshold),
                "comparison": op,
                "passed": ok,
            }
        )
    return GateResult(all(r["passed"] for r in rows), rows)


def champion_metrics_on(
    champion: TrainedModel, candidate: TrainedModel, *, review_capacity: int
) -> dict | None:
    """The champion's metrics on the candidate's validation rows, or None when it needs features they lack."""
    val = candidate.validation_examples
    if val is None:
        raise ValueError(
            f"model {candidate.version} has no validation examples (only a freshly trained one has)"
        )
    if not set(champion.feature_names) <= set(val.columns):
        return None
    return model_metrics(champion, val, review_capacity=review_capacity)
