"""Intervals that stay valid when a rollout looks at its evidence every day (design §3.4, issue 15). Pure numpy.

A rollout evaluates its guardrails daily and advances the first day the evidence looks good enough. A fixed-sample
95% interval checked every day is wrong far more often than 5% of the time (with 20 daily looks, about one
rollout in four of a candidate exactly at the margin would advance). These intervals are **confidence
sequences**: with probability at least ``1 - alpha`` the true value lies inside the interval on *every* day at
once, so stopping on the first day the interval clears a bound keeps the stated error.

The method is the two-sided asymptotic confidence sequence of Waudby-Smith, Arnold, Wu and Ramdas, "Time-uniform
central limit theory and asymptotic confidence sequences" (Annals of Statistics, 2024), eq. for the Robbins
normal mixture with a plug-in variance::

    mean ± sigma * sqrt( 2 (n rho² + 1) / (n² rho²) * log( sqrt(n rho² + 1) / alpha ) )

``rho`` sets the sample size where the sequence is tightest (``planned_rows``; anywhere within a factor ten of it
the width is within ~20% of the best). Two refinements, both conservative:

- **Accounts, not rows, are independent.** A stage pools the same accounts over many days, and an account's
  alerts and labels repeat from day to day. The variance is clustered by account (the sum over accounts of the
  squared sum of that account's residuals, per row), so a hundred accounts seen for ten days count as a hundred
  accounts, not a thousand rows.
- **Small samples are not over-confident.** One pseudo-observation at the value's largest possible variance is
  added to the variance estimate, so twenty identical rows do not give an interval of width zero.

:func:`ratio_interval` inverts the sequence (Fieller's construction): the set of ratios ``r`` for which
``numerator - r * denominator`` could have mean zero. :func:`difference_interval` bounds a difference of two means
measured on different rows (precision of two models' alerts) by a union bound at ``alpha / 2`` each, valid
however the two are correlated.

``tests/unit/test_sequential.py`` simulates daily peeking and checks the error rate stays under ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

METHOD = "asymptotic confidence sequence (Waudby-Smith et al. 2024), variance clustered by account"

Verdict = Literal["pass", "breach", "undecided"]


@dataclass(frozen=True)
class SequentialTest:
    """The parameters of the confidence sequences, stored with the rollout plan.

    ``alpha``: the chance, over the whole stage and all its daily looks, that an interval misses the truth.
    ``planned_rows``: the evidence size (rows after clustering) at which the intervals are tightest.
    """

    alpha: float = 0.05
    planned_rows: int = 2000

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"SequentialTest.alpha must be in (0, 0.5), got {self.alpha!r}")
        if isinstance(self.planned_rows, bool) or not isinstance(self.planned_rows, int) or self.planned_rows < 1:
            raise ValueError(f"SequentialTest.planned_rows must be an integer >= 1, got {self.planned_rows!r}")

    @property
    def rho_squared(self) -> float:
        """The mixture's tuning, chosen so the boundary is tightest at ``planned_rows``."""
        log_term = -2.0 * math.log(self.alpha)
        return (log_term + math.log(log_term + 1.0)) / self.planned_rows

    def with_alpha(self, alpha: float) -> SequentialTest:
        return SequentialTest(alpha, self.planned_rows)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "method": METHOD}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequentialTest:
        values = {k: v for k, v in data.items() if k != "method"}
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown SequentialTest field(s): {sorted(unknown)}")
        return cls(**values)


@dataclass(frozen=True)
class Interval:
    """An estimate and its always-valid interval over ``n`` rows (``low``/``high`` may be infinite)."""

    n: int
    estimate: float | None
    low: float
    high: float
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        def finite(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else float(x)

        return {
            "n": self.n,
            "estimate": finite(self.estimate),
            "low": finite(self.low),
            "high": finite(self.high),
            "alpha": self.alpha,
        }

    def describe(self, digits: int = 3) -> str:
        if self.estimate is None:
            return f"n={self.n}: no estimate"

        def f(x: float) -> str:
            return f"{x:.{digits}f}" if math.isfinite(x) else ("-inf" if x < 0 else "inf")

        return f"{f(self.estimate)} [{f(self.low)}, {f(self.high)}] n={self.n}"


UNBOUNDED = (-math.inf, math.inf)


def boundary(rows: int, test: SequentialTest) -> float:
    """The half-width of the sequence for a unit variance after ``rows`` rows."""
    if rows < 1:
        return math.inf
    r2 = test.rho_squared
    v = rows * r2 + 1.0
    return math.sqrt(2.0 * v / (rows * rows * r2) * math.log(math.sqrt(v) / test.alpha))


def _cluster_codes(clusters: Any, n: int) -> np.ndarray | None:
    if clusters is None:
        return None
    clusters = np.asarray(clusters)
    if len(clusters) != n:
        raise ValueError(f"clusters has {len(clusters)} values for {n} rows; they must align")
    return np.unique(clusters, return_inverse=True)[1].ravel()


def _residual_square_sum(residuals: np.ndarray, codes: np.ndarray | None) -> float:
    """Sum of squared residuals; clustered: the sum over clusters of the squared residual sum."""
    if codes is None:
        return float(np.sum(residuals * residuals))
    sums = np.bincount(codes, weights=residuals)
    return float(np.sum(sums * sums))


def _radius(residuals: np.ndarray, codes: np.ndarray | None, prior_variance: float, test: SequentialTest) -> float:
    rows = len(residuals)
    variance = (_residual_square_sum(residuals, codes) + prior_variance) / (rows + 1)
    return math.sqrt(variance) * boundary(rows, test)


def mean_interval(
    values: Any, *, clusters: Any = None, test: SequentialTest | None = None, value_range: float = 1.0
) -> Interval:
    """The always-valid interval of the mean of ``values`` (rows; ``clusters`` names each row's account).

    ``value_range``: max - min a value can take (1 for a 0/1 outcome, 2 for a paired difference of two), which
    sets the pseudo-observation's variance (``value_range² / 4``).
    """
    test = test or SequentialTest()
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return Interval(0, None, *UNBOUNDED, test.alpha)
    if not np.all(np.isfinite(x)):
        raise ValueError("mean_interval: values must be finite")
    mean = float(x.mean())
    r = _radius(x - mean, _cluster_codes(clusters, x.size), value_range**2 / 4.0, test)
    return Interval(int(x.size), mean, mean - r, mean + r, test.alpha)


def difference_interval(
    first: Any,
    second: Any,
    *,
    first_clusters: Any = None,
    second_clusters: Any = None,
    test: SequentialTest | None = None,
    value_range: float = 1.0,
) -> Interval:
    """The interval of mean(first) - mean(second) for two means on different (possibly overlapping) rows:
    each mean's sequence at ``alpha / 2``, combined by a union bound."""
    test = test or SequentialTest()
    half = test.with_alpha(test.alpha / 2)
    a = mean_interval(first, clusters=first_clusters, test=half, value_range=value_range)
    b = mean_interval(second, clusters=second_clusters, test=half, value_range=value_range)
    n = min(a.n, b.n)
    if a.estimate is None or b.estimate is None:
        return Interval(n, None, *UNBOUNDED, test.alpha)
    return Interval(n, a.estimate - b.estimate, a.low - b.high, a.high - b.low, test.alpha)


def ratio_interval(
    numerator: Any,
    denominator: Any,
    *,
    clusters: Any = None,
    test: SequentialTest | None = None,
    max_ratio: float = 1e6,
) -> Interval:
    """The interval of sum(numerator) / sum(denominator) (non-negative rows, e.g. two models' 0/1 alerts on the
    same rows): every ratio r for which the sequence of ``numerator - r * denominator`` still contains zero."""
    test = test or SequentialTest()
    num, den = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if num.shape != den.shape:
        raise ValueError(f"ratio_interval: {num.size} numerator rows but {den.size} denominator rows")
    if num.size == 0:
        return Interval(0, None, 0.0, math.inf, test.alpha)
    if (num < 0).any() or (den < 0).any():
        raise ValueError("ratio_interval: numerator and denominator must be >= 0")
    codes = _cluster_codes(clusters, num.size)
    n = num.size
    if den.sum() == 0:  # no denominator at all: the ratio is infinite once the numerator is surely above zero
        if num.sum() == 0:
            return Interval(n, None, 0.0, math.inf, test.alpha)
        surely_positive = mean_interval(num, clusters=clusters, test=test).low > 0
        return Interval(n, math.inf, math.inf if surely_positive else 0.0, math.inf, test.alpha)
    estimate = float(num.sum() / den.sum())

    def margin(r: float) -> tuple[float, float]:
        z = num - r * den
        mean = float(z.mean())
        return mean, _radius(z - mean, codes, (1.0 + r) ** 2 / 4.0, test)

    def plausible(r: float) -> bool:
        mean, radius = margin(r)
        return abs(mean) <= radius

    def solve(inside: float, outside: float) -> float:
        for _ in range(60):
            middle = math.sqrt(inside * outside) if inside > 0 and outside > 0 else (inside + outside) / 2
            if plausible(middle):
                inside = middle
            else:
                outside = middle
        return inside

    centre = min(estimate, max_ratio)  # plausible: the mean of numerator - estimate * denominator is zero
    low = 0.0 if plausible(0.0) else solve(centre, 0.0)
    high = math.inf if plausible(max_ratio) else solve(centre, max_ratio)
    return Interval(n, estimate, low, high, test.alpha)


def judge(interval: Interval, *, at_least: float | None = None, at_most: float | None = None) -> Verdict:
    """``pass`` when the whole interval lies within the bounds, ``breach`` when it lies wholly beyond one of them,
    ``undecided`` otherwise (the evidence does not settle it yet)."""
    if interval.estimate is None:
        return "undecided"
    if (at_least is not None and interval.high < at_least) or (at_most is not None and interval.low > at_most):
        return "breach"
    if (at_least is None or interval.low >= at_least) and (at_most is None or interval.high <= at_most):
        return "pass"
    return "undecided"
