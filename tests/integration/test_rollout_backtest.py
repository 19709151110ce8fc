"""The offline backtest before any traffic, through the command line and the Dagster asset (issue 15).

A small warehouse is written directly: point-in-time features for 16 days, matured labels for the older 11 of
them, and the champion's published scores (its real predictions) on every day but one. The models are real
LightGBM models in the real registry; the serving database is SQLite migrated by Alembic.

- A candidate about as good as the champion (same generator, other seed) passes; ``rollout start`` refuses it
  until then, and accepts it after.
- A broken candidate (trained on shuffled labels) fails; ``rollout start`` refuses it; ``--force --actor`` starts
  it and the override is in the audit log.
- Bad input (days 0, negative, beyond the history; no candidate; unknown version) is refused with a clear error
  and writes nothing.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, Definitions, materialize
from dagster_duckdb import DuckDBResource

from assets.backtest import rollout_backtest
from assets.resources import ModelStoreResource, ServingDatabaseResource
from orchestration.automation import rollout_backtest_job
from safeguard import cli
from safeguard.rollout import controls
from safeguard.rollout.backtest_replay import BACKTEST_SCORES_TABLE, read_backtest_scores
from safeguard.rollout.backtest_report import format_backtest
from safeguard.rollout.backtest_store import latest_backtest
from safeguard.rollout.state import RolloutStore
from safeguard.rules_model import build_rules_model
from safeguard.scoring import SCORES_SCHEMA, write_scores
from safeguard.serving.schema import rollout_backtests, rollout_events, rollouts
from safeguard.tiers import tier_index
from safeguard.vocabulary import TIERS
from tests import model_factory as mf
from tests.signal_factory import catalog, with_signals
from tests.unit.test_rollout_state import registered_models, tiny_model

N_ACCOUNTS = 1500
DAYS = mf.day_strings("2026-07-29", 16)  # the candidate's validation starts 2026-07-31
MATURED = DAYS[:11]  # labels of 07-29 .. 08-08 have matured
NO_CHAMPION_DAY = "2026-08-03"


@functools.cache
def shuffled_label_model():
    """A broken candidate: trained like the others, on labels shuffled across rows (no skill)."""
    from safeguard.training import train_risk_model

    examples = mf.synthetic_frame(300, mf.day_strings("2026-07-01", 40), n_features=6, seed=3)
    examples["label"] = np.random.default_rng(3).permutation(examples["label"].to_numpy())
    created = datetime(2026, 8, 1, 0, 0, 3, tzinfo=UTC)
    return train_risk_model(examples, mf.feature_specs(6), num_boost_round=20, seed=3, created_at=created)


class World:
    def __init__(self, tmp_path, monkeypatch, *, broken: bool = False, rules_champion: bool = False):
        self.warehouse = str(tmp_path / "warehouse.duckdb")
        self.serving_url = f"sqlite:///{tmp_path / 'serving.db'}"
        self.model_dir = str(tmp_path / "models")
        self.registry, self.champion, self.candidate = registered_models(self.serving_url, self.model_dir)
        if broken:  # the only candidate is the broken one
            self.registry.set_status(self.candidate, "retired")
            self.candidate = self.registry.register(shuffled_label_model(), "candidate").version
        examples = with_signals(mf.synthetic_frame(N_ACCOUNTS, DAYS, n_features=6, seed=5))
        examples["as_of_date"] = pd.to_datetime(examples["as_of_date"]).dt.date
        features = examples.drop(columns="label")
        champion = tiny_model(1)
        if rules_champion:  # cold start: the rules score is champion
            champion = build_rules_model(
                catalog(),
                features[features["as_of_date"] == features["as_of_date"].min()],
                reason="cold start in a test",
            )
            self.champion = self.registry.register(champion, "champion").version
        self.store = RolloutStore(self.registry.engine)
        self.resources = {
            "warehouse": DuckDBResource(database=self.warehouse),
            "serving": ServingDatabaseResource(url=self.serving_url),
            "model_store": ModelStoreResource(uri=self.model_dir),
        }
        for name, value in (
            ("SERVING_DB_URL", self.serving_url),
            ("WAREHOUSE_PATH", self.warehouse),
            ("MODEL_STORE_URI", self.model_dir),
        ):
            monkeypatch.setenv(name, value)
        with duckdb.connect(self.warehouse) as con:
            con.execute("CREATE SCHEMA marts")
            for table, frame in (
                ("fct_account_features", features),
                ("fct_training_examples", examples[examples["as_of_date"].astype(str).isin(MATURED)]),
            ):
                con.register("_frame", frame)
                con.execute(f"CREATE TABLE marts.{table} AS SELECT * FROM _frame")
                con.unregister("_frame")
            for day in DAYS:
                if day != NO_CHAMPION_DAY:
                    rows = features[features["as_of_date"].astype(str) == day]
                    write_scores(con, self._published(champion, rows, day), [day])

    @staticmethod
    def _published(model, rows: pd.DataFrame, day: str) -> pa.Table:
        """The champion's scores of a day as daily scoring publishes them (without reasons)."""
        margin = model.raw_margin(model.matrix(rows))
        p = model.calibrator(margin)
        n = len(rows)
        return pa.table(
            {
                "score_date": pa.array([date.fromisoformat(day)] * n, pa.date32()),
                "account_id": rows["account_id"].to_numpy(),
                "model_version": [model.version] * n,
                "model_role": ["champion"] * n,
                "probability": p,
                "raw_margin": margin,
                "tier": np.asarray(TIERS, dtype=object)[tier_index(p, model.thresholds)],
                "explained": np.zeros(n, dtype=bool),
                "explain_reason": pa.nulls(n, pa.string()),
                "reasons_json": pa.nulls(n, pa.string()),
            },
            schema=SCORES_SCHEMA,
        )

    def rows(self) -> dict[str, int]:
        """Rows of the tables a refused command must leave alone."""
        with self.registry.engine.connect() as conn:
            counts = {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (rollouts, rollout_events, rollout_backtests)
            }
        with duckdb.connect(self.warehouse, read_only=True) as con:
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'backtest_scores'"
            ).fetchone()[0]
            counts["backtest_scores"] = (
                con.execute(f"SELECT count(*) FROM {BACKTEST_SCORES_TABLE}").fetchone()[0] if exists else 0
            )
        return counts


def test_a_candidate_as_good_as_the_champion_passes_and_only_then_starts(tmp_path, monkeypatch, capsys):
    world = World(tmp_path, monkeypatch)
    nothing = world.rows()

    assert cli.main(["rollout", "start", "--actor", "ada"]) == 1
    err = capsys.readouterr().err
    assert f"candidate {world.candidate} has no backtest against champion {world.champion}" in err
    assert "safeguard rollout backtest" in err and "--force --actor NAME" in err
    assert world.rows() == nothing

    assert cli.main(["rollout", "backtest", "--days", "16", "--per-day"]) == 0
    out = capsys.readouterr().out
    assert f"candidate {world.candidate} vs champion {world.champion}" in out
    assert "verdict: pass" in out, out
    for day, status in (
        ("2026-07-29", "in_training"),
        ("2026-07-31", "judged"),
        (NO_CHAMPION_DAY, "no_champion_scores"),
        ("2026-08-09", "labels_pending"),
    ):
        assert any(line.split()[:2] == [day, status] for line in out.splitlines()), (day, status)
    assert "pooled over 8 judged day(s) 2026-07-31 .. 2026-08-08" in out

    stored = latest_backtest(world.registry.engine, world.candidate, world.champion)
    assert (stored.verdict, stored.judged_days, stored.days) == ("pass", 8, 16)
    brief = format_backtest(stored, per_day=False)  # what `rollout backtest` prints without --per-day
    assert "8 judged" in brief and "the table per day: --per-day" in brief and "verdict: pass" in brief
    assert not any(line.startswith("    2026-") for line in brief.splitlines())
    assert (stored.first_day, stored.last_day) == (date(2026, 7, 29), date(2026, 8, 13))
    with duckdb.connect(world.warehouse, read_only=True) as con:
        scores = read_backtest_scores(con, world.candidate, DAYS[0], DAYS[-1])
    assert len(scores) == N_ACCOUNTS * 16 and set(scores["tier"]) <= set(TIERS)

    assert cli.main(["rollout", "start", "--actor", "ada", "--min-days", "1"]) == 0
    start = world.store.events(world.store.latest().rollout_id)[0]
    assert (start.decision, start.actor, start.reason) == ("start", "ada", "started by ada")
    assert start.metrics["backtest"]["verdict"] == "pass"
    assert start.metrics["backtest"]["backtest_id"] == stored.backtest_id
    assert start.metrics["backtest"]["forced"] is False
    capsys.readouterr()
    assert cli.main(["rollout", "status"]) == 0
    out = capsys.readouterr().out
    assert f"backtest #{stored.backtest_id} (" in out and "judged day(s)): pass" in out


def test_bad_input_is_refused_clearly_and_writes_nothing(tmp_path, monkeypatch, capsys):
    world = World(tmp_path, monkeypatch)
    nothing = world.rows()

    for argv, message in (
        (["--days", "0"], "--days must be at least 1, got 0"),
        (["--days", "-3"], "--days must be at least 1, got -3"),
        (["--days", "17"], "--days 17 is beyond the feature history: marts.fct_account_features holds 16 day(s)"),
        (["--candidate", "m-nope"], "model m-nope is not registered"),
        (["--candidate", world.champion], f"model {world.champion} is champion, not a candidate"),
    ):
        assert cli.main(["rollout", "backtest", *argv]) == 1, argv
        assert message in capsys.readouterr().err, argv
        assert world.rows() == nothing, argv

    world.registry.set_status(world.candidate, "retired")
    assert cli.main(["rollout", "backtest"]) == 1
    assert "the registry has 0 candidate(s) []; name one with --candidate" in capsys.readouterr().err
    assert cli.main(["rollout", "start", "--actor", "ada", "--force"]) == 1
    assert "the registry has 0 candidate(s)" in capsys.readouterr().err
    assert world.rows() == nothing
    with pytest.raises(SystemExit):  # --force without --actor: the parser refuses
        cli.main(["rollout", "start", "--force"])
    assert world.rows() == nothing


def test_a_broken_candidate_fails_the_backtest_and_starts_only_when_forced(tmp_path, monkeypatch, capsys):
    world = World(tmp_path, monkeypatch, broken=True)
    instance = DagsterInstance.ephemeral()

    result = materialize(
        [rollout_backtest],
        resources=world.resources,
        instance=instance,
        run_config={"ops": {"rollout_backtest": {"config": {"days": 16}}}},
    )
    assert result.success
    meta = result.asset_materializations_for_node("rollout_backtest")[-1].metadata
    assert (meta["verdict"].value, meta["judged_days"].value) == ("fail", 8)
    assert "beyond the margin" in meta["pooled"].value
    assert "## Backtest against the champion" in meta["model_card"].value
    assert meta["per_day_plot"].value.startswith("![per-day precision and recall](data:image/png;base64,")
    with duckdb.connect(world.warehouse, read_only=True) as con:
        first = read_backtest_scores(con, world.candidate, DAYS[0], DAYS[-1])

    # The job from the UI runs the same asset; a second run replaces exactly the same rows.
    job = Definitions(
        assets=[rollout_backtest], jobs=[rollout_backtest_job], resources=world.resources
    ).resolve_job_def("rollout_backtest_job")
    again = job.execute_in_process(
        run_config={"ops": {"rollout_backtest": {"config": {"days": 16}}}}, instance=instance
    )
    assert again.success
    with duckdb.connect(world.warehouse, read_only=True) as con:
        second = read_backtest_scores(con, world.candidate, DAYS[0], DAYS[-1])
    pd.testing.assert_frame_equal(first, second)

    before = world.rows()
    assert cli.main(["rollout", "start", "--actor", "ada"]) == 1
    err = capsys.readouterr().err
    assert f"candidate {world.candidate} backtest 2 against champion {world.champion}: fail: AUC-PR" in err
    assert world.rows() == before

    assert cli.main(["rollout", "start", "--actor", "bob", "--force"]) == 0
    start = world.store.events(world.store.latest().rollout_id)[0]
    assert start.actor == "bob"
    assert "backtest check overridden by bob (--force): fail: AUC-PR" in start.reason
    assert start.metrics["backtest"]["forced"] is True
    assert start.metrics["backtest"]["verdict"] == "fail"
    assert "judged day(s)): fail" in controls.format_status(controls.status(world.store))


def test_start_under_a_plan_that_does_not_require_a_backtest_records_its_absence(tmp_path, monkeypatch, capsys):
    world = World(tmp_path, monkeypatch)
    plan = tmp_path / "plan.json"
    plan.write_text('{"backtest": {"required": false}}')

    assert cli.main(["rollout", "start", "--actor", "ada", "--plan", str(plan)]) == 0
    start = world.store.events(world.store.latest().rollout_id)[0]
    assert start.metrics["backtest"]["verdict"] == "insufficient_data"
    assert start.reason == "started by ada"
    assert world.store.latest().plan.backtest.required is False


def test_with_the_rules_score_as_champion_the_backtest_runs_the_same_way(tmp_path, monkeypatch, capsys):
    world = World(tmp_path, monkeypatch, rules_champion=True)
    assert world.registry.champion().kind == "rules"

    assert cli.main(["rollout", "backtest", "--days", "16", "--per-day"]) == 0
    out = capsys.readouterr().out
    assert f"vs champion {world.champion} (rules)" in out and "pooled over 8 judged day(s)" in out
    stored = latest_backtest(world.registry.engine, world.candidate, world.champion)
    assert stored.summary["champion_kind"] == "rules"
    rules_auc = stored.summary["outcomes"]["champion"]["auc_pr"]["value"]
    assert 0 < rules_auc < stored.summary["outcomes"]["candidate"]["auc_pr"]["value"]  # few signals vs a model


def test_rollout_backtest_stays_out_of_the_daily_pipeline():
    from orchestration.definitions import defs

    daily = defs.resolve_job_def("daily_pipeline")
    assert "rollout_backtest" not in {k.to_user_string() for k in daily.asset_layer.executable_asset_keys}
    full = defs.resolve_job_def("full_graph")
    assert "rollout_backtest" not in {k.to_user_string() for k in full.asset_layer.executable_asset_keys}
    backtest = defs.resolve_job_def("rollout_backtest_job")
    assert {k.to_user_string() for k in backtest.asset_layer.executable_asset_keys} == {"rollout_backtest"}
