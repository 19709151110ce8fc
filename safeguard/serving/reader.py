"""Read the published risk tables: one account's risk with its reasons in plain words, or the riskiest accounts.

What downstream code and the ``safeguard risk`` command use; it reads only the serving database, never the
warehouse. Each call is one SELECT on one table (the reasons travel in the row's JSON), so an answer is never a
mix of two publishes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from safeguard.dates import as_date
from safeguard.serving.risk_tables import account_risk_current, account_risk_history
from safeguard.vocabulary import TIERS

DEFAULT_TOP_LIMIT = 50


class RiskTablesMissing(RuntimeError):
    """The serving database has no risk tables yet: nothing was ever published to it."""


@dataclass(frozen=True)
class Reason:
    rank: int  # 1 = the feature that pushed the score up the most
    feature: str
    value: float | None  # the account's feature value; None when it was missing
    contribution: float  # SHAP contribution in log-odds units (positive: raises the risk)
    text: str  # the feature catalog's plain-language reason

    def plain(self) -> str:
        """E.g. ``1. Many requests flagged as cyber misuse in the last 7 days: flag_rate_cyber_7d = 37 (+0.84)``."""
        value = "missing" if self.value is None else f"{self.value:,.4g}"
        return f"{self.rank}. {self.text}: {self.feature} = {value} ({self.contribution:+.2f})"


@dataclass(frozen=True)
class AccountRisk:
    account_id: str
    score_date: date
    probability: float
    tier: str
    model_version: str
    arm: str  # champion, candidate or shadow: which model's score was served, and why
    published_at: datetime  # naive UTC
    reasons: tuple[Reason, ...]

    def plain_reasons(self) -> list[str]:
        return [reason.plain() for reason in self.reasons]


def _reasons(items) -> tuple[Reason, ...]:
    def number(value):
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

    return tuple(
        Reason(rank, str(item["feature"]), number(item.get("value")), float(item["contribution"]), str(item["reason"]))
        for rank, item in enumerate(items or [], start=1)
    )


class RiskReader:
    """Queries over ``account_risk_current`` (latest row per account) and ``account_risk_history`` (any day)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def _rows(self, statement) -> list[AccountRisk]:
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(statement).mappings().all()
        except (sa.exc.OperationalError, sa.exc.ProgrammingError) as e:
            if not sa.inspect(self.engine).has_table(account_risk_current.name):
                where = self.engine.url.render_as_string(hide_password=True)
                raise RiskTablesMissing(
                    f"the serving database {where} has no risk tables: nothing has been published to it yet"
                ) from e
            raise
        return [
            AccountRisk(
                account_id=r["account_id"],
                score_date=as_date(r["score_date"]),
                probability=float(r["probability"]),
                tier=r["tier"],
                model_version=r["model_version"],
                arm=r["arm"],
                published_at=r["published_at"],
                reasons=_reasons(r["reasons"]),
            )
            for r in rows
        ]

    @staticmethod
    def _table(score_date: date | str | None) -> tuple[sa.Table, list]:
        if score_date is None:
            return account_risk_current, []
        return account_risk_history, [account_risk_history.c.score_date == as_date(score_date)]

    def account(self, account_id: str, score_date: date | str | None = None) -> AccountRisk | None:
        """The account's latest published risk (or its risk on ``score_date``); None when never published."""
        table, where = self._table(score_date)
        rows = self._rows(sa.select(table).where(table.c.account_id == account_id, *where))
        return rows[0] if rows else None

    def top(
        self, tier: str | None = None, limit: int = DEFAULT_TOP_LIMIT, score_date: date | str | None = None
    ) -> list[AccountRisk]:
        """The riskiest accounts, highest probability first (ties by account_id), optionally of one tier only;
        from the current table, or from one day's history when ``score_date`` is given."""
        if tier is not None and tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        table, where = self._table(score_date)
        if tier is not None:
            where.append(table.c.tier == tier)
        statement = sa.select(table).where(*where).order_by(table.c.probability.desc(), table.c.account_id).limit(limit)
        return self._rows(statement)
