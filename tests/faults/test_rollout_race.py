"""An operator's abort races the daily automatic decision on one rollout; the abort is never lost (issue 16 §5).

Two actors on two engines, as two processes would be: the operator's ``controls.abort`` and the daily decision
as :func:`safeguard.rollout.evaluation.evaluate_day` writes it (read the rollout, ``policy.decide`` on a real
guardrail report, ``RolloutStore.append`` on the version it read, re-read and re-decide when refused as stale).
Both start together at a barrier, and every statement either sends waits a random 0-10 milliseconds first (a slow
database, injected at the driver level), so the two interleave at every point across the iterations. Real
PostgreSQL and real SQLite, both migrated by Alembic.

After each race: an accepted abort leaves the rollout ``aborted``, the abort the last event of its log, and no
rollout live on the next day (the champion serves everyone); a refused abort says why and names the rollout.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from safeguard.rollout import RolloutPlan, controls, policy
from safeguard.rollout.guardrails import GuardrailMetric, GuardrailReport
from safeguard.rollout.state import RolloutStateError, RolloutStore, StaleRolloutError, end_of_day
from safeguard.serving.db import alembic_config, engine_for, upgrade
from safeguard.serving.schema import rollouts
from tests.pg_scratch import scratch_database
from tests.unit.test_rollout_state import registered_models

ITERATIONS = 50
FIRST_DAY = date(2026, 9, 1)
PLAN = RolloutPlan(min_days_per_stage=1, min_arm_accounts=20)
# Every guardrail the policy judges passes: the daily decision advances (shadow -> canary_1).
PASSING = GuardrailReport(
    500,
    tuple(
        GuardrailMetric(name, "pass", 0.0, 0.1)
        for name in ("alert_rate_ratio", "alert_agreement", "score_psi", "precision_drop", "recall_drop")
    ),
)
WAITING = GuardrailReport(500, ())  # nothing judged yet: the daily decision holds


@pytest.fixture(params=["sqlite", "postgresql"])
def serving_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'serving.db'}"
        return
    with scratch_database(request.getfixturevalue("postgres_url"), "rollout_race") as scratch:
        yield scratch.url.render_as_string(hide_password=False)


def slow_database(engine: sa.Engine, rng: random.Random) -> None:
    """Each statement on ``engine`` waits 0-10 ms before it is sent."""

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _jitter(*_):
        time.sleep(rng.uniform(0, 0.010))


def daily_decision(store: RolloutStore, rollout_id: str, day: date, report: GuardrailReport):
    """The automatic decision of score day ``day`` written as evaluate_day writes it; the event, or None."""
    for _ in range(4):
        rollout = store.get(rollout_id)
        if not rollout.is_running:
            return None  # evaluate_day: "rollout ... is aborted; metrics only"
        decision = policy.decide(PLAN, rollout.current_stage, 2, 500, report, paused=rollout.paused)
        try:
            return store.append(rollout_id, decision, end_of_day(day), score_date=day, expected_version=rollout.version)
        except StaleRolloutError:
            continue
    raise AssertionError(f"the daily decision of {day} was refused four times in a row")


def test_an_abort_racing_the_daily_decision_wins_or_is_refused_and_is_never_lost(serving_url, tmp_path):
    registry, champion, candidate = registered_models(serving_url, str(tmp_path / "models"))
    registry.engine.dispose()
    operator_engine, policy_engine = engine_for(serving_url), engine_for(serving_url)
    rng = random.Random(16)
    slow_database(operator_engine, random.Random(rng.random()))
    slow_database(policy_engine, random.Random(rng.random()))
    operator, automatic = RolloutStore(operator_engine), RolloutStore(policy_engine)
    outcomes = {"abort first": 0, "decision first, abort after": 0, "abort refused": 0}
    try:
        for i in range(ITERATIONS):
            day = FIRST_DAY + timedelta(days=2 * i + 1)
            rollout = operator.create(
                champion, candidate, PLAN, policy.start(PLAN, "ada"), end_of_day(day - timedelta(days=1))
            )
            report = PASSING if i % 2 == 0 else WAITING
            barrier = threading.Barrier(2)
            results: dict[str, object] = {}

            def run(name, action, *, barrier, results):
                barrier.wait()
                try:
                    results[name] = action()
                except RolloutStateError as refused:
                    results[name] = refused

            def abort_now(i=i, day=day):
                return controls.abort(operator, "ada", f"race {i}", last_served=day)

            def decide_now(rollout_id=rollout.rollout_id, day=day, report=report):
                return daily_decision(automatic, rollout_id, day, report)

            threads = [threading.Thread(target=run, args=(name, action), kwargs={"barrier": barrier, "results": results})
                       for name, action in (("abort", abort_now), ("daily", decide_now))]  # fmt: skip
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            assert not any(t.is_alive() for t in threads), f"iteration {i}: a writer hangs"

            abort, daily = results["abort"], results["daily"]
            assert not isinstance(daily, Exception), f"iteration {i}: the daily decision failed: {daily}"
            events = operator.events(rollout.rollout_id)
            after = operator.get(rollout.rollout_id)
            if isinstance(abort, Exception):
                assert isinstance(abort, StaleRolloutError), f"iteration {i}: {abort!r}"
                assert rollout.rollout_id in str(abort) and "abort refused" in str(abort)
                assert daily is not None and daily.decision == "advance", (i, abort, daily)
                assert after.status == "active" and after.current_stage == daily.to_stage
                outcomes["abort refused"] += 1
                controls.abort(operator, "ada", "the refused abort, again on the new state", last_served=day)
                assert operator.get(rollout.rollout_id).status == "aborted"
            else:
                assert (after.status, after.current_stage) == ("aborted", "aborted"), (i, after, daily)
                assert events[-1].decision == "abort", (i, [e.decision for e in events])
                assert [e.decision for e in events].count("abort") == 1
                if daily is None:
                    outcomes["abort first"] += 1
                else:
                    assert daily.decision == "hold" and daily.event_id < abort.event_id, (i, daily, abort)
                    outcomes["decision first, abort after"] += 1
            assert operator.state_for_day(day + timedelta(days=1)) is None, f"iteration {i}: the candidate serves"
            final = operator.events(rollout.rollout_id)
            assert operator.get(rollout.rollout_id).version == len(final) - 1  # each event after the start bumps it
        print(f"{ITERATIONS} races on {operator_engine.dialect.name}: {outcomes}")
        assert sum(outcomes.values()) == ITERATIONS
    finally:
        operator_engine.dispose()
        policy_engine.dispose()


def test_the_version_column_reaches_an_existing_database_and_a_stale_version_is_refused(serving_url, tmp_path):
    registry, champion, candidate = registered_models(serving_url, str(tmp_path / "models"))
    engine = registry.engine
    try:
        store = RolloutStore(engine)
        rollout = store.create(champion, candidate, PLAN, policy.start(PLAN, "ada"), end_of_day(FIRST_DAY))
        with engine.begin() as conn:  # back to a database from before the column, with a rollout in it
            command.downgrade(alembic_config(conn), "0004")
        with engine.connect() as conn:
            assert "version" not in {c["name"] for c in sa.inspect(conn).get_columns("rollouts")}
        upgrade(engine)
        assert store.get(rollout.rollout_id).version == 0

        day = FIRST_DAY + timedelta(days=2)
        store.append(rollout.rollout_id, policy.pause("shadow", "bob", "a look"), end_of_day(day), expected_version=0)
        advance = policy.decide(PLAN, "shadow", 2, 500, PASSING, paused=False)  # decided before the pause was seen
        with pytest.raises(StaleRolloutError) as refused:
            store.append(rollout.rollout_id, advance, end_of_day(day), score_date=day, expected_version=0)
        assert str(refused.value).startswith(f"rollout {rollout.rollout_id} changed since it was read (version 0 -> 1")
        assert "last event pause shadow -> shadow by bob" in str(refused.value)
        with engine.connect() as conn:
            assert conn.execute(sa.select(rollouts.c.status, rollouts.c.version)).one() == ("paused", 1)
        assert [e.decision for e in store.events(rollout.rollout_id)] == ["start", "pause"]
    finally:
        engine.dispose()
