"""Small helpers over the DuckDB warehouse file: open it and make sure the ``raw`` schema exists.

The ``raw.*`` DDL itself belongs to :mod:`safeguard.contract`; this module only applies it.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from time import monotonic, sleep

import duckdb
import pyarrow as pa

from safeguard.config import settings
from safeguard.contract import warehouse_ddl


def connect(path: str | Path, *, read_only: bool = False, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (``:memory:`` for a throwaway one), creating its folder when writing.

    ``memory_limit`` defaults to the configured WAREHOUSE_MEMORY_LIMIT: past it DuckDB spills to disk.
    """
    path = str(path)
    if path != ":memory:" and not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    limit = memory_limit or settings().warehouse_memory_limit
    return duckdb.connect(path, read_only=read_only, config={"memory_limit": limit})


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``raw`` schema, its per-source tables, ``raw.quarantine``, ``raw.landing_loads`` and
    ``raw.review_labels`` if missing (idempotent)."""
    from safeguard.load_log import LOADS_DDL
    from safeguard.review.labels import REVIEW_LABELS_DDL

    for statement in (*warehouse_ddl(), LOADS_DDL, REVIEW_LABELS_DDL):
        con.execute(statement)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection):
    """One DuckDB transaction: committed when the block ends, rolled back (and the error raised) when it fails.
    The writers that replace exactly some rows (a day's scores, served rows, a backtest's replay) delete and insert
    inside one, so a reader sees the old rows or the new ones."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` (``schema.name``: a table or a view) exists in the warehouse."""
    schema, name = table.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, name]
        ).fetchone()[0]
    )


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of ``table`` (``schema.name``), in table order."""
    return {name: typ for name, typ, *_ in con.execute(f"DESCRIBE {table}").fetchall()}


_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.date32(): "DATE",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
}


def create_table_ddl(table: str, schema: pa.Schema) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of a warehouse table whose columns an Arrow schema spells out (the one
    definition the writer casts its rows to); a field that is not nullable is ``NOT NULL``."""
    columns = []
    for field in schema:
        if field.type not in _DUCKDB_TYPES:
            raise TypeError(f"{table}.{field.name}: no DuckDB type for Arrow {field.type}")
        columns.append(f"  {field.name} {_DUCKDB_TYPES[field.type]}{'' if field.nullable else ' NOT NULL'}")
    return f"CREATE TABLE IF NOT EXISTS {table} (\n" + ",\n".join(columns) + "\n)"


@contextmanager
def connect_when_free(path: str | Path, *, wait_seconds: float = 60.0, read_only: bool = False):
    """:func:`connect` for a process outside Dagster: DuckDB lets one process write a file at a time, so this
    waits up to ``wait_seconds`` for a running step to let go of it, then fails with a message saying so."""
    deadline = monotonic() + wait_seconds
    while True:
        try:
            con = connect(path, read_only=read_only)
            break
        except duckdb.IOException as e:
            if monotonic() >= deadline:
                raise OSError(
                    f"the warehouse {path} stayed locked by another process for {wait_seconds:.0f}s ({e}); retry "
                    "when the running step ends, or launch the job from Dagster"
                ) from e
            sleep(1.0)
    try:
        yield con
    finally:
        con.close()
