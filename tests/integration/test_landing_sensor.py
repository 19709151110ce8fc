"""The landing-zone sensor on a real landing folder: a new day once, a late day with every later day, a re-landed day
with every later day, an unknown file held, and a reason whenever it skips."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import RunRequest, SkipReason, build_sensor_context

from assets.resources import LandingZoneResource
from orchestration.runner import RANGE_END_TAG, RANGE_START_TAG
from orchestration.sensors import landing_zone_sensor
from safeguard.contract import day_path
from safeguard.landing import LandingZone
from safeguard.readiness import LaunchLog
from tests.landing_factory import valid_rows, write_landing


def _evaluate(zone_dir, cursor=None):
    context = build_sensor_context(cursor=cursor, resources={"landing": LandingZoneResource(uri=str(zone_dir))})
    result = landing_zone_sensor(context)
    return result, context.cursor


def _days_of(request: RunRequest) -> tuple[str, str]:
    if request.partition_key:
        return request.partition_key, request.partition_key
    return request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]


def test_ready_days_run_once_in_one_range_then_the_sensor_skips_with_a_reason(tmp_path):
    zone = LandingZone(str(tmp_path))
    write_landing(zone, ["2026-09-01", "2026-09-02"], rows=3)

    request, cursor = _evaluate(tmp_path)
    assert isinstance(request, RunRequest) and _days_of(request) == ("2026-09-01", "2026-09-02")
    assert "new 2026-09-01 .. 2026-09-02" in request.tags["safeguard/landing"]
    assert sorted(LaunchLog.from_cursor(cursor).days) == ["2026-09-01", "2026-09-02"]

    again, cursor_again = _evaluate(tmp_path, cursor)
    assert isinstance(again, SkipReason) and "no new or changed landing day" in again.skip_message
    assert cursor_again == cursor

    write_landing(zone, ["2026-09-03"], rows=3)
    request, cursor = _evaluate(tmp_path, cursor)
    assert _days_of(request) == ("2026-09-03", "2026-09-03")


def test_a_late_day_holds_the_days_after_it_then_runs_with_them(tmp_path):
    zone = LandingZone(str(tmp_path))
    write_landing(zone, ["2026-09-01"], rows=3)
    _, cursor = _evaluate(tmp_path)
    write_landing(zone, ["2026-09-02"], rows=3, sources=("usage_events", "accounts"))  # enforcement is late
    write_landing(zone, ["2026-09-03", "2026-09-04"], rows=3)

    waiting, cursor_waiting = _evaluate(tmp_path, cursor)
    assert isinstance(waiting, SkipReason)
    assert "2026-09-02 waits for _SUCCESS in enforcement_actions" in waiting.skip_message
    assert "2026-09-03 .. 2026-09-04 (2 days) wait(s) behind 2026-09-02" in waiting.skip_message
    assert sorted(LaunchLog.from_cursor(cursor_waiting).days) == ["2026-09-01"]

    write_landing(zone, ["2026-09-02"], rows=3, sources=("enforcement_actions",))
    request, _ = _evaluate(tmp_path, cursor_waiting)
    assert _days_of(request) == ("2026-09-02", "2026-09-04")


def test_a_re_landed_day_runs_again_with_every_later_day_and_an_unchanged_rewrite_does_not(tmp_path):
    zone = LandingZone(str(tmp_path))
    days = ["2026-09-01", "2026-09-02", "2026-09-03", "2026-09-04"]
    write_landing(zone, days, rows=3)
    first, cursor = _evaluate(tmp_path)

    # the producer rewrites 09-02 with the same bytes (a re-run export): a new mtime, nothing to do
    part = Path(tmp_path) / day_path("usage_events", "2026-09-02") / "part-00000.parquet"
    os.utime(part, ns=(part.stat().st_atime_ns, part.stat().st_mtime_ns + 10**9))
    same, cursor = _evaluate(tmp_path, cursor)
    assert isinstance(same, SkipReason) and "no new or changed" in same.skip_message

    # then re-lands 09-02 with other rows: 09-02 .. 09-04 run again, under a new run key
    zone.write_day("usage_events", "2026-09-02", [valid_rows("usage_events", "2026-09-02", 5, seed=4)])
    request, cursor = _evaluate(tmp_path, cursor)
    assert _days_of(request) == ("2026-09-02", "2026-09-04")
    assert "changed (re-landed) 2026-09-02" in request.tags["safeguard/landing"]
    assert "rebuilt after it 2026-09-03 .. 2026-09-04" in request.tags["safeguard/landing"]
    assert request.run_key != first.run_key
    assert isinstance(_evaluate(tmp_path, cursor)[0], SkipReason)


def test_a_day_with_an_unknown_file_is_held_and_named(tmp_path):
    zone = LandingZone(str(tmp_path))
    write_landing(zone, ["2026-09-01", "2026-09-02"], rows=3)
    (Path(tmp_path) / day_path("accounts", "2026-09-01") / "accounts.csv").write_text("account_id\nacc-1\n")
    (Path(tmp_path) / day_path("accounts", "2026-09-01") / ".part-00000.parquet.crc").write_bytes(b"crc")

    held, cursor = _evaluate(tmp_path)
    assert isinstance(held, SkipReason)
    assert "2026-09-01 is held: unknown file(s) in its folders: accounts/accounts.csv" in held.skip_message
    assert "2026-09-02 wait(s) behind 2026-09-01" in held.skip_message

    (Path(tmp_path) / day_path("accounts", "2026-09-01") / "accounts.csv").unlink()
    request, _ = _evaluate(tmp_path, cursor)
    assert _days_of(request) == ("2026-09-01", "2026-09-02")


def test_an_older_sensors_cursor_is_read_as_the_last_day_done(tmp_path):
    zone = LandingZone(str(tmp_path))
    write_landing(zone, ["2026-09-01", "2026-09-02", "2026-09-03"], rows=3)
    request, cursor = _evaluate(tmp_path, "2026-09-02")
    assert _days_of(request) == ("2026-09-03", "2026-09-03")
    assert LaunchLog.from_cursor(cursor).floor == "2026-09-02"


def test_days_before_the_first_partition_are_ignored(tmp_path):
    zone = LandingZone(str(tmp_path))
    write_landing(zone, ["2026-08-31"], rows=3)
    result, _ = _evaluate(tmp_path)
    assert isinstance(result, SkipReason)
