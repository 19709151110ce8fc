"""The offline backtest in Dagster: the ``rollout_backtest`` asset, which an operator launches from the UI as
``rollout_backtest_job`` (defined with the other jobs in :mod:`orchestration.automation`; issue 15).

Thin: the replay, the judgement and the stored row live in :mod:`safeguard.rollout.backtest_replay`,
:mod:`safeguard.rollout.backtest` and :mod:`safeguard.rollout.backtest_store`; ``safeguard rollout backtest`` runs
the same code. Not part of the daily pipeline: it runs when someone wants to know whether a candidate may start a
rollout.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from assets import groups
from assets.partitions import DUCKDB_POOL
from assets.resources import ModelStoreResource, ServingDatabaseResource
from safeguard import model_card
from safeguard.rollout.backtest_replay import BACKTEST_SCORES_TABLE, run_backtest
from safeguard.rollout.backtest_report import format_backtest, per_day_markdown, per_day_png, pooled_markdown
from safeguard.rollout.backtest_store import record_backtest

# Beside risk_model: it judges a registered candidate offline, once, not a dated partition like the rollout group.
OWNERS = ["team:safeguards-ml"]


class BacktestConfig(Config):
    days: int | None = Field(default=None, description="Feature days to replay, the newest ones (default 28).")
    candidate_version: str | None = Field(default=None, description="Default: the registry's only candidate.")


@asset(
    group_name=groups.MODELING,
    pool=DUCKDB_POOL,
    deps=[AssetKey("fct_account_features"), AssetKey("fct_training_examples"), AssetKey("account_risk_scores")],
    kinds={"duckdb", "python"},
    owners=OWNERS,
)
def rollout_backtest(
    context: AssetExecutionContext,
    config: BacktestConfig,
    warehouse: DuckDBResource,
    serving: ServingDatabaseResource,
    model_store: ModelStoreResource,
) -> MaterializeResult:
    """The candidate replayed over the newest feature days (``scoring.backtest_scores``), judged against the
    champion's published scores on the labels matured by now; the verdict ``rollout start`` requires is stored in
    ``rollout_backtests``."""
    with serving.stores(model_store) as stores:
        with warehouse.get_connection() as con:
            result = run_backtest(con, stores.registry, candidate_version=config.candidate_version, days=config.days)
        stored = record_backtest(stores.engine, result)
        candidate = stores.registry.load(stored.candidate_version)
    context.log.info(format_backtest(stored))
    metadata = {
        "verdict": stored.verdict,
        "judged_days": stored.judged_days,
        "candidate_version": stored.candidate_version,
        "champion_version": stored.champion_version,
        "backtest_id": stored.backtest_id,
        "days": f"{stored.first_day} .. {stored.last_day}",
        "table": BACKTEST_SCORES_TABLE,
        "dagster/row_count": result.rows_scored,
        "pooled": MetadataValue.md(pooled_markdown(stored)),
        "per_day": MetadataValue.md(per_day_markdown(stored)),
        "seconds": MetadataValue.json(result.seconds),
        "model_card": MetadataValue.md(model_card.model_card_markdown(candidate, backtest=stored)),
    }
    png = per_day_png(stored)
    if png is not None:
        metadata["per_day_plot"] = MetadataValue.md(model_card.png_markdown(png, "per-day precision and recall"))
    return MaterializeResult(metadata=metadata)
