"""The read-only role of downstream readers (PostgreSQL only; SQLite has no roles, so a no-op there).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Role name and password come from the settings (``SERVING_READONLY_ROLE``, default ``safeguard_reader``;
``SERVING_READONLY_PASSWORD``). With a password the role can log in; without one it is a NOLOGIN group role to
grant to people. It gets CONNECT on the database, USAGE on the schema and SELECT on the tables listed below, and
nothing else: no INSERT, UPDATE, DELETE, TRUNCATE, and no access to ``alembic_version``.

Values never enter the SQL text: they are bound into two transaction-local settings, and the server quotes them
itself (``format('%I', ...)`` / ``format('%L', ...)``) inside the DO block.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from safeguard.config import settings

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen with this revision: the risk tables, and the registry and rollout log that explain them.
READABLE_TABLES = (
    "account_risk_current",
    "account_risk_history",
    "risk_reasons",
    "published_days",
    "model_versions",
    "rollouts",
    "rollout_events",
)

_GRANT = """
DO $$
DECLARE
  reader text := current_setting('safeguard.readonly_role');
  secret text := current_setting('safeguard.readonly_password');
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = reader) THEN
    IF NOT (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
      RAISE EXCEPTION 'cannot create the read-only role "%": the migrating role "%" lacks CREATEROLE; create the '
        'role once by hand (docs/risk-tables.md) or set SERVING_READONLY_ROLE to an existing role', reader, current_user;
    END IF;
    IF secret = '' THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', reader);
    ELSE
      EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', reader, secret);
    END IF;
  ELSIF secret <> '' THEN
    EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', reader, secret);
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), reader);
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), reader);
  EXECUTE format('GRANT SELECT ON TABLE {tables} TO %I', reader);
END $$
"""


def _grant_sql() -> str:
    return _GRANT.replace("{tables}", ", ".join(READABLE_TABLES))


def _run_plpgsql(bind: sa.Connection, block: str) -> None:
    """Run a parameterless DO block on the migration's own connection and transaction, through the driver
    directly: psycopg then leaves the block's ``%I`` / ``%L`` format specifiers alone."""
    bind.connection.driver_connection.execute(block)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    s = settings()
    bind.execute(
        sa.text(
            "SELECT set_config('safeguard.readonly_role', :role, true), "
            "set_config('safeguard.readonly_password', :secret, true)"
        ),
        {"role": s.serving_readonly_role, "secret": s.serving_readonly_password or ""},
    )
    _run_plpgsql(bind, _grant_sql())


def downgrade() -> None:
    """Revoke what upgrade granted; the role itself stays (it is cluster-wide and may serve other databases)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    reader = settings().serving_readonly_role
    bind.execute(sa.text("SELECT set_config('safeguard.readonly_role', :role, true)"), {"role": reader})
    _run_plpgsql(
        bind,
        "DO $$ DECLARE reader text := current_setting('safeguard.readonly_role'); BEGIN "
        f"IF EXISTS (SELECT FROM pg_roles WHERE rolname = reader) THEN "
        f"EXECUTE format('REVOKE SELECT ON TABLE {', '.join(READABLE_TABLES)} FROM %I', reader); "
        "EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM %I', current_schema(), reader); "
        "EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM %I', current_database(), reader); "
        "END IF; END $$",
    )
