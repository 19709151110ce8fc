"""Row-by-row comparison of the tables dbt built on DuckDB and on Spark (tests/spark/test_dbt_parity.py).

Spark's tables are read from their Parquet files (a managed table lives in ``<warehouse dir>/<schema>.db/<name>``,
one folder per partition value) by DuckDB, cast to the DuckDB table's column types, so both sides are compared as
the same typed frame: exactly on keys, integers, dates and text; within :data:`FLOAT_RTOL` on doubles, where the
two engines may add the same numbers in another order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

FLOAT_RTOL = 1e-9
FLOAT_ATOL = 1e-12
_FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL"}


@dataclass(frozen=True)
class TableParity:
    table: str
    duckdb_rows: int
    spark_rows: int
    differing_columns: dict[str, int]  # column -> rows that differ

    @property
    def equal(self) -> bool:
        return self.duckdb_rows == self.spark_rows and not self.differing_columns

    def __str__(self) -> str:
        if self.equal:
            return f"{self.table}: {self.duckdb_rows} rows equal"
        return (
            f"{self.table}: DuckDB {self.duckdb_rows} rows, Spark {self.spark_rows}; differ: {self.differing_columns}"
        )


def spark_built_tables(manifest_path: Path) -> list[tuple[str, str]]:
    """(schema, name) of every model the Spark build stored as a table (views are read through their consumers)."""
    manifest = json.loads(manifest_path.read_text())
    return sorted(
        (node["schema"], node["name"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] in ("incremental", "table")
    )


def _columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()


def read_spark_table(con: duckdb.DuckDBPyConnection, folder: Path, columns: list[tuple[str, str]]) -> pd.DataFrame:
    """A Spark table's rows from its Parquet files, cast to ``columns`` (name, DuckDB type), in key order."""
    if not any(folder.rglob("*.parquet")):  # Spark writes no file for a table without rows
        return pd.DataFrame({c: pd.Series(dtype=object) for c, _ in columns})
    cast = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in columns)
    source = f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)"
    return con.execute(f"SELECT {cast} FROM {source} ORDER BY ALL").df()


def compare_table(con: duckdb.DuckDBPyConnection, spark_tables: Path, schema: str, name: str) -> TableParity:
    columns = _columns(con, schema, name)
    if not columns:
        raise AssertionError(f"{schema}.{name} is a table on Spark but not in the DuckDB warehouse")
    ours = con.execute(f'SELECT * FROM "{schema}"."{name}" ORDER BY ALL').df()
    theirs = read_spark_table(con, spark_tables / f"{schema}.db" / name, columns)
    differing: dict[str, int] = {}
    if len(ours) == len(theirs):
        for column, kind in columns:
            a, b = ours[column], theirs[column]
            if kind in _FLOAT_TYPES:
                same = np.isclose(a.astype(float), b.astype(float), rtol=FLOAT_RTOL, atol=FLOAT_ATOL, equal_nan=True)
            else:
                same = ((a == b) | (a.isna() & b.isna())).to_numpy()
            if not same.all():
                differing[column] = int((~same).sum())
    return TableParity(f"{schema}.{name}", len(ours), len(theirs), differing)


def compare_all(warehouse: Path, spark_tables: Path, manifest_path: Path) -> list[TableParity]:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("SET enable_progress_bar = false")
        return [compare_table(con, spark_tables, s, n) for s, n in spark_built_tables(manifest_path)]


def day_rows(spark_tables: Path, schema: str, name: str, column: str) -> dict[str, int]:
    """Rows per partition value (day) of a Spark table, from its partition folders."""
    folder = spark_tables / f"{schema}.db" / name
    counts: dict[str, int] = {}
    with duckdb.connect() as con:
        for part in sorted(folder.glob(f"{column}=*")):
            files = [str(p) for p in part.glob("*.parquet")]
            counts[part.name.split("=", 1)[1]] = (
                con.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone()[0] if files else 0
            )
    return counts
