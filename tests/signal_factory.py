"""Marts-shaped frames that carry the rules' signal columns beside the synthetic features of model_factory.

The rules score (safeguard.baseline.DEFAULT_SIGNALS) reads real feature names; here each signal is a noisy,
monotone view of the synthetic informative feature feat_00, so the rules rank risk a little but far less well
than a model of all the features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from safeguard.baseline import DEFAULT_SIGNALS
from safeguard.catalog import FeatureSpec
from tests.model_factory import feature_specs

SIGNAL_SPECS = [FeatureSpec(name, f"signal {name}", f"High {name.replace('_', ' ')}", 1) for name in DEFAULT_SIGNALS]


def with_signals(frame: pd.DataFrame, *, seed: int = 0, strength: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = frame["feat_00"].to_numpy(dtype=np.float64)
    out = frame.copy()
    for i, name in enumerate(DEFAULT_SIGNALS):
        out[name] = np.maximum(0.0, strength * base + rng.normal(size=len(frame)) + (i % 2))
    return out


def catalog() -> list[FeatureSpec]:
    return feature_specs() + SIGNAL_SPECS
