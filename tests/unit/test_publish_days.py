"""A run's days published and exported in order (safeguard.serving.daily), and the rule that an empty served day
is never published over a published one."""

from __future__ import annotations

import duckdb
import pytest
import sqlalchemy as sa

from safeguard.landing import ObjectStore
from safeguard.rollout.served import ensure_served_table
from safeguard.serving.daily import EmptyServedDayError, publish_served_days
from safeguard.serving.db import engine_for, upgrade
from safeguard.serving.schema import account_risk_history, published_days
from safeguard.vocabulary import SERVED_TABLE
from tests.served_factory import served_day

DAYS = ["2026-09-02", "2026-09-03", "2026-09-04"]


@pytest.fixture
def setting(tmp_path):
    con = duckdb.connect()
    ensure_served_table(con)
    for seed, day in enumerate(DAYS[:2], start=1):
        day_rows = served_day(day, 40, seed=seed)  # noqa: F841 (read by DuckDB by name)
        con.execute(f"INSERT INTO {SERVED_TABLE} BY NAME SELECT * FROM day_rows")
    engine = engine_for(f"sqlite:///{tmp_path / 'serving.db'}")
    upgrade(engine)
    yield con, engine, ObjectStore(str(tmp_path / "exports"))
    engine.dispose()
    con.close()


def _published(engine) -> dict[str, int]:
    with engine.connect() as conn:
        days = [str(d) for d in conn.execute(sa.select(published_days.c.score_date)).scalars()]
        rows = conn.execute(sa.select(sa.func.count()).select_from(account_risk_history)).scalar_one()
    return {"days": sorted(days), "rows": rows}


def test_days_are_published_and_exported_in_order(setting):
    con, engine, store = setting
    logged = []
    done = publish_served_days(con, engine, store, DAYS[:2], log=logged.append)
    assert [d.published.rows for d in done] == [40, 40]
    assert [d.exported.uri.rstrip("/").split("=")[-1] for d in done] == DAYS[:2]
    assert _published(engine) == {"days": DAYS[:2], "rows": 80}
    assert logged[0].startswith(f"{DAYS[0]}: published 40 accounts")


def test_an_empty_served_day_is_refused_and_nothing_of_it_is_published(setting):
    con, engine, store = setting
    publish_served_days(con, engine, store, DAYS[:1])
    with pytest.raises(EmptyServedDayError, match=f"{DAYS[2]}: no rows in {SERVED_TABLE}"):
        publish_served_days(con, engine, store, [DAYS[1], DAYS[2]])
    assert _published(engine) == {"days": DAYS[:2], "rows": 80}  # the day before it was published, not the empty one
