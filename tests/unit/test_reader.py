"""Reading the published risk tables: the Python API and the ``safeguard risk`` command."""

from __future__ import annotations

import json

import pytest

from safeguard.cli import main
from safeguard.serving.db import engine_for, upgrade
from safeguard.serving.publish import publish_day
from safeguard.serving.reader import Reason, RiskReader, RiskTablesMissing
from tests.served_factory import served_day

D1, D2 = "2026-09-01", "2026-09-02"


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    monkeypatch.setenv("SERVING_DB_URL", url)
    engine = engine_for(url)
    upgrade(engine)
    publish_day(engine, served_day(D1, 300, seed=1), D1)
    publish_day(engine, served_day(D2, 200, seed=2), D2)  # accounts 200..299 keep their D1 row
    yield engine
    engine.dispose()


def explained_account(day: str, n: int, seed: int) -> dict:
    """The first account of the day with at least two reasons."""
    return next(
        r
        for r in served_day(day, n, seed=seed).sort_by("account_id").to_pylist()
        if len(json.loads(r["reasons_json"])) >= 2
    )


def test_account_gives_the_latest_row_with_reasons_in_plain_words(db):
    expected = explained_account(D2, 200, 2)
    risk = RiskReader(db).account(expected["account_id"])

    assert risk.score_date.isoformat() == D2
    assert (risk.probability, risk.tier, risk.model_version, risk.arm) == (
        expected["probability"],
        expected["tier"],
        expected["served_model_version"],
        expected["arm"],
    )
    items = json.loads(expected["reasons_json"])
    assert [r.feature for r in risk.reasons] == [i["feature"] for i in items]
    lines = risk.plain_reasons()
    assert lines[0].startswith(f"1. {items[0]['reason']}: {items[0]['feature']} = ")
    assert lines[0].endswith(f"(+{items[0]['contribution']:.2f})")
    assert lines[1].startswith("2. ")


def test_reason_plain_words():
    reason = Reason(1, "flag_rate_cyber_7d", 37.0, 0.8351, "Many requests flagged as cyber misuse in the last 7 days")
    assert (
        reason.plain() == "1. Many requests flagged as cyber misuse in the last 7 days: flag_rate_cyber_7d = 37 (+0.84)"
    )
    assert Reason(2, "x", None, 0.1, "Text").plain() == "2. Text: x = missing (+0.10)"


def test_an_account_absent_from_the_newest_day_keeps_its_older_row_and_a_day_can_be_asked(db):
    reader = RiskReader(db)
    assert reader.account("acct-0000250").score_date.isoformat() == D1
    assert reader.account("acct-0000010", D1).score_date.isoformat() == D1
    assert reader.account("acct-0000250", D2) is None
    assert reader.account("nobody") is None


def test_top_orders_by_probability_and_filters_by_tier_and_day(db):
    reader = RiskReader(db)
    top = reader.top(limit=10)
    assert len(top) == 10
    assert [r.probability for r in top] == sorted((r.probability for r in top), reverse=True)
    everyone = {r["account_id"]: r["probability"] for r in served_day(D1, 300, seed=1).to_pylist()}
    everyone.update({r["account_id"]: r["probability"] for r in served_day(D2, 200, seed=2).to_pylist()})
    assert top[0].probability == max(everyone.values())

    elevated = reader.top(tier="elevated", limit=500)
    assert elevated and {r.tier for r in elevated} == {"elevated"}
    day = reader.top(limit=1000, score_date=D1)
    assert len(day) == 300 and {r.score_date.isoformat() for r in day} == {D1}
    with pytest.raises(ValueError, match="unknown tier 'severe'"):
        reader.top(tier="severe")


def test_a_database_without_risk_tables_is_named(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(RiskTablesMissing, match="nothing has been published"):
        RiskReader(engine).account("a")


def test_cli_show_prints_score_tier_model_arm_date_and_reasons(db, capsys):
    expected = explained_account(D2, 200, 2)
    assert main(["risk", "show", expected["account_id"]]) == 0
    out = capsys.readouterr().out
    assert expected["account_id"] in out and expected["tier"] in out and expected["served_model_version"] in out
    assert f"arm: {expected['arm']}" in out and D2 in out and f"{expected['probability']:.4f}" in out
    first = json.loads(expected["reasons_json"])[0]
    assert f"1. {first['reason']}" in out


def test_cli_show_unknown_account_exits_1_with_a_clear_message(db, capsys):
    assert main(["risk", "show", "no-such-account"]) == 1
    assert "no published risk for account 'no-such-account'" in capsys.readouterr().err


def test_cli_top_lists_the_tier(db, capsys):
    assert main(["risk", "top", "--tier", "high", "--limit", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert 1 < len(lines) <= 6
    assert all(" high " in line for line in lines[1:])


def test_cli_on_an_unpublished_database_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SERVING_DB_URL", f"sqlite:///{tmp_path / 'none.db'}")
    assert main(["risk", "top"]) == 1
    assert "no risk tables" in capsys.readouterr().err
