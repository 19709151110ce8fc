"""The operator's rollout actions: start, promote, pause, resume, abort, status.

One implementation for both front ends: the ``safeguard rollout`` command line and the Dagster jobs call these
functions. Each action is a :mod:`safeguard.rollout.policy` decision recorded by :class:`RolloutStore`.

When an action takes effect: from the first score day not served yet. Its ``event_time`` is the end of the last
served day (``last_served``, from ``scoring.served_risk_scores``), so the next served materialization already
follows it (an abort reaches the very next run, even one for yesterday's partition) and no day that was served
changes; before anything was served, it is the time of the action.

Registry: completing a rollout (promote at the last stage) makes the candidate the champion and retires the old
champion. An abort leaves the candidate ``candidate`` (the reason may be operational; a new rollout may follow);
an automatic rollback rejects it (:mod:`safeguard.rollout.evaluation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from safeguard.registry import ModelRegistry
from safeguard.rollout import policy
from safeguard.rollout.backtest import PASS, backtest_verdict
from safeguard.rollout.backtest_store import StoredBacktest, latest_backtest
from safeguard.rollout.guardrails import OUTCOME_GUARDRAILS
from safeguard.rollout.plan import COMPLETED, RolloutPlan
from safeguard.rollout.state import (
    EventRecord,
    Rollout,
    RolloutStateError,
    RolloutStore,
    end_of_day,
    first_day_after,
    naive_utc,
)
from safeguard.vocabulary import CANDIDATE, CHAMPION, utcnow


def action_time(last_served: date | None, now: datetime | None = None) -> datetime:
    """The ``event_time`` of a manual action: the end of the last served day, or now when nothing was served."""
    return end_of_day(last_served) if last_served else naive_utc(now or utcnow())


def _running(store: RolloutStore) -> Rollout:
    rollout = store.current()
    if rollout is None:
        latest = store.latest()
        ended = f"; the latest, {latest.rollout_id}, is {latest.status}" if latest else ""
        raise RolloutStateError(f"no rollout is running{ended}. Start one with `safeguard rollout start`")
    return rollout


def _recorded(action: str, actor: str, now: datetime | None) -> dict[str, Any]:
    return {
        "action": action,
        "actor": actor,
        "recorded_at": naive_utc(now or utcnow()).isoformat(timespec="seconds"),
    }


def plan_from_options(
    plan_json: str | None = None,
    *,
    min_days_per_stage: int | None = None,
    min_arm_accounts: int | None = None,
    max_auto_stage: int | None = None,
) -> RolloutPlan:
    """A plan from a JSON document (``RolloutPlan.to_dict`` form, any subset of fields; default: the default plan)
    with the most common fields overridden."""
    base = RolloutPlan.from_json(plan_json).to_dict() if plan_json else RolloutPlan().to_dict()
    overrides = {
        "min_days_per_stage": min_days_per_stage,
        "min_arm_accounts": min_arm_accounts,
        "max_auto_stage": max_auto_stage,
    }
    return RolloutPlan.from_dict({**base, **{k: v for k, v in overrides.items() if v is not None}})


def backtest_check(
    store: RolloutStore, candidate_version: str, champion_version: str, plan: RolloutPlan
) -> dict[str, Any]:
    """The latest backtest of the candidate against the champion, re-judged under ``plan.backtest``:
    ``{backtest_id, verdict, reasons}`` (``backtest_id`` None when there is none: verdict insufficient_data)."""
    stored = latest_backtest(store.engine, candidate_version, champion_version)
    verdict, reasons = backtest_verdict(stored.summary if stored else None, plan.backtest)
    return {
        "backtest_id": stored.backtest_id if stored else None,
        "days": f"{stored.first_day} .. {stored.last_day}" if stored else None,
        "verdict": verdict,
        "reasons": reasons,
    }


def start(
    store: RolloutStore,
    registry: ModelRegistry,
    actor: str,
    *,
    candidate_version: str | None = None,
    plan: RolloutPlan | None = None,
    last_served: date | None = None,
    now: datetime | None = None,
    force: bool = False,
) -> Rollout:
    """Start rolling out ``candidate_version`` (default: the registry's only candidate) against the champion, in
    shadow, under ``plan`` (default: the default plan).

    Refused unless the candidate's latest backtest against the current champion passes under
    ``plan.backtest`` (when the rule is ``required``); ``force`` overrides, and the override (verdict and reasons)
    is written into the start event's reason and metrics, with the actor.
    """
    plan = plan or RolloutPlan()
    decision = policy.start(plan, actor)
    champion = registry.champion()
    if champion is None:
        raise RolloutStateError("the registry has no champion; a rollout needs one to compare against")
    candidates = [m.version for m in registry.candidates()]
    if candidate_version is None:
        if len(candidates) != 1:
            raise RolloutStateError(
                f"the registry has {len(candidates)} candidate(s) {candidates}; name one with --candidate"
            )
        candidate_version = candidates[0]
    elif candidate_version not in candidates:
        status = registry.get(candidate_version).status
        raise RolloutStateError(f"model {candidate_version} is {status}, not a candidate; only candidates roll out")
    check = backtest_check(store, candidate_version, champion.version, plan)
    if check["verdict"] != PASS and plan.backtest.required:
        if not force:
            what = "has no backtest" if check["backtest_id"] is None else f"backtest {check['backtest_id']}"
            raise RolloutStateError(
                f"candidate {candidate_version} {what} against champion {champion.version}: "
                f"{check['verdict']}: {'; '.join(check['reasons'])}. Run `safeguard rollout backtest --candidate "
                f"{candidate_version}` (or the rollout_backtest asset), or override with --force --actor NAME"
            )
        decision = replace(
            decision,
            reasons=[
                *decision.reasons,
                f"backtest check overridden by {decision.actor} (--force): {check['verdict']}: "
                + "; ".join(check["reasons"]),
            ],
        )
    metrics = {**_recorded("start", decision.actor, now), "backtest": {**check, "forced": bool(force)}}
    return store.create(
        champion.version,
        candidate_version,
        plan,
        decision,
        action_time(last_served, now),
        metrics=metrics,
    )


def promote(
    store: RolloutStore,
    registry: ModelRegistry,
    actor: str,
    *,
    last_served: date | None = None,
    now: datetime | None = None,
) -> EventRecord:
    """Move the running rollout one stage on (past ``max_auto_stage`` too); at the last stage, complete it: the
    candidate becomes the champion."""
    rollout = _running(store)
    decision = policy.promote(rollout.plan, rollout.current_stage, actor)
    if decision.to_stage == COMPLETED.name:
        status = registry.get(rollout.candidate_version).status
        if status != CANDIDATE:
            raise RolloutStateError(
                f"rollout {rollout.rollout_id}: model {rollout.candidate_version} is {status}, not candidate; "
                "it cannot become champion"
            )
    event = store.append(
        rollout.rollout_id, decision, action_time(last_served, now), metrics=_recorded("promote", actor, now)
    )
    if decision.to_stage == COMPLETED.name:
        registry.set_status(rollout.candidate_version, CHAMPION)  # retires the old champion in the same transaction
    return event


def pause(
    store: RolloutStore,
    actor: str,
    reason: str | None = None,
    *,
    last_served: date | None = None,
    now: datetime | None = None,
) -> EventRecord:
    """Freeze automatic advancing; traffic stays as it is and a guardrail breach still rolls back."""
    rollout = _running(store)
    if rollout.paused:
        raise RolloutStateError(f"rollout {rollout.rollout_id} is paused already")
    decision = policy.pause(rollout.current_stage, actor, reason)
    return store.append(
        rollout.rollout_id, decision, action_time(last_served, now), metrics=_recorded("pause", actor, now)
    )


def resume(
    store: RolloutStore, actor: str, *, last_served: date | None = None, now: datetime | None = None
) -> EventRecord:
    """Let the daily evaluation advance the rollout again."""
    rollout = _running(store)
    if not rollout.paused:
        raise RolloutStateError(f"rollout {rollout.rollout_id} is not paused")
    decision = policy.resume(rollout.current_stage, actor)
    return store.append(
        rollout.rollout_id, decision, action_time(last_served, now), metrics=_recorded("resume", actor, now)
    )


def abort(
    store: RolloutStore,
    actor: str,
    reason: str,
    *,
    last_served: date | None = None,
    now: datetime | None = None,
) -> EventRecord:
    """Take the candidate out of traffic from the next served day on; the candidate stays ``candidate``."""
    rollout = _running(store)
    decision = policy.abort(rollout.current_stage, actor, reason)
    return store.append(
        rollout.rollout_id, decision, action_time(last_served, now), metrics=_recorded("abort", actor, now)
    )


# The operator's actions by name: the ``safeguard rollout`` command and the Dagster jobs both dispatch here.
ACTIONS = ("start", "promote", "pause", "resume", "abort")


def act(
    action: str,
    store: RolloutStore,
    registry: ModelRegistry,
    actor: str,
    *,
    reason: str | None = None,
    last_served: date | None = None,
    **start_options,
):
    """Take the operator's ``action`` on the rollout: ``start`` (with ``start_options``: candidate_version, plan,
    force), ``promote``, ``pause`` (optional ``reason``), ``resume`` or ``abort`` (``reason`` required)."""
    if action == "start":
        return start(store, registry, actor, last_served=last_served, **start_options)
    if start_options:
        raise ValueError(f"rollout {action}: {', '.join(sorted(start_options))} only apply to start")
    if action == "promote":
        return promote(store, registry, actor, last_served=last_served)
    if action == "pause":
        return pause(store, actor, reason, last_served=last_served)
    if action == "resume":
        return resume(store, actor, last_served=last_served)
    if action == "abort":
        return abort(store, actor, reason, last_served=last_served)
    raise ValueError(f"unknown rollout action {action!r}; known: {', '.join(ACTIONS)}")


@dataclass
class RolloutStatus:
    """What ``safeguard rollout status`` shows."""

    rollout: Rollout | None
    next_day: date  # the first score day not served yet
    stage_next_day: str | None  # the stage that serves it
    days_in_stage: int  # score days served in the current stage
    guardrails: Mapping[str, Any] | None  # the latest automatic evaluation's report
    guardrails_day: date | None
    recent: list[EventRecord] = field(default_factory=list)  # the last decisions, newest last
    evaluation: Mapping[str, Any] = field(default_factory=dict)  # the latest evaluation's metrics (arm, labels)
    next_decision_day: date | None = None  # the first score day whose evaluation could advance the rollout
    backtest: StoredBacktest | None = None  # the candidate's latest offline backtest against this champion


def next_decision_day(
    rollout: Rollout, next_day: date, guardrails: Mapping[str, Any] | None, evaluation: Mapping[str, Any]
) -> date | None:
    """The first score day whose evaluation may advance the rollout: not before the next day served, the stage's
    ``min_days_per_stage``, nor, while no outcome guardrail has passed, the next day more labels mature. None when
    no automatic advance is possible (ended, paused, or the next stage is beyond ``max_auto_stage``)."""
    if not rollout.is_running or rollout.paused or rollout.stage_started_on is None:
        return None
    target = rollout.plan.next_stage(rollout.current_stage)
    if target is None or target.percent > rollout.plan.max_auto_stage:
        return None
    day = max(next_day, rollout.stage_started_on + timedelta(days=rollout.plan.min_days_per_stage - 1))
    outcomes = [m for m in (guardrails or {}).get("metrics", []) if m["name"] in OUTCOME_GUARDRAILS]
    maturity = evaluation.get("next_label_maturity")
    if maturity and not any(m["status"] == "pass" for m in outcomes):
        day = max(day, date.fromisoformat(maturity))
    return day


def status(
    store: RolloutStore, *, last_served: date | None = None, now: datetime | None = None, recent: int = 30
) -> RolloutStatus:
    """The running rollout (else the latest one) with its stage, days in stage, guardrails and last decisions."""
    rollout = store.current() or store.latest()
    next_day = last_served + timedelta(days=1) if last_served else first_day_after(naive_utc(now or utcnow()))
    if rollout is None:
        return RolloutStatus(None, next_day, None, 0, None, None)
    events = store.events(rollout.rollout_id)
    evaluated = [e for e in events if e.score_date is not None and e.metrics]
    started = rollout.stage_started_on
    guardrails = evaluated[-1].metrics.get("guardrails") if evaluated else None
    evaluation = evaluated[-1].metrics if evaluated else {}
    return RolloutStatus(
        rollout=rollout,
        next_day=next_day,
        stage_next_day=store.stage_in_effect(rollout.rollout_id, next_day).name,
        days_in_stage=max(0, (next_day - started).days) if started else 0,
        guardrails=guardrails,
        guardrails_day=evaluated[-1].score_date if evaluated else None,
        recent=events[-recent:],
        evaluation=evaluation,
        next_decision_day=next_decision_day(rollout, next_day, guardrails, evaluation),
        backtest=latest_backtest(store.engine, rollout.candidate_version, rollout.champion_version),
    )


def interval_text(interval: Mapping[str, Any] | None) -> str:
    """A guardrail's stored interval as ``[low, high] n=rows`` (``-`` when it has none)."""
    if not interval or not interval.get("n"):
        return "-"

    def bound(x: float | None, infinite: str) -> str:
        return infinite if x is None else f"{x:.3g}"

    return f"[{bound(interval['low'], '-inf')}, {bound(interval['high'], 'inf')}] n={interval['n']}"


def _backtest_line(backtest: StoredBacktest | None) -> str:
    if backtest is None:
        return "  backtest: none against this champion (the start was forced)"
    reasons = backtest.summary.get("reasons") or []
    why = f": {reasons[0]}" if reasons else ""
    return (
        f"  backtest #{backtest.backtest_id} ({backtest.first_day}..{backtest.last_day}, {backtest.judged_days} "
        f"judged day(s)): {backtest.verdict}{why}"
    )


def format_status(s: RolloutStatus) -> str:
    """The status as text for a terminal."""
    if s.rollout is None:
        return "no rollout has been started; every account is served the champion"
    r = s.rollout
    plan = " -> ".join(f"{st.name} ({st.percent}%)" for st in r.plan.stages)
    test = r.plan.guardrails.sequential
    lines = [
        f"rollout {r.rollout_id}: {r.status}",
        f"  candidate {r.candidate_version} vs champion {r.champion_version}; started by {r.created_by}",
        (
            f"  plan: {plan}; min {r.plan.min_days_per_stage} day(s) and {r.plan.min_arm_accounts} arm accounts "
            f"per stage; automatic up to {r.plan.max_auto_stage}%; advances need "
            f"{r.plan.min_outcome_guardrails} outcome guardrail(s) judged; intervals: always-valid at "
            f"alpha={test.alpha} (confidence sequences, safe to check daily)"
        ),
        _backtest_line(s.backtest),
        f"  stage: {r.current_stage} since {r.stage_started_on}, {s.days_in_stage} day(s) served in it",
        f"  next score day {s.next_day} is served by stage {s.stage_next_day}",
    ]
    if s.guardrails:
        e = s.evaluation
        lines.append(
            f"  evidence on {s.guardrails_day} (stage {e.get('stage_in_effect')}, pooled since the stage began): "
            f"{e.get('arm_accounts')} arm accounts, {e.get('pooled_rows', s.guardrails['n_accounts'])} "
            f"account-days, {e.get('labelled_rows')} matured labels"
        )
        lines.append(f"    {'guardrail':<17} {'verdict':<18} {'value':<9} {'interval':<26} {'bound':<12} waits for")
        for m in s.guardrails["metrics"]:
            value = "n/a" if m["value"] is None else f"{m['value']:.4g}"
            waits = m.get("details", {}).get("note", "") if m["status"] == "insufficient_data" else ""
            lines.append(
                f"    {m['name']:<17} {m['status']:<18} {value:<9} {interval_text(m.get('details', {}).get('interval')):<26} "
                f"{m['threshold']!s:<12} {waits}"
            )
        if e.get("new_alerts"):
            lines.append(f"  new alerts on {s.guardrails_day} (candidate alerts, champion does not), riskiest first:")
            for alert in e["new_alerts"][:5]:
                reasons = "; ".join(str(x) for x in alert.get("reasons") or []) or "no reasons recorded"
                lines.append(
                    f"    {alert['account_id']}: candidate {alert['candidate']}, champion {alert['champion']}: {reasons}"
                )
    else:
        lines.append("  guardrails: not evaluated yet")
    if s.next_decision_day:
        lines.append(f"  next possible automatic advance: the evaluation of score day {s.next_decision_day}")
    elif r.is_running:
        lines.append("  no automatic advance possible: paused, or a named person promotes the next stage")
    lines.append(
        "  last decisions (consecutive holds as one line; every reason in full: the audit log, rollout_events):"
    )
    lines += [f"    {line}" for line in decision_lines(s.recent)]
    return "\n".join(lines)


def _held_for(event: EventRecord) -> list[str]:
    metrics = ((event.metrics or {}).get("guardrails") or {}).get("metrics") or []
    return policy.waiting_for({m["name"]: m["status"] for m in metrics})


def decision_lines(events: list[EventRecord]) -> list[str]:
    """The decisions, oldest first, one line each, but a run of daily holds at one stage is one line: its days,
    how many, and what the last of them waited for. Every other decision keeps its whole reason."""
    lines: list[str] = []
    i = 0
    while i < len(events):
        e = events[i]
        j = i
        while (
            e.decision == "hold"
            and j + 1 < len(events)
            and events[j + 1].decision == "hold"
            and events[j + 1].from_stage == e.from_stage
        ):
            j += 1
        if j > i:
            last = events[j]
            waits = _held_for(last)
            why = f"waiting for {', '.join(waits)}" if waits else (last.reason or "")
            lines.append(
                f"{e.score_date} .. {last.score_date} hold x{j - i + 1} at {e.from_stage} by {last.actor}: {why}"
            )
        else:
            day = f" on {e.score_date}" if e.score_date else ""
            lines.append(
                f"{e.event_time:%Y-%m-%d %H:%M} {e.decision:<8} {e.from_stage} -> {e.to_stage} by {e.actor}{day}: "
                f"{e.reason}"
            )
        i = j + 1
    return lines
