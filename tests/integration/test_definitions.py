"""The code location loads as the UI and `dagster definitions validate` load it, with the shape operators rely on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, BackfillPolicy

from orchestration.definitions import defs

ROOT = Path(__file__).resolve().parents[2]
DATED_GROUPS = {"ingestion", "features", "scoring", "rollout", "publishing"}


def test_dagster_definitions_validate_accepts_the_workspace():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_every_dated_step_backfills_as_one_run_and_holds_the_duckdb_pool():
    graph = defs.resolve_asset_graph()
    dated = [graph.get(k) for k in graph.get_all_asset_keys() if graph.get(k).group_name in DATED_GROUPS]
    assert dated, "no dated assets found"
    for node in dated:
        assert node.partitions_def is not None, node.key
        assert node.backfill_policy is not None, node.key
        assert node.backfill_policy == BackfillPolicy.single_run(), node.key
    for key in graph.get_all_asset_keys():
        assets_def = graph.assets_def_for_key(key)
        if not assets_def.is_executable:
            continue
        pools = {op.pool for op in assets_def.node_def.iterate_op_defs()}
        assert pools == {"duckdb"}, (key, pools)


def test_the_graph_chains_ingestion_to_features_to_model_to_scores():
    graph = defs.resolve_asset_graph()
    parents = lambda name: {k.to_user_string() for k in graph.get(AssetKey(name)).parent_keys}  # noqa: E731
    assert {"raw_usage_events", "raw_accounts", "raw_enforcement_actions"} <= {
        k.to_user_string() for k in graph.get_all_asset_keys()
    }
    assert "fct_training_examples" in parents("risk_model")
    assert {"fct_account_features", "risk_model"} <= parents("account_risk_scores")
    assert "account_risk_scores" in parents("served_risk_scores")


def test_jobs_and_schedules_are_there():
    job_names = {j.name for j in defs.resolve_all_job_defs()}
    assert {"daily_pipeline", "retrain", "full_graph"} <= job_names
    schedule_names = {s.name for s in defs.schedules}
    assert {"daily_pipeline_schedule", "weekly_retrain"} <= schedule_names
