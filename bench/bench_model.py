"""Benchmark of the model step: training and scoring, each next to its floor measured in the same run.

- Training: ``train_risk_model`` (split, sampling, LightGBM with early stopping, calibration, thresholds,
  metrics) next to a bare ``lgb.train`` with the same parameters on the same fit and early-stopping rows.
- Scoring: ``score_accounts`` for N accounts (probability, tier, reasons JSON for the explained set) next to
  ``booster.predict`` on all rows plus ``predict(pred_contrib=True)`` on the explained rows alone.
- Quality: the model next to the transparent rules baseline on the validation rows.

Synthetic marts-shaped data (tests/model_factory.py). Writes bench/results/model.json.

    python bench/bench_model.py --accounts 1000000 --features 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safeguard.baseline import RulesBaseline
from safeguard.explain import ADDITIVITY_TOLERANCE
from safeguard.metrics import evaluate
from safeguard.scoring import score_accounts
from safeguard.time_split import time_split
from safeguard.training import DEFAULT_EARLY_STOPPING_ROUNDS, DEFAULT_NUM_BOOST_ROUND, train_risk_model
from tests.model_factory import day_strings, feature_specs, synthetic_frame

SCORE_DAY = "2026-09-01"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_training(train_accounts: int, train_days: int, n_features: int, seed: int) -> tuple[dict, object]:
    specs = feature_specs(n_features)
    examples = synthetic_frame(train_accounts, day_strings("2026-06-01", train_days), n_features=n_features)
    model, seconds = timed(lambda: train_risk_model(examples, specs, seed=seed))

    # The floor: LightGBM alone, same parameters, same fit and early-stopping rows (no sampling needed: the
    # examples fit in max_train_rows), same early stopping.
    split = time_split(examples["as_of_date"].to_numpy(), model.label_horizon_days)
    day = examples["as_of_date"].to_numpy().astype("datetime64[D]")
    names = [s.name for s in specs]
    X = examples[names].to_numpy(dtype=np.float64)
    y = examples["label"].to_numpy()
    fit, stop = np.isin(day, split.fit), np.isin(day, split.early_stopping)
    params = {
        k: v for k, v in model.params.items() if k not in ("num_boost_round", "early_stopping_rounds", "max_train_rows")
    }

    def raw_train():
        dtrain = lgb.Dataset(X[fit], y[fit], feature_name=names)
        dstop = lgb.Dataset(X[stop], y[stop], reference=dtrain)
        return lgb.train(
            params,
            dtrain,
            num_boost_round=DEFAULT_NUM_BOOST_ROUND,
            valid_sets=[dstop],
            callbacks=[lgb.early_stopping(DEFAULT_EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)],
        )

    raw, raw_seconds = timed(raw_train)

    val = model.validation_examples
    # Rules on the informative features where higher is riskier (what a rules engine would pick).
    signals = [s.name for s in specs[:4] if s.direction != -1]
    rules = RulesBaseline.fit(examples[day < split.validation[0]], signals)
    baseline = evaluate(val["label"].to_numpy(), rules.score(val), val["as_of_date"].to_numpy())
    keys = ("auc_roc", "auc_pr", "recall_at_1pct_fpr", "precision_at_k")
    return {
        "examples": len(examples),
        "features": n_features,
        "positive_rate": float(y.mean()),
        "train_risk_model_seconds": round(seconds, 2),
        "lgb_train_floor_seconds": round(raw_seconds, 2),
        "overhead_ratio": round(seconds / raw_seconds, 2),
        "trees": model.booster.num_trees(),
        "floor_trees": raw.best_iteration,
        "calibration": model.metrics["calibration"],
        "validation_metrics": {k: model.metrics[k] for k in (*keys, "ece", "ece_uncalibrated", "brier")},
        "rules_baseline_metrics": {k: baseline[k] for k in keys},
        "rules": rules.describe(),
        "thresholds": model.thresholds.to_dict(),
    }, model


def predict_floor(model, features, explained):
    """The scoring floor: LightGBM's raw ``predict`` on every row plus ``pred_contrib`` on the explained rows."""
    X = model.matrix(features)
    model.booster.predict(X, raw_score=True)
    return model.booster.predict(X[explained], pred_contrib=True)


def bench_scoring(model, accounts: int, n_features: int) -> dict:
    features = synthetic_frame(accounts, [SCORE_DAY], n_features=n_features, seed=99, with_label=False)
    scored, seconds = timed(lambda: score_accounts(features, {"champion": model}, SCORE_DAY))
    explained = scored.table.column("explained").to_numpy(zero_copy_only=False)

    _, floor_seconds = timed(lambda: predict_floor(model, features, explained))
    _, contrib_seconds = timed(lambda: model.booster.predict(model.matrix(features)[explained], pred_contrib=True))
    return {
        "accounts": accounts,
        "explained_rows": int(explained.sum()),
        "tier_counts": scored.tier_counts()[model.version],
        "score_accounts_seconds": round(seconds, 2),
        "predict_plus_pred_contrib_floor_seconds": round(floor_seconds, 2),
        "overhead_ratio": round(seconds / floor_seconds, 2),
        "pred_contrib_rows_per_second": round(explained.sum() / contrib_seconds),
        "additivity_error": scored.additivity_error,
        "additivity_ok": scored.additivity_error <= ADDITIVITY_TOLERANCE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000, help="accounts scored in one day")
    parser.add_argument("--features", type=int, default=60)
    parser.add_argument("--train-accounts", type=int, default=20_000)
    parser.add_argument("--train-days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "model.json"))
    args = parser.parse_args()

    training, model = bench_training(args.train_accounts, args.train_days, args.features, args.seed)
    print(json.dumps(training, indent=1, default=str))
    scoring = bench_scoring(model, args.accounts, args.features)
    print(json.dumps(scoring, indent=1))
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "lightgbm": lgb.__version__,
        "model_shape": {"max_depth": model.params["max_depth"], "num_leaves": model.params["num_leaves"]},
        "training": training,
        "scoring": scoring,
        "peak_rss_mb": round(peak_rss_mb()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
