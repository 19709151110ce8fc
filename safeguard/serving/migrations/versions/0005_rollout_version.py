"""rollouts.version: a counter every recorded decision bumps, so decisions on one rollout are serialized.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

An operator's abort could lose a race with the daily automatic decision: both read the rollout, both passed
their checks, and the later write overwrote the abort (issue 16 §5). ``RolloutStore.append`` now locks the row,
checks the version it read and writes ``version + 1`` with a compare-and-set; existing rollouts start at 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollouts") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("rollouts") as batch:
        batch.drop_column("version")
