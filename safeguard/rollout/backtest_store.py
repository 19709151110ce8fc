"""Stored backtests: ``rollout_backtests`` in the serving database, one row per backtest (issue 15).

``rollout start`` reads the latest backtest of a candidate against the current champion
(:func:`latest_backtest`) and re-judges its stored summary under the plan's rule
(:func:`safeguard.rollout.backtest.backtest_verdict`), so a stricter plan can refuse what a backtest once passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from safeguard.jsonable import json_safe as _json_safe
from safeguard.rollout.backtest import BacktestRule
from safeguard.rollout.backtest_replay import BacktestResult
from safeguard.rollout.state import naive_utc
from safeguard.serving.state_tables import rollout_backtests
from safeguard.vocabulary import utcnow


@dataclass(frozen=True)
class StoredBacktest:
    """One ``rollout_backtests`` row."""

    backtest_id: int
    candidate_version: str
    champion_version: str
    created_at: datetime
    first_day: date
    last_day: date
    days: int
    judged_days: int
    verdict: str  # the verdict under ``rule`` when it ran
    summary: dict[str, Any]
    per_day: list[dict[str, Any]]
    rule: BacktestRule


def _stored(row) -> StoredBacktest:
    values = dict(row._mapping)
    values["rule"] = BacktestRule.from_dict(values["rule"])
    return StoredBacktest(**values)


def record_backtest(engine: Engine, result: BacktestResult, *, now: datetime | None = None) -> StoredBacktest:
    """Store ``result`` as a new row; returns it as read back."""
    with engine.begin() as conn:
        inserted = conn.execute(
            rollout_backtests.insert().values(
                candidate_version=result.candidate_version,
                champion_version=result.champion_version,
                created_at=naive_utc(now or utcnow()),
                first_day=date.fromisoformat(result.first_day),
                last_day=date.fromisoformat(result.last_day),
                days=len(result.days),
                judged_days=int(result.summary["judged_days"]),
                verdict=result.verdict,
                summary=_json_safe({**result.summary, "verdict": result.verdict, "reasons": result.reasons}),
                per_day=_json_safe(result.per_day),
                rule=result.rule.to_dict(),
            )
        )
        backtest_id = int(inserted.inserted_primary_key[0])
        row = conn.execute(sa.select(rollout_backtests).where(rollout_backtests.c.backtest_id == backtest_id)).one()
    return _stored(row)


def latest_backtest(engine: Engine, candidate_version: str, champion_version: str) -> StoredBacktest | None:
    """The newest backtest of ``candidate_version`` against ``champion_version``, or None."""
    query = (
        sa.select(rollout_backtests)
        .where(
            rollout_backtests.c.candidate_version == candidate_version,
            rollout_backtests.c.champion_version == champion_version,
        )
        .order_by(rollout_backtests.c.created_at.desc(), rollout_backtests.c.backtest_id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _stored(row) if row is not None else None
