"""Fault 2: the champion's artifact is corrupted in the model store between two daily runs.

Day 1 is scored, served and published through the scoring, rollout and publishing assets. Then bytes of the
artifact change. Day 2's run fails at scoring, naming the model version, the artifact and the checksum mismatch;
nothing of day 2 is written anywhere, and downstream readers keep day 1 (account_risk_current unchanged).
The registry's refusal itself is unit-tested in tests/unit/test_registry.py; this is the operator's view.
"""

from __future__ import annotations

import duckdb
from dagster import DagsterInstance, materialize

from assets.publish import risk_tables
from assets.rollout import served_risk_scores
from assets.scoring import account_risk_scores
from safeguard.registry import artifact_path
from safeguard.rollout.served import SERVED_TABLE
from safeguard.scoring import SCORES_TABLE
from safeguard.serving.db import engine_for
from safeguard.serving.reader import RiskReader
from tests.faults.conftest import (
    failure_text,
    read_warehouse,
    register_champion,
    small_model,
    what_readers_see,
)
from tests.model_factory import feature_specs, synthetic_frame

D1, D2 = "2026-09-02", "2026-09-03"
ACCOUNTS = 500
DAILY_ASSETS = [account_risk_scores, served_risk_scores, risk_tables]


def test_a_corrupt_artifact_fails_the_day_by_name_and_the_previous_day_stays_served(deploy):
    d = deploy()
    specs = feature_specs(6)
    version = register_champion(d, small_model(specs))
    with duckdb.connect(d.warehouse) as con:
        features = synthetic_frame(ACCOUNTS, [D1, D2], n_features=len(specs), seed=5, with_label=False)
        con.register("features", features.assign(as_of_date=features["as_of_date"].dt.date))
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.fct_account_features AS SELECT * FROM features")
    instance = DagsterInstance.ephemeral()
    assert materialize(DAILY_ASSETS, partition_key=D1, resources=d.resources, instance=instance).success
    engine = engine_for(d.serving_url)
    try:
        served_d1 = what_readers_see(engine)
        top_d1 = RiskReader(engine).top(limit=20)

        artifact = f"{d.model_dir}/{artifact_path(version)}"
        with open(artifact, "r+b") as f:  # one flipped byte in the middle: same size, different content
            f.seek(len(f.read()) // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))

        result = materialize(
            DAILY_ASSETS, partition_key=D2, resources=d.resources, instance=instance, raise_on_error=False
        )

        assert not result.success
        assert [e.step_key for e in result.get_step_failure_events()] == ["account_risk_scores"]
        text = failure_text(result)
        assert f"ModelIntegrityError: model {version}: artifact {artifact} has sha256" in text
        assert "refusing to load a changed artifact" in text
        assert not result.get_asset_materialization_events()
        assert what_readers_see(engine) == served_d1  # current, history, reasons, published days: day 1 only
        assert RiskReader(engine).top(limit=20) == top_d1
    finally:
        engine.dispose()
    with read_warehouse(d.warehouse) as con:
        for table in (SCORES_TABLE, SERVED_TABLE):
            assert con.execute(f"SELECT DISTINCT score_date::VARCHAR FROM {table}").fetchall() == [(D1,)]
