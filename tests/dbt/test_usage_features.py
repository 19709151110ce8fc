"""The usage-derived feature families on the small world: a takeover is seen on its day and not before."""

from __future__ import annotations

from tests.dbt.harness import as_of, build, new_warehouse, table
from tests.dbt.raw_fixture import at, event, small_world

WINDOW = ("2026-09-01", "2026-09-07")
NEW_VALUES = {"ip_hash": "ip-thief", "country": "KP", "client": "curl", "api_key_id": "key-thief"}


def test_a_takeover_shows_as_novelty_on_its_day_and_not_before(tmp_path):
    """a1 works from ip-1/US/sdk-python with its own key every day; on 09-05 someone else adds 4 requests from
    a new IP, country, client and key. Before 09-05 a1's values are old (after the warehouse's first day)."""
    taken = small_world().with_rows(
        usage_events=[event(f"thief-{i}", "a1", at(4, 20, i), **NEW_VALUES) for i in range(4)]
    )
    warehouse = new_warehouse(tmp_path, "takeover", taken)
    build(warehouse, *WINDOW)
    a1 = table(warehouse, "marts.fct_account_features", "account_id = 'a1'").set_index("as_of_date")
    assert not a1.isna().any().any()
    for attribute in ("ip", "country", "client", "api_key"):
        day_share = a1[f"new_{attribute}_share_1d"]
        assert day_share[as_of("2026-09-05")] == 4 / 7  # 4 of the day's 7 requests
        assert (day_share[[as_of(d) for d in ("2026-09-02", "2026-09-03", "2026-09-04")]] == 0).all()
        assert a1.loc[as_of("2026-09-05"), f"newest_{attribute}_age_days"] == 0
        assert a1.loc[as_of("2026-09-04"), f"newest_{attribute}_age_days"] == 3  # first seen 09-01
        assert day_share[as_of("2026-09-06")] == 0  # seen the day before: no longer new on 09-06
    assert a1.loc[as_of("2026-09-05"), "request_history_days"] == 4
    assert (
        a1.loc[as_of("2026-09-05"), "hour_profile_entropy_7d"] > a1.loc[as_of("2026-09-04"), "hour_profile_entropy_7d"]
    )
