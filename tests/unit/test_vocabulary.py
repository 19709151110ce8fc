"""The shared vocabulary (safeguard.vocabulary) is the one source: the places that cannot import it (dbt's vars,
the migrations that built real databases) are checked against it here."""

from __future__ import annotations

import re

import sqlalchemy as sa
import yaml

from safeguard import vocabulary
from safeguard.catalog import DBT_PROJECT_DIR
from safeguard.serving import schema
from safeguard.serving.db import engine_for, upgrade


def test_dbt_vars_default_to_the_vocabulary_label_horizon():
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["label_horizon_days"] == vocabulary.LABEL_HORIZON_DAYS
    # late evidence looks up to twice the horizon after D (safeguard.labels)
    assert project["vars"]["late_label_horizon_days"] == 2 * vocabulary.LABEL_HORIZON_DAYS


def _normal(sql: str) -> str:
    return re.sub(r"\s+", " ", str(sql)).strip()


def test_the_migrated_database_checks_the_same_values_as_the_schema(tmp_path):
    """A value added to the vocabulary without a migration would pass the metadata and fail on a real database."""
    engine = engine_for(f"sqlite:///{tmp_path / 'serving.db'}")
    upgrade(engine)
    inspector = sa.inspect(engine)
    checked = 0
    for table in schema.metadata.sorted_tables:
        declared = {
            c.name: _normal(c.sqltext) for c in table.constraints if isinstance(c, sa.CheckConstraint) and c.name
        }
        migrated = {c["name"]: _normal(c["sqltext"]) for c in inspector.get_check_constraints(table.name)}
        assert declared.items() <= migrated.items(), table.name
        checked += len(declared)
    engine.dispose()
    assert checked >= 4  # model status and kind, rollout status and decision at least


def test_sql_in_spells_a_check_condition():
    assert vocabulary.sql_in("status", vocabulary.MODEL_STATUSES) == (
        "status IN ('candidate', 'champion', 'retired', 'rejected')"
    )
    assert vocabulary.ALERT_TIERS == tuple(vocabulary.DEFAULT_TARGET_PRECISIONS)
