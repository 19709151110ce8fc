"""The jobs an operator launches to start, promote, pause, resume or abort the staged rollout, or to log its
status. Each is one op calling :mod:`safeguard.rollout.controls`, the functions the ``safeguard rollout`` command
calls too; the run config names the actor (and a reason where asked), recorded in the audit log.
"""

from collections.abc import Callable
from typing import Any

from dagster import Config, OpExecutionContext, job, op
from dagster_duckdb import DuckDBResource
from pydantic import Field

from assets.partitions import DUCKDB_POOL
from assets.resources import ModelStoreResource, ServingDatabaseResource
from safeguard.registry import ModelRegistry
from safeguard.rollout import controls
from safeguard.rollout.served import last_served_day
from safeguard.rollout.state import RolloutStore


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
        lambda store, registry, last: controls.act(
            "start",
            store,
            registry,
            config.actor,
            last_served=last,
            candidate_version=config.candidate_version,
            plan=plan,
            force=config.force,
        ),
    )


def _action_job(
    name: str,
    op_name: str,
    config_type: type[RolloutActionConfig],
    action: str,
    description: str,
):
    """A one-op job for the operator's ``action`` (:func:`safeguard.rollout.controls.act`), then the status in
    the run's log. Run config: ``ops.<op_name>.config`` (the actor, and a reason where asked)."""

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
            lambda store, registry, last: controls.act(
                action, store, registry, config.actor, reason=getattr(config, "reason", None), last_served=last
            ),
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
    "promote",
    "Move the running rollout one stage on; at the last stage the candidate becomes champion.",
)
rollout_pause = _action_job(
    "rollout_pause",
    "pause_rollout",
    PauseRolloutConfig,
    "pause",
    "Freeze automatic advancing of the running rollout (guardrail rollbacks still apply).",
)
rollout_resume = _action_job(
    "rollout_resume",
    "resume_rollout",
    RolloutActionConfig,
    "resume",
    "Let the daily evaluation advance the running rollout again.",
)
rollout_abort = _action_job(
    "rollout_abort",
    "abort_rollout",
    AbortRolloutConfig,
    "abort",
    "Take the candidate out of traffic from the next served day on (run config: actor, reason).",
)


@job(description="Log the rollout's stage, days in stage, latest guardrails and last decisions.")
def rollout_status():
    rollout_status_report()


rollout_jobs = [rollout_start, rollout_promote, rollout_pause, rollout_resume, rollout_abort, rollout_status]
