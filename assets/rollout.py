"""The staged rollout in Dagster: the ``served_risk_scores`` and ``rollout_evaluation`` assets (the jobs an
operator launches to start, promote, pause, resume or abort a rollout are in :mod:`orchestration.rollout_jobs`).

Thin: serving, evaluation, the state and the actions live in :mod:`safeguard.rollout`.
"""

from datetime import date, timedelta
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)
from dagster_duckdb import DuckDBResource

from assets import groups
from assets.partitions import DUCKDB_POOL, daily_partitions, partition_days, single_run
from assets.resources import ModelStoreResource, ServingDatabaseResource
from safeguard.rollout.controls import interval_text
from safeguard.rollout.evaluation import DayEvaluation, evaluate_day
from safeguard.rollout.guardrails import GuardrailReport
from safeguard.rollout.served import SERVED_TABLE, serve_day
from safeguard.rollout.state import RolloutStore

OWNERS = ["team:safeguards-ml"]
# Bump when serving or the guardrails change, so Dagster marks days served or evaluated by older code.
ROLLOUT_CODE_VERSION = "2"  # 2: pooled stage evidence judged on confidence sequences

_GUARDRAIL_TABLE = TableSchema(
    columns=[
        TableColumn("metric", "string"),
        TableColumn("status", "string"),
        TableColumn("value", "float"),
        TableColumn("interval", "string"),
        TableColumn("threshold", "string"),
        TableColumn("note", "string"),
    ]
)


def guardrail_table(report: GuardrailReport) -> MetadataValue:
    """The guardrail report as a table for the UI."""
    return MetadataValue.table(
        [
            TableRecord(
                {
                    "metric": m.name,
                    "status": m.status,
                    "value": None if m.value is None else float(m.value),
                    "interval": interval_text(m.details.get("interval")),
                    "threshold": str(m.threshold),
                    "note": str(m.details.get("note", "")),
                }
            )
            for m in report.metrics
        ],
        schema=_GUARDRAIL_TABLE,
    )


def timeline_markdown(store: RolloutStore, rollout_id: str, through: str) -> str:
    """The rollout's stage by score date, one row per stage, up to score day ``through``."""
    rollout = store.get(rollout_id)
    changes = store.timeline(rollout_id, through)
    rows = []
    for (first, stage), following in zip(changes, [*changes[1:], None]):
        last = through if following is None else (date.fromisoformat(following[0]) - timedelta(days=1)).isoformat()
        rows.append(f"| {first} | {last} | {stage} | {rollout.plan.stage(stage).percent}% |")
    header = f"Rollout `{rollout_id}`: candidate `{rollout.candidate_version}` vs champion `{rollout.champion_version}`"
    return "\n".join(
        [
            header,
            "",
            "| first score day | last score day | stage | candidate share |",
            "|---|---|---|---|",
            *rows,
        ]
    )


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


def _decision_summary(evaluation: DayEvaluation) -> dict[str, Any]:
    event = evaluation.decision or evaluation.previous_decision
    return {
        "rollout_id": evaluation.state.rollout_id if evaluation.state else None,
        "stage_in_effect": evaluation.state.stage.name if evaluation.state else None,
        "arm_accounts": evaluation.arm_accounts,
        "guardrails": evaluation.report.status if evaluation.report else None,
        "decision": event.decision if event else None,
        "to_stage": event.to_stage if event else None,
        "recorded_now": evaluation.decision is not None,
        "reason": event.reason if event else evaluation.note,
    }


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
            summary = _decision_summary(evaluation)
            context.log.info(f"{day}: {summary['decision'] or 'no decision'} ({summary['reason']})")
        metadata: dict[str, Any] = {
            "decisions": MetadataValue.json({e.day: _decision_summary(e) for e in evaluations}),
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
