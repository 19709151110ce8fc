"""Population stability index: how far one sample's distribution moved from another's (design §3.4). Pure numpy.

Used by the rollout's guardrails for the score PSI (candidate against champion, on fixed risk bands) and for
feature drift (the arm's features against the candidate's validation window, on the reference's deciles).
PSI = sum((a - e) * ln(a / e)) over bins; shares are floored at ``PSI_EPSILON`` so empty bins stay finite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PSI_BINS = 10  # feature drift: deciles of the training-window reference
PSI_EPSILON = 1e-4


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


def columns(frame: Any) -> dict[str, np.ndarray]:
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


def feature_psis(arm: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray], names: Sequence[str]) -> dict:
    """The PSI of each feature column ``names`` of ``arm`` against ``reference`` (numeric on the reference's
    deciles, categorical over its categories)."""
    per_feature = {}
    for name in names:  # one vectorized PSI per feature column
        expected, actual = _as_numeric(reference[name]), _as_numeric(arm[name])
        if expected is None or actual is None:
            per_feature[name] = _categorical_psi(reference[name], arm[name])
        else:
            per_feature[name] = psi(expected, actual, quantile_edges(expected))
    return per_feature
