"""The serving database's tables as SQLAlchemy Core metadata: the one module that spells out their columns.

Changing a table here needs a migration in ``safeguard/serving/migrations/versions`` too; the migrations, not
``metadata.create_all``, build real databases.
"""

from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa

from safeguard.vocabulary import (
    CHAMPION,
    MODEL_KINDS,
    MODEL_STATUSES,
    ROLLOUT_DECISIONS,
    ROLLOUT_STATUSES,
    TRAINED_KIND,
    sql_in,
)

metadata = sa.MetaData()

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

# --- Risk tables for downstream teams (design §3.5; columns documented in docs/risk-tables.md) -----------------

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

RISK_TABLES = (account_risk_current, account_risk_history, risk_reasons, published_days)
# What the read-only role may SELECT: the risk tables, and the registry and rollout log that explain them (which
# model a version is, its tier thresholds, why an account was in the candidate arm), and the review queue. Never
# alembic_version, and never the reviewers' decisions.
READABLE_TABLES = (*RISK_TABLES, model_versions, rollouts, rollout_events, review_queue)


# --- The same columns as Arrow, for the writers that build a day's rows before they reach the database ----------

_ARROW_TYPES = (  # in order: a subclass before its base (Text is a String)
    (sa.JSON, pa.string()),  # the JSON text, as served
    (sa.String, pa.string()),
    (sa.Date, pa.date32()),
    (sa.DateTime, pa.timestamp("us")),
    (sa.Float, pa.float64()),
    (sa.SmallInteger, pa.int16()),
    (sa.Integer, pa.int64()),
)


def arrow_schema(table: sa.Table, *, exclude: tuple[str, ...] = ()) -> pa.Schema:
    """``table``'s columns (but ``exclude``) as an Arrow schema, in table order, nullable as declared."""
    fields = []
    for column in table.columns:
        if column.name in exclude:
            continue
        arrow = next((t for kind, t in _ARROW_TYPES if isinstance(column.type, kind)), None)
        if arrow is None:
            raise TypeError(f"{table.name}.{column.name}: no Arrow type for {column.type!r}")
        fields.append(pa.field(column.name, arrow, nullable=bool(column.nullable)))
    return pa.schema(fields)
