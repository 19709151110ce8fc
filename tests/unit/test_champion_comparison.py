"""The candidate against the champion on the same rows, with a paired bootstrap interval (safeguard.gate)."""

from __future__ import annotations

import numpy as np
import pytest

from safeguard.champion_comparison import paired_difference
from safeguard.gate import GateConfig, quality_gate

GOOD = {"auc_pr": 0.4, "recall_at_1pct_fpr": 0.3, "ece": 0.01, "positive_rate": 0.01}


def world(seed: int, accounts: int = 3000, days: int = 5):
    """Accounts seen on several days; an account's lasting risk drives its label and both models' scores."""
    rng = np.random.default_rng(seed)
    risk = rng.beta(0.5, 20.0, accounts)
    ids = np.tile(np.arange(accounts), days)
    y = (rng.random(ids.size) < np.minimum(1, 3 * risk[ids])).astype(float)
    return rng, ids, y, risk[ids]


def test_an_equally_good_candidate_has_an_interval_around_zero_and_passes_the_gate():
    rng, ids, y, risk = world(1)
    champion = np.log(risk) + rng.normal(0, 0.5, ids.size)
    candidate = np.log(risk) + rng.normal(0, 0.5, ids.size)
    comparison = paired_difference(y, candidate, champion, ids)
    for name in ("auc_pr", "recall_at_1pct_fpr"):
        c = comparison[name]
        assert c["low"] < 0 < c["high"] or abs(c["difference"]) < 0.02
        assert c["difference"] == pytest.approx(c["candidate"] - c["champion"])
    # A fixed tolerance on the point estimates can refuse it by chance; the interval does not.
    result = quality_gate(
        GOOD,
        GateConfig(champion_tolerance=0.02),
        {"auc_pr": 0.4, "recall_at_1pct_fpr": 0.3},
        champion_comparison=comparison,
    )
    assert result.passed
    assert {"auc_pr_vs_champion_upper_bound", "recall_at_1pct_fpr_vs_champion_upper_bound"} <= {
        c["name"] for c in result.checks
    }


def test_a_surely_worse_candidate_is_refused():
    rng, ids, y, risk = world(2)
    champion = np.log(risk) + rng.normal(0, 0.3, ids.size)
    random_scores = rng.normal(0, 1, ids.size)
    comparison = paired_difference(y, random_scores, champion, ids)
    assert comparison["auc_pr"]["high"] < -0.02
    result = quality_gate(
        GOOD, GateConfig(), {"auc_pr": 0.6, "recall_at_1pct_fpr": 0.5}, champion_comparison=comparison
    )
    assert not result.passed
    assert "auc_pr_vs_champion_upper_bound" in {c["name"] for c in result.checks if not c["passed"]}


def test_accounts_are_drawn_whole_so_repeated_days_do_not_narrow_the_interval():
    rng, ids, y, risk = world(3, accounts=800, days=1)
    champion = np.log(risk) + rng.normal(0, 0.5, ids.size)
    candidate = np.log(risk) + rng.normal(0, 0.5, ids.size)
    once = paired_difference(y, candidate, champion, ids)["auc_pr"]
    # The same rows repeated ten times under the same account ids: the same evidence, not ten times more.
    repeated = paired_difference(np.tile(y, 10), np.tile(candidate, 10), np.tile(champion, 10), np.tile(ids, 10))[
        "auc_pr"
    ]
    assert repeated["high"] - repeated["low"] == pytest.approx(once["high"] - once["low"], rel=0.35)
    with pytest.raises(ValueError, match="must align"):
        paired_difference(y, candidate, champion, ids[:-1])
