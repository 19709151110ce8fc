"""One local Spark session for the whole test session (a JVM starts once, ~15 s), on a throwaway warehouse folder."""

from __future__ import annotations

import pytest

from safeguard.spark_engine import spark_session


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    session = spark_session("safeguard-tests", cores=2, warehouse_dir=str(tmp_path_factory.mktemp("spark-warehouse")))
    yield session
    session.stop()
