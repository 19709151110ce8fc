"""The paired comparison of two models on the same accounts: rank agreement and tier migration (issue 15).

In shadow both models score every account; these describe how the candidate would move accounts if it served
them. ``safeguard.rollout.guardrails`` attaches them to the ``alert_agreement`` guardrail's details.
"""

from __future__ import annotations

import numpy as np

from safeguard.vocabulary import TIERS  # ascending risk; the scoring step assigns them


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks


def rank_agreement(champion: np.ndarray, candidate: np.ndarray) -> float | None:
    """Spearman's rank correlation of the two models' scores on the same rows (ties broken by position)."""
    if len(champion) < 2:
        return None
    a, b = _ranks(champion), _ranks(candidate)
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator else None


def tier_migration(champion_tiers: np.ndarray, candidate_tiers: np.ndarray) -> dict[str, dict[str, int]]:
    """Rows per (champion tier -> candidate tier): how the accounts would move if the candidate served them."""
    champion_tiers, candidate_tiers = (
        np.asarray(champion_tiers).astype(str),
        np.asarray(candidate_tiers).astype(str),
    )
    return {
        source: {target: int(np.sum((champion_tiers == source) & (candidate_tiers == target))) for target in TIERS}
        for source in TIERS
    }
