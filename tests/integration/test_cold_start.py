"""A world too young to train on still gets risk tables: the rules score serves as champion (issue 14).

The whole graph through `safeguard run` on a contract landing zone of three days: no label window has closed,
so training refuses; the cold start registers the rules score as champion (kind ``rules``), and the risk tables
are published with it, each alerting account's reasons being the rules it breaks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from safeguard.config import settings
from safeguard.landing import LandingZone
from tests.landing_factory import write_landing

DAYS = ["2026-09-01", "2026-09-02", "2026-09-03"]
ROOT = Path(__file__).resolve().parents[2]
CONFIG_VARIABLES = ("LANDING_URI", "WAREHOUSE_PATH", "SERVING_DB_URL", "MODEL_STORE_URI", "EXPORT_URI", "DAGSTER_HOME")


def test_a_young_world_is_served_by_the_rules_score_marked_as_such(tmp_path):
    # A process of its own, as an operator runs it: the code location reads its own SAFEGUARD_HOME.
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env["SAFEGUARD_HOME"] = str(tmp_path / "home")
    s = settings(env)
    write_landing(LandingZone(s.landing_uri), DAYS, rows=200)

    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", "--start", DAYS[0], "--end", DAYS[-1]],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    engine = sa.create_engine(s.serving_db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version, kind, status, metrics FROM model_versions")).all()
            current = conn.execute(
                sa.text("SELECT model_version, tier, reasons, score_date FROM account_risk_current")
            ).all()
    finally:
        engine.dispose()
    assert [(v.kind, v.status) for v in versions] == [("rules", "champion")]
    rules_version = versions[0].version
    assert rules_version.startswith("rules-") and "no day's label window has closed" in versions[0].metrics
    assert current and {row.model_version for row in current} == {rules_version}
    assert {str(row.score_date) for row in current} == {DAYS[-1]}
    alerting = [row for row in current if row.tier != "low"]
    assert all(row.reasons not in ("[]", None) for row in alerting)
