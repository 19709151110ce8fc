"""The @dbt_assets in Dagster: a 2-day partition range in one run with real dbt on a DuckDB file with raw data."""

from __future__ import annotations

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_duckdb import DuckDBResource

from tests.dbt.harness import new_warehouse
from tests.dbt.raw_fixture import small_world

RANGE = {ASSET_PARTITION_RANGE_START_TAG: "2026-09-01", ASSET_PARTITION_RANGE_END_TAG: "2026-09-02"}


def check_evaluations(result) -> list:
    return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


@pytest.fixture()
def feature_assets(project_manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))  # each invocation's artifacts go here
    from assets.dbt_project import dbt_resource
    from assets.features import dbt_features

    def run(world):
        warehouse = new_warehouse(tmp_path, "warehouse", world)
        result = materialize(
            [dbt_features],
            instance=DagsterInstance.ephemeral(),
            tags=RANGE,
            raise_on_error=False,
            resources={"dbt": dbt_resource(), "warehouse": DuckDBResource(database=str(warehouse))},
        )
        return result, warehouse

    return run


def test_a_partition_range_builds_in_one_run_with_checks(feature_assets):
    result, warehouse = feature_assets(small_world())
    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert {AssetKey("fct_account_features"), AssetKey("fct_training_examples")} <= materialized
    checks = check_evaluations(result)
    assert len(checks) >= 10 and all(c.passed for c in checks)
    with duckdb.connect(str(warehouse)) as con:
        days = con.sql("SELECT as_of_date::VARCHAR, count(*) FROM marts.fct_account_features GROUP BY 1 ORDER BY 1")
        assert days.fetchall() == [("2026-09-01", 5), ("2026-09-02", 5)]


def test_error_severity_data_tests_are_blocking_checks(project_manifest):
    from assets.features import dbt_features

    checks = list(dbt_features.check_specs)
    assert {c.name for c in checks} >= {"stg_accounts_created_before_updated", "fct_account_features_windows_nest"}
    assert all(c.blocking for c in checks)


def test_the_catalog_comes_from_the_project_manifest(project_manifest):
    from safeguard.catalog import load_catalog

    catalog = load_catalog(project_manifest)
    names = [spec.name for spec in catalog]
    assert names[:3] == ["events_1d", "input_tokens_1d", "output_tokens_1d"] and len(names) == len(set(names)) == 127
    # 78 usage, profile and link features, then 16 ring / shared-infrastructure and 6 history features, then the
    # 27 usage-derived families: novelty, behaviour change, evasion, extraction
    assert names[78:94] == [spec.name for spec in catalog if "rings" in spec.description.lower()]
    assert names[94:100] == [spec.name for spec in catalog if "repeat offenders" in spec.description.lower()]
    assert names[100] == "new_ip_share_1d" and names[-1] == "tool_use_share_7d"
    takeover = next(spec for spec in catalog if spec.name == "new_api_key_share_7d")
    assert "takeover" in takeover.description and takeover.direction is None
    cyber = next(spec for spec in catalog if spec.name == "flag_rate_cyber_7d")
    assert cyber.direction == 1 and "cyber" in cyber.reason and "7 days" in cyber.reason
