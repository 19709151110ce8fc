"""Link features' reasons name the enforced account that links the account (safeguard.linked_reasons)."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pyarrow as pa
import pytest

from safeguard.catalog import FeatureSpec
from safeguard.linked_reasons import ENFORCED_LINKS_TABLE, EnforcedLink, name_linked_accounts, read_enforced_links

FEATURES = [
    FeatureSpec("events_1d", "requests", "Many requests on the day", 1),
    FeatureSpec(
        "linked_payment_enforced_share", "share", "Shares its payment method with banned accounts", 1, "payment"
    ),
    FeatureSpec("linked_enforced_share", "share", "Linked to banned accounts", 1, "any"),
]


def reasons(*features: str) -> str:
    return json.dumps(
        [
            {"feature": f, "value": 0.5, "contribution": 1.0 - i / 10, "reason": spec.reason}
            for i, f in enumerate(features)
            for spec in FEATURES
            if spec.name == f
        ]
    )


LINKS = {
    "b": {
        "payment": EnforcedLink("a", "payment", date(2026, 11, 8)),
        "device": EnforcedLink("z", "device", date(2026, 11, 9)),
    },
    "c": {"device": EnforcedLink("z", "device", date(2026, 11, 9))},
}


def test_the_link_reasons_name_the_enforced_account_and_nothing_else_changes():
    texts = [
        reasons("events_1d", "linked_payment_enforced_share", "linked_enforced_share"),
        reasons("linked_payment_enforced_share", "linked_enforced_share"),
        reasons("events_1d"),
        None,
    ]
    out = name_linked_accounts(pa.array(texts), pa.array(["b", "c", "b", "d"]), FEATURES, LINKS).to_pylist()
    b = json.loads(out[0])
    assert [r["reason"] for r in b] == [
        "Many requests on the day",
        "Shares its payment method with banned accounts: a, enforced since 2026-11-08",
        "Linked to banned accounts: z by device, enforced since 2026-11-09",  # "any": the newest of its links
    ]
    assert [(r["feature"], r["value"], r["contribution"]) for r in b] == [
        (r["feature"], r["value"], r["contribution"]) for r in json.loads(texts[0])
    ]
    c = json.loads(out[1])  # no payment link named: that reason stays as it was
    assert c[0]["reason"] == "Shares its payment method with banned accounts"
    assert c[1]["reason"] == "Linked to banned accounts: z by device, enforced since 2026-11-09"
    assert out[2:] == texts[2:]  # no link reason, or not explained: untouched


def test_without_links_the_reasons_are_returned_as_they_were():
    texts = pa.array([reasons("linked_payment_enforced_share")])
    assert name_linked_accounts(texts, pa.array(["b"]), FEATURES, {}) is texts
    assert name_linked_accounts(texts, pa.array(["x"]), FEATURES, LINKS) is texts


def test_read_enforced_links_takes_the_day_and_tolerates_a_warehouse_without_the_table():
    with duckdb.connect() as con:
        assert read_enforced_links(con, "2026-11-09") == {}
        con.execute("CREATE SCHEMA intermediate")
        con.execute(
            f"CREATE TABLE {ENFORCED_LINKS_TABLE} (as_of_date DATE, account_id VARCHAR, link VARCHAR, "
            "linked_enforced_account_id VARCHAR, linked_enforced_since DATE)"
        )
        con.execute(
            f"INSERT INTO {ENFORCED_LINKS_TABLE} VALUES ('2026-11-09', 'b', 'payment', 'a', '2026-11-08'), "
            "('2026-11-09', 'b', 'org', 'o', '2026-10-01'), ('2026-11-08', 'c', 'device', 'z', '2026-11-01')"
        )
        links = read_enforced_links(con, "2026-11-09")
    assert links == {
        "b": {
            "payment": EnforcedLink("a", "payment", date(2026, 11, 8)),
            "org": EnforcedLink("o", "org", date(2026, 10, 1)),
        }
    }


def test_the_catalog_refuses_an_unknown_link_kind(tmp_path):
    from safeguard.catalog import CatalogError, load_catalog

    column = {
        "name": "x",
        "description": "d",
        "config": {"meta": {"feature": {"reason": "r", "direction": 1, "names_linked": "email"}}},
    }
    manifest = {"nodes": {"m": {"resource_type": "model", "name": "fct_account_features", "columns": {"x": column}}}}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(CatalogError, match="names_linked must be one of"):
        load_catalog(path)
