"""Faults 5 and 7 at the level an operator sees them, the ingestion assets' materializations:

- a producer adds a column: the day loads, the column is ignored and named in the materialization's metadata;
- a producer drops a contract column: the materialization fails naming the column and the file, and the day's
  rows loaded before stay as they were;
- a producer's clock is skewed (events hours before their landing day, a day after it, or a year ahead, in the
  future): those rows are quarantined with the reason and the timestamp, never loaded, and the operator sees the
  count per reason in the metadata.

The rules themselves are unit-tested in tests/unit/test_ingest.py (validate, ingest_days); here they are checked
through the assets, resources and metadata of the code location.
"""

from __future__ import annotations

import pyarrow as pa
from dagster import DagsterInstance, materialize

from assets.ingest import QUARANTINE_CHECK, ingest_assets
from safeguard.landing import LandingZone
from tests import landing_factory as lf
from tests.faults.conftest import failure_text, read_warehouse, rows_per_day

DAY = "2026-09-02"
ROWS = 400  # large enough that three quarantined rows stay under the quarantine check's 1%


def landed(deploy):
    d = deploy()
    return d, lf.write_landing(LandingZone(d.landing_uri), [DAY], rows=ROWS)


def ingest(d, **kwargs):
    return materialize(
        ingest_assets, partition_key=DAY, resources=d.resources, instance=DagsterInstance.ephemeral(), **kwargs
    )


def test_a_new_column_is_ignored_and_named_in_the_metadata(deploy):
    d, zone = landed(deploy)
    events = lf.usage_events(DAY, ROWS)
    zone.write_day("usage_events", DAY, [events.append_column("client_build", pa.array(["b-1"] * ROWS))])

    result = ingest(d)

    assert result.success
    metadata = {
        name: result.asset_materializations_for_node(name)[0].metadata for name in ("raw_usage_events", "raw_accounts")
    }
    assert metadata["raw_usage_events"]["extra_columns"].data == ["client_build"]
    assert metadata["raw_usage_events"]["dagster/row_count"].value == ROWS
    assert metadata["raw_accounts"]["extra_columns"].data == []
    with read_warehouse(d.warehouse) as con:
        loaded = con.execute("SELECT * FROM raw.usage_events ORDER BY event_id").to_arrow_table()
    assert "client_build" not in loaded.column_names
    assert loaded.column("event_id").to_pylist() == sorted(events.column("event_id").to_pylist())


def test_a_missing_column_fails_naming_column_and_file_and_keeps_the_loaded_day(deploy):
    d, zone = landed(deploy)
    assert ingest(d).success
    zone.write_day("usage_events", DAY, [lf.usage_events(DAY, ROWS, seed=1).drop_columns(["ip_hash"])])

    result = ingest(d, raise_on_error=False)

    assert not result.success
    assert [e.step_key for e in result.get_step_failure_events()] == ["raw_usage_events"]
    assert (
        f"{d.landing_uri}/usage_events/date={DAY}/part-00000.parquet: missing required column(s) ip_hash"
        in failure_text(result)
    )
    assert rows_per_day(d.warehouse, "raw.usage_events") == {DAY: ROWS}  # the earlier load of the day, untouched
    with read_warehouse(d.warehouse) as con:
        (seed0_rows,) = con.execute(
            "SELECT count(*) FROM raw.usage_events WHERE event_id IN (SELECT unnest(?))",
            [lf.usage_events(DAY, ROWS).column("event_id").to_pylist()],
        ).fetchone()
    assert seed0_rows == ROWS
    assert rows_per_day(d.warehouse, "raw.quarantine", "partition_date") == {}


def test_timestamps_from_a_skewed_clock_are_quarantined_with_the_reason_and_never_loaded(deploy):
    d, zone = landed(deploy)
    skewed = {0: lf.at(DAY, hours=-3), 1: lf.at(DAY, hours=24 + 2), 2: lf.at(DAY, hours=24 * 366)}  # last: future
    events = lf.usage_events(DAY, ROWS)
    for row, ts in skewed.items():
        events = lf.with_value(events, row, "event_ts", ts)
    zone.write_day("usage_events", DAY, [events])
    skewed_ids = [events.column("event_id")[row].as_py() for row in skewed]

    result = ingest(d)

    assert result.success  # 3 of 400 is under the 1% the check allows
    (event,) = result.asset_materializations_for_node("raw_usage_events")
    assert event.metadata["quarantined_by_reason"].data == {"timestamp_outside_day:event_ts": 3}
    assert event.metadata["dagster/row_count"].value == ROWS - 3
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert checks["raw_usage_events", QUARANTINE_CHECK].passed
    with read_warehouse(d.warehouse) as con:
        loaded = con.execute(
            "SELECT count(*) FROM raw.usage_events WHERE event_id IN (SELECT unnest(?))", [skewed_ids]
        ).fetchone()[0]
        quarantined = con.execute(
            "SELECT json_extract_string(row_json, '$.event_id'), reason, detail, source_file FROM raw.quarantine "
            "WHERE source = 'usage_events' ORDER BY 1"
        ).fetchall()
    assert loaded == 0
    assert quarantined == [
        (
            event_id,
            "timestamp_outside_day:event_ts",
            str(ts.replace(tzinfo=None)),
            f"{d.landing_uri}/usage_events/date={DAY}/part-00000.parquet",
        )
        for event_id, ts in sorted(zip(skewed_ids, skewed.values()))
    ]
