"""The staged rollout in Dagster: the ``served_risk_scores`` and ``rollout_evaluation`` assets and the jobs an
operator launches to start, promote, pause, resume or abort a rollout, or to print its status.

Thin: serving, evaluation, the state and the actions live in :mod:`safeguard.rollout`. The action jobs and the
``safeguard rollout`` command call the same :mod:`safeguard.rollout.controls` functions.
"""

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
    job,
    op,
)
from dagster_duckdb import DuckDBResource
from pydantic import Field

from assets import groups
from orchestration.partitions import DUCKDB_POOL, daily_partitions, partition_days, single_run
from orchestration.resources import ModelStoreResource, ServingDatabaseResource
from safeguard.registry import ModelRegistry
from safeguard.rollout import controls
from safeguard.rollout.controls import interval_text
from safeguard.rollout.evaluation import DayEvaluation, evaluate_day
from safeguard.rollout.guardrails import GuardrailReport
from safeguard.rollout.served import SERVED_TABLE, last_served_day, serve_day
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


# -- operator actions as jobs ------------------------------------------------------------------------------------


class RolloutActionConfig(Config):
    actor: str = Field(description="The person taking the action (recorded in the audit log).")


class StartRolloutConfig(RolloutActionConfig):
    candidate_version: str | None = Field(default=None, description="Default: the registry's only candidate.")
    plan_json: str | None = Field(default=None, description="A RolloutPlan as JSON (any subset of its fields).")
    min_days_per_stage: int | None = Field(default=None, ge=0)
    min_arm_accounts: int | None = Field(default=None, ge=0)
    max_auto_stage: int | None = Field(default=None, ge=0, le=100)
    force: bool = Field(
        default=False, description="Start although the backtest is missing or does not pass (recorded with the actor)."
    )


class PauseRolloutConfig(RolloutActionConfig):
    reason: str | None = None


class AbortRolloutConfig(RolloutActionConfig):
    reason: str = Field(description="Why the candidate is taken out of traffic (recorded in the audit log).")


def _act(
    context: OpExecutionContext,
    warehouse: DuckDBResource,
    serving: ServingDatabaseResource,
    model_store: ModelStoreResource,
    action: Callable[[RolloutStore, ModelRegistry, Any], Any],
) -> str:
    """Run ``action(store, registry, last_served)`` and log the rollout status afterwards."""
    with warehouse.get_connection() as con:
        last_served = last_served_day(con)
    with serving.stores(model_store) as stores:
        action(stores.rollouts, stores.registry, last_served)
        text = controls.format_status(controls.status(stores.rollouts, last_served=last_served))
    context.log.info(text)
    return text


@op(pool=DUCKDB_POOL)
def start_rollout(
    context: OpExecutionContext,
    config: StartRolloutConfig,
    warehouse: DuckDBResource,
    serving: ServingDatabaseResource,
    model_store: ModelStoreResource,
) -> str:
    plan = controls.plan_from_options(
        config.plan_json,
        min_days_per_stage=config.min_days_per_stage,
        min_arm_accounts=config.min_arm_accounts,
        max_auto_stage=config.max_auto_stage,
    )
    return _act(
        context,
        warehouse,
        serving,
        model_store,
        lambda store, registry, last: controls.start(
            store,
            registry,
            config.actor,
            candidate_version=config.candidate_version,
            plan=plan,
            last_served=last,
            force=config.force,
        ),
    )


def _action_job(
    name: str,
    op_name: str,
    config_type: type[RolloutActionConfig],
    action: Callable[[Any, RolloutStore, ModelRegistry, Any], Any],
    description: str,
):
    """A one-op job for a manual rollout action: ``action(config, store, registry, last_served)``, then the
    status in the run's log. Run config: ``ops.<op_name>.config`` (the actor, and a reason where asked)."""

    @op(name=op_name, pool=DUCKDB_POOL)
    def action_op(
        context: OpExecutionContext,
        config: config_type,
        warehouse: DuckDBResource,
        serving: ServingDatabaseResource,
        model_store: ModelStoreResource,
    ) -> str:
        return _act(
            context,
            warehouse,
            serving,
            model_store,
            lambda store, registry, last: action(config, store, registry, last),
        )

    @job(name=name, description=description)
    def action_job():
        action_op()

    return action_job


@op(pool=DUCKDB_POOL)
def rollout_status_report(
    context: OpExecutionContext,
    warehouse: DuckDBResource,
    serving: ServingDatabaseResource,
    model_store: ModelStoreResource,
) -> str:
    return _act(context, warehouse, serving, model_store, lambda store, registry, last: None)


@job(description="Start rolling out the registry's candidate in shadow (run config: actor, optional plan).")
def rollout_start():
    start_rollout()


rollout_promote = _action_job(
    "rollout_promote",
    "promote_rollout",
    RolloutActionConfig,
    lambda c, store, registry, last: controls.promote(store, registry, c.actor, last_served=last),
    "Move the running rollout one stage on; at the last stage the candidate becomes champion.",
)
rollout_pause = _action_job(
    "rollout_pause",
    "pause_rollout",
    PauseRolloutConfig,
    lambda c, store, registry, last: controls.pause(store, c.actor, c.reason, last_served=last),
    "Freeze automatic advancing of the running rollout (guardrail rollbacks still apply).",
)
rollout_resume = _action_job(
    "rollout_resume",
    "resume_rollout",
    RolloutActionConfig,
    lambda c, store, registry, last: controls.resume(store, c.actor, last_served=last),
    "Let the daily evaluation advance the running rollout again.",
)
rollout_abort = _action_job(
    "rollout_abort",
    "abort_rollout",
    AbortRolloutConfig,
    lambda c, store, registry, last: controls.abort(store, c.actor, c.reason, last_served=last),
    "Take the candidate out of traffic from the next served day on (run config: actor, reason).",
)


@job(description="Log the rollout's stage, days in stage, latest guardrails and last decisions.")
def rollout_status():
    rollout_status_report()


rollout_assets = [served_risk_scores, rollout_evaluation]
rollout_jobs = [rollout_start, rollout_promote, rollout_pause, rollout_resume, rollout_abort, rollout_status]
