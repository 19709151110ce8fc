"""Read-only access to the risk tables (issue 8 §4).

PostgreSQL: the read-only role the migrations create can read every risk table and write none, nor read
``alembic_version``: tests/integration/test_publish_postgres.py::test_the_readonly_role_can_read_and_cannot_write.

SQLite has no roles; docs/risk-tables.md tells readers to open the file with ``?mode=ro``. Here: the reader
(``RiskReader``) works over such a connection, and every kind of write through it is refused by SQLite itself.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from safeguard.serving.db import engine_for, upgrade
from safeguard.serving.publish import publish_day
from safeguard.serving.reader import RiskReader
from tests.served_factory import served_day

DAY = "2026-09-02"


def test_a_sqlite_reader_opened_read_only_reads_and_cannot_write(tmp_path):
    path = tmp_path / "serving.db"
    writer = engine_for(f"sqlite:///{path}")
    upgrade(writer)
    publish_day(writer, served_day(DAY, 40, seed=3), DAY)
    writer.dispose()

    reader = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        top = RiskReader(reader).top(limit=3)
        assert len(top) == 3 and top[0].probability >= top[-1].probability
        for statement in (
            "UPDATE account_risk_current SET tier = 'low'",
            "DELETE FROM risk_reasons",
            (
                "INSERT INTO published_days (score_date, published_at, rows, content_sha256, model_versions) "
                "VALUES ('2030-01-01', '2030-01-01 00:00:00', 0, 'x', '{}')"
            ),
            "CREATE TABLE sneaky (x INTEGER)",
        ):
            with pytest.raises(sa.exc.OperationalError, match="readonly database"), reader.begin() as conn:
                conn.exec_driver_sql(statement)
    finally:
        reader.dispose()
    with engine_for(f"sqlite:///{path}").connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM account_risk_history").scalar() == 40
