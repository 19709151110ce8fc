"""Bulk inserts of Arrow rows into the serving database inside the caller's transaction: PostgreSQL through COPY on
the transaction's own psycopg connection, SQLite through batched executemany. Values travel as COPY data or bound
parameters, never as SQL text."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from safeguard.serving.prepare import INSERT_BATCH_ROWS, csv_bytes


def _copy_rows(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    """PostgreSQL: stream ``rows`` into ``table`` through COPY on the transaction's own psycopg connection."""
    columns = ", ".join(f'"{name}"' for name in rows.column_names)  # our own column names, not data
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN (FORMAT csv)') as copy:
        for batch in rows.to_batches(INSERT_BATCH_ROWS):
            copy.write(csv_bytes(batch))


def _sqlite_values(rows: pa.Table) -> pa.Table:
    """Dates and timestamps as the text SQLAlchemy's SQLite types store and parse back."""
    columns = []
    for name in rows.column_names:
        column = rows.column(name)
        if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.string())  # 'YYYY-MM-DD' / 'YYYY-MM-DD HH:MM:SS.ffffff'
        columns.append(column)
    return pa.table(columns, names=rows.column_names)


def _executemany_rows(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    """SQLite: batched executemany of bound rows (Arrow builds each batch's tuples column-wise)."""
    rows = _sqlite_values(rows)
    names = ", ".join(f'"{name}"' for name in rows.column_names)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * rows.num_columns)})'
    for batch in rows.to_batches(INSERT_BATCH_ROWS):
        conn.exec_driver_sql(sql, list(zip(*(c.to_pylist() for c in batch.columns))))


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    if rows.num_rows == 0:
        return
    if conn.dialect.name == "postgresql":
        _copy_rows(conn, table, rows)
    else:
        _executemany_rows(conn, table, rows)
