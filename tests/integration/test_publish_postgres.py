"""Publishing on a real PostgreSQL 15: COPY in one transaction, the read-only role, and readers that never see a
mixed day. Each test module gets its own database and role, dropped at the end."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from safeguard.serving.db import current_revision, engine_for, upgrade
from safeguard.serving.publish import publish_day, published_day_sha256
from safeguard.serving.reader import RiskReader
from safeguard.serving.schema import (
    account_risk_current,
    account_risk_history,
    metadata,
    published_days,
    risk_reasons,
)
from tests.pg_scratch import scratch_database
from tests.served_factory import served_day

pytestmark = pytest.mark.postgres

D1, D2, D3 = "2026-09-01", "2026-09-02", "2026-09-03"
READER_PASSWORD = "read 'only' %s"  # quotes and a placeholder-looking part: must survive as data


@pytest.fixture(scope="module")
def pg(postgres_url):
    """A fresh database (and read-only role) for this module, migrated to head; both dropped afterwards."""
    with scratch_database(postgres_url, "sg_publish") as scratch:
        engine = engine_for(scratch.url.render_as_string(hide_password=False))
        try:
            with pytest.MonkeyPatch.context() as env:
                env.setenv("SERVING_READONLY_ROLE", scratch.reader_role)
                env.setenv("SERVING_READONLY_PASSWORD", READER_PASSWORD)
                upgrade(engine)
            yield engine, scratch.url, scratch.reader_role
        finally:
            engine.dispose()


@pytest.fixture
def engine(pg):
    """The module's database, emptied of published days before each test."""
    engine = pg[0]
    with engine.begin() as conn:
        for table in (risk_reasons, account_risk_history, account_risk_current, published_days):
            conn.execute(sa.delete(table))
    return engine


def count(engine, table) -> int:
    with engine.connect() as conn:
        return count_in(conn, table)


def test_migrated_to_head_with_the_tables(pg):
    engine = pg[0]
    assert current_revision(engine) == "0007"
    assert set(metadata.tables) <= set(sa.inspect(engine).get_table_names())


def test_copy_publish_round_trips_and_republishing_replaces_exactly(engine):
    served = served_day(D1, 2000, seed=1)
    first = publish_day(engine, served, D1)
    assert published_day_sha256(engine, D1) == first.content_sha256
    reasons_json = {r["account_id"]: r["reasons_json"] for r in served.to_pylist()}
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(account_risk_history.c.account_id, sa.cast(account_risk_history.c.reasons, sa.Text))
        ).all()
    assert {a: text for a, text in stored} == reasons_json  # JSON text kept as served, quotes and all

    publish_day(engine, served_day(D1, 1500, seed=7, first=300), D1)
    again = publish_day(engine, served, D1)
    assert again.replaced and again.content_sha256 == first.content_sha256 == published_day_sha256(engine, D1)
    assert count(engine, account_risk_history) == 2000
    assert count(engine, risk_reasons) == first.reason_rows
    assert count(engine, account_risk_current) == 2000


def test_current_moves_forward_only(engine):
    publish_day(engine, served_day(D2, 300, seed=2), D2)
    older = publish_day(engine, served_day(D1, 400, seed=1), D1)
    assert not older.current_moved and older.current_rows_changed == 100
    c = account_risk_current.c
    with engine.connect() as conn:
        days = dict(conn.execute(sa.select(c.score_date, sa.func.count()).group_by(c.score_date)).all())
    assert days == {date(2026, 9, 2): 300, date(2026, 9, 1): 100}


def test_a_failure_inside_the_transaction_leaves_the_previous_state(engine, monkeypatch):
    from safeguard.serving import publish

    good = publish_day(engine, served_day(D1, 500, seed=1), D1)
    before = RiskReader(engine).top(limit=500)

    def fail_after_the_copies(conn, day):
        assert count_in(conn, account_risk_history) == 800  # the new rows are in, inside the transaction
        raise RuntimeError("disk full")

    monkeypatch.setattr(publish, "_move_current_forward", fail_after_the_copies)
    with pytest.raises(RuntimeError, match="disk full"):
        publish_day(engine, served_day(D1, 800, seed=2), D1)

    assert published_day_sha256(engine, D1) == good.content_sha256
    assert count(engine, risk_reasons) == good.reason_rows
    assert RiskReader(engine).top(limit=500) == before


def count_in(conn, table) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_the_readonly_role_can_read_and_cannot_write(engine, pg):
    _, url, role = pg
    publish_day(engine, served_day(D1, 50, seed=1), D1)
    reader = sa.create_engine(url.set(username=role, password=READER_PASSWORD))
    try:
        assert RiskReader(reader).top(limit=3)
        with reader.connect() as conn:
            for table in (
                "account_risk_current",
                "account_risk_history",
                "risk_reasons",
                "published_days",
                "model_versions",
                "rollouts",
                "rollout_events",
                "review_queue",
            ):
                conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
        for statement in (
            (
                "INSERT INTO published_days (score_date, published_at, rows, content_sha256, model_versions) "
                "VALUES ('2030-01-01', now(), 0, 'x', '{}')"
            ),
            "UPDATE account_risk_current SET tier = 'low'",
            "DELETE FROM risk_reasons",
            "TRUNCATE account_risk_history",
            "SELECT * FROM alembic_version",
            # reviewers' decisions are written by `safeguard review decide`, and not readable by everyone
            (
                "INSERT INTO review_decisions (case_id, score_date, account_id, decision, reviewer, decided_at, "
                "probability) VALUES ('2026-09-01#001', '2026-09-01', 'acct-0000001', 'cleared', 'x', now(), 0.5)"
            ),
            "SELECT * FROM review_decisions",
            "DELETE FROM review_queue",
            "CREATE TABLE sneaky (x int)",
        ):
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), reader.begin() as conn:
                conn.exec_driver_sql(statement)
    finally:
        reader.dispose()
    assert count(engine, account_risk_history) == 50


def test_postgres_readers_never_see_a_mixed_day(engine):
    """A second connection (a thread) reads current in a loop while days that change every row are published:
    every read sees one score_date, the full count and that day's own scores."""
    n = 20_000
    days = ((D1, 1), (D2, 2), (D3, 3))
    sums = {
        date.fromisoformat(d): pytest.approx(sum(served_day(d, n, seed=s).column("probability").to_pylist()))
        for d, s in days
    }
    publish_day(engine, served_day(D1, n, seed=1), D1)
    observed, errors, done = [], [], threading.Event()
    c = account_risk_current.c
    query = sa.select(
        sa.func.count(), sa.func.count(sa.distinct(c.score_date)), sa.func.min(c.score_date), sa.func.sum(c.probability)
    )

    def read_loop():
        try:
            with engine.connect() as conn:  # its own pooled connection, READ COMMITTED
                while not done.is_set():
                    observed.append(tuple(conn.execute(query).one()))
                    conn.commit()
        except Exception as e:  # noqa: BLE001 (any failure is surfaced in the main thread)
            errors.append(e)

    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        for day, seed in days[1:]:
            publish_day(engine, served_day(day, n, seed=seed), day)
    finally:
        done.set()
        thread.join()

    assert not errors and observed
    assert {day for *_, day, _ in observed} <= set(sums)
    for rows, distinct_days, day, total in observed:
        assert (rows, distinct_days) == (n, 1)
        assert total == sums[day]
