"""Reasons for a score: exact TreeSHAP contributions and the top positive ones per account (design §3.3).

Contributions come from LightGBM's own exact TreeSHAP (``predict(pred_contrib=True)``), in raw-margin space:
per row, the feature contributions plus the base value (the last column) add up to the raw margin. The reasons
are the features that pushed THIS account's risk up the most: the largest positive contributions, at most
``DEFAULT_TOP_REASONS``, each with the feature's value and the catalog's plain-language reason text.

Exact TreeSHAP costs O(trees × leaves × depth²) per row, so only what people act on is explained: every account
at or above ``elevated``, a deterministic monitoring sample (so analysts can see why low scores are low), and any
account asked for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from safeguard.catalog import FeatureSpec

if TYPE_CHECKING:  # the monitoring sample needs no LightGBM import
    import lightgbm as lgb

DEFAULT_TOP_REASONS = 4
DEFAULT_SAMPLE_RATE = 0.01
ADDITIVITY_TOLERANCE = 1e-6

EXPLAIN_TIER = "tier"
EXPLAIN_SAMPLE = "monitoring_sample"
EXPLAIN_REQUESTED = "requested"


def contributions(booster: lgb.Booster, X: np.ndarray) -> np.ndarray:
    """Exact TreeSHAP per row: shape (rows, features + 1), the last column the base value (raw margin)."""
    if X.shape[0] == 0:
        return np.zeros((0, X.shape[1] + 1))
    return np.asarray(booster.predict(X, pred_contrib=True), dtype=np.float64)


def additivity_error(contribs: np.ndarray, raw_margin: np.ndarray) -> float:
    """max |Σ contributions + base value − raw margin| over the rows (0.0 for no rows); must stay <= 1e-6."""
    if contribs.shape[0] == 0:
        return 0.0
    return float(np.max(np.abs(contribs.sum(axis=1) - np.asarray(raw_margin, dtype=np.float64))))


def top_positive(contribs: np.ndarray, k: int = DEFAULT_TOP_REASONS) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the indices of the ``k`` largest contributions, largest first, and a mask of those > 0.

    ``contribs`` is the pred_contrib output: its last column, the base value, is never a reason.
    """
    c = contribs[:, :-1]
    k = min(k, c.shape[1])
    if c.shape[0] == 0 or k == 0:
        return np.zeros((c.shape[0], k), dtype=np.int64), np.zeros((c.shape[0], k), dtype=bool)
    part = np.argpartition(-c, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(c, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    return idx, np.take_along_axis(vals, order, axis=1) > 0


def _json_numbers(values: np.ndarray) -> pa.Array:
    """Floats as JSON number text; NaN / infinity (a missing feature value) become ``null``."""
    arr = pa.array(np.where(np.isfinite(values), values, np.nan), from_pandas=True)  # NaN -> null
    return pc.fill_null(pc.cast(arr, pa.string()), "null")


def reasons_json(
    contribs: np.ndarray, X: np.ndarray, features: Sequence[FeatureSpec], k: int = DEFAULT_TOP_REASONS
) -> pa.StringArray:
    """Per row a JSON list of ``{feature, value, contribution, reason}``, largest contribution first.

    Built column-wise in Arrow (no Python loop per row): it runs on every explained account of a day.
    """
    idx, positive = top_positive(contribs, k)
    rows = np.repeat(np.arange(idx.shape[0]), positive.sum(axis=1))
    feat = idx[positive]  # row-major: each row's reasons stay in order
    names = pa.array([json.dumps(f.name) for f in features]).take(pa.array(feat))
    texts = pa.array([json.dumps(f.reason) for f in features]).take(pa.array(feat))
    objects = pc.binary_join_element_wise(
        '{"feature": ',
        names,
        ', "value": ',
        _json_numbers(X[rows, feat]),
        ', "contribution": ',
        _json_numbers(contribs[rows, feat]),
        ', "reason": ',
        texts,
        "}",
        "",
    )
    offsets = pa.array(np.r_[0, np.cumsum(positive.sum(axis=1))].astype(np.int32))
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, objects), ", ")
    return pc.binary_join_element_wise("[", joined, "]", "")


def reasons(
    contribs: np.ndarray, X: np.ndarray, features: Sequence[FeatureSpec], k: int = DEFAULT_TOP_REASONS
) -> list[list[dict]]:
    """The same reasons as Python objects, for an on-request explanation of a handful of accounts."""
    return [json.loads(s) for s in reasons_json(contribs, X, features, k).to_pylist()]


def _strings(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pc.cast(values, pa.string()) if isinstance(values, pa.Array) else pa.array(values, type=pa.string())


def monitoring_sample(account_ids, score_date: str, rate: float = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Whether each account is in the day's monitoring sample: a stable hash of (account_id, score_date) < rate.

    Stable across processes and machines (pandas' keyed SipHash, not Python's salted ``hash``); a different
    sample every day, and the same one every time the day is re-scored.
    """
    if not 0 <= rate <= 1:
        raise ValueError(f"monitoring sample rate must lie in [0, 1], got {rate}")
    keys = pc.binary_join_element_wise(_strings(account_ids), score_date, ":").to_numpy(zero_copy_only=False)
    h = pd.util.hash_array(keys.astype(object), categorize=False)  # categorize only pays off for repeats
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53) < rate


def requested_mask(account_ids, requested: Sequence[str] | None) -> np.ndarray:
    """Whether each account is among those explicitly asked for."""
    if not requested:
        return np.zeros(len(account_ids), dtype=bool)
    wanted = pa.array(list(requested), type=pa.string())
    return pc.is_in(_strings(account_ids), wanted).to_numpy(zero_copy_only=False)


def explain_selection(tier_index: np.ndarray, sampled: np.ndarray, requested: np.ndarray) -> np.ndarray:
    """Why each row is explained: 'tier' (elevated or above), 'monitoring_sample', 'requested', or None.

    ``sampled`` (:func:`monitoring_sample`) and ``requested`` (:func:`requested_mask`) are per-account masks,
    computed once per day and shared by every model that scores it.
    """
    why = np.full(tier_index.shape[0], None, dtype=object)
    why[requested] = EXPLAIN_REQUESTED
    why[sampled] = EXPLAIN_SAMPLE
    why[tier_index >= 1] = EXPLAIN_TIER
    return why
