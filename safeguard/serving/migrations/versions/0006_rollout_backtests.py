"""rollout_backtests: the offline backtest of a candidate against the champion, judged before any traffic.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

One row per backtest (``safeguard rollout backtest`` or the ``rollout_backtest`` asset): the models, the days
replayed, how many were judged, the verdict, the pooled summary and per-day figures, and the rule. ``rollout
start`` refuses a candidate whose latest backtest against the current champion does not pass (issue 15).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollout_backtests",
        sa.Column("backtest_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("candidate_version", sa.String(64), sa.ForeignKey("model_versions.version"), nullable=False),
        sa.Column("champion_version", sa.String(64), sa.ForeignKey("model_versions.version"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("judged_days", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("per_day", sa.JSON(), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.CheckConstraint("verdict IN ('pass', 'fail', 'insufficient_data')", name="ck_rollout_backtests_verdict"),
    )
    op.create_index(
        "ix_rollout_backtests_models", "rollout_backtests", ["candidate_version", "champion_version", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_rollout_backtests_models", table_name="rollout_backtests")
    op.drop_table("rollout_backtests")
