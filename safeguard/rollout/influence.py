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
import pandas as pd


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
    if n_groups == 1:  # the same, without a pass per group index
        total = den.sum()
        if total <= 0:
            return np.array([np.nan]), np.zeros(num.size)
        value = num.sum() / total
        return np.array([value]), (num - value * den) / total
    total = _group_sums(den, group, n_groups)
    value = _safe_ratio(_group_sums(num, group, n_groups), total)
    row_value, row_total = np.nan_to_num(value)[group], total[group]
    influence = np.where(row_total > 0, (num - row_value * den) / np.where(row_total > 0, row_total, 1.0), 0.0)
    return value, influence


def sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` without sorting the rows: (each row's code, the sorted distinct
    values). Small integers (a day's position) are counted; anything else is hashed, and only the distinct values
    sorted."""
    values = np.asarray(values)
    if values.dtype.kind in "iu" and values.size:
        low, high = int(values.min()), int(values.max())
        if high - low <= 4 * values.size + 1024:
            present = np.bincount(values - low, minlength=high - low + 1) > 0
            code_of = np.cumsum(present) - 1
            return code_of[values - low], (np.flatnonzero(present) + low).astype(values.dtype)
    codes, uniques = pd.factorize(values, sort=True)
    return codes, np.asarray(uniques)


def _average_precision_of_one_group(p: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Average precision of one group's rows and each row's influence on it (see
    :func:`average_precision_influence`), worked out per tie run: rows ranked by score, each run of equal scores one
    threshold with ``F`` rows at or above it and ``T`` positives among them. With ``S1`` and ``S2`` the sums of
    ``pos / F`` and ``pos · T / F²`` over the runs at or below a row's run (``pos`` a run's positives), the row's
    influence is ``(y · (T / F + S1 - AP) - S2) / P`` of its run: one sort, then arrays the size of the runs."""
    n = p.size
    if n == 0:
        return np.nan, np.zeros(0)
    order = np.argsort(-p)  # the order within a tie run does not matter: a run is one threshold
    ranked = p[order]
    new_run = np.empty(n, dtype=bool)
    new_run[0] = True
    np.not_equal(ranked[1:], ranked[:-1], out=new_run[1:])
    starts = np.flatnonzero(new_run)
    ranked_y = y[order]
    positives_in_run = np.add.reduceat(ranked_y, starts)
    flagged = np.r_[starts[1:], n].astype(np.float64)  # rows at or above each run
    hits = np.cumsum(positives_in_run)  # positives at or above each run
    positives = hits[-1]
    if positives <= 0:
        return np.nan, np.zeros(n)
    precision = hits / flagged
    value = float(positives_in_run @ precision) / positives

    def at_or_below(v: np.ndarray) -> np.ndarray:
        return np.cumsum(v[::-1])[::-1]

    a = precision + at_or_below(positives_in_run / flagged) - value
    b = at_or_below(positives_in_run * hits / flagged**2)
    run = np.cumsum(new_run) - 1
    influence = np.empty(n)
    influence[order] = (ranked_y * a[run] - b[run]) / positives
    return value, influence


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
    whole cost is one sort per group. NaN and zero influence for a group without positives.
    """
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(label, dtype=np.float64)
    value = np.full(n_groups, np.nan)
    influence = np.zeros(p.size)
    if n_groups == 1:
        value[0], influence[:] = _average_precision_of_one_group(p, y)
        return value, influence
    g = np.asarray(group)
    by_group = np.argsort(g.astype(np.int16) if n_groups < 2**15 else g, kind="stable")  # a radix sort
    bounds = np.searchsorted(g[by_group], np.arange(n_groups + 1))
    for j in range(n_groups):
        rows = by_group[bounds[j] : bounds[j + 1]]
        value[j], influence[rows] = _average_precision_of_one_group(p[rows], y[rows])
    return value, influence


class ClusteredVariance:
    """``Σ_a (Σ_{i in a, group g} influence_i)²`` per group: the variance of a figure when an account's rows move
    together. Built once for a set of rows (account, group), then applied to any influence over those rows.

    ``account`` holds dense codes (0 .. accounts - 1). When the (group, account) grid is not much larger than the
    rows (a day per group, an account per row and day: the backtest's case), each cell is a position in it, summed
    with one ``bincount``; otherwise the occupied cells are numbered first."""

    def __init__(self, account: np.ndarray, group: np.ndarray, n_groups: int):
        account = np.asarray(account, dtype=np.int64)
        group = np.asarray(group, dtype=np.int64)
        self.n_accounts = int(account.max()) + 1 if account.size else 1
        self.n_groups = n_groups
        cell = group * self.n_accounts + account
        if n_groups * self.n_accounts <= 4 * account.size + 1024:
            self.cell, self.cell_group = cell, None
        else:
            self.cell, cells = pd.factorize(cell)  # hashing, no sort
            self.cell_group = cells // self.n_accounts

    def __call__(self, influence: np.ndarray) -> np.ndarray:
        if self.cell_group is None:
            grid = np.bincount(self.cell, weights=influence, minlength=self.n_groups * self.n_accounts)
            return np.square(grid).reshape(self.n_groups, self.n_accounts).sum(axis=1)
        per_cell = np.bincount(self.cell, weights=influence, minlength=self.cell_group.size)
        return np.bincount(self.cell_group, weights=per_cell * per_cell, minlength=self.n_groups)
