"""The cluster profile (deploy/k8s, docs/scale-out.md; issue 18) loads without a cluster: the Helm values parse and
say only what the chart's run launcher and this code understand, and the Definitions load with each executor."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster_k8s import K8sRunLauncher

from orchestration.executor import executor_named
from safeguard.config import ENV_VARS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
# read by the code but not by safeguard.config: the executor, Spark Connect, and boto3's credentials
OTHER_ENV = {"SAFEGUARD_EXECUTOR", "SPARK_REMOTE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.fixture(scope="module")
def values():
    return yaml.safe_load((DEPLOY / "values.yaml").read_text())


def test_the_user_deployment_serves_this_code_location_with_settings_the_code_reads(values):
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    module = args[args.index("--module-name") + 1]
    assert module == "orchestration.definitions" and importlib.util.find_spec(module) is not None
    assert deployment["image"]["tag"] not in ("latest", "", None)  # a run pod must run the code that was planned
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert set(env) <= set(ENV_VARS) | OTHER_ENV, set(env) - set(ENV_VARS) - OTHER_ENV
    assert env["SAFEGUARD_EXECUTOR"] in ("in_process", "k8s") and env["SPARK_REMOTE"].startswith("sc://")
    assert "SERVING_DB_URL" not in env  # a credential: from the Secret, never in values
    assert [s["name"] for s in deployment["envSecrets"]] == ["safeguard-env"]


def test_the_run_launcher_and_instance_are_settings_of_the_chart_and_of_dagster_k8s(values):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    known = set(K8sRunLauncher.config_type().keys())
    assert {_snake(k) for k in launcher} <= known, {_snake(k) for k in launcher} - known
    mounts = {m["name"] for m in launcher["volumeMounts"]}
    assert mounts == {v["name"] for v in launcher["volumes"]}
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in values["postgresql"]  # from global.postgresqlSecretName, never in values
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "QueuedRunCoordinator"
    assert coordinator["config"]["queuedRunCoordinator"]["maxConcurrentRuns"] >= 1


def test_the_image_installs_the_locked_environment_with_the_extras_the_profile_needs():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY pyproject.toml uv.lock" in dockerfile
    assert "uv sync --frozen --extra spark --extra deploy" in dockerfile
    assert "openjdk-17-jre-headless" in dockerfile and "python -m orchestration.dbt" in dockerfile


@pytest.mark.parametrize("executor", ["in_process", "k8s"])
def test_the_definitions_load_with_each_executor(executor):
    code = (
        "from orchestration.definitions import defs\n"
        "names = {defs.resolve_job_def(j.name).executor_def.name for j in defs.resolve_all_job_defs()}\n"
        "print(sorted(names))"
    )
    env = {**os.environ, "SAFEGUARD_EXECUTOR": executor}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str([executor_named(executor).name])


def test_an_unknown_executor_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"SAFEGUARD_EXECUTOR='celery' is not an executor; use one of in_process, k8s"):
        executor_named("celery")


def test_the_dbt_project_parses_for_spark_connect_without_a_server(tmp_path):
    """The cluster's dbt target (profiles.yml ``spark_connect``) is configuration only: it parses, and every model
    gets its Spark form, with no server to reach (parse opens no connection)."""
    from safeguard.catalog import DBT_PROJECT_DIR
    from safeguard.spark_features import DBT_CLI

    command = [*DBT_CLI, "parse", "--target", "spark_connect", "--quiet"]
    command += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    command += ["--target-path", str(tmp_path), "--log-path", str(tmp_path)]
    env = os.environ | {"SPARK_REMOTE": "sc://spark-connect.example:15002"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = yaml.safe_load((tmp_path / "manifest.json").read_text())  # JSON is YAML
    strategies = {
        n["name"]: n["config"].get("incremental_strategy")
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["config"]["materialized"] == "incremental"
    }
    assert strategies and set(strategies.values()) == {"insert_overwrite"}, strategies
