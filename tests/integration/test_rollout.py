"""The staged rollout end to end on a small world, through the real assets, jobs and command line (§3.4, issue 5).

The warehouse tables the rollout reads are written directly (both models' daily scores, the marts' features and
matured labels) instead of running the whole pipeline; the registry, the serving database (SQLite, migrated) and the
Dagster assets and jobs are the real ones.

- A good candidate (the champion's scores with a little noise) advances by itself shadow -> 1% -> 5% -> 25% and
  then holds for a person to promote; re-materializing a decided day recomputes its metrics and decides nothing.
- A broken candidate (inverted scores), promoted by hand out of shadow, is rolled back at its first canary
  evaluation, is rejected in the registry, and the next day's served rows are all champion again.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dagster import DagsterInstance, DagsterInvalidConfigError, materialize
from dagster_duckdb import DuckDBResource

from assets.rollout import rollout_abort, rollout_evaluation, rollout_start, served_risk_scores
from orchestration.resources import ModelStoreResource, ServingDatabaseResource
from safeguard import cli
from safeguard.rollout import controls
from safeguard.rollout.served import SERVED_TABLE
from safeguard.rollout.state import RolloutStore, end_of_day
from safeguard.scoring import SCORES_SCHEMA, write_scores
from tests.unit.test_rollout_state import registered_models

N_ACCOUNTS = 4000
FEATURES = [f"feat_{i:02d}" for i in range(6)]
SERVE_DAYS = [(date(2026, 9, 2) + timedelta(days=i)).isoformat() for i in range(6)]
HORIZON = 14
# Score days whose labels have matured by the serving days (as_of_date = serving day - H).
LABEL_DAYS = [(date.fromisoformat(d) - timedelta(days=HORIZON)).isoformat() for d in SERVE_DAYS]
PLAN_OPTIONS = {"min_days_per_stage": 1, "min_arm_accounts": 15}
TIER_EDGES = [0.1, 0.3, 0.6]  # elevated, high, critical


class World:
    """A warehouse with both models' scores, features and labels; a serving database with both models registered."""

    def __init__(self, tmp_path, candidate_scores):
        self.warehouse = str(tmp_path / "warehouse.duckdb")
        self.serving_url = f"sqlite:///{tmp_path / 'serving.db'}"
        self.model_dir = str(tmp_path / "models")
        self.registry, self.champion, self.candidate = registered_models(self.serving_url, self.model_dir)
        self.store = RolloutStore(self.registry.engine)
        self.resources = {
            "warehouse": DuckDBResource(database=self.warehouse),
            "serving": ServingDatabaseResource(url=self.serving_url),
            "model_store": ModelStoreResource(uri=self.model_dir),
        }
        self.instance = DagsterInstance.ephemeral()
        rng = np.random.default_rng(11)
        self.ids = np.array([f"acct-{i:05d}" for i in range(N_ACCOUNTS)], dtype=object)
        risk = rng.beta(1.0, 12.0, N_ACCOUNTS)  # each account's lasting risk
        with duckdb.connect(self.warehouse) as con:
            for day in LABEL_DAYS + SERVE_DAYS:
                champion = np.clip(risk * np.exp(rng.normal(0, 0.05, N_ACCOUNTS)), 1e-4, 1 - 1e-4)
                candidate = candidate_scores(champion, rng)
                write_scores(
                    con,
                    pa.concat_tables(
                        [
                            self._scores(day, self.champion, "champion", champion),
                            self._scores(day, self.candidate, "candidate", candidate),
                        ]
                    ),
                    [day],
                )
            self._marts(con, rng, risk)

    def _scores(self, day: str, version: str, role: str, probability: np.ndarray) -> pa.Table:
        tiers = np.array(["low", "elevated", "high", "critical"])[np.searchsorted(TIER_EDGES, probability)]
        n = len(probability)
        return pa.table(
            {
                "score_date": pa.array([date.fromisoformat(day)] * n, pa.date32()),
                "account_id": self.ids,
                "model_version": [version] * n,
                "model_role": [role] * n,
                "probability": probability,
                "raw_margin": np.log(probability / (1 - probability)),
                "tier": tiers,
                "explained": tiers != "low",
                "explain_reason": np.where(tiers != "low", "tier", None),
                "reasons_json": np.where(
                    tiers != "low", '[{"feature": "feat_00", "contribution": 0.5}]', None
                ),
            },
            schema=SCORES_SCHEMA,
        )

    def _marts(self, con, rng, risk) -> None:
        """Features for two days of the candidate's validation window (the drift reference) and every serving day;
        labels (drawn from each account's risk) for the label days."""
        row = self.registry.get(self.candidate)
        feature_days = [row.validation_start.isoformat(), row.validation_end.isoformat()] + SERVE_DAYS
        features = pd.DataFrame(
            {
                "account_id": np.tile(self.ids, len(feature_days)),
                "as_of_date": pd.to_datetime(np.repeat(feature_days, N_ACCOUNTS)).date,
                **{f: rng.normal(size=N_ACCOUNTS * len(feature_days)) for f in FEATURES},
            }
        )
        labels = pd.DataFrame(
            {
                "account_id": np.tile(self.ids, len(LABEL_DAYS)),
                "as_of_date": pd.to_datetime(np.repeat(LABEL_DAYS, N_ACCOUNTS)).date,
                "label": (rng.random(N_ACCOUNTS * len(LABEL_DAYS)) < np.tile(risk, len(LABEL_DAYS))).astype(
                    int
                ),
            }
        )
        con.execute("CREATE SCHEMA marts")
        for table, frame in (("fct_account_features", features), ("fct_training_examples", labels)):
            con.register("_frame", frame)
            con.execute(f"CREATE TABLE marts.{table} AS SELECT * FROM _frame")
            con.unregister("_frame")

    def run_day(self, day: str):
        """Serve and evaluate one day, as the daily schedule does after scoring."""
        result = materialize(
            [served_risk_scores, rollout_evaluation],
            partition_key=day,
            resources=self.resources,
            instance=self.instance,
        )
        assert result.success
        return result

    def served(self, day: str) -> pd.DataFrame:
        with duckdb.connect(self.warehouse, read_only=True) as con:
            return con.execute(f"SELECT * FROM {SERVED_TABLE} WHERE score_date = ?::DATE", [day]).df()

    def decisions(self) -> list[tuple]:
        rollout = self.store.latest()
        return [
            (e.decision, e.from_stage, e.to_stage, e.actor, e.score_date and e.score_date.isoformat())
            for e in self.store.events(rollout.rollout_id)
        ]


def metadata(result, asset: str) -> dict:
    """The metadata of the asset's materialization (a range run records the same metadata for each day)."""
    return result.asset_materializations_for_node(asset)[-1].metadata


def good_candidate(champion: np.ndarray, rng) -> np.ndarray:
    return np.clip(champion * np.exp(rng.normal(0, 0.01, len(champion))), 1e-4, 1 - 1e-4)


def inverted_candidate(champion: np.ndarray, rng) -> np.ndarray:
    return 1 - champion


def test_a_good_candidate_advances_by_itself_up_to_max_auto_stage(tmp_path):
    world = World(tmp_path, good_candidate)
    first = world.run_day(SERVE_DAYS[0])
    assert set(world.served(SERVE_DAYS[0])["arm"]) == {
        "champion"
    }  # the registry has a candidate; nobody serves it
    assert metadata(first, "rollout_evaluation")["decisions"].data[SERVE_DAYS[0]]["decision"] is None

    with pytest.raises(DagsterInvalidConfigError):  # a start without an actor is refused by the run config
        rollout_start.execute_in_process(
            run_config={"ops": {"start_rollout": {"config": PLAN_OPTIONS}}},
            resources=world.resources,
            instance=world.instance,
        )
    started = rollout_start.execute_in_process(
        # the stored scores are synthetic, the models' features random: forced past the backtest, which
        # tests/integration/test_rollout_backtest.py covers
        run_config={"ops": {"start_rollout": {"config": {"actor": "ada", "force": True, **PLAN_OPTIONS}}}},
        resources=world.resources,
        instance=world.instance,
    )
    assert started.success

    results = {day: world.run_day(day) for day in SERVE_DAYS[1:5]}

    arms = {day: world.served(day)["arm"].value_counts().to_dict() for day in SERVE_DAYS[1:5]}
    assert arms[SERVE_DAYS[1]] == {"shadow": N_ACCOUNTS}
    shares = [arms[d].get("candidate", 0) / N_ACCOUNTS for d in SERVE_DAYS[2:5]]
    assert shares[0] == pytest.approx(0.01, abs=0.005)
    assert shares[1] == pytest.approx(0.05, abs=0.01)
    assert shares[2] == pytest.approx(0.25, abs=0.025)
    arm_sets = [set(world.served(d).query("arm == 'candidate'")["account_id"]) for d in SERVE_DAYS[2:5]]
    assert arm_sets[0] <= arm_sets[1] <= arm_sets[2]  # sticky
    canary = world.served(SERVE_DAYS[4]).query("arm == 'candidate'")
    assert set(canary["served_model_version"]) == {world.candidate}

    assert world.decisions() == [
        ("start", "not_started", "shadow", "ada", None),
        ("advance", "shadow", "canary_1", "policy", SERVE_DAYS[1]),
        ("advance", "canary_1", "canary_5", "policy", SERVE_DAYS[2]),
        ("advance", "canary_5", "canary_25", "policy", SERVE_DAYS[3]),
        ("hold", "canary_25", "canary_25", "policy", SERVE_DAYS[4]),
    ]
    hold = world.store.events(world.store.latest().rollout_id)[-1]
    assert "awaiting manual promotion beyond 25%" in hold.reason
    shadow_report = world.store.events(world.store.latest().rollout_id)[1].metrics["guardrails"]
    statuses = {m["name"]: m["status"] for m in shadow_report["metrics"]}
    assert statuses == dict.fromkeys(
        ["alert_rate_ratio", "score_psi", "precision_drop", "recall_drop", "feature_drift"], "pass"
    )  # in shadow every account is compared, with labels matured since the stage began

    last = metadata(results[SERVE_DAYS[4]], "rollout_evaluation")
    assert last["guardrail_status"].value == "pass"
    assert {r.data["metric"] for r in last["guardrails"].value.records} >= {"alert_rate_ratio", "score_psi"}
    timeline = last["rollout_timeline"].value
    for day, stage in zip(SERVE_DAYS[1:5], ["shadow", "canary_1", "canary_5", "canary_25"]):
        assert f"| {day} | {day} | {stage} |" in timeline

    # Re-materializing a decided day, alone and as one run over a range: same served rows, metrics, no decision.
    before = world.served(SERVE_DAYS[2]).sort_values("account_id", ignore_index=True)
    again = world.run_day(SERVE_DAYS[2])
    pd.testing.assert_frame_equal(
        world.served(SERVE_DAYS[2]).sort_values("account_id", ignore_index=True), before
    )
    redo = metadata(again, "rollout_evaluation")["decisions"].data[SERVE_DAYS[2]]
    assert (redo["decision"], redo["recorded_now"], redo["stage_in_effect"]) == ("advance", False, "canary_1")
    backfill = materialize(
        [rollout_evaluation],
        resources=world.resources,
        instance=world.instance,
        tags={
            "dagster/asset_partition_range_start": SERVE_DAYS[1],
            "dagster/asset_partition_range_end": SERVE_DAYS[4],
        },
    )
    assert backfill.success
    assert len(world.decisions()) == 5

    # An abort takes effect on the next served materialization.
    aborted = rollout_abort.execute_in_process(
        run_config={"ops": {"abort_rollout": {"config": {"actor": "carol", "reason": "end of the test"}}}},
        resources=world.resources,
        instance=world.instance,
    )
    assert aborted.success
    world.run_day(SERVE_DAYS[5])
    assert set(world.served(SERVE_DAYS[5])["arm"]) == {"champion"}
    assert world.registry.get(world.candidate).status == "candidate"


def test_a_range_run_decides_once_and_never_changes_a_day_already_served(tmp_path):
    world = World(tmp_path, good_candidate)
    world.run_day(SERVE_DAYS[0])
    controls.start(
        world.store,
        world.registry,
        "ada",
        plan=controls.plan_from_options(**PLAN_OPTIONS),
        last_served=date.fromisoformat(SERVE_DAYS[0]),
        force=True,
    )

    caught_up = materialize(
        [served_risk_scores, rollout_evaluation],
        resources=world.resources,
        instance=world.instance,
        tags={
            "dagster/asset_partition_range_start": SERVE_DAYS[1],
            "dagster/asset_partition_range_end": SERVE_DAYS[4],
        },
    )

    assert caught_up.success
    assert all(set(world.served(day)["arm"]) == {"shadow"} for day in SERVE_DAYS[1:5])
    assert world.decisions()[1:] == [("advance", "shadow", "canary_1", "policy", SERVE_DAYS[1])]
    advance = world.store.events(world.store.latest().rollout_id)[-1]
    assert advance.event_time == end_of_day(SERVE_DAYS[4])  # after every day the run had served already
    decisions = metadata(caught_up, "rollout_evaluation")["decisions"].data
    assert all("moved on to canary_1" in decisions[day]["reason"] for day in SERVE_DAYS[2:5])
    world.run_day(SERVE_DAYS[5])
    assert 15 <= (world.served(SERVE_DAYS[5])["arm"] == "candidate").sum() <= 80
    assert world.decisions()[-1][:3] == ("advance", "canary_1", "canary_5"), world.store.events(
        world.store.latest().rollout_id
    )[-1].reason


def test_a_broken_candidate_is_rolled_back_at_its_first_canary_evaluation(tmp_path, monkeypatch, capsys):
    world = World(tmp_path, inverted_candidate)
    monkeypatch.setenv("SERVING_DB_URL", world.serving_url)
    monkeypatch.setenv("WAREHOUSE_PATH", world.warehouse)
    monkeypatch.setenv("MODEL_STORE_URI", world.model_dir)
    world.run_day(SERVE_DAYS[0])

    assert cli.main(["rollout", "promote", "--actor", "ada"]) == 1
    assert "no rollout is running" in capsys.readouterr().err
    assert (
        cli.main(["rollout", "start", "--actor", "ada", "--force", "--min-days", "1", "--min-arm-accounts", "15"])
        == 0
    )
    assert cli.main(["rollout", "promote", "--actor", "ada"]) == 0  # skip shadow: straight to 1% of accounts
    assert "next score day 2026-09-03 is served by stage canary_1" in capsys.readouterr().out

    world.run_day(SERVE_DAYS[1])
    canary = world.served(SERVE_DAYS[1])
    assert 15 <= (canary["arm"] == "candidate").sum() <= 80  # the candidate served about 1% that day

    assert world.decisions()[-1][:4] == ("rollback", "canary_1", "rolled_back", "policy")
    rollback = world.store.events(world.store.latest().rollout_id)[-1]
    # on a 51-account arm the score PSI is not judged (min_psi_accounts); the alert ratio catches it
    assert "guardrail breach: alert_rate_ratio" in rollback.reason
    assert world.registry.get(world.candidate).status == "rejected"

    world.run_day(SERVE_DAYS[2])
    after = world.served(SERVE_DAYS[2])
    assert set(after["arm"]) == {"champion"} and set(after["served_model_version"]) == {world.champion}
    assert after["rollout_id"].isna().all()

    assert cli.main(["rollout", "status"]) == 0
    status = capsys.readouterr().out
    assert "rolled_back" in status and "score_psi" in status and "breach" in status
    assert "rollback canary_1 -> rolled_back by policy on 2026-09-03" in status
    assert cli.main(["rollout", "abort", "--actor", "ada", "--reason", "late"]) == 1
