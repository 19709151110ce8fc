"""Validated ingestion: every contract violation ends in quarantine with its reason; days load whole or not at all."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import duckdb
import pyarrow as pa
import pytest

from safeguard import contract
from safeguard.ingest import (
    QUARANTINE_REASONS,
    MissingColumnError,
    ingest_days,
    validate,
)
from safeguard.landing import IncompleteDayError, LandingZone, UnreadableFileError
from safeguard.warehouse import ensure_raw_schema
from tests import landing_factory as lf

DAY = "2026-09-03"
NEXT = "2026-09-04"
ROWS = 12
BAD_ROW = 5

# (source, column, bad value, reason): each a violation of design §3.1 in one cell of otherwise valid rows.
VIOLATIONS = [
    ("usage_events", "event_id", None, "null_key:event_id"),
    ("usage_events", "account_id", None, "null_value:account_id"),
    ("usage_events", "model", None, "null_value:model"),
    ("usage_events", "input_tokens", -1, "negative_tokens:input_tokens"),
    ("usage_events", "output_tokens", -250, "negative_tokens:output_tokens"),
    ("usage_events", "classifier_score", 1.0001, "out_of_range:classifier_score"),
    ("usage_events", "classifier_score", -0.5, "out_of_range:classifier_score"),
    ("usage_events", "classifier_score", math.nan, "out_of_range:classifier_score"),
    ("usage_events", "country", "USA", "bad_length:country"),
    ("usage_events", "country", "1A", "bad_length:country"),
    ("usage_events", "stop_reason", "exploded", "unknown_enum:stop_reason"),
    ("usage_events", "policy_category", "CYBER", "unknown_enum:policy_category"),
    ("usage_events", "event_ts", lf.at(DAY, hours=-0.001), "timestamp_outside_day:event_ts"),
    ("usage_events", "event_ts", lf.at(NEXT), "timestamp_outside_day:event_ts"),  # the day is half-open
    ("accounts", "account_id", None, "null_key:account_id"),
    ("accounts", "updated_at", None, "null_key:updated_at"),
    ("accounts", "phone_verified", None, "null_value:phone_verified"),
    ("accounts", "plan", "gold", "unknown_enum:plan"),
    ("accounts", "email_domain_kind", "unknown", "unknown_enum:email_domain_kind"),
    ("accounts", "signup_country", "D", "bad_length:signup_country"),
    ("accounts", "updated_at", lf.at(NEXT, hours=3), "timestamp_outside_day:updated_at"),
    ("accounts", "created_at", lf.at(DAY, hours=23.99), "created_after_updated"),
    ("enforcement_actions", "action_id", None, "null_key:action_id"),
    ("enforcement_actions", "category", None, "null_value:category"),
    ("enforcement_actions", "action", "delete", "unknown_enum:action"),
    ("enforcement_actions", "source", "rumour", "unknown_enum:source"),
    ("enforcement_actions", "action_ts", lf.at(DAY, hours=-30), "timestamp_outside_day:action_ts"),
]


def reason_kinds() -> set[str]:
    return {r.split(":")[0] for r in QUARANTINE_REASONS}


@pytest.fixture
def zone(tmp_path) -> LandingZone:
    return LandingZone(str(tmp_path / "landing"))


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    ensure_raw_schema(connection)
    yield connection
    connection.close()


def raw_rows(con, source: str, day: str | None = None) -> list[tuple]:
    """Rows of ``raw.<source>`` without the ingestion time, sorted, for exact comparisons."""
    cols = ", ".join(f'"{c}"' for c in contract.SOURCES[source].column_names)
    where = f"WHERE _partition_date = DATE '{day}'" if day else ""
    return con.execute(
        f"SELECT {cols}, _partition_date, _source_file FROM raw.{source} {where} ORDER BY ALL"
    ).fetchall()


def quarantine_rows(con, source: str) -> list[tuple]:
    return con.execute(
        "SELECT partition_date::VARCHAR, reason, detail, row_json, source_file FROM raw.quarantine "
        "WHERE source = ? ORDER BY ALL",
        [source],
    ).fetchall()


@pytest.mark.parametrize(("source", "column", "value", "reason"), VIOLATIONS, ids=lambda v: str(v)[:30])
def test_each_contract_violation_is_quarantined_with_its_reason(source, column, value, reason):
    table = lf.with_value(lf.valid_rows(source, DAY, ROWS), BAD_ROW, column, value)
    key = contract.SOURCES[source].key
    original = table.slice(BAD_ROW, 1).to_pylist()[0]

    result = validate(contract.SOURCES[source], table, DAY, source_file="landing/x.parquet")

    assert result.valid.num_rows == ROWS - 1
    assert result.quarantine.num_rows == 1
    bad = result.quarantine.to_pylist()[0]
    assert (bad["source"], bad["reason"], bad["source_file"]) == (source, reason, "landing/x.parquet")
    assert str(bad["partition_date"]) == DAY
    assert reason.split(":")[0] in reason_kinds()
    kept = json.loads(bad["row_json"])
    assert kept.keys() == original.keys()
    assert kept[key] == original[key]
    if value is not None and not isinstance(value, datetime | float):
        assert bad["detail"] == str(value)  # the offending value
    if original[key] is not None:
        assert original[key] not in result.valid.column(key).to_pylist()


def test_valid_rows_load_in_contract_types_with_naive_utc_timestamps():
    table = lf.usage_events(DAY, ROWS)
    table = lf.with_value(table, 0, "org_id", None)  # nullable columns may be null
    table = lf.with_value(table, 1, "policy_category", None)

    result = validate(contract.USAGE_EVENTS, table, DAY, source_file="f")

    assert result.quarantine.num_rows == 0
    assert result.valid.schema.field("event_ts").type == pa.timestamp("us")
    assert result.valid.column("event_ts").to_pylist() == [
        t.replace(tzinfo=None) for t in table.column("event_ts").to_pylist()
    ]
    assert result.valid.column("event_id").to_pylist() == table.column("event_id").to_pylist()  # order kept
    assert result.retyped_columns == {} and result.extra_columns == ()


def test_a_column_of_the_wrong_physical_type_is_cast_where_lossless_and_quarantined_where_not():
    table = lf.usage_events(DAY, 4)
    table = lf.with_column(table, "input_tokens", pa.array(["12", "abc", "1.5", None]))
    table = lf.with_column(table, "output_tokens", pa.array([1, 2, 3, 4], pa.int32()))

    result = validate(contract.USAGE_EVENTS, table, DAY, source_file="f")

    assert result.retyped_columns == {"input_tokens": "string", "output_tokens": "int32"}
    assert result.valid.column("input_tokens").to_pylist() == [12]
    assert result.valid.column("output_tokens").type == pa.int64()
    reasons = {(r["reason"], r["detail"]) for r in result.quarantine.to_pylist()}
    assert reasons == {
        ("wrong_type:input_tokens", "abc"),
        ("wrong_type:input_tokens", "1.5"),  # never rounded to 2
        ("null_value:input_tokens", None),
    }


def test_timestamps_in_other_zones_or_as_text_are_read_as_the_instant_they_name():
    paris = timezone(timedelta(hours=2))
    table = lf.usage_events(DAY, 3)
    local = pa.array([datetime(2026, 9, 3, 1, 30, tzinfo=paris)] * 3, pa.timestamp("ms", tz="Europe/Paris"))
    as_text = pa.array([f"{DAY}T12:00:00+02:00", f"{DAY} 12:00:00", f"{DAY}T00:30:00+01:00"])

    in_paris = validate(contract.USAGE_EVENTS, lf.with_column(table, "event_ts", local), DAY, source_file="f")
    texts = validate(contract.USAGE_EVENTS, lf.with_column(table, "event_ts", as_text), DAY, source_file="f")

    # 01:30 in Paris is 23:30 UTC the day before: outside the folder's day
    assert in_paris.quarantine.column("reason").to_pylist() == ["timestamp_outside_day:event_ts"] * 3
    assert in_paris.quarantine.column("detail").to_pylist() == ["2026-09-02 23:30:00"] * 3
    assert texts.valid.column("event_ts").to_pylist() == [datetime(2026, 9, 3, 10), datetime(2026, 9, 3, 12)]
    assert texts.quarantine.column("detail").to_pylist() == ["2026-09-02 23:30:00"]


def test_duplicates_within_a_file_keep_the_first_occurrence():
    table = lf.usage_events(DAY, ROWS)
    first_id = table.column("event_id")[2].as_py()
    table = lf.with_value(table, 7, "event_id", first_id)
    table = lf.with_value(table, 9, "event_id", first_id)

    result = validate(contract.USAGE_EVENTS, table, DAY, source_file="f.parquet")

    assert result.valid.column("event_id").to_pylist().count(first_id) == 1
    ids = result.valid.column("event_id").to_pylist()
    assert ids.index(first_id) == 2 and len(ids) == ROWS - 2
    dups = result.quarantine.to_pylist()
    assert [d["reason"] for d in dups] == ["duplicate_id:event_id"] * 2
    assert dups[0]["detail"] == f"{first_id} (first seen in f.parquet)"
    assert json.loads(dups[0]["row_json"])["account_id"] == table.column("account_id")[7].as_py()


def test_accounts_are_identified_by_account_and_update_time():
    table = lf.accounts(DAY, 4)
    same_account_later = lf.with_value(table, 1, "account_id", table.column("account_id")[0].as_py())
    exact_repeat = lf.with_value(same_account_later, 3, "updated_at", table.column("updated_at")[1].as_py())
    exact_repeat = lf.with_value(exact_repeat, 3, "account_id", table.column("account_id")[0].as_py())
    exact_repeat = lf.with_value(exact_repeat, 3, "created_at", table.column("created_at")[1].as_py())

    result = validate(contract.ACCOUNTS, exact_repeat, DAY, source_file="f")

    assert result.valid.num_rows == 3  # two versions of acc-0 load; the exact repeat of a version does not
    assert result.quarantine.column("reason").to_pylist() == ["duplicate_id:account_id+updated_at"]


def test_a_missing_column_refuses_the_file_naming_column_and_file(zone, con):
    table = lf.usage_events(DAY, ROWS).drop_columns(["classifier_score"])
    zone.write_day("usage_events", DAY, [table])

    with pytest.raises(MissingColumnError, match=r"part-00000\.parquet.*classifier_score"):
        ingest_days(con, zone, "usage_events", [DAY])
    assert con.execute("SELECT count(*) FROM raw.usage_events").fetchone() == (0,)


def test_an_extra_column_is_ignored_reported_and_kept_with_quarantined_rows(zone, con):
    table = lf.with_value(lf.usage_events(DAY, ROWS), 0, "input_tokens", -3)
    table = table.append_column("debug_note", pa.array([f"n{i}" for i in range(ROWS)]))
    zone.write_day("usage_events", DAY, [table])

    result = ingest_days(con, zone, "usage_events", [DAY])

    assert result.extra_columns == ("debug_note",)
    assert result.rows_loaded == ROWS - 1
    assert "debug_note" not in [c[0] for c in con.execute("DESCRIBE raw.usage_events").fetchall()]
    (row_json,) = con.execute("SELECT row_json FROM raw.quarantine").fetchone()
    assert json.loads(row_json)["debug_note"] == "n0"


def test_a_corrupt_parquet_file_fails_the_batch_naming_the_file(zone, con):
    zone.write_day("usage_events", DAY, [lf.usage_events(DAY, ROWS)])
    zone.store.write_bytes(f"usage_events/date={DAY}/part-00001.parquet", b"PAR1 this is not parquet")

    with pytest.raises(UnreadableFileError, match=rf"date={DAY}/part-00001\.parquet"):
        ingest_days(con, zone, "usage_events", [DAY])
    assert con.execute("SELECT count(*) FROM raw.usage_events").fetchone() == (0,)


def test_a_day_without_success_marker_is_refused_naming_the_day(zone, con):
    lf.write_landing(zone, [DAY], sources=("accounts",))
    zone.write_day("accounts", NEXT, [lf.accounts(NEXT, ROWS)], mark_complete=False)

    with pytest.raises(IncompleteDayError, match=rf"accounts {NEXT}"):
        ingest_days(con, zone, "accounts", [DAY, NEXT])
    assert con.execute("SELECT count(*) FROM raw.accounts").fetchone() == (0,)


def test_rerunning_a_day_replaces_it_exactly(zone, con):
    table = lf.with_value(lf.enforcement_actions(DAY, ROWS), 1, "action", "nuke")
    zone.write_day("enforcement_actions", DAY, [table.slice(0, 6), table.slice(6)])
    lf.write_landing(zone, [NEXT], sources=("enforcement_actions",))

    first = ingest_days(con, zone, "enforcement_actions", [DAY, NEXT])
    before = (raw_rows(con, "enforcement_actions"), quarantine_rows(con, "enforcement_actions"))
    again = ingest_days(con, zone, "enforcement_actions", [DAY])

    assert (raw_rows(con, "enforcement_actions"), quarantine_rows(con, "enforcement_actions")) == before
    assert again.day(DAY) == first.day(DAY)
    assert first.day(DAY).files == 2 and first.day(DAY).quarantined_by_reason == {"unknown_enum:action": 1}
    assert len(raw_rows(con, "enforcement_actions", DAY)) == ROWS - 1


def test_a_rerun_picks_up_corrected_files(zone, con):
    zone.write_day("usage_events", DAY, [lf.with_value(lf.usage_events(DAY, ROWS), 0, "model", None)])
    assert ingest_days(con, zone, "usage_events", [DAY]).rows_quarantined == 1

    zone.write_day("usage_events", DAY, [lf.usage_events(DAY, ROWS)])
    fixed = ingest_days(con, zone, "usage_events", [DAY])

    assert (fixed.rows_loaded, fixed.rows_quarantined) == (ROWS, 0)
    assert quarantine_rows(con, "usage_events") == []
    assert len(raw_rows(con, "usage_events")) == ROWS


def test_duplicate_ids_across_files_and_days(zone, con):
    day_one = lf.usage_events(DAY, ROWS)
    repeated = day_one.column("event_id")[4].as_py()
    zone.write_day("usage_events", DAY, [day_one.slice(0, 6), lf.with_value(day_one.slice(6), 0, "event_id", repeated)])
    ingest_days(con, zone, "usage_events", [DAY])
    zone.write_day("usage_events", NEXT, [lf.with_value(lf.usage_events(NEXT, ROWS), 3, "event_id", repeated)])

    result = ingest_days(con, zone, "usage_events", [NEXT])

    assert result.quarantined_by_reason == {"duplicate_id:event_id": 1}
    (detail,) = con.execute(f"SELECT detail FROM raw.quarantine WHERE partition_date = DATE '{NEXT}'").fetchone()
    assert detail == f"{repeated} (already loaded for {DAY})"
    (in_day,) = con.execute(f"SELECT detail FROM raw.quarantine WHERE partition_date = DATE '{DAY}'").fetchone()
    assert in_day == f"{repeated} (first seen in {zone.store.full_uri(f'usage_events/date={DAY}/part-00000.parquet')})"
    assert con.execute("SELECT count(*) FROM raw.usage_events WHERE event_id = ?", [repeated]).fetchone() == (1,)
    # loading both days in one batch: the earlier day's copy wins, the later one is quarantined
    both = ingest_days(con, zone, "usage_events", [NEXT, DAY])
    assert [d.day for d in both.days] == [DAY, NEXT]
    assert both.day(NEXT).quarantined_by_reason == {"duplicate_id:event_id": 1}
    assert con.execute(
        "SELECT _partition_date::VARCHAR FROM raw.usage_events WHERE event_id = ?", [repeated]
    ).fetchall() == [(DAY,)]


def test_an_empty_day_loads_zero_rows(zone, con):
    zone.write_day("enforcement_actions", DAY, [])

    result = ingest_days(con, zone, "enforcement_actions", [DAY])

    assert (result.rows_read, result.rows_loaded, result.quarantine_share) == (0, 0, 0.0)
    assert result.day(DAY).files == 0


def test_a_failed_multi_day_load_leaves_earlier_data_untouched(zone, con):
    lf.write_landing(zone, [DAY, NEXT], sources=("usage_events",))
    ingest_days(con, zone, "usage_events", [DAY])
    before = con.execute("SELECT * FROM raw.usage_events ORDER BY ALL").fetchall()
    zone.store.write_bytes(f"usage_events/date={NEXT}/part-00001.parquet", b"garbage")

    with pytest.raises(UnreadableFileError):
        ingest_days(con, zone, "usage_events", [DAY, NEXT])

    assert con.execute("SELECT * FROM raw.usage_events ORDER BY ALL").fetchall() == before
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone() == (0,)
    # the connection is usable afterwards: no transaction or stage left behind
    assert ingest_days(con, zone, "usage_events", [DAY]).rows_loaded == 30


def test_result_counts_per_day_and_reason(zone, con):
    lf.write_landing(zone, [DAY], rows=50, files_per_day=3, sources=("usage_events",))
    bad = lf.with_value(lf.usage_events(NEXT, 40), 0, "input_tokens", -1)
    bad = lf.with_value(bad, 1, "country", "XYZ")
    bad = lf.with_value(bad, 2, "input_tokens", -2)
    zone.write_day("usage_events", NEXT, [bad])

    result = ingest_days(con, zone, "usage_events", [DAY, NEXT])

    assert len(result.files_read) == 4
    assert (result.day(DAY).rows_read, result.day(DAY).rows_loaded, result.day(DAY).files) == (50, 50, 3)
    assert result.day(NEXT).quarantined_by_reason == {
        "bad_length:country": 1,
        "negative_tokens:input_tokens": 2,
    }
    assert result.day(NEXT).quarantine_share == pytest.approx(3 / 40)
    assert result.worst_day.day == NEXT
    assert result.quarantine_share == pytest.approx(3 / 90)
    assert con.execute("SELECT count(*) FROM raw.usage_events").fetchone() == (87,)


def test_bad_arguments_are_refused_clearly(zone, con):
    with pytest.raises(KeyError, match="unknown source 'events'"):
        ingest_days(con, zone, "events", [DAY])
    with pytest.raises(ValueError, match="2026-13-01"):
        ingest_days(con, zone, "usage_events", ["2026-13-01"])


def test_ingested_at_is_naive_utc(zone, con):
    lf.write_landing(zone, [DAY], sources=("accounts",))
    before = datetime.now(UTC).replace(tzinfo=None)
    ingest_days(con, zone, "accounts", [DAY])
    (stamp,) = con.execute("SELECT DISTINCT _ingested_at FROM raw.accounts").fetchone()
    assert before <= stamp <= datetime.now(UTC).replace(tzinfo=None)
