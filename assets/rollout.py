"""The staged rollout in Dagster: the ``served_risk_scores`` and ``rollout_evaluation`` assets (the jobs an
operator launches to start, promote, pause, resume or abort a rollout are in :mod:`orchestration.rollout_jobs`).

Thin: serving, evaluation, the state and the actions live in :mod:`safeguard.rollout`.
"""

from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)
from dagster_duckdb import DuckDBResource

from assets import groups
from assets.metadata_tables import guardrail_table
from assets.partitions import DUCKDB_POOL, daily_partitions, partition_days, single_run
from assets.resources import ModelStoreResource, ServingDatabaseResource
from safeguard.rollout.evaluation import evaluate_day
from safeguard.rollout.served import SERVED_TABLE, serve_day
from safeguard.rollout.timeline import timeline_markdown

OWNERS = ["team:safeguards-ml"]
# Bump when serving or the guardrails change, so Dagster marks days served or evaluated by older code.
ROLLOUT_CODE_VERSION = "2"  # 2: pooled stage evidence judged on confidence sequences


@asset(
    group_name=groups.ROLLOUT,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    pool=DUCKDB_POOL,
    deps=[AssetKey("account_risk_scores")],
    kinds={"duckdb"},
    owners=OWNERS,
    code_version=ROLLOUT_CODE_VERSION,
)
def served_risk_scores(
    context: AssetExecutionContext, warehouse: DuckDBResource, serving: ServingDatabaseResource
) -> MaterializeResult:
    """Per account and day, the score that is served: the champion's, or the candidate's inside the rollout's
    candidate arm (never in shadow), with arm, stage and bucket, in ``scoring.served_risk_scores``. The stage of
    each day comes from the rollout audit log, so materializing a day again gives the same rows."""
    days = partition_days(*context.partition_time_window)
    with serving.stores() as stores:
        states = {day: stores.rollouts.state_for_day(day) for day in days}
    served = []
    with warehouse.get_connection() as con:
        for day in days:
            served.append(serve_day(con, day, states[day]))
            context.log.info(f"{day}: served {served[-1].rows} accounts, arms {served[-1].arms}")
    last = served[-1]
    return MaterializeResult(
        metadata={
            "dagster/row_count": sum(s.rows for s in served),
            "table": SERVED_TABLE,
            "arms_per_day": MetadataValue.json({s.day: s.arms for s in served}),
            "stage_per_day": MetadataValue.json({s.day: s.stage or "champion only" for s in served}),
            "served_versions": MetadataValue.json(last.versions),
            "tiers": MetadataValue.json(last.tiers),
            "rollout_id": last.rollout_id or "none",
        }
    )


@asset(
    group_name=groups.ROLLOUT,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    pool=DUCKDB_POOL,
    deps=[AssetKey("served_risk_scores")],
    kinds={"duckdb", "python"},
    owners=OWNERS,
    code_version=ROLLOUT_CODE_VERSION,
)
def rollout_evaluation(
    context: AssetExecutionContext,
    warehouse: DuckDBResource,
    serving: ServingDatabaseResource,
    model_store: ModelStoreResource,
) -> MaterializeResult:
    """The rollout's guardrails on each day's candidate arm (alert-rate ratio, score PSI, precision and recall on
    matured labels, feature drift) and the automatic decision (advance, hold, roll back) in ``rollout_events``.
    A day that was decided already is re-measured, never re-decided."""
    days = partition_days(*context.partition_time_window)
    evaluations = []
    with serving.stores(model_store) as stores, warehouse.get_connection() as con:
        store, registry = stores.rollouts, stores.registry
        for day in days:
            evaluation = evaluate_day(con, day, store, registry)
            evaluations.append(evaluation)
            summary = evaluation.summary()
            context.log.info(f"{day}: {summary['decision'] or 'no decision'} ({summary['reason']})")
        metadata: dict[str, Any] = {
            "decisions": MetadataValue.json({e.day: e.summary() for e in evaluations}),
        }
        reported = [e for e in evaluations if e.report is not None]
        if reported:
            latest = reported[-1]
            metadata["guardrails"] = guardrail_table(latest.report)
            metadata["guardrails_day"] = latest.day
            metadata["guardrail_status"] = latest.report.status
            metadata["arm_accounts"] = latest.arm_accounts
            metadata["pooled_account_days"] = latest.pooled_rows
            metadata["matured_labels"] = latest.labelled_rows
            metadata["label_outlook"] = latest.label_outlook
            agreement = next((m for m in latest.report.metrics if m.name == "alert_agreement"), None)
            if agreement is not None:
                metadata["paired_comparison"] = MetadataValue.json(
                    {
                        k: agreement.details.get(k)
                        for k in ("rank_agreement", "kept", "dropped", "new", "tier_migration")
                    }
                )
            metadata["new_alerts"] = MetadataValue.json(latest.new_alerts)
            metadata["rollout_timeline"] = MetadataValue.md(timeline_markdown(store, latest.state.rollout_id, days[-1]))
    return MaterializeResult(metadata=metadata)


rollout_assets = [served_risk_scores, rollout_evaluation]
