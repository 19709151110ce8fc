"""The ``account_risk_scores`` asset: every account of each day scored by the champion and any candidates.

Thin: scoring, explanations, the table schema and which models score a day (``versions_for_day``: the rollout's
models on its days, the same models again on a re-run, else the registry's) live in :mod:`safeguard.scoring`.
Days are written one at a time (each replaced whole), so a long backfill never holds more than one day in memory.
"""

import numpy as np
import pyarrow.compute as pc
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource

from assets import groups
from assets.partitions import DUCKDB_POOL, daily_partitions, partition_days, single_run
from assets.resources import ModelStoreResource, ServingDatabaseResource
from safeguard import model_card
from safeguard.explain import ADDITIVITY_TOLERANCE, DEFAULT_SAMPLE_RATE
from safeguard.linked_reasons import read_enforced_links
from safeguard.scoring import (
    SCORES_SCHEMA,
    SCORES_TABLE,
    read_day_features,
    score_accounts,
    scored_versions,
    versions_for_day,
    write_scores,
)
from safeguard.stores import ServingStores
from safeguard.vocabulary import CHAMPION

OWNERS = ["team:safeguards-ml"]
# Bump when scoring, tiers or reasons change, so Dagster marks days scored by older code.
SCORING_CODE_VERSION = "1"


class ScoringConfig(Config):
    monitoring_sample_rate: float = DEFAULT_SAMPLE_RATE  # share of accounts explained whatever their tier


@asset(
    group_name=groups.SCORING,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    pool=DUCKDB_POOL,
    deps=[AssetKey("fct_account_features"), AssetKey("risk_model")],
    kinds={"lightgbm", "duckdb"},
    owners=OWNERS,
    code_version=SCORING_CODE_VERSION,
    check_specs=[
        AssetCheckSpec(
            "shap_additivity",
            asset="account_risk_scores",
            blocking=True,
            description=f"On every explained row, contributions + base value = raw margin (within {ADDITIVITY_TOLERANCE}).",
        )
    ],
)
def account_risk_scores(
    context: AssetExecutionContext,
    config: ScoringConfig,
    warehouse: DuckDBResource,
    serving: ServingDatabaseResource,
    model_store: ModelStoreResource,
) -> MaterializeResult:
    """Probability, tier and top reasons per account, day and model, in ``scoring.account_risk_scores``."""
    days = partition_days(*context.partition_time_window)
    with serving.stores(model_store) as stores:
        return _score_days(context, config, warehouse, stores, days)


def _score_days(
    context, config, warehouse: DuckDBResource, stores: ServingStores, days: list[str]
) -> MaterializeResult:
    """The days scored by the models the registry and the rollout give each day (the body of the asset, over an
    open serving database)."""
    registry = stores.registry
    champion = registry.champion()
    if champion is None:
        raise Failure("no champion model in the registry: materialize risk_model (and pass its gate) first")
    candidates = [c.version for c in registry.candidates()]
    rollouts = stores.rollouts
    loaded = {}  # version -> TrainedModel, each artifact read and checked once

    rows_per_day: dict[str, int] = {}
    tiers_per_day: dict[str, dict] = {}
    versions_used: dict[str, str] = {}
    worst_error, explained = 0.0, 0
    last_probabilities, last_thresholds = np.array([]), None
    with warehouse.get_connection() as con:
        for day in days:
            features = read_day_features(con, day)
            if features.empty:
                context.log.warning(f"{day}: no rows in marts.fct_account_features; the day's scores are emptied")
                write_scores(con, SCORES_SCHEMA.empty_table(), [day])
                rows_per_day[day] = 0
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
            versions_used.update({version: role for role, version in versions})
            scored = score_accounts(
                features,
                models,
                day,
                sample_rate=config.monitoring_sample_rate,
                enforced_links=read_enforced_links(con, day),
            )
            rows_per_day[day] = write_scores(con, scored.table, [day])
            tiers_per_day[day] = scored.tier_counts()
            worst_error = max(worst_error, scored.additivity_error)
            explained += scored.explained_rows
            champion_rows = scored.table.filter(pc.equal(scored.table.column("model_role"), CHAMPION))
            last_probabilities = champion_rows.column("probability").to_numpy()
            last_thresholds = models[0][1].thresholds
    context.log.info(
        f"scored {sum(rows_per_day.values())} rows over {len(days)} day(s) with {len(versions_used)} model(s)"
    )

    metadata = {
        "rows": sum(rows_per_day.values()),
        "rows_per_day": MetadataValue.json(rows_per_day),
        "tier_counts": MetadataValue.json(tiers_per_day),
        "models": MetadataValue.json(versions_used),
        "explained_rows": explained,
        "table": SCORES_TABLE,
    }
    if last_probabilities.size:
        png = model_card.score_histogram_png(
            last_probabilities, last_thresholds, title=f"Champion scores on {days[-1]}"
        )
        metadata["score_histogram"] = MetadataValue.md(model_card.png_markdown(png, "score histogram"))
    return MaterializeResult(
        metadata=metadata,
        check_results=[
            AssetCheckResult(
                check_name="shap_additivity",
                passed=worst_error <= ADDITIVITY_TOLERANCE,
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "max_abs_error": worst_error,
                    "explained_rows": explained,
                    "tolerance": ADDITIVITY_TOLERANCE,
                },
            )
        ],
    )
