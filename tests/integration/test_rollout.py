"""The staged rollout end to end on a small world, through the real assets, jobs and command line (§3.4, issue 5).

The warehouse tables the rollout reads are written directly (both models' daily scores, the marts' features and
matured labels) instead of running the whole pipeline; the registry, the serving database (SQLite, migrated) and the
Dagster assets and jobs are the real ones.

- A good candidate (the champion's scores with a little noise) advances by itself only on judged evidence: every
  advance has an outcome guardrail passed on matured labels; a 1% arm of 4,000 accounts never gathers enough
  labelled positives, so it holds there and says what it waits for; a plan with stages sized to the world
  advances stage by stage up to its ``max_auto_stage``; re-materializing a decided day decides nothing.
- A candidate registered too recently for any matured label (no backtest replay) holds in shadow, and the
  reason and status give the first date labels mature; with the backtest's replay of those days it is judged.
- A candidate whose scores are the champion's shuffled across accounts is rolled back in shadow by the paired
  comparison, although its score distribution and alert rate are the champion's.
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

from assets.resources import ModelStoreResource, ServingDatabaseResource
from assets.rollout import rollout_evaluation, served_risk_scores
from orchestration.rollout_jobs import rollout_abort, rollout_start
from safeguard import cli
from safeguard.rollout import RolloutPlan, controls
from safeguard.rollout.guardrails import COMPARISON_GUARDRAILS, OUTCOME_GUARDRAILS
from safeguard.rollout.served import SERVED_TABLE
from safeguard.rollout.state import RolloutStore, end_of_day
from safeguard.scoring import SCORES_SCHEMA, write_scores
from tests.unit.test_rollout_state import registered_models

N_ACCOUNTS = 4000
FEATURES = [f"feat_{i:02d}" for i in range(6)]
SERVE_DAYS = [(date(2026, 9, 2) + timedelta(days=i)).isoformat() for i in range(8)]
HORIZON = 14
# Score days whose labels have matured by the serving days (as_of_date = serving day - H).
LABEL_DAYS = [(date.fromisoformat(d) - timedelta(days=HORIZON)).isoformat() for d in SERVE_DAYS]
PLAN_OPTIONS = {"min_days_per_stage": 1, "min_arm_accounts": 15}
# Stages a 4,000-account world can judge: ~8% of accounts are labelled positive per day, so a 10% arm sees ~30
# labelled positives a day and a 1% arm about three.
SIZED_STAGES = [
    {"name": "shadow", "percent": 0},
    {"name": "canary_10", "percent": 10},
    {"name": "canary_25", "percent": 25},
    {"name": "canary_50", "percent": 50},
    {"name": "full_100", "percent": 100},
]
TIER_EDGES = [0.1, 0.3, 0.6]  # elevated, high, critical


class World:
    """A warehouse with both models' scores, features and labels; a serving database with both models registered."""

    def __init__(self, tmp_path, candidate_scores, candidate_history: str = "live"):
        """``candidate_history``: where the candidate's scores of the label days come from: ``live`` (it was
        scored then), ``backtest`` (the offline backtest replayed it on them) or ``none`` (registered since)."""
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
                tables = [self._scores(day, self.champion, "champion", champion)]
                live = day in SERVE_DAYS or candidate_history == "live"
                if live:
                    tables.append(self._scores(day, self.candidate, "candidate", candidate))
                write_scores(con, pa.concat_tables(tables), [day])
                if not live and candidate_history == "backtest":
                    replay = self._scores(day, self.candidate, "candidate", candidate)
                    con.execute(
                        "CREATE TABLE IF NOT EXISTS scoring.backtest_scores (model_version VARCHAR, "
                        "score_date DATE, account_id VARCHAR, probability DOUBLE, tier VARCHAR)"
                    )
                    con.register(
                        "_replay",
                        replay.select(["model_version", "score_date", "account_id", "probability", "tier"]),
                    )
                    con.execute("INSERT INTO scoring.backtest_scores BY NAME SELECT * FROM _replay")
                    con.unregister("_replay")
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
                "reasons_json": np.where(tiers != "low", '[{"feature": "feat_00", "contribution": 0.5}]', None),
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
                "label": (rng.random(N_ACCOUNTS * len(LABEL_DAYS)) < np.tile(risk, len(LABEL_DAYS))).astype(int),
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


def shuffled_candidate(champion: np.ndarray, rng) -> np.ndarray:
    return rng.permutation(champion)  # the champion's distribution, no skill


def start_rollout(world: World, last_served: str, **options) -> None:
    plan = controls.plan_from_options(**{**PLAN_OPTIONS, **options.pop("plan_options", {})})
    if "stages" in options:
        plan = RolloutPlan.from_dict({**plan.to_dict(), **options})
    # No backtest in this harness (its world has no models to replay): forced, as an operator would with --force.
    controls.start(
        world.store, world.registry, "ada", plan=plan, last_served=date.fromisoformat(last_served), force=True
    )


def judged_evidence(event) -> bool:
    """An automatic advance's report: every comparison guardrail and at least one outcome guardrail passed."""
    statuses = {m["name"]: m["status"] for m in event.metrics["guardrails"]["metrics"]}
    return all(statuses[name] == "pass" for name in COMPARISON_GUARDRAILS) and any(
        statuses[name] == "pass" for name in OUTCOME_GUARDRAILS
    )


def test_a_good_candidate_advances_only_on_judged_evidence_and_holds_where_a_small_arm_cannot_judge(tmp_path):
    world = World(tmp_path, good_candidate)
    first = world.run_day(SERVE_DAYS[0])
    assert set(world.served(SERVE_DAYS[0])["arm"]) == {"champion"}  # the registry has a candidate; nobody serves it
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
    assert shares == [pytest.approx(0.01, abs=0.005)] * 3  # it stays at 1%: nothing there can be judged
    assert world.decisions() == [
        ("start", "not_started", "shadow", "ada", None),
        ("advance", "shadow", "canary_1", "policy", SERVE_DAYS[1]),
        ("hold", "canary_1", "canary_1", "policy", SERVE_DAYS[2]),
        ("hold", "canary_1", "canary_1", "policy", SERVE_DAYS[3]),
        ("hold", "canary_1", "canary_1", "policy", SERVE_DAYS[4]),
    ]
    events = world.store.events(world.store.latest().rollout_id)
    assert judged_evidence(events[1])  # in shadow all 4,000 accounts are compared, on matured labels
    shadow = {m["name"]: m for m in events[1].metrics["guardrails"]["metrics"]}
    assert shadow["recall_drop"]["details"]["interval"]["n"] >= 20
    assert shadow["recall_drop"]["details"]["interval"]["low"] >= -0.1
    hold = events[-1]
    assert "0 of 1 outcome guardrail(s) judged on matured labels" in hold.reason
    assert "labelled positives" in hold.reason and "the next on" in hold.reason
    pooled = hold.metrics["pooled_rows"]
    assert pooled > hold.metrics["arm_accounts"] * 2  # three days of the stage pooled

    last = metadata(results[SERVE_DAYS[4]], "rollout_evaluation")
    assert {r.data["metric"] for r in last["guardrails"].value.records} >= {"alert_rate_ratio", "score_psi"}
    timeline = last["rollout_timeline"].value
    assert f"| {SERVE_DAYS[1]} | {SERVE_DAYS[1]} | shadow |" in timeline
    assert f"| {SERVE_DAYS[2]} | {SERVE_DAYS[4]} | canary_1 |" in timeline

    # Re-materializing a decided day, alone and as one run over a range: same served rows, metrics, no decision.
    before = world.served(SERVE_DAYS[2]).sort_values("account_id", ignore_index=True)
    again = world.run_day(SERVE_DAYS[2])
    pd.testing.assert_frame_equal(world.served(SERVE_DAYS[2]).sort_values("account_id", ignore_index=True), before)
    redo = metadata(again, "rollout_evaluation")["decisions"].data[SERVE_DAYS[2]]
    assert (redo["decision"], redo["recorded_now"], redo["stage_in_effect"]) == ("hold", False, "canary_1")
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


def test_with_stages_sized_to_the_world_a_good_candidate_advances_stage_by_stage_as_evidence_accrues(
    tmp_path,
):
    world = World(tmp_path, good_candidate)
    world.run_day(SERVE_DAYS[0])
    start_rollout(world, SERVE_DAYS[0], stages=SIZED_STAGES, max_auto_stage=50)
    for day in SERVE_DAYS[1:]:
        world.run_day(day)
    events = world.store.events(world.store.latest().rollout_id)
    advances = [e for e in events if e.decision == "advance"]
    assert [(e.from_stage, e.to_stage) for e in advances] == [
        ("shadow", "canary_10"),
        ("canary_10", "canary_25"),
        ("canary_25", "canary_50"),
    ]
    assert all(judged_evidence(e) for e in advances)
    holds = [e for e in events if e.decision == "hold"]
    assert any("awaiting manual promotion beyond 50%" in e.reason for e in holds)
    # Evidence accrues over a stage: the labelled positives pooled in canary_10 grow from day to day.
    positives = [
        {m["name"]: m for m in e.metrics["guardrails"]["metrics"]}["recall_drop"]["details"]["labelled_positives"]
        for e in events
        if e.score_date is not None and e.metrics["stage_in_effect"] == "canary_10"
    ]
    assert positives == sorted(positives) and len(positives) >= 1


@pytest.mark.parametrize("history", ["none", "backtest"])
def test_a_candidate_without_matured_labels_holds_and_says_when_they_mature(tmp_path, history, capsys, monkeypatch):
    """Registered on the first serving day: no live scores of the label days. Without a backtest replay of them
    nothing can be judged for 14 days; with one, shadow is judged at once."""
    world = World(tmp_path, good_candidate, candidate_history=history)
    world.run_day(SERVE_DAYS[0])
    start_rollout(world, SERVE_DAYS[0])
    for day in SERVE_DAYS[1:4]:
        world.run_day(day)
    decisions = [d[0] for d in world.decisions()[1:]]
    if history == "backtest":
        assert decisions[0] == "advance"
        return
    assert decisions == ["hold"] * 3
    first_maturity = (date.fromisoformat(SERVE_DAYS[0]) + timedelta(days=HORIZON)).isoformat()
    hold = world.store.events(world.store.latest().rollout_id)[-1]
    assert f"its first labels mature on {first_maturity}" in hold.reason
    monkeypatch.setenv("SERVING_DB_URL", world.serving_url)
    monkeypatch.setenv("WAREHOUSE_PATH", world.warehouse)
    monkeypatch.setenv("MODEL_STORE_URI", world.model_dir)
    assert cli.main(["rollout", "status"]) == 0
    status = capsys.readouterr().out
    assert "waits for" in status and f"labels mature on {first_maturity}" in status
    assert "backtest: none against this champion (the start was forced)" in status


def test_a_shuffled_candidate_is_stopped_in_shadow_by_the_paired_comparison(tmp_path):
    world = World(tmp_path, shuffled_candidate)
    world.run_day(SERVE_DAYS[0])
    start_rollout(world, SERVE_DAYS[0])
    world.run_day(SERVE_DAYS[1])
    assert world.decisions()[-1][:3] == ("rollback", "shadow", "rolled_back")
    rollback = world.store.events(world.store.latest().rollout_id)[-1]
    statuses = {m["name"]: m["status"] for m in rollback.metrics["guardrails"]["metrics"]}
    assert statuses["score_psi"] == "pass" and statuses["alert_rate_ratio"] == "pass"  # distributions agree
    assert statuses["alert_agreement"] == "breach"
    assert "guardrail breach: alert_agreement" in rollback.reason
    assert world.registry.get(world.candidate).status == "rejected"
    world.run_day(SERVE_DAYS[2])
    assert set(world.served(SERVE_DAYS[2])["arm"]) == {"champion"}


def test_a_range_run_decides_once_and_never_changes_a_day_already_served(tmp_path):
    world = World(tmp_path, good_candidate)
    world.run_day(SERVE_DAYS[0])
    start_rollout(world, SERVE_DAYS[0])

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
    assert world.decisions()[-1][:3] == ("hold", "canary_1", "canary_1")


def test_a_broken_candidate_is_rolled_back_at_its_first_canary_evaluation(tmp_path, monkeypatch, capsys):
    world = World(tmp_path, inverted_candidate)
    monkeypatch.setenv("SERVING_DB_URL", world.serving_url)
    monkeypatch.setenv("WAREHOUSE_PATH", world.warehouse)
    monkeypatch.setenv("MODEL_STORE_URI", world.model_dir)
    world.run_day(SERVE_DAYS[0])

    assert cli.main(["rollout", "promote", "--actor", "ada"]) == 1
    assert "no rollout is running" in capsys.readouterr().err
    assert (
        cli.main(["rollout", "start", "--actor", "ada", "--force", "--min-days", "1", "--min-arm-accounts", "15"]) == 0
    )
    assert cli.main(["rollout", "promote", "--actor", "ada"]) == 0  # skip shadow: straight to 1% of accounts
    assert "next score day 2026-09-03 is served by stage canary_1" in capsys.readouterr().out

    world.run_day(SERVE_DAYS[1])
    canary = world.served(SERVE_DAYS[1])
    assert 15 <= (canary["arm"] == "candidate").sum() <= 80  # the candidate served about 1% that day

    # A 42-account arm cannot judge it on day one (the interval of its alert ratio still reaches 2): it holds,
    # never advances, and is rolled back on the first day the pooled evidence judges it.
    days = 1
    while world.decisions()[-1][0] == "hold":
        days += 1
        world.run_day(SERVE_DAYS[days])
    assert days <= 3, world.decisions()
    assert world.decisions()[-1][:4] == ("rollback", "canary_1", "rolled_back", "policy")
    assert {d[0] for d in world.decisions()[2:-1]} <= {"hold"}
    rollback = world.store.events(world.store.latest().rollout_id)[-1]
    # on a small arm the score PSI is not judged (min_psi_accounts); the alert ratio's interval catches it
    assert "guardrail breach: alert_rate_ratio" in rollback.reason
    assert world.registry.get(world.candidate).status == "rejected"

    world.run_day(SERVE_DAYS[days + 1])
    after = world.served(SERVE_DAYS[days + 1])
    assert set(after["arm"]) == {"champion"} and set(after["served_model_version"]) == {world.champion}
    assert after["rollout_id"].isna().all()

    assert cli.main(["rollout", "status"]) == 0
    status = capsys.readouterr().out
    assert "rolled_back" in status and "alert_rate_ratio" in status and "breach" in status
    assert f"rollback canary_1 -> rolled_back by policy on {SERVE_DAYS[days]}" in status
    assert cli.main(["rollout", "abort", "--actor", "ada", "--reason", "late"]) == 1
