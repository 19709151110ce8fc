"""Raw days written for the Spark target (safeguard.spark_raw): a day's file is replaced whole, an emptied day loses
its file, every folder carries the table's schema, and a read-only warehouse is enough."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest

from safeguard.contract import SOURCES
from safeguard.landing import LandingZone
from safeguard.spark_raw import SCHEMA_FILE, export_raw_days, export_whole_tables, land_days_for_spark, main
from safeguard.warehouse import ensure_raw_schema
from tests.landing_factory import write_landing

DAYS = ["2026-09-01", "2026-09-02"]


@pytest.fixture
def warehouse(tmp_path):
    zone = write_landing(LandingZone(str(tmp_path / "landing")), DAYS, rows=12)
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_raw_schema(con)
        for source in SOURCES:
            land_days_for_spark(con, zone, tmp_path / "raw", source, DAYS)
    return path


def test_each_landing_day_is_one_file_with_the_raw_tables_rows_and_columns(warehouse, tmp_path):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for source in SOURCES:
            folder = tmp_path / "raw" / source
            columns = [r[0] for r in con.execute(f"DESCRIBE {SOURCES[source].raw_table}").fetchall()]
            assert pq.read_schema(folder / SCHEMA_FILE).names == columns
            assert pq.read_metadata(folder / SCHEMA_FILE).num_rows == 0
            for day in DAYS:
                written = pq.read_table(folder / f"{day}.parquet")
                expected = con.execute(
                    f"SELECT count(*) FROM {SOURCES[source].raw_table} WHERE _partition_date = CAST(? AS DATE)", [day]
                ).fetchone()[0]
                assert written.num_rows == expected > 0
                assert {d.isoformat() for d in written.column("_partition_date").to_pylist()} == {day}


def test_a_day_written_again_is_replaced_and_an_emptied_day_loses_its_file(warehouse, tmp_path):
    raw = tmp_path / "raw"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("DELETE FROM raw.usage_events WHERE _partition_date = DATE '2026-09-01' AND event_id LIKE '%1'")
        left = con.execute(
            "SELECT count(*) FROM raw.usage_events WHERE _partition_date = DATE '2026-09-01'"
        ).fetchone()[0]
        export_raw_days(con, raw, "usage_events", ["2026-09-01"])
        assert pq.read_metadata(raw / "usage_events" / "2026-09-01.parquet").num_rows == left
        con.execute("DELETE FROM raw.usage_events WHERE _partition_date = DATE '2026-09-02'")
        [day] = export_raw_days(con, raw, "usage_events", ["2026-09-02"])
    assert day.rows == 0 and not (raw / "usage_events" / "2026-09-02.parquet").exists()
    assert not [p for p in (raw / "usage_events").iterdir() if p.name.startswith(".")]  # no temporary file left


def test_review_labels_missing_from_the_warehouse_are_written_empty_with_their_columns(tmp_path):
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        assert export_whole_tables(con, tmp_path / "raw") == {"review_labels": 0}
    schema = pq.read_schema(tmp_path / "raw" / "review_labels" / SCHEMA_FILE)
    assert schema.names == ["decision_id", "account_id", "case_id", "confirmed_at"]


def test_the_command_writes_every_landed_day_from_a_read_only_warehouse(warehouse, tmp_path, capsys):
    assert main(["--warehouse", str(warehouse), "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("usage_events: 2 days, 24 rows")
    assert sorted(p.name for p in (tmp_path / "out" / "accounts").iterdir()) == [
        "2026-09-01.parquet",
        "2026-09-02.parquet",
        SCHEMA_FILE,
    ]
