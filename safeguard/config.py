"""Where everything lives: every location comes from the environment, with a default under SAFEGUARD_HOME.

This module is the one place that knows the environment variable names and their defaults (design §4).
It never imports Dagster; the Dagster resources read the same names through ``EnvVar``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

DEFAULT_START_DATE = "2026-09-01"

ENV_VARS = (
    "SAFEGUARD_HOME",
    "LANDING_URI",
    "WAREHOUSE_PATH",
    "SERVING_DB_URL",
    "MODEL_STORE_URI",
    "EXPORT_URI",
    "S3_ENDPOINT_URL",
    "SAFEGUARD_START_DATE",
    "SAFEGUARD_MAX_QUARANTINE_SHARE",
    "SAFEGUARD_VOLUME_TOLERANCE",
    "SERVING_READONLY_ROLE",
    "SERVING_READONLY_PASSWORD",
    "WAREHOUSE_MEMORY_LIMIT",
)

# Largest share of a day's rows that ingestion may quarantine before its asset check fails.
DEFAULT_MAX_QUARANTINE_SHARE = 0.01

# A landing day's rows (and active accounts) may be this many times below the median of its recent days before
# ingestion's volume check fails (safeguard/volume.py).
DEFAULT_VOLUME_TOLERANCE = 4.0

# DuckDB's memory limit for every warehouse connection (Dagster resource, domain code, dbt). Past it DuckDB spills
# to disk; without it DuckDB takes up to 80% of the machine, which a single-run backfill of a month of a 1M-account
# world does (it stages the whole range before one transaction).
DEFAULT_WAREHOUSE_MEMORY_LIMIT = "3GB"

# The PostgreSQL role that may only read the serving DB's risk tables (docs/risk-tables.md). Without a password it
# is created NOLOGIN: a group role to grant to people (``GRANT safeguard_reader TO alice``).
DEFAULT_SERVING_READONLY_ROLE = "safeguard_reader"

# What the analysts can work in a day: the review queue's cases (issue 17) and the k of the models' precision@k.
DEFAULT_REVIEW_CAPACITY = 100


@dataclass(frozen=True)
class Settings:
    home: Path
    landing_uri: str
    warehouse_path: str
    serving_db_url: str
    model_store_uri: str
    export_uri: str
    s3_endpoint_url: str | None
    start_date: date
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE
    volume_tolerance: float = DEFAULT_VOLUME_TOLERANCE
    warehouse_memory_limit: str = DEFAULT_WAREHOUSE_MEMORY_LIMIT
    serving_readonly_role: str = DEFAULT_SERVING_READONLY_ROLE
    serving_readonly_password: str | None = field(default=None, repr=False)  # never printed
    review_capacity: int = DEFAULT_REVIEW_CAPACITY

    @property
    def truth_path(self) -> Path:
        """Ground truth of the synthetic world: outside the landing zone, for evaluation only."""
        return self.home / "ground_truth" / "accounts.parquet"


def settings(env: dict[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: ``os.environ``) with their embedded defaults."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("SAFEGUARD_HOME") or "data").resolve()
    return Settings(
        home=home,
        landing_uri=env.get("LANDING_URI") or str(home / "landing"),
        warehouse_path=env.get("WAREHOUSE_PATH") or str(home / "warehouse.duckdb"),
        serving_db_url=env.get("SERVING_DB_URL") or f"sqlite:///{home / 'serving.db'}",
        model_store_uri=env.get("MODEL_STORE_URI") or str(home / "models"),
        export_uri=env.get("EXPORT_URI") or str(home / "exports"),
        s3_endpoint_url=env.get("S3_ENDPOINT_URL") or None,
        start_date=date.fromisoformat(env.get("SAFEGUARD_START_DATE") or DEFAULT_START_DATE),
        max_quarantine_share=_share(env, "SAFEGUARD_MAX_QUARANTINE_SHARE", DEFAULT_MAX_QUARANTINE_SHARE),
        volume_tolerance=_factor(env, "SAFEGUARD_VOLUME_TOLERANCE", DEFAULT_VOLUME_TOLERANCE),
        warehouse_memory_limit=env.get("WAREHOUSE_MEMORY_LIMIT") or DEFAULT_WAREHOUSE_MEMORY_LIMIT,
        serving_readonly_role=env.get("SERVING_READONLY_ROLE") or DEFAULT_SERVING_READONLY_ROLE,
        serving_readonly_password=env.get("SERVING_READONLY_PASSWORD") or None,
        review_capacity=int(
            _number(
                env,
                "REVIEW_CAPACITY",
                DEFAULT_REVIEW_CAPACITY,
                lambda v: v >= 1 and v == int(v),
                "a whole number of cases, at least 1",
            )
        ),
    )


def _number(env: dict[str, str], name: str, default: float, accepts, expected: str) -> float:
    """A number from ``env[name]`` that ``accepts``, refusing anything else with a message naming the variable."""
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")  # refused below
    if not accepts(value):
        raise ValueError(f"{name}={text!r}: expected {expected}")
    return value


def _share(env: dict[str, str], name: str, default: float) -> float:
    """A fraction in [0, 1] from ``env[name]``."""
    return _number(env, name, default, lambda v: 0.0 <= v <= 1.0, "a share between 0 and 1, e.g. 0.01 for 1%")


def _factor(env: dict[str, str], name: str, default: float) -> float:
    """A factor above 1 from ``env[name]``."""
    return _number(
        env, name, default, lambda v: v > 1.0, "a factor above 1, e.g. 4 for 'a quarter of the usual volume'"
    )
