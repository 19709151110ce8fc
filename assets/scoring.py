"""The ``account_risk_scores`` asset: every account of each day scored by the champion and any candidates.

Thin: the days' loop is :func:`safeguard.scoring_days.score_days`; scoring, explanations, the table schema and
which models score a day (``versions_for_day``) live in :mod:`safeguard.scoring`.
Days are written one at a time (each replaced whole), so a long backfill never holds more than one day in memory.
"""

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
from safeguard.scoring import (
    SCORES_TABLE,
)
from safeguard.scoring_days import NoChampionError, score_days

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
    with serving.stores(model_store) as stores, warehouse.get_connection() as con:
        try:
            scored = score_days(
                con,
                stores.registry,
                stores.rollouts,
                days,
                sample_rate=config.monitoring_sample_rate,
                warn=context.log.warning,
            )
        except NoChampionError as e:
            raise Failure(str(e)) from None
    context.log.info(f"scored {scored.rows} rows over {len(days)} day(s) with {len(scored.versions_used)} model(s)")

    metadata = {
        "rows": scored.rows,
        "rows_per_day": MetadataValue.json(scored.rows_per_day),
        "tier_counts": MetadataValue.json(scored.tiers_per_day),
        "models": MetadataValue.json(scored.versions_used),
        "explained_rows": scored.explained_rows,
        "table": SCORES_TABLE,
    }
    if scored.last_champion_probabilities.size:
        png = model_card.score_histogram_png(
            scored.last_champion_probabilities, scored.last_thresholds, title=f"Champion scores on {days[-1]}"
        )
        metadata["score_histogram"] = MetadataValue.md(model_card.png_markdown(png, "score histogram"))
    return MaterializeResult(
        metadata=metadata,
        check_results=[
            AssetCheckResult(
                check_name="shap_additivity",
                passed=scored.worst_additivity_error <= ADDITIVITY_TOLERANCE,
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "max_abs_error": scored.worst_additivity_error,
                    "explained_rows": scored.explained_rows,
                    "tolerance": ADDITIVITY_TOLERANCE,
                },
            )
        ],
    )
