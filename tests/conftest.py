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

# Set before any project module reads the settings (orchestration.partitions does at import).
_SESSION_HOME = tempfile.mkdtemp(prefix="safeguard-test-home-")
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)
os.environ["SAFEGUARD_HOME"] = _SESSION_HOME
for _name in ("LANDING_URI", "WAREHOUSE_PATH", "SERVING_DB_URL", "MODEL_STORE_URI", "EXPORT_URI"):
    os.environ.pop(_name, None)
os.environ.setdefault("SAFEGUARD_START_DATE", "2026-09-01")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The real PostgreSQL that ``make test`` starts (scripts/postgres-up.sh); a missing server is an error."""
    url = os.environ.get("SAFEGUARD_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("SAFEGUARD_TEST_POSTGRES_URL is not set: run the tests through `make test`, which starts PostgreSQL")
    return url
