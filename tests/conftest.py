"""Shared test set-up: every test runs against a throwaway SAFEGUARD_HOME, never the developer's data."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests/ helpers such as tests.landing_factory

# Set before any project module reads the settings (assets.partitions does at import).
_SESSION_HOME = tempfile.mkdtemp(prefix="safeguard-test-home-")
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)
os.environ["SAFEGUARD_HOME"] = _SESSION_HOME
# Nor the developer's Dagster instance (the Makefile exports DAGSTER_HOME for demo and ui): in-process runs use
# ephemeral instances, and the end-to-end test gives dagster dev a DAGSTER_HOME of its own.
for _name in ("LANDING_URI", "WAREHOUSE_PATH", "SERVING_DB_URL", "MODEL_STORE_URI", "EXPORT_URI", "DAGSTER_HOME"):
    os.environ.pop(_name, None)
os.environ.setdefault("SAFEGUARD_START_DATE", "2026-09-01")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


import pytest


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The real PostgreSQL that ``make test`` starts (scripts/postgres-up.sh); a missing server is an error."""
    url = os.environ.get("SAFEGUARD_TEST_POSTGRES_URL")
    if not url:
        pytest.fail(
            "SAFEGUARD_TEST_POSTGRES_URL is not set: run the tests through `make test`, which starts PostgreSQL"
        )
    return url


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 endpoint over HTTP: moto's server on 127.0.0.1 (free port), dummy credentials in the environment.

    Shared by the whole session; tests create buckets with unique names.
    """
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def serving_engine(tmp_path):
    """A fresh SQLite serving database migrated to head (the default deployment's serving database)."""
    from safeguard.serving.db import engine_for, upgrade

    engine = engine_for(f"sqlite:///{tmp_path / 'serving.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


# `make test` runs the suite on two workers, one test module per worker at a time (pytest-xdist, --dist loadfile,
# Makefile). A module starts when a worker is free, so the longest ones go first and the many short ones fill in
# around them; otherwise the end-to-end test (about 7 minutes alone) starts last and the suite waits for it.
# Longest first, from the `--durations` of the last runs; a module missing here only runs later, never differently.
LONGEST_MODULES_FIRST = (
    "tests/e2e/test_ui_backfill.py",
    "tests/spark/test_dbt_parity.py",
    "tests/faults/test_days_across_runs.py",
    "tests/idempotence/test_pipeline_idempotence.py",
    "tests/security/test_full_run.py",
    "tests/integration/test_label_feedback.py",
    "tests/faults/test_volume_faults.py",
    "tests/integration/test_cold_start.py",
    "tests/faults/test_late_events.py",
    "tests/dbt/test_dbt_assets.py",
    "tests/spark/test_spark_scoring.py",
    "tests/faults/test_rollout_race.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: i for i, module in enumerate(LONGEST_MODULES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: the rest keep order
