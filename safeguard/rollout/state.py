"""Rollout state in the serving database: the ``rollouts`` rows and their audit log ``rollout_events`` (§3.4).

The tables belong to :mod:`safeguard.serving.schema`; this module is the only writer. Everything that decides
lives in :mod:`safeguard.rollout.policy` (pure); this module stores its decisions and reads the stage in effect
for a score day back from the log, so re-materializing a day gives the same assignment.

Time: an event's ``event_time`` (naive UTC) is when its stage starts to count: the stage applies to score days
that begin after it (:func:`safeguard.rollout.policy.stage_in_effect`). The log is kept in time order: an event is
never recorded before the previous one of its rollout (:meth:`RolloutStore.append` moves it up to that time).

Rollout status follows the events: ``active`` from start, ``paused`` / ``active`` on pause / resume, and on the
terminal stages ``rolled_back``, ``aborted`` or ``completed``. At most one rollout runs (active or paused) at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from safeguard.dates import as_date
from safeguard.jsonable import json_safe as _json_safe
from safeguard.rollout.plan import ABORTED, COMPLETED, NOT_STARTED, ROLLED_BACK, SHADOW, RolloutPlan, Stage
from safeguard.rollout.policy import Decision, RolloutEvent, stage_in_effect
from safeguard.serving.state_tables import rollout_events, rollouts
from safeguard.vocabulary import ABORTED as ABORTED_STATUS
from safeguard.vocabulary import ACTIVE, PAUSED, utcnow
from safeguard.vocabulary import COMPLETED as COMPLETED_STATUS
from safeguard.vocabulary import ROLLED_BACK as ROLLED_BACK_STATUS

POLICY_ACTOR = "policy"  # the actor of automatic decisions
RUNNING_STATUSES = (ACTIVE, PAUSED)
TERMINAL_STATUS = {
    ROLLED_BACK.name: ROLLED_BACK_STATUS,
    ABORTED.name: ABORTED_STATUS,
    COMPLETED.name: COMPLETED_STATUS,
}


class RolloutStateError(RuntimeError):
    """A rollout operation is not allowed in the current state; the message says which rollout and why."""


class StaleRolloutError(RolloutStateError):
    """The rollout moved on (another decision was recorded) between reading its state and writing a decision."""


def end_of_day(day: date | str) -> datetime:
    """The last instant of a UTC day: an event at this time takes effect from the next day on."""
    return datetime.combine(as_date(day), time.max)


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as naive UTC, the warehouse and serving-database convention."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def first_day_after(moment: datetime) -> date:
    """The first score day an event at ``moment`` applies to (days start strictly after the event)."""
    return moment.date() + timedelta(days=1)


@dataclass(frozen=True)
class Rollout:
    """One ``rollouts`` row. ``current_stage`` is the latest decision's; it may apply from a later day."""

    rollout_id: str
    champion_version: str
    candidate_version: str
    plan: RolloutPlan
    status: str
    current_stage: str
    stage_started_on: date | None  # the first score day of current_stage
    created_at: datetime
    created_by: str
    updated_at: datetime
    version: int = 0  # bumped by every recorded decision (the compare-and-set of append)

    @property
    def is_running(self) -> bool:
        return self.status in RUNNING_STATUSES

    @property
    def paused(self) -> bool:
        return self.status == PAUSED


@dataclass(frozen=True)
class EventRecord:
    """One ``rollout_events`` row."""

    event_id: int
    rollout_id: str
    event_time: datetime
    score_date: date | None
    from_stage: str | None
    to_stage: str | None
    decision: str
    actor: str
    reason: str | None
    metrics: dict[str, Any] | None

    def policy_event(self) -> RolloutEvent:
        return RolloutEvent(self.event_time, self.from_stage or "", self.to_stage or "", self.decision, self.actor)


@dataclass(frozen=True)
class RolloutState:
    """What serves score day ``day``: the rollout in effect and its stage that day, read from the audit log."""

    rollout_id: str
    champion_version: str
    candidate_version: str
    plan: RolloutPlan
    stage: Stage
    stage_started_on: date  # the first score day of ``stage``

    @property
    def is_shadow(self) -> bool:
        return self.stage.name == SHADOW

    def days_in_stage(self, day: date | str) -> int:
        """Score days of ``stage`` up to and including ``day``."""
        return max(0, (as_date(day) - self.stage_started_on).days + 1)


def _rollout(row: Mapping[str, Any]) -> Rollout:
    values = dict(row)
    values["plan"] = RolloutPlan.from_dict(values["plan"])
    return Rollout(**values)


class RolloutStore:
    """Reads and writes rollouts and their audit log. ``engine``: the serving database, migrated to head."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # -- reading -------------------------------------------------------------------------------------------------

    def _rollouts(self, conn: sa.Connection, *where) -> list[Rollout]:
        query = sa.select(rollouts).where(*where).order_by(rollouts.c.created_at, rollouts.c.rollout_id)
        return [_rollout(row._mapping) for row in conn.execute(query)]

    def rollouts(self) -> list[Rollout]:
        """Every rollout, oldest first."""
        with self.engine.connect() as conn:
            return self._rollouts(conn)

    def get(self, rollout_id: str) -> Rollout:
        with self.engine.connect() as conn:
            found = self._rollouts(conn, rollouts.c.rollout_id == rollout_id)
        if not found:
            raise RolloutStateError(f"no rollout {rollout_id!r} in the serving database")
        return found[0]

    def current(self) -> Rollout | None:
        """The running (active or paused) rollout, if any."""
        with self.engine.connect() as conn:
            running = self._rollouts(conn, rollouts.c.status.in_(RUNNING_STATUSES))
        return running[-1] if running else None

    def latest(self) -> Rollout | None:
        """The most recently created rollout, running or ended."""
        found = self.rollouts()
        return found[-1] if found else None

    def events(self, rollout_id: str) -> list[EventRecord]:
        """The rollout's audit log in the order it applies (time, then insertion)."""
        query = (
            sa.select(rollout_events)
            .where(rollout_events.c.rollout_id == rollout_id)
            .order_by(rollout_events.c.event_time, rollout_events.c.event_id)
        )
        with self.engine.connect() as conn:
            return [EventRecord(**row._mapping) for row in conn.execute(query)]

    def decision_for_day(self, rollout_id: str, score_date: date | str) -> EventRecord | None:
        """The automatic decision already recorded for ``score_date``, if any."""
        day = as_date(score_date)
        found = [e for e in self.events(rollout_id) if e.score_date == day]
        return found[-1] if found else None

    def last_decided_day(self, rollout_id: str) -> date | None:
        days = [e.score_date for e in self.events(rollout_id) if e.score_date is not None]
        return max(days) if days else None

    def stage_in_effect(self, rollout_id: str, day: date | str) -> Stage:
        """The stage of ``rollout_id`` that serves score day ``day`` (NOT_STARTED before its start)."""
        rollout = self.get(rollout_id)
        return stage_in_effect((e.policy_event() for e in self.events(rollout_id)), day, plan=rollout.plan)

    def state_for_day(self, day: date | str) -> RolloutState | None:
        """The rollout serving score day ``day`` with its stage that day; None when no rollout is in a live stage.

        A rollout that has not started by ``day`` or had ended before it does not serve the day: the champion
        serves everyone. Rollouts never overlap (one runs at a time), so at most one is live on any day.
        """
        live = []
        for rollout in self.rollouts():
            events = self.events(rollout.rollout_id)
            stage = stage_in_effect((e.policy_event() for e in events), day, plan=rollout.plan)
            if stage != NOT_STARTED and not stage.is_terminal:
                live.append((rollout, stage, _stage_start(events, stage, day)))
        if len(live) > 1:
            raise RolloutStateError(
                f"rollouts {[r.rollout_id for r, *_ in live]} are all live on {as_date(day)}; the log is inconsistent"
            )
        if not live:
            return None
        rollout, stage, started = live[0]
        return RolloutState(
            rollout.rollout_id,
            rollout.champion_version,
            rollout.candidate_version,
            rollout.plan,
            stage,
            started,
        )

    def timeline(self, rollout_id: str, through: date | str) -> list[tuple[str, str]]:
        """(first score day, stage) of each stage the rollout served or will serve, up to score day ``through``.

        Several events before the same score day collapse into the last one: only it ever served a day.
        """
        by_first_day: dict[str, str] = {}
        for event in self.events(rollout_id):
            first = first_day_after(event.event_time)
            if first <= as_date(through) and event.to_stage:
                by_first_day[first.isoformat()] = event.to_stage
        out: list[tuple[str, str]] = []
        for first, stage in by_first_day.items():
            if not out or out[-1][1] != stage:
                out.append((first, stage))
        return out

    # -- writing -------------------------------------------------------------------------------------------------

    def create(
        self,
        champion_version: str,
        candidate_version: str,
        plan: RolloutPlan,
        decision: Decision,
        at: datetime,
        *,
        metrics: Mapping[str, Any] | None = None,
    ) -> Rollout:
        """A new rollout with its ``start`` event at ``at``; refused while another rollout is running."""
        if decision.action != "start" or decision.actor is None:
            raise ValueError(f"a rollout is created by a start decision with an actor, got {decision}")
        if champion_version == candidate_version:
            raise RolloutStateError(f"model {candidate_version} cannot roll out against itself")
        at = naive_utc(at)
        with self.engine.begin() as conn:
            running = self._rollouts(conn, rollouts.c.status.in_(RUNNING_STATUSES))
            if running:
                raise RolloutStateError(
                    f"rollout {running[0].rollout_id} ({running[0].candidate_version}) is {running[0].status}; "
                    "promote it to completion or abort it before starting another"
                )
            latest_event = conn.execute(sa.select(sa.func.max(rollout_events.c.event_time))).scalar_one()
            at = max(at, latest_event) if latest_event else at  # never before the previous rollout's end
            count = conn.execute(sa.select(sa.func.count()).select_from(rollouts)).scalar_one()
            rollout_id = f"rollout-{count + 1:04d}-{candidate_version}"[:64]
            now = utcnow()
            conn.execute(
                rollouts.insert().values(
                    rollout_id=rollout_id,
                    champion_version=champion_version,
                    candidate_version=candidate_version,
                    plan=plan.to_dict(),
                    status=ACTIVE,
                    current_stage=decision.to_stage,
                    stage_started_on=first_day_after(at),
                    created_at=now,
                    created_by=decision.actor,
                    updated_at=now,
                )
            )
            self._insert_event(conn, rollout_id, decision, at, None, metrics)
        return self.get(rollout_id)

    def append(
        self,
        rollout_id: str,
        decision: Decision,
        at: datetime,
        *,
        score_date: date | str | None = None,
        metrics: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> EventRecord:
        """Record ``decision`` at ``at`` (moved up to the previous event's time if earlier) and update the rollout.

        Refused with :class:`StaleRolloutError` when the rollout is no longer at ``decision.from_stage``, has
        ended, or (given ``expected_version``, the :attr:`Rollout.version` the decision was made on) recorded any
        other decision since: a decision made on an outdated state is never written.

        Serialized per rollout: the row is locked before it is read (``SELECT ... FOR UPDATE`` on PostgreSQL; on
        SQLite the transaction takes the database's write lock first, as ``BEGIN IMMEDIATE`` would), the update is
        a compare-and-set on ``version``, and the event is inserted in the same transaction. Of two racing writers
        the second waits, then sees the first one's decision.
        """
        at = naive_utc(at)
        with self.engine.begin() as conn:
            # SQLite: a write first, so pysqlite begins the transaction here and it takes the write lock
            if conn.dialect.name == "sqlite":
                conn.execute(
                    rollouts.update().where(rollouts.c.rollout_id == rollout_id).values(version=rollouts.c.version)
                )
            row = conn.execute(sa.select(rollouts).where(rollouts.c.rollout_id == rollout_id).with_for_update()).first()
            if row is None:
                raise RolloutStateError(f"no rollout {rollout_id!r} in the serving database")
            rollout = _rollout(row._mapping)
            if expected_version is not None and rollout.version != expected_version:
                raise StaleRolloutError(
                    f"rollout {rollout_id} changed since it was read (version {expected_version} -> "
                    f"{rollout.version}: {_last_change(conn, rollout_id)}; now {rollout.status} at "
                    f"{rollout.current_stage}); {decision.action} refused"
                )
            if not rollout.is_running:
                raise StaleRolloutError(f"rollout {rollout_id} has ended ({rollout.status}); {decision.action} refused")
            if rollout.current_stage != decision.from_stage:
                raise StaleRolloutError(
                    f"rollout {rollout_id} is at {rollout.current_stage}, not {decision.from_stage}; "
                    f"{decision.action} refused (another decision came first)"
                )
            last = conn.execute(
                sa.select(sa.func.max(rollout_events.c.event_time)).where(rollout_events.c.rollout_id == rollout_id)
            ).scalar_one()
            at = max(at, last) if last else at
            values: dict[str, Any] = {"updated_at": utcnow(), "current_stage": decision.to_stage}
            if decision.to_stage in TERMINAL_STATUS:
                values["status"] = TERMINAL_STATUS[decision.to_stage]
            elif decision.action == "pause":
                values["status"] = PAUSED
            elif decision.action == "resume":
                values["status"] = ACTIVE
            if decision.to_stage != decision.from_stage:
                values["stage_started_on"] = first_day_after(at)
            values["version"] = rollout.version + 1
            swapped = conn.execute(
                rollouts.update()
                .where(rollouts.c.rollout_id == rollout_id, rollouts.c.version == rollout.version)
                .values(**values)
            )
            if swapped.rowcount != 1:  # the lock makes this unreachable; the compare-and-set is the guarantee
                raise StaleRolloutError(
                    f"rollout {rollout_id} changed while {decision.action} was written "
                    f"(version {rollout.version} is gone); {decision.action} refused"
                )
            event_id = self._insert_event(conn, rollout_id, decision, at, score_date, metrics)
        return next(e for e in self.events(rollout_id) if e.event_id == event_id)

    @staticmethod
    def _insert_event(
        conn: sa.Connection,
        rollout_id: str,
        decision: Decision,
        at: datetime,
        score_date: date | str | None,
        metrics: Mapping[str, Any] | None,
    ) -> int:
        result = conn.execute(
            rollout_events.insert().values(
                rollout_id=rollout_id,
                event_time=at,
                score_date=as_date(score_date) if score_date is not None else None,
                from_stage=decision.from_stage,
                to_stage=decision.to_stage,
                decision=decision.action,
                actor=decision.actor or POLICY_ACTOR,
                reason="; ".join(decision.reasons),
                metrics=_json_safe(dict(metrics)) if metrics is not None else None,
            )
        )
        return int(result.inserted_primary_key[0])


def _last_change(conn: sa.Connection, rollout_id: str) -> str:
    """The latest event of a rollout, as a stale writer's error names it."""
    last = conn.execute(
        sa.select(rollout_events)
        .where(rollout_events.c.rollout_id == rollout_id)
        .order_by(rollout_events.c.event_time.desc(), rollout_events.c.event_id.desc())
        .limit(1)
    ).first()
    if last is None:
        return "no event recorded"
    return f"last event {last.decision} {last.from_stage} -> {last.to_stage} by {last.actor} at {last.event_time}"


def _stage_start(events: list[EventRecord], stage: Stage, day: date | str) -> date:
    """The first score day of ``stage`` as in effect on ``day``: the day after the last event before ``day`` that
    moved the rollout into it."""
    cutoff = datetime.combine(as_date(day), time.min)
    moved_in = [
        e.event_time
        for e in events
        if e.event_time < cutoff and e.to_stage == stage.name and e.from_stage != stage.name
    ]
    return first_day_after(max(moved_in)) if moved_in else as_date(day)
