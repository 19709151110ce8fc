"""safeguard.content_hash: order-independent, type-aware, the same over DuckDB, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa
import pytest
import sqlalchemy as sa

from safeguard.content_hash import (
    ContentHashError,
    arrow_sha256,
    canonical_rows,
    database_digests,
    list_tables,
    table_digest,
)
from tests.pg_scratch import scratch_database

ROWS = [
    (1, 0.1, "a", date(2026, 9, 1), datetime(2026, 9, 1, 10, 0, 0, 123000), True, '[{"f": 1}]'),
    (2, -0.0, None, None, None, False, "[]"),
    (3, 1e-7, "", date(2026, 9, 2), datetime(2026, 9, 2), None, None),
]
DDL = (
    "CREATE TABLE t (id INTEGER, score DOUBLE PRECISION, name VARCHAR(20), day DATE, seen_at TIMESTAMP, flag BOOLEAN,"
    " reasons {json})"
)


def _fill(conn, json_type: str, rows=ROWS) -> None:
    conn.exec_driver_sql(DDL.format(json=json_type))
    conn.execute(
        sa.text("INSERT INTO t VALUES (:id, :score, :name, :day, :seen_at, :flag, :reasons)"),
        [dict(zip(["id", "score", "name", "day", "seen_at", "flag", "reasons"], r)) for r in rows],
    )


@pytest.fixture
def duck():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA s")
    con.execute(DDL.format(json="VARCHAR").replace("TABLE t", "TABLE s.t"))
    con.executemany("INSERT INTO s.t VALUES (?, ?, ?, ?, ?, ?, ?)", [list(r) for r in ROWS])
    yield con
    con.close()


def test_row_and_column_order_do_not_change_the_hash(duck):
    duck.execute(
        "CREATE TABLE s.shuffled AS SELECT reasons, flag, seen_at, day, name, score, id FROM s.t ORDER BY id DESC"
    )
    assert table_digest(duck, "s.shuffled").sha256 == table_digest(duck, "s.t").sha256
    digest = table_digest(duck, "s.t")
    assert digest.rows == 3 and digest.columns == ("day", "flag", "id", "name", "reasons", "score", "seen_at")


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE s.t SET score = 0.1 + 1e-16 WHERE id = 1",  # the last bit of a float
        "UPDATE s.t SET name = NULL WHERE id = 3",  # '' is not NULL
        "UPDATE s.t SET seen_at = seen_at + INTERVAL 1 MICROSECOND WHERE id = 1",
        "INSERT INTO s.t SELECT * FROM s.t WHERE id = 2",  # a duplicate row counts
        "DELETE FROM s.t WHERE id = 3",
    ],
)
def test_any_changed_added_or_removed_value_changes_the_hash(duck, change):
    before = table_digest(duck, "s.t").sha256
    duck.execute(change)
    assert table_digest(duck, "s.t").sha256 != before


def test_values_of_different_kinds_never_collide():
    as_int = pa.table({"v": pa.array([1], pa.int64())})
    as_float = pa.table({"v": pa.array([1.0])})
    as_text = pa.table({"v": pa.array(["1"])})
    as_bool = pa.table({"v": pa.array([True])})
    null_text = pa.table({"v": pa.array([None], pa.string())})
    none_text = pa.table({"v": pa.array(["None"])})
    empty_text = pa.table({"v": pa.array([""])})
    hashes = {arrow_sha256(t) for t in (as_int, as_float, as_text, as_bool, null_text, none_text, empty_text)}
    assert len(hashes) == 7
    # Framing: cells that concatenate alike in two ways stay apart.
    assert arrow_sha256(pa.table({"a": ["ab"], "b": ["c"]})) != arrow_sha256(pa.table({"a": ["a"], "b": ["bc"]}))
    # Integer widths are one kind, as are float widths; an aware timestamp is its UTC instant.
    assert arrow_sha256(pa.table({"v": pa.array([7], pa.int8())})) == arrow_sha256(pa.table({"v": pa.array([7])}))
    aware = pa.array([datetime(2026, 9, 1, 12, tzinfo=UTC)], pa.timestamp("s", tz="UTC"))
    naive = pa.array([datetime(2026, 9, 1, 12)], pa.timestamp("us"))
    assert canonical_rows(pa.table({"t": aware})) == canonical_rows(pa.table({"t": naive}))


def test_exclusions_leave_columns_out_and_must_name_real_columns(duck):
    full = table_digest(duck, "s.t")
    duck.execute("UPDATE s.t SET seen_at = TIMESTAMP '2030-01-01'")
    without = table_digest(duck, "s.t", exclude=["seen_at"])
    assert without.excluded == ("seen_at",) and "seen_at" not in without.columns
    assert without.sha256 != full.sha256
    duck.execute("UPDATE s.t SET seen_at = TIMESTAMP '2031-01-01'")
    assert table_digest(duck, "s.t", exclude=["seen_at"]).sha256 == without.sha256
    with pytest.raises(ContentHashError, match=r"s\.t: cannot exclude column\(s\) \['published_at'\]"):
        table_digest(duck, "s.t", exclude=["published_at"])
    with pytest.raises(ContentHashError, match=r"\['s\.gone'\] that the database does not have"):
        database_digests(duck, {"s.gone": ["x"]})
    with pytest.raises(ContentHashError, match="no table or view 's.nothing'"):
        table_digest(duck, "s.nothing")


def test_the_same_rows_hash_alike_in_duckdb_sqlite_and_postgresql(duck, tmp_path, postgres_url):
    expected = table_digest(duck, "s.t").sha256
    sqlite = sa.create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    with sqlite.begin() as conn:
        _fill(conn, "JSON")
    assert list_tables(sqlite) == ["t"]
    assert table_digest(sqlite, "t").sha256 == expected
    with scratch_database(postgres_url, "content_hash") as scratch:
        pg = sa.create_engine(scratch.url)
        try:
            with pg.begin() as conn:
                _fill(conn, "JSON")
            assert table_digest(pg, "t").sha256 == expected
            with pg.begin() as conn:
                conn.exec_driver_sql("DELETE FROM t")
            empty = table_digest(pg, "t")
            assert empty.rows == 0 and empty.sha256 != expected
        finally:
            pg.dispose()
    sqlite.dispose()
    assert list_tables(duck) == ["s.t"]
