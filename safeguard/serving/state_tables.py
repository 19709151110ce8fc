"""The serving database's state store: what the pipeline and people decided (the model registry, the rollouts and
their audit log, the backtests, the reviewers' decisions). The rollout, the registry and the review package write
these; downstream teams read the risk tables (``risk_tables``). Changing a table needs a migration too
(``safeguard/serving/migrations/versions``); the migrations, not ``metadata.create_all``, build real databases.
"""

from __future__ import annotations

import sqlalchemy as sa

from safeguard.serving.metadata import metadata
from safeguard.vocabulary import (
    CHAMPION,
    MODEL_KINDS,
    MODEL_STATUSES,
    ROLLOUT_DECISIONS,
    ROLLOUT_STATUSES,
    TRAINED_KIND,
    sql_in,
)

# One row per trained model version (design §3.3). JSON columns hold what the card and the gate need.
model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),  # naive UTC
    sa.Column("train_start", sa.Date(), nullable=False),  # first as_of_date the model learned from
    sa.Column("train_end", sa.Date(), nullable=False),  # last as_of_date the model learned from (incl. calibration)
    sa.Column("validation_start", sa.Date(), nullable=False),
    sa.Column("validation_end", sa.Date(), nullable=False),
    sa.Column("label_horizon_days", sa.Integer(), nullable=False),
    sa.Column("features", sa.JSON(), nullable=False),  # list of feature names, in model order
    sa.Column("params", sa.JSON(), nullable=False),
    sa.Column("metrics", sa.JSON(), nullable=False),
    sa.Column("thresholds", sa.JSON(), nullable=False),  # TierThresholds.to_dict()
    sa.Column("gate", sa.JSON(), nullable=True),  # GateResult.to_dict() of the quality gate, when it ran
    sa.Column("artifact_uri", sa.String(1024), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_changed_at", sa.DateTime(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, server_default=TRAINED_KIND),  # MODEL_KINDS
    sa.CheckConstraint(sql_in("kind", MODEL_KINDS), name="ck_model_versions_kind"),
    sa.CheckConstraint(sql_in("status", MODEL_STATUSES), name="ck_model_versions_status"),
    # At most one champion at any time, enforced by the database itself.
    sa.Index(
        "ux_model_versions_one_champion",
        "status",
        unique=True,
        sqlite_where=sa.text(f"status = '{CHAMPION}'"),
        postgresql_where=sa.text(f"status = '{CHAMPION}'"),
    ),
)

# A staged rollout of a candidate against the champion (design §3.4), written by safeguard.rollout.state.
rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("rollout_id", sa.String(64), primary_key=True),
    sa.Column("champion_version", sa.String(64), sa.ForeignKey("model_versions.version"), nullable=False),
    sa.Column("candidate_version", sa.String(64), sa.ForeignKey("model_versions.version"), nullable=False),
    sa.Column("plan", sa.JSON(), nullable=False),  # RolloutPlan.to_dict()
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("current_stage", sa.String(32), nullable=False),
    sa.Column("stage_started_on", sa.Date(), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    # Bumped by every recorded decision: a writer whose read is older is refused (safeguard.rollout.state).
    sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
    sa.CheckConstraint(sql_in("status", ROLLOUT_STATUSES), name="ck_rollouts_status"),
)

# The audit log of every rollout decision; the stage set by an event applies to score days after event_time.
rollout_events = sa.Table(
    "rollout_events",
    metadata,
    sa.Column("event_id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("rollout_id", sa.String(64), sa.ForeignKey("rollouts.rollout_id"), nullable=False),
    sa.Column("event_time", sa.DateTime(), nullable=False),  # naive UTC
    sa.Column("score_date", sa.Date(), nullable=True),  # the day an automatic evaluation looked at
    sa.Column("from_stage", sa.String(32), nullable=True),
    sa.Column("to_stage", sa.String(32), nullable=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),  # a person, or 'policy' for automatic decisions
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("metrics", sa.JSON(), nullable=True),
    sa.CheckConstraint(sql_in("decision", ROLLOUT_DECISIONS), name="ck_rollout_events_decision"),
    sa.Index("ix_rollout_events_rollout_time", "rollout_id", "event_time"),
)

# One row per offline backtest of a candidate against the champion (issue 15), written by
# safeguard.rollout.backtest_store; `rollout start` re-judges the latest one under the plan's backtest rule.
rollout_backtests = sa.Table(
    "rollout_backtests",
    metadata,
    sa.Column("backtest_id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("candidate_version", sa.String(64), sa.ForeignKey("model_versions.version"), nullable=False),
    sa.Column("champion_version", sa.String(64), sa.ForeignKey("model_versions.version"), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),  # naive UTC
    sa.Column("first_day", sa.Date(), nullable=False),  # first and last feature day replayed
    sa.Column("last_day", sa.Date(), nullable=False),
    sa.Column("days", sa.Integer(), nullable=False),
    sa.Column("judged_days", sa.Integer(), nullable=False),  # matured, out of the candidate's fit, champion scored
    sa.Column("verdict", sa.String(32), nullable=False),  # pass / fail / insufficient_data under `rule`
    sa.Column("summary", sa.JSON(), nullable=False),  # pooled figures with intervals (backtest.pooled_summary)
    sa.Column("per_day", sa.JSON(), nullable=False),  # one entry per replayed day: status, alerts, outcomes
    sa.Column("rule", sa.JSON(), nullable=False),  # BacktestRule.to_dict()
    sa.CheckConstraint("verdict IN ('pass', 'fail', 'insufficient_data')", name="ck_rollout_backtests_verdict"),
    sa.Index("ix_rollout_backtests_models", "candidate_version", "champion_version", "created_at"),
)

# What reviewers decided on queued accounts (issue 17), written by `safeguard review decide`; the queue reads the
# latest decision per account: confirmed accounts are never queued again, cleared ones not within the cool-down.
review_decisions = sa.Table(
    "review_decisions",
    metadata,
    sa.Column("decision_id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(32), nullable=False),
    sa.Column("score_date", sa.Date(), nullable=False),  # the queue day of the case
    sa.Column("account_id", sa.String(64), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reviewer", sa.String(128), nullable=False),
    sa.Column("decided_at", sa.DateTime(), nullable=False),  # naive UTC
    sa.Column("probability", sa.Float(), nullable=False),  # the queued probability the reviewer saw
    sa.Column("note", sa.Text(), nullable=True),
    sa.CheckConstraint("decision IN ('confirmed', 'cleared')", name="ck_review_decisions_decision"),
    sa.Index("ix_review_decisions_account", "account_id", "decided_at"),
)
