"""Errors a person meets at the command line: one or two lines naming the thing and the fix, a non-zero exit, no
traceback unless ``safeguard -v`` (issue 20). Each against the real thing: a PostgreSQL port nobody listens on, a
warehouse another process holds, a landing zone that is not there, days outside the partitions."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy.exc

from orchestration import cli as console
from safeguard import cli
from safeguard.serving.db import upgrade


def _lines(text: str) -> list[str]:
    return [line for line in text.strip().splitlines() if line.strip()]


def test_a_stopped_postgresql_is_named_with_the_fix_and_no_password(monkeypatch, capsys):
    monkeypatch.setenv("SERVING_DB_URL", "postgresql+psycopg://reader:s3cret@127.0.0.1:9/risk")
    assert cli.main(["model", "list"]) == 1
    err = capsys.readouterr().err
    assert len(_lines(err)) == 2 and "Traceback" not in err and "s3cret" not in err
    assert "cannot use the serving database postgresql+psycopg://reader:***@127.0.0.1:9/risk" in err
    assert "pg_ctlcluster 15 main start" in err
    # --db names the database the command used, not the configured one
    assert cli.main(["model", "--db", "postgresql+psycopg://other:pw@127.0.0.1:9/elsewhere", "list"]) == 1
    assert "postgresql+psycopg://other:***@127.0.0.1:9/elsewhere" in capsys.readouterr().err
    with pytest.raises(sqlalchemy.exc.OperationalError):  # -v: the traceback, for whoever debugs it
        cli.main(["-v", "model", "list"])


def test_a_warehouse_held_by_a_run_is_named_with_the_fix(tmp_path, monkeypatch, capsys):
    warehouse = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); time.sleep(60)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        serving = f"sqlite:///{tmp_path / 'serving.db'}"
        upgrade(serving)
        monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))
        monkeypatch.setenv("SERVING_DB_URL", serving)
        monkeypatch.setenv("EXPORT_URI", str(tmp_path / "exports"))
        assert cli.main(["review", "queue", "--date", "2026-09-02", "--rebuild"]) == 1
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert len(_lines(err)) == 2 and "Traceback" not in err
    assert "the warehouse is locked by another process" in err and "retry when the run has finished" in err


def test_a_run_without_a_landing_zone_or_outside_the_days_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAFEGUARD_HOME", str(tmp_path))
    monkeypatch.delenv("LANDING_URI", raising=False)
    assert console.main(["run", "--start", "2026-09-01", "--days", "1"]) == 2
    err = capsys.readouterr().err
    assert f"no landing zone at {tmp_path / 'landing'}" in err and "safeguard generate" in err
    assert len(_lines(err)) == 2

    (tmp_path / "landing").mkdir()
    assert console.main(["run", "--start", "1990-01-01", "--days", "1"]) == 2
    err = capsys.readouterr().err
    assert "the days 1990-01-01 .. 1990-01-01 are outside the pipeline's days" in err
    assert "SAFEGUARD_START_DATE" in err and len(_lines(err)) == 2
