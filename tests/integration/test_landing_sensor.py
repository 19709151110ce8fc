"""The landing-zone sensor launches one run per complete day, once, and says why it skips otherwise."""

from __future__ import annotations

from dagster import RunRequest, SkipReason, build_sensor_context

from orchestration.resources import LandingZoneResource
from orchestration.sensors import landing_zone_sensor
from safeguard.landing import LandingZone
from safeguard.readiness import ready_days
from tests.landing_factory import write_landing


def _evaluate(zone_dir, cursor=None):
    context = build_sensor_context(cursor=cursor, resources={"landing": LandingZoneResource(uri=str(zone_dir))})
    result = landing_zone_sensor(context)
    return result, context.cursor


def test_ready_days_needs_every_source(tmp_path):
    zone = LandingZone(str(tmp_path))
    write_landing(zone, ["2026-09-01", "2026-09-02"], rows=3)
    write_landing(zone, ["2026-09-03"], rows=3, sources=("usage_events", "accounts"))

    readiness = ready_days(zone, after=None, first_day="2026-09-01")

    assert readiness.ready == ["2026-09-01", "2026-09-02"]
    assert readiness.waiting == {"2026-09-03": ["enforcement_actions"]}
    assert ready_days(zone, after="2026-09-01", first_day="2026-09-01").ready == ["2026-09-02"]


def test_sensor_requests_each_complete_day_once_then_skips_with_reason(tmp_path):
    zone = LandingZone(str(tmp_path))
    write_landing(zone, ["2026-09-01", "2026-09-02"], rows=3)

    requests, cursor = _evaluate(tmp_path)
    assert [r.partition_key for r in requests] == ["2026-09-01", "2026-09-02"]
    assert all(isinstance(r, RunRequest) and r.run_key == r.partition_key for r in requests)
    assert cursor == "2026-09-02"

    again, cursor_again = _evaluate(tmp_path, cursor)
    assert isinstance(again, SkipReason) and "no complete landing day after 2026-09-02" in again.skip_message
    assert cursor_again == "2026-09-02"

    write_landing(zone, ["2026-09-03"], rows=3, sources=("usage_events",))
    waiting, _ = _evaluate(tmp_path, cursor)
    assert isinstance(waiting, SkipReason)
    assert "2026-09-03 waits for _SUCCESS in accounts, enforcement_actions" in waiting.skip_message


def test_days_before_the_first_partition_are_ignored(tmp_path):
    zone = LandingZone(str(tmp_path))
    write_landing(zone, ["2026-08-31"], rows=3)
    result, _ = _evaluate(tmp_path)
    assert isinstance(result, SkipReason)
