"""Materialize the graph for a date range in this process, through the same Definitions the UI loads.

``safeguard run`` uses this; it has no code path of its own: it executes the code location's jobs with the
partition-range tags a UI backfill would use, on the Dagster instance under ``DAGSTER_HOME`` (so its runs show
in the UI), or on an ephemeral instance when none is configured.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster import AssetCheckSeverity, DagsterInstance

from safeguard.run_report import CheckOutcome, Materialized, RunRecord, StepFailure

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass
class RunSummary:
    job: str
    run_id: str
    success: bool
    record: RunRecord  # what each step recorded, for the console's lines (safeguard.run_report)


def range_tags(first_day: str, last_day: str) -> dict[str, str]:
    """Tags that make one run cover every partition from ``first_day`` to ``last_day`` (both inclusive)."""
    return {RANGE_START_TAG: first_day, RANGE_END_TAG: last_day}


def _instance() -> DagsterInstance:
    """The instance under DAGSTER_HOME (created when missing), so runs show in the UI; else an ephemeral one."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return DagsterInstance.ephemeral()
    os.makedirs(home, exist_ok=True)
    return DagsterInstance.get()


def has_trained_champion() -> bool:
    """Whether a trained model is champion. Else a run trains before it scores: there is no champion yet, or the
    cold-start rules score serves and every new day of matured labels may give a model that passes the gate."""
    from safeguard.stores import configured_model_store, open_serving_stores

    with open_serving_stores(model_store=configured_model_store()) as stores:
        champion = stores.registry.champion()
    return champion is not None and not champion.is_rules


def group_asset_keys(groups: list[str]) -> list:
    """The asset keys of the named asset groups; an unknown group is an error naming the known ones."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    by_group: dict[str, list] = {}
    for key in graph.get_all_asset_keys():
        by_group.setdefault(graph.get(key).group_name, []).append(key)
    unknown = sorted(set(groups) - set(by_group))
    if unknown:
        raise ValueError(f"unknown asset group(s) {', '.join(unknown)}; known: {', '.join(sorted(by_group))}")
    return [key for g in groups for key in by_group[g]]


def run_job(
    job_name: str,
    first_day: str,
    last_day: str,
    instance: DagsterInstance | None = None,
    *,
    groups: list[str] | None = None,
    log_level: str = "INFO",
    tracebacks: bool = True,
    on_step_start: Callable[[str], None] | None = None,
) -> RunSummary:
    """Execute ``job_name`` for the days ``first_day`` .. ``last_day`` in one run (optionally only ``groups``).

    The console shows the run's events at ``log_level`` (WARNING: only what needs a person; INFO: what each step
    did; DEBUG: every event and every dbt line). With ``tracebacks=False`` a failure's events and stack traces are
    not printed; the summary's record names each failed step and its error instead. The instance keeps every event
    whatever the level. ``on_step_start`` is told each step's key as it starts.
    """
    from orchestration.console_logger import cli_console_logger, step_watcher
    from orchestration.definitions import defs

    loggers: dict[str, Any] = {"console": cli_console_logger}
    config: dict[str, Any] = {"console": {"config": {"log_level": log_level, "tracebacks": tracebacks}}}
    if on_step_start is not None:
        loggers["steps"] = step_watcher(on_step_start)
        config["steps"] = {}
    job = defs.resolve_job_def(job_name).with_logger_defs(loggers)
    result = job.execute_in_process(
        run_config={"loggers": config},
        instance=instance or _instance(),
        tags=range_tags(first_day, last_day),
        asset_selection=group_asset_keys(groups) if groups else None,
        raise_on_error=False,
    )
    from assets.features import dbt_features

    dbt_keys = set(dbt_features.keys)  # the assets the dbt project builds: the console counts them as one step
    materialized: list[Materialized] = []
    checks: list[CheckOutcome] = []
    failures: list[StepFailure] = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            metadata = {name: value.value for name, value in materialization.metadata.items()}
            from_dbt = event.asset_key in dbt_keys
            materialized.append(Materialized(event.asset_key.to_user_string(), metadata, dbt_model=from_dbt))
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            blocking = evaluation.severity == AssetCheckSeverity.ERROR
            checks.append(
                CheckOutcome(evaluation.asset_key.to_user_string(), evaluation.check_name, evaluation.passed, blocking)
            )
        elif event.event_type_value == "STEP_FAILURE":
            failures.append(step_failure(event.step_key, event.event_specific_data.error))
    return RunSummary(job_name, result.run_id, result.success, RunRecord.of(materialized, checks, failures))


def step_failure(step: str, error) -> StepFailure:
    """A failed step and the error a person reads: the innermost cause of Dagster's wrapper (the exception the
    step raised), its class and the first line of its message."""
    while error.cause is not None:
        error = error.cause
    first_line = (error.message or "").strip().splitlines()[0] if (error.message or "").strip() else ""
    # the message may start with the class, qualified or not: "safeguard.landing.IncompleteDayError: ..."
    head, sep, rest = first_line.partition(": ")
    message = rest if sep and error.cls_name and head.split(".")[-1] == error.cls_name else first_line
    return StepFailure(step, error.cls_name or "Error", message)
