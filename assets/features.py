"""The dbt feature models (staging -> intermediate -> marts) as daily-partitioned assets.

One dbt invocation builds a whole partition window (a backfill of a range is one run, ``single_run``) for the
days ``[start, end)`` of the window; it holds the ``duckdb`` pool, as every step writing the warehouse does.
dbt data tests become asset checks; a failing error-severity test fails the step and blocks what depends on it.
Before dbt runs, the window's days are refused when a day their feature windows read was never loaded
(:mod:`safeguard.completeness`): the step fails with the days and sources missing, and nothing is built.
"""

# No ``from __future__ import annotations``: Dagster reads the asset function's annotations (resources).
from pathlib import Path

from dagster import AssetExecutionContext, AssetsDefinition, Failure
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource

from assets.dbt_output import summarised
from assets.dbt_project import SafeguardDbtTranslator, dbt_project, warehouse_path_env
from assets.partitions import DUCKDB_POOL, daily_partitions, partition_days, single_run
from safeguard.completeness import feature_window_refusal
from safeguard.dbt_vars import dbt_build_args


def build_feature_assets(manifest_path: Path) -> AssetsDefinition:
    """The @dbt_assets of every model in the manifest at ``manifest_path``."""
    if not Path(manifest_path).exists():
        raise FileNotFoundError(
            f"no dbt manifest at {manifest_path}: prepare it with `python -m orchestration.dbt` (make dbt-manifest)"
        )

    @dbt_assets(
        manifest=manifest_path,
        project=dbt_project,
        dagster_dbt_translator=SafeguardDbtTranslator(),
        partitions_def=daily_partitions,
        backfill_policy=single_run,
        pool=DUCKDB_POOL,
    )
    def dbt_features(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: DuckDBResource):
        window = context.partition_time_window
        days = partition_days(window.start, window.end)
        with warehouse.get_connection() as con:
            refusal = feature_window_refusal(con, days)
        if refusal:
            raise Failure(description=refusal)
        args = dbt_build_args(window.start, window.end)
        context.log.info(f"dbt {' '.join(args)} on {warehouse.database}")
        with warehouse_path_env(warehouse.database):  # the dbt subprocess starts here and inherits it
            invocation = dbt.cli(args, context=context)
        # dbt's line per model, batch and test goes to the run's DEBUG log; the console gets one summary line
        yield from summarised(invocation.stream(), context.log, days=len(days))

    return dbt_features


dbt_features = build_feature_assets(dbt_project.manifest_path)
