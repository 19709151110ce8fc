"""Confirmed reviews copied into the warehouse as training labels (safeguard.review.labels)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest
import sqlalchemy as sa

from safeguard.review.labels import REVIEW_LABELS_TABLE, sync_review_labels
from safeguard.serving.schema import review_decisions


@pytest.fixture
def engine(serving_engine):
    return serving_engine


def decide(engine, account: str, decision: str, when: str, case: str = "2026-09-02#001") -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(review_decisions),
            [
                {
                    "case_id": case,
                    "score_date": datetime.fromisoformat(when).date(),
                    "account_id": account,
                    "decision": decision,
                    "reviewer": "ana",
                    "decided_at": datetime.fromisoformat(when),
                    "probability": 0.5,
                }
            ],
        )


def labels(con) -> list[tuple]:
    return con.execute(f"SELECT account_id, case_id, confirmed_at FROM {REVIEW_LABELS_TABLE} ORDER BY 1").fetchall()


def test_each_account_s_latest_decision_counts_and_a_sync_replaces_the_table(engine):
    decide(engine, "a", "confirmed", "2026-09-02T10:00:00")
    decide(engine, "b", "cleared", "2026-09-02T10:00:00")
    decide(engine, "c", "confirmed", "2026-09-02T11:00:00")
    decide(engine, "c", "cleared", "2026-09-03T09:00:00", case="2026-09-03#004")  # cleared on a second look
    decide(engine, "d", "cleared", "2026-09-02T11:00:00")
    decide(engine, "d", "confirmed", "2026-09-04T09:00:00", case="2026-09-04#002")
    with duckdb.connect() as con:
        assert sync_review_labels(engine, con) == 2
        assert labels(con) == [
            ("a", "2026-09-02#001", datetime(2026, 9, 2, 10)),
            ("d", "2026-09-04#002", datetime(2026, 9, 4, 9)),
        ]
        assert sync_review_labels(engine, con) == 2  # again: the same table, not twice the rows
        decide(engine, "a", "cleared", "2026-09-05T09:00:00")
        assert sync_review_labels(engine, con) == 1
        assert [r[0] for r in labels(con)] == ["d"]


def test_no_decision_gives_an_empty_table(engine):
    with duckdb.connect() as con:
        assert sync_review_labels(engine, con) == 0
        assert labels(con) == []
