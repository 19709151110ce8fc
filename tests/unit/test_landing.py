"""The landing zone on a local folder and on S3 (moto's server over real HTTP): same contract, same answers."""

from __future__ import annotations

import uuid

import boto3
import duckdb
import pytest
from botocore.awsrequest import AWSResponse

from safeguard.ingest import ingest_days
from safeguard.landing import IncompleteDayError, LandingZone, UnknownFileError, UnreadableFileError
from tests import landing_factory as lf

DAY, NEXT = "2026-09-05", "2026-09-06"


def new_bucket(endpoint: str) -> str:
    name = f"landing-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "s3", "s3-bucket-root"])
def zone(request, tmp_path) -> LandingZone:
    if request.param == "local":
        return LandingZone(str(tmp_path / "landing"))
    endpoint = request.getfixturevalue("s3_endpoint")
    prefix = "/team/landing" if request.param == "s3" else ""
    return LandingZone(f"s3://{new_bucket(endpoint)}{prefix}", s3_endpoint_url=endpoint)


def test_write_list_and_read_round_trip(zone):
    parts = [lf.usage_events(DAY, 10), lf.usage_events(DAY, 10, seed=1)]
    zone.write_day("usage_events", DAY, parts)
    zone.write_day("usage_events", NEXT, [lf.usage_events(NEXT, 5)])
    zone.write_day("accounts", DAY, [lf.accounts(DAY, 4)])

    assert zone.list_days("usage_events") == [DAY, NEXT]
    assert zone.list_days("accounts") == [DAY]
    assert zone.list_days("enforcement_actions") == []
    assert zone.is_complete("usage_events", DAY)
    listing = zone.day_files("usage_events", DAY)
    assert listing.files == [
        f"usage_events/date={DAY}/part-00000.parquet",
        f"usage_events/date={DAY}/part-00001.parquet",
    ]
    assert [zone.read_file(f) for f in listing.files] == parts


def test_an_incomplete_day_is_listed_but_refused(zone):
    zone.write_day("accounts", DAY, [lf.accounts(DAY, 4)], mark_complete=False)

    assert zone.list_days("accounts") == [DAY]
    assert not zone.is_complete("accounts", DAY)
    with pytest.raises(IncompleteDayError, match=rf"accounts {DAY}: no _SUCCESS at .*accounts/date={DAY}"):
        zone.day_files("accounts", DAY)


def test_rewriting_a_day_replaces_its_files_and_an_empty_day_is_complete(zone):
    zone.write_day("enforcement_actions", DAY, [lf.enforcement_actions(DAY, 3)] * 3)
    zone.write_day("enforcement_actions", DAY, [])

    assert zone.is_complete("enforcement_actions", DAY)
    assert zone.day_files("enforcement_actions", DAY).files == []


def test_day_files_skip_bookkeeping_and_refuse_an_unknown_file_by_name(zone):
    zone.write_day("usage_events", DAY, [lf.usage_events(DAY, 3)])
    for name in ("_committed_123", ".part-00000.parquet.crc", "_temporary.parquet", "part-0.parquet.crc"):
        zone.store.write_bytes(f"usage_events/date={DAY}/{name}", b"x")
    zone.store.write_bytes("usage_events/not-a-day/part-0.parquet", b"x")

    assert zone.day_files("usage_events", DAY).files == [f"usage_events/date={DAY}/part-00000.parquet"]
    assert zone.list_days("usage_events") == [DAY]

    zone.store.write_bytes(f"usage_events/date={DAY}/notes.txt", b"x")
    with pytest.raises(UnknownFileError, match=rf"usage_events {DAY}: unknown file\(s\) notes.txt in .*held"):
        zone.day_files("usage_events", DAY)


def test_an_unreadable_file_is_named(zone):
    rel = f"usage_events/date={DAY}/part-00000.parquet"
    zone.store.write_bytes(rel, b"PAR1 truncated")

    with pytest.raises(UnreadableFileError, match=rf"{zone.uri}/{rel}"):
        zone.read_file(rel)


def test_ingestion_reads_the_zone(zone):
    lf.write_landing(zone, [DAY, NEXT], rows=20, files_per_day=2, sources=("usage_events",))
    with duckdb.connect() as con:
        result = ingest_days(con, zone, "usage_events", [DAY, NEXT])
        files = {f for (f,) in con.execute("SELECT DISTINCT _source_file FROM raw.usage_events").fetchall()}

    assert (result.rows_loaded, result.rows_quarantined, len(result.files_read)) == (40, 0, 4)
    assert files == set(result.files_read)
    assert all(f.startswith(zone.uri + "/usage_events/date=") for f in files)


class _Body:
    """The raw body of a canned HTTP response, as botocore reads it."""

    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_):
        yield self.data


def test_s3_errors_are_retried_with_the_configured_attempts(s3_endpoint):
    zone = LandingZone(f"s3://{new_bucket(s3_endpoint)}/x", s3_endpoint_url=s3_endpoint)
    table = lf.accounts(DAY, 5)
    zone.write_day("accounts", DAY, [table])
    attempts = []

    def unavailable_three_times(request, **_):
        """Answer the first three GETs with 503 Slow Down, as S3 does under load; then let requests through."""
        attempts.append(request.url)
        if len(attempts) <= 3:
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {}, _Body(body))
        return None

    client = zone.store._s3
    client.meta.events.register("before-send.s3.GetObject", unavailable_three_times)

    # botocore's own default ("standard", 3 attempts) would give up after the third 503
    assert zone.read_file(f"accounts/date={DAY}/part-00000.parquet") == table
    assert len(attempts) == 4
