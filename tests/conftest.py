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
