"""Rollout state in the serving database, served scores and the operator's actions (design §3.4).

Real parts: the serving database is SQLite migrated by Alembic, the models are registered in the real registry,
the warehouse is DuckDB.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from safeguard.landing import ObjectStore
from safeguard.registry import ModelRegistry
from safeguard.rollout import RolloutPlan, Stage, buckets, controls, policy
from safeguard.rollout.served import SERVED_TABLE, ServingError, last_served_day, serve_day
from safeguard.rollout.state import EventRecord, RolloutStateError, RolloutStore, StaleRolloutError, end_of_day
from safeguard.scoring import SCORES_SCHEMA, write_scores
from safeguard.serving.db import engine_for, upgrade
from tests import model_factory as mf

D = [date(2026, 9, 1) + timedelta(days=i) for i in range(8)]
PLAN = RolloutPlan(min_days_per_stage=1, min_arm_accounts=20)


@functools.cache
def tiny_model(seed: int):
    """A small real model (a second or so to train); only its registry row matters here."""
    from safeguard.training import train_risk_model

    examples = mf.synthetic_frame(300, mf.day_strings("2026-07-01", 40), n_features=6, seed=seed)
    created = datetime(2026, 8, 1, 0, 0, seed, tzinfo=UTC)  # fixed version names: the same rollout ids each run
    return train_risk_model(examples, mf.feature_specs(6), num_boost_round=20, seed=seed, created_at=created)


def registered_models(url: str, model_dir: str) -> tuple[ModelRegistry, str, str]:
    """A migrated serving database with a champion and a candidate in the registry: (registry, champion, candidate)."""
    engine = engine_for(url)
    upgrade(engine)
    registry = ModelRegistry(engine, ObjectStore(model_dir))
    champion = registry.register(tiny_model(1), "champion").version
    candidate = registry.register(tiny_model(2), "candidate").version
    return registry, champion, candidate


@pytest.fixture(params=["sqlite", "postgresql"])
def serving_url(request, tmp_path):
    """The embedded SQLite default, and a throwaway database on the test PostgreSQL (foreign keys enforced)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'serving.db'}"
        return
    base = sa.make_url(request.getfixturevalue("postgres_url"))
    name = f"rollout_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def models(serving_url, tmp_path):
    registry, champion, candidate = registered_models(serving_url, str(tmp_path / "models"))
    yield RolloutStore(registry.engine), registry, champion, candidate
    registry.engine.dispose()


def started(store: RolloutStore, champion: str, candidate: str, day: date, plan: RolloutPlan = PLAN):
    """A rollout started at the end of ``day``: shadow serves from the next day."""
    return store.create(champion, candidate, plan, policy.start(plan, "ada"), end_of_day(day))


def test_the_audit_log_decides_the_stage_of_each_day(models):
    store, _, champion, candidate = models
    rollout = started(store, champion, candidate, D[0])

    assert store.state_for_day(D[0]) is None  # the day of the start itself is still champion only
    shadow = store.state_for_day(D[1])
    assert (shadow.stage.name, shadow.stage_started_on, shadow.is_shadow) == ("shadow", D[1], True)
    assert shadow.days_in_stage(D[2]) == 2

    advance = policy.Decision("advance", "shadow", "canary_1", ["guardrails pass"])
    event = store.append(rollout.rollout_id, advance, end_of_day(D[2]), score_date=D[2], metrics={"psi": float("nan")})

    assert (event.actor, event.score_date, event.metrics) == ("policy", D[2], {"psi": None})
    assert store.state_for_day(D[2]).stage.name == "shadow"  # decided on D2's scores: D2 keeps its stage
    canary = store.state_for_day(D[3])
    assert (canary.stage, canary.stage_started_on, canary.days_in_stage(D[3])) == (
        Stage("canary_1", 1),
        D[3],
        1,
    )
    current = store.get(rollout.rollout_id)
    assert (current.status, current.current_stage, current.stage_started_on) == ("active", "canary_1", D[3])
    assert store.decision_for_day(rollout.rollout_id, D[2]).decision == "advance"
    assert store.decision_for_day(rollout.rollout_id, D[1]) is None
    assert store.last_decided_day(rollout.rollout_id) == D[2]
    assert store.timeline(rollout.rollout_id, D[5]) == [
        (D[1].isoformat(), "shadow"),
        (D[3].isoformat(), "canary_1"),
    ]


def test_a_decision_on_an_outdated_state_is_refused_and_the_log_stays_in_time_order(models):
    store, _, champion, candidate = models
    rollout = started(store, champion, candidate, D[2])

    with pytest.raises(StaleRolloutError, match="is at shadow, not canary_1"):
        store.append(rollout.rollout_id, policy.Decision("advance", "canary_1", "canary_5", []), end_of_day(D[3]))
    late = store.append(rollout.rollout_id, policy.pause("shadow", "bob", "a look"), end_of_day(D[0]))

    assert late.event_time == end_of_day(D[2])  # never before the previous event
    assert store.get(rollout.rollout_id).status == "paused"
    assert [e.decision for e in store.events(rollout.rollout_id)] == ["start", "pause"]


def test_one_rollout_runs_at_a_time_and_each_day_is_served_by_at_most_one(models):
    store, _, champion, candidate = models
    first = started(store, champion, candidate, D[0])
    with pytest.raises(RolloutStateError, match="abort it before starting another"):
        started(store, champion, candidate, D[1])

    store.append(first.rollout_id, policy.abort("shadow", "ada", "wrong features"), end_of_day(D[2]))
    second = started(store, champion, candidate, D[4])

    assert first.rollout_id != second.rollout_id
    assert store.get(first.rollout_id).status == "aborted"
    assert store.state_for_day(D[2]).rollout_id == first.rollout_id
    assert store.state_for_day(D[3]) is None and store.state_for_day(D[4]) is None
    assert store.state_for_day(D[5]).rollout_id == second.rollout_id
    assert store.current().rollout_id == second.rollout_id


# -- served scores ------------------------------------------------------------------------------------------------

N_ACCOUNTS = 2000


def scores_table(day: date, version: str, role: str, probability: np.ndarray, ids: list[str]) -> pa.Table:
    tiers = np.array(["low", "elevated", "high", "critical"])[np.searchsorted([0.2, 0.5, 0.8], probability)]
    n = len(ids)
    return pa.table(
        {
            "score_date": pa.array([day] * n, pa.date32()),
            "account_id": ids,
            "model_version": [version] * n,
            "model_role": [role] * n,
            "probability": probability,
            "raw_margin": np.log(probability / (1 - probability)),
            "tier": tiers,
            "explained": tiers != "low",
            "explain_reason": np.where(tiers != "low", "tier", None),
            "reasons_json": np.where(tiers != "low", '[{"feature": "feat_00"}]', None),
        },
        schema=SCORES_SCHEMA,
    )


@pytest.fixture
def warehouse():
    """Both models' scores of every account on D[1]; the candidate's are 1 - the champion's, to tell them apart."""
    con = duckdb.connect()
    ids = [f"acct-{i:05d}" for i in range(N_ACCOUNTS)]
    p = np.random.default_rng(3).uniform(0.01, 0.99, N_ACCOUNTS)
    write_scores(
        con,
        pa.concat_tables(
            [
                scores_table(D[1], "m-champ", "champion", p, ids),
                scores_table(D[1], "m-cand", "candidate", 1 - p, ids),
            ]
        ),
        [D[1].isoformat()],
    )
    yield con, ids, p
    con.close()


def served(con) -> dict:
    return con.execute(f"SELECT * FROM {SERVED_TABLE} ORDER BY account_id").to_arrow_table().to_pydict()


def state_at(stage: Stage):
    from safeguard.rollout.state import RolloutState

    return RolloutState("rollout-0001-m-cand", "m-champ", "m-cand", RolloutPlan(), stage, D[1])


def test_serving_follows_the_stage_in_effect_and_is_repeatable(warehouse):
    con, ids, p = warehouse
    assert last_served_day(con) is None

    champion_only = serve_day(con, D[1], None)
    rows = served(con)
    assert champion_only.arms == {"champion": N_ACCOUNTS} and champion_only.versions == {"m-champ": N_ACCOUNTS}
    assert rows["probability"] == pytest.approx(list(p)) and set(rows["bucket"]) == {None}
    assert set(rows["rollout_id"]) == {None} and set(rows["candidate_version"]) == {None}

    serve_day(con, D[1], state_at(Stage("shadow", 0)))
    rows = served(con)
    assert set(rows["arm"]) == {"shadow"} and rows["probability"] == pytest.approx(list(p))
    assert set(rows["candidate_version"]) == {"m-cand"} and set(rows["stage"]) == {"shadow"}

    expected_buckets = buckets(ids, salt="rollout-0001-m-cand")
    arms = {}
    for percent in (5, 25):
        day = serve_day(con, D[1], state_at(Stage(f"canary_{percent}", percent)))
        rows = served(con)
        in_arm = np.array(rows["arm"]) == "candidate"
        assert np.array_equal(np.array(rows["bucket"]), expected_buckets)
        assert np.array_equal(in_arm, expected_buckets <= percent)
        assert np.array(rows["probability"])[in_arm] == pytest.approx(1 - p[in_arm])
        assert np.array(rows["probability"])[~in_arm] == pytest.approx(p[~in_arm])
        assert set(np.array(rows["served_model_version"])[in_arm]) == {"m-cand"}
        assert day.arms == {"candidate": int(in_arm.sum()), "champion": int((~in_arm).sum())}
        assert all(r == "[]" or r.startswith("[{") for r in rows["reasons_json"])
        arms[percent] = in_arm
    assert np.all(arms[25][arms[5]])  # sticky: nobody leaves the arm as it grows

    before = served(con)
    serve_day(con, D[1], state_at(Stage("canary_25", 25)))
    assert served(con) == before  # serving a day again replaces it with the same rows
    assert last_served_day(con) == D[1]


def test_missing_candidate_scores_fail_the_day_and_keep_what_was_served(warehouse):
    con, ids, _ = warehouse
    serve_day(con, D[1], None)
    before = served(con)
    arm_account = ids[int(np.flatnonzero(buckets(ids, salt="rollout-0001-m-cand") <= 25)[0])]
    con.execute(
        "DELETE FROM scoring.account_risk_scores WHERE model_version = 'm-cand' AND account_id = ?",
        [arm_account],
    )

    with pytest.raises(ServingError, match=rf"{D[1]}: 1 account\(s\) of the candidate arm .* \(e.g. {arm_account}\)"):
        serve_day(con, D[1], state_at(Stage("canary_25", 25)))
    with pytest.raises(ServingError, match=f"{D[2]}: no champion scores"):
        serve_day(con, D[2], None)
    assert served(con) == before


# -- the operator's actions ---------------------------------------------------------------------------------------


def test_actions_take_effect_from_the_first_day_not_served_yet(models):
    store, registry, _, candidate = models
    now = datetime(2026, 11, 27, 10, 30)

    rollout = controls.start(store, registry, "ada", plan=PLAN, last_served=D[1], now=now, force=True)
    assert store.state_for_day(D[1]) is None and store.state_for_day(D[2]).stage.name == "shadow"
    controls.promote(store, registry, "ada", last_served=D[3], now=now)  # shadow -> canary_1 by hand
    controls.pause(store, "bob", "holiday", last_served=D[3], now=now)
    with pytest.raises(RolloutStateError, match="paused already"):
        controls.pause(store, "bob", last_served=D[3], now=now)
    controls.resume(store, "bob", last_served=D[4], now=now)
    with pytest.raises(ValueError, match="needs a named actor"):
        controls.abort(store, " ", "no reason", last_served=D[4])
    controls.abort(store, "carol", "alerts look odd", last_served=D[4], now=now)

    assert [store.stage_in_effect(rollout.rollout_id, d).name for d in D[1:7]] == [
        "not_started",
        "shadow",
        "shadow",
        "canary_1",
        "aborted",
        "aborted",
    ]
    assert store.state_for_day(D[5]) is None  # the next served materialization is champion only
    events = store.events(rollout.rollout_id)
    assert [(e.decision, e.actor) for e in events] == [
        ("start", "ada"),
        ("promote", "ada"),
        ("pause", "bob"),
        ("resume", "bob"),
        ("abort", "carol"),
    ]
    assert events[-1].reason == "aborted by carol: alerts look odd"
    assert events[-1].metrics["recorded_at"] == "2026-11-27T10:30:00"
    assert registry.get(candidate).status == "candidate"  # an abort leaves the candidate as it was
    with pytest.raises(RolloutStateError, match="no rollout is running; the latest, .* is aborted"):
        controls.promote(store, registry, "ada", last_served=D[5])

    text = controls.format_status(controls.status(store, last_served=D[5]))
    assert f"rollout {rollout.rollout_id}: aborted" in text
    assert "abort    canary_1 -> aborted by carol" in text
    assert "next score day 2026-09-07 is served by stage aborted" in text


def test_actions_by_name_are_the_same_actions(models):
    """controls.act, which the CLI and the Dagster jobs dispatch through, takes each action as its function does."""
    store, registry, _, _ = models
    rollout = controls.act("start", store, registry, "ada", last_served=D[1], plan=PLAN, force=True)
    with pytest.raises(ValueError, match="force only apply to start"):
        controls.act("promote", store, registry, "ada", last_served=D[2], force=True)
    with pytest.raises(ValueError, match="unknown rollout action 'advance'; known: start, promote"):
        controls.act("advance", store, registry, "ada", last_served=D[2])
    controls.act("pause", store, registry, "bob", reason="holiday", last_served=D[2])
    controls.act("resume", store, registry, "bob", last_served=D[2])
    controls.act("promote", store, registry, "ada", last_served=D[2])
    controls.act("abort", store, registry, "carol", reason="odd", last_served=D[3])
    decisions = [(e.decision, e.actor) for e in store.events(rollout.rollout_id)]
    assert decisions == [("start", "ada"), ("pause", "bob"), ("resume", "bob"), ("promote", "ada"), ("abort", "carol")]
    assert store.events(rollout.rollout_id)[1].reason.endswith("holiday")


def test_promoting_past_the_last_stage_makes_the_candidate_champion(models):
    store, registry, champion, candidate = models
    plan = RolloutPlan(stages=(Stage("shadow", 0), Stage("full", 100)), min_days_per_stage=1, min_arm_accounts=1)
    rollout = controls.start(store, registry, "ada", plan=plan, last_served=D[0], force=True)

    controls.promote(store, registry, "ada", last_served=D[1])
    status = controls.status(store, last_served=D[3])
    assert (status.stage_next_day, status.days_in_stage) == ("full", 2)
    controls.promote(store, registry, "ada", last_served=D[3])

    assert store.get(rollout.rollout_id).status == "completed"
    assert registry.champion().version == candidate
    assert registry.get(champion).status == "retired"
    assert store.state_for_day(D[4]) is None  # after completion the (new) champion serves everyone
    assert controls.plan_from_options('{"max_auto_stage": 5}', min_days_per_stage=3) == RolloutPlan(
        min_days_per_stage=3, max_auto_stage=5
    )


# -- the guardrail inputs the evaluation relies on ----------------------------------------------------------------


def test_matured_labels_are_judged_with_the_alerts_of_their_own_score_days():
    from safeguard.rollout import evaluate_guardrails

    day_tiers = np.array(["low"] * 40)  # today's alerts say nothing about the labels of earlier days
    labels = np.array([1.0] * 90 + [0.0] * 810)
    champion_then = np.where(labels == 1, "high", "low")  # the champion flagged every later-enforced account
    candidate_then = np.where(np.arange(900) < 30, "high", "low")  # the candidate a third of them

    report = evaluate_guardrails(
        np.full(40, 0.01),
        np.full(40, 0.01),
        day_tiers,
        day_tiers,
        labels=labels,
        label_tiers=(champion_then, candidate_then),
    )

    recall = report.metric("recall_drop")
    assert (recall.status, recall.value) == ("breach", pytest.approx(30 / 90 - 1))
    assert recall.details["labelled_accounts"] == 900
    assert recall.details["interval"]["high"] < -0.1  # judged: worse beyond the margin at every look
    with pytest.raises(ValueError, match="label_tiers: 900 champion tiers but 2 candidate tiers"):
        evaluate_guardrails([0.1], [0.1], ["low"], ["low"], labels=labels, label_tiers=(champion_then, ["low"] * 2))


def test_feature_drift_is_not_judged_on_a_handful_of_accounts():
    from safeguard.rollout import GuardrailConfig, evaluate_guardrails

    rng = np.random.default_rng(5)
    reference = {"x": rng.normal(size=5000)}
    scores = rng.uniform(0, 0.05, 300)

    def drift(n_arm: int):
        return evaluate_guardrails(
            scores[:n_arm],
            scores[:n_arm],
            ["low"] * n_arm,
            ["low"] * n_arm,
            arm_features={"x": rng.normal(size=n_arm)},
            reference_features=reference,
            config=GuardrailConfig(min_drift_rows=200),
        ).metric("feature_drift")

    small = drift(40)
    assert small.status == "insufficient_data" and small.details["arm_rows"] == 40
    assert drift(300).status == "pass"


def test_evaluating_without_the_marts_names_the_day_and_the_missing_table(warehouse):
    from safeguard.rollout.evaluation import EvaluationError, TrainingFacts, evaluate_metrics

    con, _, _ = warehouse
    facts = TrainingFacts("m-cand", ["feat_00"], date(2026, 7, 1), date(2026, 7, 20), 14)
    with pytest.raises(EvaluationError, match=r"2026-09-02: cannot evaluate rollout rollout-0001-m-cand: .*fct_"):
        evaluate_metrics(con, D[1], state_at(Stage("canary_5", 5)), facts)


def test_status_shows_a_run_of_daily_holds_as_one_line_and_other_decisions_in_full():
    def event(i, decision, stage, to, reason, statuses=None):
        metrics = {"guardrails": {"metrics": [{"name": n, "status": st} for n, st in (statuses or {}).items()]}}
        return EventRecord(
            i,
            "r1",
            datetime(2026, 10, 25 + i, 23, 59),
            D[0] + timedelta(days=i),
            stage,
            to,
            decision,
            "policy",
            reason,
            metrics,
        )

    waiting = {
        "alert_rate_ratio": "pass",
        "alert_agreement": "pass",
        "score_psi": "pass",
        "precision_drop": "insufficient_data",
        "recall_drop": "insufficient_data",
    }
    events = [
        event(0, "start", "not_started", "shadow", "started by ada"),
        event(1, "hold", "shadow", "shadow", "a long reason " * 20, waiting),
        event(2, "hold", "shadow", "shadow", "a long reason " * 20, waiting),
        event(3, "hold", "shadow", "shadow", "a long reason " * 20, {**waiting, "recall_drop": "pass"}),
        event(4, "advance", "shadow", "canary_1", "4 guardrail(s) pass; judged pass: recall_drop=0.01"),
        event(5, "hold", "canary_1", "canary_1", "arm has 3 accounts, fewer than min_arm_accounts=40"),
    ]
    lines = controls.decision_lines(events)
    assert len(lines) == 4
    assert lines[1] == f"{D[1]} .. {D[3]} hold x3 at shadow by policy: waiting for precision_drop"
    assert lines[2].endswith(
        "advance  shadow -> canary_1 by policy on 2026-09-05: 4 guardrail(s) pass; judged pass: recall_drop=0.01"
    )
    assert lines[3].endswith("by policy on 2026-09-06: arm has 3 accounts, fewer than min_arm_accounts=40")
