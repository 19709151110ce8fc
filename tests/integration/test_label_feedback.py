"""Label feedback (issue 17): a ban that lands on a day raises the scores of the accounts linked to the banned
account in that day's run, and their reasons name it; no account that shares nothing with it changes.

Real parts: a synthetic world in a local landing zone, the daily pipeline under Dagster (ingestion, dbt, LightGBM
scores with SHAP reasons, serving, publishing), a model that has learned that links to banned accounts matter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance

from safeguard import contract
from safeguard.catalog import load_catalog
from safeguard.landing import LandingZone, ObjectStore
from safeguard.registry import ModelRegistry
from safeguard.serving.db import engine_for, upgrade
from safeguard.world import generate_world
from tests import model_factory as mf
from tests.idempotence.pipeline import Locations, definitions, run

START = "2026-09-01"
DAYS = ["2026-09-01", "2026-09-02", "2026-09-03"]
BAN_DAY = DAYS[-1]
LINK_FEATURES = (
    "linked_payment_enforced_share",
    "linked_device_enforced_share",
    "linked_signup_ip_enforced_share",
    "linked_enforced_share",
)


def link_aware_model():
    """A small real LightGBM over the real catalog whose examples make links to enforced accounts a strong signal."""
    from safeguard.training import train_risk_model

    features = load_catalog()
    examples = mf.synthetic_frame(400, mf.day_strings("2026-07-01", 40), n_features=len(features), seed=3)
    examples = examples.rename(columns={f"feat_{i:02d}": spec.name for i, spec in enumerate(features)})
    rng = np.random.default_rng(3)
    linked = rng.random(len(examples)) < 0.06
    for name in LINK_FEATURES:
        examples[name] = np.where(linked, rng.uniform(0.2, 1.0, len(examples)), 0.0)
    examples.loc[linked, "label"] = (rng.random(int(linked.sum())) < 0.9).astype(np.int64)
    return train_risk_model(examples, features, num_boost_round=30, seed=1, created_at=datetime(2026, 8, 1, tzinfo=UTC))


def champion_scores(loc: Locations, day: str) -> dict[str, tuple[float, str | None]]:
    with duckdb.connect(loc.warehouse, read_only=True) as con:
        rows = con.execute(
            "SELECT account_id, probability, reasons_json FROM scoring.account_risk_scores "
            "WHERE score_date = ?::DATE AND model_role = 'champion'",
            [day],
        ).fetchall()
    return {a: (p, r) for a, p, r in rows}


def pick_ring(loc: Locations) -> tuple[str, list[str]]:
    """An account to ban and its ring-mates by payment method: a card shared by 2..10 accounts, none enforced."""
    with duckdb.connect(loc.warehouse, read_only=True) as con:
        groups = con.execute(
            """
            SELECT list(account_id ORDER BY account_id) FROM intermediate.int_account_snapshot
            WHERE as_of_date = ?::DATE AND payment_fingerprint IS NOT NULL
            GROUP BY payment_fingerprint HAVING count(*) BETWEEN 2 AND 10 AND sum(is_enforced) = 0
            ORDER BY count(*) DESC, min(account_id)""",
            [BAN_DAY],
        ).fetchall()
    assert groups, "the world has no shared card to test with"
    members = groups[0][0]
    return members[0], members[1:]


def linked_to(loc: Locations, banned: str) -> set[str]:
    """Every account that shares anything with ``banned`` that a feature counts: card, signup IP, device, org as
    of the day; a template or an exact IP used in the 28 days to the day."""
    with duckdb.connect(loc.warehouse, read_only=True) as con:
        rows = con.execute(
            """
            WITH profile AS (
                SELECT account_id, unnest(['p' || payment_fingerprint, 's' || signup_ip_hash, 'd' || device_hash,
                                           'o' || org_id]) AS v
                FROM intermediate.int_account_snapshot WHERE as_of_date = ?::DATE
            ), used AS (
                SELECT account_id, 't' || prompt_template_hash AS v FROM intermediate.int_account_daily_templates
                WHERE activity_date <= ?::DATE
                UNION ALL
                SELECT account_id, 'i' || attribute_value FROM intermediate.int_account_daily_attributes
                WHERE attribute = 'ip' AND activity_date <= ?::DATE
            ), all_values AS (SELECT * FROM profile WHERE v IS NOT NULL UNION SELECT * FROM used)
            SELECT DISTINCT other.account_id FROM all_values AS mine
            JOIN all_values AS other ON other.v = mine.v WHERE mine.account_id = ?""",
            [BAN_DAY, BAN_DAY, BAN_DAY, banned],
        ).fetchall()
    return {r[0] for r in rows}


def land_a_ban(loc: Locations, account_id: str) -> None:
    """The day's enforcement actions again, with one more: a ban of ``account_id`` at noon."""
    folder = Path(loc.landing_uri) / contract.day_path("enforcement_actions", BAN_DAY)
    existing = [pq.read_table(f) for f in sorted(folder.glob("*.parquet"))]
    ban = pa.table(
        {
            "action_id": [f"act-feedback-{account_id}"],
            "account_id": [account_id],
            "action_ts": pa.array([datetime.fromisoformat(f"{BAN_DAY}T12:00:00")], pa.timestamp("us")),
            "action": ["ban"],
            "category": ["fraud_scams"],
            "source": [contract.ENFORCEMENT_SOURCES[0]],
        }
    ).cast(contract.ENFORCEMENT.arrow_schema)
    LandingZone(loc.landing_uri).write_day("enforcement_actions", BAN_DAY, [*existing, ban])


@pytest.fixture(scope="module")
def before_and_after(tmp_path_factory):
    root = tmp_path_factory.mktemp("feedback")
    loc = Locations.under(root)
    generate_world(
        accounts=300,
        days=len(DAYS),
        start=START,
        seed=11,
        out_uri=loc.landing_uri,
        truth_path=root / "truth.parquet",
        progress=False,
    )
    engine = engine_for(loc.serving_url)
    try:
        upgrade(engine)
        ModelRegistry(engine, ObjectStore(loc.model_uri)).register(link_aware_model(), "champion")
    finally:
        engine.dispose()
    defs = definitions(loc.resources())
    instance = DagsterInstance.ephemeral()
    run(defs, "daily_pipeline", DAYS[0], DAYS[-1], instance=instance)
    before = champion_scores(loc, BAN_DAY)
    banned, mates = pick_ring(loc)
    land_a_ban(loc, banned)
    run(defs, "daily_pipeline", BAN_DAY, instance=instance)  # the day's run, with its ban
    return loc, banned, mates, before, champion_scores(loc, BAN_DAY)


def test_a_ban_raises_its_ring_mates_scores_the_same_day_and_their_reasons_name_it(before_and_after):
    _, banned, mates, before, after = before_and_after
    for mate in mates:
        assert after[mate][0] > before[mate][0], f"{mate} shares a card with the banned {banned}"
    explained = [m for m in mates if after[m][1]]
    assert explained, "no ring-mate reached a tier with reasons: the check would prove little"
    for mate in explained:
        assert f"{banned}, enforced since {BAN_DAY}" in after[mate][1]
        assert banned not in (before[mate][1] or "")


def test_no_account_that_shares_nothing_with_the_banned_one_changes(before_and_after):
    loc, banned, _, before, after = before_and_after
    assert set(after) == set(before)
    changed = {a for a in before if before[a] != after[a]}
    linked = linked_to(loc, banned)
    assert changed <= linked | {banned}, f"changed without a link to {banned}: {sorted(changed - linked)}"
    assert len(before) - len(linked) > 100  # most of the world shares nothing with it, and stayed as it was
