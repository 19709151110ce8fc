"""model_versions.kind: a trained LightGBM model or the transparent rules score serving as cold-start champion.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Until a trained model passes the quality gate, the rules score (safeguard.rules_model) serves as champion, so
downstream teams always get a risk table; ``kind`` tells the two apart in the registry. Existing rows are
trained models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="lightgbm"))
        batch.create_check_constraint("ck_model_versions_kind", "kind IN ('lightgbm', 'rules')")


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_constraint("ck_model_versions_kind", type_="check")
        batch.drop_column("kind")
