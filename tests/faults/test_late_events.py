"""Fault 6: late events for a day already processed. The producer re-lands day D with extra events of one account;
re-materializing D (ingestion, dbt features, scoring, serving, publishing of D, through the code location's assets
and real dbt) picks them up, and every downstream row of that account for D follows, while the other accounts'
rows stay as they were. tests/dbt/test_incremental.py proves the dbt half (a re-landed day rebuilt equals a fresh
build); this is the whole chain as an operator re-runs it.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from dagster import DagsterInstance, materialize

from assets.features import dbt_features
from assets.ingest import ingest_assets
from assets.publish import risk_tables
from assets.rollout import served_risk_scores
from assets.scoring import account_risk_scores
from safeguard.catalog import load_catalog
from safeguard.landing import LandingZone
from safeguard.serving.db import engine_for
from safeguard.serving.schema import account_risk_history
from tests import landing_factory as lf
from tests.faults.conftest import read_warehouse, register_champion, small_model

DAY = "2026-09-02"
ROWS = 30  # events of 20 accounts (acc-0 .. acc-19), 30 account versions (acc-0 .. acc-29)
LATE_EVENTS = 12
DAY_ASSETS = [*ingest_assets, dbt_features, account_risk_scores, served_risk_scores, risk_tables]


def late_events(account: str) -> pa.Table:
    """Valid events of the day for ``account``, with ids the first landing did not have."""
    extra = lf.usage_events(DAY, LATE_EVENTS, seed=9)
    index = extra.schema.get_field_index
    extra = extra.set_column(
        index("event_id"), "event_id", pc.binary_join_element_wise("late-", extra.column("event_id"), "")
    )
    return extra.set_column(index("account_id"), "account_id", pa.array([account] * LATE_EVENTS))


def day_state(d) -> dict:
    """The day's rows per account in each downstream table: features, champion score, served and published."""
    with read_warehouse(d.warehouse) as con:

        def by_account(sql):
            return {row[0]: row[1:] for row in con.execute(sql, [DAY]).fetchall()}

        state = {
            "features": by_account("SELECT * FROM marts.fct_account_features WHERE as_of_date = ?::DATE"),
            "scores": by_account(
                "SELECT account_id, probability FROM scoring.account_risk_scores WHERE score_date = ?::DATE"
            ),
            "served": by_account(
                "SELECT account_id, probability FROM scoring.served_risk_scores WHERE score_date = ?::DATE"
            ),
        }
        state["events"] = dict(
            con.execute(
                "SELECT account_id, count(*) FROM raw.usage_events WHERE _partition_date = ?::DATE GROUP BY 1", [DAY]
            ).fetchall()
        )
        state["events_1d"] = dict(
            con.execute(
                "SELECT account_id, events_1d FROM marts.fct_account_features WHERE as_of_date = ?::DATE", [DAY]
            ).fetchall()
        )
    engine = engine_for(d.serving_url)
    try:
        with engine.connect() as conn:
            h = account_risk_history.c
            state["published"] = {
                a: (p,)
                for a, p in conn.execute(sa.select(h.account_id, h.probability).where(h.score_date == DAY)).all()
            }
    finally:
        engine.dispose()
    return state


def test_late_events_re_landed_for_a_day_flow_through_everything_downstream_of_it(deploy):
    d = deploy()
    zone = lf.write_landing(LandingZone(d.landing_uri), [DAY], rows=ROWS)
    catalog = {spec.name: spec for spec in load_catalog()}
    others = [name for name in catalog if name != "events_1d"][:5]
    # events_1d third: the column that carries the risk in the synthetic training data, so more events move it
    register_champion(d, small_model([catalog[n] for n in others[:2] + ["events_1d"] + others[2:]]))
    instance = DagsterInstance.ephemeral()
    assert materialize(DAY_ASSETS, partition_key=DAY, resources=d.resources, instance=instance).success
    before = day_state(d)
    late = min(before["events_1d"])  # an account with a feature row for the day

    zone.write_day("usage_events", DAY, [lf.usage_events(DAY, ROWS), late_events(late)])  # the day re-landed whole
    assert materialize(DAY_ASSETS, partition_key=DAY, resources=d.resources, instance=instance).success
    after = day_state(d)

    assert after["events"][late] == before["events"].get(late, 0) + LATE_EVENTS
    assert after["events_1d"][late] == before["events_1d"][late] + LATE_EVENTS
    for table in ("features", "scores", "served", "published"):
        assert after[table].keys() == before[table].keys(), table
        changed = {a for a in after[table] if after[table][a] != before[table][a]}
        assert changed == {late}, table  # that account's row moved; every other row is as it was
    assert after["published"] == after["served"] == after["scores"]  # published what was scored
