"""The raw tables of the Spark target (issue 18): ingestion's validated days, written as Parquet folders.

On DuckDB, ingestion (``safeguard.ingest``) judges every landing file against the contract and writes the valid
rows to ``raw.<source>`` and the rest to ``raw.quarantine``. The Spark target reads the same validated rows: this
module copies days of ``raw.<source>`` out of the warehouse into ``<root>/<source>/<day>.parquet``, one file per
landing day, and dbt's ``on-run-start`` hook (``register_raw_sources`` in dbt_project/macros/engine.sql)
registers each folder as ``raw.<source>`` on Spark. So both engines build their features from one and the same
validation, by construction: a landing day that ingestion refuses (a missing column, no ``_SUCCESS``, an unreadable
file) raises the same error here and writes nothing for that day.

A day's file is replaced whole (written under a hidden name, then renamed), a day that now has no rows loses its
file, and every folder holds ``schema.parquet``, no rows and the table's columns, so Spark knows the schema of a
table that has no day yet. ``raw.review_labels`` (a copy of the serving database's confirmations) is one file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from safeguard.contract import SOURCES
from safeguard.ingest import ingest_days
from safeguard.ingest_rules import iso_day
from safeguard.landing import LandingZone
from safeguard.review.labels import REVIEW_LABELS_DDL, REVIEW_LABELS_TABLE
from safeguard.warehouse import table_exists

SCHEMA_FILE = "schema.parquet"
WHOLE_TABLE_FILE = "all.parquet"
# raw.<source> (one file per landing day) and the tables copied whole
DAY_TABLES = tuple(SOURCES)
WHOLE_TABLES = {"review_labels": (REVIEW_LABELS_TABLE, REVIEW_LABELS_DDL)}  # name -> (table, its DDL)


@dataclass(frozen=True)
class ExportedDay:
    table: str
    day: str
    rows: int


def _write(table: pa.Table, path: Path) -> None:
    """``table`` to ``path`` (Parquet), atomically: a reader sees the old file or the new one."""
    hidden = path.with_name(f".{path.name}.tmp")  # Spark lists no file whose name starts with "."
    pq.write_table(table, hidden)
    os.replace(hidden, path)


def _rows(con: duckdb.DuckDBPyConnection, table: str, where: str = "true", params: list | None = None) -> pa.Table:
    return con.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY ALL", params or []).to_arrow_table()


def export_raw_days(
    con: duckdb.DuckDBPyConnection, root: str | Path, source: str, days: list[str]
) -> list[ExportedDay]:
    """Replace ``days`` of ``<root>/<source>/`` with the warehouse's ``raw.<source>`` rows of those landing days."""
    if source not in SOURCES:
        raise KeyError(f"unknown source {source!r}; the contract has {sorted(SOURCES)}")
    table = SOURCES[source].raw_table
    folder = Path(root) / source
    folder.mkdir(parents=True, exist_ok=True)
    _write(_rows(con, table, "false"), folder / SCHEMA_FILE)
    exported = []
    for day in sorted({iso_day(d) for d in days}):
        rows = _rows(con, table, "_partition_date = CAST(? AS DATE)", [day])
        path = folder / f"{day}.parquet"
        if rows.num_rows:
            _write(rows, path)
        else:
            path.unlink(missing_ok=True)  # the day has no rows now: it must not keep the old ones
        exported.append(ExportedDay(source, day, rows.num_rows))
    return exported


def export_whole_tables(con: duckdb.DuckDBPyConnection, root: str | Path) -> dict[str, int]:
    """Replace the tables copied whole (``raw.review_labels``); their rows. A table not in the warehouse yet is
    written empty, with the columns of its DDL (the warehouse is only read)."""
    counts = {}
    for name, (table, ddl) in WHOLE_TABLES.items():
        if table_exists(con, table):
            rows = _rows(con, table)
        else:
            with duckdb.connect() as scratch:
                scratch.execute("CREATE SCHEMA raw")
                scratch.execute(ddl)
                rows = _rows(scratch, table)
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        _write(rows.slice(0, 0), folder / SCHEMA_FILE)
        _write(rows, folder / WHOLE_TABLE_FILE)
        counts[name] = rows.num_rows
    return counts


def land_days_for_spark(
    con: duckdb.DuckDBPyConnection, zone: LandingZone, root: str | Path, source: str, days: list[str]
) -> list[ExportedDay]:
    """Ingest ``days`` of ``source`` from the landing zone (validated, bad rows quarantined, as on DuckDB), then
    write them for Spark. A day ingestion refuses raises its error here and nothing is written for it."""
    ingest_days(con, zone, source, days)
    return export_raw_days(con, root, source, days)


def landed_days(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    """The landing days ``raw.<source>`` holds."""
    table = SOURCES[source].raw_table
    rows = con.execute(f"SELECT DISTINCT _partition_date FROM {table} ORDER BY 1").fetchall()
    return [day.isoformat() for (day,) in rows]


def main(argv: list[str] | None = None) -> int:
    """Write the warehouse's validated raw days for the Spark target (every landed day, or --days)."""
    import argparse

    from safeguard.warehouse import connect_when_free

    parser = argparse.ArgumentParser(prog="python -m safeguard.spark_raw", description=main.__doc__)
    parser.add_argument("--warehouse", required=True, help="the DuckDB warehouse file ingestion loads")
    parser.add_argument("--out", required=True, help="the raw folder of the Spark target (SAFEGUARD_SPARK_RAW)")
    parser.add_argument("--days", nargs="*", help="landing days YYYY-MM-DD (default: every day in raw.*)")
    args = parser.parse_args(argv)
    with connect_when_free(args.warehouse, read_only=True) as con:
        for source in SOURCES:
            days = args.days if args.days is not None else landed_days(con, source)
            written = export_raw_days(con, args.out, source, days)
            print(f"{source}: {len(written)} days, {sum(d.rows for d in written):,} rows -> {Path(args.out) / source}")
        for name, rows in export_whole_tables(con, args.out).items():
            print(f"{name}: {rows:,} rows -> {Path(args.out) / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
