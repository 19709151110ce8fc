"""A candidate against the champion on the same validation rows, with the uncertainty of the difference (§3.3).

The validation slice of a young history holds a few hundred labelled positives (138 on the demo world's retrain),
so the difference between two models' AUC-PR there has a standard error of several points: a fixed tolerance of
0.02 refused an equally good retrain about as often as not. The quality gate therefore judges the *interval* of
the difference: a candidate is refused when it is surely worse than the champion beyond the tolerance (the upper
end of the interval is below it), and otherwise registered as a candidate, whose backtest and staged rollout then
decide on more evidence whether it serves anyone.

The interval is a paired bootstrap over **accounts** (every row of an account drawn together, since an account's
days are not independent), on the rows both models scored, with a fixed seed: the same data gives the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from safeguard.metrics import average_precision, recall_at_fpr

COMPARED_METRICS: Mapping[str, Callable[..., float]] = {
    "auc_pr": average_precision,
    "recall_at_1pct_fpr": recall_at_fpr,
}
DEFAULT_RESAMPLES = 100
DEFAULT_LEVEL = 0.9  # two-sided; its upper end is a one-sided 95% bound


def paired_difference(
    y,
    candidate,
    champion,
    accounts,
    *,
    weight=None,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """For each compared metric: the candidate's and the champion's value, their difference (candidate -
    champion) and its bootstrap interval ``[low, high]`` at ``level``."""
    y = np.asarray(y, dtype=np.float64)
    candidate, champion = np.asarray(candidate, dtype=np.float64), np.asarray(champion, dtype=np.float64)
    w = np.ones_like(y) if weight is None else np.asarray(weight, dtype=np.float64)
    if not y.shape == candidate.shape == champion.shape == w.shape == np.shape(accounts):
        raise ValueError(
            f"paired_difference: labels ({y.size}), candidate ({candidate.size}), champion ({champion.size}), "
            f"weights ({w.size}) and accounts ({np.size(accounts)}) must align"
        )
    if not 0 < level < 1 or resamples < 10:
        raise ValueError(f"paired_difference: level must be in (0, 1) and resamples >= 10, got {level}, {resamples}")
    _, codes = np.unique(np.asarray(accounts), return_inverse=True)
    n_accounts = int(codes.max()) + 1 if codes.size else 0
    rng = np.random.default_rng(seed)
    draws = {name: np.empty(resamples) for name in COMPARED_METRICS}
    for r in range(resamples):
        counts = np.bincount(rng.integers(0, n_accounts, n_accounts), minlength=n_accounts)[codes]
        rw = w * counts
        if not (rw * y).sum() or not (rw * (1 - y)).sum():
            for values in draws.values():
                values[r] = np.nan
            continue
        for name, metric in COMPARED_METRICS.items():
            draws[name][r] = metric(y, candidate, w=rw) - metric(y, champion, w=rw)
    tail = (1 - level) / 2
    out = {}
    for name, metric in COMPARED_METRICS.items():
        ours, theirs = metric(y, candidate, w=w), metric(y, champion, w=w)
        finite = draws[name][np.isfinite(draws[name])]
        low, high = np.quantile(finite, [tail, 1 - tail]) if finite.size else (-np.inf, np.inf)
        out[name] = {
            "candidate": float(ours),
            "champion": float(theirs),
            "difference": float(ours - theirs),
            "low": float(low),
            "high": float(high),
            "level": level,
            "resamples": resamples,
        }
    return out
