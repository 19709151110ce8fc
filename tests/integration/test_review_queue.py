"""The review queue on a real serving database (SQLite) and warehouse (DuckDB): the ``review_queue`` asset under
Dagster, its Parquet export, reviewers' decisions through ``safeguard review``, and refusals that write nothing."""

from __future__ import annotations

import json
from datetime import date, datetime

import duckdb
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, materialize
from dagster_duckdb import DuckDBResource

from assets.publish import risk_tables
from assets.resources import ExportStoreResource, ServingDatabaseResource
from assets.review import review_queue
from safeguard.cli import main
from safeguard.landing import ObjectStore
from safeguard.review.export import QUEUE_EXPORT_SCHEMA, read_queue_export
from safeguard.review.links import SNAPSHOT_TABLE
from safeguard.review.publish import publish_queue
from safeguard.review.queue import CLEARED, QueueError, QueueRule
from safeguard.review.store import read_queue, record_decision
from safeguard.rollout.served import SERVED_TABLE, ensure_served_table
from safeguard.serving import schema
from safeguard.serving.db import engine_for, upgrade
from safeguard.serving.publish import publish_day, read_served_day
from tests.served_factory import served_day

DAYS = ["2026-09-02", "2026-09-03"]
D1, D2 = (date.fromisoformat(d) for d in DAYS)
RANGE_TAGS = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[1]}
N = 300


def alerts(day: str, seed: int) -> list[str]:
    table = served_day(day, N, seed=seed).to_pylist()
    return [r["account_id"] for r in sorted(table, key=lambda r: -r["probability"]) if r["tier"] != "low"]


@pytest.fixture
def world(tmp_path):
    """Two served days; as of each, every account has its own card, IP and device, but for a ring of three alert
    accounts sharing one device, and one banned alert account."""
    warehouse = str(tmp_path / "warehouse.duckdb")
    ring, banned = {}, {}
    with duckdb.connect(warehouse) as con:
        ensure_served_table(con)
        con.execute("CREATE SCHEMA intermediate")
        con.execute(f"""CREATE TABLE {SNAPSHOT_TABLE} (as_of_date DATE, account_id VARCHAR, is_enforced INTEGER,
            payment_fingerprint VARCHAR, signup_ip_hash VARCHAR, device_hash VARCHAR, org_id VARCHAR)""")
        for seed, day in enumerate(DAYS, start=1):
            day_rows = served_day(day, N, seed=seed)  # noqa: F841 (read by DuckDB by name)
            con.execute(f"INSERT INTO {SERVED_TABLE} BY NAME SELECT * FROM day_rows")
            top = alerts(day, seed)
            banned[day], ring[day] = top[0], top[-3:]  # the ring: the three weakest alerts
            con.execute(
                f"""INSERT INTO {SNAPSHOT_TABLE} SELECT ?::DATE, account_id,
                    CASE WHEN account_id = ? THEN 1 ELSE 0 END, 'card-' || account_id, 'ip-' || account_id,
                    CASE WHEN list_contains(?, account_id) THEN 'dev-ring' ELSE 'dev-' || account_id END, NULL
                FROM day_rows""",
                [day, banned[day], ring[day]],
            )
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    resources = {
        "warehouse": DuckDBResource(database=warehouse),
        "serving": ServingDatabaseResource(url=url),
        "exports": ExportStoreResource(uri=str(tmp_path / "exports")),
    }
    return {
        "resources": resources,
        "url": url,
        "warehouse": warehouse,
        "exports": str(tmp_path / "exports"),
        "ring": ring,
        "banned": banned,
        "tmp": tmp_path,
    }


def queue_rows(url: str) -> list[tuple]:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            q = schema.review_queue.c
            return conn.execute(
                sa.select(q.score_date, q.case_id, q.account_id, q.probability, q.case_links).order_by(
                    q.score_date, q.case_id, q.account_id
                )
            ).all()
    finally:
        engine.dispose()


def decisions(url: str) -> int:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(schema.review_decisions)).scalar()
    finally:
        engine.dispose()


def test_the_asset_queues_each_day_with_the_ring_as_one_case_within_capacity(world):
    instance = DagsterInstance.ephemeral()
    result = materialize(
        [risk_tables, review_queue],
        resources=world["resources"],
        instance=instance,
        tags=RANGE_TAGS,
        run_config={"ops": {"review_queue": {"config": {"capacity": 40}}}},
    )
    assert result.success

    events = result.asset_materializations_for_node("review_queue")
    assert {e.partition for e in events} == set(DAYS)
    metadata = events[-1].metadata
    assert metadata["cases"].value <= 40 and metadata["capacity"].value == 40
    assert metadata["rings"].value == 1
    assert metadata["export_path"].value.endswith(f"review_queue/date={DAYS[1]}")

    engine = engine_for(world["url"])
    try:
        for seed, (day, d) in enumerate(zip(DAYS, (D1, D2), strict=True), start=1):
            rows = read_queue(engine, d)
            cases = {r.case_id for r in rows}
            assert 0 < len(cases) <= 40
            queued = {r.account_id for r in rows}
            assert world["banned"][day] not in queued  # enforced as of the day: nothing to review
            (ring_case,) = {r.case_id for r in rows if r.account_id in world["ring"][day]}  # one case
            members = [r for r in rows if r.case_id == ring_case]
            assert sorted(m.account_id for m in members) == sorted(world["ring"][day])
            assert members[0].case_links == ["device"] and members[0].case_accounts == 3
            # the ring of three weak alerts outranks any single one of them
            assert members[0].case_expected_abuse == pytest.approx(sum(m.probability for m in members))
            # every alert but the banned one, the ring of three as one case, up to the capacity
            assert len(cases) == min(40, len(alerts(day, seed)) - 1 - 2)
            exported = read_queue_export(ObjectStore(world["exports"]), d)
            assert exported.schema == QUEUE_EXPORT_SCHEMA
            assert sorted(exported.column("account_id").to_pylist()) == sorted(queued)
            assert {json.dumps(r.case_reasons) for r in rows if r.case_id == ring_case} == {
                exported.filter(pc.equal(exported["case_id"], ring_case))["case_reasons"][0].as_py()
            }
    finally:
        engine.dispose()

    before = queue_rows(world["url"])
    again = materialize(
        [review_queue],
        resources=world["resources"],
        instance=instance,
        partition_key=DAYS[0],
        run_config={"ops": {"review_queue": {"config": {"capacity": 40}}}},
    )
    assert again.success
    assert queue_rows(world["url"]) == before  # a re-run of a day replaces that day exactly


def test_the_export_schema_is_the_table_s_columns():
    assert QUEUE_EXPORT_SCHEMA.names == [c.name for c in schema.review_queue.columns]


@pytest.fixture
def published(world):
    """Both days published and queued at capacity 100 through the library (no Dagster)."""
    engine = engine_for(world["url"])
    upgrade(engine)
    with duckdb.connect(world["warehouse"]) as con:
        for day in DAYS:
            publish_day(engine, read_served_day(con, day), day)
        publish_queue(con, engine, ObjectStore(world["exports"]), D1, QueueRule())
    yield {**world, "engine": engine}
    engine.dispose()


def test_a_cleared_account_stays_out_for_the_cooldown(published):
    engine, store = published["engine"], ObjectStore(published["exports"])
    alerts_on_d2 = set(alerts(DAYS[1], 2)) - {published["banned"][DAYS[1]]}
    p_d2 = {r["account_id"]: r["probability"] for r in served_day(DAYS[1], N, seed=2).to_pylist()}
    # a single-account case of day 1 that is still an alert on day 2, with a higher score
    target = next(
        r
        for r in read_queue(engine, D1)
        if r.account_id in alerts_on_d2 and r.case_accounts == 1 and p_d2[r.account_id] > r.probability
    )
    assert (
        record_decision(
            engine, target.case_id, CLEARED, "ana", account_id=target.account_id, decided_at=datetime(2026, 9, 2, 15, 0)
        )
        == 1
    )
    with duckdb.connect(published["warehouse"]) as con:

        def queued_on_d2(rule: QueueRule) -> set[str]:
            return {m.account_id for c in publish_queue(con, engine, store, D2, rule).cases for m in c.members}

        assert target.account_id not in queued_on_d2(QueueRule(capacity=1000))
        # the decision is what kept it out: with no cool-down, or a margin its new score clears, it is back
        assert target.account_id in queued_on_d2(QueueRule(capacity=1000, cooldown_days=0))
        rise = p_d2[target.account_id] - target.probability  # since the reviewer saw it
        assert target.account_id in queued_on_d2(QueueRule(capacity=1000, rescore_margin=rise - 1e-9))
        assert target.account_id not in queued_on_d2(QueueRule(capacity=1000, rescore_margin=rise + 1e-6))
        assert len(queued_on_d2(QueueRule(capacity=1000))) == len(alerts_on_d2) - 1


@pytest.mark.parametrize(
    "case, decision, actor, account, message",
    [
        ("2026-09-02#999", "confirmed", "ana", None, "no case 2026-09-02#999"),
        ("2026-09-02#001", "confirmed", "  ", None, "needs the reviewer's name"),
        ("2026-09-02#001", "banned", "ana", None, "decision must be"),
        ("yesterday-7", "cleared", "ana", None, "not a case id"),
        ("2026-09-02#001", "cleared", "ana", "acct-nobody", "not a member of case"),
    ],
)
def test_bad_decisions_are_refused_and_write_nothing(published, case, decision, actor, account, message):
    with pytest.raises(QueueError, match=message):
        record_decision(published["engine"], case, decision, actor, account_id=account)
    assert decisions(published["url"]) == 0


def test_an_unpublished_day_or_unbuilt_features_get_no_queue_and_nothing_is_written(published):
    engine, store = published["engine"], ObjectStore(published["exports"])
    before = queue_rows(published["url"])
    with duckdb.connect(published["warehouse"]) as con:
        with pytest.raises(QueueError, match="2026-09-04 was not published"):
            publish_queue(con, engine, store, date(2026, 9, 4), QueueRule())
        con.execute(f"DELETE FROM {SNAPSHOT_TABLE} WHERE as_of_date = ?", [DAYS[1]])
        with pytest.raises(QueueError, match="no accounts as of 2026-09-03"):
            publish_queue(con, engine, store, D2, QueueRule())
    assert queue_rows(published["url"]) == before
    assert not store.exists("review_queue/date=2026-09-03/_SUCCESS")


def test_cli_prints_the_queue_and_records_a_decision(published, monkeypatch, capsys):
    monkeypatch.setenv("SERVING_DB_URL", published["url"])
    monkeypatch.setenv("WAREHOUSE_PATH", published["warehouse"])
    monkeypatch.setenv("EXPORT_URI", published["exports"])
    assert main(["review", "queue", "--date", DAYS[0]]) == 0
    out = capsys.readouterr().out
    ring = published["ring"][DAYS[0]]
    assert "linked by device" in out and all(a in out for a in ring)
    assert len(ring) > 1
    assert main(["review", "queue", "--date", DAYS[0], "--members", "1"]) == 0  # the riskiest member of each case
    short = capsys.readouterr().out
    assert f"    ... and {len(ring) - 1} more (all of them: without --members)" in short
    assert sum(a in short for a in ring) == 1
    first_case = out.split("\n\n")[1].split()[0]
    assert main(["review", "decide", first_case, "--confirm", "--actor", "ana", "--note", "card testing"]) == 0
    assert "confirmed by ana" in capsys.readouterr().out
    assert decisions(published["url"]) >= 1

    assert main(["review", "queue", "--date", DAYS[1], "--rebuild", "--capacity", "5"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"{DAYS[1]}: 5 case(s) queued")
    assert main(["review", "queue", "--date", DAYS[1], "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("5 case(s)") and "the first 2 below" in out and f"{DAYS[1]}#002" in out
    assert f"{DAYS[1]}#003" not in out


def test_cli_refuses_a_decision_without_actor_and_a_capacity_of_zero(published, monkeypatch, capsys):
    monkeypatch.setenv("SERVING_DB_URL", published["url"])
    for argv in (
        ["review", "decide", "2026-09-02#001", "--clear"],
        ["review", "queue", "--date", DAYS[1], "--rebuild", "--capacity", "0"],
        ["review", "queue", "--date", DAYS[1], "--rebuild", "--capacity", "-2"],
    ):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--actor" in err and "--capacity" in err
    assert decisions(published["url"]) == 0
    monkeypatch.setenv("REVIEW_CAPACITY", "0")
    with pytest.raises(ValueError, match="REVIEW_CAPACITY"):
        main(["review", "queue", "--date", DAYS[1], "--rebuild"])


def test_the_links_of_the_day_s_alerts_give_the_rings_every_account_s_links_give(world):
    from safeguard.review.links import links_as_of
    from safeguard.review.queue import ScoredAccount, build_queue

    scored = [
        ScoredAccount(r["account_id"], r["probability"], r["tier"]) for r in served_day(DAYS[0], N, seed=1).to_pylist()
    ]
    alerts = [a.account_id for a in scored if a.tier != "low"]
    with duckdb.connect(world["warehouse"], read_only=True) as con:
        everyone = links_as_of(con, D1)
        filtered = links_as_of(con, D1, alerts, QueueRule().max_link_group)
    assert len(filtered[0]) < len(everyone[0])
    for rule in (QueueRule(capacity=1000), QueueRule(capacity=1000, max_link_group=2)):
        assert build_queue(D1, scored, *everyone, {}, rule) == build_queue(D1, scored, *filtered, {}, rule)
