"""Risk tables for downstream teams and the rollout log: account_risk_current, account_risk_history,
risk_reasons, published_days, rollouts, rollout_events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

The columns are spelled out here (not taken from the current metadata) so this revision builds the same tables
forever, whatever later revisions change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _risk_columns() -> list[sa.Column]:
    """The columns account_risk_current and account_risk_history share after their keys."""
    return [
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "account_risk_current",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("score_date", sa.Date(), nullable=False),
        *_risk_columns(),
    )
    op.create_table(
        "account_risk_history",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("score_date", sa.Date(), primary_key=True),
        *_risk_columns(),
    )
    op.create_index("ix_account_risk_history_day_tier", "account_risk_history", ["score_date", "tier"])
    op.create_table(
        "risk_reasons",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("score_date", sa.Date(), primary_key=True),
        sa.Column("rank", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("feature", sa.String(128), nullable=False),
        sa.Column("feature_value", sa.Float(), nullable=True),
        sa.Column("contribution", sa.Float(), nullable=False),
        sa.Column("reason_text", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
    )
    op.create_table(
        "published_days",
        sa.Column("score_date", sa.Date(), primary_key=True),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("model_versions", sa.JSON(), nullable=False),
    )
    op.create_table(
        "rollouts",
        sa.Column("rollout_id", sa.String(64), primary_key=True),
        sa.Column("champion_version", sa.String(64), sa.ForeignKey("model_versions.version"), nullable=False),
        sa.Column("candidate_version", sa.String(64), sa.ForeignKey("model_versions.version"), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_stage", sa.String(32), nullable=False),
        sa.Column("stage_started_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'completed', 'rolled_back', 'aborted')", name="ck_rollouts_status"
        ),
    )
    op.create_table(
        "rollout_events",
        sa.Column("event_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rollout_id", sa.String(64), sa.ForeignKey("rollouts.rollout_id"), nullable=False),
        sa.Column("event_time", sa.DateTime(), nullable=False),
        sa.Column("score_date", sa.Date(), nullable=True),
        sa.Column("from_stage", sa.String(32), nullable=True),
        sa.Column("to_stage", sa.String(32), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "decision IN ('start', 'advance', 'hold', 'rollback', 'promote', 'pause', 'resume', 'abort')",
            name="ck_rollout_events_decision",
        ),
    )
    op.create_index("ix_rollout_events_rollout_time", "rollout_events", ["rollout_id", "event_time"])


def downgrade() -> None:
    op.drop_index("ix_rollout_events_rollout_time", table_name="rollout_events")
    op.drop_table("rollout_events")
    op.drop_table("rollouts")
    op.drop_table("published_days")
    op.drop_table("risk_reasons")
    op.drop_index("ix_account_risk_history_day_tier", table_name="account_risk_history")
    op.drop_table("account_risk_history")
    op.drop_table("account_risk_current")
