"""Fault 1: the publishing process is SIGKILLed in the middle of a publish, on SQLite and on PostgreSQL.

A real child process (tests/faults/publish_child.py) publishes a new day with the real code and stops inside the
transaction after writing everything; the test reads the serving database while it waits, kills it with SIGKILL
(no handler, no rollback from the client) and reads again. Readers see the previous state the whole time, never
a mix of days; the next publish of the day completes. tests/unit/test_publish.py and
tests/integration/test_publish_postgres.py cover an exception inside the transaction; this covers the kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from safeguard.serving.db import engine_for, upgrade
from safeguard.serving.publish import publish_day, published_day_sha256
from tests.faults.conftest import what_readers_see
from tests.faults.publish_child import PAUSED
from tests.pg_scratch import scratch_database
from tests.served_factory import served_day

ROOT = Path(__file__).resolve().parents[2]
D1, D2, D3 = "2026-09-01", "2026-09-02", "2026-09-03"
N = 3000


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def serving_url(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'serving.db'}"
        return
    with scratch_database(request.getfixturevalue("postgres_url"), "sg_fault_kill") as scratch:
        monkeypatch.setenv("SERVING_READONLY_ROLE", scratch.reader_role)  # the migration creates it
        yield scratch.url.render_as_string(hide_password=False)


def test_a_publish_killed_inside_its_transaction_leaves_the_previous_state_and_the_next_one_completes(serving_url):
    engine = engine_for(serving_url)
    try:
        upgrade(engine)
        publish_day(engine, served_day(D1, N, seed=1), D1)
        publish_day(engine, served_day(D2, N, seed=2), D2)
        before = what_readers_see(engine)
        assert {row.score_date for row in before["current"]} == {date.fromisoformat(D2)}

        child = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.publish_child", D3, str(N + 500), "3"],
            cwd=ROOT,
            env={**os.environ, "FAULT_SERVING_URL": serving_url},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout.readline().strip() == PAUSED  # D3 is written, not committed
            assert what_readers_see(engine) == before
        finally:
            child.kill()
            child.wait(timeout=60)
        assert child.returncode == -signal.SIGKILL

        assert what_readers_see(engine) == before  # no D3 anywhere, current whole on D2

        served = served_day(D3, N + 500, seed=3)
        result = publish_day(engine, served, D3)
        after = what_readers_see(engine)
        assert result.current_moved and not result.replaced
        assert {row.score_date for row in after["current"]} == {date.fromisoformat(D3)}
        assert len(after["current"]) == N + 500
        assert after["history_per_day"][date.fromisoformat(D3)] == N + 500
        assert published_day_sha256(engine, D3) == result.content_sha256
        assert after["published"][:2] == before["published"]
    finally:
        engine.dispose()
