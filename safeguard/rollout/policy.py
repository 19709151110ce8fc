"""Rollout decisions: the daily automatic decision, the manual actions, and the stage in effect for a day (§3.4).

Everything here is pure: the caller reads the rollout's state and audit log, calls these functions, and writes the
returned ``Decision`` as a ``rollout_events`` row (``Decision.event(time)``).

Shadow: the candidate is scored but never served. Both models score every account every day, so the guardrails that
decide whether shadow may advance are computed over ALL scored accounts (``arm_accounts`` = accounts scored), not a
would-be 1% arm: more accounts, the same comparison.

Order of the automatic decision:
1. any guardrail breach: roll back at once, even when paused (pause freezes progress, not the safety net) and
   whatever the arm's size: a breach is judged on an interval that already accounts for how much evidence there
   is (or, for the score PSI, on its own minimum of accounts);
2. fewer arm accounts than ``plan.min_arm_accounts``: hold;
3. otherwise hold when paused, when the stage is younger than ``plan.min_days_per_stage``, when the next stage
   is beyond ``plan.max_auto_stage`` (a named person promotes) or at the last stage;
4. hold unless the evidence was judged (:func:`evidence_holds`): every comparison guardrail (alert-rate ratio,
   alert agreement, score PSI) passed, at least ``plan.min_outcome_guardrails`` outcome guardrail(s) (precision,
   recall on matured labels) passed, and nothing warns about the candidate. ``insufficient_data`` holds, and the
   reason says what is missing (the metric's note: for example "7 of 20 labelled positives").
5. otherwise advance to the next stage, naming the guardrails that passed.
Feature drift is shared by both models (it describes the traffic; some features drift by construction, an
account's age grows with the calendar): it is reported in the reasons and never holds nor advances a rollout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from safeguard.dates import as_date
from safeguard.rollout.guardrails import (
    COMPARISON_GUARDRAILS,
    OUTCOME_GUARDRAILS,
    SHARED_GUARDRAILS,
    GuardrailReport,
)
from safeguard.rollout.plan import ABORTED, COMPLETED, NOT_STARTED, ROLLED_BACK, RolloutPlan, Stage

Action = Literal["start", "advance", "hold", "rollback", "promote", "abort", "pause", "resume"]


@dataclass(frozen=True)
class RolloutEvent:
    """One row of the audit log, as far as the stage in effect needs it. ``time`` is UTC (naive means UTC)."""

    time: datetime
    from_stage: str
    to_stage: str
    action: Action
    actor: str | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    action: Action
    from_stage: str
    to_stage: str
    reasons: list[str]
    actor: str | None = None  # None: decided by automation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def event(self, at: datetime) -> RolloutEvent:
        """The audit-log row recording this decision at time ``at``."""
        return RolloutEvent(at, self.from_stage, self.to_stage, self.action, self.actor, tuple(self.reasons))


def _active_stage(plan: RolloutPlan, current_stage: str) -> Stage:
    stage = plan.stage(current_stage)
    if stage.is_terminal:
        raise ValueError(f"the rollout has ended ({current_stage}); no further decisions apply")
    return stage


def _require_actor(actor: str | None, action: str) -> str:
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError(f"{action} needs a named actor (the person taking the action), got {actor!r}")
    return actor.strip()


def decide(
    plan: RolloutPlan,
    current_stage: str,
    days_in_stage: int,
    arm_accounts: int,
    report: GuardrailReport,
    *,
    paused: bool,
) -> Decision:
    """The automatic daily decision for a rollout at ``current_stage`` (see the module docstring for the order)."""
    stage = _active_stage(plan, current_stage)
    if days_in_stage < 0 or arm_accounts < 0:
        raise ValueError(f"days_in_stage ({days_in_stage}) and arm_accounts ({arm_accounts}) must be >= 0")
    breaches = [f"guardrail breach: {m.describe()}" for m in report.with_status("breach")]
    if breaches:  # judged on intervals that account for the evidence's size: act at once, whatever the arm
        return Decision("rollback", stage.name, ROLLED_BACK.name, breaches)
    if arm_accounts < plan.min_arm_accounts:
        untrusted = (
            f"arm has {arm_accounts} accounts, fewer than min_arm_accounts={plan.min_arm_accounts}; "
            "waiting for a larger arm"
        )
        return Decision("hold", stage.name, stage.name, [untrusted])

    holds = ["paused by an operator"] if paused else []
    if days_in_stage < plan.min_days_per_stage:
        holds.append(f"{days_in_stage} day(s) in stage, fewer than min_days_per_stage={plan.min_days_per_stage}")
    target = plan.next_stage(stage.name)
    if target is None:
        holds.append("at the last stage; a named person promotes to complete the rollout")
    elif target.percent > plan.max_auto_stage:
        holds.append(f"awaiting manual promotion beyond {plan.max_auto_stage}%")
    holds += evidence_holds(plan, report)
    notes = [
        f"shared by both models (reported, never decides): {m.describe()}"
        for m in report.metrics
        if m.name in SHARED_GUARDRAILS and m.status != "pass"
    ]
    if holds:
        return Decision("hold", stage.name, stage.name, holds + notes)
    judged = [f"judged pass: {m.describe()}" for m in report.with_status("pass") if m.name not in SHARED_GUARDRAILS]
    passed = [
        f"{len(judged)} guardrail(s) pass over {arm_accounts} accounts",
        f"{days_in_stage} day(s) in stage",
    ]
    return Decision("advance", stage.name, target.name, passed + judged + notes)


def waiting_for(statuses: Mapping[str, str]) -> list[str]:
    """The guardrails that decide (comparisons, then outcomes) and have not passed, by name, from
    ``{name: status}``: what a held stage waits for, in a line a person reads. Shared guardrails never decide."""
    return [name for name in (*COMPARISON_GUARDRAILS, *OUTCOME_GUARDRAILS) if statuses.get(name) != "pass"]


def evidence_holds(plan: RolloutPlan, report: GuardrailReport) -> list[str]:
    """Why the evidence does not let the rollout advance yet (empty: it does).

    Every comparison guardrail must have passed, at least ``plan.min_outcome_guardrails`` outcome guardrails must
    have passed, and no guardrail about the candidate may warn. Shared (traffic) guardrails never count.
    """
    present = {m.name: m for m in report.metrics}
    holds = [f"waiting for {name}: not in the report" for name in COMPARISON_GUARDRAILS if name not in present]
    holds += [
        f"waiting for {present[name].describe()}"
        for name in COMPARISON_GUARDRAILS
        if name in present and present[name].status != "pass"
    ]
    holds += [
        f"candidate warning: {m.describe()}" for m in report.with_status("warn") if m.name not in SHARED_GUARDRAILS
    ]
    outcomes = [present[name] for name in OUTCOME_GUARDRAILS if name in present]
    passed = [m for m in outcomes if m.status == "pass"]
    if len(passed) < plan.min_outcome_guardrails:
        pending = "; ".join(m.describe() for m in outcomes if m.status != "pass") or "no outcome guardrail computed"
        holds.append(
            f"{len(passed)} of {plan.min_outcome_guardrails} outcome guardrail(s) judged on matured labels: {pending}"
        )
    return holds


def start(plan: RolloutPlan, actor: str) -> Decision:
    """Start a rollout in shadow: the candidate is scored for everyone and served to nobody."""
    actor = _require_actor(actor, "start")
    return Decision("start", NOT_STARTED.name, plan.stages[0].name, [f"started by {actor}"], actor)


def promote(plan: RolloutPlan, current_stage: str, actor: str) -> Decision:
    """A named person moves the rollout one stage on (past ``max_auto_stage`` too); at the last stage it completes."""
    actor = _require_actor(actor, "promote")
    stage = _active_stage(plan, current_stage)
    target = plan.next_stage(stage.name) or COMPLETED
    return Decision("promote", stage.name, target.name, [f"promoted by {actor}"], actor)


def abort(current_stage: str, actor: str, reason: str) -> Decision:
    """Take the candidate out of traffic at once (available at every stage)."""
    actor = _require_actor(actor, "abort")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"abort needs a reason for the audit log, got {reason!r}")
    _not_ended(current_stage)
    return Decision("abort", current_stage, ABORTED.name, [f"aborted by {actor}: {reason.strip()}"], actor)


def pause(current_stage: str, actor: str, reason: str | None = None) -> Decision:
    """Freeze automatic advancing at the current stage; traffic and guardrail rollbacks continue."""
    actor = _require_actor(actor, "pause")
    _not_ended(current_stage)
    detail = f": {reason.strip()}" if reason and reason.strip() else ""
    return Decision("pause", current_stage, current_stage, [f"paused by {actor}{detail}"], actor)


def resume(current_stage: str, actor: str) -> Decision:
    """Let automation decide again from the current stage."""
    actor = _require_actor(actor, "resume")
    _not_ended(current_stage)
    return Decision("resume", current_stage, current_stage, [f"resumed by {actor}"], actor)


def _not_ended(current_stage: str) -> None:
    if current_stage in (ROLLED_BACK.name, ABORTED.name, COMPLETED.name, NOT_STARTED.name):
        raise ValueError(f"the rollout is not running ({current_stage}); nothing to act on")


def _utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _event_fields(event: RolloutEvent | Mapping[str, Any]) -> tuple[datetime, str]:
    if isinstance(event, Mapping):
        try:
            return event["time"], event["to_stage"]
        except KeyError as exc:
            raise ValueError(f"rollout event {dict(event)!r} lacks {exc.args[0]!r}") from None
    return event.time, event.to_stage


def stage_in_effect(events: Iterable[RolloutEvent | Mapping[str, Any]], day: date | str, *, plan: RolloutPlan) -> Stage:
    """The stage that serves score day ``day``: the one set by the last event strictly before 00:00 UTC of ``day``.

    Events on ``day`` itself take effect the next day, so re-materializing a day later gives the same assignment.
    Events are RolloutEvent rows or mappings with ``time`` (datetime, naive = UTC) and ``to_stage``; events at the
    same time keep their given order. Before the first event: ``NOT_STARTED`` (0%).
    """
    cutoff = datetime.combine(as_date(day), time.min)
    current = NOT_STARTED
    latest: datetime | None = None
    for event in events:
        moment, to_stage = _event_fields(event)
        if not isinstance(moment, datetime):
            raise TypeError(f"rollout event time must be a datetime, got {moment!r} (to_stage={to_stage!r})")
        moment = _utc_naive(moment)
        if moment < cutoff and (latest is None or moment >= latest):
            latest, current = moment, plan.stage(to_stage)
    return current
