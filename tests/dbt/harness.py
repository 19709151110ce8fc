"""dbt test helpers: real dbt (in-process dbtRunner) on a throwaway DuckDB file with its own target path."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
from dbt.cli.main import dbtRunner

from assets.dbt_project import warehouse_path_env
from safeguard.catalog import DBT_PROJECT_DIR, MANIFEST_PATH
from safeguard.dbt_vars import dbt_build_args
from tests.dbt.raw_fixture import RawWorld, load_world


def _built_tables() -> tuple[str, ...]:
    """Every table the feature build writes: the project's incremental and table models, read from the manifest
    (``make dbt-manifest``), so a model added later is compared too."""
    manifest = json.loads(MANIFEST_PATH.read_text())
    return tuple(
        sorted(
            f"{node['schema']}.{node['name']}"
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and node["config"]["materialized"] in ("incremental", "table")
        )
    )


BUILT_TABLES = _built_tables()


def day(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def run_dbt(warehouse: Path, args: list[str], *, expect_success: bool = True) -> list[str]:
    """Run dbt on ``warehouse`` with a target path next to it; returns the failed nodes' names.

    With ``expect_success`` a failure raises, naming the failing nodes and their messages."""
    target = warehouse.parent / f"{warehouse.stem}-target"
    full = [
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(target),
        "--quiet",
    ]
    with warehouse_path_env(str(warehouse)):
        result = dbtRunner().invoke(full)
    failed = [r for r in (result.result or []) if str(r.status) in ("error", "fail")]
    if expect_success and not result.success:
        messages = [f"{r.node.name}: {r.status}: {r.message}" for r in failed]
        raise AssertionError(f"dbt {' '.join(args)} failed: {result.exception or messages}")
    return [r.node.name for r in failed]


def build(
    warehouse: Path, start: str, end: str, *, horizon: int = 2, unit_tests: bool = False, expect_success: bool = True
) -> list[str]:
    """dbt build of the partition window [start, end) as the Dagster asset runs it; the failed nodes."""
    args = dbt_build_args(day(start), day(end), label_horizon_days=horizon, unit_tests=unit_tests)
    return run_dbt(warehouse, args, expect_success=expect_success)


def new_warehouse(tmp: Path, name: str, world: RawWorld) -> Path:
    path = tmp / f"{name}.duckdb"
    load_world(str(path), world)
    return path


def copy_warehouse(source: Path, name: str) -> Path:
    """A copy of the warehouse file (checkpointed first: dbt's in-process DuckDB may still hold it open)."""
    with duckdb.connect(str(source)) as con:
        con.execute("CHECKPOINT")
    path = source.parent / f"{name}.duckdb"
    shutil.copyfile(source, path)
    return path


def table(warehouse: Path, name: str, where: str = "true") -> pd.DataFrame:
    """A built table's rows in key order (a stable frame to compare)."""
    with duckdb.connect(str(warehouse)) as con:  # not read_only: dbt's in-process DuckDB shares the instance
        frame = con.sql(f"SELECT * FROM {name} WHERE {where} ORDER BY ALL").df()  # keys lead every model's columns
    return frame.reset_index(drop=True)


def as_of(iso: str) -> pd.Timestamp:
    """A day as the frames of :func:`table` hold it (pandas reads DuckDB dates as timestamps)."""
    return pd.Timestamp(iso)
