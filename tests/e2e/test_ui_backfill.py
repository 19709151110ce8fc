"""The code location run as in production: the real ``dagster dev`` (webserver + daemon) on 127.0.0.1 with its own
DAGSTER_HOME and SAFEGUARD_HOME, driven through the GraphQL mutations the UI sends.

Set-up, the cheapest honest way, with the operator's own commands in subprocesses (each its own process, as in
production, and none sharing this test session's settings): a world of 1,500 accounts over 38 days; ``safeguard
run --groups ingestion,features`` loads and builds features for the first 34 days; ``dagster job execute -j
retrain`` trains and registers the first champion through the real ``risk_model`` asset, with the production
gate and training path; a second ``retrain`` registers a candidate. After the backfill, ``safeguard rollout start
--force`` puts it in shadow for the scheduled day (no backtest: this test is about the UI, not the rollout's evidence).

Then, through GraphQL:
1. a backfill of the next 3 days for every dated asset (``launchPartitionBackfill``, the UI's "Materialize"
   dialog): it completes, each step runs once for the whole range (single-run backfill policy), every partition
   is materialized, every asset check passes, and the 3 days are in the serving database's history;
2. the daily schedule evaluated for the day after, as the daemon evaluates a tick (``scheduleDryRun`` on the code
   server), and its run request submitted to the queued run coordinator: the run succeeds and publishes that day;
3. the UI in a real browser (headless Chromium, tests/e2e/browser.py): the asset graph's groups, the catalog's
   assets, the model asset's metadata (the card, the SHAP summary and score histogram as images that loaded) and
   the rollout's timeline, as a person opens them; screenshots in data/ui-screenshots/.
Finally every process the test started is gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterEventType, DagsterInstance, RunsFilter
from dagster._core.instance.ref import InstanceRef

from orchestration.runner import RANGE_END_TAG, RANGE_START_TAG
from tests.e2e.browser import dagster_ui
from tests.e2e.dagster_dev import DagsterDev

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCATION = "safeguard"  # workspace.yaml's location_name
WORLD_START = date(2026, 9, 1)
WORLD_DAYS = 38
SEED_DAYS = 34  # 20 days of closed 14-day label windows: enough for the time split
BACKFILL = [(WORLD_START + timedelta(days=SEED_DAYS + i)).isoformat() for i in range(3)]
SCHEDULED_DAY = (WORLD_START + timedelta(days=SEED_DAYS + 3)).isoformat()

ASSET_NODES = """
{ assetNodes { assetKey { path } groupName isPartitioned isExecutable
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }"""


def _run(cmd: list[str], env: dict[str, str], log: Path) -> None:
    """Run an operator command to completion; a failure shows its output's tail."""
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        code = subprocess.run(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False
        ).returncode
    assert code == 0, f"{' '.join(cmd[:3])} failed ({code}):\n{log.read_text()[-4000:]}"


def _seed(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "seed.log"
    seed_end = (WORLD_START + timedelta(days=SEED_DAYS - 1)).isoformat()
    _run(
        [str(BIN / "safeguard"), "generate", "--accounts", "1500", "--days", str(WORLD_DAYS),
         "--start", WORLD_START.isoformat(), "--seed", "7"],
        env, log,
    )  # fmt: skip
    _run(
        [str(BIN / "safeguard"), "run", "--start", WORLD_START.isoformat(), "--end", seed_end,
         "--groups", "ingestion,features"],
        env, log,
    )  # fmt: skip
    for _ in range(2):  # the champion, then a candidate trained on the same days
        _run(
            [str(BIN / "dagster"), "job", "execute", "-m", "orchestration.definitions", "-j", "retrain"],
            env, log,
        )  # fmt: skip


@pytest.fixture
def environment(tmp_path) -> dict[str, str]:
    home, dagster_home = tmp_path / "home", tmp_path / "dagster_home"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.local.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        SAFEGUARD_HOME=str(home),
        SAFEGUARD_START_DATE=WORLD_START.isoformat(),
        DAGSTER_HOME=str(dagster_home),
    )
    return env


def _open_instance(env: dict[str, str]) -> DagsterInstance:
    return DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"]))


def _published_days(env: dict[str, str]) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{env['SAFEGUARD_HOME']}/serving.db")
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT DISTINCT score_date FROM account_risk_history").fetchall()
    finally:
        engine.dispose()
    return {str(r[0]) for r in rows}


def _check_evaluations(instance: DagsterInstance, run_ids: list[str]) -> dict[tuple[str, str], bool]:
    evaluations = {}
    for run_id in run_ids:
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
            data = entry.dagster_event.event_specific_data
            key = (data.asset_key.to_user_string(), data.check_name)
            evaluations[key] = evaluations.get(key, True) and data.passed
    return evaluations


def _the_ui_in_a_browser(url: str) -> None:
    with dagster_ui(url) as ui:
        ui.open("/asset-groups", until=["ingestion", "features", "modeling", "scoring", "rollout", "publishing"])
        ui.screenshot("asset-graph")
        for group, assets in (
            ("ingestion", ["raw_usage_events", "raw_accounts", "raw_enforcement_actions"]),
            ("modeling", ["risk_model", "rollout_backtest", "fct_training_examples"]),
            ("publishing", ["risk_tables", "review_queue"]),
        ):
            ui.open(f"/locations/{LOCATION}/asset-groups/{group}", until=assets)  # the group's graph
            ui.screenshot(f"asset-graph-{group}")

        ui.open("/assets/risk_model", until=["model_card", "shap_summary", "score_histogram", "feature_importance"])
        ui.screenshot("risk-model")
        card = ui.metadata_markdown("model_card")
        for section in ("Validation metrics", "Tier thresholds", "Top features by gain"):
            assert section in card.text, (section, card.text[:2000])
        for key in ("shap_summary", "score_histogram"):
            plot = ui.metadata_markdown(key)
            assert plot.images and all(width > 100 for _, width in plot.images), (key, plot.images)

        ui.open("/assets/rollout_evaluation", until=["rollout_timeline", "decisions", "guardrails"])
        ui.screenshot("rollout-evaluation")
        timeline = ui.metadata_markdown("rollout_timeline")
        assert "candidate share" in timeline.text and "shadow" in timeline.text, timeline.text


def test_ui_backfill_and_scheduled_day_on_a_real_webserver_and_daemon(environment, tmp_path):
    began = time.monotonic()
    _seed(environment, tmp_path)
    seeded = time.monotonic()

    dev = DagsterDev(
        workspace=ROOT / "workspace.yaml",
        dagster_home=Path(environment["DAGSTER_HOME"]),
        env=environment,
        log_path=tmp_path / "dagster-dev.log",
    )
    try:
        dev.wait_ready(timeout=400)
        nodes = dev.graphql(ASSET_NODES)["assetNodes"]
        dated = [n for n in nodes if n["isPartitioned"] and n["isExecutable"]]
        dated_keys = {"/".join(n["assetKey"]["path"]) for n in dated}
        assert {
            "raw_usage_events",
            "fct_account_features",
            "account_risk_scores",
            "risk_tables",
        } <= dated_keys
        declared_checks = {
            ("/".join(n["assetKey"]["path"]), c["name"])
            for n in dated
            for c in n["assetChecksOrError"].get("checks", [])
        }

        # 1. A 3-day backfill of every dated asset, launched as the UI launches it.
        backfill_id = dev.launch_backfill([n["assetKey"]["path"] for n in dated], BACKFILL, "e2e 3-day backfill")
        backfill = dev.wait_backfill(backfill_id, timeout=900)
        assert backfill["status"] == "COMPLETED_SUCCESS", (backfill, dev.log_path.read_text()[-4000:])
        assert backfill["numPartitions"] == len(BACKFILL)

        instance = _open_instance(environment)
        try:
            runs = instance.get_runs(filters=RunsFilter.for_backfill(backfill_id))
            assert runs and all(r.is_success for r in runs), [(r.run_id, r.status) for r in runs]
            # Single-run policy: each step covers the whole range in one run, never one run per day.
            for run in runs:
                assert (run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)) == (
                    BACKFILL[0],
                    BACKFILL[-1],
                )
            runs_per_asset = Counter(key.to_user_string() for run in runs for key in (run.asset_selection or ()))
            assert runs_per_asset == Counter({key: 1 for key in dated_keys}), runs_per_asset

            for key in dated_keys:
                materialized = instance.get_materialized_partitions(AssetKey.from_user_string(key))
                assert set(BACKFILL) <= materialized, (key, sorted(materialized))

            evaluations = _check_evaluations(instance, [r.run_id for r in runs])
            assert set(evaluations) == declared_checks, set(evaluations) ^ declared_checks
            assert all(evaluations.values()), [k for k, passed in evaluations.items() if not passed]
        finally:
            instance.dispose()
        assert set(BACKFILL) <= _published_days(environment)
        assert SCHEDULED_DAY not in _published_days(environment)

        # The candidate goes into shadow from the next day on, so the scheduled day is served and judged in shadow.
        _run(
            [str(BIN / "safeguard"), "rollout", "start", "--actor", "e2e", "--force", "--min-days", "1"],
            environment, tmp_path / "seed.log",
        )  # fmt: skip

        # 2. The daily schedule's tick for the day after, evaluated and submitted as the daemon does.
        tick = datetime.fromisoformat(SCHEDULED_DAY).replace(tzinfo=UTC) + timedelta(days=1, hours=2)
        requests = dev.dry_run_schedule(LOCATION, "daily_pipeline_schedule", tick.timestamp())
        assert len(requests) == 1
        tags = {t["key"]: t["value"] for t in requests[0]["tags"]}
        assert requests[0]["jobName"] == "daily_pipeline" and tags["dagster/partition"] == SCHEDULED_DAY
        run = dev.wait_run(dev.launch_run(LOCATION, requests[0]), timeout=900)
        assert run["status"] == "SUCCESS", dev.log_path.read_text()[-4000:]
        assert SCHEDULED_DAY in _published_days(environment)

        instance = _open_instance(environment)
        try:
            record = instance.get_run_by_id(run["runId"])
            assert record.tags.get("dagster/partition") == SCHEDULED_DAY
            for key in ("raw_usage_events", "fct_account_features", "served_risk_scores", "risk_tables"):
                assert SCHEDULED_DAY in instance.get_materialized_partitions(AssetKey(key)), key
        finally:
            instance.dispose()

        # 3. What a person sees in the UI, in a real browser.
        _the_ui_in_a_browser(dev.url)
    finally:
        dev.stop()
        print(f"e2e: seed {seeded - began:.0f}s, dagster dev part {time.monotonic() - seeded:.0f}s")

    assert dev.processes_left() == []
