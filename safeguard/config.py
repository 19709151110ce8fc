"""Where everything lives: every location comes from the environment, with a default under SAFEGUARD_HOME.

This module is the one place that knows the environment variable names and their defaults (design §4).
It never imports Dagster; the Dagster resources read the same names through ``EnvVar``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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
)


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
    )
