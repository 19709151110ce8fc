"""Fault 3: the S3 landing endpoint throttles or fails. A real moto server behind a real HTTP proxy that answers
chosen requests with S3 errors; boto3 is not mocked. A burst of errors is retried and the day ingests; a file that
keeps failing fails the day, naming the file, and loads nothing of the batch while earlier days stay as they were.
"""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, materialize

from assets.ingest import ingest_assets
from safeguard.contract import SOURCES
from safeguard.landing import LandingZone, s3_client
from tests import landing_factory as lf
from tests.faults.conftest import failure_text, new_bucket, rows_per_day

DAYS = D1, D2, D3 = ["2026-09-02", "2026-09-03", "2026-09-04"]
ROWS = 20
# How many times the client sends a request that keeps failing, as its config says.
CALLS_PER_REQUEST = s3_client().meta.config.retries["total_max_attempts"]


def landing_on_s3(deploy, s3_endpoint, s3_proxy):
    """Three valid days written straight to moto; the deployment reads them through the proxy."""
    uri = f"s3://{new_bucket(s3_endpoint)}/landing"
    lf.write_landing(LandingZone(uri, s3_endpoint_url=s3_endpoint), DAYS, rows=ROWS)
    return deploy(landing_uri=uri, s3_endpoint_url=s3_proxy.url)


def test_a_burst_of_throttling_and_server_errors_is_retried_and_the_day_ingests(deploy, s3_endpoint, s3_proxy):
    d = landing_on_s3(deploy, s3_endpoint, s3_proxy)
    s3_proxy.fail_next([(503, "SlowDown"), (500, "InternalError"), (503, "SlowDown")])

    result = materialize(ingest_assets, partition_key=D1, resources=d.resources, instance=DagsterInstance.ephemeral())

    assert result.success
    assert len(s3_proxy.failed) == 3  # the errors were really served, and retried past
    for source in SOURCES.values():
        assert rows_per_day(d.warehouse, source.raw_table) == {D1: ROWS}


@pytest.mark.parametrize(
    ("failing", "named"),
    [
        (
            f"usage_events/date={D3}/part-00000.parquet",
            "cannot fetch {uri}/usage_events/date={day}/part-00000.parquet: ",
        ),
        (f"usage_events/date={D3}/_SUCCESS", "usage_events {day}: cannot list {uri}/usage_events/date={day}: "),
    ],
    ids=["get-data-file", "head-day-marker"],
)
def test_a_persistently_failing_call_fails_the_day_naming_it_and_writes_nothing(
    deploy, s3_endpoint, s3_proxy, failing, named
):
    d = landing_on_s3(deploy, s3_endpoint, s3_proxy)
    instance = DagsterInstance.ephemeral()
    assert materialize(ingest_assets, partition_key=D1, resources=d.resources, instance=instance).success
    s3_proxy.fail_matching(failing)  # one object of the range's last day, on every attempt

    failed = materialize(
        ingest_assets,
        resources=d.resources,
        instance=instance,
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": D2, "dagster/asset_partition_range_end": D3},
    )

    assert not failed.success
    assert [e.step_key for e in failed.get_step_failure_events()] == ["raw_usage_events"]
    text = failure_text(failed)
    assert named.format(uri=d.landing_uri, day=D3) in text and "reached max retries" in text
    assert len(s3_proxy.failed) == CALLS_PER_REQUEST  # tried as often as the client is configured to
    # Nothing of D2 or D3 (one batch, one transaction); D1 as it was. The other sources' steps are their own.
    assert rows_per_day(d.warehouse, "raw.usage_events") == {D1: ROWS}
    assert rows_per_day(d.warehouse, "raw.quarantine", "partition_date") == {}
    assert rows_per_day(d.warehouse, "raw.accounts") == dict.fromkeys(DAYS, ROWS)

    s3_proxy.heal()
    again = materialize(
        ingest_assets[:1],
        resources=d.resources,
        instance=instance,
        tags={"dagster/asset_partition_range_start": D2, "dagster/asset_partition_range_end": D3},
    )
    assert again.success
    assert rows_per_day(d.warehouse, "raw.usage_events") == dict.fromkeys(DAYS, ROWS)
