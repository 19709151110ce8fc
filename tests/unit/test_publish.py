"""Publishing served risk scores to the serving database (SQLite here; PostgreSQL in tests/integration) and the
Parquet exports (local folder and S3 on moto's server over real HTTP)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date, datetime

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from safeguard.landing import ObjectStore
from safeguard.serving.db import current_revision, engine_for, upgrade
from safeguard.serving.exports import day_folder, export_day, read_export
from safeguard.serving.publish import PublishError, publish_day, published_day_sha256
from safeguard.serving.schema import (
    account_risk_current,
    account_risk_history,
    metadata,
    published_days,
    risk_reasons,
)
from tests.served_factory import served_day

D1, D2, D3 = "2026-09-01", "2026-09-02", "2026-09-03"


@pytest.fixture
def engine(serving_engine):
    return serving_engine


def current_by_account(engine) -> dict[str, tuple]:
    c = account_risk_current.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.account_id, c.score_date, c.probability, c.tier)).all()
    return {r.account_id: (r.score_date.isoformat(), r.probability, r.tier) for r in rows}


def history_days(engine) -> dict[str, int]:
    h = account_risk_history.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(h.score_date, sa.func.count()).group_by(h.score_date)).all()
    return {d.isoformat(): n for d, n in rows}


def test_upgrade_brings_a_fresh_database_to_head_with_every_table(engine):
    from alembic.script import ScriptDirectory

    from safeguard.serving.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(engine) == head
    tables = set(sa.inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables
    upgrade(engine)  # a second upgrade is a no-op
    assert current_revision(engine) == head


def test_published_rows_are_the_served_rows(engine):
    served = served_day(D1, 400, seed=1)
    result = publish_day(engine, served, D1, published_at=datetime(2026, 9, 2, 2, 0, 5))

    assert result.rows == 400 and result.current_moved and not result.replaced
    assert sum(result.tier_counts.values()) == 400
    h = account_risk_history.c
    with engine.connect() as conn:
        stored = conn.execute(sa.select(account_risk_history).order_by(h.account_id)).mappings().all()
        reasons = (
            conn.execute(sa.select(risk_reasons).order_by(risk_reasons.c.account_id, risk_reasons.c.rank))
            .mappings()
            .all()
        )
        log = conn.execute(sa.select(published_days)).mappings().one()
    expected = served.sort_by("account_id").to_pylist()
    assert [r["account_id"] for r in stored] == [e["account_id"] for e in expected]
    assert [r["probability"] for r in stored] == [e["probability"] for e in expected]
    assert [r["arm"] for r in stored] == [e["arm"] for e in expected]
    assert [r["model_version"] for r in stored] == [e["served_model_version"] for e in expected]
    assert [r["reasons"] for r in stored] == [json.loads(e["reasons_json"]) for e in expected]
    assert {r["published_at"] for r in stored} == {datetime(2026, 9, 2, 2, 0, 5)}

    # risk_reasons is the long form of the JSON: same items, ranks 1..n in the JSON's order.
    long_form = [
        (e["account_id"], rank, item["feature"], item["value"], item["contribution"], item["reason"])
        for e in expected
        for rank, item in enumerate(json.loads(e["reasons_json"]), start=1)
    ]
    assert [
        (r["account_id"], r["rank"], r["feature"], r["feature_value"], r["contribution"], r["reason_text"])
        for r in reasons
    ] == long_form
    assert any(value is None for _, _, _, value, _, _ in long_form)  # a missing feature value stays null
    assert result.reason_rows == len(long_form) > 0

    assert log["rows"] == 400 and log["content_sha256"] == result.content_sha256
    versions = pc.value_counts(served.column("served_model_version"))
    assert (
        log["model_versions"]
        == result.model_versions
        == dict(zip(versions.field("values").to_pylist(), versions.field("counts").to_pylist()))
    )
    assert published_day_sha256(engine, D1) == result.content_sha256


def test_republishing_a_day_replaces_it_exactly(engine):
    first = publish_day(engine, served_day(D1, 300, seed=1), D1)
    other = publish_day(engine, served_day(D1, 250, seed=9, first=100), D1)  # other accounts, other scores
    again = publish_day(engine, served_day(D1, 300, seed=1), D1)

    assert other.replaced and again.replaced
    assert other.content_sha256 != first.content_sha256
    assert again.content_sha256 == first.content_sha256 == published_day_sha256(engine, D1)
    assert history_days(engine) == {D1: 300}
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(risk_reasons)).scalar() == first.reason_rows
        assert conn.execute(sa.select(sa.func.count()).select_from(published_days)).scalar() == 1
    assert len(current_by_account(engine)) == 300


def test_current_moves_forward_only_and_keeps_each_accounts_latest_row(engine):
    publish_day(engine, served_day(D2, 100, seed=2), D2)  # accounts 0..99
    older = publish_day(engine, served_day(D1, 150, seed=1), D1)  # a backfill: accounts 0..149, older day
    newest = publish_day(engine, served_day(D3, 80, seed=3, first=20), D3)  # accounts 20..99 only

    assert not older.current_moved and newest.current_moved
    assert older.current_rows_changed == 50  # only the accounts D2 does not hold came in
    current = current_by_account(engine)
    assert len(current) == 150
    days = {account: row[0] for account, row in current.items()}
    assert {days[f"acct-{i:07d}"] for i in range(20)} == {D2}  # absent from D3: keep their D2 row
    assert {days[f"acct-{i:07d}"] for i in range(20, 100)} == {D3}
    assert {days[f"acct-{i:07d}"] for i in range(100, 150)} == {D1}  # only ever scored on D1
    d3 = served_day(D3, 80, seed=3, first=20).to_pylist()
    assert all(current[r["account_id"]][1] == r["probability"] for r in d3)
    assert history_days(engine) == {D1: 150, D2: 100, D3: 80}


def test_republishing_the_newest_day_without_an_account_restores_its_previous_row(engine):
    publish_day(engine, served_day(D1, 50, seed=1), D1)
    publish_day(engine, served_day(D2, 60, seed=2), D2)  # accounts 0..59; 50..59 are new on D2
    result = publish_day(engine, served_day(D2, 45, seed=2), D2)  # D2 again, accounts 0..44 only

    current = current_by_account(engine)
    assert result.replaced and result.current_moved
    assert len(current) == 50  # 50..59 existed only on D2's first version: gone with it
    assert {current[f"acct-{i:07d}"][0] for i in range(45)} == {D2}
    assert {current[f"acct-{i:07d}"][0] for i in range(45, 50)} == {D1}
    d1 = {r["account_id"]: r["probability"] for r in served_day(D1, 50, seed=1).to_pylist()}
    assert all(current[f"acct-{i:07d}"][1] == d1[f"acct-{i:07d}"] for i in range(45, 50))


def _spoil(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    return table.set_column(
        table.schema.get_field_index(column), column, pa.array(values, table.schema.field(column).type)
    )


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("tier", "severe", "tier not in"),
        ("arm", "canary", "arm not in"),
        ("probability", float("nan"), "probability outside [0, 1]"),
        ("probability", 1.5, "probability outside [0, 1]"),
        ("score_date", date(2026, 9, 2), "dated another day than 2026-09-01"),
        ("account_id", "acct-0000001", "duplicate account_id"),
        ("account_id", None, "null account_id"),
        ("reasons_json", '[{"feature": "x", "value": 1, "contribution": 0.5, "reason": "r"}', "not a JSON list"),
        ("reasons_json", '{"feature": "x"}', "not a JSON list"),
        ("reasons_json", '[{"feature": "x", "value": 1, "reason": "r"}]', "lacking 'contribution'"),
        (
            "reasons_json",
            json.dumps([{"feature": "x", "value": 1, "contribution": 0.1, "reason": "r"}] * 5),
            "more than 4 reasons",
        ),
        (
            "reasons_json",
            json.dumps([{"feature": "f" * 129, "value": 1, "contribution": 0.1, "reason": "r"}]),
            "longer than 128 characters",
        ),
    ],
)
def test_bad_rows_are_refused_with_the_day_and_account_and_nothing_changes(engine, column, value, message):
    good = publish_day(engine, served_day(D1, 20, seed=1), D1)
    bad = _spoil(served_day(D1, 20, seed=5), column, 3, value)

    with pytest.raises(PublishError, match="served_risk_scores for 2026-09-01") as err:
        publish_day(engine, bad, D1)

    assert message in str(err.value)
    if column not in ("account_id",):
        assert "acct-0000003" in str(err.value)
    assert published_day_sha256(engine, D1) == good.content_sha256


def test_a_missing_column_is_named(engine):
    with pytest.raises(PublishError, match=r"missing column\(s\) \['tier'\]"):
        publish_day(engine, served_day(D1, 5).drop_columns(["tier"]), D1)


def test_a_pandas_frame_and_an_empty_day_publish_too(engine):
    result = publish_day(engine, served_day(D1, 30, seed=1).to_pandas(), D1)
    assert result.rows == 30
    empty = publish_day(engine, served_day(D2, 0), D2)
    assert empty.rows == 0 and empty.current_moved and empty.current_rows_changed == 0
    assert history_days(engine) == {D1: 30}
    assert len(current_by_account(engine)) == 30


def test_sqlite_readers_see_one_whole_day_at_a_time_during_a_publish(engine):
    """A second connection (a thread) reads current in a loop while days that change every row are published:
    every read sees exactly one score_date, the full count and that day's own scores. Never a mix."""
    n = 3000
    publish_day(engine, served_day(D1, n, seed=1), D1)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    observed, errors, done = [], [], threading.Event()
    c = account_risk_current.c
    query = sa.select(
        sa.func.count(), sa.func.count(sa.distinct(c.score_date)), sa.func.min(c.score_date), sa.func.sum(c.probability)
    )

    def read_loop():
        reader = engine_for(str(engine.url))
        try:
            while not done.is_set():
                with reader.connect() as conn:
                    observed.append(tuple(conn.execute(query).one()))
        except Exception as e:  # noqa: BLE001 (any failure is surfaced in the main thread)
            errors.append(e)
        finally:
            reader.dispose()

    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        for day, seed in ((D2, 2), (D3, 3)):
            publish_day(engine, served_day(day, n, seed=seed), day)
    finally:
        done.set()
        thread.join()

    assert not errors and observed
    sums = {
        d: pytest.approx(sum(served_day(d, n, seed=s).column("probability").to_pylist()))
        for d, s in ((D1, 1), (D2, 2), (D3, 3))
    }
    for count, distinct_days, day, total in observed:
        assert (count, distinct_days) == (n, 1)
        assert total == sums[day.isoformat()]


# --- exports ----------------------------------------------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def export_store(request, tmp_path) -> ObjectStore:
    if request.param == "local":
        return ObjectStore(str(tmp_path / "exports"))
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"exports-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return ObjectStore(f"s3://{bucket}/risk", s3_endpoint_url=endpoint)


def test_export_writes_parquet_then_success_and_replaces_the_day(export_store):
    first = export_day(export_store, served_day(D1, 120, seed=1), D1, published_at=datetime(2026, 9, 2, 2, 0))
    assert first.rows == 120 and first.uri.endswith("risk_scores/date=2026-09-01")
    assert export_store.list(day_folder(D1)) == ["_SUCCESS", "part-00000.parquet"]
    table = read_export(export_store, D1)
    assert table.column_names == [
        "account_id",
        "score_date",
        "probability",
        "tier",
        "model_version",
        "arm",
        "reasons",
        "published_at",
    ]
    assert table.column("account_id").to_pylist() == sorted(
        served_day(D1, 120, seed=1).column("account_id").to_pylist()
    )

    second = export_day(export_store, served_day(D1, 70, seed=4), D1)
    assert second.rows == 70
    again = read_export(export_store, D1)
    assert again.num_rows == 70
    assert (
        again.column("probability").to_pylist()
        == served_day(D1, 70, seed=4).sort_by("account_id").column("probability").to_pylist()
    )
    assert export_store.list(day_folder(D1)) == ["_SUCCESS", "part-00000.parquet"]


def test_an_export_without_its_marker_is_incomplete(export_store):
    export_day(export_store, served_day(D2, 10), D2)
    export_store.delete_prefix(day_folder(D2))
    with pytest.raises(FileNotFoundError, match="_SUCCESS"):
        read_export(export_store, D2)


def test_a_bad_day_is_not_exported(export_store):
    with pytest.raises(PublishError, match="tier not in"):
        export_day(export_store, _spoil(served_day(D1, 10), "tier", 0, "x"), D1)
    assert export_store.list(day_folder(D1)) == []
