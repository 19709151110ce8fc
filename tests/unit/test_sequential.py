"""Always-valid intervals under daily peeking, and the rollout policy's false-advance rate (issue 15).

Simulations with fixed seeds: each draws many rollouts whose truth sits exactly on the boundary of the harmful
region, looks at the evidence every day, and counts the rollouts in which the verdict ever claims the good side.
A fixed-sample 95% interval looked at daily fails this (shown for contrast); the confidence sequences must not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from safeguard.rollout import RolloutPlan, decide, evaluate_guardrails
from safeguard.rollout.guardrails import GuardrailConfig
from safeguard.rollout.sequential import (
    Interval,
    SequentialTest,
    difference_interval,
    judge,
    mean_interval,
    ratio_interval,
)

ALPHA = 0.05


def test_daily_peeking_keeps_the_stated_error_where_a_fixed_interval_does_not():
    rng = np.random.default_rng(1)
    rollouts, looks, per_day = 300, 25, 60
    sequence_errors = fixed_errors = 0
    for _ in range(rollouts):
        x = rng.choice([-1.0, 0.0, 1.0], size=looks * per_day, p=[0.2, 0.6, 0.2])  # paired difference, mean 0
        sequence_wrong = fixed_wrong = False
        for day in range(1, looks + 1):
            seen = x[: day * per_day]
            interval = mean_interval(seen, test=SequentialTest(ALPHA, 500), value_range=2.0)
            sequence_wrong |= interval.low > 0 or interval.high < 0
            half = 1.96 * seen.std() / math.sqrt(seen.size)
            fixed_wrong |= abs(seen.mean()) > half
        sequence_errors += sequence_wrong
        fixed_errors += fixed_wrong
    assert sequence_errors / rollouts <= ALPHA
    assert fixed_errors / rollouts > 2 * ALPHA  # the problem the sequences solve is real at this many looks


def test_clustering_counts_accounts_not_rows():
    """The same 100 accounts seen on 30 days: their rows are not independent evidence."""
    rng = np.random.default_rng(2)
    accounts = np.tile(np.arange(100), 30)
    rollouts, clustered_wrong, naive_wrong = 200, 0, 0
    for _ in range(rollouts):
        effect = rng.normal(0, 1, 100)  # each account's lasting value, mean 0 over accounts
        values = np.clip(effect[accounts] + rng.normal(0, 0.1, accounts.size), -3, 3)
        clustered = mean_interval(values, clusters=accounts, value_range=6.0)
        naive = mean_interval(values, value_range=6.0)
        clustered_wrong += clustered.low > 0 or clustered.high < 0
        naive_wrong += naive.low > 0 or naive.high < 0
        assert clustered.high - clustered.low > 3 * (naive.high - naive.low)
    assert clustered_wrong / rollouts <= ALPHA < naive_wrong / rollouts


def test_small_samples_are_not_overconfident():
    twenty_equal = mean_interval(np.zeros(20), value_range=2.0)
    assert twenty_equal.high - twenty_equal.low > 0.5  # twenty ties say little
    assert mean_interval([], value_range=2.0).estimate is None
    assert judge(mean_interval([])) == "undecided"
    with pytest.raises(ValueError, match="finite"):
        mean_interval([0.0, math.nan])
    with pytest.raises(ValueError, match="align"):
        mean_interval([0.0, 1.0], clusters=["a"])


def test_ratio_interval_covers_the_truth_and_handles_an_empty_denominator():
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(200):
        champion = rng.random(3000) < 0.05
        candidate = rng.random(3000) < 0.075  # true ratio 1.5
        interval = ratio_interval(candidate, champion)
        covered += interval.low <= 1.5 <= interval.high
        assert interval.low < interval.estimate < interval.high
    assert covered / 200 >= 1 - ALPHA
    none = ratio_interval(np.ones(500), np.zeros(500))
    assert none.estimate == math.inf and judge(none, at_most=2.0) == "breach"
    assert ratio_interval(np.zeros(10), np.zeros(10)).estimate is None
    with pytest.raises(ValueError, match=">= 0"):
        ratio_interval([-1.0], [1.0])


def test_difference_and_judge():
    sure = difference_interval(np.ones(2000), np.zeros(2000))
    assert judge(sure, at_least=0.5) == "pass" and judge(sure, at_most=0.5) == "breach"
    assert judge(Interval(10, 0.0, -0.3, 0.3, ALPHA), at_least=-0.1) == "undecided"
    assert SequentialTest.from_dict(SequentialTest(0.01, 300).to_dict()) == SequentialTest(0.01, 300)
    for bad in ({"alpha": 0.0}, {"alpha": 0.7}, {"planned_rows": 0}, {"planned_rows": True}):
        with pytest.raises(ValueError, match="SequentialTest"):
            SequentialTest(**bad)
    with pytest.raises(ValueError, match="unknown SequentialTest"):
        SequentialTest.from_dict({"beta": 1})


def _equal_candidate_rollout(rng: np.random.Generator, plan: RolloutPlan, days: int, accounts: int) -> int | None:
    """One shadow stage of a candidate exactly as good as the champion; the first day it advances, or None."""
    risk = rng.beta(1.0, 15.0, accounts)
    bad = rng.random(accounts) < 2 * risk  # each account's lasting label
    ids = np.arange(accounts)
    tiers = np.array(["low", "elevated", "high", "critical"])
    pooled: dict[str, list[np.ndarray]] = {"ch": [], "cd": [], "ids": [], "lab": []}
    for day in range(1, days + 1):
        # Both models see the same risk through their own noise: equal skill, different alerts.
        champion = np.clip(risk * rng.lognormal(0, 0.35, accounts), 0, 1)
        candidate = np.clip(risk * rng.lognormal(0, 0.35, accounts), 0, 1)
        for key, value in (("ch", champion), ("cd", candidate), ("ids", ids), ("lab", bad.astype(float))):
            pooled[key].append(value)
        ch, cd = np.concatenate(pooled["ch"]), np.concatenate(pooled["cd"])
        report = evaluate_guardrails(
            ch,
            cd,
            tiers[np.searchsorted([0.1, 0.3, 0.6], ch, side="right")],
            tiers[np.searchsorted([0.1, 0.3, 0.6], cd, side="right")],
            accounts=np.concatenate(pooled["ids"]),
            labels=np.concatenate(pooled["lab"]),
            config=plan.guardrails,
        )
        if decide(plan, "shadow", day, accounts, report, paused=False).action == "advance":
            return day
    return None


def test_the_policy_advances_an_equal_candidate_no_more_often_than_its_stated_error():
    """A plan that asks for a candidate at least as good as the champion (margins 0): an equal candidate is on
    the boundary, so every advance is a false one. Daily peeking over 12 days, 150 rollouts."""
    strict = GuardrailConfig(max_precision_drop=0.0, max_recall_drop=0.0, sequential=SequentialTest(ALPHA, 500))
    plan = RolloutPlan(min_days_per_stage=1, min_arm_accounts=1, guardrails=strict)
    rng = np.random.default_rng(4)
    advanced = [_equal_candidate_rollout(rng, plan, days=12, accounts=600) for _ in range(150)]
    false_advance_rate = sum(day is not None for day in advanced) / len(advanced)
    assert false_advance_rate <= ALPHA, advanced
    # With the default margins (0.1) the same equal candidate is inside the tolerated region and does advance.
    lenient = RolloutPlan(min_days_per_stage=1, min_arm_accounts=1)
    assert sum(_equal_candidate_rollout(rng, lenient, days=12, accounts=600) is not None for _ in range(10)) >= 8
