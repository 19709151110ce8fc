"""The serving database's tables, in two rooms: the state store (``state_tables``: the registry, the rollouts and
their log, the backtests, the reviewers' decisions) and the risk tables downstream teams read (``risk_tables``),
on one ``metadata``. This module gathers them for whoever needs the whole database (the migrations, the
read-only role's grants) and derives the Arrow form of a table. The rollout and the registry import
``state_tables``; publishing imports ``risk_tables``.
"""

from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa

from safeguard.serving.metadata import metadata
from safeguard.serving.risk_tables import (
    RISK_TABLES,
    account_risk_current,
    account_risk_history,
    published_days,
    review_queue,
    risk_reasons,
)
from safeguard.serving.state_tables import (
    model_versions,
    review_decisions,
    rollout_backtests,
    rollout_events,
    rollouts,
)

__all__ = [
    "READABLE_TABLES",
    "RISK_TABLES",
    "account_risk_current",
    "account_risk_history",
    "arrow_schema",
    "metadata",
    "model_versions",
    "published_days",
    "review_decisions",
    "review_queue",
    "risk_reasons",
    "rollout_backtests",
    "rollout_events",
    "rollouts",
]

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
