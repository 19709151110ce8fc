"""Build a day's review queue and publish it: the ``review_queue`` table (one transaction) and its Parquet export.

The one path both the daily ``review_queue`` asset and ``safeguard review queue --rebuild`` take, so the table and
the export always hold the same rows. Every check (the day published, its features built, the rule valid) comes
before the first write; a refused day writes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from safeguard.landing import ObjectStore
from safeguard.review.export import export_queue
from safeguard.review.queue import Case, QueueRule
from safeguard.review.store import build_day_queue, replace_queue
from safeguard.vocabulary import utcnow


@dataclass(frozen=True)
class QueuePublished:
    day: date
    cases: list[Case]
    queued_at: datetime
    export_uri: str

    @property
    def accounts(self) -> int:
        return sum(len(c.members) for c in self.cases)

    @property
    def rings(self) -> int:
        return sum(len(c.members) > 1 for c in self.cases)

    @property
    def tiers(self) -> dict[str, int]:
        """Cases by their highest member tier."""
        return dict(Counter(c.top_tier for c in self.cases))

    def summary(self) -> str:
        expected = sum(c.expected_abuse for c in self.cases)
        return (
            f"{self.day}: {len(self.cases)} case(s) queued ({self.rings} ring(s), {self.accounts} account(s), "
            f"{expected:.1f} expected abusive)"
        )


def publish_queue(
    warehouse_con, engine: sa.Engine, store: ObjectStore, day: date, rule: QueueRule, queued_at: datetime | None = None
) -> QueuePublished:
    queued_at = queued_at or utcnow()
    cases = build_day_queue(warehouse_con, engine, day, rule)
    replace_queue(engine, day, cases, queued_at)
    exported = export_queue(store, day, cases, queued_at)
    return QueuePublished(day, cases, queued_at, exported.uri)
