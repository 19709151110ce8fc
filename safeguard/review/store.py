"""The review tables of the serving database: build and replace a day's queue, read it, record decisions.

Owns the reads and writes of ``review_queue`` and ``review_decisions`` (their columns are in
:mod:`safeguard.serving.schema`). Every write is one transaction; a refused call writes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from safeguard.review.queue import (
    CLEARED,
    CONFIRMED,
    Case,
    Decision,
    QueueError,
    QueueRule,
    ScoredAccount,
    build_queue,
    parse_case_id,
)
from safeguard.serving.risk_tables import account_risk_history, published_days, review_queue
from safeguard.serving.state_tables import review_decisions
from safeguard.vocabulary import TIERS, utcnow


def published_accounts(engine: sa.Engine, day: date) -> list[ScoredAccount]:
    """The accounts published on ``day`` with their plain-language reasons; refused when the day was not
    published (a failed or missing day gets no queue, never an empty one)."""
    with engine.connect() as conn:
        if (
            conn.execute(sa.select(published_days.c.score_date).where(published_days.c.score_date == day)).first()
            is None
        ):
            raise QueueError(f"{day} was not published: no review queue for a day without risk tables")
        h = account_risk_history.c
        rows = conn.execute(sa.select(h.account_id, h.probability, h.tier, h.reasons).where(h.score_date == day))
        return [
            ScoredAccount(
                r.account_id,
                float(r.probability),
                r.tier,
                tuple(item["reason"] for item in _json(r.reasons) if item.get("reason")),
            )
            for r in rows
        ]


def _json(value):
    return json.loads(value) if isinstance(value, str) else (value or [])


def latest_decisions(engine: sa.Engine, before: date) -> dict[str, Decision]:
    """Each account's latest decision made before the end of ``before``."""
    d = review_decisions.c
    query = (
        sa.select(d.account_id, d.decision, d.decided_at, d.probability)
        .where(d.decided_at < datetime.combine(before + timedelta(days=1), datetime.min.time()))
        .order_by(d.account_id, d.decided_at, d.decision_id)
    )
    with engine.connect() as conn:
        return {
            r.account_id: Decision(r.account_id, r.decision, r.decided_at.date(), float(r.probability))
            for r in conn.execute(query)
        }


def queue_rows(day: date, cases: list[Case], queued_at: datetime) -> list[dict]:
    """The ``review_queue`` rows of ``cases``: one per case member."""
    return [
        {
            "score_date": day,
            "case_id": case.case_id,
            "account_id": m.account_id,
            "rank": case.rank,
            "case_accounts": len(case.members),
            "case_expected_abuse": case.expected_abuse,
            "case_links": list(case.links),
            "case_reasons": [{"reason": text, "accounts": n} for text, n in case.reasons],
            "probability": m.probability,
            "tier": m.tier,
            "queued_at": queued_at,
        }
        for case in cases
        for m in case.members
    ]


def replace_queue(engine: sa.Engine, day: date, cases: list[Case], queued_at: datetime) -> int:
    """Replace ``day``'s queue with ``cases`` in one transaction; returns the rows written."""
    rows = queue_rows(day, cases, queued_at)
    with engine.begin() as conn:
        conn.execute(sa.delete(review_queue).where(review_queue.c.score_date == day))
        if rows:
            conn.execute(sa.insert(review_queue), rows)
    return len(rows)


def build_day_queue(warehouse_con, engine: sa.Engine, day: date, rule: QueueRule) -> list[Case]:
    """``day``'s queue from its published rows, the warehouse's links as of the day and the decisions made by the
    end of the day; nothing is written (:func:`replace_queue` stores it)."""
    from safeguard.review.links import links_as_of

    scored = published_accounts(engine, day)
    floor = TIERS.index(rule.alert_tier)
    alerts = [a.account_id for a in scored if a.tier in TIERS and TIERS.index(a.tier) >= floor]
    links, enforced = links_as_of(warehouse_con, day, alerts, rule.max_link_group)
    return build_queue(day, scored, links, enforced, latest_decisions(engine, day), rule)


@dataclass(frozen=True)
class QueuedMember:
    case_id: str
    rank: int
    account_id: str
    probability: float
    tier: str
    case_accounts: int
    case_expected_abuse: float
    case_links: list[str]
    case_reasons: list[dict]


def read_queue(engine: sa.Engine, day: date) -> list[QueuedMember]:
    """``day``'s queue, by rank, each case's members highest probability first."""
    q = review_queue.c
    query = (
        sa.select(
            q.case_id,
            q.rank,
            q.account_id,
            q.probability,
            q.tier,
            q.case_accounts,
            q.case_expected_abuse,
            q.case_links,
            q.case_reasons,
        )
        .where(q.score_date == day)
        .order_by(q.rank, q.probability.desc(), q.account_id)
    )
    with engine.connect() as conn:
        return [
            QueuedMember(
                r.case_id,
                r.rank,
                r.account_id,
                float(r.probability),
                r.tier,
                r.case_accounts,
                float(r.case_expected_abuse),
                _json(r.case_links),
                _json(r.case_reasons),
            )
            for r in conn.execute(query)
        ]


def record_decision(
    engine: sa.Engine,
    case: str,
    decision: str,
    reviewer: str,
    *,
    account_id: str | None = None,
    note: str | None = None,
    decided_at: datetime | None = None,
) -> int:
    """Record ``decision`` (confirmed / cleared) by ``reviewer`` on every member of ``case`` (or on one of them);
    returns the rows written. Refused, writing nothing, for an unknown case or member, an unknown decision or no
    reviewer."""
    if decision not in (CONFIRMED, CLEARED):
        raise QueueError(f"decision must be {CONFIRMED!r} or {CLEARED!r}, got {decision!r}")
    if not reviewer or not reviewer.strip():
        raise QueueError("a decision needs the reviewer's name (--actor NAME): it is recorded with the decision")
    day, _ = parse_case_id(case)
    q = review_queue.c
    with engine.begin() as conn:
        members = conn.execute(
            sa.select(q.account_id, q.probability).where(q.score_date == day, q.case_id == case)
        ).all()
        if not members:
            raise QueueError(f"no case {case} in the review queue of {day}")
        if account_id is not None:
            members = [m for m in members if m.account_id == account_id]
            if not members:
                raise QueueError(f"account {account_id} is not a member of case {case}")
        when = decided_at or utcnow()
        conn.execute(
            sa.insert(review_decisions),
            [
                {
                    "case_id": case,
                    "score_date": day,
                    "account_id": m.account_id,
                    "decision": decision,
                    "reviewer": reviewer.strip(),
                    "decided_at": when,
                    "probability": float(m.probability),
                    "note": note,
                }
                for m in members
            ],
        )
    return len(members)
