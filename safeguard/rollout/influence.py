"""Linearized (influence-function) standard errors of the backtest's figures, clustered by account (issue 15).

Every figure of the backtest is a function ``θ(w)`` of row weights ``w`` (all 1 on the observed rows): a ratio
of weighted counts (precision, recall) or average precision. Its first-order expansion around the observed rows is
``θ(w) ≈ θ(1) + Σ_i (w_i - 1) ∂θ/∂w_i``. When every row of an account moves with one weight ``W_a``, independent
across accounts with variance 1 (the Poisson(1) bootstrap over accounts), that gives

    Var θ ≈ Σ_a (Σ_{i in a} ∂θ/∂w_i)²

the cluster-robust (sandwich) variance: the account bootstrap's variance to first order, computed exactly in one
pass over the rows, with no draws and no seed. A paired difference (candidate - champion on the same rows) has the
difference of the two influences; a relative change ``a / b - 1`` has ``∂a / b - a ∂b / b²``.

The derivatives are exact, so they are checked against finite differences of the figures' own definitions
(:mod:`safeguard.metrics`) in ``tests/unit/test_rollout_influence.py``, and the standard errors against a plain
account bootstrap there.

Rows are split into ``n_groups`` groups (a day each, or one pooled group); a figure is computed per group, each
row's influence is on its own group's figure.
"""

from __future__ import annotations

import numpy as np


def _group_sums(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(group, weights=values, minlength=n_groups)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def ratio_influence(
    numerator: np.ndarray, denominator: np.ndarray, group: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """``Σ numerator / Σ denominator`` per group (NaN where the denominator sums to 0), and each row's influence
    ``(numerator_i - value · denominator_i) / Σ denominator`` on its group's value (0 in an empty group)."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    total = _group_sums(den, group, n_groups)
    value = _safe_ratio(_group_sums(num, group, n_groups), total)
    row_value, row_total = np.nan_to_num(value)[group], total[group]
    influence = np.where(row_total > 0, (num - row_value * den) / np.where(row_total > 0, row_total, 1.0), 0.0)
    return value, influence


def _by_group_then_score(p: np.ndarray, g: np.ndarray, n_groups: int) -> np.ndarray:
    """Row order by group, then score descending. The order within a tie run does not matter (a run is one
    threshold), so each group is sorted on its own with an unstable sort; a stable sort on small integers is a
    radix sort."""
    by_group = np.argsort(g.astype(np.int16) if n_groups < 2**15 else g, kind="stable")
    bounds = np.searchsorted(g[by_group], np.arange(n_groups + 1))
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        rows = by_group[first:last]
        by_group[first:last] = rows[np.argsort(-p[rows])]
    return by_group


def average_precision_influence(
    probability: np.ndarray, label: np.ndarray, group: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Average precision per group, as :func:`safeguard.metrics.average_precision` (tied scores are one threshold),
    and each row's influence on its group's value.

    With rows ranked by score, ``F(i)`` the rows at or above row ``i``'s score and ``T(i)`` the positives among
    them, ``AP = A / P`` with ``A = Σ_{positive i} w_i T(i) / F(i)`` and ``P = Σ w_i y_i``. Then

        ∂A/∂w_k = y_k T(k)/F(k) + y_k Σ_{positive i, s_i <= s_k} 1/F(i) - Σ_{positive i, s_i <= s_k} T(i)/F(i)²
        ∂AP/∂w_k = (∂A/∂w_k - AP y_k) / P

    The two sums run over the positives ranked at or below row ``k``'s tie run: suffix sums in rank order, so the
    whole cost is one sort. NaN and zero influence for a group without positives.
    """
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(label, dtype=np.float64)
    g = np.asarray(group, dtype=np.int64)
    n = p.size
    value = np.full(n_groups, np.nan)
    influence = np.zeros(n)
    if n == 0:
        return value, influence
    order = _by_group_then_score(p, g, n_groups)
    ps, ys, gs = p[order], y[order], g[order]
    position = np.arange(n)
    new_run = np.r_[True, (np.diff(ps) != 0) | (np.diff(gs) != 0)]
    new_group = np.r_[True, np.diff(gs) != 0]
    run_start = np.maximum.accumulate(np.where(new_run, position, 0))
    group_start = np.maximum.accumulate(np.where(new_group, position, 0))
    run_end = np.r_[np.flatnonzero(new_run)[1:] - 1, n - 1][np.cumsum(new_run) - 1]
    group_end = np.r_[np.flatnonzero(new_group)[1:] - 1, n - 1][np.cumsum(new_group) - 1]

    hits = np.cumsum(ys)
    hits_before_group = hits[group_start] - ys[group_start]
    tp = hits[run_end] - hits_before_group  # positives at or above each row's score, in its group
    flagged = (run_end - group_start + 1).astype(np.float64)  # rows at or above it
    positives = _group_sums(ys, gs, n_groups)
    precision_here = tp / flagged
    value = _safe_ratio(_group_sums(ys * precision_here, gs, n_groups), positives)

    def below(values: np.ndarray) -> np.ndarray:
        """Σ values over the rows of each row's group ranked at or below its tie run."""
        suffix = np.r_[np.cumsum(values[::-1])[::-1], 0.0]
        return suffix[run_start] - suffix[group_end + 1]

    d_area = ys * precision_here + ys * below(ys / flagged) - below(ys * tp / flagged**2)
    row_positives = positives[gs]
    d_ap = np.where(
        row_positives > 0,
        (d_area - np.nan_to_num(value)[gs] * ys) / np.where(row_positives > 0, row_positives, 1.0),
        0.0,
    )
    influence[order] = d_ap
    return value, influence


class ClusteredVariance:
    """``Σ_a (Σ_{i in a, group g} influence_i)²`` per group: the variance of a figure when an account's rows move
    together. Built once for a set of rows (account, group), then applied to any influence over those rows."""

    def __init__(self, account: np.ndarray, group: np.ndarray, n_groups: int):
        account = np.asarray(account, dtype=np.int64)
        group = np.asarray(group, dtype=np.int64)
        n_accounts = int(account.max()) + 1 if account.size else 1
        cells, self.cell = np.unique(group * n_accounts + account, return_inverse=True)
        self.cell_group = cells // n_accounts
        self.n_groups = n_groups

    def __call__(self, influence: np.ndarray) -> np.ndarray:
        per_cell = np.bincount(self.cell, weights=influence, minlength=self.cell_group.size)
        return np.bincount(self.cell_group, weights=per_cell * per_cell, minlength=self.n_groups)
