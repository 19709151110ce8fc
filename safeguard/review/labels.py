"""Confirmed reviews as training labels: ``raw.review_labels`` in the warehouse, a copy of the serving database's
confirmed decisions (issue 17).

A reviewer who confirms a queued account has labelled it abusive. The training examples (dbt
``fct_training_examples``) take such a confirmation like a suspend or ban: an example of day D is positive when a
confirmation falls in (D, D + H], with ``label_review`` = 1 so the model card can say how many positives came
from reviews; an account confirmed by the end of D has no example on D, as an enforced one has none. Each
account's *latest* decision counts: a confirmation a reviewer later cleared is no label.

This module owns the table's schema. The copy is whole (a handful of rows a day): re-syncing gives the same
table, and a decision recorded since shows up at the next sync.
"""

from __future__ import annotations

import sqlalchemy as sa

from safeguard.review.queue import CONFIRMED
from safeguard.serving.state_tables import review_decisions
from safeguard.warehouse import transaction

REVIEW_LABELS_TABLE = "raw.review_labels"
REVIEW_LABELS_DDL = f"""CREATE TABLE IF NOT EXISTS {REVIEW_LABELS_TABLE} (
  decision_id BIGINT NOT NULL,
  account_id VARCHAR NOT NULL,
  case_id VARCHAR NOT NULL,
  confirmed_at TIMESTAMP NOT NULL
)"""


def confirmed_reviews(engine: sa.Engine) -> list[tuple[int, str, str, object]]:
    """(decision_id, account_id, case_id, decided_at) of every account whose latest decision is a confirmation."""
    d = review_decisions.c
    latest = sa.select(
        d.decision_id,
        d.account_id,
        d.case_id,
        d.decided_at,
        d.decision,
        sa.func.row_number()
        .over(partition_by=d.account_id, order_by=(d.decided_at.desc(), d.decision_id.desc()))
        .label("newest"),
    ).subquery()
    query = (
        sa.select(latest.c.decision_id, latest.c.account_id, latest.c.case_id, latest.c.decided_at)
        .where(latest.c.newest == 1, latest.c.decision == CONFIRMED)
        .order_by(latest.c.decision_id)
    )
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def sync_review_labels(engine: sa.Engine, con) -> int:
    """Replace ``raw.review_labels`` with the serving database's confirmations, in one transaction; the rows."""
    rows = confirmed_reviews(engine)
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(REVIEW_LABELS_DDL)
    with transaction(con):
        con.execute(f"DELETE FROM {REVIEW_LABELS_TABLE}")
        if rows:
            con.executemany(f"INSERT INTO {REVIEW_LABELS_TABLE} VALUES (?, ?, ?, ?)", rows)
    return len(rows)
