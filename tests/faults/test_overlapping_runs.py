"""Fault 4: two runs that write the warehouse at the same time, on one Dagster instance configured as the project
configures it (deploy/dagster.local.yaml: every pool limited to 1; the code location's steps hold pool ``duckdb``).

Each run is ``safeguard run --groups ingestion`` in its own process, as an operator or the schedule starts them,
on one DAGSTER_HOME and one warehouse. Runs launched this way execute in process (``execute_in_process``, and the
code location's ``in_process_executor`` under the daemon); Dagster 1.13 enforces pools there per step: before a
step with a pool starts, the executor claims a slot through ``instance.event_log_storage.claim_concurrency_slot``
(dagster/_core/execution/plan/active.py, instance_concurrency_context.py) and waits while none is free. No run
coordinator is involved, so this holds without the daemon too.

Both runs start together. To make the overlap certain rather than likely, each run's usage file is a named pipe
that the test feeds only once one run is reading its pipe (inside ``raw_usage_events``, holding the slot and its
DuckDB connection) and the other run's next step is waiting for the pool. Both runs succeed and neither sees a
DuckDB lock error, on either instance storage:

- PostgreSQL (deploy/dagster.yaml, production): the claim takes a free slot row ``FOR UPDATE SKIP LOCKED``, so the
  pool is a mutex and in the event log no two pooled steps of the two runs ever overlap.
- SQLite (deploy/dagster.local.yaml, a laptop and ``make demo``): SQLite has no row locks, and Dagster's claim
  (``SqlEventLogStorage._claim_concurrency_slot``: select a free slot, then update it by id) can hand the freed slot
  to both runs' next steps when they ask at the same instant. Seen here under load, once in two runs of the suite
  on two workers: two ``raw_accounts`` steps overlapped by 0.3 s. The warehouse connection then waits for DuckDB's
  file lock instead of failing (``dagster_duckdb.DuckDBResource`` retries the connect with backoff), which is why
  both runs still succeed without a lock error; the test asserts that and no interval order.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

from safeguard.contract import day_path
from safeguard.landing import LandingZone
from tests import landing_factory as lf
from tests.faults.conftest import rows_per_day
from tests.pg_scratch import scratch_database

ROOT = Path(__file__).resolve().parents[2]
DAYS = ["2026-09-02", "2026-09-03"]
ROWS = 30
WAIT_SECONDS = 120


def safeguard_run(env: dict, day: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("safeguard")),
            "run",
            "--start",
            day,
            "--end",
            day,
            "--groups",
            "ingestion",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition, what: str) -> None:
    """Poll ``condition`` (a state in another process) until it holds; fail naming ``what`` after a while."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def pooled_step_intervals(instance: DagsterInstance, run_id: str) -> list[tuple[float, float, str]]:
    """(start, end, run:step) of every step of a run, from its event log (every step here holds the pool)."""
    starts, ends = {}, {}
    for record in instance.get_records_for_run(run_id).records:
        event = record.event_log_entry
        if event.dagster_event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = event.timestamp
        elif event.dagster_event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            ends[event.step_key] = event.timestamp
    assert starts.keys() == ends.keys() and starts
    return [(starts[k], ends[k], f"{run_id[:8]}:{k}") for k in starts]


def blocking_usage_file(home: Path, day: str, release: threading.Event) -> threading.Event:
    """Turn the day's usage file into a named pipe fed with the same Parquet bytes once ``release`` is set.

    Returns an event set as soon as a run's step opens the pipe to read it (it then holds the pool's slot)."""
    path = home / "landing" / day_path("usage_events", day) / "part-00000.parquet"
    data = path.read_bytes()
    path.unlink()
    os.mkfifo(path)
    reading = threading.Event()

    def feed():
        with open(path, "wb") as pipe:  # returns once the reader has opened the other end
            reading.set()
            release.wait(WAIT_SECONDS)
            pipe.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return reading


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def instance_env(request, tmp_path):
    """(storage, DAGSTER_HOME environment): the project's local instance, or the production one on a throwaway
    PostgreSQL database."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir(parents=True)
    if request.param == "sqlite":
        shutil.copy(ROOT / "deploy" / "dagster.local.yaml", dagster_home / "dagster.yaml")
        yield request.param, {"DAGSTER_HOME": str(dagster_home)}
        return
    with scratch_database(request.getfixturevalue("postgres_url"), "sg_overlap") as scratch:
        shutil.copy(ROOT / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
        url = scratch.url
        yield (
            request.param,
            {
                "DAGSTER_HOME": str(dagster_home),
                "DAGSTER_PG_HOST": url.host,
                "DAGSTER_PG_PORT": str(url.port or 5432),
                "DAGSTER_PG_DB": url.database,
                "DAGSTER_PG_USER": url.username,
                "DAGSTER_PG_PASSWORD": url.password,
            },
        )


def test_two_overlapping_runs_both_succeed_serialized_by_the_duckdb_pool(tmp_path, instance_env, monkeypatch):
    storage, instance_vars = instance_env
    home = tmp_path / "home"
    env = {**os.environ, "SAFEGUARD_HOME": str(home), **instance_vars}
    for name, value in instance_vars.items():
        monkeypatch.setenv(name, value)  # this process reads the same instance
    dagster_home = Path(instance_vars["DAGSTER_HOME"])
    lf.write_landing(LandingZone(str(home / "landing")), DAYS, rows=ROWS)
    release = threading.Event()
    reading = [blocking_usage_file(home, day, release) for day in DAYS]
    instance = DagsterInstance.from_config(str(dagster_home))

    def pool():
        return instance.event_log_storage.get_concurrency_info("duckdb")

    try:
        assert pool().limit == 1 and not instance.get_runs()  # the instance's tables and the pool exist before
        runs = [safeguard_run(env, day) for day in DAYS]  # started together
        outputs = None
        try:
            wait_for(lambda: any(r.is_set() for r in reading), "a run to read its usage file")
            holding = pool()
            assert holding.limit == 1 and len(holding.active_run_ids) == 1  # that step holds the only slot
            wait_for(lambda: pool().pending_run_ids - holding.active_run_ids, "the other run to wait for the pool")
            release.set()
            outputs = [run.communicate(timeout=WAIT_SECONDS)[0] for run in runs]
        finally:
            release.set()
            for run in runs:
                if run.poll() is None:
                    run.kill()
            if outputs is None:  # a failure above: what the runs said
                print("\n---\n".join(run.communicate()[0][-3000:] for run in runs))

        for run, out in zip(runs, outputs):
            assert run.returncode == 0, out
            assert "lock" not in out.lower(), out  # DuckDB's "Could not set lock on file" / "Conflicting lock"
        records = instance.get_runs()
        assert len(records) == 2 and all(r.is_success for r in records)
        intervals = sorted(i for r in records for i in pooled_step_intervals(instance, r.run_id))
        assert len(intervals) == 8  # four ingestion steps per run: the three landing sources and raw_review_labels
        if storage == "postgresql":  # a strict mutex only where the slot rows are locked (see the module's docstring)
            for (_, end, step), (start, _, next_step) in itertools.pairwise(intervals):
                assert start >= end, f"{next_step} started before {step} ended"
    finally:
        instance.dispose()
    for source in ("raw.usage_events", "raw.accounts", "raw.enforcement_actions"):
        assert rows_per_day(str(home / "warehouse.duckdb"), source) == dict.fromkeys(DAYS, ROWS)
