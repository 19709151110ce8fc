"""review_queue and review_decisions: the daily review queue and what reviewers decided (issue 17).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

The read-only role may SELECT ``review_queue`` (PostgreSQL; SQLite has no roles), never ``review_decisions``:
decisions are written by reviewers through ``safeguard review decide``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from safeguard.config import settings

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_GRANT = (
    "DO $$ DECLARE reader text := current_setting('safeguard.readonly_role'); BEGIN "
    "IF EXISTS (SELECT FROM pg_roles WHERE rolname = reader) THEN "
    "EXECUTE format('GRANT SELECT ON TABLE review_queue TO %I', reader); "
    "END IF; END $$"
)


def upgrade() -> None:
    op.create_table(
        "review_queue",
        sa.Column("score_date", sa.Date(), primary_key=True),
        sa.Column("case_id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("case_accounts", sa.Integer(), nullable=False),
        sa.Column("case_expected_abuse", sa.Float(), nullable=False),
        sa.Column("case_links", sa.JSON(), nullable=False),
        sa.Column("case_reasons", sa.JSON(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_review_queue_account", "review_queue", ["account_id", "score_date"])
    op.create_table(
        "review_decisions",
        sa.Column("decision_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("score_date", sa.Date(), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("decision IN ('confirmed', 'cleared')", name="ck_review_decisions_decision"),
    )
    op.create_index("ix_review_decisions_account", "review_decisions", ["account_id", "decided_at"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(
            sa.text("SELECT set_config('safeguard.readonly_role', :role, true)"),
            {"role": settings().serving_readonly_role},
        )
        bind.connection.driver_connection.execute(_GRANT)


def downgrade() -> None:
    op.drop_index("ix_review_decisions_account", table_name="review_decisions")
    op.drop_table("review_decisions")
    op.drop_index("ix_review_queue_account", table_name="review_queue")
    op.drop_table("review_queue")
