"""Synthetic marts-shaped data for the model tests and the model benchmark.

Each account has a hidden risk propensity; a few features carry it with a known direction (the catalog says so),
the rest are noise. Labels are drawn from a logistic model of the propensity, ~3 % positive. Days repeat the
same accounts with fresh noise, as daily feature snapshots do.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from safeguard.catalog import FeatureSpec

ROOT_DIR = Path(__file__).resolve().parents[1]
INFORMATIVE = 4  # feat_00 (+), feat_01 (-), feat_02 (+, count-like), feat_03 (no direction, U-shaped)


def feature_specs(n_features: int = 20) -> list[FeatureSpec]:
    directions = {0: 1, 1: -1, 2: 1, 3: None}
    return [
        FeatureSpec(
            name=f"feat_{i:02d}",
            description=f"synthetic feature {i}",
            reason=f"Reason text for feature {i}",
            direction=directions.get(i, 1 if i % 5 == 4 else None),
        )
        for i in range(n_features)
    ]


def synthetic_frame(
    n_accounts: int,
    days: list[str] | np.ndarray,
    *,
    n_features: int = 20,
    seed: int = 0,
    signal: float = 2.4,
    intercept: float = -5.6,
    with_label: bool = True,
) -> pd.DataFrame:
    """(account_id, as_of_date[, label], feat_00 .. feat_NN) for every account on every day."""
    rng = np.random.default_rng(seed)
    days = np.asarray(days, dtype="datetime64[D]")
    n = n_accounts * days.size
    propensity = np.tile(rng.normal(size=n_accounts), days.size)
    noise = rng.normal(size=(n, n_features)).astype(np.float64)
    X = noise
    X[:, 0] += 1.5 * propensity
    X[:, 1] -= 1.0 * propensity
    X[:, 2] = rng.poisson(np.exp(0.8 * propensity))
    X[:, 3] += propensity**2
    X[rng.random(n) < 0.02, 5] = np.nan  # missing values reach the model as NaN
    frame = pd.DataFrame(X, columns=[f"feat_{i:02d}" for i in range(n_features)])
    ids = pd.Series(np.arange(n_accounts)).map("acct-{:07d}".format).to_numpy()
    frame.insert(0, "as_of_date", np.repeat(days, n_accounts))
    frame.insert(0, "account_id", np.tile(ids, days.size))
    if with_label:
        logit = intercept + signal * propensity + 0.3 * rng.normal(size=n)
        frame.insert(2, "label", (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64))
    return frame


def day_strings(first: str, count: int) -> list[str]:
    return [str(d) for d in np.datetime64(first) + np.arange(count)]


FIRST_DAY = "2026-06-01"
TRAINING_DAYS = 60


@functools.cache
def training_examples(n_accounts: int = 800, seed: int = 0) -> pd.DataFrame:
    """60 days of labelled examples (~3 % positive); cached: treat as read-only."""
    return synthetic_frame(n_accounts, day_strings(FIRST_DAY, TRAINING_DAYS), seed=seed)


@functools.cache
def trained_model(seed: int = 7):
    """A model trained on :func:`training_examples`, shared by the test modules; treat as read-only."""
    from safeguard.training import train_risk_model

    return train_risk_model(training_examples(), feature_specs(), seed=seed)
