#!/usr/bin/env bash
# Start the machine's PostgreSQL 15 and create the test role and database (idempotent).
# Prints the SQLAlchemy URL of the test database on stdout; prints nothing when no PostgreSQL is installed.
set -euo pipefail
command -v pg_ctlcluster >/dev/null 2>&1 || { echo "postgres-up: no PostgreSQL installed" >&2; exit 0; }
PGVER="${PGVER:-15}"
if ! pg_lsclusters -h 2>/dev/null | awk -v v="$PGVER" '$1==v && $2=="main"' | grep -q .; then
  pg_createcluster "$PGVER" main >&2
fi
pg_ctlcluster "$PGVER" main start >&2 2>/dev/null || true
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "postgres-up: server did not start" >&2; exit 1; }

as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else su postgres -c "$(printf '%q ' "$@")"; fi; }
as_postgres psql -q -v ON_ERROR_STOP=1 -d postgres >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'safeguard') THEN
    CREATE ROLE safeguard LOGIN PASSWORD 'safeguard' CREATEDB CREATEROLE;
  END IF;
END $$;
SQL
as_postgres psql -q -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='safeguard_test'" | grep -q 1 \
  || as_postgres createdb -O safeguard safeguard_test >&2
echo "postgresql+psycopg://safeguard:safeguard@127.0.0.1:5432/safeguard_test"
