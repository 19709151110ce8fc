"""Issue 16, item 3: a day that is empty, collapsed, or holds an unknown file publishes nothing.

Through the code location's assets (ingestion, dbt features, scoring, serving, publishing) on a small landing zone:
eight ordinary days, then an empty usage day, a collapsed one (a twentieth of the usual events), one with a
stray CSV and an ordinary one. The volume check (blocking) fails the empty and the collapsed day with the source and
the expected range, and nothing below ingestion runs for them; the ordinary day after them is refused by the feature
step, its windows reading the failed days; an operator's override with a reason lets a real outage through,
recorded on the check; the CSV holds its day with the file named.
"""

from __future__ import annotations

from datetime import date, timedelta

from dagster import DagsterInstance, materialize

from assets.features import dbt_features
from assets.ingest import VOLUME_CHECK, ingest_assets
from assets.publish import risk_tables
from assets.rollout import served_risk_scores
from assets.scoring import account_risk_scores
from orchestration.runner import range_tags
from safeguard.catalog import load_catalog
from safeguard.landing import LandingZone
from tests import landing_factory as lf
from tests.faults.conftest import failure_text, register_champion, small_model
from tests.idempotence.pipeline import published_day_set

DAY_ASSETS = [*ingest_assets, dbt_features, account_risk_scores, served_risk_scores, risk_tables]
FIRST = date(2026, 9, 1)
DAYS = [(FIRST + timedelta(days=i)).isoformat() for i in range(12)]
ORDINARY, EMPTY, COLLAPSED, STRAY, NEXT = DAYS[:8], DAYS[8], DAYS[9], DAYS[10], DAYS[11]
ROWS = 40  # events per ordinary day, of 20 accounts


def _volume(result) -> dict[str, object]:
    return {
        e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations() if e.check_name == VOLUME_CHECK
    }


def _accept(days: list[str], reason: str | None) -> dict:
    config = {"accept_volume_days": days, **({"volume_override_reason": reason} if reason else {})}
    return {"ops": {a.node_def.name: {"config": config} for a in ingest_assets}}


def test_an_empty_or_collapsed_day_publishes_nothing_unless_accepted_and_a_stray_file_holds_its_day(deploy):
    d = deploy()
    zone = LandingZone(d.landing_uri)
    lf.write_landing(zone, DAYS, rows=ROWS)
    zone.write_day("usage_events", EMPTY, [])  # _SUCCESS and no file: the producer lost the day
    zone.write_day("usage_events", COLLAPSED, [lf.usage_events(COLLAPSED, 2)])
    zone.store.write_bytes(f"usage_events/date={STRAY}/events.csv", b"event_id\ne-1\n")
    catalog = load_catalog()
    register_champion(d, small_model(catalog[:6]))
    instance = DagsterInstance.ephemeral()

    def day_run(day: str, **kwargs):
        return materialize(
            DAY_ASSETS, partition_key=day, resources=d.resources, instance=instance, raise_on_error=False, **kwargs
        )

    ordinary = materialize(
        DAY_ASSETS, resources=d.resources, instance=instance, tags=range_tags(ORDINARY[0], ORDINARY[-1])
    )
    assert ordinary.success and published_day_set(d.serving_url) == set(ORDINARY)
    assert all(e.passed for e in _volume(ordinary).values())

    empty = day_run(EMPTY)
    assert not empty.success
    check = _volume(empty)["raw_usage_events"]
    assert not check.passed
    assert check.description.startswith(f"usage_events {EMPTY}: rows 0 below the expected 10 .. 160 (median 40")
    assert _volume(empty)["raw_accounts"].passed
    assert not empty.asset_materializations_for_node("dbt_features")  # nothing below ingestion ran
    assert published_day_set(d.serving_url) == set(ORDINARY)

    collapsed = day_run(COLLAPSED)
    assert not collapsed.success
    assert (
        f"usage_events {COLLAPSED}: rows 2 below the expected 10 .. 160"
        in _volume(collapsed)["raw_usage_events"].description
    )
    assert published_day_set(d.serving_url) == set(ORDINARY)

    # a later, ordinary day: its windows would read the failed days, so its features are refused
    later = day_run(NEXT)
    assert not later.success
    assert f"features of {NEXT} refused" in failure_text(later)
    # the failed days, and the held one, which was never loaded
    assert f"usage_events {EMPTY} .. {STRAY} (3 days)" in failure_text(later)
    assert NEXT not in published_day_set(d.serving_url)

    refused = day_run(EMPTY, run_config=_accept([EMPTY], None))
    assert not refused.success and "needs volume_override_reason" in failure_text(refused)

    accepted = day_run(EMPTY, run_config=_accept([EMPTY], "API outage all day, INC-4711"))
    assert accepted.success
    check = _volume(accepted)["raw_usage_events"]
    assert check.passed and "passed with an operator's override" in check.description
    assert check.metadata["days_accepted"].data == {EMPTY: "API outage all day, INC-4711"}
    assert published_day_set(d.serving_url) == {*ORDINARY, EMPTY}

    stray = day_run(STRAY)
    assert not stray.success
    assert f"usage_events {STRAY}: unknown file(s) events.csv in " in failure_text(stray)
    assert STRAY not in published_day_set(d.serving_url)
