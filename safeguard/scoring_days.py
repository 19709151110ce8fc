"""A run's days scored (issue 21: out of the ``account_risk_scores`` asset): for each day, the models that score it
(``versions_for_day``: the rollout's on its days, the same ones again on a re-run, else the registry's champion
and candidates), every account scored and explained, the day written whole. One day in memory at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow.compute as pc

from safeguard.linked_reasons import read_enforced_links
from safeguard.registry import ModelRegistry
from safeguard.rollout.state import RolloutStore
from safeguard.scoring import (
    FEATURES_TABLE,
    SCORES_SCHEMA,
    read_day_features,
    score_accounts,
    scored_versions,
    versions_for_day,
    write_scores,
)
from safeguard.tiers import TierThresholds
from safeguard.vocabulary import CHAMPION


class NoChampionError(RuntimeError):
    """Nothing can be scored: the registry has no champion."""


@dataclass
class ScoredDays:
    rows_per_day: dict[str, int] = field(default_factory=dict)
    tiers_per_day: dict[str, dict] = field(default_factory=dict)
    versions_used: dict[str, str] = field(default_factory=dict)  # version -> role
    worst_additivity_error: float = 0.0
    explained_rows: int = 0
    last_champion_probabilities: np.ndarray = field(default_factory=lambda: np.array([]))
    last_thresholds: TierThresholds | None = None

    @property
    def rows(self) -> int:
        return sum(self.rows_per_day.values())


def score_days(
    con,
    registry: ModelRegistry,
    rollouts: RolloutStore,
    days: Sequence[str],
    *,
    sample_rate: float,
    warn: Callable[[str], None] = lambda _: None,
) -> ScoredDays:
    """Score ``days`` of ``marts.fct_account_features`` into ``scoring.account_risk_scores`` (each day replaced
    whole); a day without features has its scores emptied, with a warning."""
    champion = registry.champion()
    if champion is None:
        raise NoChampionError("no champion model in the registry: materialize risk_model (and pass its gate) first")
    candidates = [c.version for c in registry.candidates()]
    loaded = {}  # version -> TrainedModel, each artifact read and checked once
    out = ScoredDays()
    for day in days:
        features = read_day_features(con, day)
        if features.empty:
            warn(f"{day}: no rows in {FEATURES_TABLE}; the day's scores are emptied")
            write_scores(con, SCORES_SCHEMA.empty_table(), [day])
            out.rows_per_day[day] = 0
            continue
        state = rollouts.state_for_day(day)
        scored_before = scored_versions(con, day)
        versions = versions_for_day(
            rollout_versions=(state.champion_version, state.candidate_version) if state else None,
            scored_before=scored_before,
            champion=champion.version,
            candidates=candidates,
        )
        replay = state is not None or bool(scored_before)  # models this day already had
        for _, version in versions:
            if version not in loaded:
                loaded[version] = registry.load(version, replay=replay)
        models = [(role, loaded[version]) for role, version in versions]
        out.versions_used.update({version: role for role, version in versions})
        scored = score_accounts(
            features, models, day, sample_rate=sample_rate, enforced_links=read_enforced_links(con, day)
        )
        out.rows_per_day[day] = write_scores(con, scored.table, [day])
        out.tiers_per_day[day] = scored.tier_counts()
        out.worst_additivity_error = max(out.worst_additivity_error, scored.additivity_error)
        out.explained_rows += scored.explained_rows
        champion_rows = scored.table.filter(pc.equal(scored.table.column("model_role"), CHAMPION))
        out.last_champion_probabilities = champion_rows.column("probability").to_numpy()
        out.last_thresholds = models[0][1].thresholds
    return out
