"""Apache Spark for the work that outgrows one machine (issue 18): the session, and the checks that say in one line
what is missing when Spark cannot start.

pyspark is an optional extra (``uv sync --extra spark``; ``make install`` installs it for the tests) and needs a
Java runtime (Java 17). Nothing else in ``safeguard`` imports this module: DuckDB stays the default engine and
``make demo`` never starts a JVM.

The session here is local (``local[N]``: one JVM, N worker threads, no cluster) unless ``SPARK_REMOTE`` names a
Spark Connect server (``sc://host:15002``), which is how a cluster is reached from a Dagster run pod; see
``docs/scale-out.md``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

JAVA_HINT = "install Java 17 (Debian: apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME to one"
PYSPARK_HINT = "install the spark extra: uv sync --extra spark (or pip install 'pyspark>=4,<5')"


class SparkUnavailable(RuntimeError):
    """Spark cannot start here; the message says what to install."""


def java_executable() -> str | None:
    """The ``java`` Spark will launch: ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def check_spark() -> None:
    """Raise :class:`SparkUnavailable` naming what is missing (pyspark, or a Java runtime for a local session)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable(f"pyspark is not installed: {PYSPARK_HINT}") from None
    if os.environ.get("SPARK_REMOTE"):
        return  # Spark Connect: the JVM runs on the server, not here
    if java_executable() is None:
        where = (
            f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java" if os.environ.get("JAVA_HOME") else "no java on PATH"
        )
        raise SparkUnavailable(f"Spark needs a Java runtime and there is none ({where}): {JAVA_HINT}")


def spark_session(app: str = "safeguard", *, cores: int = 2, warehouse_dir: str | None = None, **conf: Any):
    """A Spark session: Spark Connect when ``SPARK_REMOTE`` is set, else ``local[cores]`` on this machine.

    Local sessions are sized for a small machine: no UI, ``cores`` shuffle partitions, Arrow transfers on, the
    session time zone UTC (dates never shift); the driver's memory from ``SAFEGUARD_SPARK_DRIVER_MEMORY`` (default
    2g). ``conf``: more Spark settings, e.g. ``**{"spark.sql.execution.arrow.maxRecordsPerBatch": "5000"}``.
    """
    check_spark()
    from pyspark.sql import SparkSession

    remote = os.environ.get("SPARK_REMOTE")
    builder = SparkSession.builder.appName(app)
    if remote:
        builder = builder.remote(remote)
    else:
        builder = (
            builder.master(f"local[{cores}]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(cores))
            .config("spark.driver.memory", os.environ.get("SAFEGUARD_SPARK_DRIVER_MEMORY", "2g"))
        )
        # the Python workers run this interpreter (its packages), not whichever python3 is first on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if warehouse_dir:
            builder = builder.config("spark.sql.warehouse.dir", warehouse_dir)
    builder = builder.config("spark.sql.session.timeZone", "UTC").config(
        "spark.sql.execution.arrow.pyspark.enabled", "true"
    )
    for key, value in conf.items():
        builder = builder.config(key, str(value))
    session = builder.getOrCreate()
    if not remote:
        session.sparkContext.setLogLevel("ERROR")
    return session
