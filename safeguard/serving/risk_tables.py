"""The serving database's risk tables: what downstream teams read (design §3.5; columns documented in
docs/risk-tables.md), written one published day at a time by ``safeguard.serving.publish``, and the daily review
queue. Changing a table needs a migration too (``safeguard/serving/migrations/versions``).
"""

from __future__ import annotations

import sqlalchemy as sa

from safeguard.serving.metadata import metadata

# One row per account: its row of the newest published day that holds it ("current moves forward only").
account_risk_current = sa.Table(
    "account_risk_current",
    metadata,
    sa.Column("account_id", sa.String(64), primary_key=True),
    sa.Column("score_date", sa.Date(), nullable=False),
    sa.Column("probability", sa.Float(), nullable=False),  # calibrated probability of the served model
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("arm", sa.String(16), nullable=False),
    sa.Column("reasons", sa.JSON(), nullable=False),  # [{feature, value, contribution, reason}], [] if unexplained
    sa.Column("published_at", sa.DateTime(), nullable=False),  # naive UTC
)

# Every published day, one row per (account, day); a re-published day replaces its rows exactly.
account_risk_history = sa.Table(
    "account_risk_history",
    metadata,
    sa.Column("account_id", sa.String(64), primary_key=True),
    sa.Column("score_date", sa.Date(), primary_key=True),
    sa.Column("probability", sa.Float(), nullable=False),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("arm", sa.String(16), nullable=False),
    sa.Column("reasons", sa.JSON(), nullable=False),
    sa.Column("published_at", sa.DateTime(), nullable=False),
    sa.Index("ix_account_risk_history_day_tier", "score_date", "tier"),
)

# The reasons of account_risk_history in long form: one row per (account, day, rank), rank 1 = largest push up.
risk_reasons = sa.Table(
    "risk_reasons",
    metadata,
    sa.Column("account_id", sa.String(64), primary_key=True),
    sa.Column("score_date", sa.Date(), primary_key=True),
    sa.Column("rank", sa.SmallInteger(), primary_key=True, autoincrement=False),
    sa.Column("feature", sa.String(128), nullable=False),
    sa.Column("feature_value", sa.Float(), nullable=True),  # null: the feature was missing for the account
    sa.Column("contribution", sa.Float(), nullable=False),  # SHAP contribution, raw-margin (log-odds) units
    sa.Column("reason_text", sa.Text(), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
)

# The publish log: one row per published day; "current moves forward only" is decided from it.
published_days = sa.Table(
    "published_days",
    metadata,
    sa.Column("score_date", sa.Date(), primary_key=True),
    sa.Column("published_at", sa.DateTime(), nullable=False),
    sa.Column("rows", sa.Integer(), nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("model_versions", sa.JSON(), nullable=False),  # {model_version: accounts served by it}
)

# The daily review queue (issue 17), written by safeguard.review.store: one row per (day, case, member account).
# A case is one account or a ring of linked accounts; cases are ranked by expected abuse caught (the members'
# summed probabilities), at most the day's capacity of them. A re-run of a day replaces that day's rows.
review_queue = sa.Table(
    "review_queue",
    metadata,
    sa.Column("score_date", sa.Date(), primary_key=True),
    sa.Column("case_id", sa.String(32), primary_key=True),  # '2026-11-09#007': day and rank
    sa.Column("account_id", sa.String(64), primary_key=True),
    sa.Column("rank", sa.Integer(), nullable=False),  # 1 = the case with the most expected abuse
    sa.Column("case_accounts", sa.Integer(), nullable=False),
    sa.Column("case_expected_abuse", sa.Float(), nullable=False),  # sum of the members' probabilities
    sa.Column("case_links", sa.JSON(), nullable=False),  # link kinds joining the members: payment, device, ...
    sa.Column("case_reasons", sa.JSON(), nullable=False),  # [{reason, accounts}]: the members' shared reasons
    sa.Column("probability", sa.Float(), nullable=False),  # this member's published probability and tier
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("queued_at", sa.DateTime(), nullable=False),  # naive UTC
    sa.Index("ix_review_queue_account", "account_id", "score_date"),
)

RISK_TABLES = (account_risk_current, account_risk_history, risk_reasons, published_days)
