"""The backtest's linearized intervals (safeguard.rollout.influence): exact derivatives of the figures' own
definitions, and standard errors that agree with the account bootstrap they replace."""

from __future__ import annotations

import numpy as np
import pytest

from safeguard import metrics
from safeguard.rollout.backtest import compare_outcomes, linearized_interval, top_k_per_day
from safeguard.rollout.influence import (
    ClusteredVariance,
    average_precision_influence,
    ratio_influence,
    sorted_codes,
)


def _rows(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(float)
    p = np.round(np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1), 2)  # some skill, many ties
    return rng, y, p


def _finite_difference(figure, n: int, i: int, eps: float = 1e-6) -> float:
    w = np.ones(n)
    w[i] += eps
    return (figure(w) - figure(np.ones(n))) / eps


def test_average_precision_and_its_influence_match_the_definition_with_ties_and_groups():
    _, y, p = _rows()
    group = np.arange(y.size) % 3
    value, influence = average_precision_influence(p, y, group, 3)
    for g in range(3):
        m = group == g
        assert value[g] == pytest.approx(metrics.average_precision(y[m], p[m]), abs=1e-12)
        # homogeneous of degree 0 in the weights: the influences of a group sum to 0 (Euler)
        assert influence[m].sum() == pytest.approx(0.0, abs=1e-12)
    for i in range(0, y.size, 7):
        m = group == group[i]
        local = int(np.flatnonzero(np.flatnonzero(m) == i)[0])
        fd = _finite_difference(lambda w, m=m: metrics.average_precision(y[m], p[m], w), int(m.sum()), local)
        assert influence[i] == pytest.approx(fd, abs=1e-6)


def test_a_group_without_positives_has_no_value_and_no_influence():
    value, influence = average_precision_influence(np.array([0.9, 0.1]), np.zeros(2), np.zeros(2, int), 1)
    assert np.isnan(value[0]) and not influence.any()
    value, influence = ratio_influence(np.zeros(2), np.zeros(2), np.zeros(2, int), 1)
    assert np.isnan(value[0]) and not influence.any()


def test_ratio_influence_matches_the_definition():
    _, y, p = _rows()
    flagged = (p > 0.5).astype(float)
    hit = flagged * y
    group = np.arange(y.size) % 2
    value, influence = ratio_influence(hit, flagged, group, 2)
    for i in range(0, y.size, 11):
        m = group == group[i]
        local = int(np.flatnonzero(np.flatnonzero(m) == i)[0])
        fd = _finite_difference(lambda w, m=m: (w * hit[m]).sum() / (w * flagged[m]).sum(), int(m.sum()), local)
        assert influence[i] == pytest.approx(fd, abs=1e-6)
    assert value[0] == pytest.approx(hit[group == 0].sum() / flagged[group == 0].sum())


def test_clustered_variance_sums_an_accounts_rows_before_squaring():
    account = np.array([0, 0, 1, 1, 0])
    group = np.array([0, 0, 0, 1, 1])
    influence = np.array([1.0, 2.0, -3.0, 0.5, 4.0])
    # group 0: account 0 (1 + 2)² + account 1 (-3)²; group 1: 0.5² + 4²
    np.testing.assert_allclose(ClusteredVariance(account, group, 2)(influence), [18.0, 16.25])
    # the same sums when the (group, account) grid is too sparse to lay out and the occupied cells are numbered
    sparse = ClusteredVariance(account * 5000, group, 2)
    assert sparse.cell_group is not None
    np.testing.assert_allclose(sparse(influence), [18.0, 16.25])


def test_the_linearized_intervals_agree_with_a_paired_account_bootstrap():
    """Accounts with several rows each (days), two correlated models: the pooled standard errors of AUC-PR, of its
    paired difference and relative change, and of the recall difference at the champion's volume, next to a plain
    Poisson(1) bootstrap over accounts of the same figures."""
    rng = np.random.default_rng(5)
    accounts, days = 400, 3
    risk = rng.beta(0.6, 6.0, accounts)
    account = np.repeat(np.arange(accounts), days)
    day = np.tile(np.arange(days), accounts)
    y = (rng.random(account.size) < risk[account]).astype(float)
    logit = np.log(risk / (1 - risk))[account]
    champion = 1 / (1 + np.exp(-(logit + rng.normal(0, 1.0, y.size))))
    candidate = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.8, y.size))))
    probability = {"champion": champion, "candidate": candidate}
    tier = {m: np.searchsorted([0.15, 0.35, 0.6], p, side="right") for m, p in probability.items()}
    _, pooled = compare_outcomes(y, account, day, probability, tier, list(range(days)))

    volume = np.bincount(day[tier["champion"] >= 1], minlength=days)
    selected = {"champion": tier["champion"] >= 1, "candidate": top_k_per_day(candidate, day, dict(enumerate(volume)))}

    def figures(w):
        ap = {m: metrics.average_precision(y, probability[m], w) for m in probability}
        recall = {m: (w * selected[m] * y).sum() / (w * y).sum() for m in probability}
        return (
            ap["candidate"],
            ap["candidate"] - ap["champion"],
            ap["candidate"] / ap["champion"] - 1,
            recall["candidate"] - recall["champion"],
        )

    draws = np.array([figures(rng.poisson(1.0, accounts)[account]) for _ in range(1500)])
    boot_se = draws.std(axis=0)
    half = {
        k: (iv["high"] - iv["low"]) / 2 / 1.959964
        for k, iv in (
            ("auc_pr", pooled["candidate"]["auc_pr"]),
            ("difference", pooled["difference"]["auc_pr"]),
            ("relative", pooled["difference"]["auc_pr_relative"]),
            ("recall", pooled["difference"]["recall_at_champion_volume"]),
        )
    }
    for se, key in zip(boot_se, ("auc_pr", "difference", "relative", "recall"), strict=True):
        assert half[key] == pytest.approx(se, rel=0.15), key
    observed = figures(np.ones(y.size))
    assert pooled["candidate"]["auc_pr"]["value"] == pytest.approx(observed[0])
    assert pooled["difference"]["auc_pr_relative"]["value"] == pytest.approx(observed[2])


def test_intervals_stay_in_range_and_lean_the_way_the_figure_is_skewed():
    z = 1.959964
    low, high = linearized_interval("candidate.auc_pr", 0.05, 0.03**2, z)
    assert 0 < low < 0.05 < high < 1 and (high - 0.05) > (0.05 - low)  # logit scale: longer towards the middle
    low, high = linearized_interval("difference.auc_pr_relative", -0.2, 0.3**2, z)
    assert -1 < low < -0.2 < high and (high + 0.2) > (-0.2 - low)  # log-ratio scale: longer upwards
    assert linearized_interval("difference.recall", 0.9, 0.2**2, z) == (pytest.approx(0.9 - z * 0.2), 1.0)
    # at the ends of the range, where the transform has no scale, the clipped normal interval
    assert linearized_interval("champion.auc_pr", 1.0, 0.0, z) == (1.0, 1.0)


@pytest.mark.parametrize(
    "values",
    [
        np.array([3, 1, 3, 7, 1, -2]),
        np.array([10**12, 5, 10**12], dtype=np.int64),  # too spread out to count: hashed
        np.array(["2026-10-02", "2026-10-01", "2026-10-02"], dtype=object),
        np.array([], dtype=np.int64),
    ],
)
def test_sorted_codes_are_those_of_np_unique(values):
    codes, uniques = sorted_codes(values)
    expected_uniques, expected_codes = np.unique(values, return_inverse=True)
    assert uniques.tolist() == expected_uniques.tolist()
    assert codes.tolist() == expected_codes.tolist()


def test_the_top_k_of_each_day_is_what_a_stable_sort_puts_first():
    rng = np.random.default_rng(5)
    p = np.round(rng.random(2000), 2)  # many ties at every cut
    day = rng.integers(0, 4, p.size)
    k = {0: 0, 1: 37, 2: 500, 3: 5000}
    chosen = top_k_per_day(p, day, k)
    for d, count in k.items():
        rows = np.flatnonzero(day == d)
        expected = rows[np.argsort(-p[rows], kind="stable")[:count]]
        assert sorted(np.flatnonzero(chosen & (day == d)).tolist()) == sorted(expected.tolist())
